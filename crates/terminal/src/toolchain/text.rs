//! Decoding the text files MT5 writes: UTF-16LE with a BOM (MetaEditor logs,
//! tester reports), sometimes UTF-16BE or UTF-8 with or without a BOM.

/// Decodes `bytes` by its BOM, else by a look at its zero bytes (UTF-16 text of
/// mostly ASCII has a zero in every other byte), else as UTF-8 (lossy).
pub fn decode_text(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, u16::from_le_bytes);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, u16::from_be_bytes);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    let sample = &bytes[..bytes.len().min(512)];
    if sample.len() >= 4 {
        let odd_zeros = sample
            .iter()
            .skip(1)
            .step_by(2)
            .filter(|b| **b == 0)
            .count();
        let even_zeros = sample.iter().step_by(2).filter(|b| **b == 0).count();
        let half = sample.len() / 2;
        if odd_zeros * 10 >= half * 6 && even_zeros * 10 < half {
            return utf16(bytes, u16::from_le_bytes);
        }
        if even_zeros * 10 >= half * 6 && odd_zeros * 10 < half {
            return utf16(bytes, u16::from_be_bytes);
        }
    }
    String::from_utf8_lossy(bytes).into_owned()
}

fn utf16(bytes: &[u8], f: fn([u8; 2]) -> u16) -> String {
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| f([c[0], c[1]])).collect();
    String::from_utf16_lossy(&units)
}

/// Encodes `text` as MT5 does: UTF-16LE with a BOM.
pub fn encode_utf16le_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_flavour() {
        let text = "Result: 0 errors, 1 warnings — Прибыль";
        assert_eq!(decode_text(&encode_utf16le_bom(text)), text);
        let le_no_bom: Vec<u8> = encode_utf16le_bom(text)[2..].to_vec();
        assert_eq!(decode_text(&le_no_bom), text);
        let mut be = vec![0xFE, 0xFF];
        for u in text.encode_utf16() {
            be.extend_from_slice(&u.to_be_bytes());
        }
        assert_eq!(decode_text(&be), text);
        let mut u8bom = vec![0xEF, 0xBB, 0xBF];
        u8bom.extend_from_slice(text.as_bytes());
        assert_eq!(decode_text(&u8bom), text);
        assert_eq!(decode_text(text.as_bytes()), text);
        assert_eq!(decode_text(&[0xFF]), "\u{FFFD}");
        assert_eq!(decode_text(&[0xFF, 0xFE, 0x41]), "");
    }
}
