//! The one place the app touches `crates/agent`: where the pairing key is kept
//! (the OS keychain through `companion_agent::KeyringStore`, or the
//! `COMPANION_AGENT_KEY` environment variable for services and the demo) and
//! the agent runtime the app runs in-process (`companion_agent::launch`): it
//! claims and executes the jobs, its terminal bridge listens on loopback, and
//! its state (server, terminal, paused, last error) feeds the status shown.
//! See docs/desktop.md.

use std::path::Path;
use std::sync::{Arc, Mutex};

use companion_agent::launch::{launch, LaunchOptions};
use companion_agent::{
    AgentKey, AgentStatusView, KeyringStore, MemoryStore, RunState, SecretError, SecretStore,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backend::AppConfig;
use crate::error::{AppError, AppResult};
use crate::http::Http;
use crate::model::{StatusDto, TerminalDto};

/// Environment variable holding a pairing key (services, CI, the demo).
pub const KEY_ENV: &str = "COMPANION_AGENT_KEY";
/// Bridge port override (tests, the demo); else the agent config, else the default.
pub const BRIDGE_PORT_ENV: &str = "COMPANION_BRIDGE_PORT";
/// Bridge token override (tests, the demo); else the agent config (generated once).
pub const BRIDGE_TOKEN_ENV: &str = "COMPANION_BRIDGE_TOKEN";

/// Stores the pairing key per agent id. Never a plain file.
pub trait Vault: Send + Sync {
    fn get(&self, account: &str) -> AppResult<Option<String>>;
    fn set(&self, account: &str, key: &str) -> AppResult<()>;
    fn delete(&self, account: &str) -> AppResult<()>;
}

fn secret_err(e: SecretError) -> AppError {
    match e {
        SecretError::Unavailable(_) => AppError::new("no_keychain", e.to_string()),
        SecretError::Failed(_) => AppError::internal(e.to_string()),
    }
}

/// Any `companion_agent` secret store as a vault.
pub struct StoreVault<S: SecretStore>(pub S);

impl<S: SecretStore> Vault for StoreVault<S> {
    fn get(&self, account: &str) -> AppResult<Option<String>> {
        Ok(self
            .0
            .get(account)
            .map_err(secret_err)?
            .map(|k| k.expose().to_string()))
    }
    fn set(&self, account: &str, key: &str) -> AppResult<()> {
        self.0.set(account, &AgentKey::new(key)).map_err(secret_err)
    }
    fn delete(&self, account: &str) -> AppResult<()> {
        self.0.delete(account).map_err(secret_err)
    }
}

/// The OS keychain, or process memory when the key came from `COMPANION_AGENT_KEY`.
pub fn default_vault() -> Arc<dyn Vault> {
    if env_key().is_some() {
        Arc::new(StoreVault(MemoryStore::default()))
    } else {
        Arc::new(StoreVault(KeyringStore))
    }
}

/// The key given by environment, if any.
pub fn env_key() -> Option<String> {
    std::env::var(KEY_ENV)
        .ok()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
}

/// The agent runtime running in this process.
pub struct AgentLink {
    paused: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl AgentLink {
    /// True: this process runs the agent runtime itself.
    pub fn has_runtime(&self) -> bool {
        true
    }
    /// Pause stops claiming new jobs (running ones finish); resume claims again.
    pub fn set_paused(&self, paused: bool) {
        let _ = self.paused.send(paused);
    }
    /// Waits for the runtime to finish its in-flight jobs and stop (after the
    /// session's stop fired).
    pub async fn stop(&self) {
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

/// Folds the runtime's state into the status; `prev` is the runtime state last applied,
/// so the server connection (also tracked by the event stream) is only written when
/// the runtime's view of it changes.
pub fn apply_runtime_view(s: &mut StatusDto, v: &AgentStatusView, prev: &AgentStatusView) {
    s.terminal = TerminalDto::from(&v.terminal);
    if v.server_connected != prev.server_connected {
        s.server_connected = v.server_connected;
    }
    s.paused = v.state == RunState::Paused;
    if v.last_error != prev.last_error {
        s.last_error = v.last_error.clone();
    }
}

fn bridge_options() -> LaunchOptions {
    let port = std::env::var(BRIDGE_PORT_ENV)
        .ok()
        .and_then(|p| p.trim().parse::<u16>().ok());
    let token = std::env::var(BRIDGE_TOKEN_ENV)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    LaunchOptions {
        bridge_port: port,
        bridge_token: token,
        ..Default::default()
    }
}

fn update(status: &watch::Sender<StatusDto>, f: impl FnOnce(&mut StatusDto)) {
    status.send_if_modified(|s| {
        let before = s.clone();
        f(s);
        let changed = *s != before;
        if changed {
            s.seq += 1;
        }
        changed
    });
}

/// Starts the agent runtime for a paired session (key and server of `http`);
/// it runs until `stop` fires.
pub async fn start(
    _data_dir: &Path,
    http: Http,
    status: watch::Sender<StatusDto>,
    mut stop: watch::Receiver<bool>,
) -> AgentLink {
    let (paused_tx, mut paused) = watch::channel(false);
    let task = tokio::spawn(async move {
        let dir = match companion_agent::config::data_dir(None) {
            Ok(d) => d,
            Err(e) => {
                update(&status, |s| s.last_error = Some(e.to_string()));
                return;
            }
        };
        let key = AgentKey::new(http.key().to_string());
        let started = tokio::select! {
            r = launch(&dir, http.server(), key, bridge_options()) => r,
            _ = stop.changed() => return,
        };
        let launched = match started {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "the agent runtime did not start");
                update(&status, |s| s.last_error = Some(e.to_string()));
                return;
            }
        };
        tracing::info!(bridge = %launched.bridge_addr, "agent runtime running in the app");
        let port = launched.bridge_addr.port();
        update(&status, |s| s.bridge_port = Some(port));
        if *paused.borrow_and_update() {
            launched.handle.pause();
        }
        let mut views = launched.handle.status();
        let mut prev = AgentStatusView::default();
        loop {
            let v = views.borrow_and_update().clone();
            update(&status, |s| apply_runtime_view(s, &v, &prev));
            prev = v;
            tokio::select! {
                r = views.changed() => if r.is_err() { break },
                r = paused.changed() => {
                    if r.is_err() { break }
                    if *paused.borrow_and_update() {
                        launched.handle.pause();
                    } else {
                        launched.handle.resume();
                    }
                }
                _ = stop.changed() => break,
            }
        }
        launched.handle.cancel_token().cancel();
        if let Err(e) = launched.wait().await {
            tracing::warn!(error = %e, "the agent runtime ended with an error");
            update(&status, |s| s.last_error = Some(e.to_string()));
        }
    });
    AgentLink {
        paused: paused_tx,
        task: Mutex::new(Some(task)),
    }
}

/// Hands the terminal/MetaEditor paths to the agent's config (`config.json` in the agent data dir).
pub fn apply_paths(_data_dir: &Path, c: &AppConfig) {
    let Ok(dir) = companion_agent::config::data_dir(None) else {
        return;
    };
    let mut cfg = companion_agent::AgentConfig::load(&dir).unwrap_or_default();
    cfg.terminal_path = c.terminal_path.clone().map(Into::into);
    cfg.metaeditor_path = c.metaeditor_path.clone().map(Into::into);
    cfg.terminal_data_dir = c.terminal_data_dir.clone().map(Into::into);
    if let Err(e) = cfg.save(&dir) {
        tracing::warn!(error = %e, "could not write the agent config");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_vault_round_trips() {
        let v = StoreVault(MemoryStore::default());
        assert_eq!(v.get("a").unwrap(), None);
        v.set("a", "pk_x").unwrap();
        assert_eq!(v.get("a").unwrap().as_deref(), Some("pk_x"));
        v.delete("a").unwrap();
        assert_eq!(v.get("a").unwrap(), None);
    }

    #[test]
    fn runtime_view_maps_terminal_pause_and_changes_only() {
        let mut s = StatusDto {
            server_connected: true,
            last_error: Some("from the event stream".into()),
            ..Default::default()
        };
        let prev = AgentStatusView::default();
        let mut v = AgentStatusView {
            state: RunState::Paused,
            ..Default::default()
        };
        v.terminal.connected = true;
        v.terminal.paper = true;
        apply_runtime_view(&mut s, &v, &prev);
        assert!(s.terminal.connected && s.terminal.paper);
        assert!(s.paused);
        // Unchanged runtime fields leave what the event stream wrote.
        assert!(s.server_connected);
        assert_eq!(s.last_error.as_deref(), Some("from the event stream"));

        let mut next = v.clone();
        next.state = RunState::Running;
        next.server_connected = true;
        next.last_error = Some("terminal not connected".into());
        apply_runtime_view(&mut s, &next, &v);
        assert!(!s.paused);
        assert_eq!(s.last_error.as_deref(), Some("terminal not connected"));

        let mut down = next.clone();
        down.server_connected = false;
        apply_runtime_view(&mut s, &down, &next);
        assert!(!s.server_connected);
    }

    #[test]
    fn no_keychain_maps_to_its_own_code() {
        let e = secret_err(SecretError::Unavailable("no default store".into()));
        assert_eq!(e.code, "no_keychain");
        assert!(e.message.contains("COMPANION_AGENT_KEY"));
    }
}
