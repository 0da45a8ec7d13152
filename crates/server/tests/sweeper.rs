//! The stale-job sweeper (DESIGN section 6), one `sweep()` at a time against a real
//! database, with the agents talking over real HTTP.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use std::time::Duration;

use common::{completed, TestServer};
use companion_server::queue::sweeper::{sweep, SweepRules};
use companion_server::queue::{EXPIRED_REASON, LOST_CLAIM_REASON};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

fn rules() -> SweepRules {
    SweepRules {
        stale_after: Duration::from_secs(300),
        trading_stale_after: Duration::from_secs(5),
        agent_offline_after: Duration::from_secs(90),
    }
}

async fn age_claim(s: &TestServer, job: Uuid, minutes: i32) {
    sqlx::query(
        "update jobs set claimed_at = now() - make_interval(mins => $2), heartbeat_at = now() - make_interval(mins => $2) where id = $1",
    )
    .bind(job)
    .bind(minutes)
    .execute(&s.pool)
    .await
    .unwrap();
}

async fn trade_job(s: &TestServer, user: Uuid, agent: Uuid, expires_in_secs: i64) -> Uuid {
    sqlx::query_scalar(
        "insert into jobs (user_id, job_type, agent_id, input_data, expires_at) \
         values ($1, 'trade', $2, '{\"symbol\":\"EURUSD\",\"side\":\"buy\",\"volume\":0.1}', now() + make_interval(secs => $3)) returning id",
    )
    .bind(user)
    .bind(agent)
    .bind(expires_in_secs as f64)
    .fetch_one(&s.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn stale_non_trade_jobs_are_requeued_until_their_attempts_run_out() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let job = s
        .insert_job(alice, "get_positions", Some(a.agent_id), json!({}))
        .await;

    for attempt in 1..=3 {
        let claimed = s.next(&a, 0).await.expect("offered again");
        assert_eq!((claimed.job_id, claimed.attempt), (job, attempt));
        // A fresh claim is left alone.
        assert_eq!(
            sweep(&s.pool, &rules()).await.unwrap().requeued,
            Vec::<Uuid>::new()
        );
        age_claim(&s, job, 6).await;
        let report = sweep(&s.pool, &rules()).await.unwrap();
        if attempt < 3 {
            assert_eq!(report.requeued, vec![job]);
            assert_eq!(s.job_status(job).await.0, "pending");
        } else {
            assert_eq!(report.failed, vec![job]);
        }
    }
    let (status, _, attempts, error) = s.job_status(job).await;
    assert_eq!((status.as_str(), attempts), ("failed", 3));
    assert!(error.unwrap().starts_with("stale"));
    assert!(s.next(&a, 0).await.is_none());
}

#[tokio::test]
async fn a_job_heartbeat_keeps_an_old_claim_alive() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let busy = s
        .insert_job(alice, "test", Some(a.agent_id), json!({}))
        .await;
    let quiet = s
        .insert_job(alice, "compile", Some(a.agent_id), json!({}))
        .await;
    s.next(&a, 0).await.unwrap();
    s.next(&a, 0).await.unwrap();
    age_claim(&s, busy, 30).await;
    age_claim(&s, quiet, 30).await;
    let r = s
        .agent_post(&a.pairing_key, &format!("/api/v1/agents/{}/heartbeat", a.agent_id),
            &json!({"status": "online", "app_version": "0.1.0", "running_jobs": [busy],
                    "terminal": {"connected": true, "paper": true, "login": "1001", "server": "Paper-Demo"}}))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let report = sweep(&s.pool, &rules()).await.unwrap();
    assert_eq!(report.requeued, vec![quiet]);
    assert_eq!(s.job_status(busy).await.0, "running");

    let (connected, status, version, login, server): (bool, String, String, String, String) = sqlx::query_as(
        "select is_connected, status, app_version, login, terminal_server from mt5_agents where id = $1",
    )
    .bind(a.agent_id)
    .fetch_one(&s.pool)
    .await
    .unwrap();
    assert_eq!(
        (
            connected,
            status.as_str(),
            version.as_str(),
            login.as_str(),
            server.as_str()
        ),
        (true, "online", "0.1.0", "1001", "Paper-Demo")
    );
}

#[tokio::test]
async fn expired_trade_jobs_fail_and_are_never_handed_out() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let old = trade_job(&s, alice, a.agent_id, -1).await;
    // Even before the sweeper runs, the claim skips it.
    assert!(s.next(&a, 0).await.is_none());
    let report = sweep(&s.pool, &rules()).await.unwrap();
    assert_eq!(report.expired, vec![old]);
    let (status, _, attempts, error) = s.job_status(old).await;
    assert_eq!(
        (status.as_str(), attempts, error.as_deref()),
        ("failed", 0, Some(EXPIRED_REASON))
    );
    assert!(s.next(&a, 0).await.is_none());
}

