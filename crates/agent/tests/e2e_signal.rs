//! A TradingView webhook becomes exactly one order in the paper terminal and the
//! signal resolves `executed` with the fill price and broker order id.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::{eventually, Stack};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread")]
async fn a_tradingview_webhook_becomes_one_order_and_an_executed_signal() {
    let mut s = Stack::new("webhook_signal").await;
    s.start_agent(&[]);
    s.start_paper(&[]);
    s.wait_terminal_ready().await;
    let (_strategy, secret) = s.insert_strategy().await;
    let url = format!("{}/api/v1/webhooks/tv/{secret}", s.server_url());
    let body = json!({"action": "buy", "symbol": "OANDA:EURUSD", "volume": 0.2, "id": Uuid::new_v4().to_string()});

    let resp = s.http.post(&url).json(&body).send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "pending", "{v}");
    let signal: Uuid = v["signal_id"].as_str().unwrap().parse().unwrap();
    // TradingView may deliver the same alert twice: still one signal, one job.
    let again = s.http.post(&url).json(&body).send().await.unwrap();
    assert!(again.status().is_success());

    let (status, fill, broker_order, job): (String, Option<f64>, Option<String>, Option<Uuid>) = eventually(
        Duration::from_secs(60),
        "signal resolved",
        || async {
            let row: (String, Option<f64>, Option<String>, Option<Uuid>) = sqlx::query_as(
                "SELECT status, fill_price::float8, broker_order_id, job_id FROM tv_signals WHERE id = $1",
            )
            .bind(signal)
            .fetch_one(&s.db.pool)
            .await
            .unwrap();
            (row.0 != "pending").then_some(row)
        },
    )
    .await;
    assert_eq!(status, "executed");
    let job = job.expect("the signal's job");
    let (_, out, _) = s.job_row(job).await;
    let out = out.unwrap();
    assert_eq!(fill, out["fill_price"].as_f64());
    assert_eq!(
        broker_order.as_deref(),
        Some(out["order_id"].to_string().as_str())
    );
    let orders = s.orders_with_comment(&companion_agent::job_comment(job));
    assert_eq!(orders.len(), 1, "exactly one order");
    assert_eq!(orders[0]["symbol"], "EURUSD");
    assert_eq!(orders[0]["volume"], json!(0.2));
    assert_eq!(
        common::read_orders(&s.orders_log).len(),
        1,
        "the duplicate alert made no order"
    );
}
