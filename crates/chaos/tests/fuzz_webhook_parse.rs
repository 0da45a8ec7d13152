//! Property fuzzing of the TradingView webhook message parser
//! (`companion_server::webhook::parse`) and of the PineConnector dialect
//! (`companion_server::webhook::pineconnector`), through their public API only.
//!
//! Short by default (`make test`); `FUZZ_CASES=200000 cargo test -p companion-chaos
//! --release --test fuzz_webhook_parse` (or `make fuzz-long`) for a long run.
//! A failure prints the minimal input and the seed that reproduces it
//! (proptest also writes it to `proptest-regressions/`).

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

use companion_protocol::SignalAction;
use companion_protocol::{
    AlertDialect, OrderType, PcAccountFilter, PcPendingEntry, PcTargetType, PcVolumeType,
    PriceUnit, VolumeSpec,
};
use companion_server::webhook::parse::{
    self, action_word, normalize_symbol, valid_symbol, CloseTarget, ParsedSignal, ALL_SYMBOLS,
    MAX_COMMENT_LEN, MAX_KEY_LEN, MAX_PIPS, MAX_POINTS, MAX_PRICE, MAX_RISK_MONEY, MAX_RISK_PCT,
    MAX_STOP_PERCENT, MAX_VOLUME_LOTS, MAX_VOLUME_PERCENT, MIN_RISK_PCT,
};
use companion_server::webhook::pineconnector::{
    self as pine, PineCommand, PineOutcome, PineParam, PineSettings,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

/// Every accepted signal satisfies what the rest of the pipeline (sizing, the
/// `tv_signals` columns, the agent's order) relies on.
fn assert_invariants(s: &ParsedSignal, body: &[u8]) {
    let ctx = || String::from_utf8_lossy(body).into_owned();
    // A `closeall` without a symbol closes every symbol and is logged as `*`.
    let every_symbol = s.action == SignalAction::Close && s.close == CloseTarget::All;
    assert!(
        s.symbol != ALL_SYMBOLS || every_symbol,
        "{ALL_SYMBOLS} for a signal that is not a closeall, from {:?}",
        ctx()
    );
    assert!(
        s.symbol == ALL_SYMBOLS
            || (2..=20).contains(&s.symbol.len())
                && s.symbol
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                && s.symbol.chars().any(|c| c.is_ascii_alphabetic()),
        "bad symbol {:?} from {:?}",
        s.symbol,
        ctx()
    );
    let positive_upto = |v: Option<f64>, max: f64, what: &str| {
        if let Some(x) = v {
            assert!(
                x.is_finite() && x > 0.0 && x <= max,
                "{what} {x} out of (0, {max}] from {:?}",
                ctx()
            );
        }
    };
    positive_upto(s.volume, MAX_VOLUME_LOTS, "volume");
    positive_upto(s.price, MAX_PRICE, "price");
    positive_upto(s.sl, MAX_PRICE, "sl");
    positive_upto(s.tp, MAX_PRICE, "tp");
    positive_upto(s.sl_pips, MAX_PIPS, "sl_pips");
    positive_upto(s.tp_pips, MAX_PIPS, "tp_pips");
    if let Some(r) = s.risk_pct {
        assert!(
            (MIN_RISK_PCT..=MAX_RISK_PCT).contains(&r),
            "risk {r} from {:?}",
            ctx()
        );
    }
    // Typed sizes: positive, bounded, never alongside another size.
    if let Some(spec) = s.volume_spec {
        let max = match spec {
            VolumeSpec::Lots { .. } => MAX_VOLUME_LOTS,
            VolumeSpec::RiskMoney { .. } => MAX_RISK_MONEY,
            VolumeSpec::BalanceRisk { .. } | VolumeSpec::EquityRisk { .. } => MAX_RISK_PCT,
            VolumeSpec::BalanceLots { .. } | VolumeSpec::BalanceMargin { .. } => MAX_VOLUME_PERCENT,
        };
        positive_upto(Some(spec.value()), max, "volume_spec");
        assert!(
            s.volume.is_none() && s.risk_pct.is_none(),
            "a typed size alongside volume/risk from {:?}",
            ctx()
        );
    }
    // Typed stops: points or percent, bounded, never alongside a price or pips.
    for (d, price, pips) in [
        (s.sl_distance, s.sl, s.sl_pips),
        (s.tp_distance, s.tp, s.tp_pips),
    ] {
        if let Some(d) = d {
            let max = match d.unit {
                PriceUnit::Points => MAX_POINTS,
                PriceUnit::Percent => MAX_STOP_PERCENT,
                other => panic!("a stop distance in {other:?} from {:?}", ctx()),
            };
            positive_upto(Some(d.value), max, "stop distance");
            assert!(
                price.is_none() && pips.is_none(),
                "two stop units from {:?}",
                ctx()
            );
        }
    }
    if let Some(d) = s.max_spread {
        assert_eq!(d.unit, PriceUnit::Pips);
        positive_upto(Some(d.value), MAX_PIPS, "spread");
    }
    if let Some(k) = &s.signal_key {
        assert!(!k.trim().is_empty() && k.chars().count() <= MAX_KEY_LEN);
    }
    if let Some(c) = &s.comment {
        assert!(!c.trim().is_empty() && c.chars().count() <= MAX_COMMENT_LEN);
    }
    // New commands: fields only where they belong, each value in range.
    let entry = matches!(s.action, SignalAction::Buy | SignalAction::Sell);
    assert!(
        s.order_type.is_none() || entry && s.order_type != Some(OrderType::Market),
        "order_type {:?} on {:?} from {:?}",
        s.order_type,
        s.action,
        ctx()
    );
    if s.order_type.is_some() {
        assert!(
            s.entry_price.is_some() != s.entry_offset.is_some(),
            "a pending order needs exactly one of price / offset, from {:?}",
            ctx()
        );
    } else {
        assert!(
            s.entry_price.is_none() && s.entry_offset.is_none() && s.expiry.is_none(),
            "pending fields on a market order from {:?}",
            ctx()
        );
    }
    if let Some(o) = s.entry_offset {
        assert!(o.value.is_finite() && o.value > 0.0 && o.unit != PriceUnit::Price);
    }
    if s.action == SignalAction::Modify {
        assert!(
            s.new_sl.is_some() || s.new_tp.is_some(),
            "modify without a level from {:?}",
            ctx()
        );
        for l in [s.new_sl, s.new_tp].into_iter().flatten() {
            assert!(
                l.value.is_finite() && l.value > 0.0,
                "level {l:?} from {:?}",
                ctx()
            );
        }
    } else {
        assert!(
            s.new_sl.is_none() && s.new_tp.is_none(),
            "levels on {:?} from {:?}",
            s.action,
            ctx()
        );
    }
    if s.action != SignalAction::Close {
        assert!(s.close_percent.is_none() && s.close_volume.is_none());
    }
    assert!(s.close_percent.is_none() || s.close_volume.is_none());
    positive_upto(s.close_volume, MAX_VOLUME_LOTS, "close_volume");
    // Stops given as prices are on the right side of a given price.
    if let Some(p) = s.price {
        match s.action {
            SignalAction::Buy => {
                assert!(s.sl.is_none_or(|x| x < p) && s.tp.is_none_or(|x| x > p))
            }
            SignalAction::Sell => {
                assert!(s.sl.is_none_or(|x| x > p) && s.tp.is_none_or(|x| x < p))
            }
            _ => {}
        }
    }
}

/// Parses twice (the parser is pure: same answer) and checks the invariants.
fn check(body: &[u8]) -> Result<ParsedSignal, parse::Rejected> {
    let first = parse::parse(body);
    let second = parse::parse(body);
    assert_eq!(first, second, "parse is not deterministic");
    match &first {
        Ok(s) => assert_invariants(s, body),
        Err(r) => {
            // Every rejection has a stable code and a message a user can act on.
            assert!(!r.reason.code().is_empty());
            assert!(!r.to_string().is_empty());
            if let Some(sym) = &r.partial.symbol {
                assert!(valid_symbol(sym).is_some(), "partial symbol {sym:?}");
            }
        }
    }
    first
}

const KEYS: &[&str] = &[
    "action",
    "side",
    "order",
    "signal",
    "direction",
    "market_position",
    "position",
    "symbol",
    "ticker",
    "pair",
    "instrument",
    "price",
    "close",
    "entry",
    "volume",
    "qty",
    "contracts",
    "lots",
    "size",
    "risk",
    "risk_pct",
    "sl",
    "tp",
    "stop_loss",
    "take_profit",
    "sl_price",
    "tp_price",
    "sl_pips",
    "tp_pips",
    "risk_money",
    "risk_pct_equity",
    "balance_lots_pct",
    "margin_pct",
    "sl_points",
    "tp_points",
    "sl_percent",
    "tp_percent",
    "id",
    "signal_id",
    "timestamp",
    "time",
    "comment",
    "note",
    "percent",
    "close_volume",
    "entry_pips",
    "entry_points",
    "entry_percent",
    "expiry",
    "expiry_secs",
    "sl_points",
    "tp_pct",
    "Strategy.Order.Action",
    "strategy-order-contracts",
    "unknown",
    "",
];
const WORDS: &[&str] = &[
    "buy",
    "sell",
    "long",
    "short",
    "close",
    "exit",
    "flat",
    "close_all",
    "buy_limit",
    "sell-stop",
    "buylimit",
    "modify",
    "modify_long",
    "newsltpshort",
    "cancel",
    "cancel_short",
    "2026-12-01T16:00:00Z",
    "1893456000",
    "enter-long",
    "hodl",
    "order",
    "filled",
    "on",
    "@",
    "New",
    "strategy",
    "position",
    "is",
    "EURUSD",
    "OANDA:EURUSD",
    "eurusd.m",
    "XAUUSD",
    "ES1!",
    "EUR/USD",
    "BTCUSDT",
    "{{ticker}}",
    "{{strategy.order.action}}",
    "}}",
    "{{",
    "0",
    "-1",
    "0.1",
    "1e400",
    "NaN",
    "inf",
    "1000000",
    "1.5e3",
    "+2",
    ".",
    "=",
    "sl=20",
    "tp=40",
    "risk=1",
    "sl=-5",
    "id=",
    "x=y",
    "\u{feff}",
    "\"",
    "é",
    "\u{0}",
    "🙂",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (0.0001f64..2_000_000.0).prop_map(|f| json!(f)),
        prop::sample::select(WORDS).prop_map(|w| Value::String(w.to_string())),
        ".{0,40}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec(
        (
            prop_oneof![
                4 => prop::sample::select(KEYS).prop_map(str::to_string),
                1 => ".{0,12}",
            ],
            json_value(),
        ),
        0..8,
    )
    .prop_map(|kv| kv.into_iter().collect())
}

