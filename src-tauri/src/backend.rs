//! The app's core, independent of Tauri: pairing (key in the keychain, never in
//! the webview), the session with the server (user API acting with the agent key
//! for its owner), terminal reads done as jobs targeted at this agent, the event
//! stream, and a `watch` of the status the UI and the tray show.
//!
//! Everything agent-specific goes through [`crate::agent_link`], the one module
//! that touches `crates/agent`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch, RwLock};
use uuid::Uuid;

use crate::agent_link::{self, AgentLink, Vault};
use crate::error::{AppError, AppResult};
use crate::http::{self, Http};
use crate::model::{ServerEvent, SettingsDto, StatusDto};

/// Default server when none is configured.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
/// Environment override of the default server (demo, tests).
pub const SERVER_ENV: &str = "COMPANION_SERVER";
const CONFIG_FILE: &str = "app.json";
/// How long a terminal read (account, positions, candles, close) may take.
const TERMINAL_JOB_TIMEOUT: Duration = Duration::from_secs(45);

/// Non-secret app state persisted in the data directory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AppConfig {
    #[serde(default)]
    pub server_url: Option<String>,
    #[serde(default)]
    pub agent_id: Option<Uuid>,
    #[serde(default)]
    pub agent_name: Option<String>,
    #[serde(default)]
    pub terminal_path: Option<String>,
    #[serde(default)]
    pub metaeditor_path: Option<String>,
    #[serde(default)]
    pub terminal_data_dir: Option<String>,
    #[serde(default = "yes")]
    pub notify_failed_signals: bool,
}

fn yes() -> bool {
    true
}

/// A paired session.
struct Session {
    agent_id: Uuid,
    http: Http,
    link: AgentLink,
    stop: tokio_util_stop::Stop,
}

/// Tiny cancellation flag for the session's background tasks.
mod tokio_util_stop {
    use tokio::sync::watch;
    #[derive(Clone)]
    pub struct Stop(watch::Sender<bool>);
    impl Stop {
        pub fn new() -> Self {
            Stop(watch::channel(false).0)
        }
        pub fn fire(&self) {
            let _ = self.0.send(true);
        }
        pub fn subscribe(&self) -> watch::Receiver<bool> {
            self.0.subscribe()
        }
    }
}

pub struct Backend {
    version: String,
    data_dir: PathBuf,
    config: RwLock<AppConfig>,
    vault: Arc<dyn Vault>,
    session: RwLock<Option<Arc<Session>>>,
    status: watch::Sender<StatusDto>,
    events: broadcast::Sender<ServerEvent>,
}

impl Backend {
    /// Loads the config; resumes the session when a key for the saved agent is in the keychain.
    pub async fn open(data_dir: PathBuf, version: String, vault: Arc<dyn Vault>) -> Arc<Self> {
        let config = load_config(&data_dir);
        let status = StatusDto {
            version: version.clone(),
            server_url: Some(config.server_url.clone().unwrap_or_else(default_server)),
            ..Default::default()
        };
        let backend = Arc::new(Backend {
            version,
            data_dir,
            config: RwLock::new(config.clone()),
            vault,
            session: RwLock::new(None),
            status: watch::channel(status).0,
            events: broadcast::channel(256).0,
        });
        if let (Some(agent_id), Some(server)) = (config.agent_id, config.server_url.clone()) {
            match backend.vault.get(&agent_id.to_string()) {
                Ok(Some(key)) => {
                    let http = Http::new(&server, key);
                    backend
                        .start_session(agent_id, config.agent_name.clone(), server, http)
                        .await;
                }
                Ok(None) => {
                    tracing::info!("no pairing key in the keychain; showing the Pair screen")
                }
                Err(e) => backend.status.send_modify(|s| {
                    s.last_error = Some(e.message);
                    s.seq += 1;
                }),
            }
        }
        // A key given by environment (service, demo) pairs without the Pair screen.
        if let Some(key) = agent_link::env_key() {
            if let Err(e) = backend.pair(key, std::env::var(SERVER_ENV).ok()).await {
                tracing::warn!(code = e.code, "pairing with COMPANION_AGENT_KEY failed");
                backend.status.send_modify(|s| {
                    s.last_error = Some(e.message);
                    s.seq += 1;
                });
            }
        }
        backend
    }

