//! Pairing keys: `pk_` + 40 base62 characters from the OS-seeded CSPRNG; only the
//! bcrypt hash and the first 8 characters are stored.

use companion_protocol::PAIRING_KEY_PREFIX;
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

/// Random base62 characters after `pk_`.
pub const KEY_RANDOM_LEN: usize = 40;
/// Characters of the key stored in clear (`pairing_key_prefix`).
pub const STORED_PREFIX_LEN: usize = 8;
/// Longest string we will even try to verify.
const MAX_KEY_LEN: usize = 128;

/// A freshly generated key with what the database stores.
pub struct NewKey {
    /// The key itself: shown once, never stored or logged.
    pub key: String,
    pub prefix: String,
    pub hash: String,
}

/// Generates a key and hashes it (blocking: call from `spawn_blocking` in async code).
pub fn generate(bcrypt_cost: u32) -> Result<NewKey, bcrypt::BcryptError> {
    let random = Alphanumeric.sample_string(&mut rand::rng(), KEY_RANDOM_LEN);
    let key = format!("{PAIRING_KEY_PREFIX}{random}");
    let hash = bcrypt::hash(&key, bcrypt_cost)?;
    Ok(NewKey {
        prefix: stored_prefix(&key).to_string(),
        key,
        hash,
    })
}

/// True when `key` has the shape of a pairing key (cheap check before any lookup).
pub fn looks_valid(key: &str) -> bool {
    key.len() > PAIRING_KEY_PREFIX.len() + 8
        && key.len() <= MAX_KEY_LEN
        && key.starts_with(PAIRING_KEY_PREFIX)
        && key[PAIRING_KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
}

/// The first 8 characters, as stored in `pairing_key_prefix`.
pub fn stored_prefix(key: &str) -> &str {
    &key[..STORED_PREFIX_LEN.min(key.len())]
}

/// SHA-256 of the key: the verification cache's key (never the key itself).
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The cost of a bcrypt hash (`$2b$10$...` → 10); `None` when it is not one.
pub fn cost_of(hash: &str) -> Option<u32> {
    let mut parts = hash.split('$');
    let (empty, version, cost, rest) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if !empty.is_empty()
        || !matches!(version, "2a" | "2b" | "2x" | "2y")
        || cost.len() != 2
        || rest.len() != 53
        || parts.next().is_some()
    {
        return None;
    }
    cost.parse().ok().filter(|c| (4..=31).contains(c))
}

/// bcrypt verification (blocking).
pub fn verify(key: &str, hash: &str) -> bool {
    bcrypt::verify(key, hash).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape_and_verify() {
        let k = generate(4).unwrap();
        assert!(k.key.starts_with("pk_"));
        assert_eq!(k.key.len(), 3 + KEY_RANDOM_LEN);
        assert!(looks_valid(&k.key));
        assert_eq!(k.prefix, &k.key[..8]);
        assert!(verify(&k.key, &k.hash));
        assert!(!verify(&format!("{}x", &k.key[..k.key.len() - 1]), &k.hash));
        assert_ne!(generate(4).unwrap().key, k.key);
    }

    #[test]
    fn hash_costs_are_read_without_verifying() {
        let k = generate(4).unwrap();
        assert_eq!(cost_of(&k.hash), Some(4));
        assert_eq!(
            cost_of("$2b$31$abcdefghijklmnopqrstuvabcdefghijklmnopqrstuvwxyz01234"),
            Some(31)
        );
        for bad in [
            "",
            "x",
            "$2b$xx$",
            "$2b$10$short",
            "$9z$10$abcdefghijklmnopqrstuvabcdefghijklmnopqrstuvwxyz01234",
        ] {
            assert_eq!(cost_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn malformed_keys_are_rejected_before_lookup() {
        assert!(!looks_valid(""));
        assert!(!looks_valid("pk_short"));
        assert!(!looks_valid("xx_abcdefghijklmnopqrstuvwxyz"));
        assert!(!looks_valid("pk_abcdefghijkl-mnopqrstuvwxyz"));
        assert!(!looks_valid(&format!("pk_{}", "a".repeat(200))));
    }
}
