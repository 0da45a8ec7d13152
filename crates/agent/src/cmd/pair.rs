//! `pair`: checks a pairing key with the server (`/agents/me`), keeps it in the OS
//! keychain and remembers the server and the agent in config.json.

use std::path::Path;
use std::process::ExitCode;

use companion_agent::config::AgentConfig;
use companion_agent::secret::{AgentKey, SecretStore};
use companion_agent::{ApiClient, ClientError};

use super::{keychain, resolve_server};

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
