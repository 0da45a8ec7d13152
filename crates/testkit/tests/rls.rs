//! Row level security for every user-owned table, exercised the PostgREST way
//! (role `authenticated` + JWT claims, or role `anon` without claims).

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::*;
use companion_testkit::{as_anon, as_user, TestDb};
use uuid::Uuid;

/// Every user-owned table: (table, primary key column, harmless UPDATE set-clause,
/// users may update, users may delete).
const TABLES: &[(&str, &str, &str, bool, bool)] = &[
    ("profiles", "id", "display_name = 'x'", true, false),
    ("user_settings", "user_id", "risk_percent = 2", true, false),
    ("broker_connections", "id", "name = 'x'", true, true),
    ("mt5_agents", "id", "agent_name = 'x'", true, true),
    ("ea_projects", "id", "name = 'x'", true, true),
    ("ea_versions", "id", "source_code = 'x'", true, true),
    ("ea_deployments", "id", "error_message = 'x'", true, true),
    ("jobs", "id", "error_message = 'x'", true, true),
    ("trade_events", "id", "pair = 'GBPUSD'", false, false),
    ("tv_strategies", "id", "name = 'x'", true, true),
    ("tv_signals", "id", "error_message = 'x'", false, false),
];

async fn world() -> (TestDb, Owned, Owned) {
    let db = TestDb::new().await;
    let alice = create_owned(&db.pool, "alice@example.com").await;
    let bob = create_owned(&db.pool, "bob@example.com").await;
    (db, alice, bob)
}

#[test]
fn every_user_owned_table_is_covered() {
    // Keep TABLES in step with the schema: every public table but reference data.
    // broker_deals and broker_symbol_overrides (composite keys, no uuid id) have their
    // RLS tests beside their routes: crates/server/tests/broker_deals.rs (owner reads,
    // others see none, users cannot write) and crates/server/tests/symbols.rs;
    // agent_connections (composite key) in tests/agent_connections.rs.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = TestDb::new().await;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'
             AND tablename NOT IN ('_sqlx_migrations', 'instrument_config',
                                   'broker_deals', 'broker_symbol_overrides',
                                   'agent_connections') ORDER BY 1",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let mut covered: Vec<String> = TABLES.iter().map(|t| t.0.to_string()).collect();
        covered.sort();
        assert_eq!(tables, covered);
    });
}

#[tokio::test]
async fn a_user_sees_only_own_rows_in_every_table() {
    let (db, alice, bob) = world().await;
    for me in [&alice, &bob] {
        for (table, key, ..) in TABLES {
            let mut tx = as_user(&db.pool, me.user).await.unwrap();
            let ids: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT {key} FROM public.{table}"
            )))
            .fetch_all(&mut *tx)
            .await
            .unwrap();
            let mut ids = ids;
            ids.sort();
            let mut expected = vec![me.id(table)];
            if *table == "broker_connections" {
                expected.push(me.strategy_connection);
            }
            expected.sort();
            assert_eq!(ids, expected, "{table}");
        }
    }
}

#[tokio::test]
async fn anon_sees_no_row_of_any_table() {
    let (db, _alice, _bob) = world().await;
    for (table, ..) in TABLES {
        let mut tx = as_anon(&db.pool).await.unwrap();
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM public.{table}"
        )))
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        assert_eq!(n, 0, "{table}");
    }
}

#[tokio::test]
async fn a_user_with_no_claims_sees_nothing() {
    let (db, _alice, _bob) = world().await;
    for (table, ..) in TABLES {
        let mut tx = companion_testkit::as_role(&db.pool, "authenticated", None)
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM public.{table}"
        )))
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        assert_eq!(n, 0, "{table}");
    }
}

#[tokio::test]
async fn a_user_updates_only_own_rows() {
    let (db, alice, bob) = world().await;
    for (table, key, set, can_update, _) in TABLES {
        let sql = format!("UPDATE public.{table} SET {set} WHERE {key} = $1");
        let mut tx = as_user(&db.pool, alice.user).await.unwrap();
        let theirs = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(bob.id(table))
            .execute(&mut *tx)
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(theirs, 0, "{table}: updated another user's row");
        let mine = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(alice.id(table))
            .execute(&mut *tx)
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(mine, u64::from(*can_update), "{table}: own row");
        tx.rollback().await.unwrap();
    }
}

