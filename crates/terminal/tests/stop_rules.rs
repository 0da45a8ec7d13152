//! Breakeven and trailing stops at a real `companion-paper-terminal` process over
//! the real bridge: breakeven moves the SL to entry + offset once the price has
//! moved the trigger; trailing follows in steps and never loosens; a rule on a
//! pending order carries over to its position; the rules and their progress
//! survive a kill and restart of the paper terminal (its `--state-file`); rules of
//! closed positions are dropped; ATR trailing uses the terminal's own candles.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

use std::path::Path;
use std::time::Duration;

use companion_protocol::{
    AtrTrailing, BreakevenRule, OrderType, Side, StopRulePhase, StopRuleState, Timeframe,
    TrailingRule,
};
use companion_terminal::bridge::wire::StopRuleSetArgs;
use companion_terminal::{
    BridgeServer, BridgeTerminal, OrderRequest, PendingRequest, Terminal, TerminalError,
};
use serde_json::json;
use tokio::process::{Child, Command};

const TOKEN: &str = "test-token-stop-rules";
/// Generous bound for a local process to connect; not a speed assertion.
const CONNECT: Duration = Duration::from_secs(60);
const PIP: f64 = 0.0001;

fn spawn(addr: &str, state: Option<&Path>) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_companion-paper-terminal"));
    cmd.arg("--agent")
        .arg(addr)
        .arg("--token")
        .arg(TOKEN)
        .arg("--tick-ms")
        .arg("0")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    if let Some(s) = state {
        cmd.arg("--state-file").arg(s);
    }
    cmd.spawn().expect("spawn companion-paper-terminal")
}

async fn paper(state: Option<&Path>) -> (BridgeServer, BridgeTerminal, Child) {
    let s = BridgeServer::bind("127.0.0.1:0", TOKEN).await.unwrap();
    let t = s.terminal();
    let child = spawn(&s.local_addr().to_string(), state);
    assert!(t.wait_connected(CONNECT).await, "paper terminal connects");
    (s, t, child)
}

async fn set_bid(t: &BridgeTerminal, bid: f64) {
    t.call("paper_set_price", json!({"symbol": "EURUSD", "bid": bid}))
        .await
        .unwrap();
}

async fn buy(t: &BridgeTerminal) -> (u64, f64) {
    let fill = t
        .send_order(&OrderRequest {
            deviation: None,
            symbol: "EURUSD".into(),
            side: Side::Buy,
            volume: 0.1,
            sl: None,
            tp: None,
            comment: "rules".into(),
            magic: 7,
            filling: None,
        })
        .await
        .unwrap();
    (fill.ticket.unwrap(), fill.price.unwrap())
}

async fn sl_of(t: &BridgeTerminal, ticket: u64) -> Option<f64> {
    t.positions()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.ticket == ticket)
        .expect("position open")
        .sl
}

async fn rule_of(t: &BridgeTerminal, ticket: u64) -> Option<StopRuleState> {
    t.stop_rules()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.ticket == ticket)
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn trailing(distance_pips: f64, step_pips: f64, activation_pips: f64) -> TrailingRule {
    TrailingRule {
        activation: activation_pips * PIP,
        distance: distance_pips * PIP,
        step: step_pips * PIP,
        atr: None,
        active: false,
    }
}

#[tokio::test]
async fn breakeven_moves_the_sl_to_entry_plus_offset_once_the_trigger_is_reached() {
    let (_s, t, _child) = paper(None).await;
    let (ticket, open) = buy(&t).await;
    let r = t
        .set_stop_rule(&StopRuleSetArgs {
            ticket,
            breakeven: Some(BreakevenRule {
                trigger: 15.0 * PIP,
                offset: 2.0 * PIP,
                done: false,
            }),
            trailing: None,
            pip: PIP,
        })
        .await
        .unwrap();
    assert_eq!(r.phase, StopRulePhase::Armed);
    // 10 pips in profit (the bid against the open ask): not yet.
    set_bid(&t, open + 10.0 * PIP).await;
    assert_eq!(sl_of(&t, ticket).await, None);
    // 15 pips: the SL goes to entry + 2 pips.
    set_bid(&t, open + 15.0 * PIP).await;
    let sl = sl_of(&t, ticket).await.unwrap();
    assert!(near(sl, open + 2.0 * PIP), "sl {sl} open {open}");
    let state = rule_of(&t, ticket).await.unwrap();
    assert_eq!(state.phase, StopRulePhase::Triggered);
    assert_eq!(state.moves, 1);
    assert!(near(state.last_sl.unwrap(), sl));
    // Further moves do nothing more (breakeven happens once), and a fall back
    // below the trigger keeps the SL.
    set_bid(&t, open + 40.0 * PIP).await;
    set_bid(&t, open + 5.0 * PIP).await;
    assert!(near(sl_of(&t, ticket).await.unwrap(), sl));
    assert_eq!(rule_of(&t, ticket).await.unwrap().moves, 1);
    // The position listing carries the state too.
    let p = t.positions().await.unwrap();
    assert_eq!(
        p[0].stop_rule.map(|r| r.phase),
        Some(StopRulePhase::Triggered)
    );
    // Down through the SL: closed at it, and the rule goes with the position.
    set_bid(&t, open + 1.0 * PIP).await;
    assert!(t.positions().await.unwrap().is_empty());
    assert!(
        rule_of(&t, ticket).await.is_none(),
        "rules of closed positions are dropped"
    );
}

