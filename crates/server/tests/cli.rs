//! The real `companion-server` binary: migrate, admin commands (machine-readable with
//! `--json`), and `serve` answering an agent that uses the printed key.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use companion_protocol::AgentMe;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_companion-server");

fn run(db_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", db_url)
        .env_remove("DATABASE_LISTEN_URL")
        .output()
        .expect("run companion-server")
}

fn json_of(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[tokio::test]
async fn admin_commands_and_serve_work_end_to_end() {
    let db = common::fresh_db().await;
    let url = db.url.clone();
    let out = run(&url, &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let user = json_of(&run(
        &url,
        &["create-user", "--email", "trader@example.com", "--json"],
    ));
    let user_id = user["user_id"].as_str().unwrap().to_string();
    let dup = run(&url, &["create-user", "--email", "trader@example.com"]);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));

    let bc = json_of(&run(
        &url,
        &[
            "create-broker-connection",
            "--user",
            "trader@example.com",
            "--name",
            "Paper",
            "--json",
        ],
    ));
    let bc_id = bc["broker_connection_id"].as_str().unwrap().to_string();
    let agent = json_of(&run(
        &url,
        &[
            "create-agent",
            "--user",
            &user_id,
            "--broker-connection",
            &bc_id,
            "--name",
            "vps",
            "--json",
            "--bcrypt-cost",
            "4",
        ],
    ));
    let key = agent["pairing_key"].as_str().unwrap().to_string();
    assert!(key.starts_with("pk_"));
    let unknown = run(
        &url,
        &[
            "create-agent",
            "--user",
            "nobody@example.com",
            "--name",
            "x",
        ],
    );
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("create-user"),
        "the error says what to do next"
    );

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = Command::new(BIN)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut healthy = false;
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            healthy = r.status().is_success();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "the server came up");
    let me: AgentMe = http
        .get(format!("{base}/api/v1/agents/me"))
        .header("X-Agent-Key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me.agent_id.to_string(), agent["agent_id"].as_str().unwrap());
    assert_eq!(me.broker_connection_id.unwrap().to_string(), bc_id);

    server.kill().unwrap();
    let out = server.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("listening"));
    assert!(
        !logs.contains(&key),
        "the pairing key never appears in logs"
    );
    assert!(!logs.contains(&key[3..]), "not even without its prefix");
}
