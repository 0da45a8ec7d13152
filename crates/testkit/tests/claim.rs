//! claim_next_job: order, atomicity under concurrency, owner and target scoping,
//! expiry, bookkeeping and who may call it.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use std::collections::HashSet;

use common::*;
use companion_testkit::{as_anon, as_role, as_user, create_agent, create_job, create_user, TestDb};
use sqlx::PgPool;
use uuid::Uuid;

async fn claim(pool: &PgPool, agent: Uuid) -> Option<Uuid> {
    sqlx::query_scalar("SELECT id FROM public.claim_next_job($1)")
        .bind(agent)
        .fetch_optional(pool)
        .await
        .unwrap()
}

async fn job_at(pool: &PgPool, user: Uuid, job_type: &str, age_secs: i64) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO public.jobs (user_id, job_type, created_at)
         VALUES ($1, $2, now() - make_interval(secs => $3)) RETURNING id",
    )
    .bind(user)
    .bind(job_type)
    .bind(age_secs as f64)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn oldest_pending_job_first() {
    let db = TestDb::new().await;
    let user = create_user(&db.pool, "a@example.com").await.unwrap();
    let agent = create_agent(&db.pool, user, "pc").await.unwrap();
    let middle = job_at(&db.pool, user, "compile", 20).await;
    let newest = job_at(&db.pool, user, "test", 10).await;
    let oldest = job_at(&db.pool, user, "deploy", 30).await;
    let done = job_at(&db.pool, user, "run", 40).await;
    sqlx::query("UPDATE public.jobs SET status = 'completed' WHERE id = $1")
        .bind(done)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(claim(&db.pool, agent).await, Some(oldest));
    assert_eq!(claim(&db.pool, agent).await, Some(middle));
    assert_eq!(claim(&db.pool, agent).await, Some(newest));
    assert_eq!(
        claim(&db.pool, agent).await,
        None,
        "completed jobs are not claimed"
    );
}

#[tokio::test]
async fn a_claim_records_agent_time_heartbeat_and_attempt() {
    let db = TestDb::new().await;
    let user = create_user(&db.pool, "a@example.com").await.unwrap();
    let agent = create_agent(&db.pool, user, "pc").await.unwrap();
    let job = create_job(&db.pool, user, "get_account", None)
        .await
        .unwrap();
    let row: (Uuid, String, Option<Uuid>, bool, bool, i32) = sqlx::query_as(
        "SELECT id, status, agent_id, claimed_at IS NOT NULL, heartbeat_at IS NOT NULL, attempts
         FROM public.claim_next_job($1)",
    )
    .bind(agent)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(row, (job, "running".into(), Some(agent), true, true, 1));
    // Re-queued (as the server does for a stale non-trade job): the next claim is attempt 2.
    sqlx::query("UPDATE public.jobs SET status = 'pending', agent_id = NULL WHERE id = $1")
        .bind(job)
        .execute(&db.pool)
        .await
        .unwrap();
    let attempt: i32 = sqlx::query_scalar("SELECT attempts FROM public.claim_next_job($1)")
        .bind(agent)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(attempt, 2);
}

#[tokio::test]
async fn an_agent_never_receives_another_users_job() {
    let db = TestDb::new().await;
    let alice = create_user(&db.pool, "alice@example.com").await.unwrap();
    let bob = create_user(&db.pool, "bob@example.com").await.unwrap();
    let alice_pc = create_agent(&db.pool, alice, "alice-pc").await.unwrap();
    let bob_pc = create_agent(&db.pool, bob, "bob-pc").await.unwrap();
    let bobs_job = job_at(&db.pool, bob, "trade", 60).await; // older than alice's
    let alices_job = job_at(&db.pool, alice, "trade", 1).await;
    assert_eq!(claim(&db.pool, alice_pc).await, Some(alices_job));
    assert_eq!(claim(&db.pool, alice_pc).await, None);
    // Even a job of bob's explicitly targeted at alice's agent.
    create_job(&db.pool, bob, "trade", Some(alice_pc))
        .await
        .unwrap();
    assert_eq!(claim(&db.pool, alice_pc).await, None);
    assert_eq!(claim(&db.pool, bob_pc).await, Some(bobs_job));
}

#[tokio::test]
async fn a_job_targeted_at_one_agent_goes_to_no_other() {
    let db = TestDb::new().await;
    let user = create_user(&db.pool, "a@example.com").await.unwrap();
    let home = create_agent(&db.pool, user, "home").await.unwrap();
    let vps = create_agent(&db.pool, user, "vps").await.unwrap();
    let for_vps = create_job(&db.pool, user, "trade", Some(vps))
        .await
        .unwrap();
    assert_eq!(claim(&db.pool, home).await, None);
    let untargeted = create_job(&db.pool, user, "get_positions", None)
        .await
        .unwrap();
    assert_eq!(claim(&db.pool, home).await, Some(untargeted));
    assert_eq!(claim(&db.pool, vps).await, Some(for_vps));
}

#[tokio::test]
async fn an_unknown_agent_receives_nothing() {
    let db = TestDb::new().await;
    let user = create_user(&db.pool, "a@example.com").await.unwrap();
    create_job(&db.pool, user, "compile", None).await.unwrap();
    assert_eq!(claim(&db.pool, Uuid::new_v4()).await, None);
}

