//! `status`: pairing, where the key comes from, server reachability and journal
//! counts, as text or JSON.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use companion_agent::config::{AgentConfig, JOURNAL_FILE};
use companion_agent::{ApiClient, ClientError, Journal};

use super::resolve_key;

#[derive(serde::Serialize)]
struct StatusReport {
    data_dir: String,
    paired: bool,
    agent_id: Option<uuid::Uuid>,
    agent_name: Option<String>,
    server: Option<String>,
    key_source: Option<String>,
    key_problem: Option<String>,
    server_reachable: Option<bool>,
    server_message: Option<String>,
    journal: Option<companion_agent::JournalCounts>,
}

pub async fn status(dir: &Path, server: Option<String>, json: bool) -> anyhow::Result<ExitCode> {
    let cfg = AgentConfig::load(dir)?;
    let server = server
        .filter(|s| !s.is_empty())
        .or_else(|| cfg.server_url.clone());
    let mut rep = StatusReport {
        data_dir: dir.display().to_string(),
        paired: false,
        agent_id: cfg.agent_id,
        agent_name: cfg.agent_name.clone(),
        server: server.clone(),
        key_source: None,
        key_problem: None,
        server_reachable: None,
        server_message: None,
        journal: None,
    };
    match resolve_key(&cfg).await {
        Ok((key, source)) => {
            rep.paired = true;
            rep.key_source = Some(source.into());
            if let Some(s) = &server {
                let client = ApiClient::new(s, key)?;
                match tokio::time::timeout(Duration::from_secs(10), client.me()).await {
                    Ok(Ok(me)) => {
                        rep.server_reachable = Some(true);
                        rep.server_message = Some(format!(
                            "key accepted for {} ({})",
                            me.agent_name, me.agent_id
                        ));
                    }
                    Ok(Err(e @ ClientError::BadKey { .. })) => {
                        rep.server_reachable = Some(true);
                        rep.paired = false;
                        rep.server_message = Some(e.to_string());
                    }
                    Ok(Err(e)) => {
                        rep.server_reachable = Some(false);
                        rep.server_message = Some(e.to_string());
                    }
                    Err(_) => {
                        rep.server_reachable = Some(false);
                        rep.server_message = Some("timed out".into());
                    }
                }
            }
        }
        Err(e) => rep.key_problem = Some(format!("{e:#}")),
    }
    let jpath = dir.join(JOURNAL_FILE);
    if jpath.exists() {
        let j = Journal::open(&jpath).await?;
        rep.journal = Some(j.counts().await?);
        j.close().await;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        println!("data dir:   {}", rep.data_dir);
        match (&rep.agent_name, rep.agent_id) {
            (Some(n), Some(id)) => println!("agent:      {n} ({id})"),
            _ => println!("agent:      (none)"),
        }
        println!(
            "paired:     {}{}",
            if rep.paired { "yes" } else { "no" },
            rep.key_source
                .as_deref()
                .map(|s| format!(" (key from {s})"))
                .unwrap_or_default()
        );
        if let Some(p) = &rep.key_problem {
            println!("key:        {p}");
        }
        println!("server:     {}", rep.server.as_deref().unwrap_or("(none)"));
        if let Some(r) = rep.server_reachable {
            println!(
                "reachable:  {}{}",
                if r { "yes" } else { "no" },
                rep.server_message
                    .as_deref()
                    .map(|m| format!(" — {m}"))
                    .unwrap_or_default()
            );
        }
        if let Some(c) = &rep.journal {
            println!(
                "journal:    {} claimed, {} sent to terminal, {} results not yet reported, {} reported, {} dropped",
                c.claimed, c.sent_to_terminal, c.unreported, c.reported, c.dropped
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
