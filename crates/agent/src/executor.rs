//! Executes claimed jobs of all ten types against a `Terminal` (and the
//! toolchain for compile/test), journaling each step (DESIGN sections 5–6).
//!
//! Terminal-disconnected policy, per type:
//! - `trade`: refused once `expires_at` has passed; otherwise waits for the
//!   terminal to (re)connect until `expires_at` (30 s when it has none).
//! - `close_position`: waits up to 30 s for the terminal.
//! - `get_*`, `deploy`, `run`, `stop`: fail fast with the reason.
//! - `compile`, `test`: do not use the bridge.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use companion_protocol::{
    AccountOutput, CandlesInput, CandlesOutput, ClaimedJob, ClosePositionInput,
    ClosePositionOutput, CompileInput, DailyLossCheck, DeployInput, DeployOutput, DeploymentRef,
    JobResultRequest, JobType, PositionsOutput, ResultStatus, RunOutput, StopOutput, TestInput,
    TestOutput, TradeInput, TradeOutput,
};
pub use companion_terminal::bridge::job_comment;
use companion_terminal::retcode;
use companion_terminal::{ChartDeployment, DealRecord, OrderRequest, Terminal, TerminalError};
use serde::Serialize;
use uuid::Uuid;

use crate::journal::{DeploymentRecord, Journal, JournalError, JournalState};
use crate::sizing;
use crate::toolchain::{expert_name, Toolchain, ToolchainError};

/// Test-only hook: `COMPANION_AGENT_CRASH_AFTER=sent_to_terminal` aborts the process
/// right after the terminal's reply to an order is journaled, before the result is posted.
pub const CRASH_AFTER_ENV: &str = "COMPANION_AGENT_CRASH_AFTER";

/// Magic number the agent's own orders carry.
pub const AGENT_MAGIC: i64 = 20_260_501;

/// Knobs of the executor.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// Abort after journaling a terminal reply (crash tests only).
    pub crash_after_sent: bool,
    /// How often to look for a reconnected terminal while waiting.
    pub reconnect_poll: Duration,
    /// Wait for a terminal for trades without `expires_at` and for closes.
    pub trading_wait: Duration,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        ExecutorOptions {
            crash_after_sent: false,
            reconnect_poll: Duration::from_millis(250),
            trading_wait: Duration::from_secs(30),
        }
    }
}

