//! Exactly-once and resilience, with real processes: the agent killed between
//! the order and the result, the server down while a result is pending, the
//! terminal disconnected and back.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{eventually, Stack};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn agent_killed_after_the_order_and_restarted_still_makes_exactly_one_order() {
    let mut s = Stack::new("crash_after_sent").await;
    let (job, signal) = s.insert_signal_trade("EURUSD", "buy", 0.3).await;
    let comment = companion_agent::job_comment(job);

    // The agent aborts right after journaling the terminal's reply, before posting the result.
    s.start_agent(&[("COMPANION_AGENT_CRASH_AFTER", "sent_to_terminal")]);
    s.start_paper(&[]);
    let status = {
        let agent = s.agent.as_mut().unwrap();
        tokio::task::block_in_place(|| common::wait_exit(&mut agent.child, Duration::from_secs(90)))
    };
    let status = status.expect("the agent aborts at the crash hook");
    assert!(!status.success());
    assert_eq!(
        s.orders_with_comment(&comment).len(),
        1,
        "the order reached the terminal"
    );
    let (st, _, _) = s.job_row(job).await;
    assert_eq!(st, "running", "the result was not posted before the crash");
    s.agent = None;

    // Restart without the hook: the journaled result is posted, nothing is re-sent.
    s.start_agent(&[]);
    let (st, out, err) = s.wait_job(job).await;
    assert_eq!(st, "completed", "{err:?}");
    assert_eq!(out.unwrap()["volume"], json!(0.3));
    assert_eq!(
        s.orders_with_comment(&comment).len(),
        1,
        "exactly one order"
    );
    let (sig_status, fill, broker_order): (String, Option<f64>, Option<String>) = sqlx::query_as(
        "SELECT status, fill_price::float8, broker_order_id FROM tv_signals WHERE id = $1",
    )
    .bind(signal)
    .fetch_one(&s.db.pool)
    .await
    .unwrap();
    assert_eq!(sig_status, "executed");
    assert!(fill.unwrap() > 0.5);
    assert!(broker_order.is_some());
    // A later trade still works after the restart (terminal reconnected to the new agent).
    s.wait_terminal_ready().await;
    assert_eq!(s.orders_with_comment(&comment).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_result_produced_while_the_server_is_down_arrives_when_it_returns() {
    let mut s = Stack::new("server_down").await;
    s.start_agent(&[]);
    // Every paper reply takes 3 s: the server goes down while the order is in flight.
    s.start_paper(&["--delay-ms", "3000"]);
    s.wait_terminal_ready().await;
    let job = s
        .insert_job(
            "trade",
            json!({"symbol": "GBPUSD", "side": "sell", "volume": 0.05}),
            Some(Utc::now() + chrono::Duration::seconds(120)),
        )
        .await;
    eventually(Duration::from_secs(60), "job claimed", || async {
        (s.job_row(job).await.0 == "running").then_some(())
    })
    .await;
    s.stop_server();
    // The agent journals the result but cannot post it.
    eventually(
        Duration::from_secs(60),
        "an unreported result in the journal",
        || async {
            let st = s.agent_status();
            (st["journal"]["unreported"].as_i64() == Some(1)).then_some(())
        },
    )
    .await;
    assert_eq!(s.job_row(job).await.0, "running");
    s.start_server().await;
    let (st, out, err) = s.wait_job(job).await;
    assert_eq!(st, "completed", "{err:?}");
    assert_eq!(out.unwrap()["volume"], json!(0.05));
    assert_eq!(
        s.orders_with_comment(&companion_agent::job_comment(job))
            .len(),
        1
    );
    eventually(
        Duration::from_secs(30),
        "journal shows it reported",
        || async {
            let st = s.agent_status();
            (st["journal"]["unreported"].as_i64() == Some(0)).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn terminal_disconnected_queries_fail_fast_trades_wait_and_the_agent_reconnects() {
    let mut s = Stack::new("terminal_down").await;
    s.start_agent(&[]);
    // No terminal yet: a query fails at once with the reason.
    let q = s.create_job_api("get_account", json!({})).await;
    let (st, _, err) = s.wait_job(q).await;
    assert_eq!(st, "failed");
    let err = err.unwrap();
    assert!(
        err.contains("not connected") && err.contains("bridge EA"),
        "{err}"
    );

    // A trade waits for the terminal (until its deadline).
    let trade = s
        .insert_job(
            "trade",
            json!({"symbol": "EURUSD", "side": "buy", "volume": 0.01}),
            Some(Utc::now() + chrono::Duration::seconds(120)),
        )
        .await;
    eventually(Duration::from_secs(60), "trade claimed", || async {
        (s.job_row(trade).await.0 == "running").then_some(())
    })
    .await;
    s.start_paper(&[]);
    let (st, _, err) = s.wait_job(trade).await;
    assert_eq!(st, "completed", "{err:?}");

    // The terminal drops; the agent keeps running and takes it back when it returns.
    s.stop_paper();
    let q = s.create_job_api("get_positions", json!({})).await;
    let (st, _, _) = s.wait_job(q).await;
    assert_eq!(st, "failed");
    s.start_paper(&[]);
    s.wait_terminal_ready().await;

    // A trade that cannot reach a terminal before its deadline fails as expired, with no order.
    s.stop_paper();
    let late = s
        .insert_job(
            "trade",
            json!({"symbol": "EURUSD", "side": "buy", "volume": 0.01}),
            Some(Utc::now() + chrono::Duration::seconds(4)),
        )
        .await;
    let (st, _, err) = s.wait_job(late).await;
    assert_eq!(st, "failed");
    assert!(err.unwrap().contains("expired"));
    assert!(s
        .orders_with_comment(&companion_agent::job_comment(late))
        .is_empty());
}

/// Kills the agent (crash hook) right after a poll brought `job`, before its journal
/// entry; returns when the process is gone, the job still `running` at the server.
async fn crash_between_claim_and_journal(s: &mut Stack, job: uuid::Uuid) {
    s.start_agent(&[("COMPANION_AGENT_CRASH_AFTER", "claimed")]);
    let status = {
        let agent = s.agent.as_mut().unwrap();
        tokio::task::block_in_place(|| common::wait_exit(&mut agent.child, Duration::from_secs(90)))
    };
    assert!(!status
        .expect("the agent aborts at the crash hook")
        .success());
    s.agent = None;
    let (st, _, _) = s.job_row(job).await;
    assert_eq!(st, "running", "claimed by the agent that crashed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_claimed_just_before_a_crash_is_taken_back_at_once_on_restart() {
    let mut s = Stack::new("crash_after_claim").await;
    let (job, signal) = s.insert_signal_trade("EURUSD", "buy", 0.2).await;
    let comment = companion_agent::job_comment(job);
    s.start_paper(&[]);
    crash_between_claim_and_journal(&mut s, job).await;
    assert!(
        s.orders_with_comment(&comment).is_empty(),
        "nothing was sent"
    );

    // The server's stale-claim sweeper would give it back only after 300 s, long past
    // the trade's 60 s deadline: completing now proves the agent took it back itself.
    let restarted = std::time::Instant::now();
    s.start_agent(&[]);
    let (st, out, err) = s.wait_job(job).await;
    println!(
        "restart → taken-back job completed in {} ms",
        restarted.elapsed().as_millis()
    );
    assert_eq!(st, "completed", "{err:?}");
    assert_eq!(out.unwrap()["volume"], json!(0.2));
    assert_eq!(
        s.orders_with_comment(&comment).len(),
        1,
        "exactly one order"
    );
    let sig: String = sqlx::query_scalar("SELECT status FROM tv_signals WHERE id = $1")
        .bind(signal)
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    assert_eq!(sig, "executed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_taken_back_after_its_deadline_fails_at_once_as_expired() {
    let mut s = Stack::new("crash_after_claim_expired").await;
    s.start_paper(&[]);
    let job = s
        .insert_job(
            "trade",
            json!({"symbol": "GBPUSD", "side": "sell", "volume": 0.1}),
            Some(Utc::now() + chrono::Duration::seconds(4)),
        )
        .await;
    crash_between_claim_and_journal(&mut s, job).await;
    // Restart only once the deadline has passed.
    eventually(Duration::from_secs(20), "the deadline to pass", || async {
        let past: bool = sqlx::query_scalar("SELECT expires_at < now() FROM jobs WHERE id = $1")
            .bind(job)
            .fetch_one(&s.db.pool)
            .await
            .unwrap();
        past.then_some(())
    })
    .await;
    s.start_agent(&[]);
    let (st, _, err) = s.wait_job(job).await;
    assert_eq!(st, "failed");
    let err = err.unwrap_or_default();
    assert!(err.starts_with("expired: not executed"), "{err}");
    assert!(
        s.orders_with_comment(&companion_agent::job_comment(job))
            .is_empty(),
        "never sent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_whose_response_was_lost_comes_back_without_a_restart() {
    let mut s = Stack::new("lost_claim").await;
    s.start_paper(&[]);
    // The trade is the first job the agent claims: its claim response is dropped.
    let job = s
        .insert_job(
            "trade",
            json!({"symbol": "EURUSD", "side": "buy", "volume": 0.1}),
            Some(Utc::now() + chrono::Duration::seconds(60)),
        )
        .await;
    s.start_agent(&[("COMPANION_AGENT_LOSE_FIRST_CLAIM", "1")]);
    let (st, _, err) = s.wait_job(job).await;
    assert_eq!(st, "completed", "{err:?}");
    assert_eq!(
        s.orders_with_comment(&companion_agent::job_comment(job))
            .len(),
        1,
        "exactly one order"
    );
    let log = std::fs::read_to_string(
        common::bin_dir()
            .parent()
            .unwrap()
            .join("e2e-logs/lost_claim/agent.log"),
    )
    .unwrap();
    assert!(
        log.contains("dropping this claim's response"),
        "the hook fired"
    );
    assert!(log.contains("taking back a job"), "it was taken back");
}
