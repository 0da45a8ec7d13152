//! The running agent: long-poll claim loop, job tasks, result reporter,
//! heartbeat, price push and terminal watch, with start/stop/pause and a
//! `watch` of its status — used by the headless binary and the desktop app.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::Utc;
use companion_protocol::{
    AgentStatus, ClaimedJob, HeartbeatRequest, JobResultRequest, JobType, PriceTick, PricesRequest,
    TerminalInfo,
};
use companion_terminal::Terminal;
use serde::Serialize;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::client::{ApiClient, ClientError};
use crate::executor::Executor;
use crate::journal::JournalError;
use crate::toolchain::Toolchain;

/// How the runtime behaves.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Long-poll wait sent as `?wait=N` (seconds).
    pub poll_wait_secs: u64,
    /// When set, poll without waiting (`wait=0`) and sleep this long between empty
    /// polls — the old short-poll behaviour, kept as the benchmark baseline.
    pub short_poll_interval: Option<Duration>,
    pub heartbeat_every: Duration,
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
    executor: Executor<T, C>,
    opts: RuntimeOptions,
    status: watch::Sender<AgentStatusView>,
    paused: watch::Receiver<bool>,
    cancel: CancellationToken,
    /// Wakes the reporter when a result is waiting.
    report_wake: Notify,
    fatal: tokio::sync::Mutex<Option<ClientError>>,
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

