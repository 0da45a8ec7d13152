//! The desktop app's core: pairing (the key goes to the OS keychain, never to the
//! webview), the session with the server (the user API acting with the agent key
//! for its owner, its event stream, the embedded runtime), and a `watch` of the
//! status the UI and the tray show. The Tauri shell calls these plain functions.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch, Mutex, RwLock};
use uuid::Uuid;

use crate::app::dto::{CurrentPairing, PairOffer, ServerEvent, SettingsDto, StatusDto};
use crate::app::error::{AppError, AppErrorCode, AppResult};
use crate::app::events::stream_events;
use crate::app::link::{self, AgentLink, RuntimeSpec};
use crate::app::settings::{self, default_server, normalise_server};
use crate::app::status::update;
use crate::app::user_api::UserApi;
use crate::config::{self, AgentConfig};
use crate::secret::{AgentKey, KeyringStore, MemoryStore, SecretStore};

/// Environment variable holding a pairing key (services, CI, the demo).
pub const KEY_ENV: &str = "COMPANION_AGENT_KEY";
/// Bridge port override (tests, the demo); else the agent config, else the default.
pub const BRIDGE_PORT_ENV: &str = "COMPANION_BRIDGE_PORT";
/// Bridge token override (tests, the demo); else the agent config (generated once).
pub const BRIDGE_TOKEN_ENV: &str = "COMPANION_BRIDGE_TOKEN";
/// How long a link's pairing offer waits for the trader's confirmation.
pub const LINK_OFFER_TTL: Duration = Duration::from_secs(10 * 60);

/// How the core is set up; [`CoreOptions::from_env`] is the desktop app's.
pub struct CoreOptions {
    pub version: String,
    /// The one data directory: the agent's (`config.json`, journal, log).
    pub data_dir: PathBuf,
    /// Where an older app kept `app.json` (moved into `config.json` on open).
    pub legacy_app_dir: Option<PathBuf>,
    /// Where pairing keys are kept, per agent id.
    pub store: Arc<dyn SecretStore>,
    /// A key given by environment: pairs on open without the Pair screen.
    pub env_key: Option<String>,
    /// The embedded agent runtime; `None` runs none (tests of the core alone).
    pub runtime: Option<RuntimeSpec>,
}

impl CoreOptions {
    /// The agent data dir (`COMPANION_AGENT_DATA_DIR` or the platform default), the OS
    /// keychain (process memory when `COMPANION_AGENT_KEY` is set), bridge overrides
    /// from the environment, and the embedded runtime.
    pub fn from_env(version: String, legacy_app_dir: Option<PathBuf>) -> AppResult<Self> {
        let env_key = std::env::var(KEY_ENV)
            .ok()
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty());
        let store: Arc<dyn SecretStore> = if env_key.is_some() {
            Arc::new(MemoryStore::default())
        } else {
            Arc::new(KeyringStore)
        };
        let runtime = RuntimeSpec {
            bridge_port: std::env::var(BRIDGE_PORT_ENV)
                .ok()
                .and_then(|p| p.trim().parse::<u16>().ok()),
            bridge_token: std::env::var(BRIDGE_TOKEN_ENV)
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty()),
        };
        Ok(CoreOptions {
            version,
            data_dir: config::data_dir(None)?,
            legacy_app_dir,
            store,
            env_key,
            runtime: Some(runtime),
        })
    }
}

/// A link's key waiting for the trader's confirmation (one at a time: a newer link
/// replaces it). The key stays here, in Rust; the webview sees the [`PairOffer`].
struct PendingLink {
    offer: PairOffer,
    key: AgentKey,
    at: std::time::Instant,
}

/// A paired session.
pub(crate) struct Session {
    pub(crate) agent_id: Uuid,
    pub(crate) api: UserApi,
    link: AgentLink,
    stop: watch::Sender<bool>,
}

impl Session {
    /// The embedded runtime's symbol book, when a runtime runs in this process.
    pub(crate) fn symbol_book(&self) -> Option<Arc<crate::symbols::SymbolBook>> {
        self.link.symbol_book()
    }
}

