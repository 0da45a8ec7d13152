//! The app's Terminal setup and Doctor screen: the same core as
//! `companion-agent terminal list|setup|doctor` ([`crate::terminal_setup`]), with
//! the agent's own bridge port and token and the bridge state the embedded
//! runtime writes (`bridge-status.json`).

use std::path::{Path, PathBuf};

use companion_terminal::discovery::{discover, DiscoveryRoots};

use crate::app::error::{AppError, AppErrorCode, AppResult};
use crate::app::session::Core;
use crate::config::AgentConfig;
use crate::launch::DEFAULT_BRIDGE_PORT;
use crate::terminal_setup::doctor::{self, BridgeState, Check};
use crate::terminal_setup::{self, InstallationView, SetupError, SetupOptions, SetupReport};

impl From<SetupError> for AppError {
    fn from(e: SetupError) -> Self {
        let code = match &e {
            SetupError::NotFound(_) => AppErrorCode::NotFound,
            SetupError::NoMetaEditor { .. }
            | SetupError::Compile { .. }
            | SetupError::Toolchain(_) => AppErrorCode::TerminalSetup,
            SetupError::Io { .. } | SetupError::Config(_) => AppErrorCode::Internal,
        };
        AppError::new(code, e.to_string())
    }
}

/// The agent's bridge port and token (the token generated and saved when absent).
fn port_and_token(dir: &Path, port_override: Option<u16>) -> AppResult<(u16, String)> {
    let mut cfg = AgentConfig::load(dir)?;
    let had = cfg.bridge_token.is_some();
    let token = cfg.bridge_token_or_generate();
    if !had {
        cfg.save(dir)?;
    }
    Ok((
        port_override
            .or(cfg.bridge_port)
            .unwrap_or(DEFAULT_BRIDGE_PORT),
        token,
    ))
}

impl Core {
    fn bridge_port_override(&self) -> Option<u16> {
        self.runtime_spec().and_then(|r| r.bridge_port)
    }

    /// MT5 installations on this computer.
    pub fn terminal_list(&self) -> AppResult<Vec<InstallationView>> {
        let cfg = AgentConfig::load(self.data_dir())?;
        Ok(terminal_setup::list(&DiscoveryRoots::from_env(), &cfg))
    }

    /// Installs, compiles and configures the bridge EA in the terminal whose data
    /// folder is `data_dir`.
    pub async fn terminal_setup(&self, data_dir: String) -> AppResult<SetupReport> {
        let inst = terminal_setup::resolve(Path::new(&data_dir), &DiscoveryRoots::from_env())?;
        let (port, token) = port_and_token(self.data_dir(), self.bridge_port_override())?;
        Ok(terminal_setup::setup_and_record(
            self.data_dir(),
            &inst,
            &SetupOptions::new(port, token),
        )
        .await?)
    }

    /// The Doctor's checks for `data_dir` (default: the set-up terminal, else the
    /// only one found).
    pub async fn terminal_doctor(&self, data_dir: Option<String>) -> AppResult<Vec<Check>> {
        let roots = DiscoveryRoots::from_env();
        let cfg = AgentConfig::load(self.data_dir())?;
        let inst = match data_dir {
            Some(d) => Some(terminal_setup::resolve(&PathBuf::from(d), &roots)?),
            None => match cfg.set_up_terminals.first() {
                Some(t) => Some(terminal_setup::installation_of(t)),
                None => {
                    let found = discover(&roots);
                    if found.len() > 1 {
                        return Err(AppError::invalid(format!(
                            "{} MetaTrader 5 installations found: choose one to check.",
                            found.len()
                        )));
                    }
                    found.into_iter().next()
                }
            },
        };
        let (port, token) = port_and_token(self.data_dir(), self.bridge_port_override())?;
        // The embedded runtime keeps this current while it runs.
        let bridge = BridgeState::load_fresh(self.data_dir());
        Ok(doctor::run_checks(
            inst.as_ref(),
            port,
            &token,
            bridge.as_ref(),
        ))
    }
}
