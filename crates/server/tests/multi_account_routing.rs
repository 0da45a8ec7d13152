//! Several accounts per agent (issue 15, migration 0017): `POST /agents/{id}/accounts`
//! binds each terminal's account to a broker connection (the pairing connection
//! first, then one per new account, the same one when reported again), and a signal
//! for a strategy on such a connection becomes a job targeted at the agent serving
//! it, carrying the connection: another agent of the same user, and another user's
//! agent, cannot claim it.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::*;
use companion_protocol::AccountBinding;
use companion_server::agents::IssuedKey;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

async fn report(s: &TestServer, agent: &IssuedKey, login: &str, server: &str) -> AccountBinding {
    let r = s
        .agent_post(
            &agent.pairing_key,
            &format!("/api/v1/agents/{}/accounts", agent.agent_id),
            &json!({"login": login, "server": server,
                    "terminal": {"connected": true, "paper": true, "login": login, "server": server}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn pairing_connection(s: &TestServer, agent: Uuid) -> Uuid {
    sqlx::query_scalar("select broker_connection_id from mt5_agents where id = $1")
        .bind(agent)
        .fetch_one(&s.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn accounts_bind_to_connections_and_a_signal_goes_to_the_agent_serving_its_account() {
    let s = TestServer::start().await;
    let alice = s.user("alice@multi.test").await;
    let bob = s.user("bob@multi.test").await;
    let a1 = s.agent(alice, "alice pc").await;
    let a2 = s.agent(alice, "alice laptop").await;
    let b = s.agent(bob, "bob pc").await;

    // The first account adopts the pairing connection; a second account gets a new one.
    let first = report(&s, &a1, "1001", "Broker-Live").await;
    assert_eq!(
        first.broker_connection_id,
        pairing_connection(&s, a1.agent_id).await
    );
    assert!(!first.created);
    let second = report(&s, &a1, "1002", "Broker-Live").await;
    assert!(second.created);
    assert_ne!(second.broker_connection_id, first.broker_connection_id);
    let again = report(&s, &a1, "1002", "Broker-Live").await;
    assert_eq!(again.broker_connection_id, second.broker_connection_id);
    assert!(!again.created);
    // Bob's terminal on an account with the same number is Bob's, not Alice's.
    let bobs = report(&s, &b, "1002", "Broker-Live").await;
    assert_eq!(
        bobs.broker_connection_id,
        pairing_connection(&s, b.agent_id).await
    );

    // Alice's connection list names both accounts, each served by her first agent.
    let list: Value = s
        .user_get(alice, "/api/v1/broker-connections")
        .await
        .json()
        .await
        .unwrap();
    let c2 = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == second.broker_connection_id.to_string())
        .unwrap();
    assert_eq!(c2["login"], "1002");
    assert_eq!(c2["server"], "Broker-Live");
    assert_eq!(c2["paper"], true);
    assert_eq!(c2["name"], "1002 @ Broker-Live");
    assert_eq!(c2["agents"][0]["id"], a1.agent_id.to_string());

    // A strategy on account 1002: its signal's job is for that connection and agent a1.
    let secret = companion_server::user_api::strategies::generate_secret();
    sqlx::query(
        "insert into tv_strategies (user_id, broker_connection_id, name, webhook_secret) values ($1, $2, 's', $3)",
    )
    .bind(alice)
    .bind(second.broker_connection_id)
    .bind(&secret)
    .execute(&s.pool)
    .await
    .unwrap();
    let r = s
        .http
        .post(s.url(&format!("/api/v1/webhooks/tv/{secret}")))
        .json(&json!({"action": "buy", "symbol": "EURUSD", "volume": 0.1, "id": "route-1"}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "pending", "{v}");
    let (agent, connection): (Option<Uuid>, Option<Uuid>) = sqlx::query_as(
        "select j.agent_id, j.broker_connection_id from jobs j join tv_signals g on g.job_id = j.id
          where g.id = $1",
    )
    .bind(v["signal_id"].as_str().unwrap().parse::<Uuid>().unwrap())
    .fetch_one(&s.pool)
    .await
    .unwrap();
    assert_eq!(agent, Some(a1.agent_id));
    assert_eq!(connection, Some(second.broker_connection_id));

    // Neither Alice's other agent nor Bob's agent can claim it; a1 does, with the account.
    assert!(
        s.next(&a2, 0).await.is_none(),
        "another agent of alice claimed it"
    );
    assert!(s.next(&b, 0).await.is_none(), "bob's agent claimed it");
    let job = s.next(&a1, 0).await.expect("a1 claims the job");
    assert_eq!(job.broker_connection_id, Some(second.broker_connection_id));

    // Closed deals of account 1002 are filed under its connection; a2 (which does not
    // serve it) cannot file deals there.
    let deal = json!({"deal": 9, "order": 10, "position": 11, "symbol": "EURUSD", "side": "sell",
                      "entry": "out", "volume": 0.1, "price": 1.08, "profit": -4.0, "swap": 0.0,
                      "commission": 0.0, "magic": 0, "comment": "", "time": 1_790_000_000});
    let body = json!({"gmt_offset_secs": 0, "deals": [deal],
                      "broker_connection_id": second.broker_connection_id});
    let r = s
        .agent_post(
            &a2.pairing_key,
            &format!("/api/v1/agents/{}/deals", a2.agent_id),
            &body,
        )
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = s
        .agent_post(
            &a1.pairing_key,
            &format!("/api/v1/agents/{}/deals", a1.agent_id),
            &body,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let filed: Vec<Uuid> = sqlx::query_scalar("select broker_connection_id from broker_deals")
        .fetch_all(&s.pool)
        .await
        .unwrap();
    assert_eq!(filed, vec![second.broker_connection_id]);
}

#[tokio::test]
async fn an_agent_reports_accounts_only_for_itself_and_with_a_login_and_server() {
    let s = TestServer::start().await;
    let alice = s.user("alice@multi2.test").await;
    let bob = s.user("bob@multi2.test").await;
    let a = s.agent(alice, "alice pc").await;
    let b = s.agent(bob, "bob pc").await;
    let body =
        json!({"login": "1", "server": "S", "terminal": {"connected": true, "paper": false}});
    let r = s
        .agent_post(
            &b.pairing_key,
            &format!("/api/v1/agents/{}/accounts", a.agent_id),
            &body,
        )
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = s
        .agent_post(
            &a.pairing_key,
            &format!("/api/v1/agents/{}/accounts", a.agent_id),
            &json!({"login": " ", "server": "S", "terminal": {"connected": true, "paper": false}}),
        )
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let n: i64 =
        sqlx::query_scalar("select count(*) from agent_connections where login is not null")
            .fetch_one(&s.pool)
            .await
            .unwrap();
    assert_eq!(n, 0);
}
