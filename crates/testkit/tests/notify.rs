//! NOTIFY triggers of 0004: `companion_jobs` when a job becomes pending,
//! `companion_events` for job, signal and agent changes.
//! Absence of a notification is shown without timing: a sentinel NOTIFY sent
//! afterwards must be the next one received (delivery keeps commit order).

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::*;
use companion_testkit::{as_user, create_agent, create_job, create_user, TestDb};
use serde_json::{json, Value};
use sqlx::postgres::PgListener;
use sqlx::PgPool;

async fn next(listener: &mut PgListener) -> (String, Value) {
    let n = listener.recv().await.unwrap();
    let payload = serde_json::from_str(n.payload()).unwrap_or(Value::String(n.payload().into()));
    (n.channel().to_string(), payload)
}

async fn sentinel(pool: &PgPool, channel: &str) {
    sqlx::query("SELECT pg_notify($1, 'sentinel')")
        .bind(channel)
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_job_becoming_pending_wakes_agents() {
    let db = TestDb::new().await;
    let user = create_user(&db.pool, "a@example.com").await.unwrap();
    let agent = create_agent(&db.pool, user, "pc").await.unwrap();
    let mut l = PgListener::connect(&db.url).await.unwrap();
    l.listen("companion_jobs").await.unwrap();

    let job = create_job(&db.pool, user, "trade", Some(agent))
        .await
        .unwrap();
    assert_eq!(
        next(&mut l).await,
        (
            "companion_jobs".into(),
            json!({"job_id": job, "user_id": user, "agent_id": agent})
        )
    );

    // Claimed (pending -> running): no wake-up.
    sqlx::query("SELECT * FROM public.claim_next_job($1)")
        .bind(agent)
        .execute(&db.pool)
        .await
        .unwrap();
    sentinel(&db.pool, "companion_jobs").await;
    assert_eq!(next(&mut l).await.1, json!("sentinel"));

    // Re-queued (running -> pending): wake-up again.
    sqlx::query("UPDATE public.jobs SET status = 'pending', agent_id = NULL WHERE id = $1")
        .bind(job)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        next(&mut l).await.1,
        json!({"job_id": job, "user_id": user, "agent_id": null})
    );

    // A job inserted already finished: no wake-up.
    sqlx::query(
        "INSERT INTO public.jobs (user_id, job_type, status) VALUES ($1, 'compile', 'completed')",
    )
    .bind(user)
    .execute(&db.pool)
    .await
    .unwrap();
    sentinel(&db.pool, "companion_jobs").await;
    assert_eq!(next(&mut l).await.1, json!("sentinel"));
}

#[tokio::test]
async fn jobs_written_by_a_user_under_rls_also_notify() {
    // The platform's web app writes jobs as `authenticated`; agents must still wake.
    let db = TestDb::new().await;
    let user = create_user(&db.pool, "a@example.com").await.unwrap();
    let mut l = PgListener::connect(&db.url).await.unwrap();
    l.listen("companion_jobs").await.unwrap();
    let mut tx = as_user(&db.pool, user).await.unwrap();
    let job: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO public.jobs (user_id, job_type) VALUES ($1, 'get_account') RETURNING id",
    )
    .bind(user)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        next(&mut l).await.1,
        json!({"job_id": job, "user_id": user, "agent_id": null})
    );
}

#[tokio::test]
async fn job_signal_and_agent_changes_feed_the_event_stream() {
    let db = TestDb::new().await;
    let mut l = PgListener::connect(&db.url).await.unwrap();
    l.listen("companion_events").await.unwrap();

    let alice = create_owned(&db.pool, "alice@example.com").await;
    // create_owned inserts, in order: agent, job, signal (other tables are silent).
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next(&mut l).await.1);
    }
    assert_eq!(
        seen,
        vec![
            json!({"kind": "agent", "id": alice.agent, "user_id": alice.user, "op": "insert"}),
            json!({"kind": "job", "id": alice.job, "user_id": alice.user, "op": "insert"}),
            json!({"kind": "signal", "id": alice.tv_signal, "user_id": alice.user, "op": "insert"}),
        ]
    );

    sqlx::query("UPDATE public.tv_signals SET status = 'executed' WHERE id = $1")
        .bind(alice.tv_signal)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        next(&mut l).await.1,
        json!({"kind": "signal", "id": alice.tv_signal, "user_id": alice.user, "op": "update"})
    );
    sqlx::query("UPDATE public.mt5_agents SET status = 'online' WHERE id = $1")
        .bind(alice.agent)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        next(&mut l).await.1,
        json!({"kind": "agent", "id": alice.agent, "user_id": alice.user, "op": "update"})
    );
    // Tables outside the stream stay quiet.
    sqlx::query("UPDATE public.ea_projects SET name = 'renamed' WHERE id = $1")
        .bind(alice.ea_project)
        .execute(&db.pool)
        .await
        .unwrap();
    sentinel(&db.pool, "companion_events").await;
    assert_eq!(next(&mut l).await.1, json!("sentinel"));
}

#[tokio::test]
async fn a_signal_dedup_key_is_unique_per_strategy() {
    let db = TestDb::new().await;
    let alice = create_owned(&db.pool, "alice@example.com").await;
    let bob = create_owned(&db.pool, "bob@example.com").await;
    let insert = |strategy: uuid::Uuid, user: uuid::Uuid, key: Option<&'static str>| {
        sqlx::query(
            "INSERT INTO public.tv_signals (strategy_id, user_id, symbol, action, raw_payload, dedup_key)
             VALUES ($1, $2, 'EURUSD', 'buy', '{}', $3)",
        )
        .bind(strategy)
        .bind(user)
        .bind(key)
        .execute(&db.pool)
    };
    insert(alice.tv_strategy, alice.user, Some("k1"))
        .await
        .unwrap();
    let err = insert(alice.tv_strategy, alice.user, Some("k1"))
        .await
        .expect_err("same key twice");
    assert_eq!(sqlstate(&err).as_deref(), Some("23505"));
    insert(bob.tv_strategy, bob.user, Some("k1")).await.unwrap();
    insert(alice.tv_strategy, alice.user, None).await.unwrap();
    insert(alice.tv_strategy, alice.user, None).await.unwrap();
}