#[tokio::test]
async fn trailing_follows_in_steps_and_never_loosens() {
    let (_s, t, _child) = paper(None).await;
    let (ticket, open) = buy(&t).await;
    t.set_stop_rule(&StopRuleSetArgs {
        ticket,
        breakeven: None,
        trailing: Some(trailing(10.0, 5.0, 20.0)),
        pip: PIP,
    })
    .await
    .unwrap();
    // Below the activation: nothing.
    set_bid(&t, open + 19.0 * PIP).await;
    assert_eq!(sl_of(&t, ticket).await, None);
    assert_eq!(
        rule_of(&t, ticket).await.unwrap().phase,
        StopRulePhase::Armed
    );
    // Activated at +20: SL = price - 10 pips.
    set_bid(&t, open + 20.0 * PIP).await;
    assert!(near(sl_of(&t, ticket).await.unwrap(), open + 10.0 * PIP));
    assert_eq!(
        rule_of(&t, ticket).await.unwrap().phase,
        StopRulePhase::Trailing
    );
    // +24: the SL would improve by 4 pips, less than the 5-pip step: unchanged.
    set_bid(&t, open + 24.0 * PIP).await;
    assert!(near(sl_of(&t, ticket).await.unwrap(), open + 10.0 * PIP));
    // +25: by 5 pips: moves.
    set_bid(&t, open + 25.0 * PIP).await;
    assert!(near(sl_of(&t, ticket).await.unwrap(), open + 15.0 * PIP));
    // Back down (above the SL): never loosens.
    set_bid(&t, open + 17.0 * PIP).await;
    assert!(near(sl_of(&t, ticket).await.unwrap(), open + 15.0 * PIP));
    // Up 12 more: one move of 12 pips.
    set_bid(&t, open + 37.0 * PIP).await;
    assert!(near(sl_of(&t, ticket).await.unwrap(), open + 27.0 * PIP));
    let state = rule_of(&t, ticket).await.unwrap();
    assert_eq!(state.moves, 3);
    assert!(near(state.last_sl.unwrap(), open + 27.0 * PIP));
    // Cancelled: the SL stays where it is and no longer follows.
    assert!(t.cancel_stop_rule(ticket).await.unwrap());
    assert!(!t.cancel_stop_rule(ticket).await.unwrap());
    set_bid(&t, open + 60.0 * PIP).await;
    assert!(near(sl_of(&t, ticket).await.unwrap(), open + 27.0 * PIP));
}

#[tokio::test]
async fn a_rule_on_a_pending_order_carries_over_to_its_position() {
    let (_s, t, _child) = paper(None).await;
    let si = t.symbol_info("EURUSD").await.unwrap();
    let placed = t
        .place_order(&PendingRequest {
            symbol: "EURUSD".into(),
            side: Side::Sell,
            order_type: OrderType::Stop,
            volume: 0.1,
            price: si.bid - 10.0 * PIP,
            sl: None,
            tp: None,
            expiry: None,
            comment: "pending".into(),
            magic: 7,
            filling: None,
        })
        .await
        .unwrap();
    t.set_stop_rule(&StopRuleSetArgs {
        ticket: placed.order_id,
        breakeven: Some(BreakevenRule {
            trigger: 10.0 * PIP,
            offset: 0.0,
            done: false,
        }),
        trailing: None,
        pip: PIP,
    })
    .await
    .unwrap();
    // Unknown tickets are refused.
    match t
        .set_stop_rule(&StopRuleSetArgs {
            ticket: 1,
            breakeven: None,
            trailing: Some(trailing(10.0, 0.0, 0.0)),
            pip: PIP,
        })
        .await
    {
        Err(TerminalError::Rejected { retcode, .. }) => assert_eq!(retcode, 4753),
        other => panic!("expected 4753, got {other:?}"),
    }
    // The sell stop fills at the bid; the position takes the order's ticket.
    let fill_bid = si.bid - 11.0 * PIP;
    set_bid(&t, fill_bid).await;
    let p = t.positions().await.unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].ticket, placed.order_id);
    let open = p[0].open_price;
    // A sell is in profit when the ask falls: 10 pips → SL at the open price.
    let spread = si.ask - si.bid;
    set_bid(&t, open - 10.0 * PIP - spread).await;
    let sl = sl_of(&t, placed.order_id).await.unwrap();
    assert!(near(sl, open), "sl {sl} open {open}");
}

