//! The pure symbol resolver: canonical instrument (+ the alert's own spelling) →
//! the broker's symbol, from the terminal's symbol list and the trader's
//! overrides. No I/O; see [`super`] for the cache around it.
//!
//! Order: override → the alert's spelling (`raw`) → the canonical name → the
//! canonical name with the broker's affixes (learned from how it spells the forex
//! majors, plus a `.suffix`/`-suffix`/`_suffix` of any kind: `US30.cash`) → the
//! instrument's aliases ([`companion_protocol::symbols::INSTRUMENT_ALIASES`]),
//! alone or with those affixes. Opening orders only consider symbols whose trade
//! mode opens positions; closes consider any. Several candidates at one step:
//! the ones visible in Market Watch win; still several → ambiguous.

use std::collections::{BTreeMap, HashMap};

use companion_protocol::symbols::{aliases_of, SymbolDecision};
use companion_protocol::BrokerSymbol;

/// What the symbol is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// A new position: only symbols that accept opening orders.
    Open,
    /// Closing positions: any symbol.
    Close,
}

/// A resolved broker symbol and how it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub canonical: String,
    pub broker_symbol: String,
    pub decided: SymbolDecision,
}

/// Why no single broker symbol was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("no symbol for {canonical} at this broker{}; set one in Symbols", list_candidates(.candidates))]
    NotFound {
        canonical: String,
        /// Near misses (symbols that exist but cannot open positions).
        candidates: Vec<String>,
    },
    #[error("several symbols could be {canonical} at this broker: {}; set one in Symbols", .candidates.join(", "))]
    Ambiguous {
        canonical: String,
        candidates: Vec<String>,
    },
    #[error("the override for {canonical} names {broker_symbol}, which {why}; fix it in Symbols")]
    BadOverride {
        canonical: String,
        broker_symbol: String,
        why: &'static str,
    },
}

fn list_candidates(c: &[String]) -> String {
    if c.is_empty() {
        String::new()
    } else {
        format!("; candidates: {}", c.join(", "))
    }
}

/// Forex majors whose spelling at a broker reveals its affixes.
const MAJORS: &[&str] = &[
    "EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "USDCHF", "USDCAD", "NZDUSD", "EURGBP", "EURJPY",
];

/// A broker's symbol list, indexed for resolution.
#[derive(Debug, Clone, Default)]
pub struct SymbolList {
    symbols: Vec<BrokerSymbol>,
    /// Upper-cased name → indexes into `symbols`.
    by_upper: HashMap<String, Vec<usize>>,
    /// (prefix, suffix) pairs that turn a major into a broker name, most common first.
    affixes: Vec<(String, String)>,
}

impl SymbolList {
    pub fn new(symbols: Vec<BrokerSymbol>) -> Self {
        let mut by_upper: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, s) in symbols.iter().enumerate() {
            by_upper
                .entry(s.name.to_ascii_uppercase())
                .or_default()
                .push(i);
        }
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for s in &symbols {
            let upper = s.name.to_ascii_uppercase();
            for major in MAJORS {
                if let Some(at) = upper.find(major) {
                    let prefix = s.name[..at].to_string();
                    let suffix = s.name[at + major.len()..].to_string();
                    if prefix.len() + suffix.len() > 0 && prefix.len() <= 4 && suffix.len() <= 8 {
                        *counts.entry((prefix, suffix)).or_default() += 1;
                    }
                }
            }
        }
        let mut affixes: Vec<((String, String), usize)> = counts.into_iter().collect();
        affixes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        SymbolList {
            symbols,
            by_upper,
            affixes: affixes.into_iter().map(|(a, _)| a).collect(),
        }
    }

    pub fn symbols(&self) -> &[BrokerSymbol] {
        &self.symbols
    }

    /// The affixes learned from the majors (`("", ".pro")`, `("", "m")`), most common first.
    pub fn affixes(&self) -> &[(String, String)] {
        &self.affixes
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// The symbol named exactly `name`, else the only one named so ignoring case.
    fn named(&self, name: &str) -> Option<&BrokerSymbol> {
        if let Some(s) = self.symbols.iter().find(|s| s.name == name) {
            return Some(s);
        }
        match self
            .by_upper
            .get(&name.to_ascii_uppercase())
            .map(Vec::as_slice)
        {
            Some([i]) => self.symbols.get(*i),
            _ => None,
        }
    }

    /// Symbols spelling `base` with the broker's affixes, or with any
    /// `.`/`-`/`_` suffix (`US30.cash`, `GER40-SPOT`).
    fn with_affixes(&self, base: &str) -> Vec<&BrokerSymbol> {
        let upper = base.to_ascii_uppercase();
        let mut out: Vec<&BrokerSymbol> = Vec::new();
        for (prefix, suffix) in &self.affixes {
            let name = format!("{prefix}{upper}{suffix}").to_ascii_uppercase();
            for i in self.by_upper.get(&name).into_iter().flatten() {
                if let Some(s) = self.symbols.get(*i) {
                    out.push(s);
                }
            }
        }
        for s in &self.symbols {
            let name = s.name.to_ascii_uppercase();
            let separated = name
                .strip_prefix(&upper)
                .is_some_and(|rest| rest.starts_with(['.', '-', '_']) && rest.len() > 1);
            if separated {
                out.push(s);
            }
        }
        dedup_by_name(out)
    }
}

