//! De-duplication keys for `tv_signals.dedup_base` / `dedup_key` (migration 0012).
//!
//! - A message with an explicit id (`id`, `signal_id`, `alert_id`, `timestamp`, ...)
//!   has the base `id:<id>:<action>:<symbol>`. A repeat of that base within the
//!   strategy's `dedup_window_secs` is a duplicate; after the window it is a new
//!   signal (ids such as `{{time}}` or a constant repeat by design). Window 0 =
//!   forever.
//! - Otherwise identical bodies within [`BODY_WINDOW_SECS`] are one signal: the base
//!   is `body:<sha256>`.
//!
//! Repeats are looked up by `dedup_base` and the database's clock (a sliding
//! window). Concurrent requests for one base are serialised by a
//! transaction-scoped advisory lock on it, taken before the look-up (`ingest`), so
//! two deliveries cannot both pass. The stored `dedup_key` is the base itself for
//! "forever" keys (the unique index on `(strategy_id, dedup_key)` then refuses a
//! second one even without the lock) and `<base>@<signal id>` for windowed keys
//! (a base may legitimately be accepted again after its window).
//!
//! Keys stored before migration 0010 spelt the symbol the old way (`US30USD`,
//! `EURUSDM`): an explicit id also looks for that spelling ([`DedupKey::legacy`]), so
//! an id sent again still dedups within its window.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::parse::{legacy_normalize_symbol, ParsedSignal};

/// Identical bodies without an id closer together than this are duplicates.
pub const BODY_WINDOW_SECS: i64 = 30;
/// `tv_strategies.dedup_window_secs` default (migration 0012).
pub const DEFAULT_ID_WINDOW_SECS: i64 = 300;

/// How a signal is recognised again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupKey {
    /// What repeats are looked up by (`tv_signals.dedup_base`); also the lock name.
    pub base: String,
    /// `None` = forever.
    pub window_secs: Option<i64>,
    /// An explicit id's key with the pre-0010 symbol spelling and action word, when
    /// it differs (looked for in `dedup_key`, never stored).
    pub legacy: Option<String>,
}

impl DedupKey {
    /// The key of signal `s` (body `body`) for a strategy whose explicit ids
    /// de-duplicate for `id_window_secs` (0 = forever).
    pub fn for_signal(s: &ParsedSignal, body: &[u8], id_window_secs: i64) -> Self {
        match &s.signal_key {
            Some(id) => {
                let base = format!("id:{id}:{}:{}", s.dedup_action(), s.symbol);
                // Keys stored before 0010/0011: the old symbol normalisation and the
                // action word alone (every close word was `close` then).
                let old = legacy_normalize_symbol(s.raw_symbol.as_deref().unwrap_or(&s.symbol));
                let legacy = format!("id:{id}:{}:{old}", s.action.as_str());
                DedupKey {
                    legacy: (legacy != base).then_some(legacy),
                    base,
                    window_secs: (id_window_secs > 0).then_some(id_window_secs),
                }
            }
            None => {
                let hash = Sha256::digest(body.trim_ascii());
                DedupKey {
                    base: format!("body:{}", hex(&hash)),
                    window_secs: Some(BODY_WINDOW_SECS),
                    legacy: None,
                }
            }
        }
    }

    /// The value stored in `tv_signals.dedup_key` for accepted signal `signal_id`.
    pub fn stored(&self, signal_id: Uuid) -> String {
        match self.window_secs {
            None => self.base.clone(),
            Some(_) => format!("{}@{signal_id}", self.base),
        }
    }

    /// The name serialising concurrent requests for the same signal.
    pub fn lock_name(&self) -> &str {
        &self.base
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
        assert_eq!(k.base, "id:1700000000:buy:EURUSD");
        assert_eq!(k.window_secs, None);
        assert_eq!(
            k.stored(Uuid::nil()),
            k.base,
            "forever keys are unique as such"
        );
        s.action = SignalAction::Close;
        assert_ne!(DedupKey::for_signal(&s, b"whatever", 0).base, k.base);
    }

    #[test]
    fn windowed_ids_keep_the_base_and_store_one_key_per_signal() {
        let mut s = ParsedSignal::new(SignalAction::Buy, "EURUSD");
        s.signal_key = Some("bar".into());
        let a = DedupKey::for_signal(&s, b"x", 300);
        assert_eq!(a.base, "id:bar:buy:EURUSD");
        assert_eq!(a.window_secs, Some(300));
        assert_eq!(a.lock_name(), a.base);
        let (x, y) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(a.stored(x), format!("id:bar:buy:EURUSD@{x}"));
        assert_ne!(a.stored(x), a.stored(y));
        // The body does not matter when there is an id.
        assert_eq!(DedupKey::for_signal(&s, b"y", 300), a);
    }

    #[test]
    fn bodies_ignore_surrounding_whitespace_and_use_their_own_window() {
        let s = ParsedSignal::new(SignalAction::Buy, "EURUSD");
        let a = DedupKey::for_signal(&s, b"buy EURUSD", 0);
        let b = DedupKey::for_signal(&s, b"  buy EURUSD\n", 300);
        assert_eq!(a, b);
        assert_eq!(a.window_secs, Some(BODY_WINDOW_SECS));
        assert_ne!(DedupKey::for_signal(&s, b"buy  EURUSD", 0).base, a.base);
    }

    #[test]
    fn explicit_ids_keep_the_pre_0010_spelling_as_legacy_key() {
        let mut s = crate::webhook::parse::parse(b"id=7 buy OANDA:NAS100USD").unwrap();
        assert_eq!(s.symbol, "NAS100");
        let k = DedupKey::for_signal(&s, b"", 0);
        assert_eq!(k.base, "id:7:buy:NAS100");
        assert_eq!(k.legacy.as_deref(), Some("id:7:buy:NAS100USD"));
        s = crate::webhook::parse::parse(b"id=7 buy EURUSDm").unwrap();
        let k = DedupKey::for_signal(&s, b"", 0);
        assert_eq!(k.legacy.as_deref(), Some("id:7:buy:EURUSDM"));
        s = crate::webhook::parse::parse(b"id=7 buy FX:EURUSD.pro").unwrap();
        let k = DedupKey::for_signal(&s, b"", 0);
        assert_eq!(k.legacy, None, "unchanged spellings need no second key");
        let k = DedupKey::for_signal(&s, b"", 300);
        assert_eq!(k.legacy, None);
    }
}
