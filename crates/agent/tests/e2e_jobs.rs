//! Each of the ten job types, from a user request to its stored result, through
//! the real server, agent and paper terminal.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use chrono::Utc;
use common::Stack;
use serde_json::json;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread")]
async fn every_job_type_reaches_its_stored_result() {
    let mut s = Stack::new("every_job_type").await;
    s.configure_fake_toolchain();
    s.start_agent(&[]);
    s.start_paper(&[]);
    s.wait_terminal_ready().await;

    // get_account / get_positions / get_candles: queued through the user API.
    let id = s.create_job_api("get_account", json!({})).await;
    let (st, out, err) = s.wait_job(id).await;
    assert_eq!(st, "completed", "{err:?}");
    let out = out.unwrap();
    assert_eq!(out["balance"], json!(10000.0));
    assert_eq!(out["currency"], "USD");

    let id = s
        .create_job_api(
            "get_candles",
            json!({"symbol": "EURUSD", "timeframe": "H1", "count": 5}),
        )
        .await;
    let (st, out, err) = s.wait_job(id).await;
    assert_eq!(st, "completed", "{err:?}");
    let candles = out.unwrap()["candles"].as_array().unwrap().clone();
    assert_eq!(candles.len(), 5);
    assert!(candles[1]["time"].as_i64().unwrap() - candles[0]["time"].as_i64().unwrap() == 3600);

    // trade: queued as the webhook does (a trade job with a deadline).
    let trade = s
        .insert_job(
            "trade",
            json!({"symbol": "EURUSD", "side": "buy", "volume": 0.1, "sl_pips": 30}),
            Some(Utc::now() + chrono::Duration::seconds(60)),
        )
        .await;
    let (st, out, err) = s.wait_job(trade).await;
    assert_eq!(st, "completed", "{err:?}");
    let out = out.unwrap();
    assert!(out["fill_price"].as_f64().unwrap() > 0.5);
    assert_eq!(out["volume"], json!(0.1));
    let ticket = out["ticket"].as_u64().unwrap();
    let comment = companion_agent::job_comment(trade);
    assert_eq!(s.orders_with_comment(&comment).len(), 1);

    let id = s.create_job_api("get_positions", json!({})).await;
    let (st, out, err) = s.wait_job(id).await;
    assert_eq!(st, "completed", "{err:?}");
    let positions = out.unwrap()["positions"].as_array().unwrap().clone();
    let p = positions
        .iter()
        .find(|p| p["ticket"].as_u64() == Some(ticket))
        .expect("the trade's position");
    assert_eq!(p["comment"], json!(comment));
    assert_eq!(p["side"], "buy");
    assert!(p["sl"].as_f64().unwrap() < out_fill(&positions, ticket));

    let id = s
        .create_job_api("close_position", json!({"ticket": ticket}))
        .await;
    let (st, out, err) = s.wait_job(id).await;
    assert_eq!(st, "completed", "{err:?}");
    assert!(out.unwrap()["closed_price"].as_f64().unwrap() > 0.5);

    // deploy / run / stop: chart commands through the bridge.
    let dep = Uuid::new_v4();
    let version = Uuid::new_v4();
    let id = s
        .insert_job("deploy", json!({"deployment_id": dep, "version_id": version, "symbol": "EURUSD", "timeframe": "M15", "magic_number": 4242}), None)
        .await;
    let (st, out, err) = s.wait_job(id).await;
    assert_eq!(st, "completed", "{err:?}");
    let out = out.unwrap();
    assert_eq!(out["deployed"], json!(true));
    assert!(out["chart_id"].as_i64().unwrap() > 0);
    let id = s
        .insert_job("run", json!({"deployment_id": dep}), None)
        .await;
    let (st, out, err) = s.wait_job(id).await;
    assert_eq!(
        (st.as_str(), out),
        ("completed", Some(json!({"running": true}))),
        "{err:?}"
    );
    let id = s
        .insert_job("stop", json!({"deployment_id": dep}), None)
        .await;
    let (st, out, err) = s.wait_job(id).await;
    assert_eq!(
        (st.as_str(), out),
        ("completed", Some(json!({"stopped": true}))),
        "{err:?}"
    );

    // compile / test: through the toolchain (the terminal crate's fake MetaEditor / terminal64).
    let id = s
        .insert_job(
            "compile",
            json!({"version_id": version, "source": "void OnTick() {}\n"}),
            None,
        )
        .await;
    let (st, out, err) = s.wait_job(id).await;
    assert_eq!(st, "completed", "{err:?}");
    let out = out.unwrap();
    assert_eq!(out["compiled"], json!(true));
    assert_eq!(out["ex5_checksum"].as_str().map(str::len), Some(64));

    let id = s
        .insert_job(
            "test",
            json!({"version_id": version, "symbol": "EURUSD", "timeframe": "H1", "from": "2024-01-01", "to": "2024-03-01", "model": 0, "deposit": 10000.0, "leverage": 100}),
            None,
        )
        .await;
    let (st, out, err) = s.wait_job(id).await;
    assert_eq!(st, "completed", "{err:?}");
    let report = &out.unwrap()["report"];
    assert!(report["total_trades"].as_u64().is_some());
    assert!(report["profit_factor"].as_f64().is_some());
}

fn out_fill(positions: &[serde_json::Value], ticket: u64) -> f64 {
    positions
        .iter()
        .find(|p| p["ticket"].as_u64() == Some(ticket))
        .unwrap()["open_price"]
        .as_f64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn compile_without_a_toolchain_fails_saying_how_to_configure_it() {
    let mut s = Stack::new("compile_unconfigured").await;
    s.start_agent(&[("COMPANION_METAEDITOR", ""), ("COMPANION_TERMINAL64", "")]);
    let id = s
        .insert_job(
            "compile",
            json!({"version_id": Uuid::new_v4(), "source": "x"}),
            None,
        )
        .await;
    let (st, _, err) = s.wait_job(id).await;
    assert_eq!(st, "failed");
    let err = err.unwrap();
    assert!(
        err.contains("metaeditor_path") && err.contains("COMPANION_METAEDITOR"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_trade_is_never_sent() {
    let mut s = Stack::new("expired_trade").await;
    s.start_agent(&[]);
    s.start_paper(&[]);
    s.wait_terminal_ready().await;
    // Expires while it is queued: the server may skip it or the agent refuses it; no order either way.
    let id = s
        .insert_job(
            "trade",
            json!({"symbol": "EURUSD", "side": "sell", "volume": 0.2}),
            Some(Utc::now() - chrono::Duration::seconds(1)),
        )
        .await;
    // A later job proves the agent has polled past it.
    s.wait_terminal_ready().await;
    let (st, _, _) = s.job_row(id).await;
    assert_ne!(st, "completed");
    assert!(s
        .orders_with_comment(&companion_agent::job_comment(id))
        .is_empty());
}
