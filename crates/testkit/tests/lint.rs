//! Supabase-splinter-style lints over the migrated schema: each query lists
//! offending objects and must return nothing. Each lint is also run against the
//! spec's SQL as written, to show it finds real problems (it is not vacuous).

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::*;
use companion_testkit::TestDb;
use sqlx::PgPool;

/// (lint name, query returning one text row per offending object).
const LINTS: &[(&str, &str)] = &[
    (
        "security_definer_function_executable",
        "SELECT p.oid::regprocedure::text FROM pg_proc p
         JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE p.prosecdef
           AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'extensions')
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
           AND (has_function_privilege('anon', p.oid, 'EXECUTE')
                OR has_function_privilege('authenticated', p.oid, 'EXECUTE'))",
    ),
    (
        "function_search_path_mutable",
        "SELECT p.oid::regprocedure::text FROM pg_proc p
         JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname IN ('public', 'auth')
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
           AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) c
                           WHERE c LIKE 'search\\_path=%')",
    ),
    (
        "rls_disabled_in_public",
        "SELECT c.oid::regclass::text FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
           AND c.relname <> '_sqlx_migrations' AND NOT c.relrowsecurity",
    ),
    (
        "rls_enabled_no_policy",
        "SELECT c.oid::regclass::text FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relrowsecurity
           AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)",
    ),
    (
        "policy_exists_rls_disabled",
        "SELECT DISTINCT c.oid::regclass::text FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
         WHERE NOT c.relrowsecurity",
    ),
    (
        "auth_rls_initplan",
        "SELECT format('%s.%s', tablename, policyname) FROM pg_policies
         WHERE schemaname = 'public'
           AND (   (qual ~ 'auth\\.(uid|jwt|role)\\(\\)' AND qual !~* 'select\\s+auth\\.(uid|jwt|role)\\(\\)')
                OR (with_check ~ 'auth\\.(uid|jwt|role)\\(\\)' AND with_check !~* 'select\\s+auth\\.(uid|jwt|role)\\(\\)')
                OR qual ~ 'current_setting\\(' OR with_check ~ 'current_setting\\(')",
    ),
    (
        "unindexed_foreign_keys",
        "SELECT format('%s.%s', c.conrelid::regclass, c.conname) FROM pg_constraint c
         WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
           AND NOT EXISTS (
             SELECT 1 FROM pg_index i
             WHERE i.indrelid = c.conrelid AND i.indpred IS NULL
               AND (SELECT array_agg(k ORDER BY k)
                    FROM unnest((string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(c.conkey)]) k)
                 = (SELECT array_agg(k ORDER BY k) FROM unnest(c.conkey) k))",
    ),
    (
        "duplicate_index",
        "SELECT format('%s: %s', i.indrelid::regclass, string_agg(i.indexrelid::regclass::text, ', '))
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
         WHERE c.relnamespace = 'public'::regnamespace
         GROUP BY i.indrelid, i.indkey::text, i.indclass::text, i.indcollation::text,
                  coalesce(pg_get_expr(i.indexprs, i.indrelid), ''),
                  coalesce(pg_get_expr(i.indpred, i.indrelid), '')
         HAVING count(*) > 1",
    ),
    (
        "multiple_permissive_policies",
        "SELECT format('%s %s %s', p.tablename, r.role, p.cmd) FROM pg_policies p,
              unnest(p.roles) r(role)
         WHERE p.schemaname = 'public' AND p.permissive = 'PERMISSIVE'
         GROUP BY p.tablename, r.role, p.cmd HAVING count(*) > 1",
    ),
    (
        "extension_in_public",
        "SELECT e.extname::text FROM pg_extension e
         WHERE e.extnamespace = 'public'::regnamespace",
    ),
    (
        "anon_or_authenticated_can_write_without_policy",
        // A table where anon/authenticated hold INSERT/UPDATE/DELETE but RLS is off.
        "SELECT c.oid::regclass::text FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
           AND c.relname <> '_sqlx_migrations' AND NOT c.relrowsecurity
           AND (has_table_privilege('anon', c.oid, 'INSERT, UPDATE, DELETE')
                OR has_table_privilege('authenticated', c.oid, 'INSERT, UPDATE, DELETE'))",
    ),
    (
        "server_only_columns_writable_by_users",
        // Columns only the server may write (issue 17, item 4: a user who writes the
        // bcrypt hash of their agent's key chooses the cost the server pays per check).
        "SELECT format('%s.%s by %s', c.tbl, c.col, r.role)
         FROM (VALUES ('mt5_agents', 'pairing_key_hash'), ('mt5_agents', 'pairing_key_prefix')) c(tbl, col)
         CROSS JOIN (VALUES ('anon'), ('authenticated')) r(role)
         WHERE to_regclass('public.' || c.tbl) IS NOT NULL
           AND (has_column_privilege(r.role, ('public.' || c.tbl)::regclass, c.col, 'INSERT')
                OR has_column_privilege(r.role, ('public.' || c.tbl)::regclass, c.col, 'UPDATE'))",
    ),
];

