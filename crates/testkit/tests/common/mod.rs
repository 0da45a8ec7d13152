//! Helpers shared by the schema test files: catalog snapshots, applying SQL files,
//! the spec's scratch database and a small world of two users' rows.
#![allow(
    clippy::unwrap_used,
    reason = "integration-test helpers: a panic is a failed test"
)]
#![allow(dead_code)]

use std::collections::BTreeMap;

use companion_testkit::{create_agent, create_user, migrations_dir, TestDb};
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

/// The spec's SQL as written (additions 1-6).
pub const SPEC_0003: &str = include_str!("../fixtures/spec_0003.sql");
/// The spec's verification queries as written.
pub const SPEC_VERIFICATION: &str = include_str!("../fixtures/spec_verification.sql");

/// Contents of `migrations/<file>`.
pub fn migration(file: &str) -> String {
    std::fs::read_to_string(migrations_dir().join(file)).expect("migration file")
}

pub const M0001: &str = "0001_supabase_compat.sql";
pub const M0002: &str = "0002_base_schema.sql";
pub const M0003: &str = "0003_v2_spec_additions.sql";
pub const M0004: &str = "0004_runtime.sql";

/// Runs a whole SQL file in one transaction (as sqlx's migrator does).
pub async fn apply_sql(pool: &PgPool, sql: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Runs the spec's file the way its author ran it on Supabase: `extensions` on the path.
pub async fn apply_spec(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL search_path = public, extensions")
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(AssertSqlSafe(SPEC_0003.to_string()))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// A scratch database with our 0001 and 0002 and then the spec's 0003 as written.
pub async fn spec_db() -> TestDb {
    let db = TestDb::empty().await;
    apply_sql(&db.pool, &migration(M0001)).await.expect("0001");
    apply_sql(&db.pool, &migration(M0002)).await.expect("0002");
    apply_spec(&db.pool).await.expect("spec 0003 applies once");
    db
}

/// Everything a re-run could change, as sorted text lines per category: functions
/// (definition, ACL, config, comment), policies, indexes, constraints, columns,
/// triggers, tables (RLS flags, ACL, comment).
pub async fn catalog_snapshot(pool: &PgPool) -> BTreeMap<&'static str, Vec<String>> {
    let queries: [(&'static str, &'static str); 7] = [
        (
            "functions",
            "SELECT format('%s.%s(%s) secdef=%s config=%s acl=%s comment=%s def=%s',
                    n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
                    p.prosecdef, p.proconfig, p.proacl, obj_description(p.oid, 'pg_proc'),
                    pg_get_functiondef(p.oid))
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname IN ('public', 'auth') AND p.prokind IN ('f', 'p')",
        ),
        (
            "policies",
            "SELECT format('%s.%s %s %s %s using=%s check=%s', tablename, policyname,
                    permissive, roles, cmd, qual, with_check)
             FROM pg_policies WHERE schemaname IN ('public', 'auth')",
        ),
        (
            "indexes",
            "SELECT format('%s.%s %s', schemaname, indexname, indexdef)
             FROM pg_indexes WHERE schemaname IN ('public', 'auth')",
        ),
        (
            "constraints",
            "SELECT format('%s %s %s %s', c.conrelid::regclass, c.conname, c.contype,
                    pg_get_constraintdef(c.oid))
             FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
             WHERE n.nspname IN ('public', 'auth')",
        ),
        (
            "columns",
            "SELECT format('%s.%s.%s %s null=%s default=%s comment=%s', c.table_schema,
                    c.table_name, c.column_name, c.data_type, c.is_nullable, c.column_default,
                    col_description(format('%I.%I', c.table_schema, c.table_name)::regclass,
                                    c.ordinal_position::int))
             FROM information_schema.columns c
             WHERE c.table_schema IN ('public', 'auth')",
        ),
        (
            "triggers",
            "SELECT pg_get_triggerdef(t.oid)
             FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid
             JOIN pg_namespace n ON n.oid = r.relnamespace
             WHERE NOT t.tgisinternal AND n.nspname IN ('public', 'auth')",
        ),
        (
            "tables",
            "SELECT format('%s.%s kind=%s rls=%s force=%s acl=%s comment=%s', n.nspname,
                    r.relname, r.relkind, r.relrowsecurity, r.relforcerowsecurity, r.relacl,
                    obj_description(r.oid, 'pg_class'))
             FROM pg_class r JOIN pg_namespace n ON n.oid = r.relnamespace
             WHERE n.nspname IN ('public', 'auth', 'extensions') AND r.relkind IN ('r', 'p', 'v')",
        ),
    ];
    let mut out = BTreeMap::new();
    for (name, q) in queries {
        let mut rows: Vec<String> = sqlx::query_scalar(q)
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("snapshot {name}: {e}"));
        rows.sort();
        out.insert(name, rows);
    }
    out
}