fn text_message() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            prop_oneof![
                6 => prop::sample::select(WORDS).prop_map(str::to_string),
                2 => (prop::sample::select(KEYS), prop::sample::select(WORDS))
                    .prop_map(|(k, v)| format!("{k}={v}")),
                1 => "[ -~]{0,12}",
            ],
            0..10,
        ),
        prop::sample::select(vec![" ", ",", ";", "\t", "\n", ", "]),
    )
        .prop_map(|(w, sep)| w.join(sep))
}

fn symbol() -> impl Strategy<Value = (String, String)> {
    // (as sent, normalised)
    prop_oneof![
        Just(("EURUSD".to_string(), "EURUSD".to_string())),
        Just(("OANDA:EURUSD".to_string(), "EURUSD".to_string())),
        Just(("gbpusd.m".to_string(), "GBPUSD".to_string())),
        Just(("XAUUSD".to_string(), "XAUUSD".to_string())),
        "[A-Z]{6}".prop_map(|s| (s.clone(), s)),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = check(&body);
    }

    #[test]
    fn arbitrary_text_never_panics(body in ".{0,300}") {
        let _ = check(body.as_bytes());
    }

    #[test]
    fn json_objects_hold_invariants(obj in json_object(), pretty in any::<bool>()) {
        let v = Value::Object(obj);
        let body = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) };
        let body = body.expect("serialise");
        let _ = check(body.as_bytes());
        // TradingView may wrap the message in quotes: same or a rejection, never a panic.
        let quoted = serde_json::to_string(&body).expect("serialise");
        let _ = check(quoted.as_bytes());
    }

    #[test]
    fn text_messages_hold_invariants(body in text_message()) {
        let _ = check(body.as_bytes());
        let _ = check(format!("\u{feff}  {body}  \r\n").as_bytes());
    }

    /// A well-formed JSON alert is read back exactly, whatever the field order and
    /// extra unknown fields.
    #[test]
    fn valid_json_alert_round_trips(
        buy in any::<bool>(),
        (sent, norm) in symbol(),
        volume in prop::option::of(1u32..=100_000u32),
        sl_pips in prop::option::of(1u32..=5000u32),
        tp_pips in prop::option::of(1u32..=5000u32),
        id in prop::option::of("[a-zA-Z0-9_-]{1,40}"),
        extra in prop::collection::btree_map("x_[a-z]{1,6}", prop_oneof![
            any::<i64>().prop_map(Value::from),
            "[a-zA-Z0-9 ]{0,20}".prop_map(Value::String),
        ], 0..3),
    ) {
        let mut m = Map::new();
        m.insert("action".into(), json!(if buy { "buy" } else { "sell" }));
        m.insert("ticker".into(), json!(sent));
        if let Some(v) = volume { m.insert("volume".into(), json!(f64::from(v) / 100.0)); }
        if let Some(v) = sl_pips { m.insert("sl_pips".into(), json!(v)); }
        if let Some(v) = tp_pips { m.insert("tp_pips".into(), json!(v)); }
        if let Some(v) = &id { m.insert("id".into(), json!(v)); }
        for (k, v) in extra { m.insert(k, v); }
        let body = serde_json::to_vec(&Value::Object(m)).expect("serialise");
        let s = check(&body).map_err(|e| TestCaseError::fail(format!("{e} for {}", String::from_utf8_lossy(&body))))?;
        prop_assert_eq!(s.action, if buy { SignalAction::Buy } else { SignalAction::Sell });
        prop_assert_eq!(s.symbol, norm);
        prop_assert_eq!(s.volume, volume.map(|v| f64::from(v) / 100.0));
        prop_assert_eq!(s.sl_pips, sl_pips.map(f64::from));
        prop_assert_eq!(s.tp_pips, tp_pips.map(f64::from));
        prop_assert_eq!(s.signal_key, id);
    }

    /// The plain-text syntax `buy EURUSD 0.1 sl=20 tp=40` reads back the same.
    #[test]
    fn valid_text_alert_round_trips(
        buy in any::<bool>(),
        (sent, norm) in symbol(),
        volume in 1u32..=100_000u32,
        sl in 1u32..=5000u32,
        tp in 1u32..=5000u32,
        volume_first in any::<bool>(),
    ) {
        let action = if buy { "buy" } else { "sell" };
        let vol = format!("{}", f64::from(volume) / 100.0);
        let body = if volume_first {
            format!("{action} {vol} {sent} sl={sl} tp={tp}")
        } else {
            format!("{action} {sent} {vol} tp={tp} sl={sl}")
        };
        let s = check(body.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e} for {body}")))?;
        prop_assert_eq!(s.action, if buy { SignalAction::Buy } else { SignalAction::Sell });
        prop_assert_eq!(s.symbol, norm);
        prop_assert_eq!(s.volume, Some(f64::from(volume) / 100.0));
        prop_assert_eq!(s.sl_pips, Some(f64::from(sl)));
        prop_assert_eq!(s.tp_pips, Some(f64::from(tp)));
    }

    /// An unreplaced `{{placeholder}}` anywhere is always refused as such.
    #[test]
    fn placeholders_are_always_refused(prefix in text_message(), name in "[a-z.]{1,20}", suffix in text_message()) {
        let body = format!("{prefix} {{{{{name}}}}} {suffix}");
        let r = check(body.as_bytes());
        prop_assert!(matches!(&r, Err(e) if e.reason.code() == "placeholder"), "{:?} for {}", r, body);
    }

    #[test]
    fn symbol_normalisation_is_idempotent(raw in ".{0,30}") {
        let once = normalize_symbol(&raw);
        prop_assert_eq!(normalize_symbol(&once), once.clone());
        if let Some(v) = valid_symbol(&raw) {
            prop_assert_eq!(valid_symbol(&v), Some(v.clone()));
            prop_assert_eq!(v, once);
        }
    }

    /// A pending entry in JSON reads back with its order type, entry and expiry; a
    /// modify with its levels in their units; a cancel with its side.
    #[test]
    fn pending_modify_and_cancel_json_round_trip(
        buy in any::<bool>(),
        limit in any::<bool>(),
        (sent, norm) in symbol(),
        entry in prop_oneof![
            (1u32..=900_000u32).prop_map(|v| ("price", f64::from(v) / 1000.0)),
            (1u32..=5000u32).prop_map(|v| ("entry_pips", f64::from(v))),
            (1u32..=5000u32).prop_map(|v| ("entry_points", f64::from(v))),
            (1u32..=100u32).prop_map(|v| ("entry_percent", f64::from(v) / 10.0)),
        ],
        expiry_secs in prop::option::of(1u32..=86_400u32),
        side in prop::option::of(any::<bool>()),
        sl in prop::option::of((prop::sample::select(vec!["sl_pips", "sl_points", "sl_pct"]), 1u32..=90u32)),
        tp in (prop::sample::select(vec!["tp", "tp_pips", "tp_points", "tp_pct"]), 1u32..=90u32),
    ) {
        let word = format!("{}_{}", if buy { "buy" } else { "sell" }, if limit { "limit" } else { "stop" });
        let mut m = Map::new();
        m.insert("action".into(), json!(word));
        m.insert("symbol".into(), json!(sent));
        m.insert(entry.0.into(), json!(entry.1));
        if let Some(e) = expiry_secs { m.insert("expiry_secs".into(), json!(e)); }
        let body = serde_json::to_vec(&Value::Object(m)).expect("serialise");
        let s = check(&body).map_err(|e| TestCaseError::fail(format!("{e} for {}", String::from_utf8_lossy(&body))))?;
        prop_assert_eq!(s.action, if buy { SignalAction::Buy } else { SignalAction::Sell });
        prop_assert_eq!(s.order_type, Some(if limit { OrderType::Limit } else { OrderType::Stop }));
        prop_assert_eq!(&s.symbol, &norm);
        match entry.0 {
            "price" => prop_assert_eq!(s.entry_price, Some(entry.1)),
            k => {
                let unit = match k { "entry_pips" => PriceUnit::Pips, "entry_points" => PriceUnit::Points, _ => PriceUnit::Percent };
                prop_assert_eq!(s.entry_offset.map(|o| (o.value, o.unit)), Some((entry.1, unit)));
            }
        }
        prop_assert_eq!(s.expiry, expiry_secs.map(|e| parse::Expiry::AfterSecs(i64::from(e))));

        let mut m = Map::new();
        m.insert("action".into(), json!("modify"));
        m.insert("symbol".into(), json!(sent));
        if let Some(b) = side { m.insert("side".into(), json!(if b { "buy" } else { "sell" })); }
        if let Some((k, v)) = sl { m.insert(k.into(), json!(v)); }
        m.insert(tp.0.into(), json!(tp.1));
        let body = serde_json::to_vec(&Value::Object(m)).expect("serialise");
        let s = check(&body).map_err(|e| TestCaseError::fail(format!("{e} for {}", String::from_utf8_lossy(&body))))?;
        prop_assert_eq!(s.action, SignalAction::Modify);
        let want_side = match side { Some(true) => CloseTarget::Long, Some(false) => CloseTarget::Short, None => CloseTarget::Both };
        prop_assert_eq!(s.close, want_side);
        let unit_of = |k: &str| if k.ends_with("_pips") { PriceUnit::Pips } else if k.ends_with("_points") { PriceUnit::Points } else if k.ends_with("_pct") { PriceUnit::Percent } else { PriceUnit::Price };
        prop_assert_eq!(s.new_sl.map(|l| (l.value, l.unit)), sl.map(|(k, v)| (f64::from(v), unit_of(k))));
        prop_assert_eq!(s.new_tp.map(|l| (l.value, l.unit)), Some((f64::from(tp.1), unit_of(tp.0))));

        let body = format!("cancel_{} {sent}", if buy { "long" } else { "short" });
        let s = check(body.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e} for {body}")))?;
        prop_assert_eq!((s.action, s.close), (SignalAction::Cancel, if buy { CloseTarget::Long } else { CloseTarget::Short }));
    }

    #[test]
    fn action_words_ignore_case_and_separators(word in prop::sample::select(vec![
        "buy", "long", "enter_long", "go_long", "sell", "short", "enter_short", "close", "exit",
        "flat", "close_all", "exit_long", "flatten",
    ]), upper in any::<bool>(), dash in any::<bool>()) {
        let mut w = if upper { word.to_ascii_uppercase() } else { word.to_string() };
        if dash { w = w.replace('_', "-"); }
        prop_assert_eq!(action_word(&w), action_word(word));
        prop_assert!(action_word(word).is_some());
    }
}

