//! The paper terminal as different real brokers: the built-in profiles, a symbols
//! file, netting accounts, foreign positions and the closing deals (`deals_since`),
//! each against a real `companion-paper-terminal` process over the real bridge.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

use std::time::Duration;

use companion_protocol::{AccountKind, DealEntry, Filling, MarginMode, Side, SymbolTradeMode};
use companion_terminal::bridge::wire::retcode;
use companion_terminal::paper::profile;
use companion_terminal::{BridgeServer, BridgeTerminal, OrderRequest, Terminal, TerminalError};
use serde_json::json;
use tokio::process::{Child, Command};

const TOKEN: &str = "test-token-brokers";
/// Generous bound for a local process to connect; not a speed assertion.
const CONNECT: Duration = Duration::from_secs(60);

fn spawn(addr: std::net::SocketAddr, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_companion-paper-terminal"))
        .arg("--agent")
        .arg(addr.to_string())
        .arg("--token")
        .arg(TOKEN)
        .arg("--tick-ms")
        .arg("0")
        .args(extra)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("spawn companion-paper-terminal")
}

/// A bridge with a paper terminal started with `extra` connected to it.
async fn broker(extra: &[&str]) -> (BridgeServer, BridgeTerminal, Child) {
    let s = BridgeServer::bind("127.0.0.1:0", TOKEN).await.unwrap();
    let t = s.terminal();
    let child = spawn(s.local_addr(), extra);
    assert!(
        t.wait_connected(CONNECT).await,
        "paper terminal {extra:?} connects"
    );
    (s, t, child)
}

fn order(symbol: &str, side: Side, volume: f64) -> OrderRequest {
    OrderRequest {
        deviation: None,
        symbol: symbol.into(),
        side,
        volume,
        sl: None,
        tp: None,
        comment: "test".into(),
        magic: 42,
        filling: None,
    }
}

