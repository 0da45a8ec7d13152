//! `companion-agent`: the headless agent for VPS users and services.
//! `pair --server URL --key KEY`, `run`, `status`, `unpair`, and on Windows
//! `service install|uninstall` (docs/agent.md, docs/windows.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use companion_agent::config::{self, AgentConfig, JOURNAL_FILE};
use companion_agent::launch::{launch, LaunchError, LaunchOptions};
use companion_agent::secret::{AgentKey, KeyringStore, SecretStore};
use companion_agent::{runtime, ApiClient, ClientError, Journal, RuntimeOptions};
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
    Pair {
        #[arg(long, env = SERVER_ENV)]
        server: Option<String>,
        #[arg(long)]
        key: String,
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
        return service_main(cli.data_dir.as_deref(), run.clone());
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
        Cmd::Pair { server, key } => pair(&dir, server, AgentKey::new(key)).await,
        Cmd::Run {
            run: args,
            short_poll_secs,
        } => {
            let stop = CancellationToken::new();
            let on_signal = stop.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                on_signal.cancel();
            });
            run(&dir, args, short_poll_secs, stop).await
        }
        Cmd::Status { server, json } => status(&dir, server, json).await,
        Cmd::Unpair => unpair(&dir).await,
        Cmd::Update(args) => companion_agent::update::command(&dir, args).await,
        Cmd::Service(cmd) => service(&dir, cmd).await,
    }
}

#[cfg(not(windows))]
async fn service(_dir: &Path, _cmd: ServiceCmd) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "Windows services exist only on Windows; on Linux run `companion-agent run` under systemd (docs/agent.md)"
    )
}

#[cfg(windows)]
async fn service(dir: &Path, cmd: ServiceCmd) -> anyhow::Result<ExitCode> {
    use companion_agent::winservice;
    match cmd {
        ServiceCmd::Install { run, account } => {
            // Install only what can run: paired, with a server, and a key this user can read.
            let cfg = AgentConfig::load(dir)?;
            let server = resolve_server(run.agent.server.clone(), &cfg)?;
            if std::env::var_os(KEY_ENV).is_some() {
                anyhow::bail!("unset {KEY_ENV} first: a service reads its key from the Credential Manager of its account, run `companion-agent pair --key KEY` as that user");
            }
            resolve_key(&cfg).await.map_err(|e| {
                anyhow::anyhow!("{e:#}\n(pair first, as the account the service will run as: companion-agent pair --server URL --key KEY)")
            })?;
            let password = match std::env::var("COMPANION_SERVICE_PASSWORD") {
                Ok(p) => p,
                Err(_) => tokio::task::spawn_blocking({
                    let account = account.clone();
                    move || rpassword::prompt_password(format!("Windows password of {account}: "))
                })
                .await??,
            };
            let mut args: Vec<std::ffi::OsString> = vec![
                "service".into(),
                "run".into(),
                "--name".into(),
                run.name.clone().into(),
                "--data-dir".into(),
                dir.as_os_str().to_owned(),
                "--server".into(),
                server.into(),
                "--poll-wait".into(),
                run.agent.poll_wait.to_string().into(),
            ];
            if let Some(p) = run.agent.bridge_port {
                args.extend(["--bridge-port".into(), p.to_string().into()]);
            }
            if let Some(t) = &run.agent.bridge_token {
                args.extend(["--bridge-token".into(), t.into()]);
            }
            let spec = winservice::InstallSpec {
                name: run.name.clone(),
                exe: std::env::current_exe()?,
                args,
                account: Some(account.clone()),
                password: Some(password),
            };
            tokio::task::spawn_blocking(move || winservice::install(&spec)).await??;
            println!(
                "Installed the service {name}: it starts at boot as {account}. Start it now with `sc start {name}`; logs: {}",
                dir.join("logs").display(),
                name = run.name,
            );
            Ok(ExitCode::SUCCESS)
        }
        ServiceCmd::Uninstall { name } => {
            let n = name.clone();
            tokio::task::spawn_blocking(move || winservice::uninstall(&n)).await??;
            println!("Removed the service {name}.");
            Ok(ExitCode::SUCCESS)
        }
        ServiceCmd::Run { .. } => anyhow::bail!(
            "`service run` is started by the Service Control Manager: use `companion-agent run` in a console"
        ),
    }
}

/// The process the Service Control Manager starts: logs go to `<data dir>/logs`
/// (a service has no console), the agent runs until the SCM stops it.
#[cfg(windows)]
fn service_main(data_dir: Option<&Path>, args: ServiceRunArgs) -> ExitCode {
    use companion_agent::winservice;
    let dir = match config::data_dir(data_dir) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("agent")
        .filename_suffix("log")
        .max_log_files(14)
        .build(dir.join("logs"));
    match appender {
        Ok(a) => tracing_subscriber::fmt()
            .with_env_filter(log_filter())
            .with_ansi(false)
            .with_writer(a)
            .init(),
        Err(e) => {
            eprintln!(
                "error: cannot open the log folder {}: {e}",
                dir.join("logs").display()
            );
            return ExitCode::FAILURE;
        }
    }
    let name = args.name.clone();
    let body: winservice::ServiceBody = Box::new(move |stop| {
        let rt = match tokio::runtime::Runtime::new() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the async runtime");
                return 1;
            }
        };
        let r = rt.block_on(run(&dir, args.agent, None, stop));
        match r {
            Ok(code) if code == ExitCode::SUCCESS => 0,
            Ok(_) => 2,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "the agent stopped with an error");
                1
            }
        }
    });
    match winservice::run(&name, body) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "service dispatcher");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
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
    args: RunArgs,
    short_poll_secs: Option<u64>,
    stop: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let RunArgs {
        server,
        bridge_port,
        bridge_token,
        poll_wait,
    } = args;
    let cfg = AgentConfig::load(dir)?;
    let server = resolve_server(server, &cfg)?;
    let (key, source) = resolve_key(&cfg).await?;
    tracing::info!(%server, key = %key, key_source = source, data_dir = %dir.display(), "starting");
    let auto_update = companion_agent::update::AutoUpdate::spawn(&server, stop.clone());
    let opts = LaunchOptions {
        bridge_port,
        bridge_token,
        runtime: RuntimeOptions {
            poll_wait_secs: poll_wait,
            short_poll_interval: short_poll_secs.map(Duration::from_secs),
            ..Default::default()
        },
    };
    // Launching retries while the server is unreachable: a stop ends that wait too.
    let launched = tokio::select! {
        r = launch(dir, &server, key, opts) => r,
        _ = stop.cancelled() => return Ok(ExitCode::SUCCESS),
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
        stop.cancelled().await;
        tracing::info!("shutdown requested: finishing in-flight jobs");
        cancel.cancel();
    });
    match launched.wait().await {
        Ok(()) if auto_update.updated() => Ok(auto_update.restart()),
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