#[tokio::test]
async fn anon_updates_and_deletes_nothing() {
    let (db, alice, _bob) = world().await;
    for (table, key, set, ..) in TABLES {
        // No row changes: either RLS hides every row, or (mt5_agents since 0009, which
        // grants UPDATE column by column to `authenticated` only) anon lacks the privilege.
        let mut tx = as_anon(&db.pool).await.unwrap();
        match sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE public.{table} SET {set} WHERE {key} = $1"
        )))
        .bind(alice.id(table))
        .execute(&mut *tx)
        .await
        {
            Ok(done) => assert_eq!(done.rows_affected(), 0, "{table}: anon update"),
            Err(e) => {
                assert!(is_denied(&e), "{table}: {e}");
                tx.rollback().await.unwrap();
                tx = as_anon(&db.pool).await.unwrap();
            }
        }
        let n = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM public.{table} WHERE {key} = $1"
        )))
        .bind(alice.id(table))
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
        assert_eq!(n, 0, "{table}: anon delete");
    }
}

#[tokio::test]
async fn a_user_deletes_only_own_rows() {
    let (db, alice, bob) = world().await;
    for (table, key, _, _, can_delete) in TABLES {
        let sql = format!("DELETE FROM public.{table} WHERE {key} = $1");
        let mut tx = as_user(&db.pool, alice.user).await.unwrap();
        let theirs = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(bob.id(table))
            .execute(&mut *tx)
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(theirs, 0, "{table}: deleted another user's row");
        let mine = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(alice.id(table))
            .execute(&mut *tx)
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(mine, u64::from(*can_delete), "{table}: own row");
        tx.rollback().await.unwrap();
    }
}

/// An INSERT into `table` of a row owned by `owner` (referencing `owner`'s parents).
fn insert_for(table: &str, owner: &Owned) -> (String, Vec<Uuid>) {
    let u = owner.user;
    let (sql, binds): (&str, Vec<Uuid>) = match table {
        "profiles" => (
            "INSERT INTO public.profiles (id, email) VALUES ($1, 'dup-' || $1::text)",
            vec![u],
        ),
        "user_settings" => (
            "INSERT INTO public.user_settings (user_id) VALUES ($1)",
            vec![u],
        ),
        "broker_connections" => (
            "INSERT INTO public.broker_connections (user_id, broker_type, name) VALUES ($1, 'MT5_AGENT', 'n')",
            vec![u],
        ),
        "mt5_agents" => (
            "INSERT INTO public.mt5_agents (user_id, agent_name) VALUES ($1, 'n')",
            vec![u],
        ),
        "ea_projects" => (
            "INSERT INTO public.ea_projects (user_id, name) VALUES ($1, 'n')",
            vec![u],
        ),
        "ea_versions" => (
            "INSERT INTO public.ea_versions (ea_project_id, version_number) VALUES ($1, 2)",
            vec![owner.ea_project],
        ),
        "ea_deployments" => (
            "INSERT INTO public.ea_deployments (ea_version_id, mt5_agent_id) VALUES ($1, $2)",
            vec![owner.ea_version, owner.agent],
        ),
        "jobs" => (
            "INSERT INTO public.jobs (user_id, job_type) VALUES ($1, 'compile')",
            vec![u],
        ),
        "trade_events" => (
            "INSERT INTO public.trade_events (user_id, event_type) VALUES ($1, 'opened')",
            vec![u],
        ),
        "tv_strategies" => (
            "INSERT INTO public.tv_strategies (user_id, broker_connection_id, name, webhook_secret)
             VALUES ($1, $2, 'n', replace($1::text, '-', '') || 'secret02')",
            vec![u, owner.strategy_connection],
        ),
        "tv_signals" => (
            "INSERT INTO public.tv_signals (strategy_id, user_id, symbol, action, raw_payload)
             VALUES ($1, $2, 'EURUSD', 'sell', '{}')",
            vec![owner.tv_strategy, u],
        ),
        other => panic!("no insert for {other}"),
    };
    (sql.to_string(), binds)
}

async fn try_insert(
    db: &TestDb,
    as_whom: Option<Uuid>,
    table: &str,
    owner: &Owned,
) -> Result<(), sqlx::Error> {
    let mut tx = match as_whom {
        Some(u) => as_user(&db.pool, u).await?,
        None => as_anon(&db.pool).await?,
    };
    let (sql, binds) = insert_for(table, owner);
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        q = q.bind(b);
    }
    q.execute(&mut *tx).await?;
    tx.rollback().await
}

#[tokio::test]
async fn a_user_cannot_insert_rows_owned_by_someone_else() {
    let (db, alice, bob) = world().await;
    for (table, ..) in TABLES {
        let err = try_insert(&db, Some(alice.user), table, &bob)
            .await
            .expect_err(&format!("{table}: alice inserted a row owned by bob"));
        assert!(is_denied(&err), "{table}: {err}");
    }
}

#[tokio::test]
async fn anon_cannot_insert_anything() {
    let (db, alice, _bob) = world().await;
    for (table, ..) in TABLES {
        let err = try_insert(&db, None, table, &alice)
            .await
            .expect_err(&format!("{table}: anon inserted"));
        assert!(is_denied(&err), "{table}: {err}");
    }
}

