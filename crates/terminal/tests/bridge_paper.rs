//! BridgeServer + BridgeTerminal against the real `companion-paper-terminal`
//! process over loopback TCP: every command, the handshake, reconnects and the
//! fault switches.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

use std::path::Path;
use std::time::Duration;

use companion_protocol::{Side, Timeframe};
use companion_terminal::bridge::wire::{retcode, HelloRefusal, Message};
use companion_terminal::bridge::{job_comment, BridgeConfig};
use companion_terminal::paper::OrderLogLine;
use companion_terminal::{
    BridgeServer, BridgeTerminal, ChartDeployment, OrderRequest, Terminal, TerminalError,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const TOKEN: &str = "test-token-7f3a";
/// Generous bound for a local process to connect; not a speed assertion.
const CONNECT: Duration = Duration::from_secs(60);

fn paper(addr: std::net::SocketAddr, token: &str, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_companion-paper-terminal"))
        .arg("--agent")
        .arg(addr.to_string())
        .arg("--token")
        .arg(token)
        .arg("--tick-ms")
        .arg("0")
        .args(extra)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("spawn companion-paper-terminal")
}

async fn server() -> (BridgeServer, BridgeTerminal) {
    let s = BridgeServer::bind("127.0.0.1:0", TOKEN).await.unwrap();
    let t = s.terminal();
    (s, t)
}

fn order(comment: &str, side: Side, volume: f64) -> OrderRequest {
    OrderRequest {
        deviation: None,
        symbol: "EURUSD".into(),
        side,
        volume,
        sl: None,
        tp: None,
        comment: comment.into(),
        magic: 42,
        filling: None,
    }
}

fn read_orders_log(p: &Path) -> Vec<OrderLogLine> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn every_command_works_against_the_paper_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("orders.jsonl");
    let (srv, t) = server().await;
    let mut info_rx = t.subscribe();
    assert!(!info_rx.borrow().connected);
    let _child = paper(
        srv.local_addr(),
        TOKEN,
        &["--orders-log", log.to_str().unwrap()],
    );
    assert!(t.wait_connected(CONNECT).await);
    assert!(t.is_connected());
    info_rx.changed().await.unwrap();
    assert!(info_rx.borrow().paper, "hello says paper: true");

    let info = t.info().await.unwrap();
    assert!(info.paper && info.connected);
    assert_eq!(info.login, t.current_info().login, "hello and info agree");
    assert_eq!(info.login.as_deref(), Some("90000001"));
    assert!(t.ping().await.unwrap() > 1_600_000_000);

    let acct = t.account().await.unwrap();
    assert_eq!(acct.balance, 10_000.0);
    assert_eq!(acct.equity, 10_000.0);
    assert_eq!(acct.margin_used, 0.0);
    assert_eq!(acct.currency, "USD");
    assert_eq!(acct.leverage, 100);

    let sym = t.symbol_info("EURUSD").await.unwrap();
    assert_eq!(sym.digits, 5);
    assert!(sym.ask > sym.bid);
    let quotes = t.quotes(&["EURUSD".into(), "NOPE".into()]).await.unwrap();
    assert_eq!(quotes.len(), 1);
    assert_eq!(quotes[0].bid, sym.bid);

    let candles = t.candles("EURUSD", Timeframe::H1, 120).await.unwrap();
    assert_eq!(candles.len(), 120);
    assert!(candles.windows(2).all(|w| w[1].time - w[0].time == 3600));
    assert_eq!(candles.last().unwrap().close, sym.bid);

    // A buy fills at the ask and carries the job's comment.
    let job = uuid::Uuid::new_v4();
    let comment = job_comment(job);
    let fill = t
        .send_order(&order(&comment, Side::Buy, 0.1))
        .await
        .unwrap();
    assert_eq!(fill.price, Some(sym.ask));
    assert_eq!(fill.volume, 0.1);
    let ticket = fill.ticket.unwrap();
    let positions = t.positions().await.unwrap();
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].ticket, ticket);
    assert_eq!(positions[0].identifier, Some(ticket));
    assert_eq!(positions[0].comment, comment);
    assert_eq!(positions[0].side, Side::Buy);
    assert_eq!(positions[0].magic, 42);
    let acct = t.account().await.unwrap();
    assert!(acct.margin_used > 0.0);

    let found = t.find_by_comment(&comment).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].ticket, ticket);
    assert_eq!(found[0].order_id, fill.order_id);
    assert_eq!(Some(found[0].price), fill.price);
    assert!(t.find_by_comment("cj-nothing").await.unwrap().is_empty());

    // Close: the buy closes at the bid, losing the spread.
    let close_comment = job_comment(uuid::Uuid::new_v4());
    let closed = t.close_position(ticket, &close_comment).await.unwrap();
    assert_eq!(closed.ticket, ticket);
    assert_eq!(closed.price, Some(sym.bid));
    let pnl = closed.pnl.unwrap();
    assert!(pnl < 0.0);
    assert!(t.positions().await.unwrap().is_empty());
    let acct = t.account().await.unwrap();
    assert!((acct.balance - (10_000.0 + pnl)).abs() < 1e-6);
    let h = t.history_by_comment(&close_comment).await.unwrap();
    assert_eq!(h.deals.len(), 1);
    assert_eq!(h.deals[0].entry, "out");
    match t.close_position(ticket, "again").await {
        Err(TerminalError::Rejected { retcode, .. }) => {
            assert_eq!(retcode, retcode::POSITION_CLOSED)
        }
        other => panic!("closing twice must be refused: {other:?}"),
    }

    // Charts.
    let chart = t
        .deploy(&ChartDeployment {
            expert: "TrendRider".into(),
            symbol: "GBPUSD".into(),
            timeframe: Timeframe::M15,
            magic: 9,
            inputs: Default::default(),
        })
        .await
        .unwrap();
    assert!(chart > 0);
    let st = t.chart_status(chart).await.unwrap();
    assert_eq!((st.expert.as_str(), st.running), ("TrendRider", true));
    t.stop(chart).await.unwrap();
    assert!(!t.chart_status(chart).await.unwrap().running);
    t.run(chart).await.unwrap();
    assert!(t.chart_status(chart).await.unwrap().running);
    match t.stop(chart + 1000).await {
        Err(TerminalError::Rejected { retcode, .. }) => {
            assert_eq!(retcode, retcode::CHART_WRONG_ID)
        }
        other => panic!("{other:?}"),
    }

    // Errors carry MT5 codes.
    match t.symbol_info("NOPE").await {
        Err(TerminalError::Rejected { retcode, .. }) => {
            assert_eq!(retcode, retcode::UNKNOWN_SYMBOL)
        }
        other => panic!("{other:?}"),
    }
    match t.send_order(&order("x", Side::Sell, 0.015)).await {
        Err(TerminalError::Rejected { retcode, .. }) => {
            assert_eq!(retcode, retcode::INVALID_VOLUME)
        }
        other => panic!("{other:?}"),
    }
    // Too long a comment never reaches the terminal.
    let long = "x".repeat(40);
    assert!(matches!(
        t.send_order(&order(&long, Side::Buy, 0.01)).await,
        Err(TerminalError::Other(_))
    ));

    let lines = read_orders_log(&log);
    assert_eq!(lines.len(), 2, "the order and the bad-volume order");
    assert_eq!(lines[0].comment, comment);
    assert_eq!(lines[0].ticket, Some(ticket));
    assert_eq!(lines[0].retcode, retcode::DONE);
    assert_eq!(lines[1].retcode, retcode::INVALID_VOLUME);
}