fn retcode_of<T: std::fmt::Debug>(r: Result<T, TerminalError>) -> u32 {
    match r {
        Err(TerminalError::Rejected { retcode, .. }) => retcode,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn round(x: f64, digits: u32) -> f64 {
    let f = 10f64.powi(digits as i32);
    (x * f).round() / f
}

/// Per profile: a plain name the broker does not have, and its special symbols.
struct Case {
    profile: &'static str,
    margin: MarginMode,
    unknown: &'static str,
    fx: &'static str,
    close_only: &'static str,
    disabled: &'static str,
    ioc_only: &'static str,
    stops: &'static str,
}

const CASES: &[Case] = &[
    Case {
        profile: "dotted-pro",
        margin: MarginMode::Hedging,
        unknown: "EURUSD",
        fx: "EURUSD.pro",
        close_only: "US2000.cash",
        disabled: "USDRUB.pro",
        ioc_only: "GER40.cash",
        stops: "GOLD",
    },
    Case {
        profile: "suffix-m",
        margin: MarginMode::Hedging,
        unknown: "XAUUSD",
        fx: "EURUSDm",
        close_only: "USDTRYm",
        disabled: "USDRUBm",
        ioc_only: "DE30m",
        stops: "US30m",
    },
    Case {
        profile: "netting",
        margin: MarginMode::Netting,
        unknown: "EURUSD.pro",
        fx: "EURUSD",
        close_only: "UK100",
        disabled: "USDRUB",
        ioc_only: "NAS100",
        stops: "XAUUSD",
    },
];

#[tokio::test]
async fn each_profile_lists_its_symbols_and_knows_no_other() {
    for c in CASES {
        let (_s, t, _child) = broker(&["--profile", c.profile]).await;
        // The hello and `info` say what kind of account this is.
        let hello = t.current_info();
        assert_eq!(hello.margin_mode, Some(c.margin), "{}", c.profile);
        assert_eq!(hello.account_kind, Some(AccountKind::Demo));
        assert_eq!(hello.gmt_offset_secs, Some(0));
        let info = t.info().await.unwrap();
        assert_eq!(info.margin_mode, Some(c.margin));
        assert_eq!(info.account_kind, Some(AccountKind::Demo));

        let listed = t.symbols().await.unwrap();
        let expected = profile(c.profile).unwrap().symbols;
        assert_eq!(
            listed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            expected.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            "{}",
            c.profile
        );
        let fx = listed.iter().find(|s| s.name == c.fx).unwrap();
        assert!(fx.visible && fx.path.ends_with(c.fx) && !fx.description.is_empty());
        let disabled = listed.iter().find(|s| s.name == c.disabled).unwrap();
        assert_eq!(disabled.trade_mode, SymbolTradeMode::Disabled);

        assert_eq!(
            retcode_of(t.symbol_info(c.unknown).await),
            retcode::UNKNOWN_SYMBOL
        );
        assert_eq!(
            retcode_of(t.send_order(&order(c.unknown, Side::Buy, 0.1)).await),
            retcode::UNKNOWN_SYMBOL,
            "{}: {} is not a symbol at this broker",
            c.profile,
            c.unknown
        );
        assert!(t.quotes(&[c.unknown.to_string()]).await.unwrap().is_empty());
        // The broker's own name trades.
        let si = t.symbol_info(c.fx).await.unwrap();
        let fill = t.send_order(&order(c.fx, Side::Buy, si.volume_min)).await;
        assert_eq!(fill.unwrap().price, Some(si.ask));
    }
}

#[tokio::test]
async fn trade_modes_fillings_and_stops_levels_are_enforced() {
    for c in CASES {
        let (_s, t, _child) = broker(&["--profile", c.profile]).await;

        let si = t.symbol_info(c.close_only).await.unwrap();
        assert_eq!(si.trade_mode, SymbolTradeMode::CloseOnly);
        let r = t
            .send_order(&order(c.close_only, Side::Buy, si.volume_min))
            .await;
        assert_eq!(retcode_of(r), retcode::CLOSE_ONLY, "{}", c.profile);

        let si = t.symbol_info(c.disabled).await.unwrap();
        assert_eq!(si.trade_mode, SymbolTradeMode::Disabled);
        let r = t
            .send_order(&order(c.disabled, Side::Sell, si.volume_min))
            .await;
        assert_eq!(retcode_of(r), retcode::TRADE_DISABLED, "{}", c.profile);

        // IOC only: FOK (also the default when no filling is given) is refused.
        let si = t.symbol_info(c.ioc_only).await.unwrap();
        assert_eq!(si.filling_modes, vec![Filling::Ioc]);
        let mut o = order(c.ioc_only, Side::Buy, si.volume_min);
        assert_eq!(
            retcode_of(t.send_order(&o).await),
            retcode::INVALID_FILL,
            "{}",
            c.profile
        );
        o.filling = Some(Filling::Fok);
        assert_eq!(retcode_of(t.send_order(&o).await), retcode::INVALID_FILL);
        o.filling = Some(Filling::Return);
        assert_eq!(retcode_of(t.send_order(&o).await), retcode::INVALID_FILL);
        o.filling = Some(Filling::Ioc);
        let fill = t.send_order(&o).await.unwrap();
        assert_eq!(fill.price, Some(si.ask));
        // Other symbols allow all three.
        let fx = t.symbol_info(c.fx).await.unwrap();
        assert_eq!(
            fx.filling_modes,
            vec![Filling::Fok, Filling::Ioc, Filling::Return]
        );

        // Stops level: an SL or TP closer than it to the price is refused.
        let si = t.symbol_info(c.stops).await.unwrap();
        assert!(si.stops_level > 0);
        let level = f64::from(si.stops_level) * si.point;
        let mut o = order(c.stops, Side::Buy, si.volume_min);
        o.sl = Some(round(si.bid - level / 2.0, si.digits));
        assert_eq!(
            retcode_of(t.send_order(&o).await),
            retcode::INVALID_STOPS,
            "{}",
            c.profile
        );
        o.sl = None;
        o.tp = Some(round(si.bid + level / 2.0, si.digits));
        assert_eq!(retcode_of(t.send_order(&o).await), retcode::INVALID_STOPS);
        o.sl = Some(round(si.bid - level * 2.0, si.digits));
        o.tp = Some(round(si.bid + level * 2.0, si.digits));
        let fill = t.send_order(&o).await.unwrap();
        let p = t
            .positions()
            .await
            .unwrap()
            .into_iter()
            .find(|p| Some(p.ticket) == fill.ticket)
            .unwrap();
        assert_eq!(p.sl, o.sl);
        assert_eq!(p.tp, o.tp);
        let mut sell = order(c.stops, Side::Sell, si.volume_min);
        sell.sl = Some(round(si.ask + level / 2.0, si.digits));
        assert_eq!(
            retcode_of(t.send_order(&sell).await),
            retcode::INVALID_STOPS
        );
    }
}

#[tokio::test]
async fn netting_adds_reduces_and_reverses_one_position() {
    let (_s, t, _child) = broker(&["--profile", "netting"]).await;
    let si = t.symbol_info("EURUSD").await.unwrap();
    let first = OrderRequest {
        comment: "first".into(),
        magic: 7,
        ..order("EURUSD", Side::Buy, 0.1)
    };
    let f1 = t.send_order(&first).await.unwrap();
    let second = OrderRequest {
        comment: "second".into(),
        magic: 8,
        ..order("EURUSD", Side::Buy, 0.2)
    };
    let f2 = t.send_order(&second).await.unwrap();
    assert_eq!(f2.ticket, f1.ticket, "the same position grows");
    assert_ne!(f2.order_id, f1.order_id);
    let pos = t.positions().await.unwrap();
    assert_eq!(pos.len(), 1);
    assert_eq!(Some(pos[0].ticket), f1.ticket);
    assert!((pos[0].volume - 0.3).abs() < 1e-9);
    assert_eq!(pos[0].side, Side::Buy);
    assert_eq!(pos[0].open_price, si.ask, "both filled at the same ask");
    assert_eq!((pos[0].magic, pos[0].comment.as_str()), (7, "first"));

    // Price up 50 points; a smaller sell reduces the position at a profit.
    let bid = round(si.bid + 0.0005, 5);
    t.call("paper_set_price", json!({"symbol":"EURUSD","bid":bid}))
        .await
        .unwrap();
    let f3 = t
        .send_order(&order("EURUSD", Side::Sell, 0.1))
        .await
        .unwrap();
    assert_eq!(f3.ticket, f1.ticket);
    assert_eq!(f3.price, Some(bid));
    let pos = t.positions().await.unwrap();
    assert_eq!(pos.len(), 1);
    assert!((pos[0].volume - 0.2).abs() < 1e-9);
    assert_eq!(pos[0].side, Side::Buy);

    // A larger sell reverses it: one short of the remainder, same position id.
    let f4 = t
        .send_order(&order("EURUSD", Side::Sell, 0.5))
        .await
        .unwrap();
    assert_eq!(f4.ticket, f1.ticket);
    let pos = t.positions().await.unwrap();
    assert_eq!(pos.len(), 1, "{pos:?}");
    assert_eq!(Some(pos[0].ticket), f1.ticket);
    assert_eq!(pos[0].side, Side::Sell);
    assert!((pos[0].volume - 0.3).abs() < 1e-9);
    assert_eq!(pos[0].open_price, bid);
    assert_eq!((pos[0].magic, pos[0].comment.as_str()), (7, "first"));

    let deals = t.closed_deals(0).await.unwrap();
    assert_eq!(deals.len(), 2, "{deals:?}");
    let per_lot = (bid - si.ask) * 100_000.0;
    assert_eq!(deals[0].entry, DealEntry::Out);
    assert_eq!(deals[0].side, Side::Sell);
    assert!((deals[0].volume - 0.1).abs() < 1e-9);
    assert!((deals[0].profit - round(per_lot * 0.1, 2)).abs() < 0.011);
    assert!(deals[0].profit > 0.0);
    assert_eq!(deals[1].entry, DealEntry::Inout);
    assert!((deals[1].volume - 0.5).abs() < 1e-9);
    assert!((deals[1].profit - round(per_lot * 0.2, 2)).abs() < 0.011);
    assert!(deals.iter().all(|d| Some(d.position) == f1.ticket));
    assert!(deals[0].deal < deals[1].deal, "oldest first");
    assert_eq!(deals[1].order, f4.order_id);

    // The position closes with an opposite order of its exact volume.
    let f5 = t
        .send_order(&order("EURUSD", Side::Buy, 0.3))
        .await
        .unwrap();
    assert_eq!(f5.ticket, f1.ticket);
    assert!(t.positions().await.unwrap().is_empty());
    let deals = t.closed_deals(0).await.unwrap();
    assert_eq!(deals.len(), 3);
    assert_eq!(deals[2].entry, DealEntry::Out);
    let acct = t.account().await.unwrap();
    assert!(acct.margin_used.abs() < 1e-9);
}

#[tokio::test]
async fn netting_close_only_accepts_reducing_orders() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("symbols.json");
    std::fs::write(
        &file,
        r#"[{"name":"EURUSD_i","digits":5,"price":1.1,"trade_mode":"close_only"},
            {"name":"GBPUSD_i","digits":5,"price":1.3,"trade_mode":"long_only"}]"#,
    )
    .unwrap();
    let (_s, t, _child) = broker(&[
        "--symbols",
        file.to_str().unwrap(),
        "--margin-mode",
        "netting",
        "--foreign-position",
        "EURUSD_i:buy:0.3:0",
    ])
    .await;
    let o = order("EURUSD_i", Side::Buy, 0.1);
    assert_eq!(retcode_of(t.send_order(&o).await), retcode::CLOSE_ONLY);
    let o = order("EURUSD_i", Side::Sell, 0.5);
    assert_eq!(
        retcode_of(t.send_order(&o).await),
        retcode::CLOSE_ONLY,
        "a reversal opens"
    );
    t.send_order(&order("EURUSD_i", Side::Sell, 0.1))
        .await
        .unwrap();
    let pos = t.positions().await.unwrap();
    assert!((pos[0].volume - 0.2).abs() < 1e-9);
    // Long only: sells that open are refused, buys fill.
    let o = order("GBPUSD_i", Side::Sell, 0.1);
    assert_eq!(retcode_of(t.send_order(&o).await), retcode::LONG_ONLY);
    t.send_order(&order("GBPUSD_i", Side::Buy, 0.1))
        .await
        .unwrap();
}