fn pine_settings() -> impl Strategy<Value = PineSettings> {
    (
        any::<bool>(),
        prop::option::of(prop::sample::select(vec!["60123456789", "70000000001"])),
        prop::sample::select(vec![
            PcVolumeType::Lots,
            PcVolumeType::PercentBalanceRisk,
            PcVolumeType::DollarRisk,
            PcVolumeType::PercentBalanceLots,
            PcVolumeType::PercentBalanceMargin,
            PcVolumeType::PercentEquityRisk,
        ]),
        prop::sample::select(vec![
            PcTargetType::Pips,
            PcTargetType::Price,
            PcTargetType::Points,
            PcTargetType::Percentage,
        ]),
        prop::sample::select(vec![
            PcPendingEntry::Pips,
            PcPendingEntry::Price,
            PcPendingEntry::Percentage,
        ]),
        prop::sample::select(vec![
            PcAccountFilter::Balance,
            PcAccountFilter::Equity,
            PcAccountFilter::FreeMargin,
        ]),
    )
        .prop_map(
            |(pine_only, license, volume_type, target_type, pending_entry, account_filter)| {
                PineSettings {
                    dialect: if pine_only {
                        AlertDialect::Pineconnector
                    } else {
                        AlertDialect::Auto
                    },
                    license_id: license.map(str::to_string),
                    volume_type,
                    target_type,
                    pending_entry,
                    account_filter,
                }
            },
        )
}

