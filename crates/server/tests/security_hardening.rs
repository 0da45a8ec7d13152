//! Issue 17 over real HTTP (server items 2, 4, 5, 6, 8). Cross-tenant job writes
//! (item 3) are in `cross_tenant_jobs.rs`.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use std::time::Duration;

use common::*;
use companion_protocol::AGENT_KEY_HEADER;
use companion_server::config::Cidr;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

// ---------------------------------------------------------------------------
// Item 2: a blank or short JWT secret
// ---------------------------------------------------------------------------

#[test]
fn serve_refuses_a_blank_or_short_jwt_secret() {
    for secret in ["", "x", "short-but-not-32-characters"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_companion-server"))
            .arg("serve")
            .env("DATABASE_URL", "postgres://127.0.0.1:1/none")
            .env("SUPABASE_JWT_SECRET", secret)
            .env("BIND", "127.0.0.1:0")
            .env_remove("DATABASE_LISTEN_URL")
            .output()
            .expect("run companion-server");
        assert!(!out.status.success(), "started with secret {secret:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("SUPABASE_JWT_SECRET") && stderr.contains("32"),
            "secret {secret:?}: {stderr}"
        );
    }
}

// ---------------------------------------------------------------------------
// Item 4: the bcrypt cost is the server's
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_stored_hash_with_a_higher_bcrypt_cost_is_refused_without_verifying() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "pc").await;
    // The real hash with its cost raised to 31 (what a user could write through
    // PostgREST before migration 0009): hours to verify; the server (cost 4) must
    // refuse it at once.
    sqlx::query(
        "update mt5_agents set pairing_key_hash = replace(pairing_key_hash, '$04$', '$31$') where id = $1",
    )
    .bind(a.agent_id)
    .execute(&s.pool)
    .await
    .unwrap();
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        s.agent_get(&a.pairing_key, "/api/v1/agents/me"),
    )
    .await
    .expect("answered without running bcrypt at cost 31");
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn concurrent_bad_keys_count_before_bcrypt_runs() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "pc").await;
    // Wrong keys with the real key's prefix: each would need a bcrypt check.
    let wrong = format!("{}{}", &a.pairing_key[..8], "W".repeat(35));
    let attempts = 40;
    let answers =
        futures::future::join_all((0..attempts).map(|_| s.agent_get(&wrong, "/api/v1/agents/me")))
            .await;
    let unauthorized = answers
        .iter()
        .filter(|r| r.status() == StatusCode::UNAUTHORIZED)
        .count();
    let limited = answers
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(unauthorized + limited, attempts);
    assert!(
        unauthorized <= companion_server::state::MAX_KEY_FAILURES as usize,
        "{unauthorized} of {attempts} concurrent bad keys were verified"
    );
}