/// Asserts two snapshots are equal, printing the differing lines.
pub fn assert_same_snapshot(
    before: &BTreeMap<&'static str, Vec<String>>,
    after: &BTreeMap<&'static str, Vec<String>>,
) {
    for (name, rows) in before {
        let other = &after[name];
        let gone: Vec<_> = rows.iter().filter(|r| !other.contains(r)).collect();
        let new: Vec<_> = other.iter().filter(|r| !rows.contains(r)).collect();
        assert!(
            gone.is_empty() && new.is_empty(),
            "{name} changed:\n  removed: {gone:#?}\n  added: {new:#?}"
        );
    }
}

/// One row in every user-owned table for one user.
#[derive(Debug, Clone)]
pub struct Owned {
    pub user: Uuid,
    pub broker_connection: Uuid,
    pub strategy_connection: Uuid,
    pub agent: Uuid,
    pub ea_project: Uuid,
    pub ea_version: Uuid,
    pub ea_deployment: Uuid,
    pub job: Uuid,
    pub trade_event: Uuid,
    pub tv_strategy: Uuid,
    pub tv_signal: Uuid,
}

impl Owned {
    /// The id of this user's row in `table` (primary key value).
    pub fn id(&self, table: &str) -> Uuid {
        match table {
            "profiles" | "user_settings" => self.user,
            "broker_connections" => self.broker_connection,
            "mt5_agents" => self.agent,
            "ea_projects" => self.ea_project,
            "ea_versions" => self.ea_version,
            "ea_deployments" => self.ea_deployment,
            "jobs" => self.job,
            "trade_events" => self.trade_event,
            "tv_strategies" => self.tv_strategy,
            "tv_signals" => self.tv_signal,
            other => panic!("no such table {other}"),
        }
    }
}

/// Creates a user with one row in every user-owned table (superuser, no RLS).
pub async fn create_owned(pool: &PgPool, email: &str) -> Owned {
    let user = create_user(pool, email).await.unwrap();
    let agent = create_agent(pool, user, &format!("{email}-pc"))
        .await
        .unwrap();
    let broker_connection = companion_testkit::agent_broker_connection(pool, agent)
        .await
        .unwrap();
    let one = |sql: &'static str| sqlx::query_scalar::<_, Uuid>(sql);
    let strategy_connection = one(
        "INSERT INTO public.broker_connections (user_id, broker_type, name)
         VALUES ($1, 'MT5_AGENT', 'strategies') RETURNING id",
    )
    .bind(user)
    .fetch_one(pool)
    .await
    .unwrap();
    let ea_project =
        one("INSERT INTO public.ea_projects (user_id, name) VALUES ($1, 'p') RETURNING id")
            .bind(user)
            .fetch_one(pool)
            .await
            .unwrap();
    let ea_version = one(
        "INSERT INTO public.ea_versions (ea_project_id, version_number, source_code)
         VALUES ($1, 1, '// v1') RETURNING id",
    )
    .bind(ea_project)
    .fetch_one(pool)
    .await
    .unwrap();
    let ea_deployment = one(
        "INSERT INTO public.ea_deployments (ea_version_id, mt5_agent_id) VALUES ($1, $2) RETURNING id",
    )
    .bind(ea_version)
    .bind(agent)
    .fetch_one(pool)
    .await
    .unwrap();
    let job =
        one("INSERT INTO public.jobs (user_id, job_type) VALUES ($1, 'compile') RETURNING id")
            .bind(user)
            .fetch_one(pool)
            .await
            .unwrap();
    let trade_event = one(
        "INSERT INTO public.trade_events (user_id, event_type, pair) VALUES ($1, 'opened', 'EURUSD') RETURNING id",
    )
    .bind(user)
    .fetch_one(pool)
    .await
    .unwrap();
    let tv_strategy = one(
        "INSERT INTO public.tv_strategies (user_id, broker_connection_id, name, webhook_secret)
         VALUES ($1, $2, 's', $3) RETURNING id",
    )
    .bind(user)
    .bind(strategy_connection)
    .bind(format!("{}00000000", Uuid::new_v4().simple()))
    .fetch_one(pool)
    .await
    .unwrap();
    let tv_signal = one(
        "INSERT INTO public.tv_signals (strategy_id, user_id, symbol, action, raw_payload, job_id)
         VALUES ($1, $2, 'EURUSD', 'buy', '{}', $3) RETURNING id",
    )
    .bind(tv_strategy)
    .bind(user)
    .bind(job)
    .fetch_one(pool)
    .await
    .unwrap();
    Owned {
        user,
        broker_connection,
        strategy_connection,
        agent,
        ea_project,
        ea_version,
        ea_deployment,
        job,
        trade_event,
        tv_strategy,
        tv_signal,
    }
}

/// Whether an error is PostgreSQL's "insufficient privilege" / RLS violation (42501).
pub fn is_denied(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "42501")
}

/// The SQLSTATE of an error, if it came from the database.
pub fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.to_string())
}
