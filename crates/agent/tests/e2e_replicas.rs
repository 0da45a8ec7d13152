//! Two server replicas on one PostgreSQL (issue #18, item 5): the agent long-polls
//! replica A while TradingView alerts are posted to replica B, and every alert becomes
//! exactly one order at the paper terminal. Replica A is killed mid-run and restarted on
//! the same port: the agent resumes, and no order is lost or duplicated — checked
//! against both the paper terminal's orders log and the database.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{admin, eventually, free_port, spawn_named, Stack};
use serde_json::json;
use uuid::Uuid;

/// Posts one alert to `url`; returns its signal id.
async fn post_alert(s: &Stack, url: &str, n: usize) -> Uuid {
    let body = json!({"action": "buy", "symbol": "OANDA:EURUSD", "volume": 0.01,
                      "id": format!("replicas-{n}-{}", Uuid::new_v4())});
    let resp = s.http.post(url).json(&body).send().await.unwrap();
    assert!(resp.status().is_success(), "alert {n}: {}", resp.status());
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "pending", "alert {n}: {v}");
    v["signal_id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_through_replica_b_execute_for_an_agent_on_replica_a_across_its_restart() {
    let mut s = Stack::new("replicas").await; // replica A on s.server_port
    let port_b = free_port();
    let _replica_b = spawn_named("replicas", "server-b", admin(&s.db).serve_command(port_b));
    let url_b = companion_testkit::stack::server_url(port_b);
    companion_testkit::stack::wait_healthy(&url_b, Duration::from_secs(60))
        .await
        .unwrap();

    s.start_agent(&[]);
    s.start_paper(&[]);
    s.wait_terminal_ready().await;
    let (_strategy, secret) = s.insert_strategy().await;
    let webhook_b = format!("{url_b}/api/v1/webhooks/tv/{secret}");

    // First half while both replicas run.
    let mut signals = Vec::new();
    for n in 0..10 {
        signals.push(post_alert(&s, &webhook_b, n).await);
    }
    // Replica A dies mid-run (the agent's poll is cut), more alerts arrive through B,
    // and A comes back on the same port.
    s.stop_server();
    for n in 10..20 {
        signals.push(post_alert(&s, &webhook_b, n).await);
    }
    // With A down the agent reaches no server: those alerts' jobs wait, unclaimed, and
    // everything below them was done through the restarted A.
    let (unclaimed,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM tv_signals s JOIN jobs j ON j.id = s.job_id
         WHERE s.id = ANY($1) AND j.status = 'pending' AND j.claimed_at IS NULL",
    )
    .bind(&signals[10..20])
    .fetch_one(&s.db.pool)
    .await
    .unwrap();
    assert_eq!(unclaimed, 10, "jobs queued through B while A was down");
    s.start_server().await;
    for n in 20..25 {
        signals.push(post_alert(&s, &webhook_b, n).await);
    }

    // Every signal resolves executed, each through its own job.
    let mut jobs = BTreeSet::new();
    for signal in &signals {
        let (status, job): (String, Option<Uuid>) = eventually(
            Duration::from_secs(120),
            &format!("signal {signal} resolved"),
            || async {
                let row: (String, Option<Uuid>) =
                    sqlx::query_as("SELECT status, job_id FROM tv_signals WHERE id = $1")
                        .bind(signal)
                        .fetch_one(&s.db.pool)
                        .await
                        .unwrap();
                (row.0 != "pending").then_some(row)
            },
        )
        .await;
        assert_eq!(status, "executed", "signal {signal}");
        jobs.insert(job.expect("the signal's job"));
    }
    assert_eq!(jobs.len(), signals.len(), "one job per signal");

    // The database: one signal and one completed trade job per alert, nothing else.
    let (n_signals, n_jobs, n_completed): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM tv_signals WHERE user_id = $1),
                (SELECT count(*) FROM jobs WHERE user_id = $1 AND job_type = 'trade'),
                (SELECT count(*) FROM jobs WHERE user_id = $1 AND job_type = 'trade' AND status = 'completed')",
    )
    .bind(s.user_id)
    .fetch_one(&s.db.pool)
    .await
    .unwrap();
    assert_eq!(n_signals, signals.len() as i64, "signals in the database");
    assert_eq!(n_jobs, signals.len() as i64, "trade jobs in the database");
    assert_eq!(n_completed, signals.len() as i64, "completed trade jobs");

    // The paper terminal: exactly one order per job — 0 lost, 0 duplicated.
    let orders = common::read_orders(&s.orders_log);
    let comments: Vec<String> = orders
        .iter()
        .map(|o| o["comment"].as_str().unwrap_or_default().to_string())
        .collect();
    let expected: BTreeSet<String> = jobs
        .iter()
        .map(|j| companion_agent::job_comment(*j))
        .collect();
    let seen: BTreeSet<String> = comments.iter().cloned().collect();
    assert_eq!(
        comments.len(),
        seen.len(),
        "a duplicated order: {comments:?}"
    );
    assert_eq!(seen, expected, "orders at the terminal vs jobs");
}
