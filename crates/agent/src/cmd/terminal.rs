//! `terminal list|setup|doctor`: the MT5 side of a VPS install without the app.
//! `list` shows the installations found, `setup` installs, compiles and
//! configures the bridge EA in one of them, `doctor` checks every step and says
//! how to fix what fails (the same core as the app's Terminal setup screen,
//! `companion_agent::terminal_setup`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use companion_agent::config::AgentConfig;
use companion_agent::launch::DEFAULT_BRIDGE_PORT;
use companion_agent::terminal_setup::doctor::{self, BridgeState, CheckStatus};
use companion_agent::terminal_setup::{self, SetupError, SetupOptions};
use companion_terminal::discovery::{discover, DiscoveryRoots};

#[derive(clap::Subcommand)]
pub enum TerminalCmd {
    /// List the MetaTrader 5 installations on this machine.
    List {
        #[command(flatten)]
        roots: RootArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Install the bridge EA into a terminal, compile it with that terminal's
    /// MetaEditor and write a startup configuration with this agent's port and token.
    Setup {
        /// The data folder (with MQL5/ and origin.txt), the folder with terminal64.exe,
        /// or the data folder's id, as `terminal list` shows them.
        target: PathBuf,
        /// Chart the startup configuration opens for the bridge.
        #[arg(long, default_value = terminal_setup::DEFAULT_SYMBOL)]
        symbol: String,
        #[arg(long, default_value = terminal_setup::DEFAULT_PERIOD)]
        period: String,
        /// Bridge port the EA connects to (default: the agent's).
        #[arg(long)]
        bridge_port: Option<u16>,
        /// Set this terminal up as a further account of this agent, named NAME: it
        /// gets its own bridge (`--bridge-port`, required) and token in
        /// config.json `terminals`; restart the agent to listen on it.
        #[arg(long, value_name = "NAME", requires = "bridge_port")]
        account: Option<String>,
        #[command(flatten)]
        roots: RootArgs,
    },
    /// Check each step from "MT5 installed" to "bridge connected" and say how to fix failures.
    Doctor {
        /// The terminal to check (default: the set-up one, else the only one found).
        target: Option<PathBuf>,
        /// When no agent runs: listen on the bridge port this long for the EA.
        #[arg(long, default_value_t = 12)]
        wait_secs: u64,
        #[arg(long)]
        bridge_port: Option<u16>,
        #[command(flatten)]
        roots: RootArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Extra places to look for installations.
#[derive(clap::Args, Clone, Default)]
pub struct RootArgs {
    /// A Wine prefix holding MT5 (besides $WINEPREFIX and ~/.wine).
    #[arg(long)]
    wine_prefix: Vec<PathBuf>,
    /// A folder holding `MetaQuotes/Terminal/<id>` data folders (like %APPDATA%).
    #[arg(long)]
    appdata: Vec<PathBuf>,
}

impl RootArgs {
    fn roots(&self) -> DiscoveryRoots {
        let mut r = DiscoveryRoots::from_env();
        r.wine_prefixes.extend(self.wine_prefix.iter().cloned());
        r.appdata.extend(self.appdata.iter().cloned());
        r
    }
}

pub async fn terminal(dir: &Path, cmd: TerminalCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        TerminalCmd::List { roots, json } => list(dir, &roots.roots(), json),
        TerminalCmd::Setup {
            target,
            symbol,
            period,
            bridge_port,
            account,
            roots,
        } => {
            if let (Some(name), Some(port)) = (&account, bridge_port) {
                let mut cfg = AgentConfig::load(dir)?;
                cfg.add_further_terminal(name, port);
                cfg.save(dir)?;
                println!("account {name:?}: a further terminal on bridge port {port} (restart the agent to listen on it)");
            }
            setup(dir, &target, symbol, period, bridge_port, &roots.roots()).await
        }
        TerminalCmd::Doctor {
            target,
            wait_secs,
            bridge_port,
            roots,
            json,
        } => {
            doctor(
                dir,
                target.as_deref(),
                Duration::from_secs(wait_secs),
                bridge_port,
                &roots.roots(),
                json,
            )
            .await
        }
    }
}

fn list(dir: &Path, roots: &DiscoveryRoots, json: bool) -> anyhow::Result<ExitCode> {
    let cfg = AgentConfig::load(dir)?;
    let found = terminal_setup::list(roots, &cfg);
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(ExitCode::SUCCESS);
    }
    if found.is_empty() {
        println!("No MetaTrader 5 installation found. Install MT5 from your broker and start it once, or pass --wine-prefix DIR / --appdata DIR.");
        return Ok(ExitCode::FAILURE);
    }
    for i in found {
        println!("{}", i.data_dir.display());
        println!("    terminal:   {}", i.terminal_exe.display());
        println!(
            "    MetaEditor: {}",
            i.metaeditor_exe
                .as_ref()
                .map_or("(missing)".into(), |p| p.display().to_string())
        );
        println!(
            "    bridge EA:  {}{}",
            i.bridge_version.as_deref().unwrap_or("not installed"),
            if i.set_up {
                " (set up by this agent)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The port and token an EA must use: a further terminal's own when `flag` is its
/// port (several accounts), else the agent's.
fn port_and_token(dir: &Path, flag: Option<u16>) -> anyhow::Result<(u16, String)> {
    let mut cfg = AgentConfig::load(dir)?;
    if let Some(found) = flag.and_then(|p| cfg.further_terminal(p)) {
        cfg.save(dir)?;
        return Ok(found);
    }
    let had_token = cfg.bridge_token.is_some();
    let token = cfg.bridge_token_or_generate();
    if !had_token {
        cfg.save(dir)?;
    }
    Ok((
        flag.or(cfg.bridge_port).unwrap_or(DEFAULT_BRIDGE_PORT),
        token,
    ))
}

async fn setup(
    dir: &Path,
    target: &Path,
    symbol: String,
    period: String,
    bridge_port: Option<u16>,
    roots: &DiscoveryRoots,
) -> anyhow::Result<ExitCode> {
    let inst = terminal_setup::resolve(target, roots)?;
    let (port, token) = port_and_token(dir, bridge_port)?;
    let opts = SetupOptions {
        symbol,
        period,
        ..SetupOptions::new(port, token)
    };
    match terminal_setup::setup_and_record(dir, &inst, &opts).await {
        Ok(r) => {
            println!("Bridge EA {} installed and compiled:", r.bridge_version);
            println!("  source:  {}", r.source.display());
            println!("  program: {}", r.ex5.display());
            println!(
                "  inputs:  {} (port {port}; the token is only in this file, readable by you only)",
                r.set_file.display()
            );
            println!("  startup: {}", r.startup_ini.display());
            println!();
            println!("Start the terminal with:\n  {}", r.start_command);
            println!("and in Tools > Options > Expert Advisors add 127.0.0.1 to \"Allow WebRequest for listed URL\" (once).");
            println!("Then check with `companion-agent terminal doctor`.");
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ SetupError::Compile { .. }) => {
            eprintln!("error: {e}");
            eprintln!("The bridge EA that ships with this agent should compile; report the log above. Your terminal may be older than the EA needs: update MetaTrader 5 and run setup again.");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}

async fn doctor(
    dir: &Path,
    target: Option<&Path>,
    wait: Duration,
    bridge_port: Option<u16>,
    roots: &DiscoveryRoots,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let cfg = AgentConfig::load(dir)?;
    let inst = match target {
        Some(t) => Some(terminal_setup::resolve(t, roots)?),
        None => match cfg.set_up_terminals.first() {
            Some(t) => Some(terminal_setup::installation_of(t)),
            None => {
                let found = discover(roots);
                if found.len() > 1 {
                    anyhow::bail!("{} MetaTrader 5 installations found: pass one of them (`companion-agent terminal list` shows them)", found.len());
                }
                found.into_iter().next()
            }
        },
    };
    let (port, token) = port_and_token(dir, bridge_port)?;
    let bridge = match BridgeState::load_fresh(dir) {
        Some(s) => s,
        None => {
            if !json {
                eprintln!("No agent is running; listening on 127.0.0.1:{port} for up to {} s for the bridge EA…", wait.as_secs());
            }
            BridgeState::probe(port, &token, wait).await
        }
    };
    let checks = doctor::run_checks(inst.as_ref(), port, &token, Some(&bridge));
    if json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for c in &checks {
            let mark = match c.status {
                CheckStatus::Ok => "ok  ",
                CheckStatus::Warn => "warn",
                CheckStatus::Fail => "FAIL",
                CheckStatus::Skipped => "  - ",
            };
            let id = serde_json::to_value(c.id)?;
            println!("[{mark}] {}: {}", id.as_str().unwrap_or(""), c.detail);
            if let Some(f) = &c.fix {
                println!("       fix: {f}");
            }
        }
    }
    Ok(if doctor::all_ok(&checks) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
