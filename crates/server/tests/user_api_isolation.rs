//! One user's strategies, signals and EA projects/versions are invisible (404) to
//! another through every route; a strategy cannot point at another user's broker
//! connection; `current_version_id` only takes a version of the same project.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod webhook_support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;
use webhook_support::{ea_project, Srv, Trader};

struct Owned {
    strategy: Uuid,
    signal: Uuid,
    project: Uuid,
    versions: Vec<Uuid>,
}

async fn setup(srv: &Srv, t: &Trader, name: &str) -> Owned {
    let (strategy, secret) = srv.strategy(t, json!({"name": name})).await;
    let (_, v) = srv.hook(&secret, "buy 0.1 EURUSD", "text/plain").await;
    let signal = v["signal_id"].as_str().unwrap().parse().unwrap();
    let (project, versions) = ea_project(srv, t.user, name, 2).await;
    Owned {
        strategy,
        signal,
        project,
        versions,
    }
}

#[tokio::test]
async fn another_users_rows_are_404_through_every_route() {
    let srv = Srv::start().await;
    let alice = srv.trader("alice@example.test").await;
    let bob = srv.trader("bob@example.test").await;
    let a = setup(&srv, &alice, "alice").await;
    let b = setup(&srv, &bob, "bob").await;
    let (s, a_v) = (a.strategy, a.versions[0]);

    let deploy = json!({"agent_id": bob.agent, "symbol": "EURUSD", "timeframe": "H1"});
    let test = json!({"agent_id": bob.agent, "symbol": "EURUSD", "timeframe": "H1",
                      "from": "2024-01-01", "to": "2024-02-01"});
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/strategies/{s}"), None),
        (
            Method::PATCH,
            format!("/api/v1/strategies/{s}"),
            Some(json!({"name": "mine now"})),
        ),
        (Method::DELETE, format!("/api/v1/strategies/{s}"), None),
        (
            Method::POST,
            format!("/api/v1/strategies/{s}/rotate-secret"),
            None,
        ),
        (Method::GET, format!("/api/v1/signals/{}", a.signal), None),
        (
            Method::GET,
            format!("/api/v1/ea-projects/{}/versions", a.project),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/ea-projects/{}/current-version", a.project),
            Some(json!({"current_version_id": a_v})),
        ),
        (
            Method::GET,
            format!("/api/v1/ea-versions/{a_v}/source"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/ea-versions/{a_v}/compile"),
            Some(json!({"agent_id": bob.agent})),
        ),
        (
            Method::POST,
            format!("/api/v1/ea-versions/{a_v}/deploy"),
            Some(deploy),
        ),
        (
            Method::POST,
            format!("/api/v1/ea-versions/{a_v}/test"),
            Some(test),
        ),
    ];
    for (method, path, body) in &routes {
        let (status, v) = srv
            .call(bob.user, method.clone(), path, body.as_ref())
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {v}");
        assert_eq!(v["code"], "not_found", "{method} {path}");
    }
    // Nothing changed or was queued by those attempts.
    let (name, secret_rotations): (String, i64) = sqlx::query_as(
        "select name, (select count(*) from jobs where user_id = $2 and job_type in ('compile','deploy','test'))
           from tv_strategies where id = $1",
    )
    .bind(s)
    .bind(bob.user)
    .fetch_one(&srv.db.pool)
    .await
    .unwrap();
    assert_eq!((name.as_str(), secret_rotations), ("alice", 0));

    // Lists show only the caller's rows, filters cannot reach across.
    let (_, list) = srv.get(bob.user, "/api/v1/strategies").await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![b.strategy.to_string().as_str()]);
    let (status, page) = srv
        .get(bob.user, &format!("/api/v1/signals?strategy_id={s}"))
        .await;
    assert_eq!(
        (status, page["items"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );
    let (_, page) = srv.get(bob.user, "/api/v1/signals").await;
    let sigs: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(sigs, vec![b.signal.to_string().as_str()]);
    let (_, projects) = srv.get(bob.user, "/api/v1/ea-projects").await;
    assert_eq!(projects.as_array().unwrap().len(), 1);
    assert_eq!(projects[0]["id"], json!(b.project));
    let (_, conns) = srv.get(bob.user, "/api/v1/broker-connections").await;
    assert_eq!(conns.as_array().unwrap().len(), 1);
    assert_eq!(conns[0]["id"], json!(bob.connection));
    assert_eq!(conns[0]["agents"][0]["id"], json!(bob.agent));

    // Alice cannot queue work on Bob's agent either.
    let (status, _) = srv
        .post(
            alice.user,
            &format!("/api/v1/ea-versions/{a_v}/compile"),
            &json!({"agent_id": bob.agent}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_strategy_cannot_point_at_another_users_broker_connection() {
    let srv = Srv::start().await;
    let alice = srv.trader("alice2@example.test").await;
    let bob = srv.trader("bob2@example.test").await;
    let (status, v) = srv
        .post(
            bob.user,
            "/api/v1/strategies",
            &json!({"name": "steal", "broker_connection_id": alice.connection}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (own, _) = srv.strategy(&bob, json!({})).await;
    let (status, _) = srv
        .call(
            bob.user,
            Method::PATCH,
            &format!("/api/v1/strategies/{own}"),
            Some(&json!({"broker_connection_id": alice.connection})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let still: Uuid =
        sqlx::query_scalar("select broker_connection_id from tv_strategies where id = $1")
            .bind(own)
            .fetch_one(&srv.db.pool)
            .await
            .unwrap();
    assert_eq!(still, bob.connection);
    let n: i64 =
        sqlx::query_scalar("select count(*) from tv_strategies where broker_connection_id = $1")
            .bind(alice.connection)
            .fetch_one(&srv.db.pool)
            .await
            .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn current_version_only_takes_a_version_of_the_same_project() {
    let srv = Srv::start().await;
    let alice = srv.trader("alice3@example.test").await;
    let bob = srv.trader("bob3@example.test").await;
    let (p1, v1) = ea_project(&srv, alice.user, "one", 2).await;
    let (_, v2) = ea_project(&srv, alice.user, "two", 1).await;
    let (_, vb) = ea_project(&srv, bob.user, "bobs", 1).await;
    let path = format!("/api/v1/ea-projects/{p1}/current-version");
    for foreign in [v2[0], vb[0], Uuid::new_v4()] {
        let (status, v) = srv
            .call(
                alice.user,
                Method::PUT,
                &path,
                Some(&json!({"current_version_id": foreign})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    }
    let current: Option<Uuid> =
        sqlx::query_scalar("select current_version_id from ea_projects where id = $1")
            .bind(p1)
            .fetch_one(&srv.db.pool)
            .await
            .unwrap();
    assert_eq!(current, None);

    let (status, v) = srv
        .call(
            alice.user,
            Method::PUT,
            &path,
            Some(&json!({"current_version_id": v1[1]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["current_version_id"], json!(v1[1]));
    assert_eq!(
        (
            v["version_count"].as_i64(),
            v["latest_version_number"].as_i64()
        ),
        (Some(2), Some(2))
    );
    let (_, versions) = srv
        .get(alice.user, &format!("/api/v1/ea-projects/{p1}/versions"))
        .await;
    let flags: Vec<(i64, bool)> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version_number"].as_i64().unwrap(),
                v["is_current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(flags, vec![(2, true), (1, false)]);
}