#[tokio::test]
async fn a_user_can_insert_own_rows() {
    // Every table has an insert policy for the owner (profiles and settings are
    // unique per user, so those use a fresh user without them).
    let (db, alice, _bob) = world().await;
    for (table, ..) in TABLES {
        if matches!(*table, "profiles" | "user_settings") {
            continue;
        }
        try_insert(&db, Some(alice.user), table, &alice)
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
    }
    let carol = Uuid::new_v4();
    sqlx::query("INSERT INTO auth.users (id, email) VALUES ($1, 'carol@example.com')")
        .bind(carol)
        .execute(&db.pool)
        .await
        .unwrap();
    let mut tx = as_user(&db.pool, carol).await.unwrap();
    sqlx::query("INSERT INTO public.profiles (id, email) VALUES ($1, 'carol@example.com')")
        .bind(carol)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("INSERT INTO public.user_settings (user_id) VALUES ($1)")
        .bind(carol)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_user_cannot_give_a_row_to_someone_else() {
    let (db, alice, bob) = world().await;
    for table in [
        "user_settings",
        "broker_connections",
        "mt5_agents",
        "ea_projects",
        "jobs",
        "tv_strategies",
    ] {
        let key = if table == "user_settings" {
            "user_id"
        } else {
            "id"
        };
        let mut tx = as_user(&db.pool, alice.user).await.unwrap();
        let err = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE public.{table} SET user_id = $1 WHERE {key} = $2"
        )))
        .bind(bob.user)
        .bind(alice.id(table))
        .execute(&mut *tx)
        .await
        .expect_err(table);
        assert!(is_denied(&err), "{table}: {err}");
    }
    // Child tables: moving a version into another user's project.
    let mut tx = as_user(&db.pool, alice.user).await.unwrap();
    let err = sqlx::query("UPDATE public.ea_versions SET ea_project_id = $1 WHERE id = $2")
        .bind(bob.ea_project)
        .bind(alice.ea_version)
        .execute(&mut *tx)
        .await
        .expect_err("moved a version into bob's project");
    assert!(is_denied(&err), "{err}");
}

#[tokio::test]
async fn a_user_cannot_use_another_users_parent_rows() {
    let (db, alice, bob) = world().await;
    let cases: [(&str, &str, Vec<Uuid>); 3] = [
        (
            "deploy own EA onto another user's agent",
            "INSERT INTO public.ea_deployments (ea_version_id, mt5_agent_id) VALUES ($1, $2)",
            vec![alice.ea_version, bob.agent],
        ),
        (
            "strategy on another user's broker connection",
            "INSERT INTO public.tv_strategies (user_id, broker_connection_id, name, webhook_secret)
             VALUES ($1, $2, 'n', 'stolenroute00000000000000000000000000000')",
            vec![alice.user, bob.strategy_connection],
        ),
        (
            "own signal filed under another user's strategy",
            "INSERT INTO public.tv_signals (strategy_id, user_id, symbol, action, raw_payload)
             VALUES ($1, $2, 'EURUSD', 'buy', '{}')",
            vec![bob.tv_strategy, alice.user],
        ),
    ];
    for (what, sql, binds) in cases {
        let mut tx = as_user(&db.pool, alice.user).await.unwrap();
        let mut q = sqlx::query(sql);
        for b in binds {
            q = q.bind(b);
        }
        let err = q.execute(&mut *tx).await.expect_err(what);
        assert!(is_denied(&err), "{what}: {err}");
    }
}

#[tokio::test]
async fn reference_data_is_readable_but_not_writable() {
    let (db, alice, _bob) = world().await;
    for who in [Some(alice.user), None] {
        let mut tx = match who {
            Some(u) => as_user(&db.pool, u).await.unwrap(),
            None => as_anon(&db.pool).await.unwrap(),
        };
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM public.instrument_config")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(n, 8);
        let changed = sqlx::query("UPDATE public.instrument_config SET pip_size = 1")
            .execute(&mut *tx)
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(changed, 0);
        let err = sqlx::query(
            "INSERT INTO public.instrument_config VALUES ('FAKE', 1, 1, 1, 'forex', 'Fake')",
        )
        .execute(&mut *tx)
        .await
        .expect_err("inserted reference data");
        assert!(is_denied(&err), "{err}");
    }
}

#[tokio::test]
async fn users_cannot_update_signals_even_their_own() {
    // The spec: signals are immutable from the user's perspective.
    let (db, alice, _bob) = world().await;
    let mut tx = as_user(&db.pool, alice.user).await.unwrap();
    let n = sqlx::query("UPDATE public.tv_signals SET status = 'executed' WHERE id = $1")
        .bind(alice.tv_signal)
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(n, 0);
}