    pub fn subscribe_status(&self) -> watch::Receiver<StatusDto> {
        self.status.subscribe()
    }

    pub fn subscribe_events(&self) -> broadcast::Receiver<ServerEvent> {
        self.events.subscribe()
    }

    pub fn status(&self) -> StatusDto {
        self.status.borrow().clone()
    }

    pub fn data_dir(&self) -> &PathBuf {
        &self.data_dir
    }

    /// Verifies the key with the server (`GET /agents/me`), stores it in the
    /// keychain and starts the session. The key is never returned or logged.
    pub async fn pair(
        self: &Arc<Self>,
        key: String,
        server: Option<String>,
    ) -> AppResult<StatusDto> {
        let key = key.trim().to_string();
        if !key.starts_with(companion_protocol::PAIRING_KEY_PREFIX) || key.len() < 35 {
            return Err(AppError::new(
                "bad_key",
                "Pairing keys start with “pk_” followed by at least 32 letters and digits.",
            ));
        }
        let server = normalise_server(
            server
                .filter(|s| !s.trim().is_empty())
                .or_else(|| self.status.borrow().server_url.clone())
                .unwrap_or_else(default_server),
        )?;
        let http = Http::new(&server, key.clone());
        let me: companion_protocol::AgentMe =
            http.get("/agents/me").await.map_err(|e| match e.code {
                "forbidden" => AppError::new("bad_key", e.message),
                _ => e,
            })?;
        self.vault.set(&me.agent_id.to_string(), &key)?;
        self.stop_session().await;
        {
            let mut c = self.config.write().await;
            c.server_url = Some(server.clone());
            c.agent_id = Some(me.agent_id);
            c.agent_name = Some(me.agent_name.clone());
            save_config(&self.data_dir, &c)?;
        }
        tracing::info!(agent_id = %me.agent_id, server = %server, "paired");
        self.start_session(me.agent_id, Some(me.agent_name), server, http)
            .await;
        Ok(self.status())
    }

    /// Stops the session and removes the key from the keychain.
    pub async fn unpair(&self) -> AppResult<StatusDto> {
        let agent_id = self.config.read().await.agent_id;
        self.stop_session().await;
        if let Some(id) = agent_id {
            self.vault.delete(&id.to_string())?;
        }
        {
            let mut c = self.config.write().await;
            c.agent_id = None;
            c.agent_name = None;
            save_config(&self.data_dir, &c)?;
        }
        self.status.send_modify(|s| {
            let server = s.server_url.clone();
            let seq = s.seq + 1;
            *s = StatusDto {
                seq,
                version: self.version.clone(),
                server_url: server,
                ..Default::default()
            };
        });
        Ok(self.status())
    }

    pub async fn set_paused(&self, paused: bool) -> AppResult<StatusDto> {
        let s = self.session().await?;
        s.link.set_paused(paused);
        // `paused` itself follows from the runtime once it has parked (agent_link).
        self.status.send_modify(|st| {
            st.pause_requested = paused;
            st.seq += 1;
        });
        Ok(self.status())
    }

    async fn session(&self) -> AppResult<Arc<Session>> {
        self.session
            .read()
            .await
            .clone()
            .ok_or_else(AppError::not_paired)
    }

