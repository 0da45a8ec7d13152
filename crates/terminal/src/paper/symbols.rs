//! The paper terminal's broker set-ups: the `--symbols FILE` format (a JSON array of
//! symbols, as a broker lists them) and the built-in `--profile`s (a symbol list and
//! an account margin mode, in `crates/terminal/profiles/*.json`).
//!
//! A file is checked entry by entry; an error names the entry (index and name) and
//! the field, so a hand-written file is quick to fix.

use companion_protocol::{Filling, MarginMode, SymbolTradeMode};
use serde::Deserialize;

use super::market::{all_fillings, default_path, SymbolSpec};

/// Why a symbols file or profile was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SymbolsError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("not a JSON array of symbols: {0}")]
    Json(String),
    #[error("symbol entry {index}{name}: {message}")]
    Entry {
        index: usize,
        /// ` ("EURUSD.pro")` when the entry has a name, else empty.
        name: String,
        message: String,
    },
    #[error("the list holds no symbol")]
    Empty,
    #[error("unknown profile {0:?}; known: {known}", known = PROFILE_NAMES.join(", "))]
    UnknownProfile(String),
}

/// One entry of a symbols file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    digits: u32,
    /// Initial bid.
    price: f64,
    contract_size: Option<f64>,
    spread_points: Option<u32>,
    tick_size: Option<f64>,
    volume_min: Option<f64>,
    volume_max: Option<f64>,
    volume_step: Option<f64>,
    trade_mode: Option<SymbolTradeMode>,
    filling: Option<Vec<Filling>>,
    stops_level_points: Option<u32>,
    currency_profit: Option<String>,
    description: Option<String>,
    visible: Option<bool>,
    path: Option<String>,
    /// Relative standard deviation of one price step (default 0.00004).
    volatility: Option<f64>,
}

fn positive(field: &str, v: f64) -> Result<f64, String> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("`{field}` must be a positive number, not {v}"))
    }
}

impl Entry {
    fn into_spec(self) -> Result<SymbolSpec, String> {
        let name = self.name.trim().to_string();
        if name.is_empty() || name.len() > 31 || name.chars().any(char::is_whitespace) {
            return Err("`name` must be 1–31 characters without spaces".into());
        }
        if self.digits > 8 {
            return Err(format!("`digits` must be 0–8, not {}", self.digits));
        }
        let point = 10f64.powi(-(self.digits as i32));
        let price = positive("price", self.price)?;
        let volume_min = positive("volume_min", self.volume_min.unwrap_or(0.01))?;
        let volume_max = positive("volume_max", self.volume_max.unwrap_or(100.0))?;
        let volume_step = positive("volume_step", self.volume_step.unwrap_or(0.01))?;
        if volume_max < volume_min {
            return Err(format!(
                "`volume_max` ({volume_max}) is below `volume_min` ({volume_min})"
            ));
        }
        let tick_size = positive("tick_size", self.tick_size.unwrap_or(point))?;
        if tick_size < point - 1e-12 {
            return Err(format!(
                "`tick_size` ({tick_size}) is smaller than one point ({point})"
            ));
        }
        let filling = self.filling.unwrap_or_else(all_fillings);
        if filling.is_empty() {
            return Err("`filling` must allow at least one of fok, ioc, return".into());
        }
        let currency_profit = self.currency_profit.unwrap_or_else(|| "USD".into());
        if currency_profit.len() != 3 || !currency_profit.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(format!(
                "`currency_profit` must be a three-letter currency, not {currency_profit:?}"
            ));
        }
        let volatility = positive("volatility", self.volatility.unwrap_or(0.00004))?;
        Ok(SymbolSpec {
            path: self.path.unwrap_or_else(|| default_path(&name)),
            name,
            digits: self.digits,
            contract_size: positive("contract_size", self.contract_size.unwrap_or(100_000.0))?,
            base_price: price,
            spread_points: self.spread_points.unwrap_or(10),
            step_volatility: volatility,
            volume_min,
            volume_max,
            volume_step,
            tick_size,
            trade_mode: self.trade_mode.unwrap_or_default(),
            filling,
            stops_level_points: self.stops_level_points.unwrap_or(0),
            currency_profit: currency_profit.to_ascii_uppercase(),
            description: self.description.unwrap_or_default(),
            visible: self.visible.unwrap_or(true),
        })
    }
}

