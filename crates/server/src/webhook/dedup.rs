//! De-duplication keys for `tv_signals.dedup_key` (unique per strategy).
//!
//! - A message with an explicit id (`id`, `signal_id`, `alert_id`, `timestamp`, ...)
//!   is one signal per (id, action, symbol), forever: `id:<id>:<action>:<symbol>`
//!   with the canonical symbol. Keys stored before migration 0010 used the old
//!   normalisation (`US30USD`, `EURUSDM`, `GOLD`); the ingest also looks for that
//!   spelling ([`DedupKey::Explicit::legacy`]), so an id sent again still dedups.
//! - Otherwise identical bodies within [`BODY_WINDOW_SECS`] are one signal: the key is
//!   `body:<sha256>:<bucket>` with `bucket = epoch / window`; the ingest also looks at
//!   the previous bucket (under a transaction-scoped advisory lock on the body hash),
//!   so the window slides instead of resetting at bucket edges.

use sha2::{Digest, Sha256};

use super::parse::{legacy_normalize_symbol, ParsedSignal};

/// Identical bodies without an id closer together than this are duplicates.
pub const BODY_WINDOW_SECS: i64 = 30;

/// How a signal is recognised again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DedupKey {
    Explicit {
        key: String,
        /// The same key with the pre-0010 symbol, when it differs (checked, never
        /// stored).
        legacy: Option<String>,
    },
    Body {
        /// `body:<sha256>`; also the advisory-lock name.
        base: String,
        /// The key stored for this signal.
        current: String,
        /// The key of the preceding bucket (checked, never stored).
        previous: String,
    },
}

impl DedupKey {
    pub fn for_signal(s: &ParsedSignal, body: &[u8], now_epoch_secs: i64) -> Self {
        match &s.signal_key {
            Some(id) => {
                let key = format!("id:{id}:{}:{}", s.dedup_action(), s.symbol);
                // Keys stored before 0010/0011: the old symbol normalisation and the
                // action word alone (every close word was `close` then).
                let old = legacy_normalize_symbol(s.raw_symbol.as_deref().unwrap_or(&s.symbol));
                let legacy = format!("id:{id}:{}:{old}", s.action.as_str());
                DedupKey::Explicit {
                    legacy: (legacy != key).then_some(legacy),
                    key,
                }
            }
            None => {
                let hash = Sha256::digest(body.trim_ascii());
                let base = format!("body:{}", hex(&hash));
                let bucket = now_epoch_secs.div_euclid(BODY_WINDOW_SECS);
                DedupKey::Body {
                    current: format!("{base}:{bucket}"),
                    previous: format!("{base}:{}", bucket - 1),
                    base,
                }
            }
        }
    }

    /// The value stored in `tv_signals.dedup_key`.
    pub fn stored(&self) -> &str {
        match self {
            DedupKey::Explicit { key, .. } => key,
            DedupKey::Body { current, .. } => current,
        }
    }

    /// The name serialising concurrent requests for the same signal.
    pub fn lock_name(&self) -> &str {
        match self {
            DedupKey::Explicit { key, .. } => key,
            DedupKey::Body { base, .. } => base,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use companion_protocol::SignalAction;

    #[test]
    fn explicit_ids_include_action_and_symbol() {
        let mut s = ParsedSignal::new(SignalAction::Buy, "EURUSD");
        s.signal_key = Some("1700000000".into());
        let k = DedupKey::for_signal(&s, b"whatever", 0);
        assert_eq!(k.stored(), "id:1700000000:buy:EURUSD");
        s.action = SignalAction::Close;
        assert_ne!(
            DedupKey::for_signal(&s, b"whatever", 0).stored(),
            k.stored()
        );
    }

    #[test]
    fn explicit_ids_keep_the_pre_0010_spelling_as_legacy_key() {
        let mut s = crate::webhook::parse::parse(b"id=7 buy OANDA:NAS100USD").unwrap();
        assert_eq!(s.symbol, "NAS100");
        let DedupKey::Explicit { key, legacy } = DedupKey::for_signal(&s, b"", 0) else {
            panic!("explicit")
        };
        assert_eq!(key, "id:7:buy:NAS100");
        assert_eq!(legacy.as_deref(), Some("id:7:buy:NAS100USD"));
        s = crate::webhook::parse::parse(b"id=7 buy EURUSDm").unwrap();
        let DedupKey::Explicit { legacy, .. } = DedupKey::for_signal(&s, b"", 0) else {
            panic!("explicit")
        };
        assert_eq!(legacy.as_deref(), Some("id:7:buy:EURUSDM"));
        s = crate::webhook::parse::parse(b"id=7 buy FX:EURUSD.pro").unwrap();
        let DedupKey::Explicit { legacy, .. } = DedupKey::for_signal(&s, b"", 0) else {
            panic!("explicit")
        };
        assert_eq!(legacy, None, "unchanged spellings need no second key");
    }

    #[test]
    fn bodies_bucket_by_window_and_ignore_surrounding_whitespace() {
        let s = ParsedSignal::new(SignalAction::Buy, "EURUSD");
        let a = DedupKey::for_signal(&s, b"buy EURUSD", 60);
        let b = DedupKey::for_signal(&s, b"  buy EURUSD\n", 89);
        assert_eq!(a, b);
        let c = DedupKey::for_signal(&s, b"buy EURUSD", 90);
        assert_ne!(a.stored(), c.stored());
        let DedupKey::Body { previous, .. } = &c else {
            panic!()
        };
        assert_eq!(previous, a.stored());
    }
}
