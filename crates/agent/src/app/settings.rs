//! The app's settings, kept in the agent's `config.json` (one file in one data
//! directory, shared with the headless agent), and the one-time move of the
//! older app's `app.json` into it so a paired app stays paired.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use uuid::Uuid;

use crate::app::dto::SettingsDto;
use crate::app::error::{AppError, AppResult};
use crate::config::AgentConfig;

/// Default server when none is configured.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
/// Environment override of the default server (demo, tests).
pub const SERVER_ENV: &str = "COMPANION_SERVER";
/// The older app's own config file, in the app's data directory.
pub const LEGACY_APP_CONFIG: &str = "app.json";
/// What `app.json` is renamed to once its fields moved into `config.json`.
pub const LEGACY_APP_CONFIG_MOVED: &str = "app.json.migrated";

/// The default server: `COMPANION_SERVER`, else [`DEFAULT_SERVER`].
pub fn default_server() -> String {
    std::env::var(SERVER_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_SERVER.to_string())
}

/// `https://host/` → `https://host`; only http(s) URLs are accepted.
pub fn normalise_server(s: &str) -> AppResult<String> {
    let t = s.trim().trim_end_matches('/').to_string();
    let url = url::Url::parse(&t)
        .map_err(|_| AppError::invalid(format!("“{t}” is not a valid server URL.")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(AppError::invalid(
            "The server URL must start with http:// or https://.",
        ));
    }
    // The key travels with every request: https, or plain http to this computer only.
    crate::client::check_server_url(&t).map_err(|e| AppError::invalid(e.to_string()))?;
    Ok(t)
}

/// Reads, changes and writes `config.json` in `dir` (read fresh, so fields the
/// runtime wrote — bridge token, identity — are kept).
pub fn update(dir: &Path, f: impl FnOnce(&mut AgentConfig)) -> AppResult<AgentConfig> {
    let mut c = AgentConfig::load(dir)?;
    f(&mut c);
    c.save(dir)?;
    Ok(c)
}

/// The Settings screen's view of the config (`autostart` is the platform's).
pub fn to_dto(c: &AgentConfig, autostart: bool) -> SettingsDto {
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    SettingsDto {
        server_url: c.server_url.clone().unwrap_or_else(default_server),
        terminal_path: path(&c.terminal_path),
        metaeditor_path: path(&c.metaeditor_path),
        terminal_data_dir: path(&c.terminal_data_dir),
        autostart,
        notify_failed_signals: c.notify_failed_signals.unwrap_or(true),
    }
}

/// Applies what the Settings screen saves: the toolchain paths and the notification flag.
pub fn apply_dto(c: &mut AgentConfig, s: &SettingsDto) {
    let path = |v: &Option<String>| v.clone().filter(|v| !v.is_empty()).map(PathBuf::from);
    c.terminal_path = path(&s.terminal_path);
    c.metaeditor_path = path(&s.metaeditor_path);
    c.terminal_data_dir = path(&s.terminal_data_dir);
    c.notify_failed_signals = Some(s.notify_failed_signals);
}

/// The fields of the older app's `app.json`.
#[derive(Debug, Default, Deserialize)]
struct LegacyAppConfig {
    #[serde(default)]
    server_url: Option<String>,
    #[serde(default)]
    agent_id: Option<Uuid>,
    #[serde(default)]
    agent_name: Option<String>,
    #[serde(default)]
    terminal_path: Option<String>,
    #[serde(default)]
    metaeditor_path: Option<String>,
    #[serde(default)]
    terminal_data_dir: Option<String>,
    #[serde(default)]
    notify_failed_signals: Option<bool>,
}

/// Moves `legacy_dir/app.json` into `agent_dir/config.json` (the app's pairing wins,
/// other fields fill what is unset) and renames it to `app.json.migrated`.
/// Returns whether anything moved. An unreadable `app.json` is set aside the same way.
pub fn migrate_app_json(legacy_dir: &Path, agent_dir: &Path) -> AppResult<bool> {
    let from = legacy_dir.join(LEGACY_APP_CONFIG);
    let bytes = match std::fs::read(&from) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(AppError::internal(format!(
                "cannot read {}: {e}",
                from.display()
            )))
        }
    };
    let old: LegacyAppConfig = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "app.json is unreadable; only setting it aside");
        LegacyAppConfig::default()
    });
    update(agent_dir, |c| {
        if old.agent_id.is_some() {
            c.agent_id = old.agent_id;
            c.agent_name = old.agent_name.clone();
            c.server_url = old.server_url.clone().or(c.server_url.take());
        } else if c.server_url.is_none() {
            c.server_url = old.server_url.clone();
        }
        let fill = |mine: &mut Option<PathBuf>, theirs: &Option<String>| {
            if mine.is_none() {
                *mine = theirs.clone().filter(|v| !v.is_empty()).map(PathBuf::from);
            }
        };
        fill(&mut c.terminal_path, &old.terminal_path);
        fill(&mut c.metaeditor_path, &old.metaeditor_path);
        fill(&mut c.terminal_data_dir, &old.terminal_data_dir);
        if c.notify_failed_signals.is_none() {
            c.notify_failed_signals = old.notify_failed_signals;
        }
    })?;
    std::fs::rename(&from, legacy_dir.join(LEGACY_APP_CONFIG_MOVED))
        .map_err(|e| AppError::internal(format!("cannot rename {}: {e}", from.display())))?;
    tracing::info!(from = %from.display(), to = %agent_dir.display(), "moved app.json into the agent config");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::error::AppErrorCode;

    #[test]
    fn server_urls_are_normalised_and_checked() {
        assert_eq!(
            normalise_server(" http://127.0.0.1:8080/ ").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            normalise_server("ftp://x").unwrap_err().code,
            AppErrorCode::InvalidRequest
        );
        assert_eq!(
            normalise_server("not a url").unwrap_err().code,
            AppErrorCode::InvalidRequest
        );
    }

    #[test]
    fn app_json_moves_into_the_agent_config_once_and_keeps_the_runtime_fields() {
        let legacy = tempfile::tempdir().unwrap();
        let agent = tempfile::tempdir().unwrap();
        let id = Uuid::new_v4();
        std::fs::write(
            legacy.path().join(LEGACY_APP_CONFIG),
            serde_json::json!({
                "server_url": "http://127.0.0.1:9",
                "agent_id": id,
                "agent_name": "desk",
                "terminal_path": "C:/mt5/terminal64.exe",
                "metaeditor_path": "",
                "notify_failed_signals": false
            })
            .to_string(),
        )
        .unwrap();
        AgentConfig {
            bridge_token: Some("tok".into()),
            bridge_port: Some(18_000),
            ..Default::default()
        }
        .save(agent.path())
        .unwrap();

        assert!(migrate_app_json(legacy.path(), agent.path()).unwrap());
        let c = AgentConfig::load(agent.path()).unwrap();
        assert_eq!(c.agent_id, Some(id));
        assert_eq!(c.agent_name.as_deref(), Some("desk"));
        assert_eq!(c.server_url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(
            c.terminal_path.as_deref(),
            Some(Path::new("C:/mt5/terminal64.exe"))
        );
        assert_eq!(c.metaeditor_path, None);
        assert_eq!(c.notify_failed_signals, Some(false));
        assert_eq!(c.bridge_token.as_deref(), Some("tok"));
        assert_eq!(c.bridge_port, Some(18_000));
        assert!(!legacy.path().join(LEGACY_APP_CONFIG).exists());
        assert!(legacy.path().join(LEGACY_APP_CONFIG_MOVED).exists());
        // Second start: nothing left to move.
        assert!(!migrate_app_json(legacy.path(), agent.path()).unwrap());
        assert!(!to_dto(&c, false).notify_failed_signals);
    }

    #[test]
    fn settings_round_trip_through_the_config_without_any_key() {
        let dir = tempfile::tempdir().unwrap();
        let dto = SettingsDto {
            server_url: "ignored".into(),
            terminal_path: Some("/t".into()),
            metaeditor_path: Some(String::new()),
            terminal_data_dir: None,
            autostart: true,
            notify_failed_signals: false,
        };
        let c = update(dir.path(), |c| apply_dto(c, &dto)).unwrap();
        let back = to_dto(&c, true);
        assert_eq!(back.terminal_path.as_deref(), Some("/t"));
        assert_eq!(back.metaeditor_path, None);
        assert!(!back.notify_failed_signals);
        assert!(back.autostart);
        assert!(to_dto(&AgentConfig::default(), false).notify_failed_signals);
    }
}
