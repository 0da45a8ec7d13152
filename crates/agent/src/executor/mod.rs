//! Executes claimed jobs of all ten types against a `Terminal` (and the
//! toolchain for compile/test), journaling each step (DESIGN sections 5–6).
//! This module holds the executor, its claim/recover entry points and the
//! dispatch on the typed [`JobInput`]; the jobs themselves are in [`trading`]
//! (orders and closes, with reconciliation by order comment), [`reads`]
//! (positions, account, candles) and [`ea`] (compile, test, deploy, run, stop).
//!
//! Terminal-disconnected policy, per type:
//! - `trade`: refused once `expires_at` has passed; otherwise waits for the
//!   terminal to (re)connect until `expires_at` (30 s when it has none).
//! - `close_position`: waits up to 30 s for the terminal.
//! - `modify_position`, `cancel_orders` ([`management`]): refused once `expires_at`
//!   has passed; fail fast when the terminal does not answer.
//! - `get_*`, `deploy`, `run`, `stop`: fail fast with the reason.
//! - `compile`, `test`: do not use the bridge.

mod ea;
mod manage;
mod management;
mod ownership;
mod reads;
mod stop_rules;
mod trading;

use std::sync::Arc;
use std::time::Duration;

use companion_protocol::{ClaimedJob, JobInput, JobResultRequest, ResultStatus};
pub use companion_terminal::bridge::job_comment;
use companion_terminal::retcode;
use companion_terminal::{Terminal, TerminalError};
use serde::Serialize;
use uuid::Uuid;

use crate::journal::{Journal, JournalError, JournalState};
use crate::symbols::SymbolBook;
use crate::toolchain::Toolchain;

/// Test-only hook: `COMPANION_AGENT_CRASH_AFTER=sent_to_terminal` aborts the process
/// right after the terminal's reply to an order is journaled, before the result is
/// posted; `=claimed` aborts right after a poll brought a job, before the journal
/// knows it (the window the held-jobs take-back closes).
pub const CRASH_AFTER_ENV: &str = "COMPANION_AGENT_CRASH_AFTER";

/// Magic number of orders whose job names none (jobs not from a strategy's signal;
/// a strategy's orders carry its own `magic`).
pub const AGENT_MAGIC: i64 = 20_260_501;

/// Knobs of the executor.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// Abort after journaling a terminal reply (crash tests only).
    pub crash_after_sent: bool,
    /// Abort when a claimed job arrives, before journaling it (crash tests only).
    pub crash_after_claim: bool,
    /// How often to look for a reconnected terminal while waiting.
    pub reconnect_poll: Duration,
    /// Wait for a terminal for trades without `expires_at` and for closes.
    pub trading_wait: Duration,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        ExecutorOptions {
            crash_after_sent: false,
            crash_after_claim: false,
            reconnect_poll: Duration::from_millis(250),
            trading_wait: Duration::from_secs(30),
        }
    }
}

impl ExecutorOptions {
    pub fn from_env() -> Self {
        ExecutorOptions {
            crash_after_sent: std::env::var(CRASH_AFTER_ENV).is_ok_and(|v| v == "sent_to_terminal"),
            crash_after_claim: std::env::var(CRASH_AFTER_ENV).is_ok_and(|v| v == "claimed"),
            ..Default::default()
        }
    }
}

/// Runs jobs; cheap to clone.
pub struct Executor<T, C> {
    terminal: Arc<T>,
    toolchain: Arc<C>,
    journal: Journal,
    opts: ExecutorOptions,
    /// Canonical instrument → broker symbol (trade and close paths).
    symbols: Arc<SymbolBook>,
}

impl<T, C> Clone for Executor<T, C> {
    fn clone(&self) -> Self {
        Executor {
            terminal: self.terminal.clone(),
            toolchain: self.toolchain.clone(),
            journal: self.journal.clone(),
            opts: self.opts.clone(),
            symbols: self.symbols.clone(),
        }
    }
}

