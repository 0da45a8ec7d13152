//! Issue 17, item 3: a signed-in user who writes `jobs` directly (PostgREST: role
//! `authenticated` + `request.jwt.claims`) points `entity_id` / `input_data.signal_id`
//! at another tenant's rows. Two defences, each tested on every path:
//! - the schema refuses the write (`as_user` insert fails with a row-level security error);
//! - the server, which bypasses RLS, scopes every update it makes for a job by the job's
//!   owner, so even a job that got in anyway (inserted here by the superuser) leaves the
//!   other tenant's rows unchanged: at claim (EA version marked `compiling`), on the
//!   result (signal marked `executed`, EA version marked `failed`) and in the sweeper
//!   (pending signal failed).

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::*;
use companion_server::queue::sweeper::{sweep, SweepRules};
use companion_testkit::as_user;
use serde_json::{json, Value};
use uuid::Uuid;

/// Bob's rows that Alice targets.
struct Victim {
    version: Uuid,
    signal: Uuid,
}

async fn victim(s: &TestServer, bob: Uuid) -> Victim {
    let bob_agent = s.agent(bob, "bob pc").await;
    let project: Uuid =
        sqlx::query_scalar("insert into ea_projects (user_id, name) values ($1, 'p') returning id")
            .bind(bob)
            .fetch_one(&s.pool)
            .await
            .unwrap();
    let version: Uuid = sqlx::query_scalar(
        "insert into ea_versions (ea_project_id, version_number, source_code) values ($1, 1, 'src') returning id",
    )
    .bind(project)
    .fetch_one(&s.pool)
    .await
    .unwrap();
    let strategy: Uuid = sqlx::query_scalar(
        "insert into tv_strategies (user_id, broker_connection_id, name, webhook_secret) \
         values ($1, $2, 's', $3) returning id",
    )
    .bind(bob)
    .bind(bob_agent_connection(s, bob_agent.agent_id).await)
    .bind(companion_server::user_api::strategies::generate_secret())
    .fetch_one(&s.pool)
    .await
    .unwrap();
    let signal: Uuid = sqlx::query_scalar(
        "insert into tv_signals (strategy_id, user_id, symbol, action, raw_payload) \
         values ($1, $2, 'EURUSD', 'buy', '{}') returning id",
    )
    .bind(strategy)
    .bind(bob)
    .fetch_one(&s.pool)
    .await
    .unwrap();
    Victim { version, signal }
}

async fn bob_agent_connection(s: &TestServer, agent: Uuid) -> Uuid {
    sqlx::query_scalar("select broker_connection_id from mt5_agents where id = $1")
        .bind(agent)
        .fetch_one(&s.pool)
        .await
        .unwrap()
}

/// A job row Alice wants in `jobs`.
struct Forged {
    user: Uuid,
    agent: Uuid,
    job_type: &'static str,
    entity_type: &'static str,
    entity_id: Uuid,
    input: Value,
    expires_in_secs: i64,
}

const INSERT: &str = "insert into public.jobs \
     (user_id, job_type, agent_id, entity_type, entity_id, input_data, expires_at) \
     values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7)) returning id";

