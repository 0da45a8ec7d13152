//! Canonical instrument names and their aliases, shared by the server (which turns
//! an alert's TradingView ticker into a canonical name) and the agent (which looks
//! for the canonical name's aliases in the broker's symbol list).
//!
//! The canonical name is what TradingView means: forex pairs as six letters
//! (`EURUSD`), metals as `XAUUSD` / `XAGUSD`, indices by their common CFD names
//! (`US30`, `NAS100`, `SPX500`, `GER40`, `UK100`, `JPN225`), energies `USOIL` /
//! `UKOIL`, crypto against the US dollar (`BTCUSD`). OANDA's CFD tickers on
//! TradingView (`NAS100USD`, `DE30EUR`, `BCOUSD`, ...) are aliases: `DE30EUR` is
//! the DAX (OANDA kept the old 30-stock name), so it maps to `GER40`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How the agent chose a broker symbol for a canonical instrument.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SymbolDecision {
    /// The trader's override for this broker connection.
    Override,
    /// The alert's own spelling exists at the broker (`US30.cash`).
    Raw,
    /// The canonical name exists at the broker (`EURUSD`).
    Exact,
    /// The canonical name with the broker's prefix/suffix (`EURUSD.pro`, `XAUUSDm`).
    Affix,
    /// Another name of the instrument, possibly with the broker's affixes (`GOLD`, `USTEC`).
    Alias,
    /// The terminal could not list its symbols: the canonical name is used as is.
    Unchecked,
}

/// A trader's choice of broker symbol for a canonical instrument, per broker
/// connection (`broker_symbol_overrides`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolOverride {
    /// The canonical instrument (`XAUUSD`).
    pub canonical: String,
    /// The broker's name for it (`GOLD.pro`).
    pub broker_symbol: String,
    pub updated_at: DateTime<Utc>,
}

/// `PUT /api/v1/broker-connections/{id}/symbol-overrides/{canonical}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetSymbolOverride {
    pub broker_symbol: String,
}

/// Alias groups: the canonical name first, then other spellings (upper case,
/// letters and digits only) seen at TradingView or at brokers.
pub const INSTRUMENT_ALIASES: &[&[&str]] = &[
    &["XAUUSD", "GOLD", "XAUUSDT"],
    &["XAGUSD", "SILVER"],
    &["XPTUSD", "PLATINUM"],
    &["XPDUSD", "PALLADIUM"],
    &[
        "US30", "US30USD", "DJ30", "WS30", "DJI", "USA30", "DOW30", "DJIA", "YM",
    ],
    &[
        "NAS100",
        "NAS100USD",
        "USTEC",
        "US100",
        "NDX",
        "USTECH",
        "USTECH100",
        "NQ",
        "NSDQ100",
    ],
    &[
        "SPX500",
        "SPX500USD",
        "US500",
        "SP500",
        "SPX",
        "USA500",
        "ES",
    ],
    &["US2000", "US2000USD", "RUSSELL2000", "RUT", "US2000CASH"],
    &[
        "GER40", "DE30EUR", "DE40EUR", "DE40", "GER30", "DAX40", "DE30", "DAX", "GER40EUR",
    ],
    &["UK100", "UK100GBP", "FTSE100", "FTSE", "UKX"],
    &[
        "JPN225",
        "JP225USD",
        "JP225",
        "NIKKEI225",
        "NIKKEI",
        "NI225",
        "JPN225USD",
    ],
    &["FRA40", "FR40EUR", "FRA40EUR", "FR40", "CAC40", "CAC"],
    &[
        "EU50", "EU50EUR", "STOXX50", "EUSTX50", "STOXX50E", "ESTX50",
    ],
    &["AUS200", "AU200AUD", "AUS200AUD", "AU200", "ASX200"],
    &["HK50", "HK33HKD", "HK50HKD", "HSI", "HK33"],
    &[
        "USOIL", "WTICOUSD", "WTI", "XTIUSD", "CL", "USCRUDE", "CRUDEOIL", "OILUS", "WTIUSD",
    ],
    &[
        "UKOIL", "BCOUSD", "BRENT", "XBRUSD", "BRN", "UKBRENT", "OILUK", "BRENTUSD",
    ],
    &["NATGAS", "NATGASUSD", "XNGUSD", "NG", "NGAS"],
    &["BTCUSD", "BTCUSDT", "BITCOIN", "XBTUSD", "BTCUSDC"],
    &["ETHUSD", "ETHUSDT", "ETHEREUM", "ETHUSDC"],
    &["LTCUSD", "LTCUSDT", "LITECOIN"],
    &["XRPUSD", "XRPUSDT", "RIPPLE"],
    &["SOLUSD", "SOLUSDT", "SOLANA"],
];

/// The canonical name of an instrument spelled `name` (upper-case letters and
/// digits), or `None` when `name` is not in any alias group (it is then its own
/// canonical name: forex pairs, stocks).
pub fn canonical_alias(name: &str) -> Option<&'static str> {
    INSTRUMENT_ALIASES
        .iter()
        .find(|group| group.iter().any(|a| a.eq_ignore_ascii_case(name)))
        .and_then(|group| group.first().copied())
}

/// Every spelling of canonical instrument `canonical` (itself first); just
/// `[canonical]` when it has no aliases.
pub fn aliases_of(canonical: &str) -> Vec<&str> {
    match INSTRUMENT_ALIASES.iter().find(|group| {
        group
            .first()
            .is_some_and(|c| c.eq_ignore_ascii_case(canonical))
    }) {
        Some(group) => group.to_vec(),
        None => vec![canonical],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_map_to_their_canonical_name() {
        for (alias, canonical) in [
            ("NAS100USD", "NAS100"),
            ("SPX500USD", "SPX500"),
            ("US30USD", "US30"),
            ("DE30EUR", "GER40"),
            ("UK100GBP", "UK100"),
            ("JP225USD", "JPN225"),
            ("BCOUSD", "UKOIL"),
            ("WTICOUSD", "USOIL"),
            ("GOLD", "XAUUSD"),
            ("silver", "XAGUSD"),
            ("BTCUSDT", "BTCUSD"),
            ("XAUUSD", "XAUUSD"),
        ] {
            assert_eq!(canonical_alias(alias), Some(canonical), "{alias}");
        }
        assert_eq!(canonical_alias("EURUSD"), None);
        assert_eq!(aliases_of("EURUSD"), vec!["EURUSD"]);
        assert!(aliases_of("XAUUSD").contains(&"GOLD"));
    }

    #[test]
    fn every_alias_belongs_to_one_group() {
        let mut seen = std::collections::HashSet::new();
        for group in INSTRUMENT_ALIASES {
            for a in *group {
                assert!(seen.insert(*a), "{a} is in two groups");
                assert!(a
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
            }
        }
    }
}
