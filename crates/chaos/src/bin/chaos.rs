//! `companion-chaos`: sends TradingView alerts through the real stack (server,
//! PostgreSQL, headless agent, paper terminal) while killing and restarting its parts
//! at random moments drawn from a printed seed, then audits the outcome:
//! at most one order per signal, nothing pending, every signal resolved with a
//! reason, no result lost. Exit code 1 when any promise was broken. With
//! `--replicas N` the server runs as N replicas over the one database: alerts go
//! round-robin to them (a retry goes to the next one), the agent long-polls a
//! different replica after each restart, and server faults strike one replica.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use companion_chaos::plan::{self, Fault};
use companion_chaos::procs::Proc;
use companion_chaos::recovery::Recoveries;
use companion_chaos::{fixtures, verify};
use companion_testkit::stack::{self, Admin};
use sqlx::Connection;
use tokio::sync::Mutex;

#[derive(Parser)]
#[command(
    name = "companion-chaos",
    about = "Signals under faults, then an exactly-once audit"
)]
struct Args {
    /// Directory with companion-server, companion-agent, companion-paper-terminal.
    #[arg(long)]
    bin_dir: PathBuf,
    /// Working directory (logs, agent data, orders log).
    #[arg(long)]
    work_dir: PathBuf,
    #[arg(long, default_value_t = 1000)]
    signals: usize,
    /// Seconds over which the signals are sent.
    #[arg(long, default_value_t = 180)]
    duration_secs: u64,
    /// Mean seconds between faults.
    #[arg(long, default_value_t = 6.0)]
    fault_every_secs: f64,
    /// Seed of the plan (signals, faults); random when absent, always printed.
    #[arg(long)]
    seed: Option<u64>,
    /// Longest wait for every signal to resolve after the last one was sent.
    #[arg(long, default_value_t = 240)]
    settle_secs: u64,
    /// Server replicas over the one database (the agent and the alerts spread over
    /// them; server faults strike one replica at a time).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=8))]
    replicas: u32,
    /// Superuser URL of a fresh database.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
}

/// Every part of the stack, restartable: `servers` (one per replica), then the agent,
/// then the paper terminal (indexes `0..R`, `R`, `R + 1` in [`Stack::all`]).
struct Stack {
    servers: Vec<Proc>,
    agent: Proc,
    terminal: Proc,
    terminal_args: Vec<String>,
    agent_args: Vec<String>,
    server_urls: Vec<String>,
}

impl Stack {
    fn all(&mut self) -> Vec<&mut Proc> {
        let mut v: Vec<&mut Proc> = self.servers.iter_mut().collect();
        v.push(&mut self.agent);
        v.push(&mut self.terminal);
        v
    }

    /// Points the agent's next start at replica `starts % R`: over its restarts the
    /// agent long-polls every replica in turn.
    fn aim_agent(&mut self) {
        let url = self.server_urls[self.agent.starts as usize % self.server_urls.len()].clone();
        let mut args = self.agent_args.clone();
        args.extend(["--server".into(), url.clone()]);
        self.agent.set_args(args);
        self.agent.set_env("COMPANION_SERVER", url);
    }
}