fn completed<O: Serialize>(out: &O) -> JobResultRequest {
    match serde_json::to_value(out) {
        Ok(v) => JobResultRequest {
            status: ResultStatus::Completed,
            output_data: Some(v),
            error_message: None,
        },
        Err(e) => failed(format!("internal error: cannot encode output: {e}")),
    }
}

fn failed(message: impl Into<String>) -> JobResultRequest {
    JobResultRequest {
        status: ResultStatus::Failed,
        output_data: None,
        error_message: Some(message.into()),
    }
}

/// A terminal error in words, with the retcode's meaning.
pub fn describe_terminal_error(e: &TerminalError) -> String {
    match e {
        TerminalError::Rejected { retcode, message } => {
            format!("MT5 rejected the request: retcode {retcode} ({}){}", retcode::describe(*retcode), if message.is_empty() { String::new() } else { format!(": {message}") })
        }
        TerminalError::NotConnected(m) => format!(
            "the MT5 terminal is not connected ({m}); check that the Companion bridge EA is attached to a chart and that 127.0.0.1 is in Tools › Options › Expert Advisors › allowed URLs"
        ),
        other => other.to_string(),
    }
}

impl<T, C> Executor<T, C> {
    pub fn terminal(&self) -> &Arc<T> {
        &self.terminal
    }

    pub fn options(&self) -> &ExecutorOptions {
        &self.opts
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The symbol resolver's cache (overrides, the terminal's list, resolutions).
    pub fn symbols(&self) -> &Arc<SymbolBook> {
        &self.symbols
    }
}

impl<T: Terminal + 'static, C: Toolchain + 'static> Executor<T, C> {
    pub fn new(
        terminal: Arc<T>,
        toolchain: Arc<C>,
        journal: Journal,
        opts: ExecutorOptions,
    ) -> Self {
        Executor {
            terminal,
            toolchain,
            journal,
            opts,
            symbols: Arc::new(SymbolBook::new()),
        }
    }

    /// The same executor (journal, toolchain, options) on another terminal, with its
    /// own symbol book (each broker names its symbols its own way): one per terminal
    /// when the agent serves several accounts.
    pub fn with_terminal(&self, terminal: Arc<T>) -> Self {
        Executor {
            terminal,
            toolchain: self.toolchain.clone(),
            journal: self.journal.clone(),
            opts: self.opts.clone(),
            symbols: Arc::new(SymbolBook::new()),
        }
    }

    /// Journals the claim and a failed result with `reason`, without executing (no
    /// terminal serves the job's account). A job that already has a journaled result
    /// gets that result. A trading job journaled as sent is never refused (it may be
    /// at a terminal): `None`, left unfinished for its terminal to reconcile.
    pub async fn refuse(
        &self,
        job: &ClaimedJob,
        reason: String,
    ) -> Result<Option<JobResultRequest>, JournalError> {
        let entry = self.journal.record_claim(job).await?;
        if entry.state.has_result() {
            if let Some(r) = entry.result {
                return Ok(Some(r));
            }
        }
        if entry.state == JournalState::SentToTerminal {
            return Ok(None);
        }
        self.journal
            .record_result(job.job_id, &failed(reason))
            .await
            .map(Some)
    }

    /// Journals the claim and produces the job's result, journaled. A job that
    /// already has a journaled result is not executed again: that result is returned.
    /// A trading job journaled as sent but without a result is reconciled against
    /// the terminal by its order comment before anything is sent.
    pub async fn run_claimed(&self, job: &ClaimedJob) -> Result<JobResultRequest, JournalError> {
        if self.opts.crash_after_claim {
            tracing::error!(job_id = %job.job_id, "{CRASH_AFTER_ENV}=claimed: aborting before journaling the claim (test hook)");
            std::process::abort();
        }
        let entry = self.journal.record_claim(job).await?;
        if entry.state.has_result() {
            if let Some(r) = entry.result {
                tracing::info!(job_id = %job.job_id, "job already has a journaled result; re-posting it, not executing");
                return Ok(r);
            }
        }
        let result = if entry.state == JournalState::SentToTerminal && job.job_type.is_trading() {
            self.resume_trading(&entry.job, entry.order_comment.as_deref(), entry.sends)
                .await?
        } else {
            self.execute(job).await?
        };
        self.journal.record_result(job.job_id, &result).await
    }

