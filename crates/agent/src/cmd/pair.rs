//! `pair`: checks a pairing key with the server (`/agents/me`), keeps it in the OS
//! keychain and remembers the server and the agent in config.json.

use std::path::Path;
use std::process::ExitCode;

use companion_agent::config::AgentConfig;
use companion_agent::secret::{AgentKey, SecretStore};
use companion_agent::{ApiClient, ClientError};

use super::{keychain, resolve_server};
use crate::KEY_ENV;

pub async fn pair(dir: &Path, server: Option<String>, key: AgentKey) -> anyhow::Result<ExitCode> {
    let mut cfg = AgentConfig::load(dir)?;
    let server = resolve_server(server, &cfg)?;
    let client = ApiClient::new(&server, key.clone())?;
    let me = match client.me().await {
        Ok(me) => me,
        Err(ClientError::BadKey { message, .. }) => {
            anyhow::bail!("the server refused this pairing key ({message}); copy the key again from the platform's Agents page")
        }
        Err(ClientError::Unreachable(m)) => anyhow::bail!(
            "cannot reach the server at {server}: {m}; check the URL and your network"
        ),
        Err(e) => return Err(e.into()),
    };
    let account = me.agent_id.to_string();
    let k = key.clone();
    keychain(move |s| s.set(&account, &k)).await?.map_err(|e| {
        anyhow::anyhow!(
            "{e}\n(the key itself is valid: agent {} ({}))",
            me.agent_name,
            me.agent_id
        )
    })?;
    cfg.server_url = Some(server);
    cfg.agent_id = Some(me.agent_id);
    cfg.agent_name = Some(me.agent_name.clone());
    cfg.save(dir)?;
    println!("Paired as {} ({})", me.agent_name, me.agent_id);
    println!("agent_name={}", me.agent_name);
    println!("agent_id={}", me.agent_id);
    Ok(ExitCode::SUCCESS)
}

/// The key to pair with: `COMPANION_AGENT_KEY`, else one line of stdin when it is not a
/// terminal, else a prompt that does not echo.
pub async fn read_pairing_key() -> anyhow::Result<AgentKey> {
    use std::io::IsTerminal;
    if let Some(k) = std::env::var(KEY_ENV).ok().filter(|k| !k.trim().is_empty()) {
        return Ok(AgentKey::new(k.trim().to_string()));
    }
    let interactive = std::io::stdin().is_terminal();
    let line = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        if interactive {
            rpassword::prompt_password("Pairing key (pk_…, not shown): ")
        } else {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            Ok(line)
        }
    })
    .await??;
    let key = line.trim();
    if key.is_empty() {
        anyhow::bail!(
            "no pairing key: paste it at the prompt, pipe it on stdin (`companion-agent pair --server URL < key.txt`), or set {KEY_ENV}"
        );
    }
    Ok(AgentKey::new(key.to_string()))
}