/// Alice writes the job the PostgREST way. `Ok(id)` when the schema let it in,
/// `Err(message)` when it refused.
async fn insert_as_user(s: &TestServer, f: &Forged) -> Result<Uuid, String> {
    let mut tx = as_user(&s.pool, f.user).await.unwrap();
    let r: Result<Uuid, sqlx::Error> = sqlx::query_scalar(INSERT)
        .bind(f.user)
        .bind(f.job_type)
        .bind(f.agent)
        .bind(f.entity_type)
        .bind(f.entity_id)
        .bind(&f.input)
        .bind(f.expires_in_secs as f64)
        .fetch_one(&mut *tx)
        .await;
    match r {
        Ok(id) => {
            tx.commit().await.unwrap();
            Ok(id)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The same row written by a writer that bypasses RLS (to test the server's own scoping).
async fn insert_as_server(s: &TestServer, f: &Forged) -> Uuid {
    sqlx::query_scalar(INSERT)
        .bind(f.user)
        .bind(f.job_type)
        .bind(f.agent)
        .bind(f.entity_type)
        .bind(f.entity_id)
        .bind(&f.input)
        .bind(f.expires_in_secs as f64)
        .fetch_one(&s.pool)
        .await
        .unwrap()
}

/// Tries the user's write; returns the job to exercise the server with and whether
/// the schema refused the user's write.
async fn forge(s: &TestServer, f: &Forged) -> (Uuid, Option<String>) {
    match insert_as_user(s, f).await {
        Ok(id) => (id, None),
        Err(refusal) => (insert_as_server(s, f).await, Some(refusal)),
    }
}

fn assert_refused_by_schema(refusal: Option<String>) {
    let refusal = refusal.expect("the schema let a user point a job at another tenant's row");
    assert!(
        refusal.contains("row-level security") || refusal.contains("another user"),
        "{refusal}"
    );
}

async fn version_row(s: &TestServer, id: Uuid) -> (String, Option<String>) {
    sqlx::query_as("select status, compilation_error from ea_versions where id = $1")
        .bind(id)
        .fetch_one(&s.pool)
        .await
        .unwrap()
}

async fn signal_row(s: &TestServer, id: Uuid) -> (String, Option<f64>, Option<String>, bool) {
    sqlx::query_as(
        "select status, fill_price::float8, error_message, resolved_at is not null from tv_signals where id = $1",
    )
    .bind(id)
    .fetch_one(&s.pool)
    .await
    .unwrap()
}

fn compile_job(user: Uuid, agent: Uuid, version: Uuid) -> Forged {
    Forged {
        user,
        agent,
        job_type: "compile",
        entity_type: "ea_version",
        entity_id: version,
        input: json!({ "version_id": version, "source": "int OnInit() { return 0; }" }),
        expires_in_secs: 3600,
    }
}

fn trade_job(user: Uuid, agent: Uuid, signal: Uuid, expires_in_secs: i64) -> Forged {
    Forged {
        user,
        agent,
        job_type: "trade",
        entity_type: "tv_signal",
        entity_id: signal,
        input: json!({ "symbol": "EURUSD", "side": "buy", "volume": 0.01, "signal_id": signal }),
        expires_in_secs,
    }
}

#[tokio::test]
async fn a_claim_never_marks_another_tenants_ea_version_compiling() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let bob = s.user("bob@example.com").await;
    let alice_agent = s.agent(alice, "alice pc").await;
    let v = victim(&s, bob).await;

    let (job, refusal) = forge(&s, &compile_job(alice, alice_agent.agent_id, v.version)).await;
    let claimed = s.next(&alice_agent, 0).await.expect("alice's agent claims");
    assert_eq!(claimed.job_id, job);
    assert_eq!(version_row(&s, v.version).await, ("draft".into(), None));
    assert_refused_by_schema(refusal);
}

#[tokio::test]
async fn a_result_never_marks_another_tenants_signal_executed() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let bob = s.user("bob@example.com").await;
    let alice_agent = s.agent(alice, "alice pc").await;
    let v = victim(&s, bob).await;

    let (job, refusal) = forge(&s, &trade_job(alice, alice_agent.agent_id, v.signal, 60)).await;
    let claimed = s.next(&alice_agent, 0).await.expect("alice's agent claims");
    assert_eq!(claimed.job_id, job);
    let r = s
        .result(
            &alice_agent,
            job,
            &completed(json!({ "fill_price": 1.2345, "ticket": 1, "order_id": 1, "volume": 0.01 })),
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert_eq!(
        signal_row(&s, v.signal).await,
        ("pending".into(), None, None, false),
        "bob's signal must stay untouched"
    );
    assert_refused_by_schema(refusal);
}

#[tokio::test]
async fn a_result_never_marks_another_tenants_ea_version_failed() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let bob = s.user("bob@example.com").await;
    let alice_agent = s.agent(alice, "alice pc").await;
    let v = victim(&s, bob).await;

    let (job, refusal) = forge(&s, &compile_job(alice, alice_agent.agent_id, v.version)).await;
    s.next(&alice_agent, 0).await.expect("alice's agent claims");
    let r = s.result(&alice_agent, job, &failed("attacker text")).await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert_eq!(version_row(&s, v.version).await, ("draft".into(), None));
    assert_refused_by_schema(refusal);
}

#[tokio::test]
async fn the_sweeper_never_fails_another_tenants_pending_signal() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let bob = s.user("bob@example.com").await;
    let alice_agent = s.agent(alice, "alice pc").await;
    let v = victim(&s, bob).await;

    // Already expired: the sweeper fails it without any agent involved.
    let (job, refusal) = forge(&s, &trade_job(alice, alice_agent.agent_id, v.signal, -5)).await;
    let report = sweep(&s.pool, &SweepRules::default()).await.unwrap();
    assert!(report.expired.contains(&job), "{report:?}");
    assert_eq!(
        signal_row(&s, v.signal).await,
        ("pending".into(), None, None, false),
        "bob's signal must stay pending"
    );
    assert_refused_by_schema(refusal);
}

#[tokio::test]
async fn a_users_own_references_still_work() {
    // The owner's own compile job still marks their own version (no over-blocking).
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let alice_agent = s.agent(alice, "alice pc").await;
    let own = victim(&s, alice).await;
    let job = insert_as_user(&s, &compile_job(alice, alice_agent.agent_id, own.version))
        .await
        .expect("a job on her own version is allowed");
    let claimed = s.next(&alice_agent, 0).await.expect("claimed");
    assert_eq!(claimed.job_id, job);
    assert_eq!(version_row(&s, own.version).await.0, "compiling");
    let r = s.result(&alice_agent, job, &failed("syntax error")).await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert_eq!(
        version_row(&s, own.version).await,
        ("failed".into(), Some("syntax error".into()))
    );
}