#[tokio::test]
async fn hedging_foreign_positions_manual_closes_and_stop_hits_are_closing_deals() {
    let (_s, t, _child) = broker(&[
        "--profile",
        "dotted-pro",
        "--foreign-position",
        "EURUSD.pro:buy:0.1:0",
        "--foreign-position",
        "GOLD:sell:0.02:777",
    ])
    .await;
    let pos = t.positions().await.unwrap();
    assert_eq!(pos.len(), 2);
    let manual = pos.iter().find(|p| p.symbol == "EURUSD.pro").unwrap();
    assert_eq!((manual.magic, manual.comment.as_str()), (0, ""));
    assert_eq!(manual.side, Side::Buy);
    let other_ea = pos.iter().find(|p| p.symbol == "GOLD").unwrap();
    assert_eq!((other_ea.magic, other_ea.comment.as_str()), (777, ""));
    assert_eq!(other_ea.side, Side::Sell);
    assert!((other_ea.volume - 0.02).abs() < 1e-9);
    assert!(
        t.closed_deals(0).await.unwrap().is_empty(),
        "opening deals are not closing deals"
    );

    // Hedging: a second buy is a second position.
    let si = t.symbol_info("EURUSD.pro").await.unwrap();
    let mut mine = order("EURUSD.pro", Side::Buy, 0.1);
    mine.sl = Some(round(si.bid - 0.0010, 5));
    let fill = t.send_order(&mine).await.unwrap();
    assert_ne!(fill.ticket, Some(manual.ticket));
    assert_eq!(t.positions().await.unwrap().len(), 3);

    // The trader closes the foreign one by hand.
    let closed = t
        .call("paper_close_external", json!({"ticket": manual.ticket}))
        .await
        .unwrap();
    assert_eq!(closed["ticket"].as_u64(), Some(manual.ticket));
    let r = t
        .call("paper_close_external", json!({"ticket": manual.ticket}))
        .await;
    assert_eq!(retcode_of(r), retcode::POSITION_CLOSED);

    // The price falls through the stop: the server closes ours at the SL.
    t.call(
        "paper_set_price",
        json!({"symbol":"EURUSD.pro","bid": round(si.bid - 0.0020, 5)}),
    )
    .await
    .unwrap();
    let pos = t.positions().await.unwrap();
    assert_eq!(pos.len(), 1, "only GOLD is left: {pos:?}");

    // Our own close of the GOLD position carries our comment.
    t.close_position(other_ea.ticket, "mine").await.unwrap();

    let deals = t.closed_deals(0).await.unwrap();
    assert_eq!(deals.len(), 3, "{deals:?}");
    assert!(deals.iter().all(|d| d.entry == DealEntry::Out));
    assert!(
        deals.windows(2).all(|w| w[0].deal < w[1].deal),
        "oldest first"
    );
    let by_hand = &deals[0];
    assert_eq!(by_hand.position, manual.ticket);
    assert_eq!((by_hand.magic, by_hand.comment.as_str()), (0, ""));
    assert_eq!(by_hand.side, Side::Sell);
    assert_eq!(by_hand.price, si.bid);
    let sl = &deals[1];
    assert_eq!(Some(sl.position), fill.ticket);
    assert_eq!(sl.comment, format!("[sl {:.5}]", mine.sl.unwrap()));
    assert_eq!(sl.price, mine.sl.unwrap());
    assert_eq!(sl.magic, 42);
    assert!(sl.profit < 0.0 && sl.net() == sl.profit);
    let gold = &deals[2];
    assert_eq!(gold.position, other_ea.ticket);
    assert_eq!(gold.comment, "mine");
    assert_eq!(gold.side, Side::Buy);

    // `from` is the trade-server clock: nothing closed after now.
    let now = t.ping().await.unwrap();
    assert!(t.closed_deals(now + 1).await.unwrap().is_empty());
    assert_eq!(t.closed_deals(now - 3600).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_symbols_file_replaces_the_builtin_market_and_margin_mode_overrides_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("symbols.json");
    std::fs::write(
        &file,
        r#"[{"name":"EURUSD#","digits":5,"price":1.1,"description":"Euro"},
            {"name":"JP225","digits":0,"price":38000,"contract_size":1,"currency_profit":"JPY",
             "volume_min":1,"volume_step":1,"tick_size":5}]"#,
    )
    .unwrap();
    let before = chrono::Utc::now().timestamp();
    let (_s, t, _child) = broker(&[
        "--profile",
        "netting",
        "--symbols",
        file.to_str().unwrap(),
        "--margin-mode",
        "hedging",
        "--gmt-offset-secs",
        "7200",
    ])
    .await;
    let after = chrono::Utc::now().timestamp();
    let names: Vec<_> = t
        .symbols()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["EURUSD#", "JP225"]);
    assert_eq!(
        retcode_of(t.symbol_info("EURUSD").await),
        retcode::UNKNOWN_SYMBOL
    );
    assert_eq!(
        retcode_of(t.symbol_info("NAS100").await),
        retcode::UNKNOWN_SYMBOL
    );
    let info = t.info().await.unwrap();
    assert_eq!(info.margin_mode, Some(MarginMode::Hedging));
    assert_eq!(info.gmt_offset_secs, Some(7200));
    // The terminal's clock is the trade server's: UTC + the offset.
    let now = t.ping().await.unwrap();
    assert!(now >= before + 7200, "{now} vs {before}");
    assert!(now <= chrono::Utc::now().timestamp() + 7200 && after >= before);

    let jp = t.symbol_info("JP225").await.unwrap();
    assert_eq!(jp.tick_size, 5.0);
    assert_eq!(jp.bid % 5.0, 0.0, "prices are whole ticks");
    assert_eq!(jp.currency_profit, "JPY");
    // Hedging (overriding the profile's netting): two buys, two positions.
    let a = t
        .send_order(&order("EURUSD#", Side::Buy, 0.1))
        .await
        .unwrap();
    let b = t
        .send_order(&order("EURUSD#", Side::Buy, 0.1))
        .await
        .unwrap();
    assert_ne!(a.ticket, b.ticket);
    assert_eq!(t.positions().await.unwrap().len(), 2);
    let pos = t.positions().await.unwrap();
    assert!(pos.iter().all(|p| p.comment == "test"));
}