#[tokio::test]
async fn stop_loss_and_take_profit_close_positions() {
    let (srv, t) = server().await;
    let _child = paper(srv.local_addr(), TOKEN, &[]);
    assert!(t.wait_connected(CONNECT).await);
    let sym = t.symbol_info("EURUSD").await.unwrap();
    let mut o = order("sl-test", Side::Buy, 0.1);
    o.sl = Some(sym.bid - 0.0010);
    o.tp = Some(sym.bid + 0.0020);
    let fill = t.send_order(&o).await.unwrap();
    let mut o2 = order("tp-test", Side::Sell, 0.1);
    o2.tp = Some(sym.ask - 0.0010);
    t.send_order(&o2).await.unwrap();
    assert_eq!(t.positions().await.unwrap().len(), 2);
    t.call(
        "paper_set_price",
        serde_json::json!({"symbol": "EURUSD", "bid": sym.bid - 0.0015}),
    )
    .await
    .unwrap();
    let left = t.positions().await.unwrap();
    assert!(
        left.is_empty(),
        "the buy hit its SL and the sell its TP: {left:?}"
    );
    let h = t
        .history_by_comment(&format!("[sl {:.5}]", o.sl.unwrap()))
        .await
        .unwrap();
    assert_eq!(
        h.deals.len(),
        1,
        "{:?}",
        t.history_by_comment("sl-test").await.unwrap()
    );
    assert_eq!(Some(h.deals[0].position), fill.ticket);
    assert!(h.deals[0].profit < 0.0);
}