#[tokio::test]
async fn expired_trade_jobs_are_skipped() {
    let db = TestDb::new().await;
    let user = create_user(&db.pool, "a@example.com").await.unwrap();
    let agent = create_agent(&db.pool, user, "pc").await.unwrap();
    let expired: Uuid = sqlx::query_scalar(
        "INSERT INTO public.jobs (user_id, job_type, expires_at, created_at)
         VALUES ($1, 'trade', now() - interval '1 second', now() - interval '2 minutes') RETURNING id",
    )
    .bind(user)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let fresh: Uuid = sqlx::query_scalar(
        "INSERT INTO public.jobs (user_id, job_type, expires_at, created_at)
         VALUES ($1, 'trade', now() + interval '1 minute', now() - interval '1 minute') RETURNING id",
    )
    .bind(user)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(claim(&db.pool, agent).await, Some(fresh));
    assert_eq!(claim(&db.pool, agent).await, None);
    let status: String = sqlx::query_scalar("SELECT status FROM public.jobs WHERE id = $1")
        .bind(expired)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        status, "pending",
        "left for the server to fail with a reason"
    );
}

#[tokio::test]
async fn anon_and_authenticated_cannot_execute_it() {
    let db = TestDb::new().await;
    let user = create_user(&db.pool, "a@example.com").await.unwrap();
    let agent = create_agent(&db.pool, user, "pc").await.unwrap();
    let job = create_job(&db.pool, user, "compile", None).await.unwrap();

    let mut tx = as_anon(&db.pool).await.unwrap();
    let err = sqlx::query("SELECT * FROM public.claim_next_job($1)")
        .bind(agent)
        .execute(&mut *tx)
        .await
        .expect_err("anon executed claim_next_job");
    assert!(is_denied(&err), "{err}");
    drop(tx);

    // Not even the agent's owner through the user API.
    let mut tx = as_user(&db.pool, user).await.unwrap();
    let err = sqlx::query("SELECT * FROM public.claim_next_job($1)")
        .bind(agent)
        .execute(&mut *tx)
        .await
        .expect_err("authenticated executed claim_next_job");
    assert!(is_denied(&err), "{err}");
    drop(tx);

    let mut tx = as_role(&db.pool, "service_role", None).await.unwrap();
    let got: Option<Uuid> = sqlx::query_scalar("SELECT id FROM public.claim_next_job($1)")
        .bind(agent)
        .fetch_optional(&mut *tx)
        .await
        .unwrap();
    assert_eq!(got, Some(job), "service_role keeps EXECUTE");

    for (role, expected) in [
        ("anon", false),
        ("authenticated", false),
        ("service_role", true),
    ] {
        let can: bool = sqlx::query_scalar(
            "SELECT has_function_privilege($1, 'public.claim_next_job(uuid)', 'EXECUTE')",
        )
        .bind(role)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(can, expected, "{role}");
    }
}

#[tokio::test]
async fn eight_concurrent_claimers_share_a_thousand_jobs_without_duplicates() {
    let db = TestDb::new().await;
    let user = create_user(&db.pool, "a@example.com").await.unwrap();
    sqlx::query(
        "INSERT INTO public.jobs (user_id, job_type, created_at)
         SELECT $1, 'get_candles', now() - make_interval(secs => g)
         FROM generate_series(1, 1000) g",
    )
    .bind(user)
    .execute(&db.pool)
    .await
    .unwrap();
    let mut agents = Vec::new();
    for i in 0..8 {
        agents.push(
            create_agent(&db.pool, user, &format!("pc{i}"))
                .await
                .unwrap(),
        );
    }
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .min_connections(8)
        .connect(&db.url)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for agent in agents.clone() {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(id) = claim(&pool, agent).await {
                got.push(id);
            }
            (agent, got)
        }));
    }
    let mut all = Vec::new();
    let mut per_agent = Vec::new();
    for t in tasks {
        let (agent, got) = t.await.unwrap();
        per_agent.push(got.len());
        // Every claimed row names its claimer.
        let owners: Vec<Uuid> =
            sqlx::query_scalar("SELECT DISTINCT agent_id FROM public.jobs WHERE id = ANY($1)")
                .bind(&got)
                .fetch_all(&db.pool)
                .await
                .unwrap();
        if !got.is_empty() {
            assert_eq!(owners, vec![agent]);
        }
        all.extend(got);
    }
    let unique: HashSet<Uuid> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "a job was handed out twice");
    assert_eq!(
        all.len(),
        1000,
        "every job was claimed (per claimer: {per_agent:?})"
    );
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM public.jobs WHERE status <> 'running' OR attempts <> 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(left, 0);
    println!("claims per claimer: {per_agent:?}");
}

#[tokio::test]
async fn expired_close_position_jobs_are_skipped_too() {
    // 0007: any job with a passed deadline is never handed out, not only `trade`.
    let db = TestDb::new().await;
    let user = create_user(&db.pool, "a@example.com").await.unwrap();
    let agent = create_agent(&db.pool, user, "pc").await.unwrap();
    let expired: Uuid = sqlx::query_scalar(
        "INSERT INTO public.jobs (user_id, job_type, expires_at, created_at)
         VALUES ($1, 'close_position', now() - interval '1 second', now() - interval '2 minutes')
         RETURNING id",
    )
    .bind(user)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let open: Uuid = sqlx::query_scalar(
        "INSERT INTO public.jobs (user_id, job_type, created_at)
         VALUES ($1, 'get_account', now() - interval '1 minute') RETURNING id",
    )
    .bind(user)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(claim(&db.pool, agent).await, Some(open));
    assert_eq!(claim(&db.pool, agent).await, None);
    let status: String = sqlx::query_scalar("SELECT status FROM public.jobs WHERE id = $1")
        .bind(expired)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        status, "pending",
        "left for the sweeper to fail with a reason"
    );
}
