//! The HTTP surface: the jobs API for users (validation per type, reading a result,
//! listing), JSON errors everywhere, `/healthz`, the OpenAPI document, prices.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::{assert_error, completed, TestServer};
use companion_protocol::{JobStatus, JobType, JobView};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn users_create_validated_jobs_and_read_their_results() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let post = |body: serde_json::Value| {
        let s = &s;
        async move { s.user_post(alice, "/api/v1/jobs", &body).await }
    };

    let bad = [
        json!({"job_type": "trade", "agent_id": a.agent_id, "input_data": {"symbol": "EURUSD", "side": "buy", "volume": 1}}),
        json!({"job_type": "get_candles", "agent_id": a.agent_id, "input_data": {"symbol": "EURUSD", "timeframe": "M7", "count": 5}}),
        json!({"job_type": "get_candles", "agent_id": a.agent_id, "input_data": {"symbol": "EURUSD", "timeframe": "M5", "count": 0}}),
        json!({"job_type": "close_position", "agent_id": a.agent_id, "input_data": {}}),
        json!({"job_type": "get_account", "agent_id": a.agent_id, "input_data": {"x": 1}}),
        json!({"job_type": "test", "agent_id": a.agent_id, "input_data": {"version_id": a.agent_id, "symbol": "EURUSD",
            "timeframe": "H1", "from": "2024-13-01", "to": "2024-02-01", "deposit": 1000, "leverage": 100}}),
        json!({"job_type": "explode", "agent_id": a.agent_id}),
        json!({"job_type": "get_account"}),
    ];
    for body in bad {
        assert_error(
            post(body.clone()).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
    }
    let r = post(json!({"job_type": "run", "agent_id": a.agent_id, "input_data": {"deployment_id": a.agent_id}})).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let count: i64 = sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "refused jobs are not queued");

    let r = post(json!({"job_type": "get_candles", "agent_id": a.agent_id,
        "input_data": {"symbol": "EURUSD", "timeframe": "M5", "count": 3}}))
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: JobView = r.json().await.unwrap();
    assert_eq!(
        (created.job_type, created.status, created.agent_id),
        (JobType::GetCandles, JobStatus::Pending, Some(a.agent_id))
    );
    let r = post(json!({"job_type": "close_position", "agent_id": a.agent_id, "input_data": {"ticket": 5001}})).await;
    let close: JobView = r.json().await.unwrap();
    assert!(
        close.expires_at.is_some(),
        "closing positions is trading: it has a deadline"
    );

    let claimed = s.next(&a, 0).await.unwrap();
    assert_eq!(claimed.job_id, created.id);
    let out = json!({"candles": [{"time": 1700000000, "open": 1.0, "high": 1.1, "low": 0.9, "close": 1.05, "volume": 10.0}]});
    assert_eq!(
        s.result(&a, created.id, &completed(out.clone()))
            .await
            .status(),
        StatusCode::OK
    );

    let view: JobView = s
        .user_get(alice, &format!("/api/v1/jobs/{}", created.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view.status, JobStatus::Completed);
    assert_eq!(view.output_data, Some(out));
    assert_eq!(view.attempts, 1);
    assert!(view.claimed_at.is_some() && view.completed_at.is_some());

    let list: Vec<JobView> = s
        .user_get(alice, "/api/v1/jobs?limit=10")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![close.id, created.id]
    );
    let one: Vec<JobView> = s
        .user_get(alice, "/api/v1/jobs?limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_error(
        s.user_get(alice, "/api/v1/jobs?limit=0").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn every_error_is_json() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    assert_error(
        s.http.get(s.url("/nope")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let r = s
        .http
        .delete(s.url("/api/v1/jobs"))
        .bearer_auth(s.jwt(alice))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_error(r, StatusCode::METHOD_NOT_ALLOWED, "not_found").await;
    let r = s
        .http
        .post(s.url("/api/v1/jobs"))
        .bearer_auth(s.jwt(alice))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let r = s
        .http
        .post(s.url("/api/v1/jobs"))
        .bearer_auth(s.jwt(alice))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["code"].is_string());
    assert_error(
        s.user_get(alice, "/api/v1/jobs/not-a-uuid").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let r = s
        .http
        .post(s.url(&format!("/api/v1/agents/{}/prices", a.agent_id)))
        .header("X-Agent-Key", &a.pairing_key)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn healthz_and_the_openapi_document_cover_every_route() {
    let s = TestServer::start().await;
    let r = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: serde_json::Value = s
        .http
        .get(s.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/healthz", "get"),
        ("/api/v1/agents/pair", "post"),
        ("/api/v1/agents/me", "get"),
        ("/api/v1/agents", "get"),
        ("/api/v1/agents/{id}", "delete"),
        ("/api/v1/agents/{id}/rotate-key", "post"),
        ("/api/v1/agents/{id}/jobs/next", "get"),
        ("/api/v1/agents/{id}/jobs/{job_id}/result", "post"),
        ("/api/v1/agents/{id}/heartbeat", "post"),
        ("/api/v1/agents/{id}/prices", "post"),
        ("/api/v1/jobs", "get"),
        ("/api/v1/jobs", "post"),
        ("/api/v1/jobs/{id}", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    for schema in [
        "ClaimedJob",
        "JobResultRequest",
        "ApiErrorBody",
        "JobView",
        "AgentView",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "schema {schema} missing"
        );
    }
}

#[tokio::test]
async fn prices_reach_the_owners_event_subscribers_only() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let mut rx = s.state.events.subscribe();
    let body = json!({"prices": [{"symbol": "EURUSD", "bid": 1.1, "ask": 1.1002, "time": "2026-01-01T00:00:00Z"}]});
    let r = s
        .agent_post(
            &a.pairing_key,
            &format!("/api/v1/agents/{}/prices", a.agent_id),
            &body,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let event = loop {
        match rx.recv().await.unwrap() {
            companion_server::hub::HubEvent::Prices(p) => break p,
            _ => continue,
        }
    };
    assert_eq!((event.user_id, event.agent_id), (alice, a.agent_id));
    assert_eq!(s.state.prices.snapshot(alice)[0].ask, 1.1002);
    assert!(s.state.prices.snapshot(uuid::Uuid::new_v4()).is_empty());
}

#[tokio::test]
async fn row_changes_reach_the_event_hub_through_the_single_listener() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let mut rx = s.state.events.subscribe();
    let job = s.insert_job(alice, "get_account", None, json!({})).await;
    let change = loop {
        match rx.recv().await.unwrap() {
            companion_server::hub::HubEvent::Change(c) if c.kind == "job" => break c,
            _ => continue,
        }
    };
    assert_eq!((change.id, change.user_id), (job, alice));
}
