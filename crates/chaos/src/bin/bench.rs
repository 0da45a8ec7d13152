//! `companion-bench`: load benches against a running `companion-server` (started by
//! `scripts/bench`, which passes its pid so its memory and CPU can be read).
//!
//! - `idle-polls`: N distinct agents each hold a `jobs/next?wait=30` long-poll open
//!   (and re-poll when it returns 204); reports server RSS and CPU while they idle.
//! - `floor-server`: the per-connection floor for `idle-polls` to compare with — a bare
//!   axum server (served exactly as `companion-server` serves: `axum::serve` with
//!   connect info) whose `jobs/next` only sleeps `wait` seconds and answers 204: no auth,
//!   no database, no wake-up registration. It prints nothing and runs until killed.
//! - `burst`: the candle-close burst (`companion_chaos::burst`): one alert per strategy
//!   for thousands of strategies, sent within a second; time to accept the last one and
//!   each alert's send → accepted (job committed, claimable) time.
//! - `auth`: per-request cost of agent-key authentication with a warm cache, against
//!   the unauthenticated `/healthz` baseline and the cold (bcrypt) first request.
//!
//! Prints one JSON object on stdout; progress goes to stderr.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use companion_chaos::{fixtures, procstat, stats};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "companion-bench",
    about = "Load benches against a running companion-server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Target {
    /// Base URL of the server, e.g. http://127.0.0.1:8080
    #[arg(long)]
    server: String,
    /// The server's process id (for RSS / CPU).
    #[arg(long)]
    server_pid: u32,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
}

#[derive(Subcommand)]
enum Command {
    /// Hold N idle long-polls from N distinct agents.
    IdlePolls {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 10_000)]
        agents: usize,
        /// Seconds to hold them all after the ramp-up.
        #[arg(long, default_value_t = 40)]
        hold_secs: u64,
        /// bcrypt cost of the bench agents' keys (low: creating 10,000 keys at the
        /// production cost would take minutes and measures nothing here).
        #[arg(long, default_value_t = 4)]
        bcrypt_cost: u32,
        /// Email of the user the bench agents belong to (created; must be new).
        #[arg(long, default_value = "idle-bench@companion.local")]
        email: String,
    },
    /// The candle-close burst: one alert per strategy, all within `spread_ms`.
    Burst {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 3000)]
        strategies: usize,
        #[arg(long, default_value_t = 300)]
        agents: usize,
        #[arg(long, default_value_t = 10)]
        agents_per_user: usize,
        #[arg(long, default_value_t = 1000)]
        spread_ms: u64,
        /// Another replica's base URL (repeatable): the alerts go to `--server` and
        /// these in turn.
        #[arg(long = "also-server")]
        also_servers: Vec<String>,
    },
    /// Serve the bare long-poll floor on BIND until killed.
    FloorServer {
        #[arg(long)]
        bind: String,
    },
    /// Agent-key authentication cost per request.
    Auth {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 3000)]
        requests: usize,
        /// Agents whose first (cold, bcrypt) request is timed.
        #[arg(long, default_value_t = 20)]
        cold: usize,
        /// bcrypt cost of those agents' keys (the server default is 10).
        #[arg(long, default_value_t = 10)]
        bcrypt_cost: u32,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let out = match Cli::parse().command {
        Command::IdlePolls {
            target,
            agents,
            hold_secs,
            bcrypt_cost,
            email,
        } => idle_polls(&target, agents, hold_secs, bcrypt_cost, &email).await?,
        Command::Auth {
            target,
            requests,
            cold,
            bcrypt_cost,
        } => auth(&target, requests, cold, bcrypt_cost).await?,
        Command::Burst {
            target,
            strategies,
            agents,
            agents_per_user,
            spread_ms,
            also_servers,
        } => {
            let db = pool(&target.database_url).await?;
            let t0 = Instant::now();
            let fleet =
                companion_chaos::burst::provision(&db, agents, agents_per_user, strategies, 4)
                    .await?;
            eprintln!(
                "burst: {strategies} strategies of {agents} agents provisioned in {:.1}s",
                t0.elapsed().as_secs_f64()
            );
            let servers: Vec<String> = std::iter::once(target.server.clone())
                .chain(also_servers)
                .collect();
            companion_chaos::burst::run(&db, &servers, &fleet, Duration::from_millis(spread_ms))
                .await?
        }
        Command::FloorServer { bind } => {
            floor_server(&bind).await?;
            return Ok(());
        }
    };
    println!("{out}");
    Ok(())
}

