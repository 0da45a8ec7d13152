//! The desktop app's log: stderr plus `companion.log` in the data directory (what
//! Settings › Logs shows). Keys and secrets are never logged (the key types redact
//! themselves).

use std::path::{Path, PathBuf};

use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

use crate::app::error::{AppError, AppResult};

pub const LOG_FILE: &str = "companion.log";

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(LOG_FILE)
}

/// Logs to stderr and (appending) to the log file.
pub fn init(data_dir: &Path) {
    let _ = std::fs::create_dir_all(data_dir);
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,companion_app=debug,companion_agent=debug"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path(data_dir))
        .ok();
    let file_layer = file.map(|f| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(file_layer)
        .try_init();
}

/// The last `lines` lines of the log file ("" when there is none yet).
pub fn tail(data_dir: &Path, lines: usize) -> AppResult<String> {
    let text = match std::fs::read_to_string(path(data_dir)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(AppError::internal(format!("cannot read the log: {e}"))),
    };
    let all: Vec<&str> = text.lines().collect();
    Ok(all[all.len().saturating_sub(lines)..].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_returns_the_last_lines_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(tail(dir.path(), 2).unwrap(), "");
        std::fs::write(path(dir.path()), "a\nb\nc\n").unwrap();
        assert_eq!(tail(dir.path(), 2).unwrap(), "b\nc");
    }
}
