//! Long-polls under load and the empty-claim shortcut, over real HTTP and PostgreSQL:
//! hundreds of polls at once on a tiny pool queue for admission instead of failing
//! with 503; an idle agent's re-poll skips the claim only while no job notice and no
//! LISTEN outage could have changed its answer.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::TestServer;
use companion_protocol::{ClaimedJob, AGENT_KEY_HEADER};
use companion_server::agents::IssuedKey;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

/// A job inserted without firing the NOTIFY trigger (as if the notice were lost).
async fn insert_silent_job(s: &TestServer, user: Uuid) -> Uuid {
    let mut conn = s.pool.acquire().await.unwrap();
    sqlx::query("set session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    let id = sqlx::query_scalar(
        "insert into jobs (user_id, job_type, status, input_data) values ($1, 'get_account', 'pending', '{}') returning id",
    )
    .bind(user)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    sqlx::query("set session_replication_role = origin")
        .execute(&mut *conn)
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn hundreds_of_polls_on_a_two_connection_pool_queue_instead_of_failing() {
    // Two pooled connections and a short acquire timeout: without admission control
    // most of these polls would wait longer than that for a connection and get 503.
    let s = Arc::new(
        TestServer::start_with(|c| {
            c.db.database_max_connections = 2;
            c.db.database_acquire_timeout_secs = 0.5;
        })
        .await,
    );
    const USERS: usize = 3;
    const AGENTS_PER_USER: usize = 100;
    let mut agents: Vec<IssuedKey> = Vec::new();
    let mut jobs = HashSet::new();
    for u in 0..USERS {
        let user = s.user(&format!("user{u}@example.com")).await;
        for i in 0..AGENTS_PER_USER {
            agents.push(s.agent(user, &format!("pc-{u}-{i}")).await);
        }
        for _ in 0..2 {
            jobs.insert(s.insert_job(user, "get_account", None, json!({})).await);
        }
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let polls: Vec<_> = agents
        .into_iter()
        .map(|a| {
            let (http, url) = (
                http.clone(),
                s.url(&format!("/api/v1/agents/{}/jobs/next?wait=1", a.agent_id)),
            );
            tokio::spawn(async move {
                let r = http
                    .get(url)
                    .header(AGENT_KEY_HEADER, &a.pairing_key)
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let body = r.text().await.unwrap();
                (status, body)
            })
        })
        .collect();
    let mut claimed = Vec::new();
    let mut empty = 0;
    for p in polls {
        let (status, body) = p.await.unwrap();
        match status {
            StatusCode::OK => {
                claimed.push(serde_json::from_str::<ClaimedJob>(&body).unwrap().job_id)
            }
            StatusCode::NO_CONTENT => empty += 1,
            other => panic!("a poll answered {other}: {body}"),
        }
    }
    let unique: HashSet<Uuid> = claimed.iter().copied().collect();
    assert_eq!(unique.len(), claimed.len(), "a job was handed out twice");
    assert_eq!(
        unique, jobs,
        "every queued job was claimed by exactly one poll"
    );
    assert_eq!(empty, USERS * AGENTS_PER_USER - jobs.len());
}

#[tokio::test]
async fn an_idle_re_poll_skips_the_claim_until_a_notice_arrives() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    assert!(s.next(&a, 0).await.is_none(), "empty queue");
    // A job whose notice never came: the re-poll trusts its last empty claim...
    let silent = insert_silent_job(&s, alice).await;
    assert!(
        s.next(&a, 0).await.is_none(),
        "the re-poll did not claim (nothing was notified since its empty claim)"
    );
    // ...until any notice for Alice arrives: then it claims, oldest job first.
    sqlx::query("select pg_notify('companion_jobs', json_build_object('job_id', $1::uuid, 'user_id', $2::uuid)::text)")
        .bind(Uuid::new_v4())
        .bind(alice)
        .execute(&s.pool)
        .await
        .unwrap();
    let mut got = None;
    for _ in 0..100 {
        got = s.next(&a, 1).await;
        if got.is_some() {
            break;
        }
    }
    assert_eq!(got.expect("claimed after the notice").job_id, silent);
}

#[tokio::test]
async fn a_notified_job_is_claimed_by_an_idle_agent_s_next_poll() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    assert!(s.next(&a, 0).await.is_none());
    assert!(s.next(&a, 0).await.is_none());
    // Inserted while no poll is waiting: the notice alone must make the next poll claim.
    let job = s.insert_job(alice, "get_account", None, json!({})).await;
    let mut got = None;
    for _ in 0..100 {
        got = s.next(&a, 1).await;
        if got.is_some() {
            break;
        }
    }
    assert_eq!(got.expect("claimed").job_id, job);
}

#[tokio::test]
async fn after_a_listen_outage_idle_agents_claim_again() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    assert!(s.next(&a, 0).await.is_none());
    // A job inserted silently, then the LISTEN connection dies: whatever happened
    // during an outage is unknown, so once LISTEN is back the poll claims again.
    let silent = insert_silent_job(&s, alice).await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query ilike 'listen%'",
    )
    .fetch_all(&s.pool)
    .await
    .unwrap();
    assert_eq!(killed, vec![true]);
    let mut got = None;
    for _ in 0..200 {
        got = s.next(&a, 0).await;
        if got.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(got.expect("claimed after the outage").job_id, silent);
}
