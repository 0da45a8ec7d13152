//! Strategies through the user API: create with a generated secret and webhook URL,
//! validation, update (absent = unchanged, null = clear), rotate, delete; broker
//! connections list; signals with keyset pagination and filters; EA job queueing.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod webhook_support;

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;
use webhook_support::{ea_project, Srv, PUBLIC_BASE};

#[tokio::test]
async fn strategy_lifecycle() {
    let srv = Srv::start().await;
    let t = srv.trader("crud@example.test").await;
    let (status, s) = srv
        .post(
            t.user,
            "/api/v1/strategies",
            &json!({
                "name": "  Breakout  ", "broker_connection_id": t.connection,
                "allowed_pairs": ["OANDA:EURUSD", "eurusd", "XAUUSD.m"], "risk_override_pct": 1.5
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    assert_eq!(s["name"], "Breakout");
    assert_eq!(s["allowed_pairs"], json!(["EURUSD", "XAUUSD"]));
    assert_eq!(s["risk_override_pct"], json!(1.5));
    assert_eq!(s["is_enabled"], true);
    let url = s["webhook_url"].as_str().unwrap();
    let prefix = format!("{PUBLIC_BASE}/api/v1/webhooks/tv/");
    let secret = url
        .strip_prefix(&prefix)
        .expect("webhook URL from PUBLIC_BASE_URL");
    assert!(
        secret.len() >= 32 && secret.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{secret}"
    );
    let id = s["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/strategies/{id}");

    // Validation.
    for bad in [
        json!({"name": "", "broker_connection_id": t.connection}),
        json!({"name": "x", "broker_connection_id": t.connection, "risk_override_pct": 0.05}),
        json!({"name": "x", "broker_connection_id": t.connection, "risk_override_pct": 10.5}),
        json!({"name": "x", "broker_connection_id": t.connection, "allowed_pairs": ["{{ticker}}"]}),
        json!({"name": "x"}),
    ] {
        let (status, v) = srv.post(t.user, "/api/v1/strategies", &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert_eq!(v["code"], "invalid_request");
    }

    // Update: only what is given changes; null clears.
    let (status, u) = srv
        .call(
            t.user,
            Method::PATCH,
            &path,
            Some(&json!({"is_enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (u["is_enabled"].as_bool(), u["risk_override_pct"].as_f64()),
        (Some(false), Some(1.5))
    );
    assert_eq!(u["allowed_pairs"], json!(["EURUSD", "XAUUSD"]));
    let (_, u) = srv
        .call(
            t.user,
            Method::PATCH,
            &path,
            Some(&json!({"name": "Renamed", "allowed_pairs": null, "risk_override_pct": null})),
        )
        .await;
    assert_eq!(
        (
            u["name"].as_str(),
            &u["allowed_pairs"],
            &u["risk_override_pct"]
        ),
        (Some("Renamed"), &Value::Null, &Value::Null)
    );
    let (_, u) = srv
        .call(
            t.user,
            Method::PATCH,
            &path,
            Some(&json!({"allowed_pairs": ["gbp/usd"], "risk_override_pct": 3})),
        )
        .await;
    assert_eq!(
        (&u["allowed_pairs"], u["risk_override_pct"].as_f64()),
        (&json!(["GBPUSD"]), Some(3.0))
    );
    assert_eq!(u["webhook_url"], s["webhook_url"]);
    let (status, _) = srv
        .call(
            t.user,
            Method::PATCH,
            &path,
            Some(&json!({"risk_override_pct": 20})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let second = srv.bare_connection(t.user).await;
    let (_, u) = srv
        .call(
            t.user,
            Method::PATCH,
            &path,
            Some(&json!({"broker_connection_id": second, "is_enabled": true})),
        )
        .await;
    assert_eq!(u["broker_connection_id"], json!(second));

    // Rotate: the old URL stops working, the new one works.
    let (status, r) = srv
        .post(t.user, &format!("{path}/rotate-secret"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let new_secret = r["webhook_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(new_secret, secret);
    let (status, _) = srv.hook(secret, "buy GBPUSD", "text/plain").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, v) = srv.hook(&new_secret, "buy GBPUSD", "text/plain").await;
    assert_eq!(status, StatusCode::OK);
    // (no agent on the new connection)
    assert!(v["reason"].as_str().unwrap().starts_with("no_agent"));

    // List and get.
    let (_, list) = srv.get(t.user, "/api/v1/strategies").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (status, one) = srv.get(t.user, &path).await;
    assert_eq!(
        (status, &one["webhook_url"]),
        (StatusCode::OK, &r["webhook_url"])
    );

    // Delete takes the signal log with it.
    let (status, body) = srv.call(t.user, Method::DELETE, &path, None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, _) = srv.get(t.user, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let left: i64 = sqlx::query_scalar("select count(*) from tv_signals where strategy_id = $1")
        .bind(Uuid::parse_str(&id).unwrap())
        .fetch_one(&srv.db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    // Unauthenticated requests are refused.
    let resp = srv
        .http
        .get(srv.url("/api/v1/strategies"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn strategy_magic_close_scope_and_opposite_entry() {
    let srv = Srv::start().await;
    let t = srv.trader("magic@example.test").await;
    let other = srv.trader("magic-other@example.test").await;
    let create = |name: &str, extra: Value| {
        let mut body = json!({"name": name, "broker_connection_id": t.connection});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    // Defaults: a magic from the sequence, distinct per strategy; strategy scope; reverse.
    let (status, a) = srv
        .post(t.user, "/api/v1/strategies", &create("a", json!({})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    let (_, b) = srv
        .post(t.user, "/api/v1/strategies", &create("b", json!({})))
        .await;
    assert!(a["magic"].as_i64().unwrap() > 0);
    assert_ne!(a["magic"], b["magic"]);
    assert_eq!(a["close_scope"], "strategy");
    assert_eq!(a["opposite_entry"], "reverse");

    // Explicit values, and a magic already used by the same trader is a 409.
    let (status, c) = srv
        .post(
            t.user,
            "/api/v1/strategies",
            &create(
                "c",
                json!({"magic": 424242, "close_scope": "all_companion", "opposite_entry": "reject"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(
        (
            c["magic"].as_i64(),
            c["close_scope"].as_str(),
            c["opposite_entry"].as_str()
        ),
        (Some(424242), Some("all_companion"), Some("reject"))
    );
    let (status, v) = srv
        .post(
            t.user,
            "/api/v1/strategies",
            &create("d", json!({"magic": 424242})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "conflict");
    // Another trader may use the same number.
    let (status, _) = srv
        .post(
            other.user,
            "/api/v1/strategies",
            &json!({"name": "x", "broker_connection_id": other.connection, "magic": 424242}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for bad in [
        json!({"magic": 0}),
        json!({"magic": -1}),
        json!({"close_scope": "everything"}),
        json!({"opposite_entry": "maybe"}),
    ] {
        let (status, v) = srv
            .post(t.user, "/api/v1/strategies", &create("bad", bad.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }

    // PATCH: absent = unchanged.
    let path = format!("/api/v1/strategies/{}", a["id"].as_str().unwrap());
    let (status, u) = srv
        .call(
            t.user,
            Method::PATCH,
            &path,
            Some(&json!({"magic": 777001, "opposite_entry": "hedge"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{u}");
    assert_eq!(
        (
            u["magic"].as_i64(),
            u["close_scope"].as_str(),
            u["opposite_entry"].as_str()
        ),
        (Some(777001), Some("strategy"), Some("hedge"))
    );
    let (status, _) = srv
        .call(
            t.user,
            Method::PATCH,
            &path,
            Some(&json!({"magic": 424242})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Hedge is refused once an agent of the connection reported a netting account.
    sqlx::query(
        "update mt5_agents set terminal_info = '{\"connected\":true,\"paper\":true,\"margin_mode\":\"netting\"}',
                last_heartbeat = now()
          where broker_connection_id = $1",
    )
    .bind(t.connection)
    .execute(&srv.db.pool)
    .await
    .unwrap();
    let (status, v) = srv
        .post(
            t.user,
            "/api/v1/strategies",
            &create("h", json!({"opposite_entry": "hedge"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["message"].as_str().unwrap().contains("netting"), "{v}");
    let (status, _) = srv
        .call(
            t.user,
            Method::PATCH,
            &path,
            Some(&json!({"name": "renamed"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a hedging strategy on netting stays refused"
    );
    let (status, u) = srv
        .call(
            t.user,
            Method::PATCH,
            &path,
            Some(&json!({"opposite_entry": "reverse"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(u["opposite_entry"], "reverse");
}

#[tokio::test]
async fn signals_page_newest_first_with_filters() {
    let srv = Srv::start().await;
    let t = srv.trader("pages@example.test").await;
    let (s1, k1) = srv.strategy(&t, json!({})).await;
    let (s2, k2) = srv.strategy(&t, json!({"allowed_pairs": ["EURUSD"]})).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let (_, v) = srv
            .hook(&k1, format!("buy 0.{} EURUSD", i + 1), "text/plain")
            .await;
        sent.push(v["signal_id"].as_str().unwrap().to_string());
    }
    for body in ["sell GBPUSD", "sell OANDA:EURUSD"] {
        let (_, v) = srv.hook(&k2, body, "text/plain").await;
        sent.push(v["signal_id"].as_str().unwrap().to_string());
    }

    // Pages of 3: 3 + 3 + 1, newest first, no overlap, the same order as received.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/api/v1/signals?limit=3".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = srv.get(t.user, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            assert!(item.get("raw_payload").is_none());
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut expected = sent.clone();
    expected.reverse();
    assert_eq!(seen, expected);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);

    let count = |v: &Value| v["items"].as_array().unwrap().len();
    let (_, p) = srv
        .get(t.user, &format!("/api/v1/signals?strategy_id={s2}"))
        .await;
    assert_eq!(count(&p), 2);
    let (_, p) = srv.get(t.user, "/api/v1/signals?status=discarded").await;
    assert_eq!(
        (count(&p), p["items"][0]["symbol"].as_str()),
        (1, Some("GBPUSD"))
    );
    let (_, p) = srv.get(t.user, "/api/v1/signals?symbol=oanda:eurusd").await;
    assert_eq!(count(&p), 6);
    let (_, p) = srv
        .get(
            t.user,
            &format!("/api/v1/signals?strategy_id={s1}&symbol=EURUSD&status=pending&limit=2"),
        )
        .await;
    assert_eq!(count(&p), 2);
    assert!(p["next_cursor"].is_string());
    // Time window: [from, to) around the third signal of s1.
    let at: (chrono::DateTime<chrono::Utc>,) =
        sqlx::query_as("select received_at from tv_signals where id = $1")
            .bind(Uuid::parse_str(&sent[2]).unwrap())
            .fetch_one(&srv.db.pool)
            .await
            .unwrap();
    let from = at.0.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let (_, p) = srv
        .get(
            t.user,
            &format!("/api/v1/signals?from={}&strategy_id={s1}", urlencode(&from)),
        )
        .await;
    assert_eq!(count(&p), 3);
    let (_, p) = srv
        .get(
            t.user,
            &format!("/api/v1/signals?to={}&strategy_id={s1}", urlencode(&from)),
        )
        .await;
    assert_eq!(count(&p), 2);

    for bad in [
        "cursor=garbage",
        "status=weird",
        "limit=abc",
        "strategy_id=nope",
    ] {
        let (status, v) = srv.get(t.user, &format!("/api/v1/signals?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }

    // One signal: raw payload and job.
    let (status, d) = srv
        .get(t.user, &format!("/api/v1/signals/{}", sent[0]))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(d["signal"]["raw_payload"], "buy 0.1 EURUSD");
    assert_eq!(d["job"]["job_type"], "trade");
    assert_eq!(d["job"]["id"], d["signal"]["job_id"]);
    assert_eq!(d["job"]["input_data"]["volume"], json!(0.1));
    let (_, d) = srv
        .get(t.user, &format!("/api/v1/signals/{}", sent[5]))
        .await;
    assert_eq!(
        (d["signal"]["status"].as_str(), &d["job"]),
        (Some("discarded"), &Value::Null)
    );
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn ea_versions_source_and_job_queueing() {
    let srv = Srv::start().await;
    let t = srv.trader("ea@example.test").await;
    let (project, versions) = ea_project(&srv, t.user, "Scalper", 2).await;
    let (v1, v2) = (versions[0], versions[1]);

    let (_, src) = srv
        .get(t.user, &format!("/api/v1/ea-versions/{v2}/source"))
        .await;
    assert_eq!(
        (
            src["version_number"].as_i64(),
            src["ea_project_id"].as_str()
        ),
        (Some(2), Some(project.to_string().as_str()))
    );
    assert!(src["source_code"].as_str().unwrap().contains("Scalper v2"));

    // Compile v2 on the user's agent: a targeted compile job, the version is compiling.
    let (status, q) = srv
        .post(
            t.user,
            &format!("/api/v1/ea-versions/{v2}/compile"),
            &json!({"agent_id": t.agent}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{q}");
    let job: Uuid = q["job_id"].as_str().unwrap().parse().unwrap();
    let (jt, agent, etype, eid, input): (String, Uuid, String, Uuid, Value) = sqlx::query_as(
        "select job_type, agent_id, entity_type, entity_id, input_data from jobs where id = $1",
    )
    .bind(job)
    .fetch_one(&srv.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (jt.as_str(), agent, etype.as_str(), eid),
        ("compile", t.agent, "ea_version", v2)
    );
    assert_eq!(input["version_id"], json!(v2));
    assert!(input["source"].as_str().unwrap().contains("Scalper v2"));
    let (_, list) = srv
        .get(t.user, &format!("/api/v1/ea-projects/{project}/versions"))
        .await;
    assert_eq!(list[0]["status"], "compiling");

    // Deploy and test need a compiled version.
    let deploy = json!({"agent_id": t.agent, "symbol": "oanda:eurusd", "timeframe": "M15"});
    let (status, v) = srv
        .post(t.user, &format!("/api/v1/ea-versions/{v2}/deploy"), &deploy)
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    let (status, q) = srv
        .post(t.user, &format!("/api/v1/ea-versions/{v1}/deploy"), &deploy)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{q}");
    let dep: Uuid = q["deployment_id"].as_str().unwrap().parse().unwrap();
    let (dstatus, dagent, dversion): (String, Uuid, Uuid) = sqlx::query_as(
        "select status, mt5_agent_id, ea_version_id from ea_deployments where id = $1",
    )
    .bind(dep)
    .fetch_one(&srv.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (dstatus.as_str(), dagent, dversion),
        ("pending", t.agent, v1)
    );
    let (etype, eid, input): (String, Uuid, Value) = sqlx::query_as(
        "select entity_type, entity_id, input_data from jobs where id = $1 and job_type = 'deploy'",
    )
    .bind(Uuid::parse_str(q["job_id"].as_str().unwrap()).unwrap())
    .fetch_one(&srv.db.pool)
    .await
    .unwrap();
    assert_eq!((etype.as_str(), eid), ("ea_deployment", dep));
    assert_eq!(
        (input["symbol"].as_str(), input["timeframe"].as_str()),
        (Some("EURUSD"), Some("M15"))
    );
    assert!(input["magic_number"].as_i64().unwrap() > 0);

    let test = json!({"agent_id": t.agent, "symbol": "XAUUSD", "timeframe": "H1",
                      "from": "2024-01-01", "to": "2024-03-01"});
    let (status, q) = srv
        .post(t.user, &format!("/api/v1/ea-versions/{v1}/test"), &test)
        .await;
    assert_eq!(
        (status, q["job_type"].as_str()),
        (StatusCode::CREATED, Some("test"))
    );
    let bad = json!({"agent_id": t.agent, "symbol": "XAUUSD", "timeframe": "H1",
                     "from": "2024-03-01", "to": "2024-01-01"});
    let (status, _) = srv
        .post(t.user, &format!("/api/v1/ea-versions/{v1}/test"), &bad)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = srv
        .post(
            t.user,
            &format!("/api/v1/ea-versions/{v1}/compile"),
            &json!({"agent_id": Uuid::new_v4()}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn openapi_document_lists_the_webhook_user_api_and_events() {
    let srv = Srv::start().await;
    let doc: Value = srv
        .http
        .get(srv.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/webhooks/tv/{webhook_secret}", "post"),
        ("/api/v1/strategies", "get"),
        ("/api/v1/strategies", "post"),
        ("/api/v1/strategies/{id}", "patch"),
        ("/api/v1/strategies/{id}", "delete"),
        ("/api/v1/strategies/{id}/rotate-secret", "post"),
        ("/api/v1/broker-connections", "get"),
        ("/api/v1/signals", "get"),
        ("/api/v1/signals/{id}", "get"),
        ("/api/v1/ea-projects", "get"),
        ("/api/v1/ea-projects/{id}/versions", "get"),
        ("/api/v1/ea-projects/{id}/current-version", "put"),
        ("/api/v1/ea-versions/{id}/source", "get"),
        ("/api/v1/ea-versions/{id}/compile", "post"),
        ("/api/v1/ea-versions/{id}/deploy", "post"),
        ("/api/v1/ea-versions/{id}/test", "post"),
        ("/api/v1/events", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path}"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in [
        "Strategy",
        "Signal",
        "SignalPage",
        "EaVersion",
        "UserEvent",
        "WebhookResponse",
    ] {
        assert!(schemas.contains_key(s), "schema {s}");
    }
}

#[tokio::test]
async fn text_postgresql_cannot_store_is_a_400_not_a_500() {
    // Found by schemathesis: a NUL character in a strategy name reached PostgreSQL,
    // which refuses it ("invalid byte sequence for encoding UTF8: 0x00").
    let srv = Srv::start().await;
    let t = srv.trader("nul@example.test").await;
    let (status, v) = srv
        .post(
            t.user,
            "/api/v1/strategies",
            &json!({"name": "bad\u{0}name", "broker_connection_id": t.connection}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["code"], "invalid_request");
}
