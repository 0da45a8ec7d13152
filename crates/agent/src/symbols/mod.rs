//! Symbol resolution at the broker: the executor's trade and close paths turn a
//! job's canonical instrument (`XAUUSD`, with the alert's own spelling when it
//! had one) into the broker's symbol (`GOLD.pro`, `XAUUSDm`) through a
//! [`SymbolBook`]: the terminal's symbol list (fetched once, again after
//! [`LIST_MAX_AGE`], after [`SymbolBook::invalidate`] — the runtime calls it on a
//! reconnect — and when a lookup misses), the trader's overrides for this broker
//! connection, and the resolutions made so far with how each was decided.

mod resolve;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use companion_terminal::Terminal;

pub use companion_protocol::symbols::SymbolDecision;
pub use resolve::{resolve, Purpose, Resolution, ResolveError, SymbolList};

/// A symbol list older than this is fetched again before resolving.
pub const LIST_MAX_AGE: Duration = Duration::from_secs(600);

#[derive(Default)]
struct State {
    list: Option<(Arc<SymbolList>, Instant)>,
    overrides: HashMap<String, String>,
    resolutions: BTreeMap<String, Resolution>,
}

/// The resolver's cache for one terminal; cheap to share (`Arc`).
#[derive(Default)]
pub struct SymbolBook {
    state: Mutex<State>,
}

impl SymbolBook {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the trader's overrides (canonical → broker symbol); forgets the
    /// resolutions of the instruments whose override changed (an override decides
    /// only its own instrument). Loading the same overrides again changes nothing,
    /// so the periodic reload keeps the Symbols view's rows.
    pub fn set_overrides(&self, overrides: impl IntoIterator<Item = (String, String)>) {
        let new: HashMap<String, String> = overrides
            .into_iter()
            .map(|(c, b)| (c.trim().to_ascii_uppercase(), b.trim().to_string()))
            .collect();
        let mut st = self.lock();
        let changed: Vec<String> = new
            .iter()
            .filter(|(c, b)| st.overrides.get(*c) != Some(*b))
            .map(|(c, _)| c.clone())
            .chain(
                st.overrides
                    .keys()
                    .filter(|c| !new.contains_key(*c))
                    .cloned(),
            )
            .collect();
        for c in &changed {
            st.resolutions.remove(c);
        }
        st.overrides = new;
    }

    /// Forgets the symbol list and the resolutions (the terminal reconnected,
    /// perhaps to another account).
    pub fn invalidate(&self) {
        let mut st = self.lock();
        st.list = None;
        st.resolutions.clear();
    }

    /// The resolutions made since the last change, by canonical name.
    pub fn resolutions(&self) -> Vec<Resolution> {
        self.lock().resolutions.values().cloned().collect()
    }

    async fn fetch<T: Terminal>(&self, terminal: &T) -> Option<Arc<SymbolList>> {
        match terminal.symbols().await {
            Ok(symbols) => {
                let list = Arc::new(SymbolList::new(symbols));
                self.lock().list = Some((list.clone(), Instant::now()));
                Some(list)
            }
            Err(e) => {
                tracing::warn!(error = %e, "the terminal cannot list its symbols; using instrument names as they are");
                None
            }
        }
    }

    /// The broker symbol for `canonical` (and the alert's spelling `raw`).
    pub async fn resolve<T: Terminal>(
        &self,
        terminal: &T,
        canonical: &str,
        raw: Option<&str>,
        purpose: Purpose,
    ) -> Result<Resolution, ResolveError> {
        let (cached, overrides) = {
            let st = self.lock();
            let fresh = st
                .list
                .as_ref()
                .filter(|(_, at)| at.elapsed() < LIST_MAX_AGE)
                .map(|(l, _)| l.clone());
            (fresh, st.overrides.clone())
        };
        let was_cached = cached.is_some();
        let list = match cached {
            Some(l) => Some(l),
            None => self.fetch(terminal).await,
        };
        let Some(list) = list.filter(|l| !l.is_empty()) else {
            // No list to check against: the trader's override, else the name as is.
            let r = match overrides.get(&canonical.to_ascii_uppercase()) {
                Some(o) => Resolution {
                    canonical: canonical.to_string(),
                    broker_symbol: o.clone(),
                    decided: SymbolDecision::Override,
                },
                None => Resolution {
                    canonical: canonical.to_string(),
                    broker_symbol: canonical.to_string(),
                    decided: SymbolDecision::Unchecked,
                },
            };
            // Shown in the Symbols view ("not checked"), as every other resolution.
            self.lock()
                .resolutions
                .insert(canonical.to_ascii_uppercase(), r.clone());
            return Ok(r);
        };
        let mut result = resolve(canonical, raw, &list, &overrides, purpose);
        if result.is_err() && was_cached {
            // A miss may be a symbol the broker added since: look again once.
            if let Some(list) = self.fetch(terminal).await {
                result = resolve(canonical, raw, &list, &overrides, purpose);
            }
        }
        match &result {
            Ok(r) => {
                tracing::info!(canonical, raw, broker_symbol = %r.broker_symbol, decided = ?r.decided, "symbol resolved");
                self.lock()
                    .resolutions
                    .insert(canonical.to_ascii_uppercase(), r.clone());
            }
            Err(e) => tracing::warn!(canonical, raw, error = %e, "symbol not resolved"),
        }
        result
    }
}

#[cfg(test)]
mod tests;
