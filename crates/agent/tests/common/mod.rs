//! End-to-end harness: a fresh PostgreSQL database (companion-testkit), the real
//! `companion-server`, `companion-agent` and `companion-paper-terminal` processes.
//! Logs of every process go to `target/e2e-logs/<test>/`.
#![allow(
    clippy::unwrap_used,
    reason = "integration-test helpers: a panic is a failed test"
)]
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use companion_testkit::stack::{self, Admin, Who};
use companion_testkit::TestDb;
use serde_json::Value;
use uuid::Uuid;

pub const JWT_SECRET: &str = "e2e-test-supabase-jwt-secret-0123456789abcdef";

/// The workspace target dir holding the binaries (where this test's agent binary lives).
pub fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_companion-agent"))
        .parent()
        .expect("bin dir")
        .to_path_buf()
}

pub fn agent_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_companion-agent"))
}

/// Builds `companion-server` and the terminal crate's binaries once per test run
/// (skipped with `COMPANION_E2E_SKIP_BUILD=1` when the caller built them).
pub fn ensure_built() {
    stack::ensure_built(&["companion-server", "companion-terminal"]);
}

pub fn free_port() -> u16 {
    stack::free_port().expect("free port")
}

/// The admin commands of `companion-server` against this test's database.
pub fn admin(db: &TestDb) -> Admin {
    Admin {
        server_bin: bin_dir().join("companion-server"),
        database_url: db.url.clone(),
        jwt_secret: JWT_SECRET.into(),
    }
}

pub fn log_dir(test: &str) -> PathBuf {
    let d = bin_dir().parent().unwrap().join("e2e-logs").join(test);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A child process killed on drop (only processes this harness started).
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    /// SIGTERM (graceful), then wait.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let pid = self.child.id() as i32;
        unsafe_kill(pid, 15);
        wait_exit(&mut self.child, Duration::from_secs(60))
    }
}

fn unsafe_kill(pid: i32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn spawn_named(test: &str, name: &str, cmd: Command) -> Proc {
    spawn(test, name, cmd)
}

fn spawn(test: &str, name: &str, mut cmd: Command) -> Proc {
    let log = log_dir(test).join(format!("{name}.log"));
    cmd.stdin(Stdio::null());
    let child = stack::spawn_logged(cmd, &log).unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    Proc {
        child,
        name: name.into(),
    }
}

/// Polls `f` every 100 ms until it yields `Some`, panicking with `what` after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > end {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub struct Stack {
    pub test: String,
    pub db: TestDb,
    pub server_port: u16,
    pub server: Option<Proc>,
    pub user_id: Uuid,
    pub email: String,
    pub jwt: String,
    pub agent_id: Uuid,
    pub key: String,
    pub broker_connection_id: Option<Uuid>,
    pub data_dir: tempfile::TempDir,
    pub bridge_port: u16,
    pub bridge_token: String,
    pub agent: Option<Proc>,
    pub paper: Option<Proc>,
    pub orders_log: PathBuf,
    pub http: reqwest::Client,
}

impl Stack {
    /// Database, server, a user with a JWT and an agent with its pairing key.
    pub async fn new(test: &str) -> Stack {
        ensure_built();
        let db = TestDb::new().await;
        let email = format!("{test}@e2e.test");
        let who = Who {
            agent_name: "e2e-agent",
            ..Who::new(&email)
        };
        let p = admin(&db)
            .provision(&who)
            .expect("provision user and agent");
        let data_dir = tempfile::tempdir().unwrap();
        let orders_log = data_dir.path().join("paper-orders.jsonl");
        let mut s = Stack {
            test: test.into(),
            db,
            server_port: free_port(),
            server: None,
            user_id: p.user_id.parse().unwrap(),
            email,
            jwt: p.token,
            agent_id: p.agent_id.parse().unwrap(),
            key: p.agent_key,
            broker_connection_id: p.broker_connection_id.parse().ok(),
            data_dir,
            bridge_port: free_port(),
            bridge_token: "e2e-bridge-token".into(),
            agent: None,
            paper: None,
            orders_log,
            http: reqwest::Client::new(),
        };
        s.start_server().await;
        s
    }

