//! The running agent: start/stop/pause, a `watch` of its status, and the task that
//! runs its loops — used by the headless binary and the desktop app. One file per
//! loop: [`poll`] (long-poll claim, one task per job), [`take_back`] (the jobs the
//! server says this agent holds, after a restart or a lost poll), [`report`] (result
//! delivery with retries), [`heartbeat`], [`terminal_watch`] (terminal state and
//! price push), [`symbols`] (the trader's symbol overrides), [`accounts`] (each
//! served terminal's account, bound to its broker connection); [`slots`] routes a
//! job to the terminal of its connection.

mod accounts;
mod deals;
mod heartbeat;
mod poll;
mod report;
mod slots;
mod symbols;
mod take_back;
mod terminal_watch;

pub use slots::{TerminalSlot, TerminalView};
pub use take_back::LOSE_FIRST_CLAIM_ENV;

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use companion_protocol::{AgentStatus, JobType, TerminalInfo};
use companion_terminal::Terminal;
use serde::Serialize;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::client::{ApiClient, ClientError};
use crate::executor::Executor;
use crate::journal::JournalError;
use crate::toolchain::Toolchain;

use accounts::accounts_loop;
use deals::deals_loop;
use heartbeat::{heartbeat_body, heartbeat_loop};
use poll::poll_loop;
use report::{report_pending, reporter_loop};
use symbols::overrides_loop;
use terminal_watch::terminal_loop;

/// How the runtime behaves.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Long-poll wait sent as `?wait=N` (seconds).
    pub poll_wait_secs: u64,
    /// When set, poll without waiting (`wait=0`) and sleep this long between empty
    /// polls — the old short-poll behaviour, kept as the benchmark baseline.
    pub short_poll_interval: Option<Duration>,
    pub heartbeat_every: Duration,
    /// How often closed deals are read from the terminal and reported.
    pub deals_every: Duration,
    pub prices_every: Duration,
    /// Symbols whose prices are pushed besides those of open positions.
    pub price_symbols: Vec<String>,
    /// Jobs executed at the same time.
    pub max_concurrent_jobs: usize,
    /// How long shutdown waits for in-flight jobs.
    pub shutdown_grace: Duration,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            poll_wait_secs: 25,
            short_poll_interval: None,
            heartbeat_every: Duration::from_secs(10),
            deals_every: Duration::from_secs(10),
            prices_every: Duration::from_secs(1),
            price_symbols: Vec::new(),
            max_concurrent_jobs: 4,
            shutdown_grace: Duration::from_secs(60),
        }
    }
}

/// Lifecycle of the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    #[default]
    Starting,
    Running,
    Paused,
    /// The server refused the key: the user must pair again.
    NeedsPairing,
    Stopped,
}

/// A job being executed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurrentJob {
    pub job_id: Uuid,
    pub job_type: JobType,
}

/// What the UI shows: published on a `watch` channel.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct AgentStatusView {
    pub state: RunState,
    pub agent_id: Option<Uuid>,
    pub server_connected: bool,
    /// Connection state and identity of the terminal (`paper` true on the paper terminal).
    pub terminal: TerminalInfo,
    pub last_error: Option<String>,
    pub current_jobs: Vec<CurrentJob>,
    /// Results journaled but not yet acknowledged by the server.
    pub unreported_results: i64,
    /// Every terminal (account) the agent serves, the first one first.
    pub terminals: Vec<TerminalView>,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    BadKey(ClientError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("runtime task failed: {0}")]
    Task(String),
}

/// Control of a started runtime.
pub struct AgentHandle {
    status: watch::Receiver<AgentStatusView>,
    paused: watch::Sender<bool>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), RuntimeError>>,
}

impl AgentHandle {
    /// A receiver of status updates.
    pub fn status(&self) -> watch::Receiver<AgentStatusView> {
        self.status.clone()
    }
    /// Stops claiming new jobs (running ones finish; heartbeats say `paused`).
    pub fn pause(&self) {
        let _ = self.paused.send(true);
    }
    pub fn resume(&self) {
        let _ = self.paused.send(false);
    }
    /// A token that stops the runtime when cancelled (e.g. from a signal handler).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
    /// Graceful stop: stop polling, finish and journal in-flight jobs, flush results.
    pub async fn stop(self) -> Result<(), RuntimeError> {
        self.cancel.cancel();
        self.wait().await
    }
    /// Waits until the runtime ends (stopped, or a fatal error such as a bad key).
    pub async fn wait(self) -> Result<(), RuntimeError> {
        self.task
            .await
            .map_err(|e| RuntimeError::Task(e.to_string()))?
    }
}

