//! Where the pairing key lives: the `SecretStore` trait, the OS keychain
//! implementation (keyring 4.2) and an in-memory one for tests.
//!
//! There is deliberately no file-based fallback: when no keychain exists the
//! store answers with an error that says how to fix it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

/// The keychain "service" name entries are stored under.
pub const KEYRING_SERVICE: &str = "companion-agent";

/// A pairing key. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentKey(String);

impl AgentKey {
    pub fn new(key: impl Into<String>) -> Self {
        AgentKey(key.into().trim().to_string())
    }
    /// The key itself, for the `X-Agent-Key` header and the keychain only.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The first 8 characters (what the server stores as `pairing_key_prefix`).
    pub fn prefix(&self) -> &str {
        let end = self
            .0
            .char_indices()
            .nth(8)
            .map(|(i, _)| i)
            .unwrap_or(self.0.len());
        &self.0[..end]
    }
}

impl fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgentKey({}…redacted)", self.prefix())
    }
}

impl fmt::Display for AgentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", self.prefix())
    }
}

/// Why the secret store failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No usable OS keychain (e.g. no Secret Service on a Linux server).
    #[error(
        "no OS keychain is available to store the pairing key ({0}). On Linux install and unlock a \
         Secret Service (e.g. `apt install gnome-keyring` and run the agent inside a desktop or \
         `dbus-run-session` session with the keyring unlocked); for services and CI set the \
         COMPANION_AGENT_KEY environment variable instead. The key is never written to a plain file."
    )]
    Unavailable(String),
    #[error("the OS keychain refused the operation: {0}")]
    Failed(String),
}

/// Stores one secret per account name (the agent id, or "default").
pub trait SecretStore: Send + Sync {
    fn get(&self, account: &str) -> Result<Option<AgentKey>, SecretError>;
    fn set(&self, account: &str, key: &AgentKey) -> Result<(), SecretError>;
    /// Deleting a missing entry is not an error.
    fn delete(&self, account: &str) -> Result<(), SecretError>;
}

/// The OS keychain: macOS Keychain, Windows Credential Manager, Secret Service on Linux.
/// Calls block (D-Bus round trips): call them from `spawn_blocking` in async code.
#[derive(Debug, Clone, Default)]
pub struct KeyringStore;

impl KeyringStore {
    fn entry(account: &str) -> Result<keyring::Entry, SecretError> {
        keyring::Entry::new(KEYRING_SERVICE, account).map_err(map_keyring_error)
    }
}

fn map_keyring_error(e: keyring::Error) -> SecretError {
    use keyring::Error as E;
    match e {
        E::NoDefaultStore => SecretError::Unavailable("no default credential store".into()),
        E::NoStorageAccess(err) => SecretError::Unavailable(err.to_string()),
        E::PlatformFailure(err) => SecretError::Unavailable(err.to_string()),
        other => SecretError::Failed(other.to_string()),
    }
}

impl SecretStore for KeyringStore {
    fn get(&self, account: &str) -> Result<Option<AgentKey>, SecretError> {
        if let Err(e) = keyring::Entry::store_status() {
            return Err(SecretError::Unavailable(e.to_string()));
        }
        match Self::entry(account)?.get_password() {
            Ok(k) => Ok(Some(AgentKey::new(k))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_keyring_error(e)),
        }
    }

    fn set(&self, account: &str, key: &AgentKey) -> Result<(), SecretError> {
        if let Err(e) = keyring::Entry::store_status() {
            return Err(SecretError::Unavailable(e.to_string()));
        }
        Self::entry(account)?
            .set_password(key.expose())
            .map_err(map_keyring_error)
    }

    fn delete(&self, account: &str) -> Result<(), SecretError> {
        if let Err(e) = keyring::Entry::store_status() {
            return Err(SecretError::Unavailable(e.to_string()));
        }
        match Self::entry(account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_keyring_error(e)),
        }
    }
}

/// In-memory store for tests and for keys given by environment.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, AgentKey>>,
}

impl SecretStore for MemoryStore {
    fn get(&self, account: &str) -> Result<Option<AgentKey>, SecretError> {
        Ok(self
            .entries
            .lock()
            .map_err(|e| SecretError::Failed(e.to_string()))?
            .get(account)
            .cloned())
    }
    fn set(&self, account: &str, key: &AgentKey) -> Result<(), SecretError> {
        self.entries
            .lock()
            .map_err(|e| SecretError::Failed(e.to_string()))?
            .insert(account.to_string(), key.clone());
        Ok(())
    }
    fn delete(&self, account: &str) -> Result<(), SecretError> {
        self.entries
            .lock()
            .map_err(|e| SecretError::Failed(e.to_string()))?
            .remove(account);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_key() {
        let k = AgentKey::new("pk_abcdefghSECRETSECRETSECRET");
        assert!(!format!("{k:?}").contains("SECRET"));
        assert!(!format!("{k}").contains("SECRET"));
        assert_eq!(k.prefix(), "pk_abcde");
        assert_eq!(k.expose(), "pk_abcdefghSECRETSECRETSECRET");
    }

    #[test]
    fn memory_store_round_trips_and_deletes() {
        let s = MemoryStore::default();
        assert!(s.get("a").unwrap().is_none());
        s.set("a", &AgentKey::new("pk_1")).unwrap();
        assert_eq!(s.get("a").unwrap().unwrap().expose(), "pk_1");
        s.delete("a").unwrap();
        s.delete("a").unwrap();
        assert!(s.get("a").unwrap().is_none());
    }

    #[test]
    fn unavailable_error_says_how_to_fix_it() {
        let msg = SecretError::Unavailable("x".into()).to_string();
        assert!(msg.contains("COMPANION_AGENT_KEY"));
        assert!(msg.contains("gnome-keyring"));
    }
}
