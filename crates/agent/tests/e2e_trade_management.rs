//! Trade management end to end (real server, agent and paper terminal): a
//! `modify_position` of the strategy's buys sets their SL and leaves a foreign
//! position's alone; a 50 % `close_position` halves the strategy's position (rounded
//! down to the volume step); a pending `trade` is placed, not filled; `cancel_orders`
//! deletes the strategy's pending orders only. User jobs go through the jobs API
//! (validation included); trades are queued as the platform queues them.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::Stack;
use serde_json::{json, Value};

const MAGIC: i64 = 5101;
const FOREIGN: i64 = 777;

async fn positions(s: &Stack) -> Vec<Value> {
    let id = s.insert_job("get_positions", json!({}), None).await;
    let (status, out, err) = s.wait_job(id).await;
    assert_eq!(status, "completed", "{err:?}");
    out.unwrap()["positions"].as_array().unwrap().clone()
}

async fn run(s: &Stack, job_type: &str, input: Value, api: bool) -> Value {
    let id = if api {
        s.create_job_api(job_type, input.clone()).await
    } else {
        s.insert_job(job_type, input.clone(), None).await
    };
    let (status, out, err) = s.wait_job(id).await;
    assert_eq!(status, "completed", "{job_type} {input}: {err:?}");
    out.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn modify_partial_close_pending_and_cancel_touch_only_the_strategy() {
    let mut s = Stack::new("trade_management").await;
    s.start_agent(&[]);
    s.start_paper(&["--foreign-position", "EURUSD:buy:0.4:777"]);
    s.wait_terminal_ready().await;

    let out = run(
        &s,
        "trade",
        json!({"symbol": "EURUSD", "side": "buy", "volume": 0.3, "magic": MAGIC}),
        false,
    )
    .await;
    let ticket = out["ticket"].as_u64().unwrap();

    // SL 20 pips below the open price of the strategy's buys only.
    let out = run(
        &s,
        "modify_position",
        json!({"symbol": "EURUSD", "side": "buy", "magics": [MAGIC],
               "sl": {"value": 20.0, "unit": "pips"}}),
        true,
    )
    .await;
    let modified = out["modified"].as_array().unwrap();
    assert_eq!(modified.len(), 1, "{out}");
    assert_eq!(modified[0]["ticket"].as_u64(), Some(ticket));
    for p in positions(&s).await {
        let magic = p["magic"].as_i64().unwrap();
        if magic == MAGIC {
            let open = p["open_price"].as_f64().unwrap();
            let sl = p["sl"].as_f64().unwrap();
            assert!((open - 0.0020 - sl).abs() < 1e-6, "{p}");
        } else {
            assert_eq!(magic, FOREIGN);
            assert!(p["sl"].is_null(), "the foreign position keeps no SL: {p}");
        }
    }

    // 50 % of 0.3 = 0.15: the strategy keeps 0.15, the foreign 0.4 untouched.
    let out = run(
        &s,
        "close_position",
        json!({"symbol": "EURUSD", "magics": [MAGIC], "percent": 50.0}),
        true,
    )
    .await;
    assert_eq!(out["closed"][0]["volume"], json!(0.15), "{out}");
    let mut vols: Vec<(i64, f64)> = positions(&s)
        .await
        .iter()
        .map(|p| {
            (
                p["magic"].as_i64().unwrap(),
                (p["volume"].as_f64().unwrap() * 100.0).round() / 100.0,
            )
        })
        .collect();
    vols.sort_by_key(|v| v.0);
    assert_eq!(vols, vec![(FOREIGN, 0.4), (MAGIC, 0.15)]);

    // Pending orders: the strategy's two, another strategy's one; none fills.
    for (magic, side) in [(MAGIC, "buy"), (MAGIC, "sell"), (FOREIGN, "buy")] {
        let out = run(
            &s,
            "trade",
            json!({"symbol": "EURUSD", "side": side, "volume": 0.1, "magic": magic,
                   "order_type": "limit", "entry_offset": {"value": 200.0, "unit": "pips"}}),
            false,
        )
        .await;
        assert_eq!(out["pending"], json!(true), "{out}");
        assert_eq!(out["ticket"], json!(0));
    }
    assert_eq!(positions(&s).await.len(), 2);
    let out = run(
        &s,
        "cancel_orders",
        json!({"symbol": "EURUSD", "magics": [MAGIC]}),
        true,
    )
    .await;
    let cancelled = out["cancelled"].as_array().unwrap();
    assert_eq!(cancelled.len(), 2, "{out}");
    assert!(cancelled.iter().all(|o| o["magic"] == json!(MAGIC)));
    // Only the other strategy's order is left.
    let out = run(&s, "cancel_orders", json!({"symbol": "EURUSD"}), true).await;
    let left = out["cancelled"].as_array().unwrap();
    assert_eq!(left.len(), 1, "{out}");
    assert_eq!(left[0]["magic"], json!(FOREIGN));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_jobs_api_refuses_malformed_management_jobs() {
    let s = Stack::new("trade_management_api").await;
    for (job_type, input) in [
        ("modify_position", json!({"symbol": "EURUSD"})),
        (
            "modify_position",
            json!({"sl": {"value": 1.0, "unit": "price"}}),
        ),
        ("cancel_orders", json!({})),
        (
            "close_position",
            json!({"symbol": "EURUSD", "percent": 150.0}),
        ),
        (
            "close_position",
            json!({"symbol": "EURUSD", "percent": 50.0, "volume": 0.1}),
        ),
    ] {
        let resp = s
            .http
            .post(format!("{}/api/v1/jobs", s.server_url()))
            .bearer_auth(&s.jwt)
            .json(&json!({"job_type": job_type, "agent_id": s.agent_id, "input_data": input}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{job_type} {input}");
    }
}
