//! `companion-agent`: the headless agent for VPS users and services.
//! `pair --server URL --key KEY`, `run`, `status`, `unpair` (docs/agent.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use companion_agent::config::{self, AgentConfig, JOURNAL_FILE};
use companion_agent::launch::{launch, LaunchError, LaunchOptions};
use companion_agent::secret::{AgentKey, KeyringStore, SecretStore};
use companion_agent::{runtime, ApiClient, ClientError, Journal, RuntimeOptions};

/// Pairing key for services and CI; takes precedence over the keychain.
const KEY_ENV: &str = "COMPANION_AGENT_KEY";
/// Server URL for services and CI; takes precedence over the stored server.
const SERVER_ENV: &str = "COMPANION_SERVER";

#[derive(Parser)]
#[command(
    name = "companion-agent",
    version,
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
    Pair {
        #[arg(long, env = SERVER_ENV)]
        server: Option<String>,
        #[arg(long)]
        key: String,
    },
    /// Run the agent until SIGINT/SIGTERM.
    Run {
        #[arg(long, env = SERVER_ENV)]
        server: Option<String>,
        /// Loopback port the bridge EA (or paper terminal) connects to.
        #[arg(long)]
        bridge_port: Option<u16>,
        /// Token the bridge EA must present (generated and stored when absent).
        #[arg(long)]
        bridge_token: Option<String>,
        /// Long-poll wait in seconds.
        #[arg(long, default_value_t = 25)]
        poll_wait: u64,
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
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
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
        Cmd::Pair { server, key } => pair(&dir, server, AgentKey::new(key)).await,
        Cmd::Run {
            server,
            bridge_port,
            bridge_token,
            poll_wait,
            short_poll_secs,
        } => {
            run(
                &dir,
                server,
                bridge_port,
                bridge_token,
                poll_wait,
                short_poll_secs,
            )
            .await
        }
        Cmd::Status { server, json } => status(&dir, server, json).await,
        Cmd::Unpair => unpair(&dir).await,
    }
}

async fn keychain<R: Send + 'static>(
    f: impl FnOnce(KeyringStore) -> R + Send + 'static,
) -> anyhow::Result<R> {
    Ok(tokio::task::spawn_blocking(move || f(KeyringStore)).await?)
}

fn resolve_server(flag: Option<String>, cfg: &AgentConfig) -> anyhow::Result<String> {
    flag.filter(|s| !s.is_empty())
        .or_else(|| cfg.server_url.clone())
        .ok_or_else(|| anyhow::anyhow!("no server URL: pass --server URL (or set {SERVER_ENV})"))
}

async fn pair(dir: &Path, server: Option<String>, key: AgentKey) -> anyhow::Result<ExitCode> {
    let mut cfg = AgentConfig::load(dir)?;
    let server = resolve_server(server, &cfg)?;
    let client = ApiClient::new(&server, key.clone())?;
    let me = match client.me().await {
        Ok(me) => me,
        Err(ClientError::BadKey { message, .. }) => {
            anyhow::bail!("the server refused this pairing key ({message}); copy the key again from the platform's Agents page")
        }
        Err(ClientError::Unreachable(m)) => anyhow::bail!(
            "cannot reach the server at {server}: {m}; check the URL and your network"
        ),
        Err(e) => return Err(e.into()),
    };
    let account = me.agent_id.to_string();
    let k = key.clone();
    keychain(move |s| s.set(&account, &k)).await?.map_err(|e| {
        anyhow::anyhow!(
            "{e}\n(the key itself is valid: agent {} ({}))",
            me.agent_name,
            me.agent_id
        )
    })?;
    cfg.server_url = Some(server);
    cfg.agent_id = Some(me.agent_id);
    cfg.agent_name = Some(me.agent_name.clone());
    cfg.save(dir)?;
    println!("Paired as {} ({})", me.agent_name, me.agent_id);
    println!("agent_name={}", me.agent_name);
    println!("agent_id={}", me.agent_id);
    Ok(ExitCode::SUCCESS)
}

/// The key: `COMPANION_AGENT_KEY` first, then the keychain entry of the stored agent.
async fn resolve_key(cfg: &AgentConfig) -> anyhow::Result<(AgentKey, &'static str)> {
    if let Ok(k) = std::env::var(KEY_ENV) {
        if !k.trim().is_empty() {
            return Ok((AgentKey::new(k), "environment"));
        }
    }
    let Some(id) = cfg.agent_id else {
        anyhow::bail!("not paired: run `companion-agent pair --server URL --key KEY` (or set {KEY_ENV} for services)");
    };
    let account = id.to_string();
    match keychain(move |s| s.get(&account)).await? {
        Ok(Some(k)) => Ok((k, "keychain")),
        Ok(None) => anyhow::bail!("no pairing key in the OS keychain for agent {id}: run `companion-agent pair --key KEY` again"),
        Err(e) => Err(e.into()),
    }
}

