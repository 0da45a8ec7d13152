//! Compile and test jobs need MetaEditor and the MT5 tester, not the bridge: the
//! `Toolchain` trait the executor calls, implemented by the terminal crate's
//! [`Mt5Toolchain`] (the one toolchain; it checks a version is compiled before a
//! test run) and by the stand-in used when no MetaEditor / terminal64 path is
//! configured (fails saying how to set one).

use std::future::Future;

use companion_protocol::{CompileOutput, TestInput, TestReport};
use companion_terminal::toolchain::{how_to_configure, Mt5Paths, Mt5Toolchain};
use uuid::Uuid;

pub use companion_terminal::toolchain::{
    expert_name, ToolchainError, METAEDITOR_ENV, MT5_DATA_DIR_ENV, TERMINAL_ENV,
};

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

impl Toolchain for Mt5Toolchain {
    async fn compile(
        &self,
        version_id: Uuid,
        source: &str,
    ) -> Result<CompileOutput, ToolchainError> {
        self.compile_version(version_id, source).await
    }
    async fn test(&self, input: &TestInput) -> Result<TestReport, ToolchainError> {
        self.test_version(input).await
    }
}

/// The toolchain when no MetaTrader paths are configured.
#[derive(Debug, Clone, Default)]
pub struct Unconfigured;

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
    Mt5(Box<Mt5Toolchain>),
}

impl AnyToolchain {
    /// Reads `metaeditor_path` / `terminal_path` / `terminal_data_dir` from the
    /// config, overridden by the `COMPANION_*` environment variables.
    pub fn from_config(cfg: &crate::config::AgentConfig) -> Self {
        let paths = Mt5Paths {
            metaeditor: cfg.metaeditor_path.clone(),
            terminal64: cfg.terminal_path.clone(),
            data_dir: cfg.terminal_data_dir.clone(),
        }
        .with_env_overrides();
        match Mt5Toolchain::configured(&paths) {
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