fn dedup_by_name(mut v: Vec<&BrokerSymbol>) -> Vec<&BrokerSymbol> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.name.clone()));
    v
}

fn qualifies(s: &BrokerSymbol, purpose: Purpose) -> bool {
    purpose == Purpose::Close || s.trade_mode.opens()
}

/// One step's candidates → one symbol (visible ones win), none, or ambiguous.
fn pick<'a>(
    canonical: &str,
    candidates: Vec<&'a BrokerSymbol>,
) -> Result<Option<&'a BrokerSymbol>, ResolveError> {
    match candidates.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => {
            let visible: Vec<&BrokerSymbol> = many.iter().copied().filter(|s| s.visible).collect();
            match visible.as_slice() {
                [one] => Ok(Some(one)),
                _ => {
                    let pool = if visible.is_empty() { many } else { &visible };
                    let mut names: Vec<String> = pool.iter().map(|s| s.name.clone()).collect();
                    names.sort();
                    Err(ResolveError::Ambiguous {
                        canonical: canonical.to_string(),
                        candidates: names,
                    })
                }
            }
        }
    }
}

/// Resolves `canonical` (with the alert's own spelling `raw`, if any) against
/// `list`; `overrides` maps canonical names (upper case) to broker symbols.
pub fn resolve(
    canonical: &str,
    raw: Option<&str>,
    list: &SymbolList,
    overrides: &HashMap<String, String>,
    purpose: Purpose,
) -> Result<Resolution, ResolveError> {
    let found = |s: &BrokerSymbol, decided| Resolution {
        canonical: canonical.to_string(),
        broker_symbol: s.name.clone(),
        decided,
    };
    if let Some(o) = overrides.get(&canonical.to_ascii_uppercase()) {
        let bad = |why| ResolveError::BadOverride {
            canonical: canonical.to_string(),
            broker_symbol: o.clone(),
            why,
        };
        return match list.named(o) {
            Some(s) if qualifies(s, purpose) => Ok(found(s, SymbolDecision::Override)),
            Some(_) => Err(bad("does not accept new positions")),
            None => Err(bad("is not in the terminal's symbol list")),
        };
    }
    if let Some(s) = raw
        .and_then(|r| list.named(r))
        .filter(|s| qualifies(s, purpose))
    {
        return Ok(found(s, SymbolDecision::Raw));
    }
    if let Some(s) = list.named(canonical).filter(|s| qualifies(s, purpose)) {
        return Ok(found(s, SymbolDecision::Exact));
    }
    let affixed: Vec<&BrokerSymbol> = list
        .with_affixes(canonical)
        .into_iter()
        .filter(|s| qualifies(s, purpose))
        .collect();
    if let Some(s) = pick(canonical, affixed)? {
        return Ok(found(s, SymbolDecision::Affix));
    }
    let mut aliased: Vec<&BrokerSymbol> = Vec::new();
    for alias in aliases_of(canonical)
        .into_iter()
        .filter(|a| !a.eq_ignore_ascii_case(canonical))
    {
        aliased.extend(list.named(alias));
        aliased.extend(list.with_affixes(alias));
    }
    let aliased: Vec<&BrokerSymbol> = dedup_by_name(aliased)
        .into_iter()
        .filter(|s| qualifies(s, purpose))
        .collect();
    if let Some(s) = pick(canonical, aliased)? {
        return Ok(found(s, SymbolDecision::Alias));
    }
    Err(ResolveError::NotFound {
        canonical: canonical.to_string(),
        candidates: near_misses(canonical, list),
    })
}

/// Symbols that look like `canonical` or an alias but were not usable (for the
/// error message), at most 8.
fn near_misses(canonical: &str, list: &SymbolList) -> Vec<String> {
    let names: Vec<String> = aliases_of(canonical)
        .into_iter()
        .map(str::to_ascii_uppercase)
        .collect();
    let mut out: Vec<String> = list
        .symbols
        .iter()
        .filter(|s| {
            let upper = s.name.to_ascii_uppercase();
            names.iter().any(|n| upper.contains(n.as_str()))
        })
        .map(|s| s.name.clone())
        .collect();
    out.sort();
    out.dedup();
    out.truncate(8);
    out
}
