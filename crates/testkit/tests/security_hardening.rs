//! Issue 17, schema side, exercised as `authenticated` the way PostgREST runs:
//! - item 3: jobs cannot point `entity_*` / `input_data.signal_id` at another user's rows;
//! - item 4: users cannot write `mt5_agents.pairing_key_hash` / `pairing_key_prefix`;
//! - item 9: foreign keys users set (`trade_events.broker_connection_id`,
//!   `ea_projects.current_version_id`, `tv_signals.job_id`) must name their own rows,
//!   and `tv_strategies.webhook_secret` has the server's format (40 base62).

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::*;
use companion_testkit::{as_user, TestDb};
use serde_json::json;
use uuid::Uuid;

async fn world() -> (TestDb, Owned, Owned) {
    let db = TestDb::new().await;
    let alice = create_owned(&db.pool, "alice@example.com").await;
    let bob = create_owned(&db.pool, "bob@example.com").await;
    (db, alice, bob)
}

/// Runs `sql` as `user` with `binds`; returns the error, panicking when it succeeds.
async fn refused(
    db: &TestDb,
    user: Uuid,
    what: &str,
    sql: &'static str,
    binds: Vec<Uuid>,
) -> sqlx::Error {
    let mut tx = as_user(&db.pool, user).await.unwrap();
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(b);
    }
    let r = q.execute(&mut *tx).await;
    tx.rollback().await.unwrap();
    match r {
        Ok(done) => panic!("{what}: accepted ({} rows)", done.rows_affected()),
        Err(e) => e,
    }
}

async fn allowed(db: &TestDb, user: Uuid, what: &str, sql: &'static str, binds: Vec<Uuid>) -> u64 {
    let mut tx = as_user(&db.pool, user).await.unwrap();
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(b);
    }
    let done = q
        .execute(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    tx.rollback().await.unwrap();
    done.rows_affected()
}

// ---------------------------------------------------------------------------
// Item 3
// ---------------------------------------------------------------------------

