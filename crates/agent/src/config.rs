//! The agent's data directory and its small JSON config (`config.json`):
//! server URL, agent id/name, bridge token(s) of the terminal(s), toolchain paths, and the desktop
//! app's one setting of its own. Never the key. The headless agent and the
//! desktop app share this one file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Overrides the data directory (same as `--data-dir`).
pub const DATA_DIR_ENV: &str = "COMPANION_AGENT_DATA_DIR";
pub const CONFIG_FILE: &str = "config.json";
pub const JOURNAL_FILE: &str = "journal.db";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot determine a data directory for this user; pass --data-dir DIR")]
    NoDataDir,
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid agent config ({source}); fix or delete it and pair again")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Persistent agent settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentConfig {
    #[serde(default)]
    pub server_url: Option<String>,
    #[serde(default)]
    pub agent_id: Option<Uuid>,
    #[serde(default)]
    pub agent_name: Option<String>,
    /// Shared token the bridge EA / paper terminal must present (generated when absent).
    #[serde(default)]
    pub bridge_token: Option<String>,
    #[serde(default)]
    pub bridge_port: Option<u16>,
    /// `metaeditor64.exe` used by compile jobs.
    #[serde(default)]
    pub metaeditor_path: Option<PathBuf>,
    /// `terminal64.exe` used by test jobs.
    #[serde(default)]
    pub terminal_path: Option<PathBuf>,
    /// The terminal's data folder (holds `MQL5/`).
    #[serde(default)]
    pub terminal_data_dir: Option<PathBuf>,
    /// Symbols whose prices are pushed besides those of open positions.
    #[serde(default)]
    pub price_symbols: Vec<String>,
    /// Desktop app: show a system notification when a signal fails (absent = yes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_failed_signals: Option<bool>,
    /// Terminals `terminal setup` installed the bridge EA into: a newer bundled EA
    /// is reinstalled and recompiled in each at the next agent start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set_up_terminals: Vec<SetUpTerminal>,
    /// The broker connection the first terminal's account (`bridge_port`) was last
    /// bound to by the server: jobs for it are routed there even before it reconnects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge_connection_id: Option<Uuid>,
    /// Further terminals (accounts) served besides the first: one bridge listener
    /// (port and token) each (docs/agent.md, "Several terminals").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terminals: Vec<TerminalConfig>,
}

/// A further terminal: its own bridge port and token, and the broker connection its
/// account was last bound to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TerminalConfig {
    /// A label for the UI and logs (e.g. "prop firm 2").
    #[serde(default)]
    pub name: String,
    pub port: u16,
    /// The token this terminal's bridge EA must present (generated when absent).
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_connection_id: Option<Uuid>,
}

/// One terminal the bridge EA was set up in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetUpTerminal {
    /// The data folder (holds `MQL5/`).
    pub data_dir: PathBuf,
    pub terminal_exe: PathBuf,
    #[serde(default)]
    pub metaeditor_exe: Option<PathBuf>,
    #[serde(default)]
    pub portable: bool,
    #[serde(default)]
    pub wine_prefix: Option<PathBuf>,
    /// `#property version` of the bridge EA last installed and compiled there.
    pub bridge_version: String,
    /// The chart the startup configuration opens for the bridge.
    pub symbol: String,
    pub period: String,
    /// The bridge port its EA was set up for when that is a further terminal's
    /// (`terminals`): a refresh keeps that port and its token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge_port: Option<u16>,
}

/// The per-user data directory (`--data-dir` > `COMPANION_AGENT_DATA_DIR` > platform default).
pub fn data_dir(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    directories::ProjectDirs::from("", "", "companion-agent")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or(ConfigError::NoDataDir)
}

/// Creates `dir` (and its parents) and, on Unix, makes it private to its owner (0700):
/// it holds the bridge token (`config.json`) and the journal, and another local user
/// with the bridge token could take over the terminal bridge.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// On Unix, makes an existing file readable and writable by its owner only (0600).
/// A missing file is fine.
pub fn make_private_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Creates (or truncates) `path` with mode 0600 on Unix from the start, so its
/// content is never readable by others, not even briefly.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts.open(path)?;
    // An older file kept its mode: tighten it too.
    make_private_file(path)?;
    Ok(file)
}

