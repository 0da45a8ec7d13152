//! The job long-poll over real HTTP: woken by the NOTIFY of a job inserted by any
//! writer, 204 at the deadline, and never the same job to two agents.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::TestServer;
use companion_protocol::JobType;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn a_waiting_poll_returns_a_job_inserted_by_plain_sql() {
    let s = Arc::new(TestServer::start().await);
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let poll = {
        let (s, a) = (s.clone(), a.clone());
        tokio::spawn(async move { s.next(&a, 25).await })
    };
    // Let the poll find the queue empty and start waiting, then insert.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let job = s
        .insert_job(
            alice,
            "get_candles",
            None,
            json!({"symbol": "EURUSD", "timeframe": "M5", "count": 10}),
        )
        .await;
    let claimed = poll.await.unwrap().expect("the poll wakes with the job");
    assert_eq!(claimed.job_id, job);
    assert_eq!(claimed.job_type, JobType::GetCandles);
    assert_eq!(claimed.input_data["symbol"], "EURUSD");
    assert_eq!(claimed.attempt, 1);
    let (status, agent, attempts, _) = s.job_status(job).await;
    assert_eq!(
        (status.as_str(), agent, attempts),
        ("running", Some(a.agent_id), 1)
    );
}

#[tokio::test]
async fn an_empty_queue_answers_204_at_the_deadline() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let bob = s.user("bob@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let a2 = s.agent(alice, "alice-other").await;
    // Jobs that are not Alice's first agent's to take: another user's, and one
    // targeted at Alice's other agent.
    s.insert_job(bob, "get_account", None, json!({})).await;
    s.insert_job(alice, "get_account", Some(a2.agent_id), json!({}))
        .await;
    assert!(s.next(&a, 1).await.is_none());
    assert!(s.next(&a, 0).await.is_none());
    // The targeted job goes to its agent.
    assert!(s.next(&a2, 0).await.is_some());
}

#[tokio::test]
async fn wait_is_validated() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    for bad in ["-1", "abc", "NaN"] {
        let r = s
            .agent_get(
                &a.pairing_key,
                &format!("/api/v1/agents/{}/jobs/next?wait={bad}", a.agent_id),
            )
            .await;
        common::assert_error(r, reqwest::StatusCode::BAD_REQUEST, "invalid_request").await;
    }
}

#[tokio::test]
async fn two_agents_polling_one_queue_never_get_the_same_job() {
    let s = Arc::new(TestServer::start().await);
    let alice = s.user("alice@example.com").await;
    let agents = [s.agent(alice, "one").await, s.agent(alice, "two").await];
    const JOBS: usize = 60;
    let mut pollers = Vec::new();
    for agent in agents.clone() {
        let s = s.clone();
        pollers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            // Each poller keeps polling until the queue stays empty for a while.
            while let Some(job) = s.next(&agent, 2).await {
                got.push(job.job_id);
                let r = s.result(&agent, job.job_id, &common::completed(json!({
                    "balance": 1.0, "equity": 1.0, "margin_used": 0.0, "margin_available": 1.0,
                    "currency": "USD", "leverage": 100
                }))).await;
                assert_eq!(r.status(), reqwest::StatusCode::OK);
            }
            got
        }));
    }
    let mut inserted = HashSet::new();
    for _ in 0..JOBS {
        inserted.insert(s.insert_job(alice, "get_account", None, json!({})).await);
    }
    let mut seen: Vec<Uuid> = Vec::new();
    for p in pollers {
        seen.extend(p.await.unwrap());
    }
    let unique: HashSet<Uuid> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "a job was handed out twice");
    assert_eq!(unique, inserted);
    let attempts: Vec<i32> = sqlx::query_scalar("select attempts from jobs")
        .fetch_all(&s.pool)
        .await
        .unwrap();
    assert!(attempts.iter().all(|&a| a == 1));
}

#[tokio::test]
async fn polls_still_wake_after_the_listen_connection_is_killed() {
    let s = Arc::new(TestServer::start().await);
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let db: String = sqlx::query_scalar("select current_database()")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and query ilike 'listen%'",
    )
    .bind(&db)
    .fetch_all(&s.pool)
    .await
    .unwrap();
    assert_eq!(killed, vec![true], "exactly one LISTEN connection");
    let poll = {
        let (s, a) = (s.clone(), a.clone());
        tokio::spawn(async move { s.next(&a, 25).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let job = s.insert_job(alice, "get_account", None, json!({})).await;
    assert_eq!(poll.await.unwrap().expect("woken").job_id, job);
    // And the listener is back: a second wait is woken too.
    let poll = {
        let (s, a) = (s.clone(), a.clone());
        tokio::spawn(async move { s.next(&a, 25).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let job2 = s.insert_job(alice, "get_account", None, json!({})).await;
    assert_eq!(poll.await.unwrap().expect("woken").job_id, job2);
    let listeners: i64 = sqlx::query_scalar(
        "select count(*) from pg_stat_activity where datname = $1 and query ilike 'listen%'",
    )
    .bind(&db)
    .fetch_one(&s.pool)
    .await
    .unwrap();
    assert_eq!(listeners, 1);
}
