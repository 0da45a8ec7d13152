//! Trading jobs, the ones that move money: `trade` (sized, checked against the
//! daily loss limit, sent once) and `close_position`, and the reconciliation of a
//! job journaled as sent but without a result, by its order comment.

use chrono::{DateTime, Utc};
use companion_protocol::{
    ClaimedJob, ClosePositionInput, ClosePositionOutput, ClosedPosition, DailyLossCheck,
    JobResultRequest, JobType, Position, ResultStatus, Side, TerminalInfo, TradeInput, TradeOutput,
};
use companion_terminal::{DealRecord, OrderFill, OrderRequest, Terminal, TerminalError};

use super::manage;
use super::ownership::{self, EntryPlan};
use super::{
    completed, describe_terminal_error, failed, job_comment, Executor, AGENT_MAGIC, CRASH_AFTER_ENV,
};
use crate::filters;
use crate::journal::JournalError;
use crate::sizing;
use crate::symbols::{Purpose, ResolveError};
use crate::toolchain::Toolchain;
use companion_terminal::bridge::{comment_is_job, order_comment};

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
                let result = self.result_from_deals(job, &deals);
                Ok(self.rules_of_reconciled(job, result).await)
            }
            Ok(_) => {
                // A pending order placed before the stop is among the terminal's open
                // orders, not (yet) in its deals.
                match self.pending_order_of(job, &comment).await {
                    Ok(Some(result)) => {
                        tracing::info!(job_id = %job.job_id, %comment, "reconciled: the terminal already has this job's pending order; not sending again");
                        return Ok(self.rules_of_reconciled(job, result).await);
                    }
                    Ok(None) => {}
                    Err(m) => return Ok(failed(m)),
                }
                tracing::warn!(job_id = %job.job_id, %comment, sends, "reconciled: no order with this job's comment in the terminal; sending it now");
                self.execute(job).await
            }
            Err(e) => Ok(failed(format!(
                "outcome unknown: could not look up order {comment} in the terminal: {}",
                describe_terminal_error(&e)
            ))),
        }
    }

    /// A trade reconciled from the terminal's history: its rules set (again; the
    /// terminal keeps the progress of identical rules).
    pub(super) async fn rules_of_reconciled(
        &self,
        job: &ClaimedJob,
        result: JobResultRequest,
    ) -> JobResultRequest {
        if job.job_type != JobType::Trade {
            return result;
        }
        match serde_json::from_value::<companion_protocol::TradeInput>(job.input_data.clone()) {
            Ok(i) => {
                self.attach_stop_rules(i.breakeven, i.trailing, result)
                    .await
            }
            Err(_) => result,
        }
    }

    /// The job's pending order among the terminal's open orders (by the tag in its
    /// comment, new or old form), as the trade's result; `Ok(None)` when there is
    /// none or the job is not a pending trade. `Err` = cannot tell (the orders could
    /// not be listed): the caller must not send.
    pub(super) async fn pending_order_of(
        &self,
        job: &ClaimedJob,
        comment: &str,
    ) -> Result<Option<JobResultRequest>, String> {
        let pending = job.job_type == JobType::Trade
            && serde_json::from_value::<TradeInput>(job.input_data.clone())
                .is_ok_and(|t| t.is_pending());
        if !pending {
            return Ok(None);
        }
        let orders = self.terminal.orders().await.map_err(|e| {
            format!(
                "outcome unknown: the pending order for this job (comment {comment}) was handed to the terminal, whose open orders cannot be listed to confirm it: {}",
                describe_terminal_error(&e)
            )
        })?;
        Ok(orders
            .into_iter()
            .find(|o| {
                companion_terminal::bridge::comment_matches(&o.comment, comment)
                    || comment_is_job(&o.comment, job.job_id)
            })
            .map(|o| {
                completed(&TradeOutput {
                    fill_price: o.price,
                    ticket: 0,
                    order_id: o.ticket,
                    volume: o.volume,
                    position_effect: None,
                    closed: Vec::new(),
                    pending: true,
                    stop_rule: None,
                    stop_rule_error: None,
                })
            }))
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
                // A closing deal's side is the opposite of the position's.
                closed: deals
                    .iter()
                    .map(|d| ClosedPosition {
                        ticket: d.ticket,
                        symbol: d.symbol.clone(),
                        side: opposite(d.side),
                        volume: d.volume,
                        price: d.price,
                        pnl: d.profit.unwrap_or(0.0),
                    })
                    .collect(),
            }),
            _ => {
                // (A reversing entry's closes carry the job's comment too; the
                // reconciled result reports the first record, as before.)
                let first = &deals[0];
                completed(&TradeOutput {
                    fill_price: first.price,
                    ticket: first.ticket,
                    order_id: first.order_id,
                    volume: first.volume,
                    position_effect: None,
                    closed: Vec::new(),
                    pending: false,
                    stop_rule: None,
                    stop_rule_error: None,
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
        closed_first: Vec<ClosedPosition>,
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
                position_effect: None,
                closed: closed_first,
                pending: false,
                stop_rule: None,
                stop_rule_error: None,
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

    /// [`Self::wait_connected`] for the other executor modules.
    pub(super) async fn wait_connected_until(
        &self,
        deadline: DateTime<Utc>,
    ) -> Result<TerminalInfo, TerminalError> {
        self.wait_connected(deadline).await
    }

    /// Waits until the terminal answers `info` as connected, or `deadline`.
    async fn wait_connected(&self, deadline: DateTime<Utc>) -> Result<TerminalInfo, TerminalError> {
        let mut logged = false;
        loop {
            let err = match self.terminal.info().await {
                Ok(info) if info.connected => return Ok(info),
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
        let rules = (input.breakeven, input.trailing);
        let deadline = self.trading_deadline(job);
        let info = match self.wait_connected(deadline).await {
            Ok(info) => info,
            Err(e) => {
                if expired(job, Utc::now()) {
                    return Ok(failed(format!(
                        "expired: not executed: {}",
                        describe_terminal_error(&e)
                    )));
                }
                return Ok(failed(describe_terminal_error(&e)));
            }
        };
        // The job names the canonical instrument; the broker may call it otherwise.
        let symbol = match self
            .symbols
            .resolve(
                &*self.terminal,
                &input.symbol,
                input.raw_symbol.as_deref(),
                Purpose::Open,
            )
            .await
        {
            Ok(r) => r.broker_symbol,
            Err(e) => return Ok(failed(e.to_string())),
        };
        let si = match self.terminal.symbol_info(&symbol).await {
            Ok(si) => si,
            Err(e) => {
                return Ok(failed(format!(
                    "cannot read symbol {symbol}: {}",
                    describe_terminal_error(&e)
                )))
            }
        };
        // Rules the terminal could not run are refused before anything is sent.
        if rules.0.is_some() || rules.1.is_some() {
            if let Err(m) = super::stop_rules::to_wire(&si, si.ask.max(si.bid), 0, rules.0, rules.1)
            {
                return Ok(failed(m));
            }
        }
        // The webhook's daily loss limit, when it knew today's losses but no balance.
        let loss_check = input.daily_loss_check;
        let filters = input.filters.as_deref().cloned().unwrap_or_default();
        let explicit_lots = matches!(
            sizing::volume_spec(&input),
            Ok(companion_protocol::VolumeSpec::Lots { .. })
        );
        let account_minimums = filters.min_balance.is_some()
            || filters.min_equity.is_some()
            || filters.min_free_margin.is_some();
        let account = if !explicit_lots || loss_check.is_some() || account_minimums {
            match self.terminal.account().await {
                Ok(a) => Some(a),
                Err(e) => {
                    return Ok(failed(format!(
                        "cannot read the account balance to {}: {}",
                        if loss_check.is_some() {
                            "check the daily loss limit"
                        } else if explicit_lots {
                            "check the strategy's account filters"
                        } else {
                            "size the order"
                        },
                        describe_terminal_error(&e)
                    )))
                }
            }
        } else {
            None
        };
        let funds = account
            .as_ref()
            .map(|a| sizing::Funds {
                balance: a.balance,
                equity: a.equity,
            })
            .unwrap_or_default();
        if let Some(c) = loss_check {
            if let Err(m) = check_daily_loss(&c, funds.balance) {
                return Ok(failed(m));
            }
        }
        let mut volume = match sizing::volume(&input, &si, funds) {
            Ok(v) => v,
            Err(m) => return Ok(failed(m)),
        };
        // The webhook caps orders at the user's `max_lots` (`max_volume`, lots).
        if let Some(max) = input.max_volume.filter(|m| *m > 0.0) {
            volume = volume.min(sizing::normalize_volume(max, &si));
        }
        // The strategy's filters, with the symbol's quote read just now.
        if !filters.is_empty() {
            if let Err(m) = filters::check(&filters, &si, account.as_ref(), Utc::now()) {
                return Ok(failed(m));
            }
        }
        // Positions are listed once: for the cap and for `opposite_entry`.
        let positions = if input.magic.is_some() || input.max_positions.is_some() {
            match self.terminal.positions().await {
                Ok(ps) => Some(ps),
                Err(e) => {
                    return Ok(failed(format!(
                        "cannot list positions to apply {}: {}",
                        if input.max_positions.is_some() {
                            "max_positions"
                        } else {
                            "opposite_entry"
                        },
                        describe_terminal_error(&e)
                    )))
                }
            }
        } else {
            None
        };
        if let (Some(cap), Some(ps)) = (input.max_positions, positions.as_ref()) {
            let magic = input.magic.unwrap_or(AGENT_MAGIC);
            if let Err(m) = filters::check_max_positions(ps, &symbol, input.side, magic, cap) {
                return Ok(failed(m));
            }
        }
        if input.is_pending() {
            if expired(job, Utc::now()) {
                return Ok(expired_result(job));
            }
            return self.trade_pending(job, input, symbol, si, volume).await;
        }
        let (sl, tp) = sizing::stops(&input, &si);
        // The job's tag, then the alert's comment as far as MT5's 31 characters allow.
        let comment = order_comment(job.job_id, input.comment.as_deref());
        // A strategy's entry: its opposite positions (by magic) decide what happens.
        let netting = info.margin_mode.is_some_and(|m| m.is_netting());
        let plan = match (input.magic, positions.as_ref()) {
            (Some(magic), Some(positions)) => {
                match ownership::entry_plan(
                    positions,
                    &symbol,
                    input.side,
                    magic,
                    input.opposite_entry.unwrap_or_default(),
                    netting,
                ) {
                    Ok(p) if input.close_same_side => Some(ownership::close_same_side_first(
                        p, positions, &symbol, input.side, magic, netting,
                    )),
                    Ok(p) => Some(p),
                    Err(m) => return Ok(failed(m)),
                }
            }
            (None, _) if input.close_same_side => {
                return Ok(failed(
                    "close_same_side needs the strategy's magic (the positions to close first are the strategy's)",
                ))
            }
            _ => None,
        };
        let mut order = OrderRequest {
            symbol: symbol.clone(),
            side: input.side,
            volume,
            sl,
            tp,
            comment: comment.clone(),
            magic: input.magic.unwrap_or(AGENT_MAGIC),
            filling: sizing::filling(&si),
            deviation: input.deviation,
        };
        // Re-check the deadline right before the point of no return.
        if expired(job, Utc::now()) {
            return Ok(expired_result(job));
        }
        self.journal.mark_sent(job.job_id, &comment).await?;
        // `reverse`: close the strategy's opposite positions first, then open.
        let mut closed_first = Vec::new();
        if let Some(p) = &plan {
            let (closed, unconfirmed, error) = self.close_each(&p.close_first, &comment).await;
            closed_first = closed;
            let error = match (unconfirmed.is_empty(), error) {
                (true, e) => e,
                (false, e) => Some(format!(
                    "{}{}",
                    unconfirmed_message(&unconfirmed, &comment),
                    e.map(|m| format!("; {m}")).unwrap_or_default()
                )),
            };
            if let Some(m) = error {
                let r = JobResultRequest {
                    status: ResultStatus::Failed,
                    output_data: None,
                    error_message: Some(format!(
                        "the strategy's opposite position could not be closed ({m}); the entry was not sent{}",
                        if closed_first.is_empty() {
                            String::new()
                        } else {
                            format!(
                                " (closed before the failure: {})",
                                closed_first
                                    .iter()
                                    .map(|c| format!("#{}", c.ticket))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    )),
                };
                return self.after_terminal_reply(job, &r).await;
            }
        }
        let reply = self.send_entry(job, &input, &mut order).await;
        self.crash_hook_after_reply(job);
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
                position_effect: Some(ownership::position_effect(
                    plan.as_ref().unwrap_or(&EntryPlan {
                        close_first: Vec::new(),
                        net_before: None,
                    }),
                    input.side,
                    volume,
                )),
                closed: closed_first,
                pending: false,
                stop_rule: None,
                stop_rule_error: None,
            }),
            // The deal was not in the history when the terminal answered.
            Ok(fill) => {
                self.trade_result_from_partial_fill(job, &comment, &fill, closed_first)
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
        // Breakeven/trailing: set at the terminal on the new position before the
        // result is journaled (a resumed job sets them again: idempotent).
        let result = self.attach_stop_rules(rules.0, rules.1, result).await;
        self.after_terminal_reply(job, &result).await
    }

    /// Sends a market entry. Stops given as distances (pips, points, percent) are
    /// placed from the quote read right before the send: the one read for sizing
    /// may be several round trips old (positions listed, opposite positions closed)
    /// and a tight stop could already be on the wrong side. A definite
    /// `invalid stops` rejection (nothing was opened) of such an order is retried
    /// once with a fresh quote, unless the job's deadline passed meanwhile.
    async fn send_entry(
        &self,
        job: &ClaimedJob,
        input: &TradeInput,
        order: &mut OrderRequest,
    ) -> Result<OrderFill, TerminalError> {
        if !sizing::has_distance_stops(input) {
            return self.terminal.send_order(order).await;
        }
        self.restop(input, order).await;
        let reply = self.terminal.send_order(order).await;
        match reply {
            Err(TerminalError::Rejected { retcode, .. })
                if retcode == companion_terminal::retcode::INVALID_STOPS
                    && !expired(job, Utc::now()) =>
            {
                tracing::info!(job_id = %job.job_id, "invalid stops: the price moved past a stop given as a distance; sending once more from a fresh quote");
                self.restop(input, order).await;
                self.terminal.send_order(order).await
            }
            r => r,
        }
    }

    /// Recomputes `order`'s distance stops from a fresh quote (kept as they are
    /// when the quote cannot be read: the terminal then judges them).
    async fn restop(&self, input: &TradeInput, order: &mut OrderRequest) {
        if let Ok(si) = self.terminal.symbol_info(&order.symbol).await {
            let (sl, tp) = sizing::stops(input, &si);
            order.sl = sl;
            order.tp = tp;
        }
    }

    /// The `terminal_replied` crash hook: the terminal has the order, the journal
    /// still says only `sent_to_terminal`.
    pub(super) fn crash_hook_after_reply(&self, job: &ClaimedJob) {
        if self.opts.crash_after_reply {
            tracing::error!(job_id = %job.job_id, "{CRASH_AFTER_ENV}=terminal_replied: aborting before journaling the terminal's reply (test hook)");
            std::process::abort();
        }
    }

    /// Journals the result of a terminal round trip; the crash hook fires here.
    pub(super) async fn after_terminal_reply(
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
        let positions = match self.terminal.positions().await {
            Ok(ps) => ps,
            Err(e) => {
                return Ok(failed(format!(
                    "cannot list positions: {}",
                    describe_terminal_error(&e)
                )))
            }
        };
        let selected: Vec<Position> = match (input.ticket, &input.symbol) {
            // The app's close of one position: whoever owns it.
            (Some(t), _) => match positions.into_iter().find(|p| p.ticket == t) {
                Some(p) => vec![p],
                None => return Ok(failed(format!("no open position with ticket {t}"))),
            },
            (None, _) if input.all_symbols => ownership::close_selection(&positions, &input, None),
            (None, Some(symbol)) => {
                let names = self.close_names(symbol, input.raw_symbol.as_deref()).await;
                ownership::close_selection(&positions, &input, Some(&names))
            }
            (None, None) => return Ok(failed("close_position input needs a ticket or a symbol")),
        };
        if selected.is_empty() {
            let side = input
                .side
                .map(|s| format!(" ({s:?})").to_lowercase())
                .unwrap_or_default();
            let whose = if input.magics.is_empty() {
                String::new()
            } else {
                format!(" with magic {}", join(&input.magics))
            };
            let where_ = if input.all_symbols {
                "any symbol".to_string()
            } else {
                input.symbol.clone().unwrap_or_default()
            };
            return Ok(failed(format!(
                "no open position on {where_}{side}{whose} to close"
            )));
        }
        self.journal.mark_sent(job.job_id, &comment).await?;
        let (closed, unconfirmed, error) = if input.volume.is_some() || input.percent.is_some() {
            self.close_parts(&selected, &comment, input.volume, input.percent)
                .await
        } else {
            self.close_each(&selected, &comment).await
        };
        let output = ClosePositionOutput {
            closed_price: closed.last().map(|c| c.price).unwrap_or(0.0),
            pnl: closed.iter().map(|c| c.pnl).sum(),
            // Every position closed, those with unknown numbers too.
            tickets: closed
                .iter()
                .map(|c| c.ticket)
                .chain(unconfirmed.iter().copied())
                .collect(),
            closed,
        };
        let error = match (unconfirmed.is_empty(), error) {
            (true, e) => e,
            (false, e) => Some(format!(
                "{}{}",
                unconfirmed_message(&unconfirmed, &comment),
                e.map(|m| format!("; {m}")).unwrap_or_default()
            )),
        };
        let result = match error {
            Some(m) if output.tickets.is_empty() => failed(m),
            Some(m) if !unconfirmed.is_empty() => JobResultRequest {
                status: ResultStatus::Failed,
                output_data: serde_json::to_value(&output).ok(),
                error_message: Some(m),
            },
            Some(m) => JobResultRequest {
                status: ResultStatus::Failed,
                output_data: serde_json::to_value(output).ok(),
                error_message: Some(format!("only some positions were closed; {m}")),
            },
            None => completed(&output),
        };
        self.after_terminal_reply(job, &result).await
    }

    /// The broker names whose positions a close of `canonical` closes: the symbol
    /// resolved as for an order (any trade mode); every candidate when several
    /// fit; the job's own names when nothing at the broker does.
    async fn close_names(&self, canonical: &str, raw: Option<&str>) -> Vec<String> {
        match self
            .symbols
            .resolve(&*self.terminal, canonical, raw, Purpose::Close)
            .await
        {
            Ok(r) => vec![r.broker_symbol],
            Err(ResolveError::Ambiguous { candidates, .. }) => candidates,
            Err(_) => [Some(canonical), raw]
                .into_iter()
                .flatten()
                .map(String::from)
                .collect(),
        }
    }

    /// Partial closes of `positions` (`volume` lots or `percent` of each), one by one;
    /// stops at the first failure. Each [`ClosedPosition`] has the volume closed.
    async fn close_parts(
        &self,
        positions: &[Position],
        comment: &str,
        volume: Option<f64>,
        percent: Option<f64>,
    ) -> (Vec<ClosedPosition>, Vec<u64>, Option<String>) {
        let mut closed = Vec::new();
        // Parts the terminal closed without knowing the deal's numbers yet.
        let mut unconfirmed = Vec::new();
        for p in positions {
            let si = match self.terminal.symbol_info(&p.symbol).await {
                Ok(si) => si,
                Err(e) => {
                    return (
                        closed,
                        unconfirmed,
                        Some(format!(
                            "cannot read symbol {}: {}",
                            p.symbol,
                            describe_terminal_error(&e)
                        )),
                    )
                }
            };
            let plan = match manage::partial(&si, p.volume, volume, percent) {
                Ok(plan) => plan,
                Err(m) => {
                    return (
                        closed,
                        unconfirmed,
                        Some(format!("ticket {}: {m}", p.ticket)),
                    )
                }
            };
            let (reply, lots) = match plan {
                manage::Partial::Whole => (
                    self.terminal.close_position(p.ticket, comment).await,
                    p.volume,
                ),
                manage::Partial::Part(v) => {
                    (self.terminal.close_partial(p.ticket, v, comment).await, v)
                }
            };
            match reply {
                Ok(fill) => match (fill.price, fill.pnl) {
                    (Some(price), Some(pnl)) => closed.push(ClosedPosition {
                        ticket: fill.ticket,
                        symbol: p.symbol.clone(),
                        side: p.side,
                        volume: lots,
                        price,
                        pnl,
                    }),
                    _ => unconfirmed.push(fill.ticket),
                },
                Err(e) => {
                    return (
                        closed,
                        unconfirmed,
                        Some(format!(
                            "closing ticket {} failed: {}",
                            p.ticket,
                            describe_terminal_error(&e)
                        )),
                    )
                }
            }
        }
        (closed, unconfirmed, None)
    }

    /// Closes `positions` one by one with the job's comment; stops at the first
    /// failure (closed so far, and the failure). A close whose deal the terminal had
    /// not recorded yet takes its price and profit from the history by comment; when
    /// it never shows up, the failure says which positions were closed with unknown
    /// numbers (never a made-up 0).
    async fn close_each(
        &self,
        positions: &[Position],
        comment: &str,
    ) -> (Vec<ClosedPosition>, Vec<u64>, Option<String>) {
        let mut closed = Vec::new();
        let mut unknown = Vec::new();
        let mut error = None;
        for p in positions {
            match self.terminal.close_position(p.ticket, comment).await {
                Ok(fill) => {
                    if fill.price.is_none() || fill.pnl.is_none() {
                        unknown.push(fill.ticket);
                    }
                    closed.push(ClosedPosition {
                        ticket: fill.ticket,
                        symbol: p.symbol.clone(),
                        side: p.side,
                        volume: p.volume,
                        price: fill.price.unwrap_or(0.0),
                        pnl: fill.pnl.unwrap_or(0.0),
                    });
                }
                Err(e) => {
                    error = Some(format!(
                        "closing ticket {} failed: {}",
                        p.ticket,
                        describe_terminal_error(&e)
                    ));
                    break;
                }
            }
        }
        if unknown.is_empty() {
            return (closed, unknown, error);
        }
        // The closing deals carry the job's comment; `ticket` is their position.
        let closing = |d: &DealRecord| d.profit.is_some() && unknown.contains(&d.ticket);
        let deals = self
            .late_deals(comment, |ds| {
                unknown
                    .iter()
                    .all(|t| ds.iter().any(|d| closing(d) && d.ticket == *t))
            })
            .await;
        let mut still = Vec::new();
        for c in closed.iter_mut().filter(|c| unknown.contains(&c.ticket)) {
            match deals.iter().find(|d| closing(d) && d.ticket == c.ticket) {
                Some(d) => {
                    c.price = d.price;
                    c.pnl = d.profit.unwrap_or(0.0);
                }
                None => still.push(c.ticket),
            }
        }
        closed.retain(|c| !still.contains(&c.ticket));
        (closed, still, error)
    }
}

/// Closes that happened but whose deals the terminal never showed: say so, never 0.
fn unconfirmed_message(tickets: &[u64], comment: &str) -> String {
    format!(
        "closed position(s) {} but their closing deals were not in the terminal's history yet: close price and profit unknown; see the deals with comment {comment} in MT5",
        tickets.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    )
}

fn opposite(s: Side) -> Side {
    match s {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}

fn join(magics: &[i64]) -> String {
    magics
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
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
            "daily_loss_limit: today's realised loss {:.2} reached the daily limit {limit:.2} ({}% of the balance {balance:.2}); only closes are accepted until the trading day ends (00:00 in your trading-day time zone)",
            c.loss_today, c.limit_pct
        ));
    }
    Ok(())
}