    async fn start_session(
        self: &Arc<Self>,
        agent_id: Uuid,
        agent_name: Option<String>,
        server: String,
        http: Http,
    ) {
        let stop = tokio_util_stop::Stop::new();
        let link = agent_link::start(
            &self.data_dir,
            http.clone(),
            self.status.clone(),
            stop.subscribe(),
        )
        .await;
        let session = Arc::new(Session {
            agent_id,
            http: http.clone(),
            link,
            stop: stop.clone(),
        });
        *self.session.write().await = Some(session);
        self.status.send_modify(|s| {
            s.paired = true;
            s.agent_id = Some(agent_id);
            s.agent_name = agent_name;
            s.server_url = Some(server);
            s.seq += 1;
        });
        // The event stream: relays the owner's changes and tracks the server connection.
        let me = Arc::clone(self);
        let mut stopped = stop.subscribe();
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(500);
            let opened_before = Arc::new(std::sync::atomic::AtomicBool::new(false));
            loop {
                let status = me.status.clone();
                let events = me.events.clone();
                let on_open_events = me.events.clone();
                let opened = Arc::clone(&opened_before);
                let run = http::stream_events(
                    &http,
                    |ev| {
                        let _ = events.send(ev);
                    },
                    move || {
                        tracing::info!("event stream connected");
                        // Changes made while the stream was down were missed: the UI refetches.
                        if opened.swap(true, std::sync::atomic::Ordering::SeqCst) {
                            let _ = on_open_events.send(ServerEvent::resync());
                        }
                        status.send_if_modified(|s| {
                            let changed = !s.server_connected;
                            s.server_connected = true;
                            if changed {
                                s.seq += 1;
                            }
                            changed
                        });
                    },
                );
                tokio::select! {
                    _ = stopped.changed() => return,
                    r = run => {
                        if let Err(e) = r {
                            tracing::warn!(error = %e.message, "event stream ended");
                            me.status.send_modify(|s| {
                                s.server_connected = false;
                                s.last_error = Some(e.message.clone());
                                s.seq += 1;
                            });
                            if e.code == "bad_key" {
                                return;
                            }
                        }
                    }
                }
                tokio::select! {
                    _ = stopped.changed() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(15));
            }
        });
    }

    async fn stop_session(&self) {
        if let Some(s) = self.session.write().await.take() {
            s.stop.fire();
            s.link.stop().await;
        }
    }

    // -- user API ----------------------------------------------------------------

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> AppResult<T> {
        self.session().await?.http.get(path).await
    }

    pub async fn send<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &B,
    ) -> AppResult<T> {
        self.session()
            .await?
            .http
            .send(method, path, Some(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> AppResult<()> {
        self.session().await?.http.delete(path).await
    }

    pub async fn agent_id(&self) -> AppResult<Uuid> {
        Ok(self.session().await?.agent_id)
    }

    /// Runs a terminal job (`get_account`, `get_positions`, `get_candles`,
    /// `close_position`) on this agent through the server and returns its output.
    pub async fn terminal_job(&self, job_type: &str, input: Value) -> AppResult<Value> {
        let s = self.session().await?;
        if !self.status.borrow().terminal.connected {
            return Err(AppError::new(
                "terminal_offline",
                "The MetaTrader terminal is not connected. See Settings › Terminal.",
            ));
        }
        let job: companion_protocol::JobView = s
            .http
            .send(
                reqwest::Method::POST,
                "/jobs",
                Some(&json!({"job_type": job_type, "agent_id": s.agent_id, "input_data": input})),
            )
            .await?;
        let deadline = tokio::time::Instant::now() + TERMINAL_JOB_TIMEOUT;
        let mut every = Duration::from_millis(100);
        loop {
            let j: companion_protocol::JobView = s.http.get(&format!("/jobs/{}", job.id)).await?;
            match j.status {
                companion_protocol::JobStatus::Completed => {
                    return Ok(j.output_data.unwrap_or(Value::Null))
                }
                companion_protocol::JobStatus::Failed
                | companion_protocol::JobStatus::Cancelled => {
                    return Err(AppError::new(
                        "job_failed",
                        j.error_message
                            .unwrap_or_else(|| format!("The {job_type} job failed.")),
                    ))
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(AppError::new(
                    "timeout",
                    "The terminal did not answer in time. Is Companion's agent running and the terminal connected?",
                ));
            }
            tokio::time::sleep(every).await;
            every = (every * 2).min(Duration::from_millis(1000));
        }
    }

    // -- settings ------------------------------------------------------------------

    pub async fn settings(&self, autostart: bool) -> SettingsDto {
        let c = self.config.read().await;
        SettingsDto {
            server_url: c.server_url.clone().unwrap_or_else(default_server),
            terminal_path: c.terminal_path.clone(),
            metaeditor_path: c.metaeditor_path.clone(),
            terminal_data_dir: c.terminal_data_dir.clone(),
            autostart,
            notify_failed_signals: c.notify_failed_signals,
        }
    }

    /// Saves the paths and the notification flag (autostart is the plugin's).
    pub async fn save_settings(&self, s: &SettingsDto) -> AppResult<()> {
        let mut c = self.config.write().await;
        c.terminal_path = s.terminal_path.clone().filter(|v| !v.is_empty());
        c.metaeditor_path = s.metaeditor_path.clone().filter(|v| !v.is_empty());
        c.terminal_data_dir = s.terminal_data_dir.clone().filter(|v| !v.is_empty());
        c.notify_failed_signals = s.notify_failed_signals;
        save_config(&self.data_dir, &c)?;
        agent_link::apply_paths(&self.data_dir, &c);
        Ok(())
    }

    pub async fn notify_failed_signals(&self) -> bool {
        self.config.read().await.notify_failed_signals
    }
}

pub fn default_server() -> String {
    std::env::var(SERVER_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_SERVER.to_string())
}

/// `https://host/` → `https://host`; only http(s) URLs are accepted.
pub fn normalise_server(s: String) -> AppResult<String> {
    let t = s.trim().trim_end_matches('/').to_string();
    let url = url::Url::parse(&t)
        .map_err(|_| AppError::invalid(format!("“{t}” is not a valid server URL.")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(AppError::invalid(
            "The server URL must start with http:// or https://.",
        ));
    }
    Ok(t)
}

fn load_config(dir: &std::path::Path) -> AppConfig {
    match std::fs::read(dir.join(CONFIG_FILE)) {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "app.json is unreadable; starting unpaired");
            AppConfig {
                notify_failed_signals: true,
                ..Default::default()
            }
        }),
        Err(_) => AppConfig {
            notify_failed_signals: true,
            ..Default::default()
        },
    }
}

fn save_config(dir: &std::path::Path, c: &AppConfig) -> AppResult<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| AppError::internal(format!("cannot create {}: {e}", dir.display())))?;
    let tmp = dir.join(format!("{CONFIG_FILE}.tmp"));
    let bytes = serde_json::to_vec_pretty(c).map_err(|e| AppError::internal(e.to_string()))?;
    std::fs::write(&tmp, bytes)
        .map_err(|e| AppError::internal(format!("cannot write {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, dir.join(CONFIG_FILE)).map_err(|e| AppError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_normalised_and_checked() {
        assert_eq!(
            normalise_server(" http://127.0.0.1:8080/ ".into()).unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            normalise_server("ftp://x".into()).unwrap_err().code,
            "invalid_request"
        );
        assert_eq!(
            normalise_server("not a url".into()).unwrap_err().code,
            "invalid_request"
        );
    }

    #[test]
    fn config_round_trips_without_any_key() {
        let dir = std::env::temp_dir().join(format!("companion-app-test-{}", Uuid::new_v4()));
        let c = AppConfig {
            server_url: Some("http://127.0.0.1:1".into()),
            agent_id: Some(Uuid::nil()),
            notify_failed_signals: true,
            ..Default::default()
        };
        save_config(&dir, &c).unwrap();
        let text = std::fs::read_to_string(dir.join(CONFIG_FILE)).unwrap();
        assert!(!text.contains("pk_"));
        assert_eq!(load_config(&dir).agent_id, Some(Uuid::nil()));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
