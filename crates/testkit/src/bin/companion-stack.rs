//! `companion-stack up`: PostgreSQL + server + user + agent (+ paper terminal) for the
//! scripts (`make demo`, the e2e, bench and fuzz scripts).
//!
//! Starts a throwaway cluster of its own, migrates it, provisions a user with a broker
//! connection, an agent (pairing key) and a user token, starts `companion-server serve`
//! on a free loopback port (and, with `--paper`, the paper terminal on a free bridge
//! port), prints ONE JSON line describing all of it to stdout, and stays in the
//! foreground until SIGINT or SIGTERM: then it stops the server and the terminal,
//! stops the cluster and removes its data. The server inherits this process's
//! environment (RUST_LOG, rate limits, TRUSTED_PROXIES…), except what the stack sets.
//!
//! From bash: `companion-stack up >"$work/stack.json" & stack=$!`, wait for the line,
//! read fields with any JSON tool, `kill $stack; wait $stack` to tear down.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use clap::{Parser, Subcommand};
use companion_testkit::stack::{self, Admin, Cluster, Who};
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "companion-stack",
    about = "Start PostgreSQL + server + user + agent (+ paper terminal) for scripts"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start everything, print one JSON line, run until SIGINT/SIGTERM.
    Up(UpArgs),
}

#[derive(clap::Args)]
struct UpArgs {
    /// Where companion-server and companion-paper-terminal are (default: beside this binary).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Logs and the cluster go here (default: a new temp dir, removed at exit).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    #[arg(long, default_value = "test@companion.local")]
    email: String,
    #[arg(long, default_value = "Paper account")]
    connection_name: String,
    #[arg(long, default_value = "Test PC")]
    agent_name: String,
    /// Lifetime of the user token.
    #[arg(long, default_value_t = 7200)]
    token_ttl_secs: u64,
    /// Also create a second user (with a broker connection, no agent): isolation checks.
    #[arg(long)]
    other_user: Option<String>,
    /// Keep PostgreSQL's durable settings (fsync, synchronous commit): benchmarks.
    #[arg(long)]
    durable: bool,
    /// Start the paper terminal, connecting to the bridge port in the JSON.
    #[arg(long)]
    paper: bool,
    /// One more argument for the paper terminal (repeatable): `--paper-arg=--seed --paper-arg=7`.
    #[arg(long, allow_hyphen_values = true)]
    paper_arg: Vec<String>,
}

/// The JSON line on stdout.
#[derive(Serialize)]
struct Up {
    database_url: String,
    server_url: String,
    server_pid: u32,
    server_log: PathBuf,
    jwt_secret: String,
    #[serde(flatten)]
    provisioned: stack::Provisioned,
    other_user: Option<stack::OtherUser>,
    bridge_port: u16,
    bridge_token: String,
    paper_pid: Option<u32>,
    paper_log: Option<PathBuf>,
    work_dir: PathBuf,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Cmd::Up(args) = Cli::parse().cmd;
    if let Err(e) = up(args).await {
        eprintln!("companion-stack: {e}");
        std::process::exit(1);
    }
}

async fn up(a: UpArgs) -> Result<(), Box<dyn std::error::Error>> {
    let bin_dir = match a.bin_dir.clone() {
        Some(d) => d,
        None => std::env::current_exe()?
            .parent()
            .ok_or("cannot tell the binary's directory; pass --bin-dir")?
            .to_path_buf(),
    };
    let (work_dir, _temp) = match a.work_dir.clone() {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            (d.canonicalize()?, None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("companion-stack.")
                .tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let server_bin = bin_dir.join("companion-server");
    if !server_bin.exists() {
        return Err(format!(
            "{} not found: build it first (cargo build -p companion-server)",
            server_bin.display()
        )
        .into());
    }

    let mut cluster = Cluster::start(&work_dir.join("db"), a.durable)?;
    let admin = Admin {
        server_bin,
        database_url: cluster.url.clone(),
        jwt_secret: stack::random_token(48),
    };
    let result = serve(&a.email, &a, &admin, &bin_dir, &work_dir).await;
    cluster.stop()?;
    result
}

async fn serve(
    email: &str,
    a: &UpArgs,
    admin: &Admin,
    bin_dir: &std::path::Path,
    work_dir: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    admin.migrate()?;
    let provisioned = admin.provision(&Who {
        email,
        connection_name: &a.connection_name,
        agent_name: &a.agent_name,
        token_ttl_secs: a.token_ttl_secs,
    })?;
    let other_user = match &a.other_user {
        Some(e) => Some(admin.other_user(e)?),
        None => None,
    };

    let port = stack::free_port()?;
    let server_url = stack::server_url(port);
    let server_log = work_dir.join("server.log");
    let mut server = stack::spawn_logged(admin.serve_command(port), &server_log)?;
    let mut children = Children(vec![]);
    let server_pid = server.id();
    if let Err(e) = stack::wait_healthy(&server_url, Duration::from_secs(60)).await {
        stack::terminate(&mut server, Duration::from_secs(5));
        return Err(format!("{e}; see {}", server_log.display()).into());
    }
    children.0.push(server);

    let bridge_port = stack::free_port()?;
    let bridge_token = stack::random_token(32);
    let (mut paper_pid, mut paper_log) = (None, None);
    if a.paper {
        let log = work_dir.join("paper.log");
        let mut cmd = Command::new(bin_dir.join("companion-paper-terminal"));
        cmd.arg("--agent")
            .arg(format!("127.0.0.1:{bridge_port}"))
            .arg("--token")
            .arg(&bridge_token)
            .args(&a.paper_arg);
        let child = stack::spawn_logged(cmd, &log)?;
        paper_pid = Some(child.id());
        paper_log = Some(log);
        children.0.push(child);
    }

    let line = serde_json::to_string(&Up {
        database_url: admin.database_url.clone(),
        server_url,
        server_pid,
        server_log,
        jwt_secret: admin.jwt_secret.clone(),
        provisioned,
        other_user,
        bridge_port,
        bridge_token,
        paper_pid,
        paper_log,
        work_dir: work_dir.to_path_buf(),
    })?;
    println!("{line}");

    wait_for_stop().await?;
    drop(children);
    Ok(())
}

/// Children stopped (SIGTERM, then SIGKILL) in reverse order when dropped.
struct Children(Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        while let Some(mut c) = self.0.pop() {
            stack::terminate(&mut c, Duration::from_secs(10));
        }
    }
}

async fn wait_for_stop() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