async fn run_lint(pool: &PgPool, query: &'static str) -> Vec<String> {
    let mut rows: Vec<String> = sqlx::query_scalar(query)
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    rows.sort();
    rows
}

#[tokio::test]
async fn the_schema_passes_every_lint() {
    let db = TestDb::new().await;
    let mut failures = Vec::new();
    for (name, query) in LINTS {
        let rows = run_lint(&db.pool, query).await;
        if !rows.is_empty() {
            failures.push(format!("{name}: {rows:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "lint findings:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn the_lints_find_the_specs_defects() {
    let spec = spec_db().await;
    let mut found = std::collections::BTreeMap::new();
    for (name, query) in LINTS {
        found.insert(*name, run_lint(&spec.pool, query).await);
    }
    assert_eq!(
        found["security_definer_function_executable"],
        vec!["claim_next_job(uuid)".to_string()]
    );
    assert_eq!(
        found["function_search_path_mutable"],
        vec!["claim_next_job(uuid)".to_string()]
    );
    assert_eq!(
        found["auth_rls_initplan"].len(),
        6,
        "{:?}",
        found["auth_rls_initplan"]
    );
    assert_eq!(
        found["unindexed_foreign_keys"],
        vec![
            "ea_projects.ea_projects_current_version_id_fkey".to_string(),
            "tv_signals.tv_signals_job_id_fkey".to_string(),
            "tv_strategies.tv_strategies_broker_connection_id_fkey".to_string(),
        ]
    );
    assert_eq!(
        found["server_only_columns_writable_by_users"],
        vec![
            "mt5_agents.pairing_key_hash by anon".to_string(),
            "mt5_agents.pairing_key_hash by authenticated".to_string(),
            "mt5_agents.pairing_key_prefix by anon".to_string(),
            "mt5_agents.pairing_key_prefix by authenticated".to_string(),
        ]
    );
    assert_eq!(
        found["duplicate_index"].len(),
        1,
        "{:?}",
        found["duplicate_index"]
    );
}

#[tokio::test]
async fn the_lints_notice_a_table_without_rls() {
    let db = TestDb::new().await;
    apply_sql(
        &db.pool,
        "CREATE TABLE public.lint_probe (id uuid PRIMARY KEY, user_id uuid REFERENCES public.profiles(id))",
    )
    .await
    .unwrap();
    let lints: std::collections::BTreeMap<_, _> = LINTS.iter().copied().collect();
    assert_eq!(
        run_lint(&db.pool, lints["rls_disabled_in_public"]).await,
        vec!["lint_probe".to_string()]
    );
    assert_eq!(
        run_lint(&db.pool, lints["unindexed_foreign_keys"]).await,
        vec!["lint_probe.lint_probe_user_id_fkey".to_string()]
    );
    assert_eq!(
        run_lint(
            &db.pool,
            lints["anon_or_authenticated_can_write_without_policy"]
        )
        .await,
        vec!["lint_probe".to_string()]
    );
    apply_sql(
        &db.pool,
        "ALTER TABLE public.lint_probe ENABLE ROW LEVEL SECURITY",
    )
    .await
    .unwrap();
    assert_eq!(
        run_lint(&db.pool, lints["rls_enabled_no_policy"]).await,
        vec!["lint_probe".to_string()]
    );
}
