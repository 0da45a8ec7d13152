//! One test per defect of the v2 spec's SQL (DESIGN section 3). Each applies the
//! spec's SQL as written (fixtures/spec_0003.sql) to a scratch database and shows
//! the defect there, then shows that our migrations correct it. Putting the spec's
//! claim_next_job or policies back into migrations/ makes these tests fail.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::*;
use companion_testkit::{as_anon, as_role, as_user, create_agent, create_job, create_user, TestDb};
use sqlx::PgPool;
use uuid::Uuid;

struct Pair {
    alice: Uuid,
    alice_pc: Uuid,
    bob: Uuid,
    bobs_job: Uuid,
}

async fn alice_and_bob(pool: &PgPool) -> Pair {
    let alice = create_user(pool, "alice@example.com").await.unwrap();
    let bob = create_user(pool, "bob@example.com").await.unwrap();
    let alice_pc = create_agent(pool, alice, "alice-pc").await.unwrap();
    // Inserted without agent_id: the spec's and ours both have the column.
    let bobs_job = create_job(pool, bob, "trade", None).await.unwrap();
    Pair {
        alice,
        alice_pc,
        bob,
        bobs_job,
    }
}

async fn claim(pool: &PgPool, agent: Uuid) -> Option<Uuid> {
    sqlx::query_scalar("SELECT id FROM public.claim_next_job($1)")
        .bind(agent)
        .fetch_optional(pool)
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------
// Defect 1: any agent can claim any user's unassigned job.
// ---------------------------------------------------------------------------
#[tokio::test]
async fn defect1_an_agent_cannot_claim_another_users_job() {
    let spec = spec_db().await;
    let p = alice_and_bob(&spec.pool).await;
    assert_eq!(
        claim(&spec.pool, p.alice_pc).await,
        Some(p.bobs_job),
        "spec: alice's agent takes bob's trade"
    );

    let ours = TestDb::new().await;
    let p = alice_and_bob(&ours.pool).await;
    assert_eq!(claim(&ours.pool, p.alice_pc).await, None);
    let status: String = sqlx::query_scalar("SELECT status FROM public.jobs WHERE id = $1")
        .bind(p.bobs_job)
        .fetch_one(&ours.pool)
        .await
        .unwrap();
    assert_eq!(status, "pending");
    let _ = (p.alice, p.bob);
}

// ---------------------------------------------------------------------------
// Defect 2: the SECURITY DEFINER claim is executable by PUBLIC (anon, authenticated).
// ---------------------------------------------------------------------------
async fn anon_claims(pool: &PgPool, agent: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    let mut tx = as_anon(pool).await?;
    let got = sqlx::query_scalar("SELECT id FROM public.claim_next_job($1)")
        .bind(agent)
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(got)
}

#[tokio::test]
async fn defect2_anon_and_authenticated_cannot_execute_claim_next_job() {
    let spec = spec_db().await;
    let p = alice_and_bob(&spec.pool).await;
    assert_eq!(
        anon_claims(&spec.pool, p.alice_pc).await.unwrap(),
        Some(p.bobs_job),
        "spec: an anonymous caller claims (and so hides) a trade"
    );

    let ours = TestDb::new().await;
    let p = alice_and_bob(&ours.pool).await;
    let own = create_job(&ours.pool, p.alice, "trade", None)
        .await
        .unwrap();
    let err = anon_claims(&ours.pool, p.alice_pc)
        .await
        .expect_err("anon executed it");
    assert!(is_denied(&err), "{err}");
    let mut tx = as_user(&ours.pool, p.alice).await.unwrap();
    let err = sqlx::query("SELECT * FROM public.claim_next_job($1)")
        .bind(p.alice_pc)
        .execute(&mut *tx)
        .await
        .expect_err("authenticated executed it");
    assert!(is_denied(&err), "{err}");
    drop(tx);
    let mut tx = as_role(&ours.pool, "service_role", None).await.unwrap();
    let got: Option<Uuid> = sqlx::query_scalar("SELECT id FROM public.claim_next_job($1)")
        .bind(p.alice_pc)
        .fetch_optional(&mut *tx)
        .await
        .unwrap();
    assert_eq!(got, Some(own), "service_role keeps EXECUTE");
    for db in [&spec, &ours] {
        let public: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
             WHERE p.oid = 'public.claim_next_job(uuid)'::regprocedure AND a.grantee = 0)",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(public, std::ptr::eq(db, &spec), "EXECUTE granted to PUBLIC");
    }
}

