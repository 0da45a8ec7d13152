//! `unpair`: removes the key from the OS keychain and forgets the server and the
//! agent (unreported results stay in the journal, with a warning).

use std::path::Path;
use std::process::ExitCode;

use companion_agent::config::{AgentConfig, JOURNAL_FILE};
use companion_agent::secret::SecretStore;
use companion_agent::Journal;

use super::keychain;

pub async fn unpair(dir: &Path) -> anyhow::Result<ExitCode> {
    let mut cfg = AgentConfig::load(dir)?;
    if let Some(id) = cfg.agent_id {
        let account = id.to_string();
        match keychain(move |s| s.delete(&account)).await? {
            Ok(()) => {}
            Err(e) => eprintln!("warning: could not remove the key from the OS keychain: {e}"),
        }
    }
    let jpath = dir.join(JOURNAL_FILE);
    if jpath.exists() {
        let j = Journal::open(&jpath).await?;
        let c = j.counts().await?;
        j.close().await;
        if c.unreported > 0 {
            eprintln!(
                "warning: {} job result(s) were not reported to the server yet; they stay in {}",
                c.unreported,
                jpath.display()
            );
        }
    }
    cfg.agent_id = None;
    cfg.agent_name = None;
    cfg.server_url = None;
    cfg.save(dir)?;
    println!("Unpaired: the key was removed from this machine.");
    Ok(ExitCode::SUCCESS)
}
