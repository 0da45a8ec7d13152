//! Numbers as MT5 reports print them in any locale: `1 234.56`, `1,234.56`,
//! `1.234,56`, `1'234.56`, `-3 765.44`, `512.30 (4.87%)`.

/// The first number in `s` (before any parenthesis), or `None`.
pub fn parse_number(s: &str) -> Option<f64> {
    let head = s.split('(').next().unwrap_or(s);
    parse_plain(head)
}

/// The number inside the first parentheses (`70 (58.33%)` → 58.33).
pub fn parse_parenthesised(s: &str) -> Option<f64> {
    let start = s.find('(')?;
    let end = s[start..].find(')')? + start;
    parse_plain(&s[start + 1..end])
}

fn parse_plain(s: &str) -> Option<f64> {
    let mut cleaned = String::new();
    let mut seen_digit = false;
    for ch in s.chars() {
        match ch {
            '0'..='9' => {
                seen_digit = true;
                cleaned.push(ch);
            }
            '.' | ',' => cleaned.push(ch),
            '-' | '\u{2212}' if !seen_digit && cleaned.is_empty() => cleaned.push('-'),
            ' ' | '\u{a0}' | '\u{202f}' | '\u{2009}' | '\'' | '%' | '+' => {}
            c if c.is_alphabetic() && !seen_digit => {}
            _ if seen_digit => break,
            _ => {}
        }
    }
    let negative = cleaned.starts_with('-');
    let body = cleaned.trim_start_matches('-');
    if !body.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let dots = body.matches('.').count();
    let commas = body.matches(',').count();
    let normal = match (dots, commas) {
        (0, 0) => body.to_string(),
        (_, 0) => decimal_or_grouping(body, '.'),
        (0, _) => decimal_or_grouping(body, ','),
        _ => {
            // Both: the last one is the decimal separator.
            let last_dot = body.rfind('.').unwrap_or(0);
            let last_comma = body.rfind(',').unwrap_or(0);
            if last_dot > last_comma {
                body.replace(',', "")
            } else {
                body.replace('.', "").replace(',', ".")
            }
        }
    };
    let v: f64 = normal.parse().ok()?;
    Some(if negative { -v } else { v })
}

/// One kind of separator: several of them, or one followed by exactly three
/// digits, group thousands; otherwise it is the decimal point.
fn decimal_or_grouping(body: &str, sep: char) -> String {
    let count = body.matches(sep).count();
    let after = body.rsplit(sep).next().unwrap_or("");
    if count > 1 || (after.len() == 3 && !body.starts_with(sep) && !body.starts_with('0')) {
        body.replace(sep, "")
    } else {
        body.replace(sep, ".")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn locale_formats() {
        assert_eq!(parse_number("1 234.56"), Some(1234.56));
        assert_eq!(parse_number("1,234.56"), Some(1234.56));
        assert_eq!(parse_number("1.234,56"), Some(1234.56));
        assert_eq!(parse_number("1'234.56"), Some(1234.56));
        assert_eq!(parse_number("1\u{a0}234,56"), Some(1234.56));
        assert_eq!(parse_number("-3 765.44"), Some(-3765.44));
        assert_eq!(parse_number("\u{2212}12,50"), Some(-12.5));
        assert_eq!(parse_number("512.30 (4.87%)"), Some(512.3));
        assert_eq!(parse_parenthesised("512.30 (4.87%)"), Some(4.87));
        assert_eq!(parse_parenthesised("70 (58,33%)"), Some(58.33));
        assert_eq!(parse_number("1.33"), Some(1.33));
        assert_eq!(parse_number("1,234"), Some(1234.0));
        assert_eq!(parse_number("0,123"), Some(0.123));
        assert_eq!(parse_number("1 234 567"), Some(1_234_567.0));
        assert_eq!(parse_number("1.234.567,89"), Some(1_234_567.89));
        assert_eq!(parse_number("120"), Some(120.0));
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_number("n/a"), None);
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = parse_number(&s);
            let _ = parse_parenthesised(&s);
        }

        #[test]
        fn money_round_trips_in_each_locale(cents in -100_000_000i64..100_000_000) {
            let v = cents as f64 / 100.0;
            let int = (cents.abs() / 100).to_string();
            let frac = format!("{:02}", cents.abs() % 100);
            let mut grouped = String::new();
            for (i, ch) in int.chars().enumerate() {
                if i > 0 && (int.len() - i) % 3 == 0 { grouped.push('\u{1}'); }
                grouped.push(ch);
            }
            let sign = if cents < 0 { "-" } else { "" };
            for (group, dec) in [(" ", "."), (",", "."), (".", ","), ("\u{a0}", ",")] {
                let s = format!("{sign}{}{dec}{frac}", grouped.replace('\u{1}', group));
                prop_assert_eq!(parse_number(&s), Some(v), "{}", s);
            }
        }
    }
}
