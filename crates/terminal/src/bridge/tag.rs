//! The job tag in MT5 order comments. An order's comment is the job's tag (`c:` +
//! the job id's 16 bytes in unpadded base64url, 24 characters), then a space and
//! the alert's own comment cut to what is left of MT5's 31 characters. Agents
//! before 0.14 wrote `cj:` + the first 28 hex digits of the id (31 characters, no
//! room for the trader's text); both forms are recognised, so orders sent by an
//! older agent are still reconciled. The agent finds its orders by the tag after a
//! crash: the bridge's `history_by_comment` matches a comment equal to the asked
//! text or starting with it and a space.

use uuid::Uuid;

/// MT5 keeps at most this many characters of an order comment.
pub const MAX_COMMENT_CHARS: usize = 31;
/// The new tag's first two characters.
pub const TAG_PREFIX: &str = "c:";
/// Length of the new tag (prefix + 22 base64url characters).
pub const TAG_LEN: usize = 24;
/// The old tag's prefix (`cj:` + 28 hex digits).
pub const LEGACY_TAG_PREFIX: &str = "cj:";

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(B64URL[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// The job's tag: `c:` + 22 base64url characters (24). Stable: the same job always
/// gets the same tag.
pub fn job_tag(job_id: Uuid) -> String {
    format!("{TAG_PREFIX}{}", base64url(job_id.as_bytes()))
}

/// The tag agents before 0.14 wrote: `cj:` + the first 28 hex digits (31).
pub fn legacy_job_tag(job_id: Uuid) -> String {
    let hex = job_id.simple().to_string();
    format!("{LEGACY_TAG_PREFIX}{}", &hex[..28])
}

/// The comment of an order for `job_id`: the tag, and when the alert had a comment,
/// a space and as much of it as fits in 31 characters. Non-ASCII and control
/// characters become `?` (MT5 comments are short ANSI strings on many servers).
pub fn order_comment(job_id: Uuid, note: Option<&str>) -> String {
    let mut c = job_tag(job_id);
    let room = MAX_COMMENT_CHARS - TAG_LEN - 1;
    let note: String = note
        .unwrap_or_default()
        .trim()
        .chars()
        .map(|ch| {
            if ch.is_ascii() && !ch.is_ascii_control() {
                ch
            } else {
                '?'
            }
        })
        .take(room)
        .collect();
    let note = note.trim_end();
    if !note.is_empty() {
        c.push(' ');
        c.push_str(note);
    }
    c
}

/// True when `comment` carries `job_id`'s tag, new (`c:…`, alone or followed by a
/// space and text) or old (`cj:…`, exactly).
pub fn comment_is_job(comment: &str, job_id: Uuid) -> bool {
    let tag = job_tag(job_id);
    comment == tag
        || comment
            .strip_prefix(tag.as_str())
            .is_some_and(|rest| rest.starts_with(' '))
        || comment == legacy_job_tag(job_id)
}

/// True when `comment` (as MT5 reports it) matches a `history_by_comment` query:
/// equal, or the query followed by a space and more text.
pub fn comment_matches(comment: &str, query: &str) -> bool {
    comment == query
        || comment
            .strip_prefix(query)
            .is_some_and(|rest| rest.starts_with(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_tags_are_24_characters_and_carry_the_whole_id() {
        for _ in 0..100 {
            let id = Uuid::new_v4();
            let t = job_tag(id);
            assert_eq!(t.len(), TAG_LEN);
            assert!(t.starts_with(TAG_PREFIX));
            assert!(t[2..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
        // Known vector: 16 bytes 0x00..0x0f.
        let id = Uuid::from_bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        assert_eq!(job_tag(id), "c:AAECAwQFBgcICQoLDA0ODw");
        let id = Uuid::from_bytes([0xff; 16]);
        assert_eq!(job_tag(id), "c:_____________________w");
    }

    #[test]
    fn the_note_gets_what_is_left_of_31_characters() {
        let id = Uuid::new_v4();
        assert_eq!(order_comment(id, None), job_tag(id));
        assert_eq!(order_comment(id, Some("  ")), job_tag(id));
        let c = order_comment(id, Some("my note"));
        assert_eq!(c.chars().count(), MAX_COMMENT_CHARS);
        assert_eq!(c, format!("{} my not", job_tag(id)));
        assert_eq!(order_comment(id, Some("ab")), format!("{} ab", job_tag(id)));
        // Non-ASCII never splits a character and never passes 31.
        let c = order_comment(id, Some("é→€ü日本語テキスト"));
        assert_eq!(c, format!("{} ??????", job_tag(id)));
        assert!(c.is_ascii() && c.len() <= MAX_COMMENT_CHARS);
        assert_eq!(
            order_comment(id, Some("a\tb")),
            format!("{} a?b", job_tag(id))
        );
    }

    #[test]
    fn both_tag_forms_are_recognised_and_nothing_else() {
        let id = Uuid::new_v4();
        let other = Uuid::new_v4();
        assert!(comment_is_job(&job_tag(id), id));
        assert!(comment_is_job(&order_comment(id, Some("my note")), id));
        assert!(comment_is_job(&legacy_job_tag(id), id));
        assert_eq!(legacy_job_tag(id).len(), MAX_COMMENT_CHARS);
        assert!(!comment_is_job(&job_tag(other), id));
        assert!(!comment_is_job(&legacy_job_tag(other), id));
        assert!(!comment_is_job(&format!("{}x", job_tag(id)), id));
        assert!(!comment_is_job("", id));
        assert!(comment_matches(&order_comment(id, Some("n")), &job_tag(id)));
        assert!(comment_matches("[sl 1.08]", "[sl 1.08]"));
        assert!(!comment_matches("abc", "ab"));
    }
}
