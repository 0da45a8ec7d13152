//! Several terminals on one PC (issue 15): ONE agent process with ONE pairing key
//! serves TWO paper terminals logged into two different accounts (one bridge port
//! and token each). Each account is bound to its own broker connection; a strategy
//! on each connection trades on its own account only, a close for strategy 1 leaves
//! account 2 alone, and jobs for an account whose terminal is gone (or that no
//! terminal serves) fail with the reason instead of running elsewhere.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{bin_dir, eventually, free_port, read_orders, spawn_named, Proc, Stack};
use serde_json::{json, Value};
use uuid::Uuid;

const LOGIN_1: &str = "5001001";
const LOGIN_2: &str = "5002002";
const TOKEN_2: &str = "e2e-bridge-token-2";

fn paper(
    s: &Stack,
    name: &str,
    port: u16,
    token: &str,
    login: &str,
    log: &std::path::Path,
) -> Proc {
    let mut cmd = Command::new(bin_dir().join("companion-paper-terminal"));
    cmd.args(["--agent", &format!("127.0.0.1:{port}"), "--token", token])
        .args(["--seed", "7", "--login", login])
        .arg("--orders-log")
        .arg(log);
    spawn_named(&s.test, name, cmd)
}

/// A strategy on `connection` with `close_scope`; returns its webhook URL.
async fn strategy(s: &Stack, connection: Uuid, magic: i64, close_scope: &str) -> String {
    let secret = format!("whs{}00000", Uuid::new_v4().simple());
    sqlx::query(
        "INSERT INTO tv_strategies (user_id, broker_connection_id, name, webhook_secret, magic, close_scope)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(s.user_id)
    .bind(connection)
    .bind(format!("strategy {magic}"))
    .bind(&secret)
    .bind(magic)
    .bind(close_scope)
    .execute(&s.db.pool)
    .await
    .unwrap();
    format!("{}/api/v1/webhooks/tv/{secret}", s.server_url())
}

/// Sends a webhook and waits for its signal: (status, error, job id).
async fn signal(s: &Stack, url: &str, body: Value) -> (String, Option<String>, Option<Uuid>) {
    let resp = s.http.post(url).json(&body).send().await.unwrap();
    assert!(resp.status().is_success(), "{body}: {}", resp.status());
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "pending", "{v}");
    let id: Uuid = v["signal_id"].as_str().unwrap().parse().unwrap();
    s.wait_signal(id).await
}

/// A job for `connection`, queued the way the platform does (no agent named: the
/// database targets the agent serving the connection).
async fn job_for(
    s: &Stack,
    connection: Uuid,
    job_type: &str,
) -> (String, Option<Value>, Option<String>) {
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO jobs (user_id, job_type, input_data, broker_connection_id)
         VALUES ($1, $2, '{}', $3) RETURNING id",
    )
    .bind(s.user_id)
    .bind(job_type)
    .bind(connection)
    .fetch_one(&s.db.pool)
    .await
    .unwrap();
    s.wait_job(id).await
}

/// The account's positions through its terminal: (symbol, side, volume, magic).
async fn positions(s: &Stack, connection: Uuid) -> Vec<(String, String, f64, i64)> {
    let (status, out, err) = job_for(s, connection, "get_positions").await;
    assert_eq!(status, "completed", "{err:?}");
    let mut v: Vec<_> = out.unwrap()["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["symbol"].as_str().unwrap().to_string(),
                p["side"].as_str().unwrap().to_string(),
                (p["volume"].as_f64().unwrap() * 100.0).round() / 100.0,
                p["magic"].as_i64().unwrap(),
            )
        })
        .collect();
    v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    v
}

fn pos(symbol: &str, side: &str, volume: f64, magic: i64) -> (String, String, f64, i64) {
    (symbol.into(), side.into(), volume, magic)
}