/// Starts the runtime. The client must carry the agent id (`with_agent_id`).
pub fn start<T, C>(client: ApiClient, executor: Executor<T, C>, opts: RuntimeOptions) -> AgentHandle
where
    T: Terminal + 'static,
    C: Toolchain + 'static,
{
    let (status_tx, status_rx) = watch::channel(AgentStatusView {
        agent_id: client.agent_id(),
        ..Default::default()
    });
    let (paused_tx, paused_rx) = watch::channel(false);
    let cancel = CancellationToken::new();
    let shared = Arc::new(Shared {
        client,
        executor,
        opts,
        status: status_tx,
        paused: paused_rx,
        cancel: cancel.clone(),
        report_wake: Notify::new(),
        fatal: tokio::sync::Mutex::new(None),
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
        tracing::info!(job_id = %entry.job.job_id, state = entry.state.as_str(), "recovering a job journaled before the last stop");
        jobs.spawn(async move {
            let id = entry.job.job_id;
            s.update(|st| {
                st.current_jobs.push(CurrentJob {
                    job_id: id,
                    job_type: entry.job.job_type,
                })
            });
            if let Err(e) = s.executor.recover(id).await {
                tracing::error!(job_id = %id, error = %e, "recovery failed");
            }
            s.update(|st| st.current_jobs.retain(|j| j.job_id != id));
            s.report_wake.notify_one();
        });
    }
    shared.update(|s| s.state = RunState::Running);

    let background = [
        tokio::spawn(reporter_loop(shared.clone())),
        tokio::spawn(heartbeat_loop(shared.clone())),
        tokio::spawn(terminal_loop(shared.clone())),
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

/// Claims jobs (long-poll) and spawns one task per job, up to the concurrency limit.
async fn poll_loop<T, C>(shared: Arc<Shared<T, C>>, jobs: &mut JoinSet<()>)
where
    T: Terminal + 'static,
    C: Toolchain + 'static,
{
    let permits = Arc::new(Semaphore::new(shared.opts.max_concurrent_jobs.max(1)));
    let mut delays = backoff();
    let mut paused = shared.paused.clone();
    let wait = if shared.opts.short_poll_interval.is_some() {
        0
    } else {
        shared.opts.poll_wait_secs
    };
    loop {
        while jobs.try_join_next().is_some() {}
        if *paused.borrow() {
            shared.update(|s| s.state = RunState::Paused);
            tokio::select! {
                _ = shared.cancel.cancelled() => return,
                _ = paused.wait_for(|p| !*p) => {}
            }
            shared.update(|s| s.state = RunState::Running);
        }
        let permit = tokio::select! {
            _ = shared.cancel.cancelled() => return,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let claimed = tokio::select! {
            _ = shared.cancel.cancelled() => return,
            // A pause does not cancel an in-flight poll: a job it claims is executed.
            r = shared.client.next_job(wait) => r,
        };
        match claimed {
            Ok(Some(job)) => {
                shared.server_ok();
                delays = backoff();
                let s = shared.clone();
                jobs.spawn(async move {
                    handle_job(&s, job).await;
                    drop(permit);
                });
            }
            Ok(None) => {
                shared.server_ok();
                delays = backoff();
                if let Some(interval) = shared.opts.short_poll_interval {
                    tokio::select! {
                        _ = shared.cancel.cancelled() => return,
                        _ = tokio::time::sleep(interval) => {}
                    }
                }
            }
            Err(e @ ClientError::BadKey { .. }) => {
                shared.fatal(e).await;
                return;
            }
            Err(e) => {
                let d = delays.next().unwrap_or(Duration::from_secs(30));
                tracing::warn!(error = %e, retry_in_ms = d.as_millis() as u64, "claiming jobs failed");
                shared.server_down(&e);
                tokio::select! {
                    _ = shared.cancel.cancelled() => return,
                    _ = tokio::time::sleep(d) => {}
                }
            }
        }
    }
}

/// Executes one claimed job and posts its result (the reporter retries on failure).
async fn handle_job<T, C>(shared: &Shared<T, C>, job: ClaimedJob)
where
    T: Terminal + 'static,
    C: Toolchain + 'static,
{
    let id = job.job_id;
    tracing::info!(job_id = %id, job_type = %job.job_type, attempt = job.attempt, "claimed job");
    shared.update(|s| {
        s.current_jobs.push(CurrentJob {
            job_id: id,
            job_type: job.job_type,
        })
    });
    let result = shared.executor.run_claimed(&job).await;
    shared.update(|s| s.current_jobs.retain(|j| j.job_id != id));
    match result {
        Ok(r) => {
            tracing::info!(job_id = %id, status = ?r.status, error = r.error_message.as_deref().unwrap_or(""), "job finished");
            report_one(shared, id, &r).await;
        }
        Err(e) => {
            tracing::error!(job_id = %id, error = %e, "journal failure; the job's result could not be recorded");
            shared.update(|s| s.last_error = Some(e.to_string()));
        }
    }
    shared.report_wake.notify_one();
}

/// Outcome of one delivery attempt.
enum Delivery {
    Done,
    Retry,
    Fatal,
}

async fn report_one<T, C>(
    shared: &Shared<T, C>,
    job_id: Uuid,
    result: &JobResultRequest,
) -> Delivery {
    let journal = shared.executor.journal();
    match shared.client.post_result(job_id, result).await {
        Ok(ack) => {
            shared.server_ok();
            let note = if ack.duplicate {
                "acknowledged (duplicate)"
            } else {
                "acknowledged"
            };
            if let Err(e) = journal.mark_reported(job_id, note).await {
                tracing::error!(%job_id, error = %e, "cannot journal the acknowledgement");
            }
            tracing::info!(%job_id, duplicate = ack.duplicate, "result reported");
            Delivery::Done
        }
        Err(ClientError::Conflict { code, message }) => {
            tracing::warn!(%job_id, %code, %message, "the server refused this result (conflicting, or the job is no longer ours); dropping it");
            let _ = journal
                .mark_dropped(job_id, &format!("409 {code}: {message}"))
                .await;
            Delivery::Done
        }
        Err(e @ ClientError::BadKey { .. }) => {
            shared.fatal(e).await;
            Delivery::Fatal
        }
        Err(e) if e.is_retryable() => {
            shared.server_down(&e);
            tracing::warn!(%job_id, error = %e, "posting the result failed; will retry");
            let _ = journal.note_report_attempt(job_id, &e.to_string()).await;
            Delivery::Retry
        }
        Err(e) => {
            // Another 4xx (unknown job, invalid output): retrying cannot change it.
            tracing::warn!(%job_id, error = %e, "the server refused this result; dropping it");
            let _ = journal.mark_dropped(job_id, &e.to_string()).await;
            Delivery::Done
        }
    }
}

/// Posts every unreported result once; false when the server should be retried later.
async fn report_pending<T, C>(shared: &Shared<T, C>) -> bool {
    let pending = match shared.executor.journal().unreported().await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the journal");
            return false;
        }
    };
    shared.update(|s| s.unreported_results = pending.len() as i64);
    let mut all_ok = true;
    for entry in pending {
        let Some(result) = entry.result else { continue };
        match report_one(shared, entry.job.job_id, &result).await {
            Delivery::Done => {}
            Delivery::Retry => {
                all_ok = false;
                break;
            }
            Delivery::Fatal => return false,
        }
    }
    if all_ok {
        if let Ok(c) = shared.executor.journal().counts().await {
            shared.update(|s| s.unreported_results = c.unreported);
        }
    }
    all_ok
}

/// Re-sends unreported results with jittered backoff until acknowledged.
async fn reporter_loop<T, C>(shared: Arc<Shared<T, C>>) {
    let mut delays = backoff();
    loop {
        let wait = if report_pending(&shared).await {
            delays = backoff();
            Duration::from_secs(5)
        } else {
            delays.next().unwrap_or(Duration::from_secs(30))
        };
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = shared.report_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

fn heartbeat_body<T, C>(shared: &Shared<T, C>, status: AgentStatus) -> HeartbeatRequest {
    let view = shared.status.borrow().clone();
    HeartbeatRequest {
        status,
        app_version: crate::update::VERSION.to_string(),
        terminal: Some(view.terminal),
        running_jobs: view.current_jobs.iter().map(|j| j.job_id).collect(),
    }
}

async fn heartbeat_loop<T, C>(shared: Arc<Shared<T, C>>) {
    let mut tick = tokio::time::interval(shared.opts.heartbeat_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let status = if *shared.paused.borrow() {
            AgentStatus::Paused
        } else {
            AgentStatus::Online
        };
        let hb = heartbeat_body(&shared, status);
        match shared.client.heartbeat(&hb).await {
            Ok(()) => shared.server_ok(),
            Err(e @ ClientError::BadKey { .. }) => {
                shared.fatal(e).await;
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "heartbeat failed");
                if e.is_retryable() {
                    shared.server_down(&e);
                }
            }
        }
    }
}

/// Watches the terminal every `prices_every` and pushes prices of open positions'
/// symbols (and the configured ones) while it is connected.
async fn terminal_loop<T, C>(shared: Arc<Shared<T, C>>)
where
    T: Terminal + 'static,
    C: Toolchain + 'static,
{
    let terminal = shared.executor.terminal().clone();
    let mut tick = tokio::time::interval(shared.opts.prices_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let info = match terminal.info().await {
            Ok(i) => i,
            Err(_) => TerminalInfo {
                connected: false,
                ..Default::default()
            },
        };
        let connected = info.connected;
        shared.status.send_if_modified(|s| {
            let changed = s.terminal != info;
            if changed {
                if info.connected {
                    tracing::info!(
                        paper = info.paper,
                        login = info.login.as_deref().unwrap_or(""),
                        "terminal connected"
                    );
                } else {
                    tracing::warn!("terminal disconnected");
                }
                s.terminal = info;
            }
            changed
        });
        if !connected {
            continue;
        }
        let mut symbols: BTreeMap<String, ()> = shared
            .opts
            .price_symbols
            .iter()
            .map(|s| (s.clone(), ()))
            .collect();
        if let Ok(ps) = terminal.positions().await {
            symbols.extend(ps.into_iter().map(|p| (p.symbol, ())));
        }
        if symbols.is_empty() {
            continue;
        }
        let mut prices = Vec::with_capacity(symbols.len());
        for sym in symbols.keys() {
            if let Ok(si) = terminal.symbol_info(sym).await {
                prices.push(PriceTick {
                    symbol: si.symbol,
                    bid: si.bid,
                    ask: si.ask,
                    time: Utc::now(),
                });
            }
        }
        if prices.is_empty() {
            continue;
        }
        if let Err(e) = shared.client.push_prices(&PricesRequest { prices }).await {
            tracing::debug!(error = %e, "price push failed");
        }
    }
}
