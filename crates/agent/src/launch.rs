//! Starting the agent runtime from a data dir, a server and a key: the one
//! sequence shared by the headless binary (`companion-agent run`) and the
//! desktop app (which runs the runtime in-process).
//!
//! It asks the server who the key belongs to (retrying while the server is
//! unreachable, stopping on a refused key), remembers the identity and the
//! bridge token in `config.json`, binds the terminal bridge on loopback (one
//! listener per terminal when `config.json` lists further `terminals`: several
//! accounts), opens the journal and starts [`runtime::start_terminals`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use backon::Retryable;
use companion_protocol::AgentMe;
use companion_terminal::BridgeServer;

use crate::client::{ApiClient, ClientError};
use crate::config::{AgentConfig, ConfigError, JOURNAL_FILE};
use crate::executor::{Executor, ExecutorOptions};
use crate::journal::{Journal, JournalError};
use crate::runtime::{self, AgentHandle, RuntimeError, RuntimeOptions, TerminalSlot};
use crate::secret::AgentKey;
use crate::terminal_setup::{self, doctor::BridgeState};
use crate::toolchain::AnyToolchain;

/// Default loopback port the bridge EA connects to.
pub const DEFAULT_BRIDGE_PORT: u16 = 18_765;

/// What [`launch`] needs besides the key.
#[derive(Debug, Clone, Default)]
pub struct LaunchOptions {
    /// Bridge port; falls back to `config.json`, then [`DEFAULT_BRIDGE_PORT`].
    pub bridge_port: Option<u16>,
    /// Bridge token; falls back to `config.json` (generated and stored when absent).
    pub bridge_token: Option<String>,
    /// Runtime options (`price_symbols` is taken from the config when empty).
    pub runtime: RuntimeOptions,
    /// Who the key belongs to, when the caller just asked (pairing): skips `/agents/me`.
    pub identity: Option<AgentMe>,
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The server refused the key: pair again.
    #[error(transparent)]
    BadKey(ClientError),
    #[error(transparent)]
    Client(ClientError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "cannot listen for the bridge on 127.0.0.1:{port}: {source}; pick another bridge port"
    )]
    Bridge { port: u16, source: std::io::Error },
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// A started runtime with what keeps it alive.
pub struct Launched {
    pub handle: AgentHandle,
    pub me: AgentMe,
    pub bridge_addr: SocketAddr,
    /// The token the bridge EA / paper terminal must present.
    pub bridge_token: String,
    /// The executor's symbol resolutions and overrides (the app's Symbols view).
    pub symbols: Arc<crate::symbols::SymbolBook>,
    /// Further terminals' bridges: (name, address, token), in `config.json` order.
    pub extra_bridges: Vec<(String, SocketAddr, String)>,
    journal: Journal,
    bridge: BridgeServer,
    extras: Vec<BridgeServer>,
    /// Remembers each terminal's broker connection in `config.json`.
    binding_writer: tokio::task::JoinHandle<()>,
    /// Keeps `bridge-status.json` current for the Doctor.
    status_writer: tokio::task::JoinHandle<()>,
}

impl Launched {
    /// Waits until the runtime ends (cancel it through `handle.cancel_token()`),
    /// then closes the journal and the bridge.
    pub async fn wait(self) -> Result<(), RuntimeError> {
        let result = self.handle.wait().await;
        self.journal.close().await;
        self.status_writer.abort();
        self.binding_writer.abort();
        drop(self.bridge);
        drop(self.extras);
        result
    }
}

/// Who the key belongs to; retries with jittered exponential backoff
/// ([`runtime::retry_policy`]) while the server is unreachable, stops on a refused key.
pub async fn identify(client: &ApiClient) -> Result<AgentMe, LaunchError> {
    (|| client.me())
        .retry(runtime::retry_policy())
        .when(|e| !matches!(e, ClientError::BadKey { .. }))
        .notify(|e, d: Duration| {
            tracing::warn!(error = %e, retry_in_ms = d.as_millis() as u64, "server not reachable yet");
        })
        .await
        .map_err(|e| match e {
            e @ ClientError::BadKey { .. } => LaunchError::BadKey(e),
            other => LaunchError::Client(other),
        })
}