#[tokio::test(flavor = "multi_thread")]
async fn one_agent_serves_two_accounts_and_each_strategy_trades_its_own() {
    let mut s = Stack::new("multiterm").await;
    // The second terminal: its own bridge port and token in config.json.
    let port_2 = free_port();
    std::fs::write(
        s.data_dir.path().join("config.json"),
        serde_json::to_vec_pretty(&json!({
            "terminals": [{"name": "account 2", "port": port_2, "token": TOKEN_2}]
        }))
        .unwrap(),
    )
    .unwrap();
    s.start_agent(&[]);
    let log_1 = s.data_dir.path().join("paper-1-orders.jsonl");
    let log_2 = s.data_dir.path().join("paper-2-orders.jsonl");
    let (port_1, token_1) = (s.bridge_port, s.bridge_token.clone());
    let _paper_1 = paper(&s, "paper-1", port_1, &token_1, LOGIN_1, &log_1);
    let mut paper_2 = paper(&s, "paper-2", port_2, TOKEN_2, LOGIN_2, &log_2);

    // Both accounts are bound, each to its own connection; one adopted the pairing one.
    let bindings: Vec<(String, Uuid)> = eventually(
        Duration::from_secs(60),
        "both accounts bound to broker connections",
        || async {
            let rows: Vec<(String, Uuid)> = sqlx::query_as(
                "SELECT login, broker_connection_id FROM agent_connections
                  WHERE agent_id = $1 AND login IS NOT NULL ORDER BY login",
            )
            .bind(s.agent_id)
            .fetch_all(&s.db.pool)
            .await
            .unwrap();
            (rows.len() == 2).then_some(rows)
        },
    )
    .await;
    assert_eq!(bindings[0].0, LOGIN_1);
    assert_eq!(bindings[1].0, LOGIN_2);
    let (conn_1, conn_2) = (bindings[0].1, bindings[1].1);
    assert_ne!(conn_1, conn_2);
    assert!(
        [conn_1, conn_2].contains(&s.broker_connection_id.unwrap()),
        "the pairing connection was adopted by one account"
    );

    // The user API lists both accounts.
    let conns: Value = s
        .http
        .get(format!("{}/api/v1/broker-connections", s.server_url()))
        .bearer_auth(&s.jwt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let login_of = |id: Uuid| {
        conns
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id.to_string())
            .map(|c| {
                (
                    c["login"].clone(),
                    c["paper"].clone(),
                    c["agents"].as_array().unwrap().len(),
                )
            })
    };
    assert_eq!(login_of(conn_1), Some((json!(LOGIN_1), json!(true), 1)));
    assert_eq!(login_of(conn_2), Some((json!(LOGIN_2), json!(true), 1)));

    // Strategy 1 closes every Companion position of its account: if its close went to
    // account 2, it would close account 2's position too.
    let url_1 = strategy(&s, conn_1, 7001, "all_companion").await;
    let url_2 = strategy(&s, conn_2, 7002, "strategy").await;
    let (st, err, job_1) = signal(
        &s,
        &url_1,
        json!({"action": "buy", "symbol": "EURUSD", "volume": 0.2, "id": "m-1"}),
    )
    .await;
    assert_eq!(st, "executed", "{err:?}");
    let (st, err, job_2) = signal(
        &s,
        &url_2,
        json!({"action": "sell", "symbol": "EURUSD", "volume": 0.3, "id": "m-2"}),
    )
    .await;
    assert_eq!(st, "executed", "{err:?}");

    // Each order reached its own account's terminal only.
    let comments = |log: &std::path::Path| -> Vec<String> {
        read_orders(log)
            .iter()
            .map(|o| o["comment"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        comments(&log_1),
        vec![companion_agent::job_comment(job_1.unwrap())]
    );
    assert_eq!(
        comments(&log_2),
        vec![companion_agent::job_comment(job_2.unwrap())]
    );
    assert_eq!(
        positions(&s, conn_1).await,
        vec![pos("EURUSD", "buy", 0.2, 7001)]
    );
    assert_eq!(
        positions(&s, conn_2).await,
        vec![pos("EURUSD", "sell", 0.3, 7002)]
    );

    // A close for strategy 1 closes account 1's position and leaves account 2 alone.
    let (st, err, _) = signal(
        &s,
        &url_1,
        json!({"action": "close", "symbol": "EURUSD", "id": "m-3"}),
    )
    .await;
    assert_eq!(st, "executed", "{err:?}");
    assert_eq!(positions(&s, conn_1).await, vec![]);
    assert_eq!(
        positions(&s, conn_2).await,
        vec![pos("EURUSD", "sell", 0.3, 7002)]
    );
    assert_eq!(
        read_orders(&log_2).len(),
        1,
        "nothing more reached account 2"
    );
    // The account's records follow it: trade events and the terminal's closed deals
    // (the daily loss limit's input) are filed under each account's own connection.
    let opened: Vec<(String, Uuid)> = sqlx::query_as(
        "SELECT metadata ->> 'job_id', broker_connection_id FROM trade_events
          WHERE event_type = 'trade_opened' ORDER BY metadata ->> 'job_id'",
    )
    .fetch_all(&s.db.pool)
    .await
    .unwrap();
    let mut expected = vec![
        (job_1.unwrap().to_string(), conn_1),
        (job_2.unwrap().to_string(), conn_2),
    ];
    expected.sort();
    assert_eq!(opened, expected);
    eventually(
        Duration::from_secs(60),
        "account 1's closing deal filed under its connection",
        || async {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM broker_deals WHERE broker_connection_id = $1",
            )
            .bind(conn_1)
            .fetch_one(&s.db.pool)
            .await
            .unwrap();
            (n > 0).then_some(())
        },
    )
    .await;
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM broker_deals WHERE broker_connection_id <> $1")
            .bind(conn_1)
            .fetch_one(&s.db.pool)
            .await
            .unwrap();
    assert_eq!(
        n, 0,
        "no deal of account 1 filed elsewhere, and account 2 closed nothing"
    );

    // Account 2's terminal gone: its jobs fail with the terminal's reason, never run on
    // account 1's terminal.
    paper_2.kill();
    eventually(
        Duration::from_secs(30),
        "account 2's terminal seen disconnected",
        || async {
            let connected: Option<bool> = sqlx::query_scalar(
                "SELECT (terminal_info ->> 'connected')::boolean FROM agent_connections
                  WHERE broker_connection_id = $1",
            )
            .bind(conn_2)
            .fetch_one(&s.db.pool)
            .await
            .unwrap();
            (connected == Some(false)).then_some(())
        },
    )
    .await;
    let (status, _, err) = job_for(&s, conn_2, "get_account").await;
    assert_eq!(status, "failed");
    assert!(
        err.as_deref().unwrap_or("").contains("not connected"),
        "{err:?}"
    );
    let (status, out, _) = job_for(&s, conn_1, "get_account").await;
    assert_eq!(status, "completed");
    assert!(out.unwrap()["balance"].is_number());

    // A connection of this user that no terminal serves: the job targeted at this agent
    // fails with the reason.
    let conn_3: Uuid = sqlx::query_scalar(
        "INSERT INTO broker_connections (user_id, broker_type, name) VALUES ($1, 'MT5_AGENT', 'third')
         RETURNING id",
    )
    .bind(s.user_id)
    .fetch_one(&s.db.pool)
    .await
    .unwrap();
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO jobs (user_id, agent_id, job_type, input_data, broker_connection_id)
         VALUES ($1, $2, 'get_positions', '{}', $3) RETURNING id",
    )
    .bind(s.user_id)
    .bind(s.agent_id)
    .bind(conn_3)
    .fetch_one(&s.db.pool)
    .await
    .unwrap();
    let (status, _, err) = s.wait_job(id).await;
    assert_eq!(status, "failed");
    assert!(
        err.as_deref()
            .unwrap_or("")
            .contains("no terminal of this agent is logged into the account"),
        "{err:?}"
    );

    // The agent remembered both bindings for its next start.
    let cfg: Value =
        serde_json::from_slice(&std::fs::read(s.data_dir.path().join("config.json")).unwrap())
            .unwrap();
    // Account 1 is on the first bridge, whichever connection it was given.
    assert_eq!(cfg["bridge_connection_id"], json!(conn_1.to_string()));
    assert_eq!(
        cfg["terminals"][0]["broker_connection_id"],
        json!(conn_2.to_string())
    );
}
