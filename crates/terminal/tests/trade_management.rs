//! Trade management over the real bridge against a real `companion-paper-terminal`
//! process: a pending buy limit placed with `order_place`, listed by `orders`,
//! filled once `paper_set_price` moves the ask through it; `order_cancel`;
//! `position_modify` (and MT5's 10016 for a stop on the wrong side); a partial
//! `position_close` with `volume` (10014 off the step).

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

use std::time::Duration;

use companion_protocol::{OrderType, Side};
use companion_terminal::bridge::wire::retcode;
use companion_terminal::{
    BridgeServer, BridgeTerminal, OrderRequest, PendingRequest, Terminal, TerminalError,
};
use tokio::process::{Child, Command};

const TOKEN: &str = "test-token-trade-management";
/// Generous bound for a local process to connect; not a speed assertion.
const CONNECT: Duration = Duration::from_secs(60);

async fn paper() -> (BridgeServer, BridgeTerminal, Child) {
    let s = BridgeServer::bind("127.0.0.1:0", TOKEN).await.unwrap();
    let t = s.terminal();
    let child = Command::new(env!("CARGO_BIN_EXE_companion-paper-terminal"))
        .arg("--agent")
        .arg(s.local_addr().to_string())
        .arg("--token")
        .arg(TOKEN)
        .arg("--tick-ms")
        .arg("0")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("spawn companion-paper-terminal");
    assert!(t.wait_connected(CONNECT).await, "paper terminal connects");
    (s, t, child)
}

fn retcode_of<T: std::fmt::Debug>(r: Result<T, TerminalError>) -> u32 {
    match r {
        Err(TerminalError::Rejected { retcode, .. }) => retcode,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn pending(side: Side, order_type: OrderType, price: f64) -> PendingRequest {
    PendingRequest {
        symbol: "EURUSD".into(),
        side,
        order_type,
        volume: 0.1,
        price,
        sl: None,
        tp: None,
        expiry: None,
        comment: "pending".into(),
        magic: 42,
        filling: None,
    }
}

#[tokio::test]
async fn a_buy_limit_fills_when_the_price_falls_through_it() {
    let (_s, t, _child) = paper().await;
    let si = t.symbol_info("EURUSD").await.unwrap();
    let limit = t
        .place_order(&pending(Side::Buy, OrderType::Limit, si.ask - 0.0010))
        .await
        .unwrap();
    let stop = t
        .place_order(&pending(Side::Sell, OrderType::Stop, si.bid - 0.0050))
        .await
        .unwrap();
    // A buy limit above the ask is on the wrong side: 10015.
    assert_eq!(
        retcode_of(
            t.place_order(&pending(Side::Buy, OrderType::Limit, si.ask + 0.001))
                .await
        ),
        retcode::INVALID_PRICE
    );
    let orders = t.orders().await.unwrap();
    assert_eq!(orders.len(), 2);
    let o = orders.iter().find(|o| o.ticket == limit.order_id).unwrap();
    assert_eq!(
        (o.side, o.order_type, o.magic),
        (Side::Buy, OrderType::Limit, 42)
    );
    t.cancel_order(stop.order_id).await.unwrap();
    assert!(t.positions().await.unwrap().is_empty());
    t.call(
        "paper_set_price",
        serde_json::json!({"symbol": "EURUSD", "bid": si.bid - 0.0020}),
    )
    .await
    .unwrap();
    let ps = t.positions().await.unwrap();
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].ticket, limit.order_id);
    assert_eq!(ps[0].side, Side::Buy);
    assert!(t.orders().await.unwrap().is_empty());
}

#[tokio::test]
async fn modify_and_partial_close_a_position() {
    let (_s, t, _child) = paper().await;
    let fill = t
        .send_order(&OrderRequest {
            deviation: None,
            symbol: "EURUSD".into(),
            side: Side::Sell,
            volume: 0.3,
            sl: None,
            tp: None,
            comment: "open".into(),
            magic: 42,
            filling: None,
        })
        .await
        .unwrap();
    let si = t.symbol_info("EURUSD").await.unwrap();
    // A sell's SL below the ask: 10016.
    assert_eq!(
        retcode_of(
            t.modify_position(fill.ticket.unwrap(), Some(si.ask - 0.001), None)
                .await
        ),
        retcode::INVALID_STOPS
    );
    t.modify_position(
        fill.ticket.unwrap(),
        Some(si.ask + 0.002),
        Some(si.bid - 0.003),
    )
    .await
    .unwrap();
    let p = t.positions().await.unwrap().remove(0);
    assert!((p.sl.unwrap() - (si.ask + 0.002)).abs() < 1e-6);
    assert!((p.tp.unwrap() - (si.bid - 0.003)).abs() < 1e-6);
    assert_eq!(
        retcode_of(t.close_partial(fill.ticket.unwrap(), 0.005, "part").await),
        retcode::INVALID_VOLUME
    );
    t.close_partial(fill.ticket.unwrap(), 0.1, "part")
        .await
        .unwrap();
    let p = t.positions().await.unwrap().remove(0);
    assert!((p.volume - 0.2).abs() < 1e-9);
    let deals = t.closed_deals(0).await.unwrap();
    assert_eq!(deals.len(), 1);
    assert!((deals[0].volume - 0.1).abs() < 1e-9);
}
