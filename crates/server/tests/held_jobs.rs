//! `GET /agents/{id}/jobs/held`: an agent takes back the jobs it had claimed (after a
//! restart, or a poll whose response was lost), with the claim's heartbeat refreshed
//! so the sweeper leaves them alone; nobody else sees them.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::{assert_error, completed, TestServer};
use companion_protocol::ClaimedJob;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn an_agent_gets_back_exactly_the_running_jobs_it_claimed() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let other = s.agent(alice, "alice-laptop").await;
    let bob = s.user("bob@example.com").await;
    let b = s.agent(bob, "bob-pc").await;
    let s = &s;
    let held = |key: String, agent: uuid::Uuid| {
        let path = format!("/api/v1/agents/{agent}/jobs/held");
        async move { s.agent_get(&key, &path).await }
    };

    let first = s
        .insert_job(alice, "get_account", Some(a.agent_id), json!({}))
        .await;
    let second = s
        .insert_job(alice, "get_positions", Some(a.agent_id), json!({}))
        .await;
    let pending = s
        .insert_job(alice, "get_account", Some(a.agent_id), json!({}))
        .await;
    // Claimed, then the claim's response "lost": the agent never saw these two.
    assert_eq!(s.next(&a, 0).await.unwrap().job_id, first);
    assert_eq!(s.next(&a, 0).await.unwrap().job_id, second);
    // Its claim went quiet a while ago.
    sqlx::query("update jobs set heartbeat_at = now() - interval '4 minutes' where id = $1")
        .bind(first)
        .execute(&s.pool)
        .await
        .unwrap();

    let r = held(a.pairing_key.clone(), a.agent_id).await;
    assert_eq!(r.status(), StatusCode::OK);
    let jobs: Vec<ClaimedJob> = r.json().await.unwrap();
    let ids: Vec<_> = jobs.iter().map(|j| (j.job_id, j.attempt)).collect();
    assert_eq!(
        ids,
        vec![(first, 1), (second, 1)],
        "oldest claim first; the pending one is not held"
    );
    let fresh: bool = sqlx::query_scalar(
        "select heartbeat_at > now() - interval '5 seconds' from jobs where id = $1",
    )
    .bind(first)
    .fetch_one(&s.pool)
    .await
    .unwrap();
    assert!(fresh, "taking a job back refreshes its claim heartbeat");

    // Another agent of the same user holds nothing; another user's key is refused.
    let r = held(other.pairing_key.clone(), other.agent_id).await;
    assert_eq!(r.json::<Vec<ClaimedJob>>().await.unwrap(), vec![]);
    assert_error(
        held(b.pairing_key.clone(), a.agent_id).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Once its result is in, a job is no longer held.
    let account = completed(
        json!({"balance": 1000.0, "equity": 1000.0, "margin_used": 0.0,
        "margin_available": 1000.0, "currency": "USD", "leverage": 100}),
    );
    assert_eq!(s.result(&a, first, &account).await.status(), StatusCode::OK);
    let jobs: Vec<ClaimedJob> = held(a.pairing_key.clone(), a.agent_id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.job_id).collect::<Vec<_>>(),
        vec![second]
    );
    assert_eq!(s.job_status(pending).await.0, "pending");
}