async fn wait_healthy(client: &reqwest::Client, url: &str) -> bool {
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{url}/healthz")).send().await {
            if r.status().is_success() {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[derive(Default)]
struct SendStats {
    accepted: usize,
    retries: usize,
    gave_up: usize,
}

/// Posts one alert until the webhook answers 200 (retrying through restarts), first
/// to `urls[first]`, each retry to the next replica.
async fn send_alert(
    client: &reqwest::Client,
    urls: &[String],
    first: usize,
    body: &str,
    stats: &Mutex<SendStats>,
) {
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut attempt = first;
    loop {
        let url = &urls[attempt % urls.len()];
        attempt += 1;
        let r = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => {
                stats.lock().await.accepted += 1;
                return;
            }
            Ok(r) if r.status().is_client_error() && r.status() != 429 => {
                eprintln!("chaos: alert refused with {}: {body}", r.status());
                stats.lock().await.gave_up += 1;
                return;
            }
            _ => {}
        }
        if Instant::now() > deadline {
            stats.lock().await.gave_up += 1;
            return;
        }
        stats.lock().await.retries += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn terminate_backends(url: &str) -> anyhow::Result<i64> {
    let mut c = sqlx::PgConnection::connect(url).await?;
    let n: i64 = sqlx::query_scalar(
        "select count(pg_terminate_backend(pid)) from pg_stat_activity \
         where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'",
    )
    .fetch_one(&mut c)
    .await?;
    let _ = c.close().await;
    Ok(n)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let seed = a.seed.unwrap_or_else(|| u64::from(rand::random::<u32>()));
    println!(
        "chaos: seed {seed} (repeat with --seed {seed}); {} signals over {} s, a fault every ~{} s, {} server replica(s)",
        a.signals, a.duration_secs, a.fault_every_secs, a.replicas
    );
    std::fs::create_dir_all(&a.work_dir)?;
    let w = a.work_dir.canonicalize()?;
    let bin = a.bin_dir.canonicalize()?;
    let db_url = a.database_url.clone();
    let admin = Admin {
        server_bin: bin.join("companion-server"),
        database_url: db_url.clone(),
        jwt_secret: stack::random_token(40),
    };
    let jwt = admin.jwt_secret.clone();
    admin.migrate()?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&db_url)
        .await
        .context("cannot connect to DATABASE_URL")?;
    let (user, conn) = fixtures::user_with_connection(&pool, "chaos@companion.local").await?;
    let agent = fixtures::agents(&pool, user, conn, 1, 4, 1)
        .await?
        .remove(0);
    let agent_id = agent.id;
    let user_token = admin.run(&["token", "--user", &user.to_string()])?;

    let bridge_port = stack::free_port()?;
    let bridge_token = stack::random_token(32);
    let replicas = a.replicas as usize;
    let names: [&'static str; 8] = [
        "server", "server-b", "server-c", "server-d", "server-e", "server-f", "server-g",
        "server-h",
    ];
    let mut servers = Vec::new();
    let mut server_urls = Vec::new();
    for name in names.into_iter().take(replicas) {
        let port = stack::free_port()?;
        let url = format!("http://127.0.0.1:{port}");
        servers.push(
            Proc::new(
                name,
                bin.join("companion-server"),
                vec!["serve".into()],
                w.join(format!("{name}.log")),
            )
            .env("DATABASE_URL", &db_url)
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("PUBLIC_BASE_URL", &url)
            .env("SUPABASE_JWT_SECRET", &jwt)
            .env("WEBHOOK_RATE_PER_MIN", "1000000")
            .env("WEBHOOK_RATE_BURST", "100000")
            .env("STALE_CLAIM_SECS", "10")
            .env("SWEEP_INTERVAL_SECS", "2")
            .env("RUST_LOG", "info,sqlx=warn"),
        );
        server_urls.push(url);
    }
    let server_url = server_urls[0].clone();
    let agent_args: Vec<String> = vec![
        "run".into(),
        "--data-dir".into(),
        w.join("agent").display().to_string(),
        "--bridge-port".into(),
        bridge_port.to_string(),
        "--bridge-token".into(),
        bridge_token.clone(),
    ];
    let agent_proc = Proc::new(
        "agent",
        bin.join("companion-agent"),
        agent_args.clone(),
        w.join("agent.log"),
    )
    .env("COMPANION_AGENT_KEY", &agent.key)
    .env("RUST_LOG", "info");
    let orders_log = w.join("orders.jsonl");
    let terminal_args: Vec<String> = vec![
        "--agent".into(),
        format!("127.0.0.1:{bridge_port}"),
        "--token".into(),
        bridge_token.clone(),
        "--seed".into(),
        seed.to_string(),
        "--balance".into(),
        "1000000".into(),
        "--tick-ms".into(),
        "200".into(),
        "--orders-log".into(),
        orders_log.display().to_string(),
        "--state-file".into(),
        w.join("paper-state.json").display().to_string(),
    ];
    let terminal = Proc::new(
        "terminal",
        bin.join("companion-paper-terminal"),
        terminal_args.clone(),
        w.join("terminal.log"),
    );
    let stack = Arc::new(Mutex::new(Stack {
        servers,
        agent: agent_proc,
        terminal,
        terminal_args,
        agent_args,
        server_urls: server_urls.clone(),
    }));
    let client = reqwest::Client::new();
    {
        let mut s = stack.lock().await;
        for (server, url) in s.servers.iter_mut().zip(&server_urls) {
            server.start()?;
            anyhow::ensure!(
                wait_healthy(&client, url).await,
                "the server {url} did not start (see {})",
                w.join(format!("{}.log", server.name)).display()
            );
        }
        s.aim_agent();
        s.agent.start()?;
        s.terminal.start()?;
    }
    let strategy: serde_json::Value = client
        .post(format!("{server_url}/api/v1/strategies"))
        .bearer_auth(&user_token)
        .json(&serde_json::json!({
            "name": "chaos",
            "broker_connection_id": conn,
            "allowed_pairs": ["EURUSD", "GBPUSD", "XAUUSD"],
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let strategy_id: uuid::Uuid = strategy["id"].as_str().context("strategy id")?.parse()?;
    let webhook = strategy["webhook_url"]
        .as_str()
        .context("webhook_url")?
        .to_string();
    // The same webhook path on every replica.
    let path = webhook
        .strip_prefix(&server_url)
        .context("webhook_url is not on the first replica")?
        .to_string();
    let webhooks: Arc<Vec<String>> =
        Arc::new(server_urls.iter().map(|u| format!("{u}{path}")).collect());
    // Give the agent and the terminal a moment to pair up before the first signal.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let plan = plan::make(
        seed,
        a.signals,
        Duration::from_secs(a.duration_secs),
        Duration::from_secs_f64(a.fault_every_secs),
    );
    println!("chaos: {} faults planned", plan.faults.len());
    let sent: Vec<String> = (0..a.signals)
        .map(|i| format!("chaos-{seed}-{i}"))
        .collect();
    let stats = Arc::new(Mutex::new(SendStats::default()));
    let start = Instant::now();
    let sender = {
        let (client, stats, webhooks) = (client.clone(), stats.clone(), webhooks.clone());
        let signals = plan.signals.clone();
        tokio::spawn(async move {
            let mut inflight = tokio::task::JoinSet::new();
            for s in signals {
                tokio::time::sleep_until((start + s.at).into()).await;
                let (client, stats, webhooks) = (client.clone(), stats.clone(), webhooks.clone());
                inflight.spawn(async move {
                    send_alert(&client, &webhooks, s.index, &s.body, &stats).await
                });
            }
            while inflight.join_next().await.is_some() {}
        })
    };

    // Faults, and a supervisor that restarts anything that died on its own.
    let mut fault_counts: std::collections::BTreeMap<Fault, usize> = Default::default();
    let mut unexpected: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let (agent_i, terminal_i) = (replicas, replicas + 1);
    let mut down_until: Vec<Option<Instant>> = vec![None; replicas + 2];
    let mut faults = plan.faults.iter().peekable();
    let mut drop_before_reply_next = false;
    let mut recoveries = Recoveries::default();
    // A process that keeps exiting by itself is restarted at most once a second.
    let mut restart_after: Vec<Option<Instant>> = vec![None; replicas + 2];
    let mut server_faults = 0usize;
    while !sender.is_finished() || faults.peek().is_some() {
        let now = Instant::now();
        let mut s = stack.lock().await;
        if let Some(f) = faults.peek() {
            if start + f.at <= now {
                let f = faults.next().copied().expect("peeked");
                *fault_counts.entry(f.fault).or_default() += 1;
                let t = start.elapsed().as_secs_f64();
                // The replica a server fault strikes: each in turn, starting with the
                // one the agent polls first (so a seed repeats it).
                let victim = server_faults % replicas;
                if matches!(f.fault, Fault::RestartServer | Fault::KillServer) {
                    server_faults += 1;
                }
                match f.fault {
                    Fault::KillAgent => {
                        s.agent.kill().await;
                        recoveries.agent_killed(&pool, agent_id).await;
                        down_until[agent_i] = Some(now + f.down);
                    }
                    Fault::RestartServer => {
                        s.servers[victim].terminate(Duration::from_secs(5)).await;
                        down_until[victim] = Some(now + f.down);
                    }
                    Fault::KillServer => {
                        s.servers[victim].kill().await;
                        down_until[victim] = Some(now + f.down);
                    }
                    Fault::DropTerminal | Fault::TerminalDropBeforeReply => {
                        s.terminal.kill().await;
                        down_until[terminal_i] = Some(now + f.down);
                        drop_before_reply_next = f.fault == Fault::TerminalDropBeforeReply;
                    }
                    Fault::TerminateBackends => match terminate_backends(&db_url).await {
                        Ok(n) => println!("chaos: {t:7.2}s terminated {n} PostgreSQL backends"),
                        Err(e) => println!("chaos: {t:7.2}s pg_terminate_backend failed: {e}"),
                    },
                }
                if matches!(f.fault, Fault::RestartServer | Fault::KillServer) && replicas > 1 {
                    println!(
                        "chaos: {t:7.2}s {:?} {} (down {} ms)",
                        f.fault,
                        s.servers[victim].name,
                        f.down.as_millis()
                    );
                } else if f.fault != Fault::TerminateBackends {
                    println!(
                        "chaos: {t:7.2}s {:?} (down {} ms)",
                        f.fault,
                        f.down.as_millis()
                    );
                }
            }
        }
        // Restart what is due, and what exited by itself.
        for (i, due) in down_until.iter_mut().enumerate() {
            let ready = due.is_none_or(|d| d <= now);
            if !ready {
                continue;
            }
            let was_planned = due.take().is_some();
            let s = &mut *s;
            let args = if drop_before_reply_next && i == terminal_i {
                let mut v = s.terminal_args.clone();
                v.extend([
                    "--drop-after".into(),
                    "1".into(),
                    "--drop-before-reply".into(),
                ]);
                Some(v)
            } else if i == terminal_i {
                Some(s.terminal_args.clone())
            } else {
                None
            };
            if i == agent_i && s.agent.exited() {
                s.aim_agent();
            }
            let mut all = s.all();
            let p = &mut all[i];
            if p.exited() {
                if !was_planned && restart_after[i].is_some_and(|t| t > now) {
                    continue;
                }
                restart_after[i] = Some(now + Duration::from_secs(1));
                if !was_planned {
                    *unexpected.entry(p.name).or_default() += 1;
                    println!(
                        "chaos: {:7.2}s {} exited on its own; restarting",
                        start.elapsed().as_secs_f64(),
                        p.name
                    );
                }
                if let Some(v) = args {
                    p.set_args(v);
                }
                p.start()?;
                if i == terminal_i {
                    drop_before_reply_next = false;
                }
                if i == agent_i {
                    recoveries.agent_restarted(&pool).await;
                }
            }
        }
        drop(s);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sender.await?;
    let sent_secs = start.elapsed().as_secs_f64();
    println!("chaos: all alerts sent after {sent_secs:.1}s; waiting for every signal to resolve");

    // Everything up, then wait until nothing is pending or running.
    {
        let mut s = stack.lock().await;
        let urls = s.server_urls.clone();
        if s.agent.exited() {
            s.aim_agent();
        }
        for p in s.all() {
            if p.exited() {
                p.start()?;
            }
        }
        drop(s);
        for url in &urls {
            wait_healthy(&client, url).await;
        }
    }
    let settle_start = Instant::now();
    let mut open: i64 = -1;
    while settle_start.elapsed() < Duration::from_secs(a.settle_secs) {
        let r: Result<i64, _> = sqlx::query_scalar(
            "select (select count(*) from tv_signals where strategy_id = $1 and status = 'pending') + \
             (select count(*) from jobs j join tv_signals s on s.id = j.entity_id and j.entity_type = 'tv_signal' \
              where s.strategy_id = $1 and j.status in ('pending', 'running'))",
        )
        .bind(strategy_id)
        .fetch_one(&pool)
        .await;
        if let Ok(n) = r {
            open = n;
            if n == 0 {
                break;
            }
        }
        // Keep the stack alive while it settles.
        let mut s = stack.lock().await;
        if s.agent.exited() {
            s.aim_agent();
        }
        for p in s.all() {
            if p.exited() {
                *unexpected.entry(p.name).or_default() += 1;
                p.start()?;
            }
        }
        drop(s);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "chaos: settled after {:.1}s ({} open)",
        settle_start.elapsed().as_secs_f64(),
        open.max(0)
    );
    // Let any in-flight report land, then stop everything before the audit.
    tokio::time::sleep(Duration::from_secs(2)).await;
    {
        let mut s = stack.lock().await;
        s.terminal.terminate(Duration::from_secs(3)).await;
        s.agent.terminate(Duration::from_secs(5)).await;
        for server in &mut s.servers {
            server.terminate(Duration::from_secs(5)).await;
        }
    }

    let audit = verify::audit(&pool, strategy_id, &orders_log, &sent).await?;
    let recovery = recoveries.report(&pool).await?;
    // How long after its deadline a trading job that was not executed got its verdict
    // (the server's own downtime in a run counts too).
    let late_verdict: Option<f64> = sqlx::query_scalar(
        "select max(extract(epoch from (j.completed_at - j.expires_at)))::float8 from jobs j \
         join tv_signals s on s.id = j.entity_id and j.entity_type = 'tv_signal' \
         where s.strategy_id = $1 and j.status = 'failed' and j.expires_at is not null",
    )
    .bind(strategy_id)
    .fetch_one(&pool)
    .await?;
    let st = stats.lock().await;
    println!("\n== chaos audit (seed {seed}) ==");
    println!("alerts sent                 {}", audit.signals_sent);
    println!(
        "  accepted by the webhook   {} ({} retries through restarts, {} given up)",
        st.accepted, st.retries, st.gave_up
    );
    println!("signals logged              {}", audit.signals_logged);
    println!("  executed                  {}", audit.executed);
    println!(
        "  failed                    {}  {:?}",
        audit.failed, audit.failed_reasons
    );
    println!(
        "  discarded                 {}  {:?}",
        audit.discarded, audit.discarded_reasons
    );
    println!(
        "  still pending             {}   (must be 0)",
        audit.pending
    );
    println!(
        "orders at the terminal      {} ({} filled)",
        audit.orders_in_terminal, audit.orders_filled
    );
    println!(
        "max orders for one signal   {}   (must be ≤ 1)",
        audit.max_orders_per_signal
    );
    println!(
        "restart → held job resolved {} jobs over {} agent restarts: p50 {:.0} ms, max {:.0} ms ({} resolved before the restart, {} unresolved)",
        recovery.jobs,
        recovery.restarts_with_held_jobs,
        recovery.p50_ms,
        recovery.max_ms,
        recovery.resolved_before_restart,
        recovery.unresolved
    );
    println!(
        "latest failed verdict       {:.1} s after its trade's deadline",
        late_verdict.unwrap_or(0.0)
    );
    println!("faults injected             {fault_counts:?}");
    println!("unexpected process exits    {unexpected:?}");
    {
        let s = stack.lock().await;
        let servers: Vec<String> = s
            .servers
            .iter()
            .map(|p| format!("{} {}", p.name, p.starts))
            .collect();
        println!(
            "process starts              {}, agent {}, terminal {}",
            servers.join(", "),
            s.agent.starts,
            s.terminal.starts
        );
    }
    for n in &audit.notes {
        println!("note: {n}");
    }
    std::fs::write(w.join("audit.json"), serde_json::to_string_pretty(&audit)?)?;
    std::fs::write(
        w.join("recovery.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "seed": seed,
            "signals": a.signals,
            "agent_kills": fault_counts.get(&Fault::KillAgent).copied().unwrap_or(0),
            "recovery": recovery,
            "latest_failed_verdict_after_deadline_secs": late_verdict,
        }))?,
    )?;
    if audit.violations.is_empty() {
        println!("RESULT: PASS — at most one order per signal, nothing pending, every signal resolved with a reason, no result lost (seed {seed})");
        Ok(())
    } else {
        println!(
            "RESULT: FAIL — {} violations (seed {seed}):",
            audit.violations.len()
        );
        for v in audit.violations.iter().take(50) {
            println!("  - {v}");
        }
        std::process::exit(1);
    }
}