/// Starts the agent runtime for `key` on `server`, with its state in `data_dir`.
pub async fn launch(
    data_dir: &Path,
    server: &str,
    key: AgentKey,
    opts: LaunchOptions,
) -> Result<Launched, LaunchError> {
    let mut cfg = AgentConfig::load(data_dir)?;
    let client = ApiClient::new(server, key).map_err(LaunchError::Client)?;
    let me = match opts.identity {
        Some(me) => me,
        None => identify(&client).await?,
    };
    let port = opts
        .bridge_port
        .or(cfg.bridge_port)
        .unwrap_or(DEFAULT_BRIDGE_PORT);
    let token = match opts.bridge_token {
        Some(t) => t,
        None => cfg.bridge_token_or_generate(),
    };
    let extra_cfgs = cfg.terminals_with_tokens();
    cfg.agent_id = Some(me.agent_id);
    cfg.agent_name = Some(me.agent_name.clone());
    cfg.server_url = Some(server.to_string());
    cfg.save(data_dir)?;
    tracing::info!(agent_id = %me.agent_id, agent_name = %me.agent_name, "paired agent");

    let bridge = BridgeServer::bind(&format!("127.0.0.1:{port}"), &token)
        .await
        .map_err(|source| LaunchError::Bridge { port, source })?;
    let bridge_addr = bridge.local_addr();
    tracing::info!(addr = %bridge_addr, "bridge listening; attach the Companion bridge EA (or start companion-paper-terminal) with the bridge token");

    let status_writer = tokio::spawn(write_bridge_status(
        data_dir.to_path_buf(),
        bridge.terminal(),
        bridge_addr.port(),
    ));
    // A newer bundled bridge EA goes into every terminal `terminal setup` set up
    // (in the background: a MetaEditor compile must not delay the agent's start).
    tokio::spawn(refresh_bridge_eas(
        data_dir.to_path_buf(),
        bridge_addr.port(),
        token.clone(),
    ));

    let mut extras = Vec::with_capacity(extra_cfgs.len());
    let mut extra_bridges = Vec::with_capacity(extra_cfgs.len());
    for t in &extra_cfgs {
        let token = t.token.clone().unwrap_or_default();
        let b = BridgeServer::bind(&format!("127.0.0.1:{}", t.port), &token)
            .await
            .map_err(|source| LaunchError::Bridge {
                port: t.port,
                source,
            })?;
        tracing::info!(terminal = %t.name, addr = %b.local_addr(), "bridge listening for a further terminal (account)");
        extra_bridges.push((t.name.clone(), b.local_addr(), token));
        extras.push(b);
    }

    let journal = Journal::open(&data_dir.join(JOURNAL_FILE)).await?;
    let executor = Executor::new(
        Arc::new(bridge.terminal()),
        Arc::new(AnyToolchain::from_config(&cfg)),
        journal.clone(),
        ExecutorOptions::from_env(),
    );
    let mut ropts = opts.runtime;
    if ropts.price_symbols.is_empty() {
        ropts.price_symbols = cfg.price_symbols.clone();
    }
    let symbols = executor.symbols().clone();
    let mut slots = Vec::with_capacity(1 + extras.len());
    for (t, b) in extra_cfgs.iter().zip(&extras) {
        slots.push(TerminalSlot {
            name: display_name(&t.name, t.port),
            port: b.local_addr().port(),
            executor: executor.with_terminal(Arc::new(b.terminal())),
            connection: t.broker_connection_id,
        });
    }
    slots.insert(
        0,
        TerminalSlot {
            name: display_name("", bridge_addr.port()),
            port: bridge_addr.port(),
            executor,
            connection: cfg.bridge_connection_id,
        },
    );
    let handle = runtime::start_terminals(client.with_agent_id(me.agent_id), slots, ropts);
    let binding_writer = tokio::spawn(remember_bindings(data_dir.to_path_buf(), handle.status()));
    Ok(Launched {
        handle,
        me,
        bridge_addr,
        bridge_token: token,
        symbols,
        extra_bridges,
        journal,
        bridge,
        extras,
        status_writer,
        binding_writer,
    })
}