async fn run(
    dir: &Path,
    server: Option<String>,
    bridge_port: Option<u16>,
    bridge_token: Option<String>,
    poll_wait: u64,
    short_poll_secs: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let cfg = AgentConfig::load(dir)?;
    let server = resolve_server(server, &cfg)?;
    let (key, source) = resolve_key(&cfg).await?;
    tracing::info!(%server, key = %key, key_source = source, data_dir = %dir.display(), "starting");
    let opts = LaunchOptions {
        bridge_port,
        bridge_token,
        runtime: RuntimeOptions {
            poll_wait_secs: poll_wait,
            short_poll_interval: short_poll_secs.map(Duration::from_secs),
            ..Default::default()
        },
    };
    // Launching retries while the server is unreachable: a signal ends that wait too.
    let launched = tokio::select! {
        r = launch(dir, &server, key, opts) => r,
        _ = shutdown_signal() => return Ok(ExitCode::SUCCESS),
    };
    let launched = match launched {
        Ok(l) => l,
        Err(LaunchError::BadKey(e)) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    let cancel = launched.handle.cancel_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested: finishing in-flight jobs");
        cancel.cancel();
    });
    match launched.wait().await {
        Ok(()) => {
            tracing::info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        Err(runtime::RuntimeError::BadKey(e)) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[derive(serde::Serialize)]
struct StatusReport {
    data_dir: String,
    paired: bool,
    agent_id: Option<uuid::Uuid>,
    agent_name: Option<String>,
    server: Option<String>,
    key_source: Option<String>,
    key_problem: Option<String>,
    server_reachable: Option<bool>,
    server_message: Option<String>,
    journal: Option<companion_agent::JournalCounts>,
}

async fn status(dir: &Path, server: Option<String>, json: bool) -> anyhow::Result<ExitCode> {
    let cfg = AgentConfig::load(dir)?;
    let server = server
        .filter(|s| !s.is_empty())
        .or_else(|| cfg.server_url.clone());
    let mut rep = StatusReport {
        data_dir: dir.display().to_string(),
        paired: false,
        agent_id: cfg.agent_id,
        agent_name: cfg.agent_name.clone(),
        server: server.clone(),
        key_source: None,
        key_problem: None,
        server_reachable: None,
        server_message: None,
        journal: None,
    };
    match resolve_key(&cfg).await {
        Ok((key, source)) => {
            rep.paired = true;
            rep.key_source = Some(source.into());
            if let Some(s) = &server {
                let client = ApiClient::new(s, key)?;
                match tokio::time::timeout(Duration::from_secs(10), client.me()).await {
                    Ok(Ok(me)) => {
                        rep.server_reachable = Some(true);
                        rep.server_message = Some(format!(
                            "key accepted for {} ({})",
                            me.agent_name, me.agent_id
                        ));
                    }
                    Ok(Err(e @ ClientError::BadKey { .. })) => {
                        rep.server_reachable = Some(true);
                        rep.paired = false;
                        rep.server_message = Some(e.to_string());
                    }
                    Ok(Err(e)) => {
                        rep.server_reachable = Some(false);
                        rep.server_message = Some(e.to_string());
                    }
                    Err(_) => {
                        rep.server_reachable = Some(false);
                        rep.server_message = Some("timed out".into());
                    }
                }
            }
        }
        Err(e) => rep.key_problem = Some(format!("{e:#}")),
    }
    let jpath = dir.join(JOURNAL_FILE);
    if jpath.exists() {
        let j = Journal::open(&jpath).await?;
        rep.journal = Some(j.counts().await?);
        j.close().await;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        println!("data dir:   {}", rep.data_dir);
        match (&rep.agent_name, rep.agent_id) {
            (Some(n), Some(id)) => println!("agent:      {n} ({id})"),
            _ => println!("agent:      (none)"),
        }
        println!(
            "paired:     {}{}",
            if rep.paired { "yes" } else { "no" },
            rep.key_source
                .as_deref()
                .map(|s| format!(" (key from {s})"))
                .unwrap_or_default()
        );
        if let Some(p) = &rep.key_problem {
            println!("key:        {p}");
        }
        println!("server:     {}", rep.server.as_deref().unwrap_or("(none)"));
        if let Some(r) = rep.server_reachable {
            println!(
                "reachable:  {}{}",
                if r { "yes" } else { "no" },
                rep.server_message
                    .as_deref()
                    .map(|m| format!(" — {m}"))
                    .unwrap_or_default()
            );
        }
        if let Some(c) = &rep.journal {
            println!(
                "journal:    {} claimed, {} sent to terminal, {} results not yet reported, {} reported, {} dropped",
                c.claimed, c.sent_to_terminal, c.unreported, c.reported, c.dropped
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn unpair(dir: &Path) -> anyhow::Result<ExitCode> {
    let mut cfg = AgentConfig::load(dir)?;
    if let Some(id) = cfg.agent_id {
        let account = id.to_string();
        match keychain(move |s| s.delete(&account)).await? {
            Ok(()) => {}
            Err(e) => eprintln!("warning: could not remove the key from the OS keychain: {e}"),
        }
    }
    let jpath = dir.join(JOURNAL_FILE);
    if jpath.exists() {
        let j = Journal::open(&jpath).await?;
        let c = j.counts().await?;
        j.close().await;
        if c.unreported > 0 {
            eprintln!(
                "warning: {} job result(s) were not reported to the server yet; they stay in {}",
                c.unreported,
                jpath.display()
            );
        }
    }
    cfg.agent_id = None;
    cfg.agent_name = None;
    cfg.server_url = None;
    cfg.save(dir)?;
    println!("Unpaired: the key was removed from this machine.");
    Ok(ExitCode::SUCCESS)
}
