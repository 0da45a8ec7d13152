//! The Doctor: each step between "MT5 is installed" and "the agent trades through
//! it" checked live, with the exact fix for each failure. The file checks read
//! the data folder; the bridge checks read a [`BridgeState`]: what the running
//! agent writes to `bridge-status.json`, or a short probe when no agent runs.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use companion_terminal::discovery::Installation;
use companion_terminal::startup::{self, BridgeFiles};
use companion_terminal::BridgeServer;
use serde::{Deserialize, Serialize};

/// File in the agent's data directory where a running agent keeps its bridge state.
pub const BRIDGE_STATUS_FILE: &str = "bridge-status.json";
/// A status file older than this means no agent is running.
pub const STATUS_FRESH: Duration = Duration::from_secs(15);

/// Which check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum CheckId {
    TerminalFound,
    MetaeditorFound,
    EaInstalled,
    EaCompiled,
    StartupConfig,
    EaConnected,
    TokenMatches,
    AlgoTrading,
    MarginMode,
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
    /// Cannot be checked until an earlier step passes.
    Skipped,
}

/// One line of the Doctor's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Check {
    pub id: CheckId,
    pub status: CheckStatus,
    /// What was found.
    pub detail: String,
    /// What to do, for `warn`/`fail`.
    pub fix: Option<String>,
}

/// A refused bridge hello, without the token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefusalView {
    /// `bad_token`, `unsupported_version` or `bad_hello`.
    pub code: String,
    pub message: String,
}

