//! Notices across server replicas (issue #18, migration 0019): the webhook ingest,
//! claims and fast results no longer NOTIFY inside their transactions; the replica that
//! committed delivers the notice in memory and sends it to the others afterwards
//! (`companion_server::publish`). Each test first lets the agent's poll on replica A
//! record an empty claim: a re-poll then trusts that mark and does not claim again
//! until a notice for the user arrives, so a notice that never reaches A shows up as a
//! poll that answers 204 after its whole wait instead of the job.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use std::time::Duration;

use common::TestServer;
use serde_json::{json, Value};
use uuid::Uuid;

/// Long enough that a poll answering 204 means it was never woken.
const WAIT_SECS: u64 = 20;

#[tokio::test(flavor = "multi_thread")]
async fn an_alert_ingested_on_one_replica_wakes_a_poll_waiting_on_the_other() {
    let a = TestServer::start().await;
    let (b_base, _b) = a.replica().await;
    let alice = a.user("alice@example.com").await;
    let agent = a.agent(alice, "alice-pc").await;
    let conn: Uuid =
        sqlx::query_scalar("select broker_connection_id from mt5_agents where id = $1")
            .bind(agent.agent_id)
            .fetch_one(&a.pool)
            .await
            .unwrap();
    let secret = "replicanotices0123456789abcdefABCDEF0123";
    sqlx::query(
        "insert into tv_strategies (user_id, broker_connection_id, name, webhook_secret) \
         values ($1, $2, 's', $3)",
    )
    .bind(alice)
    .bind(conn)
    .bind(secret)
    .execute(&a.pool)
    .await
    .unwrap();
    assert!(
        a.next(&agent, 0).await.is_none(),
        "empty queue: a trusted empty claim"
    );

    let poll = {
        let http = a.http.clone();
        let url = a.url(&format!(
            "/api/v1/agents/{}/jobs/next?wait={WAIT_SECS}",
            agent.agent_id
        ));
        let key = agent.pairing_key.clone();
        tokio::spawn(async move {
            let r = http
                .get(url)
                .header(companion_protocol::AGENT_KEY_HEADER, key)
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        })
    };
    // The alert goes to replica B.
    let r = a
        .http
        .post(format!("{b_base}/api/v1/webhooks/tv/{secret}"))
        .body("buy EURUSD 0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "pending", "{v}");
    let job: Uuid = sqlx::query_scalar("select job_id from tv_signals where id = $1::text::uuid")
        .bind(v["signal_id"].as_str().unwrap())
        .fetch_one(&a.pool)
        .await
        .unwrap();

    let (status, body) = poll.await.unwrap();
    assert_eq!(
        status, 200,
        "the poll on replica A was never woken by replica B's notice: {body}"
    );
    let claimed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(claimed["job_id"], json!(job));
    // No NOTIFY ran in the ingest's transaction: the job row was written with the
    // triggers skipped, and the wake-up came from B's publisher.
    let (status,): (String,) = sqlx::query_as("select status from jobs where id = $1")
        .bind(job)
        .fetch_one(&a.pool)
        .await
        .unwrap();
    assert_eq!(status, "running");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_that_starts_makes_the_others_claim_again() {
    let a = TestServer::start().await;
    let alice = a.user("alice@example.com").await;
    let agent = a.agent(alice, "alice-pc").await;
    assert!(a.next(&agent, 0).await.is_none(), "a trusted empty claim");
    // A job whose notice was lost with a replica that died right after its commit.
    let mut conn = a.pool.acquire().await.unwrap();
    let lost: Uuid = sqlx::query_scalar(
        "insert into jobs (user_id, job_type, status, input_data) \
         select $1, 'get_account', 'pending', '{}' \
           from (select set_config('companion.notify', 'off', true)) as quiet returning id",
    )
    .bind(alice)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    assert!(
        a.next(&agent, 0).await.is_none(),
        "the re-poll trusts its empty claim: no notice came"
    );
    // The replacement replica starts: its resync voids A's marks.
    let (_c_base, _c) = a.replica().await;
    let got = a.next(&agent, WAIT_SECS).await;
    assert_eq!(
        got.map(|j| j.job_id),
        Some(lost),
        "replica A never heard the new replica's resync"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_and_a_fast_result_reach_event_streams_on_both_replicas() {
    let a = TestServer::start().await;
    let (b_base, _b) = a.replica().await;
    let alice = a.user("alice@example.com").await;
    let agent = a.agent(alice, "alice-pc").await;
    let job = a.insert_job(alice, "get_account", None, json!({})).await;
    // Alice's event stream on replica B.
    let stream = a
        .http
        .get(format!("{b_base}/api/v1/events"))
        .bearer_auth(a.jwt(alice))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut stream = stream;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(WAIT_SECS);
    let mut seen = String::new();
    let mut read_until = async |what: &str, seen: &mut String| {
        while !seen.contains(what) {
            let chunk = tokio::time::timeout_at(deadline, stream.chunk())
                .await
                .unwrap_or_else(|_| panic!("no {what} event on replica B; got: {seen}"))
                .unwrap()
                .expect("stream open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    // The claim and the result go to replica A; B's stream shows each.
    let claimed = a.next(&agent, 0).await.expect("claimed");
    assert_eq!(claimed.job_id, job);
    read_until("\"running\"", &mut seen).await;
    assert!(seen.contains(&job.to_string()), "{seen}");
    let r = a
        .agent_post(
            &agent.pairing_key,
            &format!("/api/v1/agents/{}/jobs/{job}/result", agent.agent_id),
            &json!({"status": "completed", "output_data": {"balance": 1000.0, "equity": 1000.0,
                    "margin_used": 0.0, "margin_available": 1000.0, "currency": "USD", "leverage": 100}}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    read_until("\"completed\"", &mut seen).await;
}
