//! Migrations: apply on an empty database, re-runs change nothing, the spec's own
//! verification queries, auth.uid() semantics.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::*;
use companion_testkit::{migrations_dir, TestDb};

#[tokio::test]
async fn all_migrations_apply_on_an_empty_database() {
    let db = TestDb::empty().await;
    let migrator = sqlx::migrate::Migrator::new(migrations_dir())
        .await
        .unwrap();
    migrator.run(&db.pool).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'
         AND tablename <> '_sqlx_migrations' ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        tables,
        [
            "agent_connections",
            "broker_connections",
            "broker_deals",
            "broker_symbol_overrides",
            "ea_deployments",
            "ea_projects",
            "ea_versions",
            "instrument_config",
            "jobs",
            "mt5_agents",
            "profiles",
            "trade_events",
            "tv_signals",
            "tv_strategies",
            "user_settings"
        ]
    );
    let instruments: i64 = sqlx::query_scalar("SELECT count(*) FROM public.instrument_config")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(instruments, 8, "seven majors and XAUUSD");
}

#[tokio::test]
async fn migrator_on_a_test_database_has_nothing_left_to_do() {
    // Servers run the migrator at startup against TestDb databases.
    let db = TestDb::new().await;
    let before = catalog_snapshot(&db.pool).await;
    let migrator = sqlx::migrate::Migrator::new(migrations_dir())
        .await
        .unwrap();
    migrator.run(&db.pool).await.unwrap();
    assert_same_snapshot(&before, &catalog_snapshot(&db.pool).await);
}

#[tokio::test]
async fn rerunning_0003_raises_nothing_and_changes_nothing() {
    let db = TestDb::new().await;
    let before = catalog_snapshot(&db.pool).await;
    apply_sql(&db.pool, &migration(M0003))
        .await
        .expect("second run of 0003");
    apply_sql(&db.pool, &migration(M0003))
        .await
        .expect("third run of 0003");
    let after = catalog_snapshot(&db.pool).await;
    assert_same_snapshot(&before, &after);
    // In particular the final claim_next_job of 0004 is still there.
    let def: String = sqlx::query_scalar(
        "SELECT pg_get_functiondef('public.claim_next_job(uuid)'::regprocedure)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(
        def.contains("heartbeat_at"),
        "0004's version must survive: {def}"
    );
}

#[tokio::test]
async fn rerunning_0003_right_after_itself_changes_nothing() {
    // The spec's promise, on a database that stops at 0003.
    let db = TestDb::empty().await;
    for m in [M0001, M0002, M0003] {
        apply_sql(&db.pool, &migration(m)).await.unwrap();
    }
    let before = catalog_snapshot(&db.pool).await;
    apply_sql(&db.pool, &migration(M0003)).await.unwrap();
    assert_same_snapshot(&before, &catalog_snapshot(&db.pool).await);
}

#[tokio::test]
async fn rerunning_0001_changes_nothing() {
    let db = TestDb::new().await;
    let before = catalog_snapshot(&db.pool).await;
    apply_sql(&db.pool, &migration(M0001)).await.unwrap();
    assert_same_snapshot(&before, &catalog_snapshot(&db.pool).await);
}

#[tokio::test]
async fn rerunning_0003_keeps_data() {
    let db = TestDb::new().await;
    let alice = create_owned(&db.pool, "alice@example.com").await;
    apply_sql(&db.pool, &migration(M0003)).await.unwrap();
    let job_type: String = sqlx::query_scalar("SELECT job_type FROM public.jobs WHERE id = $1")
        .bind(alice.job)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(job_type, "compile");
    let signals: i64 = sqlx::query_scalar("SELECT count(*) FROM public.tv_signals")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(signals, 1);
}

fn verification_queries() -> Vec<&'static str> {
    let qs: Vec<&str> = SPEC_VERIFICATION
        .split(';')
        .map(str::trim)
        .filter(|q| {
            q.lines()
                .any(|l| !l.trim().is_empty() && !l.trim().starts_with("--"))
        })
        .collect();
    assert_eq!(qs.len(), 3, "the spec has three verification queries");
    qs
}

#[tokio::test]
async fn spec_verification_new_columns() {
    let db = TestDb::new().await;
    let rows: Vec<(String, String, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(verification_queries()[0].to_string()))
            .fetch_all(&db.pool)
            .await
            .unwrap();
    // information_schema columns are of domain types; compare as text.
    let rows: Vec<(String, String, String)> = rows;
    assert_eq!(
        rows,
        vec![
            ("current_version_id".into(), "uuid".into(), "YES".into()),
            ("agent_id".into(), "uuid".into(), "YES".into()),
            (
                "claimed_at".into(),
                "timestamp with time zone".into(),
                "YES".into()
            ),
            ("pairing_key_hash".into(), "text".into(), "NO".into()),
            ("pairing_key_prefix".into(), "text".into(), "NO".into()),
        ]
    );
}

#[tokio::test]
async fn spec_verification_new_tables_have_row_security() {
    let db = TestDb::new().await;
    let mut rows: Vec<(String, bool)> =
        sqlx::query_as(sqlx::AssertSqlSafe(verification_queries()[1].to_string()))
            .fetch_all(&db.pool)
            .await
            .unwrap();
    rows.sort();
    assert_eq!(
        rows,
        vec![("tv_signals".into(), true), ("tv_strategies".into(), true)]
    );
}

