//! The resolver against small broker lists in the styles of the paper terminal's
//! profiles (`.pro` + `.cash`, `m`, `-ECN`, a prefix, netting plain names).

use std::collections::HashMap;

use companion_protocol::symbols::SymbolDecision;
use companion_protocol::{BrokerSymbol, SymbolTradeMode};

use super::*;

fn sym(name: &str) -> BrokerSymbol {
    BrokerSymbol {
        name: name.into(),
        description: String::new(),
        path: String::new(),
        trade_mode: SymbolTradeMode::Full,
        digits: 5,
        visible: true,
    }
}

fn list(names: &[&str]) -> SymbolList {
    SymbolList::new(names.iter().map(|n| sym(n)).collect())
}

fn open(l: &SymbolList, canonical: &str, raw: Option<&str>) -> Result<Resolution, ResolveError> {
    resolve(canonical, raw, l, &HashMap::new(), Purpose::Open)
}

fn ok(l: &SymbolList, canonical: &str, raw: Option<&str>) -> (String, SymbolDecision) {
    let r = open(l, canonical, raw).unwrap_or_else(|e| panic!("{canonical}: {e}"));
    (r.broker_symbol, r.decided)
}

fn dotted_pro() -> SymbolList {
    list(&[
        "EURUSD.pro",
        "GBPUSD.pro",
        "USDJPY.pro",
        "AUDUSD.pro",
        "GOLD",
        "SILVER",
        "US30.cash",
        "USTEC",
        "GER40.cash",
        "USOIL.cash",
        "BTCUSD",
    ])
}