    pub fn server_url(&self) -> String {
        stack::server_url(self.server_port)
    }

    pub async fn start_server(&mut self) {
        let cmd = admin(&self.db).serve_command(self.server_port);
        self.server = Some(spawn(&self.test, "server", cmd));
        let url = format!("{}/healthz", self.server_url());
        let http = self.http.clone();
        eventually(Duration::from_secs(60), "server /healthz", || {
            let http = http.clone();
            let url = url.clone();
            async move {
                http.get(&url)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| ())
            }
        })
        .await;
    }

    pub fn stop_server(&mut self) {
        if let Some(mut p) = self.server.take() {
            p.kill();
        }
    }

    pub fn agent_command(&self) -> Command {
        let mut cmd = Command::new(agent_bin());
        cmd.env("COMPANION_AGENT_KEY", &self.key)
            .env("COMPANION_SERVER", self.server_url())
            .env("COMPANION_AGENT_DATA_DIR", self.data_dir.path())
            .env("RUST_LOG", "info,companion_agent=debug,sqlx=warn")
            .env_remove("DBUS_SESSION_BUS_ADDRESS");
        cmd
    }

    pub fn start_agent(&mut self, extra_env: &[(&str, &str)]) {
        let mut cmd = self.agent_command();
        cmd.args([
            "run",
            "--bridge-port",
            &self.bridge_port.to_string(),
            "--bridge-token",
            &self.bridge_token,
        ]);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        self.agent = Some(spawn(&self.test, "agent", cmd));
    }

    pub fn start_paper(&mut self, extra_args: &[&str]) {
        let mut cmd = Command::new(bin_dir().join("companion-paper-terminal"));
        cmd.args([
            "--agent",
            &format!("127.0.0.1:{}", self.bridge_port),
            "--token",
            &self.bridge_token,
            "--seed",
            "7",
        ])
        .arg("--orders-log")
        .arg(&self.orders_log)
        .args(extra_args);
        self.paper = Some(spawn(&self.test, "paper", cmd));
    }

    /// Points the agent's config at the terminal crate's fake MetaEditor / terminal64
    /// (they write the real log and report formats) and a scratch MT5 data folder.
    pub fn configure_fake_toolchain(&mut self) {
        let mt5 = self.data_dir.path().join("mt5-data");
        std::fs::create_dir_all(mt5.join("MQL5").join("Experts")).unwrap();
        let cfg = serde_json::json!({
            "metaeditor_path": bin_dir().join("companion-fake-metaeditor"),
            "terminal_path": bin_dir().join("companion-fake-terminal64"),
            "terminal_data_dir": mt5,
        });
        std::fs::write(
            self.data_dir.path().join("config.json"),
            serde_json::to_vec_pretty(&cfg).unwrap(),
        )
        .unwrap();
    }

    pub fn stop_paper(&mut self) {
        if let Some(mut p) = self.paper.take() {
            p.kill();
        }
    }

    /// Waits until the agent has a terminal connected (a `get_account` job completes).
    pub async fn wait_terminal_ready(&self) {
        eventually(
            Duration::from_secs(60),
            "terminal connected (get_account completes)",
            || async {
                let id = self
                    .insert_job("get_account", serde_json::json!({}), None)
                    .await;
                let (status, _, _) = self.wait_job(id).await;
                (status == "completed").then_some(())
            },
        )
        .await;
    }

    /// Queues a job the way the platform does (a row in `jobs`, targeted at our agent).
    pub async fn insert_job(
        &self,
        job_type: &str,
        input: Value,
        expires_at: Option<DateTime<Utc>>,
    ) -> Uuid {
        sqlx::query_scalar(
            "INSERT INTO jobs (user_id, agent_id, job_type, input_data, expires_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(self.user_id)
        .bind(self.agent_id)
        .bind(job_type)
        .bind(input)
        .bind(expires_at)
        .fetch_one(&self.db.pool)
        .await
        .unwrap()
    }

    /// A strategy of this user on the agent's broker connection; returns (id, webhook secret).
    pub async fn insert_strategy(&self) -> (Uuid, String) {
        let secret = format!("whs{}00000", Uuid::new_v4().simple());
        let id = sqlx::query_scalar(
            "INSERT INTO tv_strategies (user_id, broker_connection_id, name, webhook_secret)
             VALUES ($1, $2, 'e2e strategy', $3) RETURNING id",
        )
        .bind(self.user_id)
        .bind(
            self.broker_connection_id
                .expect("agent has a broker connection"),
        )
        .bind(&secret)
        .fetch_one(&self.db.pool)
        .await
        .unwrap();
        (id, secret)
    }

    /// A signal and its trade job, inserted the way the webhook does (one transaction).
    pub async fn insert_signal_trade(&self, symbol: &str, side: &str, volume: f64) -> (Uuid, Uuid) {
        let (strategy, _) = self.insert_strategy().await;
        let mut tx = self.db.pool.begin().await.unwrap();
        let signal: Uuid = sqlx::query_scalar(
            "INSERT INTO tv_signals (strategy_id, user_id, symbol, action, raw_payload)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(strategy)
        .bind(self.user_id)
        .bind(symbol)
        .bind(side)
        .bind(serde_json::json!({"symbol": symbol, "action": side}))
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        let job: Uuid = sqlx::query_scalar(
            "INSERT INTO jobs (user_id, agent_id, job_type, input_data, expires_at, entity_type, entity_id)
             VALUES ($1, $2, 'trade', $3, now() + interval '60 seconds', 'tv_signal', $4) RETURNING id",
        )
        .bind(self.user_id)
        .bind(self.agent_id)
        .bind(serde_json::json!({"symbol": symbol, "side": side, "volume": volume, "signal_id": signal}))
        .bind(signal)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        sqlx::query("UPDATE tv_signals SET job_id = $1 WHERE id = $2")
            .bind(job)
            .bind(signal)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        (job, signal)
    }

    /// `POST /api/v1/jobs` as the user (JWT).
    pub async fn create_job_api(&self, job_type: &str, input: Value) -> Uuid {
        let resp = self
            .http
            .post(format!("{}/api/v1/jobs", self.server_url()))
            .bearer_auth(&self.jwt)
            .json(&serde_json::json!({"job_type": job_type, "agent_id": self.agent_id, "input_data": input}))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "POST /jobs {job_type}: {status} {body}"
        );
        body["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn job_row(&self, id: Uuid) -> (String, Option<Value>, Option<String>) {
        sqlx::query_as("SELECT status, output_data, error_message FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    /// Waits until signal `id` leaves `pending`; returns (status, error_message, job_id).
    pub async fn wait_signal(&self, id: Uuid) -> (String, Option<String>, Option<Uuid>) {
        eventually(Duration::from_secs(90), "signal resolved", || async {
            let row: (String, Option<String>, Option<Uuid>) = sqlx::query_as(
                "SELECT status, error_message, job_id FROM tv_signals WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&self.db.pool)
            .await
            .unwrap();
            (row.0 != "pending").then_some(row)
        })
        .await
    }

    /// Waits for a job to reach completed/failed; returns (status, output_data, error_message).
    pub async fn wait_job(&self, id: Uuid) -> (String, Option<Value>, Option<String>) {
        eventually(
            Duration::from_secs(90),
            &format!("job {id} to finish"),
            || async {
                let row = self.job_row(id).await;
                matches!(row.0.as_str(), "completed" | "failed").then_some(row)
            },
        )
        .await
    }

    /// Lines of the paper terminal's orders log whose comment is `comment`.
    pub fn orders_with_comment(&self, comment: &str) -> Vec<Value> {
        read_orders(&self.orders_log)
            .into_iter()
            .filter(|o| o["comment"] == comment)
            .collect()
    }

    /// `companion-agent status --json`.
    pub fn agent_status(&self) -> Value {
        let out = self
            .agent_command()
            .args(["status", "--json"])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }
}

pub fn read_orders(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