impl AgentConfig {
    /// Reads `config.json` in `dir`; a missing file is an empty config.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        let path = dir.join(CONFIG_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| ConfigError::Parse { path, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ConfigError::Io { path, source }),
        }
    }

    /// Writes `config.json` atomically (temp file + rename), private to its owner
    /// (0600 in a 0700 directory on Unix).
    pub fn save(&self, dir: &Path) -> Result<(), ConfigError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ConfigError::Io { path, source }
        };
        ensure_private_dir(dir).map_err(io(dir))?;
        let path = dir.join(CONFIG_FILE);
        let tmp = dir.join(format!("{CONFIG_FILE}.tmp"));
        let bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        {
            use std::io::Write;
            let mut f = create_private(&tmp).map_err(io(&tmp))?;
            f.write_all(&bytes).map_err(io(&tmp))?;
        }
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(())
    }

    /// The further terminals, a token generated and remembered for each that has none.
    pub fn terminals_with_tokens(&mut self) -> Vec<TerminalConfig> {
        for t in &mut self.terminals {
            if t.token.is_none() {
                t.token = Some(random_token());
            }
        }
        self.terminals.clone()
    }

    /// The port and token of the further terminal on `port`, if `terminals` has one
    /// (its token generated when absent; save the config after).
    pub fn further_terminal(&mut self, port: u16) -> Option<(u16, String)> {
        let t = self.terminals.iter_mut().find(|t| t.port == port)?;
        let token = t.token.get_or_insert_with(random_token).clone();
        Some((port, token))
    }

    /// Adds a further terminal (another account) on `port` unless `terminals` has one.
    pub fn add_further_terminal(&mut self, name: &str, port: u16) {
        if self.terminals.iter().all(|t| t.port != port) {
            self.terminals.push(TerminalConfig {
                name: name.to_string(),
                port,
                token: None,
                broker_connection_id: None,
            });
        }
    }

    /// The bridge token, generating and remembering one when absent.
    pub fn bridge_token_or_generate(&mut self) -> String {
        if let Some(t) = &self.bridge_token {
            return t.clone();
        }
        let t = random_token();
        self.bridge_token = Some(t.clone());
        t
    }
}

/// A fresh bridge token: 32 random alphanumeric characters.
fn random_token() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

#[cfg(test)]
mod tests {

    #[cfg(unix)]
    #[test]
    fn the_config_and_its_directory_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("data");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A config written by an older version, readable by everyone.
        std::fs::write(dir.join(CONFIG_FILE), b"{}").unwrap();
        std::fs::set_permissions(
            dir.join(CONFIG_FILE),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let mut cfg = AgentConfig::default();
        cfg.bridge_token_or_generate();
        cfg.save(&dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(CONFIG_FILE)), 0o600);
    }
    use super::*;

    #[test]
    fn save_and_load_round_trip_and_missing_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            AgentConfig::load(dir.path()).unwrap(),
            AgentConfig::default()
        );
        let mut c = AgentConfig {
            server_url: Some("http://127.0.0.1:1".into()),
            agent_id: Some(Uuid::new_v4()),
            ..Default::default()
        };
        let t = c.bridge_token_or_generate();
        assert_eq!(t.len(), 32);
        assert_eq!(c.bridge_token_or_generate(), t);
        c.save(dir.path()).unwrap();
        assert_eq!(AgentConfig::load(dir.path()).unwrap(), c);
        let text = std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap();
        assert!(!text.contains("pk_"));
    }

    #[test]
    fn further_terminals_get_their_own_token_once_and_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = AgentConfig::default();
        assert_eq!(c.further_terminal(18766), None);
        c.add_further_terminal("prop 2", 18766);
        c.add_further_terminal("again", 18766);
        assert_eq!(c.terminals.len(), 1, "one entry per port");
        let (port, token) = c.further_terminal(18766).unwrap();
        assert_eq!((port, token.len()), (18766, 32));
        assert_ne!(Some(token.clone()), c.bridge_token);
        assert_eq!(c.further_terminal(18766).unwrap().1, token, "kept");
        c.terminals[0].broker_connection_id = Some(Uuid::new_v4());
        c.save(dir.path()).unwrap();
        let mut back = AgentConfig::load(dir.path()).unwrap();
        assert_eq!(back, c);
        assert_eq!(
            back.terminals_with_tokens()[0].token.as_deref(),
            Some(token.as_str())
        );
    }

    #[test]
    fn explicit_data_dir_wins() {
        let p = Path::new("/tmp/x-agent");
        assert_eq!(data_dir(Some(p)).unwrap(), p);
    }
}
