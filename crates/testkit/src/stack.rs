//! The one way to start "PostgreSQL + server + user + agent (+ paper terminal)".
//!
//! The `companion-stack` binary (for the bash scripts: `make demo`, the e2e and bench
//! scripts, API fuzzing) and the Rust end-to-end tests and chaos driver share this code:
//! a free loopback port, the admin commands of `companion-server` that provision a
//! user, a broker connection, an agent with its pairing key and a user token, the
//! server's command line and environment, and the wait for `/healthz`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::Serialize;

use crate::error::TestkitError;

/// Ports handed out by [`free_port`]: below Linux's default ephemeral range
/// (32768–60999), from which the kernel picks the source port of every outgoing
/// connection — a port chosen there can be taken by a test's own client connection
/// before the server it was meant for binds it ("address already in use").
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_768;

/// A port on 127.0.0.1 that was free a moment ago: a random one below the ephemeral
/// range that can be bound now, else one the kernel picks.
pub fn free_port() -> Result<u16, TestkitError> {
    use rand::Rng;
    let mut rng = rand::rng();
    for _ in 0..64 {
        let port = rng.random_range(TEST_PORTS);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| TestkitError::Stack(format!("no free loopback port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| TestkitError::Stack(format!("no free loopback port: {e}")))
}

/// `n` random alphanumeric characters (JWT secrets, bridge tokens of test stacks).
pub fn random_token(n: usize) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), n)
}

/// How the admin commands reach the database.
#[derive(Clone, Debug)]
pub struct Admin {
    /// The `companion-server` binary.
    pub server_bin: PathBuf,
    /// Superuser URL of the (migrated) database.
    pub database_url: String,
    /// The secret user tokens are signed with (`SUPABASE_JWT_SECRET`).
    pub jwt_secret: String,
}