impl ExecutorOptions {
    pub fn from_env() -> Self {
        ExecutorOptions {
            crash_after_sent: std::env::var(CRASH_AFTER_ENV).is_ok_and(|v| v == "sent_to_terminal"),
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
}

impl<T, C> Clone for Executor<T, C> {
    fn clone(&self) -> Self {
        Executor {
            terminal: self.terminal.clone(),
            toolchain: self.toolchain.clone(),
            journal: self.journal.clone(),
            opts: self.opts.clone(),
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

fn parse<I: serde::de::DeserializeOwned>(job: &ClaimedJob) -> Result<I, JobResultRequest> {
    serde_json::from_value(job.input_data.clone())
        .map_err(|e| failed(format!("invalid {} input: {e}", job.job_type)))
}

fn expired(job: &ClaimedJob, now: DateTime<Utc>) -> bool {
    job.expires_at.is_some_and(|t| t <= now)
}

fn expired_result(job: &ClaimedJob) -> JobResultRequest {
    let when = job.expires_at.map(|t| t.to_rfc3339()).unwrap_or_default();
    failed(format!(
        "expired: not executed (the trade's deadline {when} passed before it could be sent)"
    ))
}

impl<T, C> Executor<T, C> {
    pub fn terminal(&self) -> &Arc<T> {
        &self.terminal
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
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
        }
    }

    /// Journals the claim and produces the job's result, journaled. A job that
    /// already has a journaled result is not executed again: that result is returned.
    /// A trading job journaled as sent but without a result is reconciled against
    /// the terminal by its order comment before anything is sent.
    pub async fn run_claimed(&self, job: &ClaimedJob) -> Result<JobResultRequest, JournalError> {
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

    /// A trade/close journaled as sent but without a result: found in the terminal
    /// by comment → completed with that fill; not found → sent (once) if still valid.
    async fn resume_trading(
        &self,
        job: &ClaimedJob,
        comment: Option<&str>,
        sends: i64,
    ) -> Result<JobResultRequest, JournalError> {
        let comment = comment
            .map(str::to_string)
            .unwrap_or_else(|| job_comment(job.job_id));
        let deadline = self.trading_deadline(job);
        if let Err(e) = self.wait_connected(deadline).await {
            return Ok(failed(format!(
                "outcome unknown: the order for this job (comment {comment}) was handed to the terminal, which is not connected to confirm it: {}",
                describe_terminal_error(&e)
            )));
        }
        match self.terminal.find_by_comment(&comment).await {
            Ok(deals) if !deals.is_empty() => {
                tracing::info!(job_id = %job.job_id, %comment, "reconciled: the terminal already has this job's order; not sending again");
                Ok(self.result_from_deals(job, &deals))
            }
            Ok(_) => {
                tracing::warn!(job_id = %job.job_id, %comment, sends, "reconciled: no order with this job's comment in the terminal; sending it now");
                self.execute(job).await
            }
            Err(e) => Ok(failed(format!(
                "outcome unknown: could not look up order {comment} in the terminal: {}",
                describe_terminal_error(&e)
            ))),
        }
    }

    fn result_from_deals(&self, job: &ClaimedJob, deals: &[DealRecord]) -> JobResultRequest {
        let last = &deals[deals.len() - 1];
        match job.job_type {
            JobType::ClosePosition => completed(&ClosePositionOutput {
                closed_price: last.price,
                pnl: 0.0,
                tickets: deals.iter().map(|d| d.ticket).collect(),
            }),
            _ => {
                let first = &deals[0];
                completed(&TradeOutput {
                    fill_price: first.price,
                    ticket: first.ticket,
                    order_id: first.order_id,
                    volume: first.volume,
                })
            }
        }
    }

    fn trading_deadline(&self, job: &ClaimedJob) -> DateTime<Utc> {
        let fallback =
            Utc::now() + chrono::Duration::from_std(self.opts.trading_wait).unwrap_or_default();
        match (job.job_type, job.expires_at) {
            (JobType::Trade, Some(t)) => t,
            _ => fallback,
        }
    }

    /// Waits until the terminal answers `info` as connected, or `deadline`.
    async fn wait_connected(&self, deadline: DateTime<Utc>) -> Result<(), TerminalError> {
        let mut logged = false;
        loop {
            let err = match self.terminal.info().await {
                Ok(info) if info.connected => return Ok(()),
                Ok(_) => TerminalError::NotConnected("the terminal reports no connection".into()),
                Err(e) => e,
            };
            if Utc::now() >= deadline {
                return Err(err);
            }
            if !logged {
                tracing::warn!(error = %err, "terminal not connected; waiting for it to reconnect");
                logged = true;
            }
            tokio::time::sleep(self.opts.reconnect_poll).await;
        }
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
        let r = match job.job_type {
            JobType::Trade => return self.trade(job).await,
            JobType::ClosePosition => return self.close_position(job).await,
            JobType::GetPositions => self.get_positions().await,
            JobType::GetAccount => self.get_account().await,
            JobType::GetCandles => self.get_candles(job).await,
            JobType::Compile => self.compile(job).await,
            JobType::Test => self.test(job).await,
            JobType::Deploy => return self.deploy(job).await,
            JobType::Run => return self.run_or_stop(job, true).await,
            JobType::Stop => return self.run_or_stop(job, false).await,
        };
        Ok(r)
    }

    async fn trade(&self, job: &ClaimedJob) -> Result<JobResultRequest, JournalError> {
        let input: TradeInput = match parse(job) {
            Ok(i) => i,
            Err(r) => return Ok(r),
        };
        if expired(job, Utc::now()) {
            return Ok(expired_result(job));
        }
        let deadline = self.trading_deadline(job);
        if let Err(e) = self.wait_connected(deadline).await {
            if expired(job, Utc::now()) {
                return Ok(failed(format!(
                    "expired: not executed: {}",
                    describe_terminal_error(&e)
                )));
            }
            return Ok(failed(describe_terminal_error(&e)));
        }
        let si = match self.terminal.symbol_info(&input.symbol).await {
            Ok(si) => si,
            Err(e) => {
                return Ok(failed(format!(
                    "cannot read symbol {}: {}",
                    input.symbol,
                    describe_terminal_error(&e)
                )))
            }
        };
        // The webhook's daily loss limit, when it knew today's losses but no balance.
        let loss_check = input.daily_loss_check;
        let balance = if input.volume.is_none() || loss_check.is_some() {
            match self.terminal.account().await {
                Ok(a) => a.balance,
                Err(e) => {
                    return Ok(failed(format!(
                        "cannot read the account balance to {}: {}",
                        if loss_check.is_some() {
                            "check the daily loss limit"
                        } else {
                            "size the order"
                        },
                        describe_terminal_error(&e)
                    )))
                }
            }
        } else {
            0.0
        };
        if let Some(c) = loss_check {
            if let Err(m) = check_daily_loss(&c, balance) {
                return Ok(failed(m));
            }
        }
        let mut volume = match sizing::volume(&input, &si, balance) {
            Ok(v) => v,
            Err(m) => return Ok(failed(m)),
        };
        // The webhook may cap risk-sized orders (`max_volume`, lots).
        if let Some(max) = input.max_volume.filter(|m| *m > 0.0) {
            volume = volume.min(sizing::normalize_volume(max, &si));
        }
        let (sl, tp) = sizing::stops(&input, &si);
        let comment = job_comment(job.job_id);
        let order = OrderRequest {
            symbol: input.symbol.clone(),
            side: input.side,
            volume,
            sl,
            tp,
            comment: comment.clone(),
            magic: AGENT_MAGIC,
        };
        // Re-check the deadline right before the point of no return.
        if expired(job, Utc::now()) {
            return Ok(expired_result(job));
        }
        self.journal.mark_sent(job.job_id, &comment).await?;
        let reply = self.terminal.send_order(&order).await;
        let result = match reply {
            Ok(fill) => completed(&TradeOutput {
                fill_price: fill.price,
                ticket: fill.ticket,
                order_id: fill.order_id,
                volume: fill.volume,
            }),
            Err(TerminalError::Rejected { retcode, message }) => {
                failed(describe_terminal_error(&TerminalError::Rejected {
                    retcode,
                    message,
                }))
            }
            Err(e) => {
                // The outcome is unknown (timeout, connection lost mid-request):
                // look the order up by its comment; never send it a second time here.
                let _ = self
                    .wait_connected(deadline.max(Utc::now() + chrono::Duration::seconds(5)))
                    .await;
                match self.terminal.find_by_comment(&comment).await {
                    Ok(deals) if !deals.is_empty() => self.result_from_deals(job, &deals),
                    Ok(_) => failed(format!("the order was not confirmed ({}) and no order with comment {comment} exists in the terminal; not retried", describe_terminal_error(&e))),
                    Err(e2) => failed(format!("outcome unknown: {} (and the lookup by comment {comment} failed: {})", describe_terminal_error(&e), describe_terminal_error(&e2))),
                }
            }
        };
        self.after_terminal_reply(job, &result).await
    }

    /// Journals the result of a terminal round trip; the crash hook fires here.
    async fn after_terminal_reply(
        &self,
        job: &ClaimedJob,
        result: &JobResultRequest,
    ) -> Result<JobResultRequest, JournalError> {
        let stored = self.journal.record_result(job.job_id, result).await?;
        if self.opts.crash_after_sent {
            tracing::error!(job_id = %job.job_id, "{CRASH_AFTER_ENV}=sent_to_terminal: aborting before posting the result (test hook)");
            std::process::abort();
        }
        Ok(stored)
    }

    async fn close_position(&self, job: &ClaimedJob) -> Result<JobResultRequest, JournalError> {
        let input: ClosePositionInput = match parse(job) {
            Ok(i) => i,
            Err(r) => return Ok(r),
        };
        if expired(job, Utc::now()) {
            return Ok(expired_result(job));
        }
        if let Err(e) = self.wait_connected(self.trading_deadline(job)).await {
            return Ok(failed(describe_terminal_error(&e)));
        }
        let comment = job_comment(job.job_id);
        let tickets: Vec<u64> = match (input.ticket, &input.symbol) {
            (Some(t), _) => vec![t],
            (None, Some(symbol)) => match self.terminal.positions().await {
                Ok(ps) => ps
                    .into_iter()
                    .filter(|p| {
                        p.symbol.eq_ignore_ascii_case(symbol)
                            && input.side.is_none_or(|s| s == p.side)
                    })
                    .map(|p| p.ticket)
                    .collect(),
                Err(e) => {
                    return Ok(failed(format!(
                        "cannot list positions: {}",
                        describe_terminal_error(&e)
                    )))
                }
            },
            (None, None) => return Ok(failed("close_position input needs a ticket or a symbol")),
        };
        if tickets.is_empty() {
            let side = input
                .side
                .map(|s| format!(" ({s:?})").to_lowercase())
                .unwrap_or_default();
            return Ok(failed(format!(
                "no open position on {}{side} to close",
                input.symbol.unwrap_or_default()
            )));
        }
        self.journal.mark_sent(job.job_id, &comment).await?;
        let mut closed = Vec::new();
        let mut last_price = 0.0;
        let mut pnl = 0.0;
        let mut error = None;
        for t in &tickets {
            match self.terminal.close_position(*t, &comment).await {
                Ok(fill) => {
                    closed.push(fill.ticket);
                    last_price = fill.price;
                    pnl += fill.pnl;
                }
                Err(e) => {
                    error = Some(format!(
                        "closing ticket {t} failed: {}",
                        describe_terminal_error(&e)
                    ));
                    break;
                }
            }
        }
        let result = match error {
            Some(m) if closed.is_empty() => failed(m),
            Some(m) => JobResultRequest {
                status: ResultStatus::Failed,
                output_data: serde_json::to_value(ClosePositionOutput {
                    closed_price: last_price,
                    pnl,
                    tickets: closed,
                })
                .ok(),
                error_message: Some(format!("only some positions were closed; {m}")),
            },
            None => completed(&ClosePositionOutput {
                closed_price: last_price,
                pnl,
                tickets: closed,
            }),
        };
        self.after_terminal_reply(job, &result).await
    }

    async fn get_positions(&self) -> JobResultRequest {
        if let Err(r) = self.require_connected().await {
            return r;
        }
        match self.terminal.positions().await {
            Ok(positions) => completed(&PositionsOutput { positions }),
            Err(e) => failed(describe_terminal_error(&e)),
        }
    }

    async fn get_account(&self) -> JobResultRequest {
        if let Err(r) = self.require_connected().await {
            return r;
        }
        match self.terminal.account().await {
            Ok(a) => completed::<AccountOutput>(&a),
            Err(e) => failed(describe_terminal_error(&e)),
        }
    }

    async fn get_candles(&self, job: &ClaimedJob) -> JobResultRequest {
        let input: CandlesInput = match parse(job) {
            Ok(i) => i,
            Err(r) => return r,
        };
        if input.count == 0 || input.count > 50_000 {
            return failed(format!(
                "invalid count {}: ask for 1 to 50000 candles",
                input.count
            ));
        }
        if let Err(r) = self.require_connected().await {
            return r;
        }
        match self
            .terminal
            .candles(&input.symbol, input.timeframe, input.count)
            .await
        {
            Ok(candles) => completed(&CandlesOutput { candles }),
            Err(e) => failed(format!(
                "cannot read {} candles: {}",
                input.symbol,
                describe_terminal_error(&e)
            )),
        }
    }

    async fn compile(&self, job: &ClaimedJob) -> JobResultRequest {
        let input: CompileInput = match parse(job) {
            Ok(i) => i,
            Err(r) => return r,
        };
        match self
            .toolchain
            .compile(input.version_id, &input.source)
            .await
        {
            Ok(out) if out.compiled => completed(&out),
            Ok(out) => {
                let first = out
                    .errors
                    .first()
                    .map(|d| {
                        format!(
                            "; first: {}({},{}) error {}: {}",
                            d.file, d.line, d.column, d.code, d.message
                        )
                    })
                    .unwrap_or_default();
                JobResultRequest {
                    status: ResultStatus::Failed,
                    error_message: Some(format!(
                        "compilation failed: {} error(s), {} warning(s){first}",
                        out.errors.len(),
                        out.warnings.len()
                    )),
                    output_data: serde_json::to_value(&out).ok(),
                }
            }
            Err(e) => failed(toolchain_message(&e)),
        }
    }

    async fn test(&self, job: &ClaimedJob) -> JobResultRequest {
        let input: TestInput = match parse(job) {
            Ok(i) => i,
            Err(r) => return r,
        };
        match self.toolchain.test(&input).await {
            Ok(report) => completed(&TestOutput { report }),
            Err(e) => failed(toolchain_message(&e)),
        }
    }

    async fn deploy(&self, job: &ClaimedJob) -> Result<JobResultRequest, JournalError> {
        let input: DeployInput = match parse(job) {
            Ok(i) => i,
            Err(r) => return Ok(r),
        };
        if let Err(r) = self.require_connected().await {
            return Ok(r);
        }
        let expert = expert_name(input.version_id);
        let d = ChartDeployment {
            expert: expert.clone(),
            symbol: input.symbol.clone(),
            timeframe: input.timeframe,
            magic: input.magic_number,
            inputs: input.inputs.clone().unwrap_or_default(),
        };
        match self.terminal.deploy(&d).await {
            Ok(chart_id) => {
                self.journal
                    .save_deployment(&DeploymentRecord {
                        deployment_id: input.deployment_id,
                        chart_id,
                        expert,
                        symbol: input.symbol,
                        timeframe: format!("{:?}", input.timeframe),
                        running: true,
                    })
                    .await?;
                Ok(completed(&DeployOutput {
                    deployed: true,
                    chart_id,
                }))
            }
            Err(e) => Ok(failed(format!(
                "deploy failed: {}",
                describe_terminal_error(&e)
            ))),
        }
    }

    async fn run_or_stop(
        &self,
        job: &ClaimedJob,
        run: bool,
    ) -> Result<JobResultRequest, JournalError> {
        let input: DeploymentRef = match parse(job) {
            Ok(i) => i,
            Err(r) => return Ok(r),
        };
        let Some(dep) = self.journal.deployment(input.deployment_id).await? else {
            return Ok(failed(format!(
                "deployment {} is not known to this agent (no chart was opened for it here); deploy it first",
                input.deployment_id
            )));
        };
        if let Err(r) = self.require_connected().await {
            return Ok(r);
        }
        let reply = if run {
            self.terminal.run(dep.chart_id).await
        } else {
            self.terminal.stop(dep.chart_id).await
        };
        match reply {
            Ok(()) => {
                self.journal
                    .set_deployment_running(input.deployment_id, run)
                    .await?;
                Ok(if run {
                    completed(&RunOutput { running: true })
                } else {
                    completed(&StopOutput { stopped: true })
                })
            }
            Err(e) => Ok(failed(format!(
                "{} failed on chart {}: {}",
                if run { "run" } else { "stop" },
                dep.chart_id,
                describe_terminal_error(&e)
            ))),
        }
    }
}

fn toolchain_message(e: &ToolchainError) -> String {
    e.to_string()
}

/// The trade input's `daily_loss_check` (set by the webhook when it knew today's
/// realised loss but not the balance) against the live balance: `Err(reason)` when
/// the order must not be sent, because the loss reached `limit_pct` % of it.
pub(crate) fn check_daily_loss(c: &DailyLossCheck, balance: f64) -> Result<(), String> {
    if balance.is_nan() || balance <= 0.0 {
        return Err(format!(
            "daily_loss_limit: today's realised loss is {:.2} and the terminal reports no positive balance ({balance:.2}), so the limit cannot be checked; not sent",
            c.loss_today
        ));
    }
    let limit = balance * c.limit_pct / 100.0;
    if c.loss_today >= limit {
        return Err(format!(
            "daily_loss_limit: today's realised loss {:.2} reached the daily limit {limit:.2} ({}% of the balance {balance:.2}); only closes are accepted until 00:00 UTC",
            c.loss_today, c.limit_pct
        ));
    }
    Ok(())
}