/// The bridge as the agent sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BridgeState {
    /// An agent (or the Doctor's own probe) listened on the bridge port.
    pub listening: bool,
    pub port: Option<u16>,
    pub connected: bool,
    pub login: Option<String>,
    pub server: Option<String>,
    /// Algo trading allowed in the terminal and for the EA (`info.trade_allowed`).
    pub trade_allowed: Option<bool>,
    /// `info.margin_mode` when the EA reports it (`hedging`, `netting`, `exchange`).
    pub margin_mode: Option<String>,
    pub last_refusal: Option<RefusalView>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl BridgeState {
    /// What a [`companion_terminal::BridgeTerminal`] knows right now (asks `info`
    /// when connected).
    pub async fn read(terminal: &companion_terminal::BridgeTerminal, port: u16) -> Self {
        let mut s = BridgeState {
            listening: true,
            port: Some(port),
            connected: terminal.is_connected(),
            updated_at: Some(Utc::now()),
            last_refusal: Self::refusal_of(terminal),
            ..Default::default()
        };
        if s.connected {
            if let Ok(v) = terminal
                .call_with_timeout("info", serde_json::json!({}), Duration::from_secs(5))
                .await
            {
                let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
                s.login = text("login");
                s.server = text("server");
                s.trade_allowed = v.get("trade_allowed").and_then(|x| x.as_bool());
                s.margin_mode = text("margin_mode");
            }
        }
        s
    }

    /// The bridge's last refused hello, without the token.
    pub fn refusal_of(terminal: &companion_terminal::BridgeTerminal) -> Option<RefusalView> {
        terminal.last_refusal().map(|r| RefusalView {
            code: serde_json::to_value(r.code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            message: r.message,
        })
    }

    /// The state a running agent wrote, when it is fresh.
    pub fn load_fresh(data_dir: &Path) -> Option<Self> {
        let bytes = std::fs::read(data_dir.join(BRIDGE_STATUS_FILE)).ok()?;
        let s: BridgeState = serde_json::from_slice(&bytes).ok()?;
        let age = Utc::now() - s.updated_at?;
        (age.to_std().unwrap_or_default() <= STATUS_FRESH).then_some(s)
    }

    /// Writes the state for the Doctor (no secret in it).
    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        let tmp = data_dir.join(format!("{BRIDGE_STATUS_FILE}.tmp"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(tmp, data_dir.join(BRIDGE_STATUS_FILE))
    }

    /// No agent runs: listen on the bridge port for up to `wait` and see whether
    /// the EA connects (it retries every few seconds) or is refused.
    pub async fn probe(port: u16, token: &str, wait: Duration) -> Self {
        let Ok(server) = BridgeServer::bind(&format!("127.0.0.1:{port}"), token).await else {
            // Someone holds the port: an agent whose status file is stale, or another program.
            return BridgeState {
                port: Some(port),
                ..Default::default()
            };
        };
        let t = server.terminal();
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline
            && !t.is_connected()
            && t.last_refusal().is_none()
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let s = BridgeState::read(&t, port).await;
        server.shutdown().await;
        s
    }
}

fn check(
    id: CheckId,
    status: CheckStatus,
    detail: impl Into<String>,
    fix: Option<String>,
) -> Check {
    Check {
        id,
        status,
        detail: detail.into(),
        fix,
    }
}

fn setup_fix(i: &Installation) -> String {
    format!(
        "run `companion-agent terminal setup \"{}\"` (or Terminal setup in the app)",
        i.data_dir.display()
    )
}

/// Every check, in order. `installation` is the terminal to check (None: none
/// found); `port`/`token` are the agent's bridge settings; `bridge` what the
/// agent sees of the bridge (None: not known, no agent and no probe).
pub fn run_checks(
    installation: Option<&Installation>,
    port: u16,
    token: &str,
    bridge: Option<&BridgeState>,
) -> Vec<Check> {
    use CheckId::*;
    use CheckStatus::*;
    let mut out = Vec::new();
    let Some(i) = installation else {
        out.push(check(
            TerminalFound,
            Fail,
            "no MetaTrader 5 installation found",
            Some("install MetaTrader 5 from your broker and start it once; or pass its data folder: `companion-agent terminal doctor DIR`".into()),
        ));
        return out;
    };
    out.push(check(
        TerminalFound,
        Ok,
        format!(
            "{} (data folder {})",
            i.terminal_exe.display(),
            i.data_dir.display()
        ),
        None,
    ));
    match &i.metaeditor_exe {
        Some(me) if me.is_file() => {
            out.push(check(MetaeditorFound, Ok, me.display().to_string(), None))
        }
        _ => out.push(check(
            MetaeditorFound,
            Fail,
            format!("no metaeditor64.exe beside {}", i.terminal_exe.display()),
            Some("reinstall MetaTrader 5 from your broker (MetaEditor comes with it)".into()),
        )),
    }
    let state = startup::inspect(&i.data_dir);
    let bundled = startup::bundled_bridge_version();
    match &state.source_version {
        None => out.push(check(
            EaInstalled,
            Fail,
            "the bridge EA is not in MQL5/Experts/Companion",
            Some(setup_fix(i)),
        )),
        Some(v) if !state.source_current => out.push(check(
            EaInstalled,
            Fail,
            format!("version {v} is installed; this agent brings {bundled}"),
            Some(setup_fix(i)),
        )),
        Some(v) => out.push(check(EaInstalled, Ok, format!("version {v}"), None)),
    }
    if !state.ex5_exists {
        out.push(check(
            EaCompiled,
            Fail,
            "CompanionBridge.ex5 is missing (never compiled, or the compile failed)",
            Some(format!(
                "{}; it shows MetaEditor's log when the compile fails",
                setup_fix(i)
            )),
        ));
    } else if !state.compiled {
        out.push(check(
            EaCompiled,
            Fail,
            "CompanionBridge.ex5 is older than its source",
            Some(setup_fix(i)),
        ));
    } else {
        out.push(check(
            EaCompiled,
            Ok,
            "CompanionBridge.ex5 is up to date",
            None,
        ));
    }
    let files = BridgeFiles::in_data_dir(&i.data_dir);
    match std::fs::read(&files.set) {
        Err(_) => out.push(check(
            StartupConfig,
            Warn,
            "no startup configuration: the bridge must be attached to a chart by hand",
            Some(setup_fix(i)),
        )),
        Result::Ok(bytes) => {
            let (p, t) = startup::read_bridge_set(&bytes);
            if p != Some(port) {
                out.push(check(
                    StartupConfig,
                    Fail,
                    format!(
                        "the startup inputs use port {}, the agent listens on {port}",
                        p.map_or("none".into(), |p| p.to_string())
                    ),
                    Some(setup_fix(i)),
                ));
            } else if t.as_deref() != Some(token) {
                out.push(check(
                    StartupConfig,
                    Fail,
                    "the startup inputs carry another bridge token than the agent's",
                    Some(setup_fix(i)),
                ));
            } else {
                out.push(check(
                    StartupConfig,
                    Ok,
                    format!("{} and {}", files.ini.display(), files.set.display()),
                    None,
                ));
            }
        }
    }
    let start = crate::terminal_setup::start_command(i, &files.ini);
    let connected = bridge.is_some_and(|b| b.connected);
    match bridge {
        Some(b) if b.connected => out.push(check(
            EaConnected,
            Ok,
            format!(
                "connected: account {} on {}",
                b.login.as_deref().unwrap_or("?"),
                b.server.as_deref().unwrap_or("?")
            ),
            None,
        )),
        Some(b) if !b.listening => out.push(check(
            EaConnected,
            Fail,
            format!("nothing could listen on 127.0.0.1:{port}: another program holds the port, or an agent that stopped reporting"),
            Some("start the agent (`companion-agent run` or the app); if it says the port is taken, pick another with --bridge-port and run setup again".into()),
        )),
        Some(_) => out.push(check(
            EaConnected,
            Fail,
            format!("no bridge EA connected to 127.0.0.1:{port}"),
            Some(format!(
                "start the terminal with {start} (or attach CompanionBridge from Navigator › Expert Advisors › Companion to one chart); in Tools › Options › Expert Advisors turn on Allow algorithmic trading and add 127.0.0.1 to Allow WebRequest for listed URL; the Experts journal says why it cannot connect"
            )),
        )),
        None => out.push(check(
            EaConnected,
            Fail,
            "the agent is not running, so nothing listens for the bridge",
            Some("start the agent (`companion-agent run` or the app), then run the Doctor again".into()),
        )),
    }
    let refusal = bridge.and_then(|b| b.last_refusal.as_ref());
    match refusal {
        _ if connected => out.push(check(TokenMatches, Ok, "the EA's token was accepted", None)),
        Some(r) if r.code == "bad_token" => out.push(check(
            TokenMatches,
            Fail,
            "the bridge EA presented a wrong token (the agent refused it)",
            Some(format!(
                "{}, then restart the terminal; or set the EA's InpToken input to the bridge token the app shows",
                setup_fix(i)
            )),
        )),
        Some(r) if r.code == "unsupported_version" => out.push(check(
            TokenMatches,
            Fail,
            format!("the bridge EA is too old for this agent: {}", r.message),
            Some(setup_fix(i)),
        )),
        Some(r) => out.push(check(TokenMatches, Fail, format!("hello refused: {}", r.message), Some(setup_fix(i)))),
        None => out.push(check(
            TokenMatches,
            Skipped,
            "unknown until the EA connects",
            None,
        )),
    }
    match bridge.and_then(|b| b.trade_allowed) {
        _ if !connected => out.push(check(AlgoTrading, Skipped, "unknown until the EA connects", None)),
        Some(true) => out.push(check(AlgoTrading, Ok, "algorithmic trading is allowed", None)),
        Some(false) => out.push(check(
            AlgoTrading,
            Fail,
            "algorithmic trading is off (in the terminal or for the bridge EA)",
            Some("press Algo Trading in the terminal's toolbar, and tick Allow Algo Trading in the CompanionBridge chart's Expert properties (Common tab)".into()),
        )),
        None => out.push(check(AlgoTrading, Warn, "the EA did not say", None)),
    }
    match bridge.and_then(|b| b.margin_mode.clone()) {
        _ if !connected => out.push(check(MarginMode, Skipped, "unknown until the EA connects", None)),
        Some(m) if m == "hedging" => out.push(check(MarginMode, Ok, "hedging account", None)),
        Some(m) => out.push(check(
            MarginMode,
            Warn,
            format!("{m} account: positions on one symbol are merged; closes by ticket close the whole merged position"),
            Some("use a hedging account for strategies that hold several positions per symbol".into()),
        )),
        None => out.push(check(
            MarginMode,
            Skipped,
            "this bridge EA does not report the margin mode",
            None,
        )),
    }
    out
}

/// True when no check failed.
pub fn all_ok(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.status != CheckStatus::Fail)
}
