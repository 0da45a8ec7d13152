//! `companion-paper-terminal`: connects to the agent's bridge port as the bridge EA
//! would and serves the whole bridge protocol with simulated money.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use companion_terminal::paper::{
    self, ClientConfig, ConnectionFaults, Engine, EngineConfig, RejectRule,
};

#[derive(Parser, Debug)]
#[command(
    name = "companion-paper-terminal",
    version,
    about = "Simulated MT5 terminal speaking the Companion bridge protocol"
)]
struct Args {
    /// The agent's bridge address, e.g. 127.0.0.1:5555.
    #[arg(long)]
    agent: String,
    /// The bridge token the agent expects.
    #[arg(long, env = "COMPANION_BRIDGE_TOKEN", hide_env_values = true)]
    token: String,
    /// Seed of the deterministic market.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Starting balance (USD).
    #[arg(long, default_value_t = 10_000.0)]
    balance: f64,
    /// Account leverage.
    #[arg(long, default_value_t = 100)]
    leverage: i64,
    /// Milliseconds per price step; 0 freezes prices (they move only via paper_set_price).
    #[arg(long, default_value_t = 1000)]
    tick_ms: u64,
    /// Reject orders with this MT5 retcode (every order unless --reject-every is given).
    #[arg(long)]
    reject_retcode: Option<u32>,
    /// Reject every N-th order (with --reject-retcode, else 10006).
    #[arg(long)]
    reject_every: Option<u64>,
    /// Delay every reply by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Drop the connection after N requests (once), then reconnect.
    #[arg(long)]
    drop_after: Option<u64>,
    /// With --drop-after: execute the N-th request but drop before its reply.
    #[arg(long)]
    drop_before_reply: bool,
    /// With --drop-after: drop again after every further N requests.
    #[arg(long)]
    drop_repeat: bool,
    /// Append one JSON line per order received to this file.
    #[arg(long)]
    orders_log: Option<PathBuf>,
    /// Keep positions and history in this file across restarts.
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// Answer order_send/position_close without the deal's price, position and
    /// profit (null, as the EA does when the deal is not in the history yet).
    #[arg(long)]
    late_deals: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let a = Args::parse();
    let engine = Engine::new(
        EngineConfig {
            seed: a.seed,
            balance: a.balance,
            leverage: a.leverage,
            currency: "USD".into(),
            tick_ms: a.tick_ms,
            reject: RejectRule {
                retcode: a.reject_retcode,
                every: a.reject_every,
            },
            orders_log: a.orders_log,
            state_file: a.state_file,
            late_deals: a.late_deals,
        },
        chrono::Utc::now().timestamp_millis(),
    );
    let engine = Arc::new(tokio::sync::Mutex::new(engine));
    tokio::spawn(paper::client::watch_stops(
        engine.clone(),
        Duration::from_millis(500),
    ));
    let cfg = ClientConfig {
        agent: a.agent,
        token: a.token,
        login: paper::engine::paper_login(a.seed),
        faults: ConnectionFaults {
            delay: Duration::from_millis(a.delay_ms),
            drop_after: a.drop_after,
            drop_before_reply: a.drop_before_reply,
            drop_repeat: a.drop_repeat,
        },
    };
    tracing::info!(agent = %cfg.agent, seed = a.seed, "paper terminal starting (simulated money)");
    match paper::run(cfg, engine).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("companion-paper-terminal: {e}. Check --token and that the agent and this binary are the same version.");
            std::process::ExitCode::from(2)
        }
    }
}