    /// A job the server says this agent holds but the journal does not know: the agent
    /// stopped between the server's claim and the journal write, or the claim's
    /// response was lost in flight. The journal is written before any send, so this
    /// agent never sent it: it runs like a fresh claim (deadline checks included). A
    /// trading job is first looked up by its order comment at the terminal, as every
    /// uncertain trade is, and never sent twice.
    pub async fn take_back(&self, job: &ClaimedJob) -> Result<JobResultRequest, JournalError> {
        if job.job_type.is_trading() {
            if let Ok(deals) = self
                .terminal
                .find_by_comment(&job_comment(job.job_id))
                .await
            {
                if !deals.is_empty() {
                    tracing::warn!(job_id = %job.job_id, "taken back: the terminal already has this job's order; not sending it");
                    self.journal.record_claim(job).await?;
                    let result = self.result_from_deals(job, &deals);
                    let result = self.rules_of_reconciled(job, result).await;
                    return self.journal.record_result(job.job_id, &result).await;
                }
            }
        }
        self.run_claimed(job).await
    }

    /// Finishes a journaled job interrupted before its result (agent start-up).
    /// Trades whose deadline passed and that never reached the terminal fail as expired.
    pub async fn recover(&self, job_id: Uuid) -> Result<Option<JobResultRequest>, JournalError> {
        let Some(entry) = self.journal.get(job_id).await? else {
            return Ok(None);
        };
        if entry.state.has_result() {
            return Ok(entry.result);
        }
        let result =
            if entry.state == JournalState::SentToTerminal && entry.job.job_type.is_trading() {
                self.resume_trading(&entry.job, entry.order_comment.as_deref(), entry.sends)
                    .await?
            } else {
                self.execute(&entry.job).await?
            };
        self.journal.record_result(job_id, &result).await.map(Some)
    }

    /// Fail-fast connection check for non-trading terminal jobs.
    async fn require_connected(&self) -> Result<(), JobResultRequest> {
        match self.terminal.info().await {
            Ok(i) if i.connected => Ok(()),
            Ok(_) => Err(failed(describe_terminal_error(
                &TerminalError::NotConnected("the terminal reports no connection".into()),
            ))),
            Err(e) => Err(failed(describe_terminal_error(&e))),
        }
    }

    /// Executes a job (not journal-aware except for the sent step of trading jobs).
    pub async fn execute(&self, job: &ClaimedJob) -> Result<JobResultRequest, JournalError> {
        let input = match JobInput::from_value(job.job_type, &job.input_data) {
            Ok(i) => i,
            Err(e) => return Ok(failed(format!("invalid {} input: {e}", job.job_type))),
        };
        let r = match input {
            JobInput::Trade(i) => return self.trade(job, i).await,
            JobInput::ClosePosition(i) => return self.close_position(job, i).await,
            JobInput::ModifyPosition(i) => return self.modify_position(job, i).await,
            JobInput::CancelOrders(i) => return self.cancel_orders(job, i).await,
            JobInput::GetPositions => self.get_positions().await,
            JobInput::GetAccount => self.get_account().await,
            JobInput::GetCandles(i) => self.get_candles(i).await,
            JobInput::Compile(i) => self.compile(i).await,
            JobInput::Test(i) => self.test(i).await,
            JobInput::Deploy(i) => return self.deploy(i).await,
            JobInput::Run(i) => return self.run_or_stop(i, true).await,
            JobInput::Stop(i) => return self.run_or_stop(i, false).await,
        };
        Ok(r)
    }
}