/// `LicenseID,Command,Symbol,Others` with every command word and parameter name,
/// good and bad values, odd spacing and case.
fn pine_message() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        prop::sample::select(WORDS).prop_map(str::to_string),
        (1u32..100_000).prop_map(|v| (f64::from(v) / 100.0).to_string()),
        "[ -~]{0,8}",
    ];
    (
        prop_oneof![
            4 => prop::sample::select(vec!["60123456789", "70000000001", "1"]).prop_map(str::to_string),
            1 => "[0-9a-z]{0,14}",
        ],
        prop_oneof![
            6 => prop::sample::select(PineCommand::ALL.to_vec()).prop_map(|c| c.as_str().to_string()),
            1 => prop::sample::select(vec!["long", "Bull", "BULLISH", "short", "bear", "bearish", "close", "hold"]).prop_map(str::to_string),
        ],
        prop::option::of(prop_oneof![
            symbol().prop_map(|(sent, _)| sent),
            prop::sample::select(WORDS).prop_map(str::to_string),
        ]),
        prop::collection::vec(
            (
                prop_oneof![
                    6 => prop::sample::select(PineParam::ALL.to_vec()).prop_map(|p| p.as_str().to_string()),
                    1 => "[a-z_]{0,10}",
                ],
                value,
            ),
            0..6,
        ),
        prop::sample::select(vec![",", ", ", " , "]),
        any::<bool>(),
    )
        .prop_map(|(license, command, symbol, params, sep, upper)| {
            let mut parts = vec![license, if upper { command.to_uppercase() } else { command }];
            parts.extend(symbol);
            parts.extend(params.into_iter().map(|(k, v)| format!("{k}={v}")));
            parts.join(sep)
        })
}

