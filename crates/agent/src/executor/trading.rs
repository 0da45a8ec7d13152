//! Trading jobs, the ones that move money: `trade` (sized, checked against the
//! daily loss limit, sent once) and `close_position`, and the reconciliation of a
//! job journaled as sent but without a result, by its order comment.

use chrono::{DateTime, Utc};
use companion_protocol::{
    ClaimedJob, ClosePositionInput, ClosePositionOutput, DailyLossCheck, JobResultRequest, JobType,
    ResultStatus, TradeInput, TradeOutput,
};
use companion_terminal::{DealRecord, OrderFill, OrderRequest, Terminal, TerminalError};

use super::{
    completed, describe_terminal_error, failed, job_comment, Executor, AGENT_MAGIC, CRASH_AFTER_ENV,
};
use crate::journal::JournalError;
use crate::sizing;
use crate::toolchain::Toolchain;

/// Lookups by comment for a fill whose deal the terminal had not recorded yet.
const LATE_DEAL_LOOKUPS: u32 = 5;

fn expired(job: &ClaimedJob, now: DateTime<Utc>) -> bool {
    job.expires_at.is_some_and(|t| t <= now)
}

fn expired_result(job: &ClaimedJob) -> JobResultRequest {
    let when = job.expires_at.map(|t| t.to_rfc3339()).unwrap_or_default();
    failed(format!(
        "expired: not executed (the trade's deadline {when} passed before it could be sent)"
    ))
}

impl<T: Terminal + 'static, C: Toolchain + 'static> Executor<T, C> {
    /// A trade/close journaled as sent but without a result: found in the terminal
    /// by comment → completed with that fill; not found → sent (once) if still valid.
    pub(super) async fn resume_trading(
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

    pub(super) fn result_from_deals(
        &self,
        job: &ClaimedJob,
        deals: &[DealRecord],
    ) -> JobResultRequest {
        let last = &deals[deals.len() - 1];
        match job.job_type {
            JobType::ClosePosition => completed(&ClosePositionOutput {
                closed_price: last.price,
                // The closing deals' own profit (+ swap + commission).
                pnl: deals.iter().filter_map(|d| d.profit).sum(),
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

    /// Deals with `comment` from the terminal's history, asked a few times: right
    /// after an order the deal may not be recorded yet (the EA then reports its
    /// price and position as unknown). Empty when it never showed up.
    async fn late_deals(
        &self,
        comment: &str,
        want: impl Fn(&[DealRecord]) -> bool,
    ) -> Vec<DealRecord> {
        for attempt in 0..LATE_DEAL_LOOKUPS {
            if attempt > 0 {
                tokio::time::sleep(self.opts.reconnect_poll).await;
            }
            match self.terminal.find_by_comment(comment).await {
                Ok(deals) if !deals.is_empty() && want(&deals) => return deals,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(%comment, error = %e, "looking up a late deal by comment failed")
                }
            }
        }
        Vec::new()
    }

    /// The trade's result from a fill the terminal reported with unknown price or
    /// position: from the history by comment, never a made-up number.
    async fn trade_result_from_partial_fill(
        &self,
        job: &ClaimedJob,
        comment: &str,
        fill: &OrderFill,
    ) -> JobResultRequest {
        let deals = self.late_deals(comment, |_| true).await;
        if !deals.is_empty() {
            tracing::info!(job_id = %job.job_id, %comment, "fill price/position read from the history (the terminal's reply did not have them yet)");
            return self.result_from_deals(job, &deals);
        }
        match (fill.price, fill.ticket) {
            (Some(price), Some(ticket)) => completed(&TradeOutput {
                fill_price: price,
                ticket,
                order_id: fill.order_id,
                volume: fill.volume,
            }),
            _ => failed(format!(
                "executed but unconfirmed: MT5 accepted order {} ({} lots) but its deal was not in the terminal's history after {LATE_DEAL_LOOKUPS} lookups, so the fill price and position are unknown. Do not send it again: check the position with comment {comment} in MT5.",
                fill.order_id, fill.volume
            )),
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

    pub(super) async fn trade(
        &self,
        job: &ClaimedJob,
        input: TradeInput,
    ) -> Result<JobResultRequest, JournalError> {
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
            filling: sizing::filling(&si),
        };
        // Re-check the deadline right before the point of no return.
        if expired(job, Utc::now()) {
            return Ok(expired_result(job));
        }
        self.journal.mark_sent(job.job_id, &comment).await?;
        let reply = self.terminal.send_order(&order).await;
        let result = match reply {
            Ok(OrderFill {
                order_id,
                ticket: Some(ticket),
                price: Some(fill_price),
                volume,
            }) => completed(&TradeOutput {
                fill_price,
                ticket,
                order_id,
                volume,
            }),
            Ok(fill) => {
                self.trade_result_from_partial_fill(job, &comment, &fill)
                    .await
            }
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

    pub(super) async fn close_position(
        &self,
        job: &ClaimedJob,
        input: ClosePositionInput,
    ) -> Result<JobResultRequest, JournalError> {
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
        let mut last_price = Some(0.0);
        let mut pnl = Some(0.0);
        let mut error = None;
        for t in &tickets {
            match self.terminal.close_position(*t, &comment).await {
                Ok(fill) => {
                    closed.push(fill.ticket);
                    last_price = fill.price;
                    pnl = pnl.zip(fill.pnl).map(|(a, b)| a + b);
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
        // A closing deal not in the history yet when the terminal answered: its
        // price/profit come from the history by comment, or stay unknown.
        let (last_price, pnl) = match (last_price, pnl) {
            (Some(p), Some(v)) if !closed.is_empty() => (Some(p), Some(v)),
            _ if closed.is_empty() => (Some(0.0), Some(0.0)),
            _ => {
                let n = closed.len();
                let deals = self
                    .late_deals(&comment, |d| {
                        d.iter().filter(|r| r.profit.is_some()).count() >= n
                    })
                    .await;
                let outs: Vec<&DealRecord> = deals.iter().filter(|d| d.profit.is_some()).collect();
                match outs.last() {
                    Some(last) if outs.len() >= n => (
                        Some(last.price),
                        Some(outs.iter().filter_map(|d| d.profit).sum()),
                    ),
                    _ => (None, None),
                }
            }
        };
        let (Some(last_price), Some(pnl)) = (last_price, pnl) else {
            let result = JobResultRequest {
                status: ResultStatus::Failed,
                output_data: serde_json::to_value(serde_json::json!({ "tickets": closed })).ok(),
                error_message: Some(format!(
                    "closed {} position(s) ({}), but the closing deals were not in the terminal's history yet: close price and profit unknown; see the deals with comment {comment} in MT5{}",
                    closed.len(),
                    closed.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
                    error.map(|m| format!("; {m}")).unwrap_or_default()
                )),
            };
            return self.after_terminal_reply(job, &result).await;
        };
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