// ---------------------------------------------------------------------------
// Defect 3: SECURITY DEFINER without a pinned search_path can be hijacked.
// ---------------------------------------------------------------------------
/// Plants `evil.now()`, which records who runs it, then calls the claim as
/// service_role with `evil` first on the search_path. Returns the recorded users.
async fn hijack(pool: &PgPool, agent: Uuid) -> Vec<String> {
    apply_sql(
        pool,
        "CREATE SCHEMA evil;
         CREATE TABLE evil.log (who text);
         CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql VOLATILE AS
           $$ INSERT INTO evil.log VALUES (current_user); SELECT pg_catalog.now() $$;
         GRANT USAGE ON SCHEMA evil TO service_role;",
    )
    .await
    .unwrap();
    let mut tx = as_role(pool, "service_role", None).await.unwrap();
    sqlx::query("SET LOCAL search_path = evil, pg_catalog, public")
        .execute(&mut *tx)
        .await
        .unwrap();
    let _claimed: Option<Uuid> = sqlx::query_scalar("SELECT id FROM public.claim_next_job($1)")
        .bind(agent)
        .fetch_optional(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    sqlx::query_scalar("SELECT who FROM evil.log")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn defect3_claim_next_job_pins_its_search_path() {
    let spec = spec_db().await;
    let p = alice_and_bob(&spec.pool).await;
    let ran_as = hijack(&spec.pool, p.alice_pc).await;
    assert_eq!(
        ran_as,
        vec!["postgres".to_string()],
        "spec: the caller's function ran with the definer's (superuser) rights"
    );

    let ours = TestDb::new().await;
    let p = alice_and_bob(&ours.pool).await;
    create_job(&ours.pool, p.alice, "trade", None)
        .await
        .unwrap();
    assert!(hijack(&ours.pool, p.alice_pc).await.is_empty());
    let config: Option<Vec<String>> = sqlx::query_scalar(
        "SELECT proconfig FROM pg_proc WHERE oid = 'public.claim_next_job(uuid)'::regprocedure",
    )
    .fetch_one(&ours.pool)
    .await
    .unwrap();
    // 0019 adds `companion.notify=off` (its claims are notified by the server).
    assert_eq!(
        config,
        Some(vec![
            "search_path=\"\"".to_string(),
            "companion.notify=off".to_string()
        ])
    );
}

// ---------------------------------------------------------------------------
// Defect 4: policies call auth.uid() once per row.
// ---------------------------------------------------------------------------
/// How many times auth.uid() runs while alice counts her strategies on a
/// sequential scan of 300 rows.
async fn uid_calls_for_a_scan(pool: &PgPool) -> i64 {
    let alice = create_user(pool, "alice@example.com").await.unwrap();
    let bob = create_user(pool, "bob@example.com").await.unwrap();
    for user in [alice, bob] {
        let agent = create_agent(pool, user, "pc").await.unwrap();
        let conn = companion_testkit::agent_broker_connection(pool, agent)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO public.tv_strategies (user_id, broker_connection_id, name, webhook_secret)
             SELECT $1, $2, 's' || g, replace($1::text, '-', '') || lpad(g::text, 8, '0') FROM generate_series(1, 150) g",
        )
        .bind(user)
        .bind(conn)
        .execute(pool)
        .await
        .unwrap();
    }
    let mut tx = pool.begin().await.unwrap();
    for s in [
        "SET LOCAL track_functions = 'all'",
        "SET LOCAL enable_indexscan = off",
        "SET LOCAL enable_bitmapscan = off",
        "SET LOCAL ROLE authenticated",
    ] {
        sqlx::query(s).execute(&mut *tx).await.unwrap();
    }
    sqlx::query("SELECT set_config('request.jwt.claims', $1, true)")
        .bind(companion_testkit::user_claims(alice))
        .execute(&mut *tx)
        .await
        .unwrap();
    let mine: i64 = sqlx::query_scalar("SELECT count(*) FROM public.tv_strategies")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(mine, 150);
    sqlx::query("RESET ROLE").execute(&mut *tx).await.unwrap();
    let calls: Option<i64> = sqlx::query_scalar(
        "SELECT calls FROM pg_stat_xact_user_functions WHERE schemaname = 'auth' AND funcname = 'uid'",
    )
    .fetch_optional(&mut *tx)
    .await
    .unwrap();
    calls.unwrap_or(0)
}

#[tokio::test]
async fn defect4_policies_evaluate_auth_uid_once_per_statement() {
    let spec = spec_db().await;
    let spec_calls = uid_calls_for_a_scan(&spec.pool).await;
    assert!(spec_calls >= 300, "spec: once per row, got {spec_calls}");

    let ours = TestDb::new().await;
    let our_calls = uid_calls_for_a_scan(&ours.pool).await;
    assert!(our_calls <= 2, "ours: once per statement, got {our_calls}");
}

// ---------------------------------------------------------------------------
// Defect 5: no index supports the claim.
// ---------------------------------------------------------------------------
async fn pending_partial_indexes(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'jobs'
         AND indexdef LIKE '%WHERE (status = ''pending''::text)%'",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn defect5_the_claim_uses_a_partial_index_on_pending_jobs() {
    let spec = spec_db().await;
    assert!(pending_partial_indexes(&spec.pool).await.is_empty());

    let ours = TestDb::new().await;
    assert_eq!(
        pending_partial_indexes(&ours.pool).await,
        vec!["jobs_pending_claim_idx".to_string()]
    );
    // With history piling up, the claim's lookup goes through it.
    let user = create_user(&ours.pool, "a@example.com").await.unwrap();
    let agent = create_agent(&ours.pool, user, "pc").await.unwrap();
    sqlx::query(
        "INSERT INTO public.jobs (user_id, job_type, status)
         SELECT $1, 'get_account', CASE WHEN g % 1000 = 0 THEN 'pending' ELSE 'completed' END
         FROM generate_series(1, 5000) g",
    )
    .bind(user)
    .execute(&ours.pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE public.jobs")
        .execute(&ours.pool)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN SELECT c.id FROM public.jobs c
         WHERE c.status = 'pending' AND c.user_id = '{user}'
           AND (c.agent_id IS NULL OR c.agent_id = '{agent}')
         ORDER BY c.created_at, c.id FOR UPDATE SKIP LOCKED LIMIT 1"
    )))
    .fetch_all(&ours.pool)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("jobs_pending_claim_idx"), "{plan}");
    // 0020: the index covers the whole ORDER BY, so the claim reads rows in claim
    // order and stops at the first it can lock; no sort of all pending jobs.
    assert!(!plan.contains("Sort"), "{plan}");
}