/// The app core: one per process, shared (`Arc`) by the shell's commands and tasks.
pub struct Core {
    version: String,
    data_dir: PathBuf,
    store: Arc<dyn SecretStore>,
    runtime: Option<RuntimeSpec>,
    /// Serialises read-modify-write of `config.json` by the core.
    config_lock: Mutex<()>,
    session: RwLock<Option<Arc<Session>>>,
    pending_link: Mutex<Option<PendingLink>>,
    status: watch::Sender<StatusDto>,
    events: broadcast::Sender<ServerEvent>,
}

impl Core {
    /// Moves an older `app.json` in, loads the config, and resumes the session when
    /// the saved agent's key is in the keychain (or pairs with a key given by environment).
    pub async fn open(opts: CoreOptions) -> Arc<Self> {
        if let Some(legacy) = &opts.legacy_app_dir {
            if legacy != &opts.data_dir {
                if let Err(e) = settings::migrate_app_json(legacy, &opts.data_dir) {
                    tracing::warn!(error = %e.message, "could not move app.json into the agent config");
                }
            }
        }
        let (config, config_error) = match AgentConfig::load(&opts.data_dir) {
            Ok(c) => (c, None),
            Err(e) => {
                tracing::warn!(error = %e, "the agent config is unreadable; starting unpaired");
                (AgentConfig::default(), Some(e.to_string()))
            }
        };
        let status = StatusDto {
            version: opts.version.clone(),
            server_url: Some(config.server_url.clone().unwrap_or_else(default_server)),
            last_error: config_error,
            ..Default::default()
        };
        let core = Arc::new(Core {
            version: opts.version,
            data_dir: opts.data_dir,
            store: opts.store,
            runtime: opts.runtime,
            config_lock: Mutex::new(()),
            session: RwLock::new(None),
            pending_link: Mutex::new(None),
            status: watch::channel(status).0,
            events: broadcast::channel(256).0,
        });
        if let (Some(agent_id), Some(server)) = (config.agent_id, config.server_url.clone()) {
            match core.store.get(&agent_id.to_string()) {
                Ok(Some(key)) => {
                    let api = UserApi::new(&server, key);
                    core.start_session(agent_id, config.agent_name.clone(), api, None)
                        .await;
                }
                Ok(None) => {
                    tracing::info!("no pairing key in the keychain; showing the Pair screen")
                }
                Err(e) => {
                    let e = AppError::from(e);
                    update(&core.status, |s| s.last_error = Some(e.message));
                }
            }
        }
        if let Some(key) = opts.env_key {
            if let Err(e) = core
                .pair(key, std::env::var(settings::SERVER_ENV).ok())
                .await
            {
                tracing::warn!(code = %e.code, "pairing with COMPANION_AGENT_KEY failed");
                update(&core.status, |s| s.last_error = Some(e.message));
            }
        }
        core
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

    /// The one data directory (config, journal, log).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The embedded runtime's bridge overrides, if it runs one.
    pub(crate) fn runtime_spec(&self) -> Option<&RuntimeSpec> {
        self.runtime.as_ref()
    }

    /// Verifies the key with the server (`GET /agents/me`, once: the runtime is told
    /// the answer), stores it in the keychain and starts the session. The key is never
    /// returned or logged.
    pub async fn pair(
        self: &Arc<Self>,
        key: String,
        server: Option<String>,
    ) -> AppResult<StatusDto> {
        let (server, key) = self.checked(key, server)?;
        self.pair_with(server, key).await
    }

    /// Pairs with a checked key on a normalised server.
    async fn pair_with(self: &Arc<Self>, server: String, key: AgentKey) -> AppResult<StatusDto> {
        let api = UserApi::new(&server, key.clone());
        let me = api.me().await?;
        self.store.set(&me.agent_id.to_string(), &key)?;
        self.stop_session().await;
        self.update_config(|c| {
            c.server_url = Some(server.clone());
            c.agent_id = Some(me.agent_id);
            c.agent_name = Some(me.agent_name.clone());
        })
        .await?;
        tracing::info!(agent_id = %me.agent_id, server = %server, "paired");
        self.start_session(me.agent_id, Some(me.agent_name.clone()), api, Some(me))
            .await;
        Ok(self.status())
    }

    /// The key's format and the server (given, else the current one, else the default;
    /// https, or plain http to this computer only).
    fn checked(&self, key: String, server: Option<String>) -> AppResult<(String, AgentKey)> {
        let key = key.trim().to_string();
        if !key.starts_with(companion_protocol::PAIRING_KEY_PREFIX) || key.len() < 35 {
            return Err(AppError::new(
                AppErrorCode::BadKey,
                "Pairing keys start with “pk_” followed by at least 32 letters and digits.",
            ));
        }
        let server = server
            .filter(|s| !s.trim().is_empty())
            .or_else(|| self.status.borrow().server_url.clone())
            .unwrap_or_else(default_server);
        Ok((normalise_server(&server)?, AgentKey::new(key)))
    }

    // -- pairing from a companion://pair link: offer, then confirm ------------------

    /// Step one of pairing from a link: checks the key and the server, asks the server
    /// whose key it is (`GET /agents/me`), and keeps the key here until the trader
    /// confirms. Nothing is paired, stored or replaced yet. The answer names the server,
    /// the account, the key's prefix and the pairing it would replace — never the key.
    pub async fn offer_link_pairing(
        &self,
        key: String,
        server: Option<String>,
    ) -> AppResult<PairOffer> {
        let (server, key) = self.checked(key, server)?;
        let me = UserApi::new(&server, key.clone()).me().await?;
        let server_host = url::Url::parse(&server)
            .ok()
            .and_then(|u| {
                u.host_str()
                    .map(|h| u.port().map_or(h.to_string(), |p| format!("{h}:{p}")))
            })
            .unwrap_or_else(|| server.clone());
        let replaces = {
            let st = self.status.borrow();
            match (st.paired, st.server_url.clone()) {
                (true, Some(server_url)) => Some(CurrentPairing {
                    server_url,
                    agent_name: st.agent_name.clone(),
                }),
                _ => None,
            }
        };
        let offer = PairOffer {
            offer_id: Uuid::new_v4(),
            server_url: server,
            server_host,
            email: me.email,
            agent_name: me.agent_name,
            key_prefix: key.prefix().to_string(),
            replaces,
        };
        tracing::info!(server = %offer.server_url, key = %key, "a pairing link waits for confirmation");
        *self.pending_link.lock().await = Some(PendingLink {
            offer: offer.clone(),
            key,
            at: std::time::Instant::now(),
        });
        Ok(offer)
    }

    /// The offer waiting for confirmation, if any (the UI asks on start: a link that
    /// opened the app arrived before the webview listened).
    pub async fn pending_link_pairing(&self) -> Option<PairOffer> {
        let mut slot = self.pending_link.lock().await;
        if slot
            .as_ref()
            .is_some_and(|p| p.at.elapsed() > LINK_OFFER_TTL)
        {
            *slot = None;
        }
        slot.as_ref().map(|p| p.offer.clone())
    }

    /// Step two: the trader confirmed `offer_id`; pairs with the link's key (the
    /// [`Core::pair`] path: asked again, stored, the session replaced).
    pub async fn confirm_link_pairing(self: &Arc<Self>, offer_id: Uuid) -> AppResult<StatusDto> {
        let pending = {
            let mut slot = self.pending_link.lock().await;
            match slot.take() {
                Some(p) if p.offer.offer_id == offer_id => p,
                other => {
                    *slot = other;
                    return Err(AppError::new(
                        AppErrorCode::NotFound,
                        "This pairing link is no longer waiting; open the link again.",
                    ));
                }
            }
        };
        if pending.at.elapsed() > LINK_OFFER_TTL {
            return Err(AppError::new(
                AppErrorCode::Expired,
                "This pairing link waited too long; open the link again.",
            ));
        }
        self.pair_with(pending.offer.server_url, pending.key).await
    }

    /// The trader declined `offer_id`: the link's key is forgotten.
    pub async fn dismiss_link_pairing(&self, offer_id: Uuid) -> AppResult<()> {
        let mut slot = self.pending_link.lock().await;
        if slot.as_ref().is_some_and(|p| p.offer.offer_id == offer_id) {
            *slot = None;
        }
        Ok(())
    }

    /// Stops the session and removes the key from the keychain.
    pub async fn unpair(&self) -> AppResult<StatusDto> {
        let agent_id = AgentConfig::load(&self.data_dir)?.agent_id;
        self.stop_session().await;
        if let Some(id) = agent_id {
            self.store.delete(&id.to_string())?;
        }
        self.update_config(|c| {
            c.agent_id = None;
            c.agent_name = None;
        })
        .await?;
        self.status.send_modify(|s| {
            *s = StatusDto {
                seq: s.seq + 1,
                version: self.version.clone(),
                server_url: s.server_url.clone(),
                ..Default::default()
            };
        });
        Ok(self.status())
    }

    /// Ends the session (the runtime finishes its in-flight jobs) and keeps the pairing:
    /// the next [`Core::open`] resumes it.
    pub async fn close(&self) {
        self.stop_session().await;
    }

    /// Pause stops claiming jobs; `paused` in the status follows once the runtime parked.
    pub async fn set_paused(&self, paused: bool) -> AppResult<StatusDto> {
        let s = self.session().await?;
        s.link.set_paused(paused);
        update(&self.status, |st| st.pause_requested = paused);
        Ok(self.status())
    }

    pub(crate) async fn session(&self) -> AppResult<Arc<Session>> {
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
        api: UserApi,
        identity: Option<companion_protocol::AgentMe>,
    ) {
        let stop = watch::channel(false).0;
        let link = match &self.runtime {
            Some(spec) => link::start(
                self.data_dir.clone(),
                api.server().to_string(),
                api.key().clone(),
                identity,
                spec.clone(),
                self.status.clone(),
                stop.subscribe(),
            ),
            None => AgentLink::detached(),
        };
        let server = api.server().to_string();
        *self.session.write().await = Some(Arc::new(Session {
            agent_id,
            api: api.clone(),
            link,
            stop: stop.clone(),
        }));
        update(&self.status, |s| {
            s.paired = true;
            s.agent_id = Some(agent_id);
            s.agent_name = agent_name;
            s.server_url = Some(server);
        });
        tokio::spawn(relay_events(
            api,
            self.status.clone(),
            self.events.clone(),
            stop.subscribe(),
        ));
    }

    async fn stop_session(&self) {
        if let Some(s) = self.session.write().await.take() {
            let _ = s.stop.send(true);
            s.link.stop().await;
        }
    }

    async fn update_config(&self, f: impl FnOnce(&mut AgentConfig)) -> AppResult<AgentConfig> {
        let _guard = self.config_lock.lock().await;
        settings::update(&self.data_dir, f)
    }

    // -- settings ------------------------------------------------------------------

    /// The Settings screen (`autostart` is the platform's, passed in by the shell).
    pub async fn settings(&self, autostart: bool) -> AppResult<SettingsDto> {
        let _guard = self.config_lock.lock().await;
        Ok(settings::to_dto(
            &AgentConfig::load(&self.data_dir)?,
            autostart,
        ))
    }

    /// Saves the toolchain paths and the notification flag (autostart is the platform's).
    pub async fn save_settings(&self, s: &SettingsDto) -> AppResult<()> {
        self.update_config(|c| settings::apply_dto(c, s)).await?;
        Ok(())
    }

    /// Whether a failed signal shows a system notification.
    pub async fn notify_failed_signals(&self) -> bool {
        self.settings(false)
            .await
            .map(|s| s.notify_failed_signals)
            .unwrap_or(true)
    }
}

/// The event stream of one session: relays the owner's changes, tracks the server
/// connection, reconnects with backoff (and a `resync`) until the session stops or
/// the key is refused.
async fn relay_events(
    api: UserApi,
    status: watch::Sender<StatusDto>,
    events: broadcast::Sender<ServerEvent>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut delay = Duration::from_millis(500);
    let opened_before = Arc::new(AtomicBool::new(false));
    loop {
        let on_open_status = status.clone();
        let on_open_events = events.clone();
        let opened = Arc::clone(&opened_before);
        let relay = events.clone();
        let run = stream_events(
            &api,
            |ev| {
                let _ = relay.send(ev);
            },
            move || {
                tracing::info!("event stream connected");
                // Changes made while the stream was down were missed: the UI refetches.
                if opened.swap(true, Ordering::SeqCst) {
                    let _ = on_open_events.send(ServerEvent::resync());
                }
                update(&on_open_status, |s| s.server_connected = true);
            },
        );
        tokio::select! {
            _ = stopped.changed() => return,
            r = run => {
                if let Err(e) = r {
                    tracing::warn!(error = %e.message, "event stream ended");
                    status.send_modify(|s| {
                        s.server_connected = false;
                        s.last_error = Some(e.message.clone());
                        s.seq += 1;
                    });
                    if e.code == AppErrorCode::BadKey {
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
}
