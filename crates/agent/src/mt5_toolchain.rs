//! The real toolchain: compile and test jobs through the terminal crate's
//! MetaEditor and strategy-tester drivers, configured from `config.json`
//! (`metaeditor_path`, `terminal_path`, `terminal_data_dir`) or the
//! `COMPANION_METAEDITOR` / `COMPANION_TERMINAL64` / `COMPANION_MT5_DATA_DIR` variables.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use companion_protocol::{CompileOutput, TestInput, TestReport};
use companion_terminal::toolchain::{Launcher, MetaEditor, Tester, TesterRun};
use uuid::Uuid;

use crate::config::AgentConfig;
use crate::toolchain::{
    expert_name, how_to_configure, ToolchainError, METAEDITOR_ENV, MT5_DATA_DIR_ENV, TERMINAL_ENV,
};

/// MetaEditor and/or the tester, each present when its path is configured.
#[derive(Debug, Clone)]
pub struct Mt5Toolchain {
    metaeditor: Option<MetaEditor>,
    tester: Option<Tester>,
    /// The terminal's data folder (`MQL5/Experts/Companion` receives compiled EAs).
    data_dir: Option<PathBuf>,
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl Mt5Toolchain {
    /// Paths from the environment (first) or the config; `None` when neither names MetaEditor nor the terminal.
    pub fn from_config(cfg: &AgentConfig) -> Option<Self> {
        let metaeditor = env_path(METAEDITOR_ENV).or_else(|| cfg.metaeditor_path.clone());
        let terminal = env_path(TERMINAL_ENV).or_else(|| cfg.terminal_path.clone());
        let data_dir = env_path(MT5_DATA_DIR_ENV)
            .or_else(|| cfg.terminal_data_dir.clone())
            // A portable install keeps its data beside the executable.
            .or_else(|| {
                terminal
                    .as_ref()
                    .and_then(|t| t.parent().map(Path::to_path_buf))
            });
        if metaeditor.is_none() && terminal.is_none() {
            return None;
        }
        let tester = match (&terminal, &data_dir) {
            (Some(t), Some(d)) => {
                let portable = t.parent() == Some(d.as_path());
                Some(Tester::new(Launcher::for_exe(t), d, portable))
            }
            _ => None,
        };
        Some(Mt5Toolchain {
            metaeditor: metaeditor.map(|m| MetaEditor::new(Launcher::for_exe(m))),
            tester,
            data_dir,
        })
    }
}

impl crate::toolchain::Toolchain for Mt5Toolchain {
    async fn compile(
        &self,
        version_id: Uuid,
        source: &str,
    ) -> Result<CompileOutput, ToolchainError> {
        let me = self.metaeditor.as_ref().ok_or_else(|| {
            ToolchainError::NotConfigured(how_to_configure("MetaEditor (metaeditor64.exe)"))
        })?;
        let include = self.data_dir.as_ref().map(|d| d.join("MQL5"));
        let out_dir = self
            .data_dir
            .as_ref()
            .map(|d| d.join("MQL5").join("Experts").join("Companion"));
        if let Some(o) = &out_dir {
            std::fs::create_dir_all(o).map_err(|e| {
                ToolchainError::Failed(format!("cannot create {}: {e}", o.display()))
            })?;
        }
        let stem = version_id.simple().to_string();
        let compiled = me
            .compile_source(&stem, source, include.as_deref(), out_dir.as_deref())
            .await
            .map_err(|e| ToolchainError::Failed(e.to_string()))?;
        Ok(compiled.output)
    }

    async fn test(&self, input: &TestInput) -> Result<TestReport, ToolchainError> {
        let tester = self.tester.as_ref().ok_or_else(|| {
            ToolchainError::NotConfigured(how_to_configure("The MT5 terminal (terminal64.exe)"))
        })?;
        let date = |s: &str, what: &str| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                ToolchainError::Failed(format!(
                    "invalid test input: {what} {s:?} is not a YYYY-MM-DD date"
                ))
            })
        };
        let run = TesterRun {
            expert: format!("{}.ex5", expert_name(input.version_id)),
            symbol: input.symbol.clone(),
            period: input.timeframe,
            model: input.model,
            from: date(&input.from, "from")?,
            to: date(&input.to, "to")?,
            deposit: input.deposit,
            currency: None,
            leverage: input.leverage,
            inputs: input.inputs.clone().unwrap_or_default(),
            report: format!("Companion\\report_{}", Uuid::new_v4().simple()),
            login: None,
            server: None,
        };
        tester
            .run(&run)
            .await
            .map_err(|e| ToolchainError::Failed(e.to_string()))
    }
}