proptest! {
    #![proptest_config(config())]

    /// PineConnector messages: never a panic, deterministic, the licence never
    /// becomes a signal id, accepted signals hold the pipeline's invariants, and
    /// every refusal has a code and a message.
    #[test]
    fn pineconnector_messages_hold_invariants(body in pine_message(), st in pine_settings()) {
        let first = pine::read(body.as_bytes(), &st);
        prop_assert_eq!(&first, &pine::read(body.as_bytes(), &st), "not deterministic");
        if st.dialect == AlertDialect::Pineconnector {
            prop_assert!(first.is_some(), "PineConnector mode reads everything: {}", body);
        }
        match first {
            None => prop_assert!(!pine::recognise(&body), "{}", body),
            Some(Ok(PineOutcome::Signal(signal))) => {
                prop_assert!(pine::recognise(&body));
                prop_assert_eq!(&signal.signal_key, &None, "licence used as id: {}", body);
                assert_invariants(&signal, body.as_bytes());
                if signal.close != CloseTarget::Both {
                    prop_assert!(
                        matches!(signal.action, SignalAction::Close | SignalAction::Modify | SignalAction::Cancel),
                        "{:?} with target {:?}: {}", signal.action, signal.close, body
                    );
                }
                // A pending command is a pending order, and only a pending command.
                let lower = body.to_ascii_lowercase();
                let pending_word = ["buylimit", "buystop", "selllimit", "sellstop"]
                    .iter()
                    .any(|w| lower.contains(w));
                if signal.order_type.is_some() {
                    prop_assert!(pending_word, "{}", body);
                }
                if let Some(own) = &st.license_id {
                    prop_assert!(body.trim_start().starts_with(own.as_str()), "{}", body);
                }
            }
            Some(Ok(PineOutcome::SetEnabled(_))) => {
                let lower = body.to_ascii_lowercase();
                prop_assert!(lower.contains("eaon") || lower.contains("eaoff"), "{}", body);
            }
            Some(Err(r)) => {
                prop_assert!(!r.error.code().is_empty());
                prop_assert!(r.to_string().starts_with(r.error.code()));
                if let Some(sym) = &r.symbol {
                    prop_assert!(valid_symbol(sym).is_some(), "partial symbol {:?}", sym);
                }
            }
        }
        // The generic parser never panics on them either.
        let _ = check(body.as_bytes());
    }

    /// Arbitrary text in either dialect never panics.
    #[test]
    fn pineconnector_arbitrary_text_never_panics(body in ".{0,200}", st in pine_settings()) {
        let _ = pine::read(body.as_bytes(), &st);
    }
}
