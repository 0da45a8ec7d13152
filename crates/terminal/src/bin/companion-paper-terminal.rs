//! `companion-paper-terminal`: connects to the agent's bridge port as the bridge EA
//! would and serves the whole bridge protocol with simulated money.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use companion_protocol::MarginMode;
use companion_terminal::paper::{
    self, ClientConfig, ConnectionFaults, Engine, EngineConfig, ForeignPosition, RejectRule,
};

/// `--margin-mode`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum MarginArg {
    Hedging,
    Netting,
}

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
    /// JSON array of the broker's symbols; only these exist (docs/bridge-protocol.md).
    #[arg(long, value_name = "FILE")]
    symbols: Option<PathBuf>,
    /// Built-in broker set-up: dotted-pro, suffix-m or netting (symbols + margin mode).
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Account margin mode (default: the profile's, else hedging).
    #[arg(long, value_enum)]
    margin_mode: Option<MarginArg>,
    /// A position opened at start by someone else, SYMBOL:SIDE:VOLUME:MAGIC
    /// (magic 0 = a manual trade); repeatable.
    #[arg(long = "foreign-position", value_name = "SYMBOL:SIDE:VOLUME:MAGIC")]
    foreign_positions: Vec<ForeignPosition>,
    /// Trade-server time minus UTC, seconds (every reported time is UTC + this).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    gmt_offset_secs: i64,
    /// Answer order_send/position_close without the deal's price, position and
    /// profit (null, as the EA does when the deal is not in the history yet).
    #[arg(long)]
    late_deals: bool,
    /// The account number to report (default: derived from --seed). Two paper
    /// terminals with different logins are two accounts for one agent.
    #[arg(long, value_name = "LOGIN")]
    login: Option<String>,
}

fn fail(message: &str) -> std::process::ExitCode {
    eprintln!("companion-paper-terminal: {message}");
    std::process::ExitCode::from(2)
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
    let profile = match a.profile.as_deref().map(paper::profile).transpose() {
        Ok(p) => p,
        Err(e) => return fail(&e.to_string()),
    };
    let symbols = match &a.symbols {
        Some(path) => match paper::load_symbols_file(path) {
            Ok(s) => Some(s),
            Err(e) => return fail(&format!("--symbols {}: {e}", path.display())),
        },
        None => profile.as_ref().map(|p| p.symbols.clone()),
    };
    let margin_mode = match a.margin_mode {
        Some(MarginArg::Hedging) => MarginMode::Hedging,
        Some(MarginArg::Netting) => MarginMode::Netting,
        None => profile
            .as_ref()
            .map_or(MarginMode::Hedging, |p| p.margin_mode),
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut engine = Engine::new(
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
            symbols,
            margin_mode,
            foreign_positions: a.foreign_positions.clone(),
            gmt_offset_secs: a.gmt_offset_secs,
            late_deals: a.late_deals,
        },
        now_ms,
    );
    if let Some(login) = &a.login {
        engine.set_login(login.clone());
    }
    for f in &a.foreign_positions {
        if !engine.knows_symbol(&f.symbol) {
            return fail(&format!(
                "--foreign-position: unknown symbol {:?} at this broker",
                f.symbol
            ));
        }
    }
    let engine = Arc::new(tokio::sync::Mutex::new(engine));
    tokio::spawn(paper::client::watch_stops(
        engine.clone(),
        Duration::from_millis(500),
    ));
    let cfg = ClientConfig {
        agent: a.agent,
        token: a.token,
        login: a
            .login
            .clone()
            .unwrap_or_else(|| paper::engine::paper_login(a.seed)),
        faults: ConnectionFaults {
            delay: Duration::from_millis(a.delay_ms),
            drop_after: a.drop_after,
            drop_before_reply: a.drop_before_reply,
            drop_repeat: a.drop_repeat,
        },
    };
    tracing::info!(agent = %cfg.agent, seed = a.seed, profile = ?a.profile, ?margin_mode, "paper terminal starting (simulated money)");
    match paper::run(cfg, engine).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("companion-paper-terminal: {e}. Check --token and that the agent and this binary are the same version.");
            std::process::ExitCode::from(2)
        }
    }
}