impl Admin {
    /// Runs `companion-server ARGS` against the database and returns its trimmed stdout.
    /// Keys are hashed with a low bcrypt cost unless the caller's environment sets one:
    /// test and demo keys need no brute-force resistance.
    pub fn run(&self, args: &[&str]) -> Result<String, TestkitError> {
        let mut cmd = Command::new(&self.server_bin);
        cmd.args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("SUPABASE_JWT_SECRET", &self.jwt_secret)
            .stdin(Stdio::null());
        if std::env::var_os("PAIRING_KEY_BCRYPT_COST").is_none() {
            cmd.env("PAIRING_KEY_BCRYPT_COST", "4");
        }
        let out = cmd.output().map_err(|e| {
            TestkitError::Stack(format!("running {}: {e}", self.server_bin.display()))
        })?;
        if !out.status.success() {
            return Err(TestkitError::Stack(format!(
                "companion-server {}: {}",
                args.first().copied().unwrap_or_default(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn run_json(&self, args: &[&str]) -> Result<serde_json::Value, TestkitError> {
        let out = self.run(args)?;
        serde_json::from_str(&out).map_err(|e| {
            TestkitError::Stack(format!(
                "companion-server {}: not JSON ({e}): {out}",
                args.first().copied().unwrap_or_default()
            ))
        })
    }

    /// Applies every migration (idempotent).
    pub fn migrate(&self) -> Result<(), TestkitError> {
        self.run(&["migrate"]).map(|_| ())
    }

    /// A user with an MT5 broker connection, an agent (pairing key) on it and a user
    /// token valid for `token_ttl_secs`.
    pub fn provision(&self, who: &Who<'_>) -> Result<Provisioned, TestkitError> {
        let OtherUser {
            user_id,
            broker_connection_id,
        } = self.user_with_connection(who.email, who.connection_name)?;
        let agent = self.run_json(&[
            "create-agent",
            "--user",
            &user_id,
            "--broker-connection",
            &broker_connection_id,
            "--name",
            who.agent_name,
            "--json",
        ])?;
        let token = self.run(&[
            "token",
            "--user",
            &user_id,
            "--ttl-secs",
            &who.token_ttl_secs.to_string(),
        ])?;
        Ok(Provisioned {
            user_id,
            email: who.email.to_string(),
            broker_connection_id,
            agent_id: field(&agent, "agent_id")?,
            agent_key: field(&agent, "pairing_key")?,
            token,
        })
    }

    /// A second user with a broker connection and no agent (isolation checks).
    pub fn other_user(&self, email: &str) -> Result<OtherUser, TestkitError> {
        self.user_with_connection(email, "Other account")
    }

    fn user_with_connection(
        &self,
        email: &str,
        connection: &str,
    ) -> Result<OtherUser, TestkitError> {
        let user = self.run_json(&["create-user", "--email", email, "--json"])?;
        let user_id = field(&user, "user_id")?;
        let conn = self.run_json(&[
            "create-broker-connection",
            "--user",
            &user_id,
            "--name",
            connection,
            "--json",
        ])?;
        Ok(OtherUser {
            user_id,
            broker_connection_id: field(&conn, "broker_connection_id")?,
        })
    }

    /// `companion-server serve` on 127.0.0.1:`port`; the caller adds stdio and spawns.
    /// Everything else comes from the caller's environment (RUST_LOG, rate limits…).
    pub fn serve_command(&self, port: u16) -> Command {
        let mut cmd = Command::new(&self.server_bin);
        cmd.arg("serve")
            .env("DATABASE_URL", &self.database_url)
            .env("SUPABASE_JWT_SECRET", &self.jwt_secret)
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("PUBLIC_BASE_URL", server_url(port))
            .stdin(Stdio::null());
        cmd
    }
}

/// Who [`Admin::provision`] creates.
#[derive(Clone, Debug)]
pub struct Who<'a> {
    pub email: &'a str,
    pub connection_name: &'a str,
    pub agent_name: &'a str,
    pub token_ttl_secs: u64,
}

impl<'a> Who<'a> {
    /// `email` with a "Paper account" connection, an agent named "Test PC", a 2 h token.
    pub fn new(email: &'a str) -> Self {
        Who {
            email,
            connection_name: "Paper account",
            agent_name: "Test PC",
            token_ttl_secs: 7200,
        }
    }
}

/// The rows [`Admin::provision`] created, and the secrets that go with them.
#[derive(Clone, Debug, Serialize)]
pub struct Provisioned {
    pub user_id: String,
    pub email: String,
    pub broker_connection_id: String,
    pub agent_id: String,
    pub agent_key: String,
    pub token: String,
}

/// A second user (see [`Admin::other_user`]).
#[derive(Clone, Debug, Serialize)]
pub struct OtherUser {
    pub user_id: String,
    pub broker_connection_id: String,
}

/// Builds `packages`' binaries once per test process, unless the caller built them
/// (`COMPANION_E2E_SKIP_BUILD=1`, as `make test` does): end-to-end tests need the real
/// server and paper terminal beside their own binary. Panics when the build fails.
pub fn ensure_built(packages: &[&str]) {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        if std::env::var("COMPANION_E2E_SKIP_BUILD").is_ok_and(|v| v == "1") {
            return;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.arg("build").arg("--bins");
        for p in packages {
            cmd.args(["-p", p]);
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building {packages:?} failed");
    });
}

/// `http://127.0.0.1:port`.
pub fn server_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// Waits until `GET {server}/healthz` answers 2xx, at most `limit`.
pub async fn wait_healthy(server: &str, limit: Duration) -> Result<(), TestkitError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| TestkitError::Stack(format!("http client: {e}")))?;
    let end = tokio::time::Instant::now() + limit;
    let url = format!("{server}/healthz");
    loop {
        if let Ok(r) = http.get(&url).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() > end {
            return Err(TestkitError::Stack(format!(
                "{url} did not answer within {} s",
                limit.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A throwaway PostgreSQL cluster of `scripts/dev-db` in `dir` (ours alone: a
/// `DATABASE_URL` in the environment is ignored). Stopped and removed on [`Cluster::stop`]
/// and on drop.
pub struct Cluster {
    dir: PathBuf,
    pub url: String,
    stopped: bool,
}

impl Cluster {
    /// Starts it; `durable` keeps fsync and synchronous commit on (benchmarks).
    pub fn start(dir: &Path, durable: bool) -> Result<Cluster, TestkitError> {
        let out = dev_db(dir, "start", durable)?;
        let url = out.lines().last().unwrap_or_default().trim().to_string();
        if url.is_empty() {
            return Err(TestkitError::DevDb("dev-db start printed no URL".into()));
        }
        Ok(Cluster {
            dir: dir.to_path_buf(),
            url,
            stopped: false,
        })
    }

    /// Stops the cluster and removes its data.
    pub fn stop(&mut self) -> Result<(), TestkitError> {
        if !self.stopped {
            self.stopped = true;
            dev_db(&self.dir, "stop", false)?;
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn dev_db(state: &Path, cmd: &str, durable: bool) -> Result<String, TestkitError> {
    let script = crate::repo_root().join("scripts").join("dev-db");
    let out = Command::new("bash")
        .arg(&script)
        .arg(cmd)
        .env_remove("DATABASE_URL")
        .env("DEV_DB_DIR", state)
        .env("DEV_DB_DURABLE", if durable { "1" } else { "0" })
        .stdin(Stdio::null())
        .output()
        .map_err(|e| TestkitError::DevDb(format!("running {}: {e}", script.display())))?;
    if !out.status.success() {
        return Err(TestkitError::DevDb(format!(
            "dev-db {cmd}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

fn field(v: &serde_json::Value, name: &str) -> Result<String, TestkitError> {
    v.get(name)
        .and_then(|x| x.as_str())
        .map(str::to_string)
        .ok_or_else(|| TestkitError::Stack(format!("no `{name}` in {v}")))
}

/// Spawns `cmd` with stdout and stderr appended to `log`. On Linux the child gets
/// SIGTERM when the process that started it dies, so a killed test or stack process
/// leaves no server or terminal behind.
pub fn spawn_logged(mut cmd: Command, log: &Path) -> Result<std::process::Child, TestkitError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| TestkitError::Stack(format!("opening {}: {e}", log.display())))?;
    let err = file
        .try_clone()
        .map_err(|e| TestkitError::Stack(format!("opening {}: {e}", log.display())))?;
    cmd.stdout(Stdio::from(file)).stderr(Stdio::from(err));
    die_with_parent(&mut cmd);
    cmd.spawn()
        .map_err(|e| TestkitError::Stack(format!("starting {:?}: {e}", cmd.get_program())))
}

#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

/// SIGTERM, up to `grace` for the child to exit, then SIGKILL; reaps it either way.
pub fn terminate(child: &mut std::process::Child, grace: Duration) {
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) on the pid of our own, not yet reaped child.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let end = std::time::Instant::now() + grace;
        while std::time::Instant::now() < end {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_avoid_the_ephemeral_range_and_can_be_bound() {
        for _ in 0..20 {
            let port = free_port().unwrap();
            assert!(
                TEST_PORTS.contains(&port),
                "{port} is in the ephemeral range"
            );
            let held = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
            drop(held);
        }
    }
}