#[tokio::test]
async fn a_bad_token_is_refused_and_the_paper_terminal_exits() {
    let (srv, t) = server().await;
    let mut child = paper(srv.local_addr(), "wrong-token", &[]);
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(2));
    assert!(!t.is_connected());
    let refusal = t
        .last_refusal()
        .expect("the refusal is remembered for the Doctor");
    assert_eq!(refusal.code, HelloRefusal::BadToken);
    assert!(
        !refusal.message.contains("wrong-token"),
        "never the token itself"
    );
    assert!(matches!(
        t.account().await,
        Err(TerminalError::NotConnected(_))
    ));
}

#[tokio::test]
async fn reconnects_after_the_paper_terminal_is_killed_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("paper-state.json");
    let (srv, t) = server().await;
    let args = ["--state-file", state.to_str().unwrap()];
    let mut child = paper(srv.local_addr(), TOKEN, &args);
    assert!(t.wait_connected(CONNECT).await);
    let fill = t
        .send_order(&order("persist-me", Side::Sell, 0.2))
        .await
        .unwrap();

    child.kill().await.unwrap();
    assert!(t.wait_disconnected(CONNECT).await);
    assert!(matches!(
        t.positions().await,
        Err(TerminalError::NotConnected(_))
    ));

    let _child = paper(srv.local_addr(), TOKEN, &args);
    assert!(t.wait_connected(CONNECT).await);
    let positions = t.positions().await.unwrap();
    assert_eq!(positions.len(), 1);
    assert_eq!(Some(positions[0].ticket), fill.ticket);
    assert_eq!(t.find_by_comment("persist-me").await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_paper_terminal_comes_back_when_the_agent_restarts() {
    // Bind, note the port, drop the server, rebind the same port: the paper
    // terminal keeps retrying and keeps its state.
    let (srv, t) = server().await;
    let addr = srv.local_addr();
    let _child = paper(addr, TOKEN, &[]);
    assert!(t.wait_connected(CONNECT).await);
    t.send_order(&order("kept", Side::Buy, 0.01)).await.unwrap();
    srv.shutdown().await;
    assert!(!t.is_connected());
    let srv2 = BridgeServer::bind(&addr.to_string(), TOKEN).await.unwrap();
    let t2 = srv2.terminal();
    assert!(t2.wait_connected(CONNECT).await);
    assert_eq!(t2.find_by_comment("kept").await.unwrap().len(), 1);
}

#[tokio::test]
async fn reject_switch_rejects_with_the_given_retcode() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("orders.jsonl");
    let (srv, t) = server().await;
    let _child = paper(
        srv.local_addr(),
        TOKEN,
        &[
            "--reject-retcode",
            "10018",
            "--orders-log",
            log.to_str().unwrap(),
        ],
    );
    assert!(t.wait_connected(CONNECT).await);
    for _ in 0..2 {
        match t.send_order(&order("closed-mkt", Side::Buy, 0.01)).await {
            Err(TerminalError::Rejected { retcode, message }) => {
                assert_eq!(retcode, retcode::MARKET_CLOSED);
                assert!(message.contains("closed"));
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(t.positions().await.unwrap().is_empty());
    let lines = read_orders_log(&log);
    assert_eq!(lines.len(), 2);
    assert!(lines
        .iter()
        .all(|l| l.retcode == 10018 && l.ticket.is_none()));
}

#[tokio::test]
async fn reject_every_nth_order() {
    let (srv, t) = server().await;
    let _child = paper(srv.local_addr(), TOKEN, &["--reject-every", "3"]);
    assert!(t.wait_connected(CONNECT).await);
    let mut codes = Vec::new();
    for i in 0..6 {
        let r = t
            .send_order(&order(&format!("n{i}"), Side::Buy, 0.01))
            .await;
        codes.push(match r {
            Ok(_) => 0,
            Err(TerminalError::Rejected { retcode, .. }) => retcode,
            Err(e) => panic!("{e}"),
        });
    }
    assert_eq!(codes, vec![0, 0, 10006, 0, 0, 10006]);
}

#[tokio::test]
async fn a_dropped_reply_is_an_unknown_outcome_found_by_comment_after_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("orders.jsonl");
    let (srv, t) = server().await;
    let _child = paper(
        srv.local_addr(),
        TOKEN,
        &[
            "--drop-after",
            "2",
            "--drop-before-reply",
            "--orders-log",
            log.to_str().unwrap(),
        ],
    );
    assert!(t.wait_connected(CONNECT).await);
    t.ping().await.unwrap();
    let comment = job_comment(uuid::Uuid::new_v4());
    let err = t
        .send_order(&order(&comment, Side::Buy, 0.05))
        .await
        .unwrap_err();
    assert!(err.outcome_unknown(), "{err:?}");
    // The paper terminal reconnects; the order is found instead of re-sent.
    assert!(t.wait_connected(CONNECT).await);
    let found = loop {
        match t.find_by_comment(&comment).await {
            Ok(f) => break f,
            Err(TerminalError::NotConnected(_)) => {
                assert!(t.wait_connected(CONNECT).await);
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(found.len(), 1);
    assert_eq!(read_orders_log(&log).len(), 1);
}

#[tokio::test]
async fn drop_after_reply_then_reconnect() {
    let (srv, t) = server().await;
    let _child = paper(srv.local_addr(), TOKEN, &["--drop-after", "1"]);
    assert!(t.wait_connected(CONNECT).await);
    let mut rx = t.subscribe();
    t.ping().await.unwrap();
    // Disconnect then reconnect is observed on the watch channel.
    rx.wait_for(|i| !i.connected).await.unwrap();
    rx.wait_for(|i| i.connected).await.unwrap();
    t.account().await.unwrap();
}

#[tokio::test]
async fn a_slow_terminal_times_out() {
    let cfg = BridgeConfig {
        request_timeout: Duration::from_millis(200),
        ..Default::default()
    };
    let srv = BridgeServer::bind_with("127.0.0.1:0", TOKEN, cfg)
        .await
        .unwrap();
    let t = srv.terminal();
    let _child = paper(srv.local_addr(), TOKEN, &["--delay-ms", "3000"]);
    assert!(t.wait_connected(CONNECT).await);
    let err = t.account().await.unwrap_err();
    assert!(matches!(err, TerminalError::Timeout(200)), "{err:?}");
    // A longer timeout gets the answer.
    let v = t
        .call_with_timeout("ping", serde_json::json!({}), Duration::from_secs(60))
        .await;
    assert!(v.is_ok());
}

async fn raw_hello(
    addr: std::net::SocketAddr,
    token: &str,
) -> (
    BufReader<tokio::net::tcp::OwnedReadHalf>,
    tokio::net::tcp::OwnedWriteHalf,
    String,
) {
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = s.into_split();
    let hello = format!(
        "{{\"type\":\"hello\",\"token\":\"{token}\",\"protocol_version\":1,\"terminal\":{{\"login\":\"1\",\"server\":\"S\",\"company\":\"C\",\"build\":4755,\"paper\":false}}}}\n"
    );
    w.write_all(hello.as_bytes()).await.unwrap();
    let mut r = BufReader::new(r);
    let mut line = String::new();
    r.read_line(&mut line).await.unwrap();
    (r, w, line)
}

#[tokio::test]
async fn a_new_connection_replaces_the_old_one() {
    let (srv, t) = server().await;
    let (mut r1, _w1, line) = raw_hello(srv.local_addr(), TOKEN).await;
    assert!(matches!(
        Message::parse(line.trim()).unwrap(),
        Message::HelloOk {
            protocol_version: 1,
            ..
        }
    ));
    assert!(t.wait_connected(CONNECT).await);
    assert_eq!(t.current_info().login.as_deref(), Some("1"));
    assert!(!t.current_info().paper);
    // The paper terminal connects: the raw connection is closed by the agent.
    let _child = paper(srv.local_addr(), TOKEN, &[]);
    let mut rx = t.subscribe();
    rx.wait_for(|i| i.paper).await.unwrap();
    let mut rest = String::new();
    loop {
        rest.clear();
        let n = r1.read_line(&mut rest).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        // Heartbeats may arrive before the close.
        assert!(matches!(
            Message::parse(rest.trim()),
            Ok(Message::Heartbeat { .. })
        ));
    }
    assert!(t.info().await.unwrap().paper);
}

#[tokio::test]
async fn bad_hellos_are_refused() {
    let (srv, t) = server().await;
    let (_r, _w, line) = raw_hello(srv.local_addr(), "nope").await;
    assert!(matches!(
        Message::parse(line.trim()).unwrap(),
        Message::HelloError { .. }
    ));
    assert!(line.contains("bad_token"));

    let s = tokio::net::TcpStream::connect(srv.local_addr())
        .await
        .unwrap();
    let (r, mut w) = s.into_split();
    w.write_all(b"\x00\x01garbage{{{\n").await.unwrap();
    let mut r = BufReader::new(r);
    let mut line = String::new();
    r.read_line(&mut line).await.unwrap();
    assert!(line.contains("bad_hello"), "{line}");

    let s = tokio::net::TcpStream::connect(srv.local_addr())
        .await
        .unwrap();
    let (r, mut w) = s.into_split();
    let hello = format!(
        "{{\"type\":\"hello\",\"token\":\"{TOKEN}\",\"protocol_version\":99,\"terminal\":{{}}}}\n"
    );
    w.write_all(hello.as_bytes()).await.unwrap();
    let mut r = BufReader::new(r);
    let mut line = String::new();
    r.read_line(&mut line).await.unwrap();
    assert!(line.contains("unsupported_version"), "{line}");
    assert!(!t.is_connected());
}

#[tokio::test]
async fn garbage_after_the_hello_does_not_break_the_connection() {
    let (srv, t) = server().await;
    let (mut r, mut w, _) = raw_hello(srv.local_addr(), TOKEN).await;
    assert!(t.wait_connected(CONNECT).await);
    let t2 = t.clone();
    let call = tokio::spawn(async move { t2.call("ping", serde_json::json!({})).await });
    // Read the request, answer with garbage first, then the reply.
    let mut line = String::new();
    let id = loop {
        line.clear();
        r.read_line(&mut line).await.unwrap();
        if let Ok(Message::Request(req)) = Message::parse(line.trim()) {
            break req.id;
        }
    };
    w.write_all(b"not json at all\n{\"id\":\"x\"}\n\xff\xfe\n")
        .await
        .unwrap();
    w.write_all(format!("{{\"id\":{id},\"ok\":true,\"result\":{{\"time\":5}}}}\n").as_bytes())
        .await
        .unwrap();
    let v = call.await.unwrap().unwrap();
    assert_eq!(v["time"], 5);
}

#[tokio::test]
async fn heartbeats_flow_and_a_silent_terminal_is_dropped() {
    let cfg = BridgeConfig {
        heartbeat_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let srv = BridgeServer::bind_with("127.0.0.1:0", TOKEN, cfg)
        .await
        .unwrap();
    let t = srv.terminal();
    let (mut r, _w, line) = raw_hello(srv.local_addr(), TOKEN).await;
    assert!(line.contains("\"heartbeat_ms\":100"), "{line}");
    assert!(t.wait_connected(CONNECT).await);
    // The agent heartbeats on its own.
    let mut hb = String::new();
    r.read_line(&mut hb).await.unwrap();
    assert!(
        matches!(Message::parse(hb.trim()), Ok(Message::Heartbeat { .. })),
        "{hb}"
    );
    // This client never writes again: the agent drops it.
    assert!(t.wait_disconnected(CONNECT).await);
    assert!(matches!(
        t.ping().await,
        Err(TerminalError::NotConnected(_))
    ));
}

#[tokio::test]
async fn late_deals_are_reported_unknown_and_found_by_comment() {
    let (srv, t) = server().await;
    let _child = paper(srv.local_addr(), TOKEN, &["--late-deals"]);
    assert!(t.wait_connected(CONNECT).await);
    let sym = t.symbol_info("EURUSD").await.unwrap();
    let comment = job_comment(uuid::Uuid::new_v4());
    let fill = t
        .send_order(&order(&comment, Side::Buy, 0.1))
        .await
        .unwrap();
    // Unknown, not zero: no price, no position from the reply itself.
    assert_eq!((fill.price, fill.ticket), (None, None));
    assert!(!fill.is_complete());
    assert_eq!(fill.volume, 0.1);
    // The deal is in the history right after: that is where the price comes from.
    let found = t.find_by_comment(&comment).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].price, sym.ask);
    assert_eq!(found[0].order_id, fill.order_id);
    let ticket = found[0].ticket;
    let close_comment = job_comment(uuid::Uuid::new_v4());
    let closed = t.close_position(ticket, &close_comment).await.unwrap();
    assert_eq!((closed.price, closed.pnl), (None, None));
    let out = t.find_by_comment(&close_comment).await.unwrap();
    assert_eq!(out.len(), 1);
    assert!(out[0].profit.unwrap() < 0.0, "the spread: {:?}", out[0]);
}