#[tokio::test]
async fn rules_and_their_progress_survive_a_paper_terminal_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("paper.json");
    let s = BridgeServer::bind("127.0.0.1:0", TOKEN).await.unwrap();
    let t = s.terminal();
    let addr = s.local_addr().to_string();
    let mut child = spawn(&addr, Some(&state));
    assert!(t.wait_connected(CONNECT).await);
    let (ticket, open) = buy(&t).await;
    t.set_stop_rule(&StopRuleSetArgs {
        ticket,
        breakeven: Some(BreakevenRule {
            trigger: 50.0 * PIP,
            offset: 1.0 * PIP,
            done: false,
        }),
        trailing: Some(trailing(40.0, 5.0, 0.0)),
        pip: PIP,
    })
    .await
    .unwrap();
    // Trailing at once (activation 0); 35 pips up, the SL is 5 pips below the open
    // (below the price the restarted terminal starts at, so it survives it).
    set_bid(&t, open + 35.0 * PIP).await;
    assert!(near(sl_of(&t, ticket).await.unwrap(), open - 5.0 * PIP));
    let before = rule_of(&t, ticket).await.unwrap();
    assert_eq!(before.phase, StopRulePhase::Trailing);
    // Two moves: at once when set (activation 0), then at +35.
    assert_eq!(before.moves, 2);
    // SIGKILL, then a new process on the same state file.
    child.kill().await.unwrap();
    let mut rx = t.subscribe();
    while rx.borrow().connected {
        rx.changed().await.unwrap();
    }
    let _child2 = spawn(&addr, Some(&state));
    assert!(
        t.wait_connected(CONNECT).await,
        "restarted paper terminal connects"
    );
    let after = rule_of(&t, ticket).await.unwrap();
    assert_eq!(after, before, "rule state restored as it was");
    assert!(near(sl_of(&t, ticket).await.unwrap(), open - 5.0 * PIP));
    // Setting the same rules again keeps the progress (idempotent).
    let again = t
        .set_stop_rule(&StopRuleSetArgs {
            ticket,
            breakeven: before.breakeven.map(|b| BreakevenRule { done: false, ..b }),
            trailing: before.trailing.map(|r| TrailingRule { active: false, ..r }),
            pip: PIP,
        })
        .await
        .unwrap();
    assert_eq!(again.moves, before.moves);
    // The restarted terminal keeps trailing.
    set_bid(&t, open + 45.0 * PIP).await;
    assert!(near(sl_of(&t, ticket).await.unwrap(), open + 5.0 * PIP));
    // The breakeven trigger: its level (open + 1) is below the trailed SL: done
    // without a move; the trailing moves on.
    set_bid(&t, open + 55.0 * PIP).await;
    assert!(near(sl_of(&t, ticket).await.unwrap(), open + 15.0 * PIP));
    let last = rule_of(&t, ticket).await.unwrap();
    assert_eq!(last.moves, 4);
    assert!(last.breakeven.unwrap().done);
}

#[tokio::test]
async fn atr_trailing_uses_the_terminals_candles() {
    let (_s, t, _child) = paper(None).await;
    let (ticket, open) = buy(&t).await;
    set_bid(&t, open + 500.0 * PIP).await;
    let r = t
        .set_stop_rule(&StopRuleSetArgs {
            ticket,
            breakeven: None,
            trailing: Some(TrailingRule {
                activation: 0.0,
                distance: 0.0,
                step: 0.0,
                atr: Some(AtrTrailing {
                    timeframe: Timeframe::D1,
                    period: 14,
                    multiplier: 1.5,
                    shift: 1,
                }),
                active: false,
            }),
            pip: PIP,
        })
        .await
        .unwrap();
    assert_eq!(r.phase, StopRulePhase::Trailing);
    let candles = t.candles("EURUSD", Timeframe::D1, 16).await.unwrap();
    let trs: Vec<f64> = candles[..15]
        .windows(2)
        .map(|w| {
            (w[1].high - w[1].low)
                .max((w[1].high - w[0].close).abs())
                .max((w[1].low - w[0].close).abs())
        })
        .collect();
    let atr = trs.iter().sum::<f64>() / 14.0;
    let bid = t.symbol_info("EURUSD").await.unwrap().bid;
    let sl = sl_of(&t, ticket).await.unwrap();
    assert!(
        (sl - (bid - 1.5 * atr)).abs() < 2e-5,
        "sl {sl}, bid {bid}, atr {atr}"
    );
}