// ---------------------------------------------------------------------------
// Defect 6: the spec's file fails on a re-run (CREATE POLICY has no IF NOT EXISTS),
// and its CREATE OR REPLACE would put a weaker claim_next_job back.
// ---------------------------------------------------------------------------
#[tokio::test]
async fn defect6_rerunning_0003_succeeds_and_never_weakens() {
    let spec = spec_db().await;
    let err = apply_spec(&spec.pool)
        .await
        .expect_err("spec re-run succeeded");
    assert_eq!(sqlstate(&err).as_deref(), Some("42710"), "{err}");

    let ours = TestDb::new().await;
    let before = catalog_snapshot(&ours.pool).await;
    apply_sql(&ours.pool, &migration(M0003)).await.unwrap();
    assert_same_snapshot(&before, &catalog_snapshot(&ours.pool).await);

    // The spec's way of (re)creating the function, run over our schema, would undo
    // the corrections; the snapshot sees it, our re-run above did not do it.
    let start = SPEC_0003
        .find("CREATE OR REPLACE FUNCTION public.claim_next_job")
        .expect("addition 6");
    let weaker = TestDb::new().await;
    apply_sql(&weaker.pool, &SPEC_0003[start..]).await.unwrap();
    let p = alice_and_bob(&weaker.pool).await;
    assert_eq!(claim(&weaker.pool, p.alice_pc).await, Some(p.bobs_job));
    let after = catalog_snapshot(&weaker.pool).await;
    assert_ne!(before["functions"], after["functions"]);
}

#[tokio::test]
async fn our_0003_over_the_specs_repairs_it() {
    // A database that ran the spec's SQL first gets the corrected function,
    // policies and indexes from our 0003 (and then 0004 applies).
    let db = spec_db().await;
    apply_sql(&db.pool, &migration(M0003)).await.unwrap();
    apply_sql(&db.pool, &migration(M0004)).await.unwrap();
    let p = alice_and_bob(&db.pool).await;
    assert_eq!(claim(&db.pool, p.alice_pc).await, None);
    let weak_policies: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_policies WHERE schemaname = 'public'
         AND coalesce(qual, '') || coalesce(with_check, '') LIKE '%auth.uid()%'
         AND coalesce(qual, '') || coalesce(with_check, '') NOT LIKE '%SELECT auth.uid()%'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(weak_policies, 0);
    assert_eq!(webhook_secret_unique_indexes(&db.pool).await, 1);
    let anon_can: bool = sqlx::query_scalar(
        "SELECT has_function_privilege('anon', 'public.claim_next_job(uuid)', 'EXECUTE')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(!anon_can);
}

// ---------------------------------------------------------------------------
// Defect 7: two identical unique indexes on tv_strategies.webhook_secret.
// ---------------------------------------------------------------------------
async fn webhook_secret_unique_indexes(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_index i
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attname = 'webhook_secret'
         WHERE i.indrelid = 'public.tv_strategies'::regclass AND i.indisunique
           AND i.indnatts = 1 AND i.indkey[0] = a.attnum",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn defect7_webhook_secret_has_exactly_one_unique_index() {
    let spec = spec_db().await;
    assert_eq!(webhook_secret_unique_indexes(&spec.pool).await, 2);

    let ours = TestDb::new().await;
    assert_eq!(webhook_secret_unique_indexes(&ours.pool).await, 1);
    // Still unique.
    let user = create_user(&ours.pool, "a@example.com").await.unwrap();
    let agent = create_agent(&ours.pool, user, "pc").await.unwrap();
    let conn = companion_testkit::agent_broker_connection(&ours.pool, agent)
        .await
        .unwrap();
    let insert = || {
        sqlx::query(
            "INSERT INTO public.tv_strategies (user_id, broker_connection_id, name, webhook_secret)
             VALUES ($1, $2, 's', 'samesecret000000000000000000000000000000')",
        )
        .bind(user)
        .bind(conn)
        .execute(&ours.pool)
    };
    insert().await.unwrap();
    let err = insert().await.expect_err("duplicate secret accepted");
    assert_eq!(sqlstate(&err).as_deref(), Some("23505"));
}