// ---------------------------------------------------------------------------
// Item 5: agent-key scopes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_agent_key_cannot_pair_agents_nor_touch_other_agents() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "vps").await;
    let other = s.agent(alice, "desktop").await;

    let r = s
        .agent_post(&a.pairing_key, "/api/v1/agents/pair", &json!({}))
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;

    let r = s
        .agent_post(
            &a.pairing_key,
            &format!("/api/v1/agents/{}/rotate-key", other.agent_id),
            &json!({}),
        )
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;

    let r = s
        .http
        .delete(s.url(&format!("/api/v1/agents/{}", other.agent_id)))
        .header(AGENT_KEY_HEADER, &a.pairing_key)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;

    // Jobs for another agent: refused; for itself: fine.
    let r = s
        .agent_post(
            &a.pairing_key,
            "/api/v1/jobs",
            &json!({"job_type": "get_account", "agent_id": other.agent_id}),
        )
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = s
        .agent_post(
            &a.pairing_key,
            "/api/v1/jobs",
            &json!({"job_type": "get_account", "agent_id": a.agent_id}),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );

    // The other agent's key still works: nothing was rotated.
    let r = s.agent_get(&other.pairing_key, "/api/v1/agents/me").await;
    assert_eq!(r.status(), StatusCode::OK);

    // The app's screens: strategies (create, rotate the secret, read the URL).
    let conn: Uuid =
        sqlx::query_scalar("select broker_connection_id from mt5_agents where id = $1")
            .bind(a.agent_id)
            .fetch_one(&s.pool)
            .await
            .unwrap();
    let r = s
        .agent_post(
            &a.pairing_key,
            "/api/v1/strategies",
            &json!({"name": "s", "broker_connection_id": conn}),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let strategy: serde_json::Value = r.json().await.unwrap();
    let r = s
        .agent_post(
            &a.pairing_key,
            &format!(
                "/api/v1/strategies/{}/rotate-secret",
                strategy["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let rotated: serde_json::Value = r.json().await.unwrap();
    assert_ne!(rotated["webhook_url"], strategy["webhook_url"]);

    // Its own key: rotating works and the old key dies.
    let r = s
        .agent_post(
            &a.pairing_key,
            &format!("/api/v1/agents/{}/rotate-key", a.agent_id),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_error(
        s.agent_get(&a.pairing_key, "/api/v1/agents/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // The user's own token may do all of it.
    let r = s.user_post(alice, "/api/v1/agents/pair", &json!({})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = s
        .user_post(
            alice,
            &format!("/api/v1/agents/{}/rotate-key", other.agent_id),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------
// Item 6: others' failures never lock out a valid key; TRUSTED_PROXIES
// ---------------------------------------------------------------------------

#[tokio::test]
async fn bad_keys_from_the_same_address_do_not_lock_out_a_valid_key() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "pc").await;
    let b = s.agent(alice, "pc2").await;
    // Same address (behind one NAT): someone sends bad keys until refused.
    let wrong = format!("pk_{}", "w".repeat(40));
    for _ in 0..=companion_server::state::MAX_KEY_FAILURES {
        s.agent_get(&wrong, "/api/v1/agents/me").await;
    }
    assert_error(
        s.agent_get(&wrong, "/api/v1/agents/me").await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    // A valid key never verified before still works.
    let r = s.agent_get(&a.pairing_key, "/api/v1/agents/me").await;
    assert_eq!(r.status(), StatusCode::OK);

    // Bad keys aimed at b's prefix: b, verified before, keeps working.
    let r = s.agent_get(&b.pairing_key, "/api/v1/agents/me").await;
    assert_eq!(r.status(), StatusCode::OK);
    let aimed = format!("{}{}", &b.pairing_key[..8], "Q".repeat(35));
    for _ in 0..=companion_server::state::MAX_KEY_FAILURES {
        s.agent_get(&aimed, "/api/v1/agents/me").await;
    }
    let r = s.agent_get(&b.pairing_key, "/api/v1/agents/me").await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let s = TestServer::start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1".parse::<Cidr>().unwrap()];
    })
    .await;
    let wrong = format!("pk_{}", "w".repeat(40));
    let from = |ip: &'static str| {
        s.http
            .get(s.url("/api/v1/agents/me"))
            .header(AGENT_KEY_HEADER, &wrong)
            .header("x-forwarded-for", ip)
            .send()
    };
    for _ in 0..companion_server::state::MAX_KEY_FAILURES {
        from("203.0.113.5").await.unwrap();
    }
    assert_eq!(
        from("203.0.113.5").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy is not blocked.
    assert_eq!(
        from("203.0.113.6").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    // Without TRUSTED_PROXIES the header is ignored: every request is 127.0.0.1.
    let plain = TestServer::start().await;
    let from = |ip: &'static str| {
        plain
            .http
            .get(plain.url("/api/v1/agents/me"))
            .header(AGENT_KEY_HEADER, &wrong)
            .header("x-forwarded-for", ip)
            .send()
    };
    for _ in 0..companion_server::state::MAX_KEY_FAILURES {
        from("203.0.113.5").await.unwrap();
    }
    assert_eq!(
        from("203.0.113.6").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

// ---------------------------------------------------------------------------
// Item 8 (server side)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_huge_long_poll_wait_is_clamped_not_a_panic() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "pc").await;
    let job = s.insert_job(alice, "get_account", None, json!({})).await;
    let r = s
        .agent_get(
            &a.pairing_key,
            &format!("/api/v1/agents/{}/jobs/next?wait=1e20", a.agent_id),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let claimed: serde_json::Value = r.json().await.unwrap();
    assert_eq!(claimed["job_id"], json!(job));
}

fn token_with(user: Uuid, exp_in: i64, nbf_in: Option<i64>) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "sub": user.to_string(),
        "aud": "authenticated",
        "exp": now + exp_in,
        "role": "authenticated",
    });
    if let Some(n) = nbf_in {
        claims["nbf"] = json!(now + n);
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn tokens_not_yet_valid_are_refused_and_401s_say_only_invalid_token() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let early = token_with(alice, 3600, Some(600));
    let forged = {
        let t = s.jwt(alice);
        format!("{}x", &t[..t.len() - 1])
    };
    let expired = token_with(alice, -600, None);
    for token in [early, forged, expired, "not.a.jwt".to_string()] {
        let r = s
            .http
            .get(s.url("/api/v1/strategies"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let body = assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert_eq!(body["message"], "invalid token", "{token}");
    }
    let valid_now = token_with(alice, 3600, Some(-5));
    let r = s
        .http
        .get(s.url("/api/v1/strategies"))
        .bearer_auth(&valid_now)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn open_stream(
    s: &TestServer,
    auth: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> reqwest::Response {
    auth(s.http.get(s.url("/api/v1/events")))
        .send()
        .await
        .unwrap()
}

/// Reads the stream until it ends; returns everything it sent. Panics after `limit`.
async fn read_to_end(mut r: reqwest::Response, limit: Duration) -> String {
    let mut text = String::new();
    let read = async {
        while let Ok(Some(c)) = r.chunk().await {
            text.push_str(&String::from_utf8_lossy(&c));
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .unwrap_or_else(|_| panic!("the stream did not end within {limit:?}"));
    text
}

#[tokio::test]
async fn a_stream_ends_when_its_token_expires() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let token = token_with(alice, 2, None);
    let r = open_stream(&s, |b| b.bearer_auth(&token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = read_to_end(r, Duration::from_secs(15)).await;
    assert!(text.contains("event: ready"), "{text}");
    assert!(text.contains("event: unauthorized"), "{text}");
}

#[tokio::test]
async fn a_stream_ends_when_its_agent_is_deleted_or_its_key_rotated() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "pc").await;
    let b = s.agent(alice, "pc2").await;

    let r = open_stream(&s, |req| req.header(AGENT_KEY_HEADER, &a.pairing_key)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let reader = tokio::spawn(read_to_end(r, Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let d = s
        .http
        .delete(s.url(&format!("/api/v1/agents/{}", a.agent_id)))
        .bearer_auth(s.jwt(alice))
        .send()
        .await
        .unwrap();
    assert_eq!(d.status(), StatusCode::NO_CONTENT);
    let text = reader.await.unwrap();
    assert!(text.contains("event: unauthorized"), "{text}");

    let r = open_stream(&s, |req| req.header(AGENT_KEY_HEADER, &b.pairing_key)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let reader = tokio::spawn(read_to_end(r, Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rot = s
        .user_post(
            alice,
            &format!("/api/v1/agents/{}/rotate-key", b.agent_id),
            &json!({}),
        )
        .await;
    assert_eq!(rot.status(), StatusCode::OK);
    let text = reader.await.unwrap();
    assert!(text.contains("event: unauthorized"), "{text}");
}

#[tokio::test]
async fn event_streams_are_capped_per_user() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let bob = s.user("bob@example.com").await;
    let max = companion_server::events::MAX_STREAMS_PER_USER;
    let mut open = Vec::new();
    for _ in 0..max {
        let r = open_stream(&s, |b| b.bearer_auth(s.jwt(alice))).await;
        assert_eq!(r.status(), StatusCode::OK);
        open.push(r);
    }
    let r = open_stream(&s, |b| b.bearer_auth(s.jwt(alice))).await;
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another user is not affected.
    let r = open_stream(&s, |b| b.bearer_auth(s.jwt(bob))).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Closing one frees its slot.
    drop(open.pop());
    let mut freed = false;
    for _ in 0..50 {
        if s.state.streams.open(alice) < max {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(freed, "a closed stream keeps its slot");
    let r = open_stream(&s, |b| b.bearer_auth(s.jwt(alice))).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// The replay reads all rows in one transaction (one query for the list, one per
/// kind); this checks it still delivers every changed row, in order of change. (A count
/// of transactions through `pg_stat_database` was tried: its figures lag by seconds
/// and proved too unreliable for a test.)
#[tokio::test]
async fn a_resume_from_zero_replays_every_changed_row() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "pc").await;
    let mut jobs = Vec::new();
    for _ in 0..40 {
        jobs.push(
            s.insert_job(alice, "get_account", Some(a.agent_id), json!({}))
                .await,
        );
    }
    let mut r = s
        .http
        .get(s.url("/api/v1/events"))
        .bearer_auth(s.jwt(alice))
        .header("last-event-id", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut text = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(c)) = r.chunk().await {
            text.push_str(&String::from_utf8_lossy(&c));
            if text.matches("event: job").count() >= jobs.len() {
                break;
            }
        }
    })
    .await;
    let replayed: Vec<Uuid> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter(|v| v["kind"] == "job")
        .map(|v| {
            assert_eq!(v["data"]["id"], v["id"], "each event carries its row: {v}");
            v["id"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(replayed, jobs, "every job, oldest first");
    assert!(text.contains("event: agent"), "{text}");
}