#[test]
fn dotted_pro_broker() {
    let l = dotted_pro();
    assert_eq!(l.affixes()[0], (String::new(), ".pro".to_string()));
    use SymbolDecision::*;
    assert_eq!(ok(&l, "EURUSD", None), ("EURUSD.pro".into(), Affix));
    assert_eq!(ok(&l, "XAUUSD", None), ("GOLD".into(), Alias));
    assert_eq!(ok(&l, "XAGUSD", Some("SILVER")), ("SILVER".into(), Raw));
    assert_eq!(ok(&l, "US30", Some("US30.cash")), ("US30.cash".into(), Raw));
    assert_eq!(ok(&l, "US30", None), ("US30.cash".into(), Affix));
    assert_eq!(ok(&l, "NAS100", Some("NAS100USD")), ("USTEC".into(), Alias));
    assert_eq!(ok(&l, "GER40", None), ("GER40.cash".into(), Affix));
    assert_eq!(ok(&l, "USOIL", None), ("USOIL.cash".into(), Affix));
    assert_eq!(ok(&l, "BTCUSD", Some("BTCUSDT")), ("BTCUSD".into(), Exact));
    let e = open(&l, "UKOIL", None).unwrap_err();
    assert!(matches!(e, ResolveError::NotFound { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("no symbol for UKOIL at this broker"),
        "{e}"
    );
}

#[test]
fn suffix_m_broker() {
    let l = list(&[
        "EURUSDm", "GBPUSDm", "USDJPYm", "XAUUSDm", "US30m", "USTECm", "BTCUSDm",
    ]);
    use SymbolDecision::*;
    assert_eq!(ok(&l, "EURUSD", None), ("EURUSDm".into(), Affix));
    assert_eq!(ok(&l, "XAUUSD", Some("GOLD")), ("XAUUSDm".into(), Affix));
    assert_eq!(ok(&l, "US30", None), ("US30m".into(), Affix));
    assert_eq!(ok(&l, "NAS100", None), ("USTECm".into(), Alias));
    assert_eq!(ok(&l, "BTCUSD", None), ("BTCUSDm".into(), Affix));
    assert_eq!(ok(&l, "XAUUSD", Some("XAUUSDm")), ("XAUUSDm".into(), Raw));
}

#[test]
fn dash_ecn_and_prefix_brokers() {
    let l = list(&[
        "EURUSD-ECN",
        "GBPUSD-ECN",
        "USDJPY-ECN",
        "XAUUSD-ECN",
        "US30-ECN",
    ]);
    assert_eq!(l.affixes()[0], (String::new(), "-ECN".to_string()));
    assert_eq!(ok(&l, "EURUSD", None).0, "EURUSD-ECN");
    assert_eq!(ok(&l, "XAUUSD", None).0, "XAUUSD-ECN");
    let l = list(&["#EURUSD", "#GBPUSD", "#USDJPY", "#XAGUSD", "#GOLD"]);
    assert_eq!(l.affixes()[0], ("#".to_string(), String::new()));
    assert_eq!(ok(&l, "EURUSD", None).0, "#EURUSD");
    assert_eq!(
        ok(&l, "XAUUSD", None),
        ("#GOLD".into(), SymbolDecision::Alias)
    );
}

#[test]
fn netting_plain_names() {
    let l = list(&["EURUSD", "GBPUSD", "XAUUSD", "NAS100", "US30"]);
    assert!(l.affixes().is_empty());
    for c in ["EURUSD", "XAUUSD", "NAS100", "US30"] {
        assert_eq!(ok(&l, c, None), (c.to_string(), SymbolDecision::Exact));
    }
    // The alert's own spelling the broker lacks falls back to the canonical name.
    assert_eq!(ok(&l, "US30", Some("US30.cash")).0, "US30");
}

#[test]
fn ambiguous_candidates_are_named_unless_one_is_visible() {
    let mut symbols = vec![sym("GOLD"), sym("GOLD.pro"), sym("EURUSD")];
    let l = SymbolList::new(symbols.clone());
    let e = open(&l, "XAUUSD", None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "several symbols could be XAUUSD at this broker: GOLD, GOLD.pro; set one in Symbols"
    );
    symbols[0].visible = false;
    let l = SymbolList::new(symbols);
    assert_eq!(ok(&l, "XAUUSD", None).0, "GOLD.pro");
}

#[test]
fn close_only_symbols_cannot_open_but_can_close() {
    let mut symbols = vec![
        sym("EURUSD"),
        sym("EURUSD.pro"),
        sym("GBPUSD.pro"),
        sym("GOLD"),
    ];
    symbols[0].trade_mode = SymbolTradeMode::CloseOnly;
    symbols[3].trade_mode = SymbolTradeMode::CloseOnly;
    let l = SymbolList::new(symbols);
    assert_eq!(
        ok(&l, "EURUSD", None),
        ("EURUSD.pro".into(), SymbolDecision::Affix)
    );
    let close = resolve("EURUSD", None, &l, &HashMap::new(), Purpose::Close).unwrap();
    assert_eq!(close.broker_symbol, "EURUSD");
    let e = open(&l, "XAUUSD", None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no symbol for XAUUSD at this broker; candidates: GOLD; set one in Symbols"
    );
    let close = resolve("XAUUSD", None, &l, &HashMap::new(), Purpose::Close).unwrap();
    assert_eq!(close.broker_symbol, "GOLD");
}

#[test]
fn overrides_come_first_and_must_exist() {
    let l = list(&["GOLD", "GOLD.pro", "XAUUSD"]);
    let overrides = HashMap::from([("XAUUSD".to_string(), "GOLD.pro".to_string())]);
    let r = resolve("XAUUSD", Some("XAUUSD"), &l, &overrides, Purpose::Open).unwrap();
    assert_eq!(
        (r.broker_symbol.as_str(), r.decided),
        ("GOLD.pro", SymbolDecision::Override)
    );
    let overrides = HashMap::from([("XAUUSD".to_string(), "XAU.x".to_string())]);
    let e = resolve("XAUUSD", None, &l, &overrides, Purpose::Open).unwrap_err();
    assert!(
        e.to_string().contains("not in the terminal's symbol list"),
        "{e}"
    );
}

fn resolution(canonical: &str, broker: &str) -> Resolution {
    Resolution {
        canonical: canonical.into(),
        broker_symbol: broker.into(),
        decided: SymbolDecision::Affix,
    }
}

#[test]
fn reloading_the_same_overrides_keeps_the_resolutions() {
    let book = SymbolBook::new();
    book.set_overrides([("XAUUSD".to_string(), "GOLD.pro".to_string())]);
    {
        let mut st = book.lock();
        st.resolutions
            .insert("EURUSD".into(), resolution("EURUSD", "EURUSD.pro"));
        st.resolutions
            .insert("XAUUSD".into(), resolution("XAUUSD", "GOLD.pro"));
    }
    // The periodic reload with nothing changed.
    book.set_overrides([("xauusd ".to_string(), "GOLD.pro".to_string())]);
    assert_eq!(book.resolutions().len(), 2);
    // A changed override forgets only its own instrument's resolution.
    book.set_overrides([("XAUUSD".to_string(), "GOLD".to_string())]);
    let left: Vec<String> = book
        .resolutions()
        .into_iter()
        .map(|r| r.canonical)
        .collect();
    assert_eq!(left, vec!["EURUSD".to_string()]);
    // A removed override too; a new one for EURUSD forgets EURUSD's.
    book.set_overrides([("EURUSD".to_string(), "EURUSD.r".to_string())]);
    assert!(book.resolutions().is_empty());
}