/// The bare long-poll server (see the module doc): what any hyper/axum connection
/// holding one waiting request costs, before anything of ours.
async fn floor_server(bind: &str) -> anyhow::Result<()> {
    use axum::extract::Query;
    use axum::http::StatusCode;
    use axum::routing::get;

    #[derive(serde::Deserialize)]
    struct Wait {
        wait: Option<u64>,
    }
    async fn next(Query(q): Query<Wait>) -> StatusCode {
        tokio::time::sleep(Duration::from_secs(q.wait.unwrap_or(30).min(60))).await;
        StatusCode::NO_CONTENT
    }
    let app = axum::Router::new()
        .route("/api/v1/agents/{id}/jobs/next", get(next))
        .route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("bind {bind}"))?;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await?;
    Ok(())
}

async fn pool(url: &str) -> anyhow::Result<sqlx::PgPool> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect(url)
        .await
        .context("cannot connect to DATABASE_URL")
}

/// Established TCP connections whose local port is `port` (the server side).
fn established_on(port: u16) -> usize {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .map(|t| {
            t.lines()
                .skip(1)
                .filter(|l| {
                    let cols: Vec<&str> = l.split_whitespace().collect();
                    let local_port = cols
                        .get(1)
                        .and_then(|a| a.rsplit(':').next())
                        .and_then(|p| u16::from_str_radix(p, 16).ok());
                    local_port == Some(port) && cols.get(3) == Some(&"01")
                })
                .count()
        })
        .sum::<usize>()
}

fn port_of(url: &str) -> anyhow::Result<u16> {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .context("server URL needs an explicit port")
}