#[tokio::test]
async fn a_stale_trade_job_is_reoffered_only_to_the_agent_that_claimed_it() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let other = s.agent(alice, "alice-laptop").await;
    // Untargeted, long deadline: whoever claims it owns it.
    let job: Uuid = sqlx::query_scalar(
        "insert into jobs (user_id, job_type, input_data, expires_at) \
         values ($1, 'trade', '{\"symbol\":\"EURUSD\",\"side\":\"buy\",\"volume\":0.1}', now() + interval '1 hour') returning id",
    )
    .bind(alice)
    .fetch_one(&s.pool)
    .await
    .unwrap();
    assert_eq!(s.next(&a, 0).await.unwrap().job_id, job);
    age_claim(&s, job, 6).await;
    assert_eq!(sweep(&s.pool, &rules()).await.unwrap().requeued, vec![job]);
    assert!(
        s.next(&other, 0).await.is_none(),
        "another agent must not get a possibly-sent trade"
    );
    let again = s
        .next(&a, 0)
        .await
        .expect("the claimer gets it back to reconcile");
    assert_eq!((again.job_id, again.attempt), (job, 2));
}

#[tokio::test]
async fn a_lost_expired_trade_claim_fails_but_the_agents_late_result_still_counts() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let other = s.agent(alice, "alice-laptop").await;
    let job = trade_job(&s, alice, a.agent_id, 60).await;
    s.next(&a, 0).await.unwrap();
    // Ten minutes later: no result, no heartbeat, deadline long past.
    sqlx::query("update jobs set expires_at = now() - interval '9 minutes' where id = $1")
        .bind(job)
        .execute(&s.pool)
        .await
        .unwrap();
    age_claim(&s, job, 10).await;
    let report = sweep(&s.pool, &rules()).await.unwrap();
    assert_eq!(report.expired, vec![job]);
    assert_eq!(
        s.job_status(job).await.3.as_deref(),
        Some(LOST_CLAIM_REASON)
    );
    assert!(s.next(&a, 0).await.is_none());

    // The order had in fact been placed: the agent's journal reports it late.
    let out = completed(json!({"fill_price": 1.1, "ticket": 1, "order_id": 2, "volume": 0.1}));
    common::assert_error(
        s.result(&other, job, &out).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_eq!(s.result(&a, job, &out).await.status(), StatusCode::OK);
    assert_eq!(s.job_status(job).await.0, "completed");
    assert_eq!(
        s.result(&a, job, &out).await.status(),
        StatusCode::OK,
        "and a repeat is a duplicate"
    );
}

#[tokio::test]
async fn an_expired_trade_claim_of_a_gone_agent_fails_seconds_after_its_deadline() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let job = trade_job(&s, alice, a.agent_id, 60).await;
    s.next(&a, 0).await.unwrap();
    let quiet_for = |secs: f64| {
        sqlx::query(
            "update jobs set expires_at = now() - interval '1 second', \
             claimed_at = now() - make_interval(secs => $2), heartbeat_at = null where id = $1",
        )
        .bind(job)
        .bind(secs)
    };
    // Past its deadline but claimed 2 s ago: its agent may still be sending.
    quiet_for(2.0).execute(&s.pool).await.unwrap();
    assert!(sweep(&s.pool, &rules()).await.unwrap().expired.is_empty());
    assert_eq!(s.job_status(job).await.0, "running");
    // Quiet for 6 s (> trading_stale_after, far below stale_after): failed as lost.
    quiet_for(6.0).execute(&s.pool).await.unwrap();
    assert_eq!(sweep(&s.pool, &rules()).await.unwrap().expired, vec![job]);
    assert_eq!(
        s.job_status(job).await.3.as_deref(),
        Some(LOST_CLAIM_REASON)
    );
}

#[tokio::test]
async fn silent_agents_are_marked_offline() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let b = s.agent(alice, "alice-laptop").await;
    for agent in [&a, &b] {
        let r = s
            .agent_post(
                &agent.pairing_key,
                &format!("/api/v1/agents/{}/heartbeat", agent.agent_id),
                &json!({"status": "online", "app_version": "0.1.0"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    sqlx::query(
        "update mt5_agents set last_heartbeat = now() - interval '5 minutes' where id = $1",
    )
    .bind(a.agent_id)
    .execute(&s.pool)
    .await
    .unwrap();
    assert_eq!(sweep(&s.pool, &rules()).await.unwrap().agents_offline, 1);
    let rows: Vec<(Uuid, String, bool)> =
        sqlx::query_as("select id, status, is_connected from mt5_agents order by created_at")
            .fetch_all(&s.pool)
            .await
            .unwrap();
    assert!(rows.contains(&(a.agent_id, "offline".into(), false)));
    assert!(rows.contains(&(b.agent_id, "online".into(), true)));
}

#[tokio::test]
async fn an_expired_close_position_job_is_withdrawn_instead_of_handed_out() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let job: Uuid = sqlx::query_scalar(
        "insert into jobs (user_id, job_type, agent_id, input_data, expires_at) \
         values ($1, 'close_position', $2, '{\"ticket\": 5001}', now() - interval '1 second') returning id",
    )
    .bind(alice)
    .bind(a.agent_id)
    .fetch_one(&s.pool)
    .await
    .unwrap();
    let fresh = s
        .insert_job(alice, "get_account", Some(a.agent_id), json!({}))
        .await;
    // The expired close comes first in the queue, yet the agent gets the next job:
    // claim_next_job never hands out a job past its deadline (migration 0007)...
    assert_eq!(s.next(&a, 0).await.unwrap().job_id, fresh);
    let (status, _, _, _) = s.job_status(job).await;
    assert_eq!(status, "pending", "skipped by the claim, not handed out");
    // ...and the sweeper fails it with the reason.
    sweep(&s.pool, &rules()).await.unwrap();
    let (status, _, _, error) = s.job_status(job).await;
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("failed", Some(EXPIRED_REASON))
    );
}