/// Parses a symbols file's text: a JSON array of symbol entries.
pub fn parse_symbols(text: &str) -> Result<Vec<SymbolSpec>, SymbolsError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| SymbolsError::Json(e.to_string()))?;
    parse_symbol_list(value)
}

fn parse_symbol_list(value: serde_json::Value) -> Result<Vec<SymbolSpec>, SymbolsError> {
    let serde_json::Value::Array(items) = value else {
        return Err(SymbolsError::Json(
            "expected an array `[{\"name\":…,\"digits\":…,\"price\":…}, …]`".into(),
        ));
    };
    if items.is_empty() {
        return Err(SymbolsError::Empty);
    }
    let mut out: Vec<SymbolSpec> = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let name = match item.get("name").and_then(|n| n.as_str()) {
            Some(n) => format!(" ({n:?})"),
            None => String::new(),
        };
        let entry_err = |message: String| SymbolsError::Entry {
            index,
            name: name.clone(),
            message,
        };
        let entry: Entry = serde_json::from_value(item).map_err(|e| entry_err(e.to_string()))?;
        let spec = entry.into_spec().map_err(entry_err)?;
        if out.iter().any(|s| s.name == spec.name) {
            return Err(entry_err(format!("`{}` is listed twice", spec.name)));
        }
        out.push(spec);
    }
    Ok(out)
}

/// Reads and parses a symbols file.
pub fn load_symbols_file(path: &std::path::Path) -> Result<Vec<SymbolSpec>, SymbolsError> {
    let text = std::fs::read_to_string(path).map_err(|e| SymbolsError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    parse_symbols(&text)
}

/// A built-in broker set-up.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub margin_mode: MarginMode,
    pub symbols: Vec<SymbolSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    description: String,
    margin_mode: MarginMode,
    symbols: serde_json::Value,
}

/// The names `--profile` accepts.
pub const PROFILE_NAMES: &[&str] = &["dotted-pro", "suffix-m", "netting"];

fn profile_text(name: &str) -> Option<&'static str> {
    Some(match name {
        "dotted-pro" => include_str!("../../profiles/dotted-pro.json"),
        "suffix-m" => include_str!("../../profiles/suffix-m.json"),
        "netting" => include_str!("../../profiles/netting.json"),
        _ => return None,
    })
}

