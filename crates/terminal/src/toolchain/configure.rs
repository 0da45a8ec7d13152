//! Where an installation's toolchain paths come from: the agent's config, each
//! overridden by its `COMPANION_*` environment variable, and the message that says
//! how to set them when a job needs one that is missing.

use std::path::PathBuf;

/// `metaeditor64.exe`, for compile jobs.
pub const METAEDITOR_ENV: &str = "COMPANION_METAEDITOR";
/// `terminal64.exe`, for test jobs.
pub const TERMINAL_ENV: &str = "COMPANION_TERMINAL64";
/// The terminal's data folder (holds `MQL5/`).
pub const MT5_DATA_DIR_ENV: &str = "COMPANION_MT5_DATA_DIR";

/// The configured paths of one MetaTrader installation; any may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mt5Paths {
    pub metaeditor: Option<PathBuf>,
    pub terminal64: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl Mt5Paths {
    /// These paths, each replaced by its environment variable when that is set and
    /// not empty. A portable install (no data folder named) keeps its data beside
    /// `terminal64.exe`.
    pub fn with_env_overrides(self) -> Self {
        let metaeditor = env_path(METAEDITOR_ENV).or(self.metaeditor);
        let terminal64 = env_path(TERMINAL_ENV).or(self.terminal64);
        let data_dir = env_path(MT5_DATA_DIR_ENV).or(self.data_dir).or_else(|| {
            terminal64
                .as_ref()
                .and_then(|t| t.parent().map(PathBuf::from))
        });
        Mt5Paths {
            metaeditor,
            terminal64,
            data_dir,
        }
    }
}

/// Why `what` cannot run, and how to configure it.
pub fn how_to_configure(what: &str) -> String {
    format!(
        "{what} is not configured on this agent: set \"metaeditor_path\", \"terminal_path\" and \
         \"terminal_data_dir\" in the agent's config.json (see `companion-agent status` for its folder), \
         or the environment variables {METAEDITOR_ENV}, {TERMINAL_ENV} and {MT5_DATA_DIR_ENV}, then restart the agent"
    )
}

/// What a compile job needs.
pub(crate) fn metaeditor_missing() -> String {
    how_to_configure("MetaEditor (metaeditor64.exe)")
}

/// What a test job needs.
pub(crate) fn terminal_missing() -> String {
    how_to_configure("The MT5 terminal (terminal64.exe)")
}