#[tokio::test]
async fn jobs_cannot_reference_another_users_entities_or_signals() {
    let (db, alice, bob) = world().await;
    let cases: Vec<(&str, &'static str, Vec<Uuid>)> = vec![
        (
            "insert: entity_id = bob's EA version",
            "INSERT INTO public.jobs (user_id, job_type, entity_type, entity_id) VALUES ($1, 'compile', 'ea_version', $2)",
            vec![alice.user, bob.ea_version],
        ),
        (
            "insert: entity_id = bob's deployment",
            "INSERT INTO public.jobs (user_id, job_type, entity_type, entity_id) VALUES ($1, 'deploy', 'ea_deployment', $2)",
            vec![alice.user, bob.ea_deployment],
        ),
        (
            "insert: entity_id = bob's signal",
            "INSERT INTO public.jobs (user_id, job_type, entity_type, entity_id) VALUES ($1, 'trade', 'tv_signal', $2)",
            vec![alice.user, bob.tv_signal],
        ),
        (
            "insert: input_data.signal_id = bob's signal",
            "INSERT INTO public.jobs (user_id, job_type, input_data) VALUES ($1, 'trade', jsonb_build_object('signal_id', $2::uuid))",
            vec![alice.user, bob.tv_signal],
        ),
        (
            "insert: an entity of an unknown type",
            "INSERT INTO public.jobs (user_id, job_type, entity_type, entity_id) VALUES ($1, 'compile', 'profile', $2)",
            vec![alice.user, bob.user],
        ),
        (
            "update: her job onto bob's EA version",
            "UPDATE public.jobs SET entity_type = 'ea_version', entity_id = $2 WHERE id = $1",
            vec![alice.job, bob.ea_version],
        ),
        (
            "update: her job's signal_id onto bob's signal",
            "UPDATE public.jobs SET input_data = jsonb_build_object('signal_id', $2::uuid) WHERE id = $1",
            vec![alice.job, bob.tv_signal],
        ),
    ];
    for (what, sql, binds) in cases {
        let e = refused(&db, alice.user, what, sql, binds).await;
        assert!(is_denied(&e), "{what}: {e}");
    }
    // Her own rows remain fine.
    let ok: Vec<(&str, &'static str, Vec<Uuid>)> = vec![
        (
            "own EA version",
            "INSERT INTO public.jobs (user_id, job_type, entity_type, entity_id) VALUES ($1, 'compile', 'ea_version', $2)",
            vec![alice.user, alice.ea_version],
        ),
        (
            "own deployment",
            "INSERT INTO public.jobs (user_id, job_type, entity_type, entity_id) VALUES ($1, 'deploy', 'ea_deployment', $2)",
            vec![alice.user, alice.ea_deployment],
        ),
        (
            "own signal",
            "INSERT INTO public.jobs (user_id, job_type, entity_type, entity_id, input_data) VALUES ($1, 'trade', 'tv_signal', $2, jsonb_build_object('signal_id', $2::uuid))",
            vec![alice.user, alice.tv_signal],
        ),
        (
            "no entity",
            "INSERT INTO public.jobs (user_id, job_type) VALUES ($1, 'get_account')",
            vec![alice.user],
        ),
        (
            "harmless update",
            "UPDATE public.jobs SET error_message = 'x' WHERE id = $1",
            vec![alice.job],
        ),
    ];
    for (what, sql, binds) in ok {
        assert_eq!(
            allowed(&db, alice.user, what, sql, binds).await,
            1,
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_malformed_signal_id_is_refused_not_an_error_of_the_policy() {
    let (db, alice, _bob) = world().await;
    let mut tx = as_user(&db.pool, alice.user).await.unwrap();
    let e = sqlx::query(
        "INSERT INTO public.jobs (user_id, job_type, input_data) VALUES ($1, 'trade', $2)",
    )
    .bind(alice.user)
    .bind(json!({ "signal_id": "not-a-uuid" }))
    .execute(&mut *tx)
    .await
    .expect_err("a malformed signal_id must be refused");
    assert!(is_denied(&e), "{e}");
}

// ---------------------------------------------------------------------------
// Item 4
// ---------------------------------------------------------------------------

#[tokio::test]
async fn users_cannot_write_an_agents_pairing_key_columns() {
    let (db, alice, _bob) = world().await;
    let cases: Vec<(&str, &'static str, Vec<Uuid>)> = vec![
        (
            "update pairing_key_hash",
            "UPDATE public.mt5_agents SET pairing_key_hash = '$2b$31$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0' WHERE id = $1",
            vec![alice.agent],
        ),
        (
            "update pairing_key_prefix",
            "UPDATE public.mt5_agents SET pairing_key_prefix = 'pk_AAAAA' WHERE id = $1",
            vec![alice.agent],
        ),
        (
            "insert with a chosen hash",
            "INSERT INTO public.mt5_agents (user_id, agent_name, pairing_key_hash, pairing_key_prefix) VALUES ($1, 'x', '$2b$31$x', 'pk_AAAAA')",
            vec![alice.user],
        ),
    ];
    for (what, sql, binds) in cases {
        let e = refused(&db, alice.user, what, sql, binds).await;
        assert_eq!(sqlstate(&e).as_deref(), Some("42501"), "{what}: {e}");
    }
    // The rest of her agent stays hers to edit, and she may still create one (keyless).
    assert_eq!(
        allowed(
            &db,
            alice.user,
            "rename",
            "UPDATE public.mt5_agents SET agent_name = 'renamed', terminal_server = 's' WHERE id = $1",
            vec![alice.agent]
        )
        .await,
        1
    );
    assert_eq!(
        allowed(
            &db,
            alice.user,
            "keyless insert",
            "INSERT INTO public.mt5_agents (user_id, agent_name) VALUES ($1, 'new')",
            vec![alice.user]
        )
        .await,
        1
    );
    // She can still read the prefix (the app shows it).
    let mut tx = as_user(&db.pool, alice.user).await.unwrap();
    let _: String =
        sqlx::query_scalar("SELECT pairing_key_prefix FROM public.mt5_agents WHERE id = $1")
            .bind(alice.agent)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
}

// ---------------------------------------------------------------------------
// Item 9
// ---------------------------------------------------------------------------

#[tokio::test]
async fn user_set_foreign_keys_must_name_the_users_own_rows() {
    let (db, alice, bob) = world().await;
    let cases: Vec<(&str, &'static str, Vec<Uuid>)> = vec![
        (
            "trade event filed under bob's broker connection",
            "INSERT INTO public.trade_events (user_id, broker_connection_id, event_type) VALUES ($1, $2, 'opened')",
            vec![alice.user, bob.broker_connection],
        ),
        (
            "project created on bob's version",
            "INSERT INTO public.ea_projects (user_id, name, current_version_id) VALUES ($1, 'p', $2)",
            vec![alice.user, bob.ea_version],
        ),
        (
            "project switched to bob's version",
            "UPDATE public.ea_projects SET current_version_id = $2 WHERE id = $1",
            vec![alice.ea_project, bob.ea_version],
        ),
        (
            "signal logged against bob's job",
            "INSERT INTO public.tv_signals (strategy_id, user_id, symbol, action, raw_payload, job_id) VALUES ($1, $2, 'EURUSD', 'buy', '{}', $3)",
            vec![alice.tv_strategy, alice.user, bob.job],
        ),
    ];
    for (what, sql, binds) in cases {
        let e = refused(&db, alice.user, what, sql, binds).await;
        assert!(is_denied(&e), "{what}: {e}");
    }
    let ok: Vec<(&str, &'static str, Vec<Uuid>)> = vec![
        (
            "own broker connection",
            "INSERT INTO public.trade_events (user_id, broker_connection_id, event_type) VALUES ($1, $2, 'opened')",
            vec![alice.user, alice.broker_connection],
        ),
        (
            "own version",
            "UPDATE public.ea_projects SET current_version_id = $2 WHERE id = $1",
            vec![alice.ea_project, alice.ea_version],
        ),
        (
            "own job",
            "INSERT INTO public.tv_signals (strategy_id, user_id, symbol, action, raw_payload, job_id) VALUES ($1, $2, 'EURUSD', 'buy', '{}', $3)",
            vec![alice.tv_strategy, alice.user, alice.job],
        ),
    ];
    for (what, sql, binds) in ok {
        assert_eq!(
            allowed(&db, alice.user, what, sql, binds).await,
            1,
            "{what}"
        );
    }
}

#[tokio::test]
async fn webhook_secrets_must_have_the_servers_format() {
    let (db, alice, _bob) = world().await;
    for bad in [
        "a",
        "short",
        &"a".repeat(39),
        &"a".repeat(41),
        &format!("{}-", "a".repeat(39)),
    ] {
        let mut tx = as_user(&db.pool, alice.user).await.unwrap();
        let e = sqlx::query("UPDATE public.tv_strategies SET webhook_secret = $2 WHERE id = $1")
            .bind(alice.tv_strategy)
            .bind(bad)
            .execute(&mut *tx)
            .await
            .expect_err("a malformed secret must be refused");
        assert_eq!(sqlstate(&e).as_deref(), Some("23514"), "{bad}: {e}");
    }
    // Not even the server role may store one.
    let e = sqlx::query("UPDATE public.tv_strategies SET webhook_secret = 'a' WHERE id = $1")
        .bind(alice.tv_strategy)
        .execute(&db.pool)
        .await
        .expect_err("a malformed secret must be refused for every writer");
    assert_eq!(sqlstate(&e).as_deref(), Some("23514"), "{e}");
    let good = "aZ09".repeat(10);
    let mut tx = as_user(&db.pool, alice.user).await.unwrap();
    sqlx::query("UPDATE public.tv_strategies SET webhook_secret = $2 WHERE id = $1")
        .bind(alice.tv_strategy)
        .bind(&good)
        .execute(&mut *tx)
        .await
        .expect("40 base62 characters");
}

#[tokio::test]
async fn migration_0009_replaces_malformed_secrets_and_keeps_good_ones() {
    let db = TestDb::empty().await;
    let mut files: Vec<String> = std::fs::read_dir(companion_testkit::migrations_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".sql"))
        .collect();
    files.sort();
    let m0009 = "0009_security_hardening.sql";
    for f in files.iter().take_while(|f| f.as_str() < m0009) {
        apply_sql(&db.pool, &migration(f)).await.unwrap();
    }
    let user = companion_testkit::create_user(&db.pool, "a@example.com")
        .await
        .unwrap();
    let agent = companion_testkit::create_agent(&db.pool, user, "pc")
        .await
        .unwrap();
    let conn = companion_testkit::agent_broker_connection(&db.pool, agent)
        .await
        .unwrap();
    let good = "Ab3".repeat(13) + "x";
    let mut ids = Vec::new();
    for secret in ["a", good.as_str()] {
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO public.tv_strategies (user_id, broker_connection_id, name, webhook_secret)
             VALUES ($1, $2, 's', $3) RETURNING id",
        )
        .bind(user)
        .bind(conn)
        .bind(secret)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        ids.push(id);
    }
    apply_sql(&db.pool, &migration(m0009)).await.unwrap();
    let secret = |id: Uuid| {
        sqlx::query_scalar::<_, String>(
            "SELECT webhook_secret FROM public.tv_strategies WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&db.pool)
    };
    let replaced = secret(ids[0]).await.unwrap();
    assert_eq!(replaced.len(), 40);
    assert!(
        replaced.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{replaced}"
    );
    assert_eq!(secret(ids[1]).await.unwrap(), good, "a good secret is kept");
}