/// The built-in profile `name`.
pub fn profile(name: &str) -> Result<Profile, SymbolsError> {
    let text = profile_text(name).ok_or_else(|| SymbolsError::UnknownProfile(name.into()))?;
    let f: ProfileFile =
        serde_json::from_str(text).map_err(|e| SymbolsError::Json(format!("{name}: {e}")))?;
    Ok(Profile {
        name: name.into(),
        description: f.description,
        margin_mode: f.margin_mode,
        symbols: parse_symbol_list(f.symbols)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse_symbols(text).unwrap_err().to_string()
    }

    #[test]
    fn a_minimal_entry_gets_the_defaults() {
        let s = parse_symbols(r#"[{"name":"EURUSD.pro","digits":5,"price":1.085}]"#).unwrap();
        assert_eq!(s.len(), 1);
        let e = &s[0];
        assert_eq!(e.contract_size, 100_000.0);
        assert_eq!(e.spread_points, 10);
        assert!((e.tick_size - 0.00001).abs() < 1e-12);
        assert_eq!(
            (e.volume_min, e.volume_max, e.volume_step),
            (0.01, 100.0, 0.01)
        );
        assert_eq!(e.trade_mode, SymbolTradeMode::Full);
        assert_eq!(e.filling, all_fillings());
        assert_eq!(e.stops_level_points, 0);
        assert_eq!(e.currency_profit, "USD");
        assert!(e.visible);
        assert_eq!(e.path, "Forex\\EURUSD.pro");
    }

    #[test]
    fn every_field_is_read() {
        let s = parse_symbols(
            r#"[{"name":"US30.cash","digits":1,"price":39000,"contract_size":1,"spread_points":20,
                "tick_size":0.5,"volume_min":0.1,"volume_max":50,"volume_step":0.1,
                "trade_mode":"close_only","filling":["ioc"],"stops_level_points":30,
                "currency_profit":"usd","description":"Dow","visible":false,"path":"Indices\\US30.cash"}]"#,
        )
        .unwrap();
        let e = &s[0];
        assert_eq!(e.trade_mode, SymbolTradeMode::CloseOnly);
        assert_eq!(e.filling, vec![Filling::Ioc]);
        assert_eq!(e.stops_level_points, 30);
        assert_eq!(e.tick_size, 0.5);
        assert_eq!(e.currency_profit, "USD");
        assert!(!e.visible);
        assert_eq!(e.path, "Indices\\US30.cash");
        assert_eq!(e.description, "Dow");
    }

    #[test]
    fn bad_files_say_which_entry_and_field() {
        assert!(err("{").contains("not a JSON array"));
        assert!(err(r#"{"name":"X"}"#).contains("expected an array"));
        assert_eq!(err("[]"), "the list holds no symbol");
        let e = err(r#"[{"name":"A","digits":5,"price":1},{"name":"B","price":1}]"#);
        assert!(
            e.contains("entry 1 (\"B\")") && e.contains("missing field `digits`"),
            "{e}"
        );
        let e = err(r#"[{"name":"A","digits":5,"price":1,"spred_points":3}]"#);
        assert!(
            e.contains("entry 0 (\"A\")") && e.contains("unknown field `spred_points`"),
            "{e}"
        );
        let e = err(r#"[{"name":"A","digits":5,"price":-1}]"#);
        assert!(e.contains("`price` must be a positive number"), "{e}");
        let e = err(r#"[{"name":"A","digits":5,"price":1,"trade_mode":"sometimes"}]"#);
        assert!(e.contains("entry 0") && e.contains("sometimes"), "{e}");
        let e = err(r#"[{"name":"A","digits":5,"price":1,"filling":[]}]"#);
        assert!(e.contains("`filling` must allow"), "{e}");
        let e = err(r#"[{"name":"A","digits":5,"price":1,"filling":["gtc"]}]"#);
        assert!(e.contains("gtc"), "{e}");
        let e = err(r#"[{"name":"A","digits":5,"price":1},{"name":"A","digits":5,"price":1}]"#);
        assert!(e.contains("entry 1") && e.contains("listed twice"), "{e}");
        let e = err(r#"[{"name":"A","digits":5,"price":1,"volume_min":1,"volume_max":0.5}]"#);
        assert!(e.contains("`volume_max`"), "{e}");
        let e = err(r#"[{"digits":5,"price":1}]"#);
        assert!(
            e.contains("entry 0:") && e.contains("missing field `name`"),
            "{e}"
        );
        let e = err(r#"[{"name":"A","digits":12,"price":1}]"#);
        assert!(e.contains("`digits`"), "{e}");
    }

    #[test]
    fn every_profile_parses_and_has_the_cases_tests_need() {
        for name in PROFILE_NAMES {
            let p = profile(name).unwrap();
            assert!(p.symbols.len() >= 8, "{name}");
            let has = |f: &dyn Fn(&SymbolSpec) -> bool| p.symbols.iter().any(f);
            assert!(
                has(&|s| s.trade_mode == SymbolTradeMode::CloseOnly),
                "{name}"
            );
            assert!(
                has(&|s| s.trade_mode == SymbolTradeMode::Disabled),
                "{name}"
            );
            assert!(has(&|s| s.filling == vec![Filling::Ioc]), "{name}");
            assert!(has(&|s| s.stops_level_points > 0), "{name}");
        }
        assert_eq!(profile("netting").unwrap().margin_mode, MarginMode::Netting);
        assert_eq!(
            profile("dotted-pro").unwrap().margin_mode,
            MarginMode::Hedging
        );
        assert!(profile("nope")
            .unwrap_err()
            .to_string()
            .contains("dotted-pro"));
    }
}