struct Shared<T, C> {
    client: ApiClient,
    /// The first terminal's executor (jobs that name no account, deals, prices).
    executor: Executor<T, C>,
    /// Every served terminal, the first one first ([`slots`]).
    slots: Vec<slots::Slot<T, C>>,
    /// Wakes jobs waiting for a terminal of their account when a terminal is bound.
    accounts_changed: Notify,
    /// How long a trading job waits for its account's terminal when it has no deadline.
    trading_wait: Duration,
    opts: RuntimeOptions,
    status: watch::Sender<AgentStatusView>,
    paused: watch::Receiver<bool>,
    cancel: CancellationToken,
    /// Wakes the reporter when a result is waiting.
    report_wake: Notify,
    /// Wakes the deals loop after a job finished (a trade or close made deals).
    deals_wake: Notify,
    fatal: tokio::sync::Mutex<Option<ClientError>>,
    /// Jobs this process is executing (claimed by a poll, taken back, or recovered
    /// from the journal), so a job the server lists as held is never started twice.
    in_hand: std::sync::Mutex<std::collections::HashSet<uuid::Uuid>>,
}

impl<T, C> Shared<T, C> {
    fn update(&self, f: impl FnOnce(&mut AgentStatusView)) {
        self.status.send_modify(f);
    }
    async fn fatal(&self, e: ClientError) {
        tracing::error!(error = %e, "stopping: the server refused the pairing key");
        self.update(|s| {
            s.state = RunState::NeedsPairing;
            s.last_error = Some(e.to_string());
        });
        *self.fatal.lock().await = Some(e);
        self.cancel.cancel();
    }
    /// Marks `id` in hand; false when it already was.
    fn take(&self, id: uuid::Uuid) -> bool {
        self.in_hand
            .lock()
            .map(|mut h| h.insert(id))
            .unwrap_or(false)
    }
    fn release(&self, id: uuid::Uuid) {
        if let Ok(mut h) = self.in_hand.lock() {
            h.remove(&id);
        }
    }
    fn server_ok(&self) {
        self.status.send_if_modified(|s| {
            let changed = !s.server_connected;
            s.server_connected = true;
            changed
        });
    }
    fn server_down(&self, e: &ClientError) {
        self.update(|s| {
            s.server_connected = false;
            s.last_error = Some(e.to_string());
        });
    }
}

/// The agent's retry policy towards the server: exponential from 250 ms to 30 s,
/// jittered (so a fleet that lost the server together does not return in lockstep),
/// never giving up.
pub(crate) fn retry_policy() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(30))
        .without_max_times()
}

fn backoff() -> impl Iterator<Item = Duration> {
    retry_policy().build()
}

/// Starts the runtime on one terminal. The client must carry the agent id (`with_agent_id`).
pub fn start<T, C>(client: ApiClient, executor: Executor<T, C>, opts: RuntimeOptions) -> AgentHandle
where
    T: Terminal + 'static,
    C: Toolchain + 'static,
{
    let first = TerminalSlot {
        name: "terminal 1".into(),
        port: 0,
        executor,
        connection: None,
    };
    start_terminals(client, vec![first], opts)
}

