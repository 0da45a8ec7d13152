//! MT5's command-line tools: MetaEditor compiles (with log parsing) and strategy
//! tester runs (generated ini, report parsing), started natively or under Wine, and
//! [`Mt5Toolchain`], the compile / test jobs on top of them.

pub mod compile_log;
pub mod configure;
pub mod launch;
pub mod metaeditor;
pub mod mt5;
pub mod numbers;
pub mod report;
pub mod tester;
pub mod text;

use std::path::{Path, PathBuf};

pub use compile_log::{parse_compile_log, CompileLog};
pub use configure::{how_to_configure, Mt5Paths, METAEDITOR_ENV, MT5_DATA_DIR_ENV, TERMINAL_ENV};
pub use launch::{wine_path, Launcher};
pub use metaeditor::{Compiled, MetaEditor};
pub use mt5::{expert_name, Mt5Toolchain};
pub use report::{parse_report, parse_report_text};
pub use tester::{tester_ini, Tester, TesterRun};
pub use text::decode_text;

/// Why a toolchain step failed. Messages say what to do next.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolchainError {
    /// The job needs a program or folder this installation does not name; the
    /// message says how to configure it.
    #[error("{0}")]
    NotConfigured(String),
    /// The job's input cannot be run (a malformed date, ...).
    #[error("{0}")]
    InvalidInput(String),
    #[error("could not start {exe}: {reason}; check the MetaTrader 5 path in Settings (and that Wine is installed on Linux/macOS)")]
    Launch { exe: PathBuf, reason: String },
    #[error("{what} did not finish within {secs} s")]
    TimedOut { what: &'static str, secs: u64 },
    #[error("MetaEditor wrote no log at {log}; paths with spaces or a wrong MetaEditor path are the usual cause")]
    NoLog { log: PathBuf },
    #[error("the terminal {exe} is running; close it (the strategy tester cannot start while it is open) and retry")]
    TerminalRunning { exe: PathBuf },
    #[error("the tester wrote no report at {base}.htm/.xml; see the terminal's Tester journal")]
    NoReport { base: PathBuf },
    #[error("could not read the tester report {path}: {message}")]
    Report { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
}

impl ToolchainError {
    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        ToolchainError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}