/// A terminal's label: its configured name, else "port N".
fn display_name(name: &str, port: u16) -> String {
    if name.trim().is_empty() {
        format!("port {port}")
    } else {
        name.trim().to_string()
    }
}

/// Writes each terminal's broker connection into `config.json` when the server binds
/// it, so after a restart jobs are routed before the terminal reconnects.
async fn remember_bindings(
    data_dir: std::path::PathBuf,
    mut status: tokio::sync::watch::Receiver<runtime::AgentStatusView>,
) {
    let mut last: Vec<Option<uuid::Uuid>> = Vec::new();
    while status.changed().await.is_ok() {
        let now: Vec<Option<uuid::Uuid>> = status
            .borrow()
            .terminals
            .iter()
            .map(|t| t.broker_connection_id)
            .collect();
        if now == last || now.iter().all(Option::is_none) {
            continue;
        }
        let saved = AgentConfig::load(&data_dir).and_then(|mut cfg| {
            if let Some(Some(c)) = now.first() {
                cfg.bridge_connection_id = Some(*c);
            }
            for (t, c) in cfg.terminals.iter_mut().zip(now.iter().skip(1)) {
                if c.is_some() {
                    t.broker_connection_id = *c;
                }
            }
            cfg.save(&data_dir)
        });
        match saved {
            Ok(()) => last = now,
            Err(e) => {
                tracing::warn!(error = %e, "cannot remember the terminals' broker connections")
            }
        }
    }
}

/// Reinstalls and recompiles the bundled bridge EA where an older one is set up.
async fn refresh_bridge_eas(data_dir: std::path::PathBuf, port: u16, token: String) {
    match terminal_setup::refresh_set_up_terminals(&data_dir, port, &token).await {
        Ok(done) => {
            for r in done {
                match r.result {
                    Ok(rep) => {
                        tracing::info!(data_dir = %r.data_dir.display(), from = %r.from_version, to = %rep.bridge_version, "bridge EA reinstalled and compiled; restart that terminal to load it")
                    }
                    Err(e) => {
                        tracing::warn!(data_dir = %r.data_dir.display(), error = %e, "could not update the bridge EA in a set-up terminal; run `companion-agent terminal setup` for it")
                    }
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not check the set-up terminals' bridge EA"),
    }
}

/// Every 2 s: the bridge's state into `bridge-status.json` (read by the Doctor
/// from another process; no secret in it).
async fn write_bridge_status(
    data_dir: std::path::PathBuf,
    terminal: companion_terminal::BridgeTerminal,
    port: u16,
) {
    // `info` once per connection and every 30 s, not every 2 s (the EA serves
    // one request at a time; trades should not wait behind status reads).
    let mut last = BridgeState::default();
    let mut ticks = 0u32;
    loop {
        let connected = terminal.is_connected();
        let state = if connected && (!last.connected || ticks.is_multiple_of(15)) {
            BridgeState::read(&terminal, port).await
        } else {
            BridgeState {
                connected,
                updated_at: Some(chrono::Utc::now()),
                last_refusal: BridgeState::refusal_of(&terminal),
                ..if connected {
                    last.clone()
                } else {
                    BridgeState {
                        listening: true,
                        port: Some(port),
                        ..Default::default()
                    }
                }
            }
        };
        if let Err(e) = state.save(&data_dir) {
            tracing::debug!(error = %e, "cannot write the bridge status file");
        }
        last = state;
        ticks = ticks.wrapping_add(1);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
