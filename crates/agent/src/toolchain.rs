//! Compile and test jobs need MetaEditor and the MT5 tester, not the bridge:
//! the `Toolchain` trait the executor calls, and the stand-in used when no
//! MetaEditor / terminal64 path is configured (fails with how to set one).

use std::future::Future;

use companion_protocol::{CompileOutput, TestInput, TestReport};
use uuid::Uuid;

/// Environment variables that point the agent at a MetaTrader install.
pub const METAEDITOR_ENV: &str = "COMPANION_METAEDITOR";
pub const TERMINAL_ENV: &str = "COMPANION_TERMINAL64";
pub const MT5_DATA_DIR_ENV: &str = "COMPANION_MT5_DATA_DIR";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolchainError {
    #[error("{0}")]
    NotConfigured(String),
    #[error("{0}")]
    Failed(String),
}

/// Name under which a compiled EA version is installed (`MQL5/Experts/<this>.ex5`),
/// and how deploy jobs refer to it.
pub fn expert_name(version_id: Uuid) -> String {
    format!("Companion\\{}", version_id.simple())
}

/// MetaEditor + tester, as the executor sees them.
pub trait Toolchain: Send + Sync {
    /// Compiles `source` as EA version `version_id` into the terminal's Experts folder.
    fn compile(
        &self,
        version_id: Uuid,
        source: &str,
    ) -> impl Future<Output = Result<CompileOutput, ToolchainError>> + Send;
    /// Runs a strategy tester pass and reads its report.
    fn test(
        &self,
        input: &TestInput,
    ) -> impl Future<Output = Result<TestReport, ToolchainError>> + Send;
}

/// The toolchain when no MetaTrader paths are configured.
#[derive(Debug, Clone, Default)]
pub struct Unconfigured;

pub(crate) fn how_to_configure(what: &str) -> String {
    format!(
        "{what} is not configured on this agent: set \"metaeditor_path\", \"terminal_path\" and \
         \"terminal_data_dir\" in the agent's config.json (see `companion-agent status` for its folder), \
         or the environment variables {METAEDITOR_ENV}, {TERMINAL_ENV} and {MT5_DATA_DIR_ENV}, then restart the agent"
    )
}

impl Toolchain for Unconfigured {
    async fn compile(
        &self,
        _version_id: Uuid,
        _source: &str,
    ) -> Result<CompileOutput, ToolchainError> {
        Err(ToolchainError::NotConfigured(how_to_configure(
            "MetaEditor (metaeditor64.exe)",
        )))
    }
    async fn test(&self, _input: &TestInput) -> Result<TestReport, ToolchainError> {
        Err(ToolchainError::NotConfigured(how_to_configure(
            "The MT5 terminal (terminal64.exe)",
        )))
    }
}

/// The toolchain the binary uses: whatever the config/environment point at.
#[derive(Debug, Clone)]
pub enum AnyToolchain {
    Unconfigured(Unconfigured),
    Mt5(Box<crate::mt5_toolchain::Mt5Toolchain>),
}

impl AnyToolchain {
    /// Reads `metaeditor_path` / `terminal_path` / `terminal_data_dir` from the
    /// config, overridden by the `COMPANION_*` environment variables.
    pub fn from_config(cfg: &crate::config::AgentConfig) -> Self {
        match crate::mt5_toolchain::Mt5Toolchain::from_config(cfg) {
            Some(t) => AnyToolchain::Mt5(Box::new(t)),
            None => AnyToolchain::Unconfigured(Unconfigured),
        }
    }
}

impl Toolchain for AnyToolchain {
    async fn compile(
        &self,
        version_id: Uuid,
        source: &str,
    ) -> Result<CompileOutput, ToolchainError> {
        match self {
            AnyToolchain::Unconfigured(u) => u.compile(version_id, source).await,
            AnyToolchain::Mt5(t) => t.compile(version_id, source).await,
        }
    }
    async fn test(&self, input: &TestInput) -> Result<TestReport, ToolchainError> {
        match self {
            AnyToolchain::Unconfigured(u) => u.test(input).await,
            AnyToolchain::Mt5(t) => t.test(input).await,
        }
    }
}
