//! Migration 0017: `agent_connections` (which broker connections an agent serves) under
//! RLS, its backfill from `mt5_agents.broker_connection_id`, and
//! `jobs.broker_connection_id` (owner check, defaults from the signal's strategy,
//! targeting of the agent serving the connection).

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::*;
use companion_testkit::{as_anon, as_user, TestDb};
use uuid::Uuid;

const M0017: &str = "0017_agent_connections.sql";

/// Binds `connection` to `agent` as the server does (server role, bypassing RLS).
async fn bind(db: &TestDb, o: &Owned, connection: Uuid, login: &str) {
    sqlx::query(
        "INSERT INTO public.agent_connections (agent_id, broker_connection_id, user_id, login, server, last_seen)
         VALUES ($1, $2, $3, $4, 'Srv', now())",
    )
    .bind(o.agent)
    .bind(connection)
    .bind(o.user)
    .bind(login)
    .execute(&db.pool)
    .await
    .unwrap();
}

async fn world() -> (TestDb, Owned, Owned) {
    let db = TestDb::new().await;
    let alice = create_owned(&db.pool, "alice@example.com").await;
    let bob = create_owned(&db.pool, "bob@example.com").await;
    bind(&db, &alice, alice.strategy_connection, "1001").await;
    bind(&db, &bob, bob.strategy_connection, "2001").await;
    (db, alice, bob)
}

#[tokio::test]
async fn the_migration_binds_existing_agents_to_their_pairing_connection_and_reruns() {
    let (db, alice, _bob) = world().await;
    // Agents created after the migration ran have no row for their pairing connection
    // yet; running 0017 again (it is re-runnable) backfills exactly that one row.
    apply_sql(&db.pool, &migration(M0017)).await.unwrap();
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT agent_id, broker_connection_id FROM public.agent_connections
          WHERE user_id = $1 ORDER BY login NULLS FIRST",
    )
    .bind(alice.user)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            (alice.agent, alice.broker_connection),
            (alice.agent, alice.strategy_connection)
        ]
    );
    apply_sql(&db.pool, &migration(M0017)).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM public.agent_connections")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        n, 4,
        "two users, two rows each, nothing doubled by a re-run"
    );
}

#[tokio::test]
async fn a_user_sees_only_own_agent_connections_and_anon_none() {
    let (db, alice, bob) = world().await;
    for me in [&alice, &bob] {
        let mut tx = as_user(&db.pool, me.user).await.unwrap();
        let rows: Vec<(Uuid, Uuid)> =
            sqlx::query_as("SELECT agent_id, broker_connection_id FROM public.agent_connections")
                .fetch_all(&mut *tx)
                .await
                .unwrap();
        assert_eq!(rows, vec![(me.agent, me.strategy_connection)]);
    }
    let mut tx = as_anon(&db.pool).await.unwrap();
    let err = sqlx::query("SELECT 1 FROM public.agent_connections")
        .fetch_all(&mut *tx)
        .await
        .expect_err("anon reads agent_connections");
    assert!(is_denied(&err), "{err}");
}

#[tokio::test]
async fn users_cannot_insert_or_update_agent_connections_even_their_own() {
    let (db, alice, bob) = world().await;
    // Bob binds his agent to Alice's connection; Bob writes a row of his own: both refused.
    for (agent, connection, owner) in [
        (bob.agent, alice.broker_connection, bob.user),
        (bob.agent, bob.broker_connection, bob.user),
        (alice.agent, alice.broker_connection, alice.user),
    ] {
        let mut tx = as_user(&db.pool, bob.user).await.unwrap();
        let err = sqlx::query(
            "INSERT INTO public.agent_connections (agent_id, broker_connection_id, user_id)
             VALUES ($1, $2, $3)",
        )
        .bind(agent)
        .bind(connection)
        .bind(owner)
        .execute(&mut *tx)
        .await
        .expect_err("a user inserted into agent_connections");
        assert!(is_denied(&err), "{err}");
    }
    let mut tx = as_user(&db.pool, bob.user).await.unwrap();
    let err = sqlx::query("UPDATE public.agent_connections SET login = 'x'")
        .execute(&mut *tx)
        .await
        .expect_err("a user updated agent_connections");
    assert!(is_denied(&err), "{err}");
}

#[tokio::test]
async fn a_user_deletes_only_own_agent_connections() {
    let (db, alice, bob) = world().await;
    let mut tx = as_user(&db.pool, bob.user).await.unwrap();
    let done = sqlx::query("DELETE FROM public.agent_connections WHERE agent_id = $1")
        .bind(alice.agent)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 0, "bob deleted alice's binding");
    let done = sqlx::query("DELETE FROM public.agent_connections WHERE agent_id = $1")
        .bind(bob.agent)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_job_may_name_only_the_users_own_connection() {
    let (db, alice, bob) = world().await;
    let mut tx = as_user(&db.pool, bob.user).await.unwrap();
    let err = sqlx::query(
        "INSERT INTO public.jobs (user_id, job_type, broker_connection_id) VALUES ($1, 'get_account', $2)",
    )
    .bind(bob.user)
    .bind(alice.strategy_connection)
    .execute(&mut *tx)
    .await
    .expect_err("bob queued a job for alice's account");
    assert!(is_denied(&err), "{err}");
    drop(tx);
    let mut tx = as_user(&db.pool, bob.user).await.unwrap();
    let err = sqlx::query("UPDATE public.jobs SET broker_connection_id = $1 WHERE id = $2")
        .bind(alice.strategy_connection)
        .bind(bob.job)
        .execute(&mut *tx)
        .await
        .expect_err("bob pointed his job at alice's account");
    assert!(is_denied(&err), "{err}");
}

#[tokio::test]
async fn a_job_for_a_connection_is_targeted_at_the_agent_serving_it() {
    let (db, alice, _bob) = world().await;
    // A second agent of Alice's, serving only its own pairing connection.
    let other = companion_testkit::create_agent(&db.pool, alice.user, "alice-pc-2")
        .await
        .unwrap();
    let mut tx = as_user(&db.pool, alice.user).await.unwrap();
    let (agent, connection): (Option<Uuid>, Option<Uuid>) = sqlx::query_as(
        "INSERT INTO public.jobs (user_id, job_type, broker_connection_id) VALUES ($1, 'get_account', $2)
         RETURNING agent_id, broker_connection_id",
    )
    .bind(alice.user)
    .bind(alice.strategy_connection)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(connection, Some(alice.strategy_connection));
    assert_eq!(
        agent,
        Some(alice.agent),
        "not {other}, which does not serve it"
    );
}

#[tokio::test]
async fn a_signals_job_is_for_its_strategys_connection() {
    let (db, alice, _bob) = world().await;
    let signal: Uuid = sqlx::query_scalar(
        "INSERT INTO public.tv_signals (strategy_id, user_id, symbol, action, raw_payload)
         VALUES ($1, $2, 'EURUSD', 'buy', '{}') RETURNING id",
    )
    .bind(alice.tv_strategy)
    .bind(alice.user)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let connection: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO public.jobs (user_id, job_type, agent_id, entity_type, entity_id, input_data)
         VALUES ($1, 'trade', $2, 'tv_signal', $3, '{}') RETURNING broker_connection_id",
    )
    .bind(alice.user)
    .bind(alice.agent)
    .bind(signal)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(connection, Some(alice.strategy_connection));
}