async fn idle_polls(
    t: &Target,
    n: usize,
    hold_secs: u64,
    cost: u32,
    email: &str,
) -> anyhow::Result<serde_json::Value> {
    let db = pool(&t.database_url).await?;
    let port = port_of(&t.server)?;
    let rss_idle = procstat::rss_bytes(t.server_pid)?;
    eprintln!("idle-polls: creating {n} agents (bcrypt cost {cost})");
    let started = Instant::now();
    let (user, conn) = fixtures::user_with_connection(&db, email).await?;
    let agents = fixtures::agents(&db, user, conn, n, cost, 4).await?;
    eprintln!(
        "idle-polls: {n} agents in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .timeout(Duration::from_secs(45))
        .build()?;
    let polls = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let jobs = Arc::new(AtomicU64::new(0));
    let error_kinds: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let started_polls = Arc::new(AtomicUsize::new(0));
    let server_cpu_before_ramp = procstat::cpu_time(t.server_pid)?;
    let ramp_start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for (i, a) in agents.into_iter().enumerate() {
        let (client, polls, errors, jobs, started_polls, error_kinds) = (
            client.clone(),
            polls.clone(),
            errors.clone(),
            jobs.clone(),
            started_polls.clone(),
            error_kinds.clone(),
        );
        let url = format!("{}/api/v1/agents/{}/jobs/next?wait=30", t.server, a.id);
        tasks.push(tokio::spawn(async move {
            started_polls.fetch_add(1, Ordering::Relaxed);
            // An errored poll is retried as the agent does: jittered exponential backoff.
            let mut delays = retry_delays();
            loop {
                match client.get(&url).header("X-Agent-Key", &a.key).send().await {
                    Ok(r) if r.status() == 204 => {
                        polls.fetch_add(1, Ordering::Relaxed);
                        delays = retry_delays();
                    }
                    Ok(r) if r.status() == 200 => {
                        jobs.fetch_add(1, Ordering::Relaxed);
                        delays = retry_delays();
                    }
                    other => {
                        let kind = match other {
                            Ok(r) => {
                                let st = r.status();
                                let body = r.text().await.unwrap_or_default();
                                let code = serde_json::from_str::<serde_json::Value>(&body)
                                    .ok()
                                    .and_then(|v| v["code"].as_str().map(str::to_string))
                                    .unwrap_or_default();
                                format!("{} {code}", st.as_u16())
                            }
                            Err(e) if e.is_timeout() => "client timeout".to_string(),
                            Err(e) if e.is_connect() => "connect error".to_string(),
                            Err(_) => "transport error".to_string(),
                        };
                        errors.fetch_add(1, Ordering::Relaxed);
                        *error_kinds
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .entry(kind.trim().to_string())
                            .or_default() += 1;
                        let d = delays.next().unwrap_or(Duration::from_secs(30));
                        tokio::time::sleep(d).await;
                    }
                }
            }
        }));
        if i % 250 == 249 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Wait until the server holds (almost) every connection.
    let mut held = 0;
    for _ in 0..120 {
        held = established_on(port);
        if held >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ramp = ramp_start.elapsed();
    let ramp_cpu = procstat::cpu_time(t.server_pid)? - server_cpu_before_ramp;
    eprintln!(
        "idle-polls: {held} connections held after {:.1}s; holding {hold_secs}s",
        ramp.as_secs_f64()
    );
    // Let the first wave settle, then measure over the hold window.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu0 = procstat::cpu_time(t.server_pid)?;
    let own0 = procstat::cpu_time(std::process::id())?;
    let polls0 = polls.load(Ordering::Relaxed);
    let errors0 = errors.load(Ordering::Relaxed);
    let mut rss_max = 0u64;
    let mut held_min = usize::MAX;
    let hold_start = Instant::now();
    while hold_start.elapsed() < Duration::from_secs(hold_secs) {
        rss_max = rss_max.max(procstat::rss_bytes(t.server_pid)?);
        held_min = held_min.min(established_on(port));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let window = hold_start.elapsed().as_secs_f64();
    let cpu = (procstat::cpu_time(t.server_pid)? - cpu0).as_secs_f64() / window * 100.0;
    let own_cpu = (procstat::cpu_time(std::process::id())? - own0).as_secs_f64() / window * 100.0;
    let rss_end = procstat::rss_bytes(t.server_pid)?;
    let out = json!({
        "agents": n,
        "held_connections_min": held_min,
        "held_connections_after_ramp": held,
        "ramp_secs": ramp.as_secs_f64(),
        "ramp_server_cpu_secs": ramp_cpu.as_secs_f64(),
        "server_rss_idle_bytes": rss_idle,
        "server_rss_max_bytes": rss_max,
        "server_rss_end_bytes": rss_end,
        "server_rss_per_poll_bytes": (rss_max.saturating_sub(rss_idle)) as f64 / n as f64,
        "server_cpu_percent": cpu,
        "client_cpu_percent": own_cpu,
        "hold_secs": window,
        "polls_returned_204_in_hold": polls.load(Ordering::Relaxed) - polls0,
        "errors_in_hold": errors.load(Ordering::Relaxed) - errors0,
        "errors_total": errors.load(Ordering::Relaxed),
        "unexpected_jobs": jobs.load(Ordering::Relaxed),
        "polls_returned_204_total": polls.load(Ordering::Relaxed),
        "errors_by_kind": error_kinds.lock().unwrap_or_else(|e| e.into_inner()).clone(),
    });
    for t in tasks {
        t.abort();
    }
    Ok(out)
}

/// The agent's retry policy (crates/agent `runtime::retry_policy`): 250 ms doubling
/// to 30 s, jittered.
fn retry_delays() -> impl Iterator<Item = Duration> {
    use backon::BackoffBuilder;
    backon::ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(30))
        .without_max_times()
        .build()
}

async fn timed_gets(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    n: usize,
) -> anyhow::Result<stats::Summary> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let mut req = client.get(url);
        if let Some(k) = key {
            req = req.header("X-Agent-Key", k);
        }
        let t0 = Instant::now();
        let r = req.send().await?;
        let status = r.status();
        r.bytes().await?;
        samples.push(t0.elapsed());
        anyhow::ensure!(status.is_success(), "{url} answered {status}");
    }
    Ok(stats::summarize(&mut samples))
}

async fn auth(
    t: &Target,
    requests: usize,
    cold: usize,
    cost: u32,
) -> anyhow::Result<serde_json::Value> {
    let db = pool(&t.database_url).await?;
    let (user, conn) = fixtures::user_with_connection(&db, "auth-bench@companion.local").await?;
    let agents = fixtures::agents(&db, user, conn, cold.max(1), cost, 2).await?;
    let client = reqwest::Client::new();
    let health = format!("{}/healthz", t.server);
    let me = format!("{}/api/v1/agents/me", t.server);
    // Warm the connection and the cache of the first agent, then alternate phases.
    timed_gets(&client, &health, None, 50).await?;
    let mut cold_samples = Vec::new();
    for a in &agents {
        let t0 = Instant::now();
        let r = client.get(&me).header("X-Agent-Key", &a.key).send().await?;
        anyhow::ensure!(r.status().is_success(), "agents/me answered {}", r.status());
        r.bytes().await?;
        cold_samples.push(t0.elapsed());
    }
    let key = agents[0].key.as_str();
    let baseline = timed_gets(&client, &health, None, requests).await?;
    let warm = timed_gets(&client, &me, Some(key), requests).await?;
    let cold = stats::summarize(&mut cold_samples);
    Ok(json!({
        "requests": requests,
        "healthz": baseline,
        "agents_me_warm": warm,
        "agents_me_cold_bcrypt": cold,
        "bcrypt_cost": cost,
        "warm_overhead_p50_ms": warm.p50_ms - baseline.p50_ms,
        "cold_over_warm_p50": cold.p50_ms / warm.p50_ms,
    }))
}
