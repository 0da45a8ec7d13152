//! Results over real HTTP: idempotent repeats, conflicting repeats (409), fencing to
//! the claiming agent, output validation, and propagation to tv_signals (+ trade_events),
//! ea_versions and ea_deployments.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::{assert_error, completed, failed, TestServer};
use companion_protocol::ResultAck;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

fn trade_output() -> serde_json::Value {
    json!({"fill_price": 1.08512, "ticket": 5001, "order_id": 7001, "volume": 0.1})
}

#[tokio::test]
async fn an_identical_repeat_is_acknowledged_and_a_different_one_refused() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let job = s
        .insert_job(alice, "get_account", Some(a.agent_id), json!({}))
        .await;
    s.next(&a, 0).await.unwrap();
    let body = completed(
        json!({"balance": 1000.0, "equity": 1001.5, "margin_used": 0.0,
        "margin_available": 1001.5, "currency": "USD", "leverage": 100}),
    );

    let r = s.result(&a, job, &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let ack: ResultAck = r.json().await.unwrap();
    assert!(!ack.duplicate);

    let r = s.result(&a, job, &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let ack: ResultAck = r.json().await.unwrap();
    assert!(
        ack.duplicate,
        "the same result again is acknowledged as a duplicate"
    );

    let mut other = body.clone();
    other["output_data"]["balance"] = json!(999.0);
    assert_error(
        s.result(&a, job, &other).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_error(
        s.result(&a, job, &failed("boom")).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    let stored: serde_json::Value =
        sqlx::query_scalar("select output_data from jobs where id = $1")
            .bind(job)
            .fetch_one(&s.pool)
            .await
            .unwrap();
    assert_eq!(stored["balance"], 1000.0);
}

#[tokio::test]
async fn results_are_fenced_to_the_claiming_agent_and_a_running_job() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let bob = s.user("bob@example.com").await;
    let a1 = s.agent(alice, "one").await;
    let a2 = s.agent(alice, "two").await;
    let b = s.agent(bob, "bob").await;
    let job = s.insert_job(alice, "get_positions", None, json!({})).await;
    let body = completed(json!({"positions": []}));

    // Not claimed yet: refused.
    assert_error(
        s.result(&a1, job, &body).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    s.next(&a1, 0).await.unwrap();
    // Another agent of the same user: refused. Another user's agent: not found.
    assert_error(
        s.result(&a2, job, &body).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_error(
        s.result(&b, job, &body).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // A key on another agent's path: forbidden.
    let r = s
        .agent_post(
            &a2.pairing_key,
            &format!("/api/v1/agents/{}/jobs/{job}/result", a1.agent_id),
            &body,
        )
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;

    // After a re-queue by the sweeper, the old claim is dead.
    let rules = companion_server::queue::sweeper::SweepRules {
        stale_after: std::time::Duration::ZERO,
        ..Default::default()
    };
    let report = companion_server::queue::sweeper::sweep(&s.pool, &rules)
        .await
        .unwrap();
    assert_eq!(report.requeued, vec![job]);
    assert_error(
        s.result(&a1, job, &body).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_eq!(s.job_status(job).await.0, "pending");

    // Claimed again (by whichever agent), only that claim may finish it.
    let winner = if s.next(&a2, 0).await.is_some() {
        &a2
    } else {
        s.next(&a1, 0).await.unwrap();
        &a1
    };
    let loser = if winner.agent_id == a1.agent_id {
        &a2
    } else {
        &a1
    };
    assert_error(
        s.result(loser, job, &body).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_eq!(s.result(winner, job, &body).await.status(), StatusCode::OK);
    let (status, _, attempts, _) = s.job_status(job).await;
    assert_eq!((status.as_str(), attempts), ("completed", 2));
}

#[tokio::test]
async fn outputs_must_match_the_job_type() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let job = s
        .insert_job(alice, "get_account", Some(a.agent_id), json!({}))
        .await;
    s.next(&a, 0).await.unwrap();
    assert_error(
        s.result(&a, job, &completed(json!({"positions": []})))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_error(
        s.result(&a, job, &json!({"status": "completed"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_error(
        s.result(&a, job, &json!({"status": "exploded"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(
        s.job_status(job).await.0,
        "running",
        "a refused result changes nothing"
    );
}

/// A strategy, a pending signal and its trade job, as the webhook creates them.
async fn signal_with_job(
    s: &TestServer,
    user: Uuid,
    agent: Uuid,
    action: &str,
    job_type: &str,
    input: serde_json::Value,
) -> (Uuid, Uuid) {
    let bc: Uuid = sqlx::query_scalar("select broker_connection_id from mt5_agents where id = $1")
        .bind(agent)
        .fetch_one(&s.pool)
        .await
        .unwrap();
    let strategy: Uuid = sqlx::query_scalar(
        "insert into tv_strategies (user_id, broker_connection_id, name, webhook_secret) values ($1, $2, 's', $3) returning id",
    )
    .bind(user)
    .bind(bc)
    .bind(companion_server::user_api::strategies::generate_secret())
    .fetch_one(&s.pool)
    .await
    .unwrap();
    let signal: Uuid = sqlx::query_scalar(
        "insert into tv_signals (strategy_id, user_id, symbol, action, raw_payload) values ($1, $2, 'EURUSD', $3, '{}') returning id",
    )
    .bind(strategy)
    .bind(user)
    .bind(action)
    .fetch_one(&s.pool)
    .await
    .unwrap();
    let mut input = input;
    input["signal_id"] = json!(signal);
    let job: Uuid = sqlx::query_scalar(
        "insert into jobs (user_id, job_type, agent_id, entity_type, entity_id, input_data, expires_at) \
         values ($1, $2, $3, 'tv_signal', $4, $5, now() + interval '60 seconds') returning id",
    )
    .bind(user)
    .bind(job_type)
    .bind(agent)
    .bind(signal)
    .bind(input)
    .fetch_one(&s.pool)
    .await
    .unwrap();
    sqlx::query("update tv_signals set job_id = $2 where id = $1")
        .bind(signal)
        .bind(job)
        .execute(&s.pool)
        .await
        .unwrap();
    (signal, job)
}

#[derive(sqlx::FromRow, Debug)]
struct SignalRow {
    status: String,
    fill_price: Option<f64>,
    broker_order_id: Option<String>,
    error_message: Option<String>,
    resolved: bool,
}

async fn signal(s: &TestServer, id: Uuid) -> SignalRow {
    sqlx::query_as(
        "select status, fill_price::float8 as fill_price, broker_order_id, error_message, resolved_at is not null as resolved \
         from tv_signals where id = $1",
    )
    .bind(id)
    .fetch_one(&s.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_executed_trade_resolves_its_signal_and_records_a_trade_event() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let (sig, job) = signal_with_job(
        &s,
        alice,
        a.agent_id,
        "buy",
        "trade",
        json!({"symbol": "EURUSD", "side": "buy", "volume": 0.1, "sl": 1.08, "tp": 1.09}),
    )
    .await;
    let claimed = s.next(&a, 0).await.unwrap();
    assert_eq!(claimed.job_id, job);
    assert!(
        claimed.expires_at.is_some(),
        "trade jobs carry their deadline"
    );
    assert_eq!(signal(&s, sig).await.status, "pending");

    assert_eq!(
        s.result(&a, job, &completed(trade_output())).await.status(),
        StatusCode::OK
    );
    let row = signal(&s, sig).await;
    assert_eq!(row.status, "executed");
    assert_eq!(row.fill_price, Some(1.08512));
    assert_eq!(row.broker_order_id.as_deref(), Some("7001"));
    assert!(row.resolved);
    assert_eq!(row.error_message, None);

    let (pair, direction, qty, entry, ext): (String, String, f64, f64, String) = sqlx::query_as(
        "select pair, direction, quantity::float8, entry_price::float8, external_order_id from trade_events where user_id = $1",
    )
    .bind(alice)
    .fetch_one(&s.pool)
    .await
    .unwrap();
    assert_eq!(
        (pair.as_str(), direction.as_str(), qty, entry, ext.as_str()),
        ("EURUSD", "buy", 0.1, 1.08512, "5001")
    );
}

#[tokio::test]
async fn a_failed_trade_fails_its_signal_with_the_reason() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let (sig, job) = signal_with_job(
        &s,
        alice,
        a.agent_id,
        "sell",
        "trade",
        json!({"symbol": "EURUSD", "side": "sell", "risk_pct": 1.0, "sl_pips": 20}),
    )
    .await;
    s.next(&a, 0).await.unwrap();
    assert_eq!(
        s.result(&a, job, &failed("10019 not enough money"))
            .await
            .status(),
        StatusCode::OK
    );
    let row = signal(&s, sig).await;
    assert_eq!(row.status, "failed");
    assert_eq!(row.error_message.as_deref(), Some("10019 not enough money"));
    assert!(row.resolved);
    assert_eq!(row.fill_price, None);
    let events: i64 = sqlx::query_scalar("select count(*) from trade_events")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!(events, 0);
}

#[tokio::test]
async fn a_close_signal_resolves_with_the_closing_price() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let (sig, job) = signal_with_job(
        &s,
        alice,
        a.agent_id,
        "close",
        "close_position",
        json!({"symbol": "EURUSD"}),
    )
    .await;
    s.next(&a, 0).await.unwrap();
    let out = json!({"closed_price": 1.0905, "pnl": 12.5, "tickets": [5001, 5002]});
    assert_eq!(
        s.result(&a, job, &completed(out)).await.status(),
        StatusCode::OK
    );
    let row = signal(&s, sig).await;
    assert_eq!(
        (
            row.status.as_str(),
            row.fill_price,
            row.broker_order_id.as_deref()
        ),
        ("executed", Some(1.0905), Some("5001,5002"))
    );
    let pnl: f64 = sqlx::query_scalar("select profit_loss::float8 from trade_events")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!(pnl, 12.5);
}

async fn ea_version(s: &TestServer, user: Uuid) -> Uuid {
    let project: Uuid =
        sqlx::query_scalar("insert into ea_projects (user_id, name) values ($1, 'p') returning id")
            .bind(user)
            .fetch_one(&s.pool)
            .await
            .unwrap();
    sqlx::query_scalar(
        "insert into ea_versions (ea_project_id, version_number, source_code) values ($1, 1, 'void OnTick(){}') returning id",
    )
    .bind(project)
    .fetch_one(&s.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn compile_results_set_the_version_status() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let v1 = ea_version(&s, alice).await;
    let v2 = ea_version(&s, alice).await;
    let status = |v: Uuid| {
        let pool = s.pool.clone();
        async move {
            sqlx::query_as::<_, (String, Option<String>)>(
                "select status, compilation_error from ea_versions where id = $1",
            )
            .bind(v)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    // Created through the jobs API (source filled from the version).
    let mut jobs = Vec::new();
    for v in [v1, v2] {
        let r = s.user_post(alice, "/api/v1/jobs", &json!({"job_type": "compile", "agent_id": a.agent_id, "input_data": {"version_id": v}})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let view: companion_protocol::JobView = r.json().await.unwrap();
        assert_eq!(view.input_data["source"], "void OnTick(){}");
        jobs.push(view.id);
    }
    s.next(&a, 0).await.unwrap();
    assert_eq!(status(v1).await.0, "compiling");
    let ok = json!({"compiled": true, "errors": [], "warnings": [], "ex5_checksum": "ab"});
    assert_eq!(
        s.result(&a, jobs[0], &completed(ok)).await.status(),
        StatusCode::OK
    );
    assert_eq!(status(v1).await, ("compiled".to_string(), None));

    s.next(&a, 0).await.unwrap();
    let bad = json!({"compiled": false, "warnings": [], "errors": [
        {"file": "x.mq5", "line": 12, "column": 1, "code": 109, "message": "undeclared identifier"}]});
    assert_eq!(
        s.result(&a, jobs[1], &completed(bad)).await.status(),
        StatusCode::OK
    );
    let (st, err) = status(v2).await;
    assert_eq!(st, "failed");
    assert!(err
        .unwrap()
        .contains("x.mq5(12,1) : error 109: undeclared identifier"));
}

#[tokio::test]
async fn deploy_run_and_stop_results_set_the_deployment_status() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let v = ea_version(&s, alice).await;
    let dep: Uuid = sqlx::query_scalar(
        "insert into ea_deployments (ea_version_id, mt5_agent_id) values ($1, $2) returning id",
    )
    .bind(v)
    .bind(a.agent_id)
    .fetch_one(&s.pool)
    .await
    .unwrap();
    let dep_status = || {
        let pool = s.pool.clone();
        async move {
            sqlx::query_as::<_, (String, bool, bool, Option<String>)>(
                "select status, deployed_at is not null, stopped_at is not null, error_message from ea_deployments where id = $1",
            )
            .bind(dep)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let create = |job_type: &'static str, input: serde_json::Value| {
        let s = &s;
        let agent = a.agent_id;
        async move {
            let r = s
                .user_post(
                    alice,
                    "/api/v1/jobs",
                    &json!({"job_type": job_type, "agent_id": agent, "input_data": input}),
                )
                .await;
            assert_eq!(r.status(), StatusCode::CREATED, "{job_type}");
            r.json::<companion_protocol::JobView>().await.unwrap().id
        }
    };
    let deploy = create("deploy", json!({"deployment_id": dep, "version_id": v, "symbol": "EURUSD", "timeframe": "H1", "magic_number": 42})).await;
    s.next(&a, 0).await.unwrap();
    assert_eq!(dep_status().await.0, "deploying");
    s.result(
        &a,
        deploy,
        &completed(json!({"deployed": true, "chart_id": 1})),
    )
    .await;
    assert_eq!(dep_status().await, ("running".into(), true, false, None));

    let stop = create("stop", json!({"deployment_id": dep})).await;
    s.next(&a, 0).await.unwrap();
    s.result(&a, stop, &completed(json!({"stopped": true})))
        .await;
    assert_eq!(dep_status().await, ("stopped".into(), true, true, None));

    let run = create("run", json!({"deployment_id": dep})).await;
    s.next(&a, 0).await.unwrap();
    s.result(&a, run, &failed("chart closed")).await;
    assert_eq!(
        dep_status().await,
        ("failed".into(), true, true, Some("chart closed".into()))
    );
}
