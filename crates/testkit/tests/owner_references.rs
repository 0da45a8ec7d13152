//! Migration 0006: users cannot point jobs at another user's agent, nor agents at
//! another user's broker connection, even through their own rows.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

use companion_testkit::{agent_broker_connection, as_user, create_agent, create_user, TestDb};

#[tokio::test]
async fn a_user_cannot_target_a_job_at_another_users_agent() {
    let db = TestDb::new().await;
    let alice = create_user(&db.pool, "alice@example.com").await.unwrap();
    let bob = create_user(&db.pool, "bob@example.com").await.unwrap();
    let alice_agent = create_agent(&db.pool, alice, "alice pc").await.unwrap();
    let bob_agent = create_agent(&db.pool, bob, "bob pc").await.unwrap();

    // Her own agent: allowed.
    let mut tx = as_user(&db.pool, alice).await.unwrap();
    sqlx::query(
        "INSERT INTO public.jobs (user_id, job_type, agent_id) VALUES ($1, 'get_account', $2)",
    )
    .bind(alice)
    .bind(alice_agent)
    .execute(&mut *tx)
    .await
    .expect("a job for her own agent");
    tx.commit().await.unwrap();

    // Bob's agent: refused by the policy.
    let mut tx = as_user(&db.pool, alice).await.unwrap();
    let err = sqlx::query(
        "INSERT INTO public.jobs (user_id, job_type, agent_id) VALUES ($1, 'get_account', $2)",
    )
    .bind(alice)
    .bind(bob_agent)
    .execute(&mut *tx)
    .await
    .expect_err("a job for bob's agent must be refused");
    assert!(err.to_string().contains("row-level security"), "{err}");
    tx.rollback().await.unwrap();

    // Nor can she retarget her existing job at Bob's agent.
    let mut tx = as_user(&db.pool, alice).await.unwrap();
    let err = sqlx::query("UPDATE public.jobs SET agent_id = $1 WHERE user_id = $2")
        .bind(bob_agent)
        .bind(alice)
        .execute(&mut *tx)
        .await
        .expect_err("retargeting at bob's agent must be refused");
    assert!(err.to_string().contains("row-level security"), "{err}");
    tx.rollback().await.unwrap();

    let for_bob: i64 = sqlx::query_scalar("SELECT count(*) FROM public.jobs WHERE agent_id = $1")
        .bind(bob_agent)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(for_bob, 0);
}

#[tokio::test]
async fn a_user_cannot_attach_an_agent_to_another_users_broker_connection() {
    let db = TestDb::new().await;
    let alice = create_user(&db.pool, "alice@example.com").await.unwrap();
    let bob = create_user(&db.pool, "bob@example.com").await.unwrap();
    let alice_agent = create_agent(&db.pool, alice, "alice pc").await.unwrap();
    let bob_agent = create_agent(&db.pool, bob, "bob pc").await.unwrap();
    let bob_conn = agent_broker_connection(&db.pool, bob_agent).await.unwrap();

    let mut tx = as_user(&db.pool, alice).await.unwrap();
    let err = sqlx::query(
        "INSERT INTO public.mt5_agents (user_id, broker_connection_id, agent_name) VALUES ($1, $2, 'x')",
    )
    .bind(alice)
    .bind(bob_conn)
    .execute(&mut *tx)
    .await
    .expect_err("an agent on bob's connection must be refused");
    assert!(err.to_string().contains("row-level security"), "{err}");
    tx.rollback().await.unwrap();

    let mut tx = as_user(&db.pool, alice).await.unwrap();
    let err = sqlx::query("UPDATE public.mt5_agents SET broker_connection_id = $1 WHERE id = $2")
        .bind(bob_conn)
        .bind(alice_agent)
        .execute(&mut *tx)
        .await
        .expect_err("moving her agent onto bob's connection must be refused");
    assert!(err.to_string().contains("row-level security"), "{err}");
    tx.rollback().await.unwrap();
}
