//! Agent authentication over real HTTP: missing / wrong / other agent's key, prefix
//! collisions, rotation and deletion, failed-attempt limiting, user auth and RLS.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::{assert_error, TestServer};
use companion_protocol::{AgentMe, AgentView, PairResponse, AGENT_KEY_HEADER};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn missing_wrong_and_foreign_keys_get_no_data() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let bob = s.user("bob@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let b = s.agent(bob, "bob-pc").await;
    s.insert_job(alice, "get_account", Some(a.agent_id), json!({}))
        .await;
    let next = format!("/api/v1/agents/{}/jobs/next", a.agent_id);

    let r = s.http.get(s.url(&next)).send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let wrong = format!("pk_{}", "x".repeat(40));
    assert_error(
        s.agent_get(&wrong, &next).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        s.agent_get("not-a-key", &next).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // Right prefix, wrong rest.
    let near = format!("{}{}", &a.pairing_key[..8], "Z".repeat(35));
    assert_error(
        s.agent_get(&near, &next).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // Bob's valid key on Alice's agent: forbidden, and Alice's job stays pending.
    assert_error(
        s.agent_get(&b.pairing_key, &next).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let r = s
        .http
        .get(s.url(&next))
        .header(AGENT_KEY_HEADER, &a.pairing_key)
        .header("X-Agent-Id", b.agent_id.to_string())
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let pending: i64 = sqlx::query_scalar("select count(*) from jobs where status = 'pending'")
        .fetch_one(&s.pool)
        .await
        .unwrap();
    assert_eq!(pending, 1);

    // And the right key gets it.
    let job = s.next(&a, 0).await.expect("alice's job");
    assert_eq!(job.attempt, 1);
}

#[tokio::test]
async fn a_prefix_collision_still_authenticates_the_right_agent() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let bob = s.user("bob@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let b = s.agent(bob, "bob-pc").await;
    // Give Bob's agent a key that shares Alice's stored prefix.
    let colliding = format!("{}{}", &a.pairing_key[..8], "Q7".repeat(18));
    let hash = bcrypt::hash(&colliding, 4).unwrap();
    sqlx::query(
        "update mt5_agents set pairing_key_hash = $2, pairing_key_prefix = $3 where id = $1",
    )
    .bind(b.agent_id)
    .bind(&hash)
    .bind(&colliding[..8])
    .execute(&s.pool)
    .await
    .unwrap();
    for (key, want, owner) in [
        (&a.pairing_key, a.agent_id, alice),
        (&colliding, b.agent_id, bob),
    ] {
        let r = s.agent_get(key, "/api/v1/agents/me").await;
        assert_eq!(r.status(), StatusCode::OK);
        let me: AgentMe = r.json().await.unwrap();
        assert_eq!(me.agent_id, want);
        assert_eq!(me.user_id, owner);
        assert_eq!(me.pairing_key_prefix, a.pairing_key[..8]);
    }
    // Twice more, now through the verification cache.
    for (key, want) in [(&colliding, b.agent_id), (&a.pairing_key, a.agent_id)] {
        let me: AgentMe = s
            .agent_get(key, "/api/v1/agents/me")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me.agent_id, want);
    }
}

#[tokio::test]
async fn rotation_and_deletion_revoke_the_old_key_at_once() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    // Warm the cache.
    assert_eq!(
        s.agent_get(&a.pairing_key, "/api/v1/agents/me")
            .await
            .status(),
        StatusCode::OK
    );

    let r = s
        .user_post(
            alice,
            &format!("/api/v1/agents/{}/rotate-key", a.agent_id),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let rotated: PairResponse = r.json().await.unwrap();
    assert_ne!(rotated.pairing_key, a.pairing_key);
    assert_error(
        s.agent_get(&a.pairing_key, "/api/v1/agents/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(
        s.agent_get(&rotated.pairing_key, "/api/v1/agents/me")
            .await
            .status(),
        StatusCode::OK
    );

    // A rotation written by another writer (plain SQL) takes effect once the cached
    // verification is re-checked against the stored hash.
    sqlx::query("update mt5_agents set pairing_key_hash = $2 where id = $1")
        .bind(a.agent_id)
        .bind(bcrypt::hash("pk_somethingelseentirely000000000000", 4).unwrap())
        .execute(&s.pool)
        .await
        .unwrap();
    tokio::time::sleep(
        companion_server::auth::agent::RECHECK_AFTER + std::time::Duration::from_millis(100),
    )
    .await;
    assert_error(
        s.agent_get(&rotated.pairing_key, "/api/v1/agents/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    let b = s.agent(alice, "second").await;
    assert_eq!(
        s.agent_get(&b.pairing_key, "/api/v1/agents/me")
            .await
            .status(),
        StatusCode::OK
    );
    let r = s
        .http
        .delete(s.url(&format!("/api/v1/agents/{}", b.agent_id)))
        .bearer_auth(s.jwt(alice))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_error(
        s.agent_get(&b.pairing_key, "/api/v1/agents/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn repeated_failures_of_one_key_prefix_from_one_address_are_rate_limited() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let wrong = format!("pk_{}", "w".repeat(40));
    for _ in 0..companion_server::state::MAX_KEY_FAILURES {
        assert_error(
            s.agent_get(&wrong, "/api/v1/agents/me").await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    let r = s.agent_get(&wrong, "/api/v1/agents/me").await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Failures are counted per address and key prefix (issue 17, item 6): a valid key
    // from the same address (another agent behind the same NAT) is not refused for them.
    let r = s.agent_get(&a.pairing_key, "/api/v1/agents/me").await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn users_see_only_their_own_agents_and_jobs() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let bob = s.user("bob@example.com").await;
    let a = s.agent(alice, "alice-pc").await;
    let b = s.agent(bob, "bob-pc").await;

    let agents: Vec<AgentView> = s
        .user_get(alice, "/api/v1/agents")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].id, a.agent_id);
    assert_eq!(agents[0].pairing_key_prefix, a.pairing_key[..8]);

    // An agent key acts for its owner.
    let r = s.agent_get(&b.pairing_key, "/api/v1/agents").await;
    let agents: Vec<AgentView> = r.json().await.unwrap();
    assert_eq!(
        agents.iter().map(|v| v.id).collect::<Vec<_>>(),
        vec![b.agent_id]
    );

    // Alice cannot target Bob's agent, nor read Bob's job.
    let r = s
        .user_post(
            alice,
            "/api/v1/jobs",
            &json!({"job_type": "get_account", "agent_id": b.agent_id}),
        )
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let bobs = s
        .insert_job(bob, "get_account", Some(b.agent_id), json!({}))
        .await;
    assert_error(
        s.user_get(alice, &format!("/api/v1/jobs/{bobs}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let list: Vec<serde_json::Value> = s
        .user_get(alice, "/api/v1/jobs")
        .await
        .json()
        .await
        .unwrap();
    assert!(list.is_empty());
    // Alice cannot rotate or delete Bob's agent.
    let r = s
        .user_post(
            alice,
            &format!("/api/v1/agents/{}/rotate-key", b.agent_id),
            &json!({}),
        )
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;

    // Bad tokens.
    let r = s
        .http
        .get(s.url("/api/v1/agents"))
        .bearer_auth(companion_server::auth::user::sign_jwt(alice, "wrong-secret", 60).unwrap())
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = s.http.get(s.url("/api/v1/agents")).send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn pairing_creates_an_agent_whose_key_works() {
    let s = TestServer::start().await;
    let alice = s.user("alice@example.com").await;
    let r = s
        .user_post(
            alice,
            "/api/v1/agents/pair",
            &json!({"agent_name": "trading vps"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let paired: PairResponse = r.json().await.unwrap();
    assert!(paired.pairing_key.starts_with("pk_") && paired.pairing_key.len() >= 35);
    let me: AgentMe = s
        .agent_get(&paired.pairing_key, "/api/v1/agents/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me.agent_id, paired.agent_id);
    assert_eq!(me.user_id, alice);
    assert_eq!(me.agent_name, "trading vps");
    assert_eq!(me.email.as_deref(), Some("alice@example.com"));
    assert!(me.broker_connection_id.is_some());
    // The key itself is not stored anywhere.
    let stored: i64 = sqlx::query_scalar(
        "select count(*) from mt5_agents where pairing_key_hash = $1 or pairing_key_prefix = $1",
    )
    .bind(&paired.pairing_key)
    .fetch_one(&s.pool)
    .await
    .unwrap();
    assert_eq!(stored, 0);
}