#[tokio::test]
async fn spec_verification_job_type_check_lists_the_seeds_ten_types_and_0013s_two() {
    let db = TestDb::new().await;
    let rows: Vec<(String, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(verification_queries()[2].to_string()))
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let (_, def) = rows
        .iter()
        .find(|(name, _)| name == "jobs_job_type_check")
        .expect("jobs_job_type_check is listed");
    let mut listed: Vec<String> = def
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    listed.sort();
    let mut expected = vec![
        "compile",
        "deploy",
        "run",
        "stop",
        "test",
        "trade",
        "get_positions",
        "get_account",
        "get_candles",
        "close_position",
        // Migration 0013 (issue #14) adds two, keeping the seed's ten.
        "modify_position",
        "cancel_orders",
    ];
    expected.sort();
    assert_eq!(listed, expected, "{def}");
    // And the constraint really admits them (and nothing else).
    let user = companion_testkit::create_user(&db.pool, "t@example.com")
        .await
        .unwrap();
    for t in &expected {
        companion_testkit::create_job(&db.pool, user, t, None)
            .await
            .unwrap_or_else(|e| panic!("{t}: {e}"));
    }
    let bad = companion_testkit::create_job(&db.pool, user, "launch_missiles", None).await;
    assert_eq!(
        bad.as_ref().err().and_then(sqlstate).as_deref(),
        Some("23514")
    );
}

async fn uid_with(
    db: &TestDb,
    settings: &[(&str, &str)],
) -> Result<Option<uuid::Uuid>, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    for (k, v) in settings {
        sqlx::query("SELECT set_config($1, $2, true)")
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("SET LOCAL ROLE authenticated")
        .execute(&mut *tx)
        .await?;
    let uid = sqlx::query_scalar("SELECT auth.uid()")
        .fetch_one(&mut *tx)
        .await;
    tx.rollback().await?;
    uid
}

#[tokio::test]
async fn auth_uid_reads_claims_and_is_null_without_them() {
    let db = TestDb::new().await;
    let id = uuid::Uuid::new_v4();
    assert_eq!(uid_with(&db, &[]).await.unwrap(), None, "never set");
    assert_eq!(
        uid_with(&db, &[("request.jwt.claims", "")]).await.unwrap(),
        None,
        "empty setting"
    );
    assert_eq!(
        uid_with(&db, &[("request.jwt.claims", r#"{"role":"anon"}"#)])
            .await
            .unwrap(),
        None,
        "claims without sub"
    );
    assert_eq!(
        uid_with(&db, &[("request.jwt.claims", r#"{"sub":""}"#)])
            .await
            .unwrap(),
        None,
        "empty sub"
    );
    assert_eq!(
        uid_with(
            &db,
            &[("request.jwt.claims", &format!(r#"{{"sub":"{id}"}}"#))]
        )
        .await
        .unwrap(),
        Some(id)
    );
    assert_eq!(
        uid_with(&db, &[("request.jwt.claim.sub", &id.to_string())])
            .await
            .unwrap(),
        Some(id),
        "legacy per-claim setting"
    );
}

#[tokio::test]
async fn uuid_defaults_work_for_every_role_search_path() {
    // extensions.uuid_generate_v4() must resolve whatever the caller's search_path.
    let db = TestDb::new().await;
    let user = companion_testkit::create_user(&db.pool, "p@example.com")
        .await
        .unwrap();
    let mut tx = companion_testkit::as_user(&db.pool, user).await.unwrap();
    sqlx::query("SET LOCAL search_path = ''")
        .execute(&mut *tx)
        .await
        .unwrap();
    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO public.ea_projects (user_id, name) VALUES ($1, 'x') RETURNING id",
    )
    .bind(user)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(id.get_version_num(), 4);
}

/// Collects the server notices sqlx reports (as tracing events) on this thread.
mod notices {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::Layer;

    #[derive(Clone, Default)]
    pub struct Collected(pub Arc<Mutex<Vec<String>>>);

    struct Message<'a>(&'a mut String);

    impl Visit for Message<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0.push_str(&format!("{value:?}"));
            }
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "message" {
                self.0.push_str(value);
            }
        }
    }

    impl<S: tracing::Subscriber> Layer<S> for Collected {
        fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
            if event.metadata().target() == "sqlx::postgres::notice" {
                let mut text = format!("{}: ", event.metadata().level());
                event.record(&mut Message(&mut text));
                self.0.lock().unwrap().push(text);
            }
        }
    }

    /// Installs the collector for the current thread until the guard drops.
    pub fn collect() -> (Collected, tracing::subscriber::DefaultGuard) {
        let c = Collected::default();
        let guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(c.clone()));
        (c, guard)
    }
}

#[tokio::test]
async fn rerunning_0003_prints_nothing() {
    use sqlx::Connection;
    let db = TestDb::new().await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let (seen, _guard) = notices::collect();

    // The collector works: a notice raised on this connection is seen.
    sqlx::raw_sql("DO $$ BEGIN RAISE NOTICE 'probe'; END $$")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(seen.0.lock().unwrap().len(), 1, "{:?}", seen.0);
    seen.0.lock().unwrap().clear();

    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(migration(M0003)))
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(
        seen.0.lock().unwrap().is_empty(),
        "re-run of 0003 raised: {:?}",
        seen.0.lock().unwrap()
    );
    // The file leaves the session's message level as it found it.
    let level: String = sqlx::query_scalar("SHOW client_min_messages")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(level, "notice");
}
