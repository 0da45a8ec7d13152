//! `companion-stack up`: the JSON it prints describes a working stack (the server
//! answers, the agent key and the user token are accepted, the paper terminal runs),
//! and SIGTERM takes all of it down: server, terminal and PostgreSQL cluster.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_companion-stack"))
        .parent()
        .expect("bin dir")
        .to_path_buf()
}

fn alive(pid: u32) -> bool {
    // A zombie is not alive: it has exited and waits to be reaped by its parent.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        // The state follows the parenthesised command name, which may hold spaces.
        .map(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_none_or(|state| state != "Z")
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn up_prints_a_working_stack_and_sigterm_removes_all_of_it() {
    // The server and paper terminal binaries (`make test` builds them first).
    companion_testkit::stack::ensure_built(&["companion-server", "companion-terminal"]);
    let work = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_companion-stack"))
        .args([
            "up",
            "--email",
            "stack@companion.local",
            "--paper",
            "--other-user",
            "other@companion.local",
        ])
        .arg("--work-dir")
        .arg(work.path())
        .arg("--bin-dir")
        .arg(bin_dir())
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start companion-stack");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read the JSON line");
    let up: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("companion-stack printed no JSON ({e}): {line:?}"));
    let s = |k: &str| {
        up[k]
            .as_str()
            .unwrap_or_else(|| panic!("no {k} in {up}"))
            .to_string()
    };

    // Its own cluster, not the test run's.
    if let Ok(outer) = std::env::var("DATABASE_URL") {
        assert_ne!(s("database_url"), outer);
    }
    let http = reqwest::Client::new();
    let me = http
        .get(format!("{}/api/v1/agents/me", s("server_url")))
        .header("X-Agent-Key", s("agent_key"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "the agent key is accepted");
    let me: serde_json::Value = me.json().await.unwrap();
    assert!(me.to_string().contains(&s("agent_id")), "{me}");
    let agents = http
        .get(format!("{}/api/v1/agents", s("server_url")))
        .bearer_auth(s("token"))
        .send()
        .await
        .unwrap();
    assert_eq!(agents.status(), 200, "the user token is accepted");
    assert!(up["other_user"]["user_id"]
        .as_str()
        .is_some_and(|o| o != s("user_id")));

    let server_pid = up["server_pid"].as_u64().unwrap() as u32;
    let paper_pid = up["paper_pid"].as_u64().expect("paper terminal started") as u32;
    assert!(alive(server_pid) && alive(paper_pid));
    let db = sqlx::PgPool::connect(&s("database_url")).await.unwrap();
    let users: i64 = sqlx::query_scalar("select count(*) from auth.users")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(users, 2);
    db.close().await;

    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "companion-stack exited {status}");
    assert!(!alive(server_pid), "server still running");
    assert!(!alive(paper_pid), "paper terminal still running");
    let cluster = Command::new("bash")
        .arg(companion_testkit::repo_root().join("scripts/dev-db"))
        .arg("status")
        .env_remove("DATABASE_URL")
        .env("DEV_DB_DIR", work.path().join("db"))
        .status()
        .unwrap();
    assert!(
        !cluster.success(),
        "the stack's PostgreSQL is still running"
    );
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(s("server_url").trim_start_matches("http://").to_string()),
    )
    .await;
    assert!(
        matches!(refused, Ok(Err(_))),
        "the server port still accepts connections"
    );
}
