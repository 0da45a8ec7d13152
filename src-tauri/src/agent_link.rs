//! The one place the app touches `crates/agent`: where the pairing key is kept
//! (the OS keychain through `companion_agent::KeyringStore`, or the
//! `COMPANION_AGENT_KEY` environment variable for services and the demo) and
//! what the app knows of the agent that executes its jobs.
//!
//! The agent runtime is not embedded yet (its terminal bridge is not merged):
//! jobs are executed by the headless `companion-agent` on this machine, and the
//! terminal state shown is the one that agent reports to the server in its
//! heartbeats (`GET /api/v1/agents`). See docs/desktop.md.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use companion_agent::{AgentKey, KeyringStore, MemoryStore, SecretError, SecretStore};
use companion_protocol::{AgentStatus, AgentView};
use tokio::sync::watch;
use uuid::Uuid;

use crate::backend::AppConfig;
use crate::error::{AppError, AppResult};
use crate::http::Http;
use crate::model::{StatusDto, TerminalDto};

/// Environment variable holding a pairing key (services, CI, the demo).
pub const KEY_ENV: &str = "COMPANION_AGENT_KEY";
/// How often the agent's reported state is refreshed.
const AGENT_POLL: Duration = Duration::from_secs(3);

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

/// What the app knows of the agent serving it.
pub struct AgentLink {
    paused: watch::Sender<bool>,
}

impl AgentLink {
    /// True when this process runs the agent runtime itself (not yet: see module doc).
    pub fn has_runtime(&self) -> bool {
        false
    }
    pub fn set_paused(&self, paused: bool) {
        let _ = self.paused.send(paused);
    }
    pub async fn stop(&self) {}
}

/// Folds the agent's server-reported state into the status.
pub fn apply_agent_view(s: &mut StatusDto, v: &AgentView) {
    let t = v.terminal.clone().unwrap_or_default();
    s.terminal = TerminalDto::from(&t);
    // A terminal is only "connected" while its agent is alive.
    s.terminal.connected = t.connected && v.is_connected && v.status != AgentStatus::Offline;
    s.paused = v.status == AgentStatus::Paused;
}

/// Starts following the agent of a paired session.
pub async fn start(
    _data_dir: &Path,
    http: Http,
    agent_id: Uuid,
    status: watch::Sender<StatusDto>,
    mut stop: watch::Receiver<bool>,
) -> AgentLink {
    tokio::spawn(async move {
        loop {
            match http.get::<Vec<AgentView>>("/agents").await {
                Ok(list) => {
                    if let Some(v) = list.iter().find(|a| a.id == agent_id) {
                        status.send_if_modified(|s| {
                            let before = s.clone();
                            apply_agent_view(s, v);
                            *s != before
                        });
                    }
                }
                Err(e) => tracing::debug!(error = %e.message, "could not read the agent state"),
            }
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep(AGENT_POLL) => {}
            }
        }
    });
    AgentLink {
        paused: watch::channel(false).0,
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
    fn no_keychain_maps_to_its_own_code() {
        let e = secret_err(SecretError::Unavailable("no default store".into()));
        assert_eq!(e.code, "no_keychain");
        assert!(e.message.contains("COMPANION_AGENT_KEY"));
    }
}
