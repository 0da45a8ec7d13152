//! `companion-agent`: the headless agent for VPS users and services.
//! `pair --server URL` (the key from `COMPANION_AGENT_KEY`, stdin, or a prompt), `run`,
//! `status`, `unpair`, `terminal list|setup|doctor`, and on Windows
//! `service install|uninstall` (docs/agent.md, docs/windows.md). This file holds
//! the command line and the dispatch; each subcommand is a file in `cmd/`.

mod cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use companion_agent::config;
use tokio_util::sync::CancellationToken;

/// Pairing key for services and CI; takes precedence over the keychain.
const KEY_ENV: &str = "COMPANION_AGENT_KEY";
/// Server URL for services and CI; takes precedence over the stored server.
const SERVER_ENV: &str = "COMPANION_SERVER";

#[derive(Parser)]
#[command(
    name = "companion-agent",
    version = companion_agent::update::VERSION,
    about = "Companion agent: executes platform jobs on the local MetaTrader 5 terminal"
)]
struct Cli {
    /// Data directory (config.json, journal.db). Default: the platform's per-user data dir.
    #[arg(long, global = true, env = "COMPANION_AGENT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check a pairing key with the server, keep it in the OS keychain, remember the server.
    /// The key is read from COMPANION_AGENT_KEY, else from stdin (one line), else asked
    /// for at a prompt that does not echo it.
    Pair {
        #[arg(long, env = SERVER_ENV)]
        server: Option<String>,
        #[arg(long)]
        /// Removed: a key in the command line is visible to other local users and kept
        /// in shell history. Refused with instructions.
        #[arg(long, hide = true)]
        key: Option<String>,
    },
    /// Run the agent until SIGINT/SIGTERM.
    Run {
        #[command(flatten)]
        run: RunArgs,
        /// Benchmark baseline: poll every N seconds without long-polling.
        #[arg(long, hide = true)]
        short_poll_secs: Option<u64>,
    },
    /// Show pairing, server reachability and journal counts.
    Status {
        #[arg(long, env = SERVER_ENV)]
        server: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Forget the pairing key and the server.
    Unpair,
    /// Update this binary from the server's signed release (docs/release.md).
    Update(companion_agent::update::UpdateArgs),
    /// Run the agent as a Windows service (Windows only).
    #[command(subcommand)]
    Service(ServiceCmd),
    /// MetaTrader 5 terminals: list them, set the bridge EA up in one, check it (doctor).
    #[command(subcommand)]
    Terminal(cmd::terminal::TerminalCmd),
}

/// How the agent runs: shared by `run` and the Windows service.
#[derive(clap::Args, Clone)]
struct RunArgs {
    #[arg(long, env = SERVER_ENV)]
    server: Option<String>,
    /// Loopback port the bridge EA (or paper terminal) connects to.
    #[arg(long)]
    bridge_port: Option<u16>,
    /// Token the bridge EA must present (generated and stored in config.json when absent).
    #[arg(long)]
    bridge_token: Option<String>,
    /// Long-poll wait in seconds.
    #[arg(long, default_value_t = 25)]
    poll_wait: u64,
}

/// Options of the agent a service runs: its name and the `run` options.
#[derive(clap::Args, Clone)]
struct ServiceRunArgs {
    /// Service name.
    #[arg(long, default_value = "CompanionAgent")]
    name: String,
    #[command(flatten)]
    agent: RunArgs,
}

#[derive(Subcommand)]
enum ServiceCmd {
    /// Register `companion-agent` as an automatically started Windows service that runs
    /// as ACCOUNT (the Windows user who paired: the key is in that user's Credential
    /// Manager). Needs an elevated prompt. The password comes from
    /// COMPANION_SERVICE_PASSWORD or is asked for.
    Install {
        #[command(flatten)]
        run: ServiceRunArgs,
        /// `.\user` for a local account, `DOMAIN\user` otherwise.
        #[arg(long)]
        account: String,
    },
    /// Stop the service (in-flight jobs finish first) and remove it.
    Uninstall {
        #[arg(long, default_value = "CompanionAgent")]
        name: String,
    },
    /// What the Service Control Manager starts; not for a console.
    #[command(hide = true)]
    Run {
        #[command(flatten)]
        run: ServiceRunArgs,
    },
}

fn log_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn".into())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    #[cfg(windows)]
    if let Cmd::Service(ServiceCmd::Run { run }) = &cli.cmd {
        return cmd::service::service_main(cli.data_dir.as_deref(), run.clone());
    }
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let dir = config::data_dir(cli.data_dir.as_deref())?;
    match cli.cmd {
        Cmd::Pair { server, key } => {
            if key.is_some() {
                anyhow::bail!(
                    "`pair --key` was removed: a key in the command line is visible to other users of this machine and stays in shell history. \
                     Run `companion-agent pair --server URL` and paste the key at the prompt, pipe it on stdin, or set {KEY_ENV}"
                );
            }
            let key = cmd::pair::read_pairing_key().await?;
            cmd::pair::pair(&dir, server, key).await
        }
        Cmd::Run {
            run: args,
            short_poll_secs,
        } => {
            let stop = CancellationToken::new();
            let on_signal = stop.clone();
            tokio::spawn(async move {
                cmd::run::shutdown_signal().await;
                on_signal.cancel();
            });
            cmd::run::run(&dir, args, short_poll_secs, stop).await
        }
        Cmd::Status { server, json } => cmd::status::status(&dir, server, json).await,
        Cmd::Unpair => cmd::unpair::unpair(&dir).await,
        Cmd::Update(args) => companion_agent::update::command(&dir, args).await,
        Cmd::Service(c) => cmd::service::service(&dir, c).await,
        Cmd::Terminal(c) => cmd::terminal::terminal(&dir, c).await,
    }
}