/// Starts the runtime serving several terminals (accounts), `terminals[0]` first:
/// each job runs on the terminal of its broker connection ([`slots`]).
/// `terminals` must not be empty. The client must carry the agent id.
pub fn start_terminals<T, C>(
    client: ApiClient,
    terminals: Vec<TerminalSlot<T, C>>,
    opts: RuntimeOptions,
) -> AgentHandle
where
    T: Terminal + 'static,
    C: Toolchain + 'static,
{
    let slots: Vec<slots::Slot<T, C>> = terminals.into_iter().map(Into::into).collect();
    let Some(executor) = slots.first().map(|s| s.executor.clone()) else {
        panic!("start_terminals needs at least one terminal");
    };
    let trading_wait = executor.options().trading_wait;
    let (status_tx, status_rx) = watch::channel(AgentStatusView {
        agent_id: client.agent_id(),
        ..Default::default()
    });
    let (paused_tx, paused_rx) = watch::channel(false);
    let cancel = CancellationToken::new();
    let shared = Arc::new(Shared {
        client,
        executor,
        slots,
        accounts_changed: Notify::new(),
        trading_wait,
        opts,
        status: status_tx,
        paused: paused_rx,
        cancel: cancel.clone(),
        report_wake: Notify::new(),
        deals_wake: Notify::new(),
        fatal: tokio::sync::Mutex::new(None),
        in_hand: std::sync::Mutex::new(std::collections::HashSet::new()),
    });
    let task = tokio::spawn(run(shared));
    AgentHandle {
        status: status_rx,
        paused: paused_tx,
        cancel,
        task,
    }
}

async fn run<T, C>(shared: Arc<Shared<T, C>>) -> Result<(), RuntimeError>
where
    T: Terminal + 'static,
    C: Toolchain + 'static,
{
    let mut jobs: JoinSet<()> = JoinSet::new();
    // Finish what a previous run left unfinished (results re-sent by the reporter).
    for entry in shared.executor.journal().unfinished().await? {
        let s = shared.clone();
        s.take(entry.job.job_id);
        tracing::info!(job_id = %entry.job.job_id, state = entry.state.as_str(), "recovering a job journaled before the last stop");
        jobs.spawn(async move {
            let id = entry.job.job_id;
            s.update(|st| {
                st.current_jobs.push(CurrentJob {
                    job_id: id,
                    job_type: entry.job.job_type,
                })
            });
            // Back to the terminal of the job's account, if this agent still has it.
            match s.route(entry.job.broker_connection_id) {
                Some(ex) => {
                    if let Err(e) = ex.recover(id).await {
                        tracing::error!(job_id = %id, error = %e, "recovery failed");
                    }
                }
                None => {
                    let reason = s.unrouted_reason(entry.job.broker_connection_id.unwrap_or_default());
                    match s.executor.refuse(&entry.job, reason).await {
                        Ok(Some(_)) => {}
                        Ok(None) => tracing::error!(job_id = %id, "a trade sent to a terminal this agent no longer serves: left unfinished until that terminal is back"),
                        Err(e) => tracing::error!(job_id = %id, error = %e, "recovery failed"),
                    }
                }
            }
            s.update(|st| st.current_jobs.retain(|j| j.job_id != id));
            s.release(id);
            s.report_wake.notify_one();
        });
    }
    shared.update(|s| s.state = RunState::Running);

    let background = [
        tokio::spawn(reporter_loop(shared.clone())),
        tokio::spawn(heartbeat_loop(shared.clone())),
        tokio::spawn(terminal_loop(shared.clone())),
        tokio::spawn(overrides_loop(shared.clone())),
        tokio::spawn(deals_loop(shared.clone())),
        tokio::spawn(accounts_loop(shared.clone())),
    ];
    poll_loop(shared.clone(), &mut jobs).await;

    // Shutdown: let in-flight jobs finish and journal their results.
    let grace = shared.opts.shutdown_grace;
    if !jobs.is_empty() {
        tracing::info!(count = jobs.len(), "waiting for in-flight jobs to finish");
    }
    let _ = tokio::time::timeout(grace, async { while jobs.join_next().await.is_some() {} }).await;
    jobs.abort_all();
    // One last attempt to deliver results, then say goodbye.
    let fatal = shared.fatal.lock().await.clone();
    if fatal.is_none() {
        let _ = tokio::time::timeout(Duration::from_secs(5), report_pending(&shared)).await;
        let hb = heartbeat_body(&shared, AgentStatus::Offline);
        let _ = tokio::time::timeout(Duration::from_secs(3), shared.client.heartbeat(&hb)).await;
    }
    for t in background {
        t.abort();
    }
    shared.update(|s| {
        if s.state != RunState::NeedsPairing {
            s.state = RunState::Stopped;
        }
    });
    match fatal {
        Some(e) => Err(RuntimeError::BadKey(e)),
        None => Ok(()),
    }
}