#[tokio::test]
async fn bad_set_ups_exit_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(
        &file,
        r#"[{"name":"EURUSD","digits":5,"price":1.1},{"name":"GOLD","digits":2,"price":2300,"filling":["fast"]}]"#,
    )
    .unwrap();
    let run = |args: Vec<String>| async move {
        let out = Command::new(env!("CARGO_BIN_EXE_companion-paper-terminal"))
            .args(["--agent", "127.0.0.1:9", "--token", "x"])
            .args(args)
            .output()
            .await
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = run(vec!["--symbols".into(), file.display().to_string()]).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("entry 1 (\"GOLD\")") && err.contains("fast"),
        "{err}"
    );

    let (code, err) = run(vec!["--profile".into(), "exness".into()]).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("unknown profile") && err.contains("suffix-m"),
        "{err}"
    );

    let (code, err) = run(vec![
        "--profile".into(),
        "suffix-m".into(),
        "--foreign-position".into(),
        "EURUSD:buy:0.1:0".into(),
    ])
    .await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("unknown symbol \"EURUSD\""), "{err}");

    let (code, err) = run(vec![
        "--foreign-position".into(),
        "EURUSD:long:0.1:0".into(),
    ])
    .await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("side \"long\""), "{err}");
}

#[tokio::test]
async fn without_a_symbol_list_the_builtins_are_listed_and_any_pair_trades() {
    let (_s, t, _child) = broker(&[]).await;
    let info = t.info().await.unwrap();
    assert_eq!(info.margin_mode, Some(MarginMode::Hedging));
    assert_eq!(info.account_kind, Some(AccountKind::Demo));
    assert_eq!(info.gmt_offset_secs, Some(0));
    let names: Vec<_> = t
        .symbols()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(names.iter().any(|n| n == "EURUSD") && names.iter().any(|n| n == "XAUUSD"));
    assert!(
        names.iter().all(|n| n != "SEKNOK"),
        "derived pairs are not listed"
    );
    let si = t.symbol_info("SEKNOK").await.unwrap();
    assert_eq!(si.trade_mode, SymbolTradeMode::Full);
    assert_eq!(si.currency_profit, "NOK");
    // No filling given: FOK, which every built-in symbol allows.
    t.send_order(&order("SEKNOK", Side::Buy, 0.1))
        .await
        .unwrap();
    assert_eq!(
        retcode_of(t.symbol_info("EURUSD.pro").await),
        retcode::UNKNOWN_SYMBOL
    );
}

#[tokio::test]
async fn a_disabled_symbol_refuses_closes_and_a_close_only_one_accepts_them() {
    let (_s, t, _child) = broker(&[
        "--profile",
        "dotted-pro",
        "--foreign-position",
        "USDRUB.pro:buy:0.1:0",
        "--foreign-position",
        "US2000.cash:sell:0.5:0",
    ])
    .await;
    let pos = t.positions().await.unwrap();
    let rub = pos.iter().find(|p| p.symbol == "USDRUB.pro").unwrap();
    let r = t.close_position(rub.ticket, "x").await;
    assert_eq!(retcode_of(r), retcode::TRADE_DISABLED);
    let us2000 = pos.iter().find(|p| p.symbol == "US2000.cash").unwrap();
    t.close_position(us2000.ticket, "x").await.unwrap();
    assert_eq!(t.positions().await.unwrap().len(), 1);
}
