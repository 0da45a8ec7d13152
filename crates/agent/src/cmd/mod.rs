//! The subcommands of `companion-agent`, one file each, and what they share: the
//! keychain on a blocking thread, the server URL and the pairing key resolution.

pub mod pair;
pub mod run;
pub mod service;
pub mod status;
pub mod terminal;
pub mod unpair;

use companion_agent::config::AgentConfig;
use companion_agent::secret::{AgentKey, KeyringStore, SecretStore};

use crate::{KEY_ENV, SERVER_ENV};

pub async fn keychain<R: Send + 'static>(
    f: impl FnOnce(KeyringStore) -> R + Send + 'static,
) -> anyhow::Result<R> {
    Ok(tokio::task::spawn_blocking(move || f(KeyringStore)).await?)
}

pub fn resolve_server(flag: Option<String>, cfg: &AgentConfig) -> anyhow::Result<String> {
    flag.filter(|s| !s.is_empty())
        .or_else(|| cfg.server_url.clone())
        .ok_or_else(|| anyhow::anyhow!("no server URL: pass --server URL (or set {SERVER_ENV})"))
}

/// The key: `COMPANION_AGENT_KEY` first, then the keychain entry of the stored agent.
pub async fn resolve_key(cfg: &AgentConfig) -> anyhow::Result<(AgentKey, &'static str)> {
    if let Ok(k) = std::env::var(KEY_ENV) {
        if !k.trim().is_empty() {
            return Ok((AgentKey::new(k), "environment"));
        }
    }
    let Some(id) = cfg.agent_id else {
        anyhow::bail!(
            "not paired: run `companion-agent pair --server URL` (or set {KEY_ENV} for services)"
        );
    };
    let account = id.to_string();
    match keychain(move |s| s.get(&account)).await? {
        Ok(Some(k)) => Ok((k, "keychain")),
        Ok(None) => anyhow::bail!(
            "no pairing key in the OS keychain for agent {id}: run `companion-agent pair` again"
        ),
        Err(e) => Err(e.into()),
    }
}
