//! The one place the app touches `crates/agent`: where the pairing key is kept
//! (the OS keychain) and the agent runtime that claims and executes jobs
//! against the local terminal, whose status is folded into the app status.
//!
//! Until the agent library is merged this module holds a process-memory vault
//! and no runtime (terminal shown as not connected); see docs/desktop.md.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use tokio::sync::watch;
use uuid::Uuid;

use crate::backend::AppConfig;
use crate::error::{AppError, AppResult};
use crate::model::StatusDto;

/// Stores the pairing key per agent id. Never a plain file.
pub trait Vault: Send + Sync {
    fn get(&self, account: &str) -> AppResult<Option<String>>;
    fn set(&self, account: &str, key: &str) -> AppResult<()>;
    fn delete(&self, account: &str) -> AppResult<()>;
}

/// Keeps keys for the life of the process only (tests; no keychain integration yet).
#[derive(Default)]
pub struct MemoryVault(Mutex<HashMap<String, String>>);

impl Vault for MemoryVault {
    fn get(&self, account: &str) -> AppResult<Option<String>> {
        Ok(self
            .0
            .lock()
            .map_err(|e| AppError::internal(e.to_string()))?
            .get(account)
            .cloned())
    }
    fn set(&self, account: &str, key: &str) -> AppResult<()> {
        self.0
            .lock()
            .map_err(|e| AppError::internal(e.to_string()))?
            .insert(account.to_string(), key.to_string());
        Ok(())
    }
    fn delete(&self, account: &str) -> AppResult<()> {
        self.0
            .lock()
            .map_err(|e| AppError::internal(e.to_string()))?
            .remove(account);
        Ok(())
    }
}

/// The vault the app uses.
pub fn default_vault() -> std::sync::Arc<dyn Vault> {
    std::sync::Arc::new(MemoryVault::default())
}

/// Handle on the agent runtime of a session.
pub struct AgentLink {
    paused: watch::Sender<bool>,
}

impl AgentLink {
    pub fn has_runtime(&self) -> bool {
        false
    }
    pub fn set_paused(&self, paused: bool) {
        let _ = self.paused.send(paused);
    }
    pub async fn stop(&self) {}
}

/// Starts the agent runtime for a paired session.
pub async fn start(
    _data_dir: &Path,
    _server: &str,
    _agent_id: Uuid,
    _key: String,
    _status: watch::Sender<StatusDto>,
    _stop: watch::Receiver<bool>,
) -> AgentLink {
    AgentLink {
        paused: watch::channel(false).0,
    }
}

/// Hands the terminal/MetaEditor paths to the agent's config.
pub fn apply_paths(_data_dir: &Path, _c: &AppConfig) {}
