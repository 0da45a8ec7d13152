//! The agent runtime the desktop app runs in-process ([`crate::launch`]): it
//! claims and executes the jobs, its terminal bridge listens on loopback, and its
//! state (server, terminal, paused, last error) feeds the status shown. Started per
//! paired session; stops when the session's stop signal fires.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use companion_protocol::AgentMe;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::dto::StatusDto;
use crate::app::status::{apply_runtime_view, update};
use crate::launch::{launch, LaunchOptions};
use crate::runtime::AgentStatusView;
use crate::secret::AgentKey;
use crate::symbols::SymbolBook;

/// What the embedded runtime needs besides the session.
#[derive(Debug, Clone, Default)]
pub struct RuntimeSpec {
    /// Bridge port (else the config's, else the default).
    pub bridge_port: Option<u16>,
    /// Bridge token (else the config's, generated once).
    pub bridge_token: Option<String>,
}

/// The runtime running for one session.
pub struct AgentLink {
    paused: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// The running executor's symbol book, once the runtime started.
    symbols: Arc<Mutex<Option<Arc<SymbolBook>>>>,
}

impl AgentLink {
    /// A link with no runtime behind it (an app core without an embedded runtime: tests).
    pub fn detached() -> Self {
        AgentLink {
            paused: watch::channel(false).0,
            task: Mutex::new(None),
            symbols: Arc::default(),
        }
    }

    /// The embedded runtime's symbol book (resolutions, overrides), once it runs.
    pub fn symbol_book(&self) -> Option<Arc<SymbolBook>> {
        self.symbols.lock().ok().and_then(|b| b.clone())
    }

    /// Pause stops claiming new jobs (running ones finish); resume claims again.
    pub fn set_paused(&self, paused: bool) {
        let _ = self.paused.send(paused);
    }

    /// Waits for the runtime to finish its in-flight jobs and stop (after the
    /// session's stop fired).
    pub async fn stop(&self) {
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

/// Starts the agent runtime with its state in `data_dir` for `key` on `server`;
/// `identity` (from pairing) saves asking the server again. Runs until `stop` fires.
pub fn start(
    data_dir: PathBuf,
    server: String,
    key: AgentKey,
    identity: Option<AgentMe>,
    spec: RuntimeSpec,
    status: watch::Sender<StatusDto>,
    mut stop: watch::Receiver<bool>,
) -> AgentLink {
    let (paused_tx, mut paused) = watch::channel(false);
    let symbols: Arc<Mutex<Option<Arc<SymbolBook>>>> = Arc::default();
    let book_slot = symbols.clone();
    let task = tokio::spawn(async move {
        let opts = LaunchOptions {
            bridge_port: spec.bridge_port,
            bridge_token: spec.bridge_token,
            identity,
            ..Default::default()
        };
        let started = tokio::select! {
            r = launch(&data_dir, &server, key, opts) => r,
            _ = stop.changed() => return,
        };
        let launched = match started {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "the agent runtime did not start");
                update(&status, |s| s.last_error = Some(e.to_string()));
                return;
            }
        };
        tracing::info!(bridge = %launched.bridge_addr, "agent runtime running in the app");
        if let Ok(mut slot) = book_slot.lock() {
            *slot = Some(launched.symbols.clone());
        }
        let port = launched.bridge_addr.port();
        update(&status, |s| s.bridge_port = Some(port));
        if *paused.borrow_and_update() {
            launched.handle.pause();
        }
        let mut views = launched.handle.status();
        let mut prev = AgentStatusView::default();
        loop {
            let v = views.borrow_and_update().clone();
            update(&status, |s| apply_runtime_view(s, &v, &prev));
            prev = v;
            tokio::select! {
                r = views.changed() => if r.is_err() { break },
                r = paused.changed() => {
                    if r.is_err() { break }
                    if *paused.borrow_and_update() {
                        launched.handle.pause();
                    } else {
                        launched.handle.resume();
                    }
                }
                _ = stop.changed() => break,
            }
        }
        launched.handle.cancel_token().cancel();
        if let Err(e) = launched.wait().await {
            tracing::warn!(error = %e, "the agent runtime ended with an error");
            update(&status, |s| s.last_error = Some(e.to_string()));
        }
    });
    AgentLink {
        paused: paused_tx,
        task: Mutex::new(Some(task)),
        symbols,
    }
}
