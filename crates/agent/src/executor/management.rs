//! The trade-management jobs: `modify_position` (SL/TP of the selected positions),
//! `cancel_orders` (delete the selected pending orders), and the pending-order path
//! of `trade`. Selection by magic as for closes (see [`super::ownership`]).

use chrono::Utc;
use companion_protocol::{
    CancelOrdersInput, CancelOrdersOutput, ClaimedJob, ClosePositionInput, JobResultRequest,
    ModifiedPosition, ModifyPositionInput, ModifyPositionOutput, OrderType, Position, ResultStatus,
    TradeInput, TradeOutput,
};
use companion_terminal::{PendingRequest, SymbolInfo, Terminal};

use super::manage;
use super::ownership;
use super::{completed, describe_terminal_error, failed, job_comment, Executor, AGENT_MAGIC};
use crate::journal::JournalError;
use crate::sizing;
use crate::symbols::Purpose;
use crate::toolchain::Toolchain;

impl<T: Terminal + 'static, C: Toolchain + 'static> Executor<T, C> {
    async fn symbol_info_of(&self, symbol: &str) -> Result<SymbolInfo, String> {
        self.terminal.symbol_info(symbol).await.map_err(|e| {
            format!(
                "cannot read symbol {symbol}: {}",
                describe_terminal_error(&e)
            )
        })
    }

    /// A pending (`limit` / `stop`) `trade`: placed, not filled.
    pub(super) async fn trade_pending(
        &self,
        job: &ClaimedJob,
        input: TradeInput,
        symbol: String,
        si: SymbolInfo,
        volume: f64,
    ) -> Result<JobResultRequest, JournalError> {
        let order_type = input.order_type.unwrap_or(OrderType::Market);
        let price = match manage::pending_price(
            &si,
            input.side,
            order_type,
            input.entry_price,
            input.entry_offset,
        ) {
            Ok(p) => p,
            Err(m) => return Ok(failed(m)),
        };
        if let Some(exp) = input.expiry {
            if exp <= Utc::now() {
                return Ok(failed(format!(
                    "invalid_expiry: the order's expiry {} has passed",
                    exp.to_rfc3339()
                )));
            }
        }
        // Pips, points and percent are from the order's price.
        let (sl, tp) = sizing::stops_at(&input, &si, price);
        let comment =
            companion_terminal::bridge::order_comment(job.job_id, input.comment.as_deref());
        let order = PendingRequest {
            symbol,
            side: input.side,
            order_type,
            volume,
            price,
            sl,
            tp,
            expiry: input.expiry.map(|t| t.timestamp()),
            comment: comment.clone(),
            magic: input.magic.unwrap_or(AGENT_MAGIC),
            filling: sizing::filling(&si),
        };
        self.journal.mark_sent(job.job_id, &comment).await?;
        let placed = self.terminal.place_order(&order).await;
        self.crash_hook_after_reply(job);
        let result = match placed {
            Ok(placed) => completed(&TradeOutput {
                fill_price: placed.price,
                ticket: 0,
                order_id: placed.order_id,
                volume,
                position_effect: None,
                closed: Vec::new(),
                pending: true,
                stop_rule: None,
                stop_rule_error: None,
            }),
            Err(e @ companion_terminal::TerminalError::Rejected { .. }) => {
                failed(describe_terminal_error(&e))
            }
            // The outcome is unknown (timeout, connection lost mid-request): look the
            // order up among the terminal's pending orders; never place it twice here.
            Err(e) => {
                let _ = self
                    .wait_connected_until(Utc::now() + chrono::Duration::seconds(5))
                    .await;
                match self.pending_order_of(job, &comment).await {
                    Ok(Some(found)) => found,
                    Ok(None) => failed(format!(
                        "the pending order was not confirmed ({}) and no order with comment {comment} exists in the terminal; not retried",
                        describe_terminal_error(&e)
                    )),
                    Err(m) => failed(m),
                }
            }
        };
        let result = self
            .attach_stop_rules(input.breakeven, input.trailing, result)
            .await;
        self.after_terminal_reply(job, &result).await
    }

    pub(super) async fn modify_position(
        &self,
        job: &ClaimedJob,
        input: ModifyPositionInput,
    ) -> Result<JobResultRequest, JournalError> {
        if job.expires_at.is_some_and(|t| t <= Utc::now()) {
            return Ok(failed("expired: not executed (the job's deadline passed)"));
        }
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
            (Some(t), _) => positions.into_iter().filter(|p| p.ticket == t).collect(),
            (None, Some(symbol)) => {
                let names = self
                    .management_names(symbol, input.raw_symbol.as_deref())
                    .await;
                let sel = ClosePositionInput {
                    symbol: Some(symbol.clone()),
                    side: input.side,
                    magics: input.magics.clone(),
                    ..Default::default()
                };
                ownership::close_selection(&positions, &sel, Some(&names))
            }
            (None, None) => return Ok(failed("modify_position needs a ticket or a symbol")),
        };
        if selected.is_empty() {
            return Ok(failed(format!(
                "no_position: no open position matches the modification ({})",
                describe_target(input.ticket, input.symbol.as_deref(), &input.magics)
            )));
        }
        let comment = job_comment(job.job_id);
        self.journal.mark_sent(job.job_id, &comment).await?;
        let mut modified = Vec::new();
        let mut error = None;
        for p in &selected {
            let si = match self.symbol_info_of(&p.symbol).await {
                Ok(si) => si,
                Err(m) => {
                    error = Some(m);
                    break;
                }
            };
            let sl = match input.sl.map(|l| manage::level(&si, p, l, true)) {
                Some(Ok(v)) => v,
                Some(Err(m)) => {
                    error = Some(m);
                    break;
                }
                None => p.sl,
            };
            let tp = match input.tp.map(|l| manage::level(&si, p, l, false)) {
                Some(Ok(v)) => v,
                Some(Err(m)) => {
                    error = Some(m);
                    break;
                }
                None => p.tp,
            };
            let stops_change = input.sl.is_some() || input.tp.is_some();
            if stops_change {
                if let Err(e) = self.terminal.modify_position(p.ticket, sl, tp).await {
                    error = Some(format!(
                        "modifying ticket {} failed: {}",
                        p.ticket,
                        describe_terminal_error(&e)
                    ));
                    break;
                }
            }
            // Breakeven/trailing rules: cancelled, then set, at the terminal.
            let mut stop_rule = p.stop_rule;
            if input.cancel_rules {
                match self.terminal.cancel_stop_rule(p.ticket).await {
                    Ok(_) => stop_rule = None,
                    Err(e) => {
                        error = Some(format!(
                            "cancelling the rules of ticket {} failed: {}",
                            p.ticket,
                            describe_terminal_error(&e)
                        ));
                        break;
                    }
                }
            }
            if input.breakeven.is_some() || input.trailing.is_some() {
                let set = super::stop_rules::to_wire(
                    &si,
                    p.open_price,
                    p.ticket,
                    input.breakeven,
                    input.trailing,
                );
                let r = match set {
                    Ok(args) => self
                        .terminal
                        .set_stop_rule(&args)
                        .await
                        .map_err(|e| describe_terminal_error(&e)),
                    Err(m) => Err(m),
                };
                match r {
                    Ok(state) => stop_rule = Some(state),
                    Err(m) => {
                        error = Some(format!(
                            "setting the rules of ticket {} failed: {m}",
                            p.ticket
                        ));
                        break;
                    }
                }
            }
            modified.push(ModifiedPosition {
                ticket: p.ticket,
                symbol: p.symbol.clone(),
                side: p.side,
                sl,
                tp,
                stop_rule,
            });
        }
        let output = ModifyPositionOutput { modified };
        let result = partial_result(error, output.modified.is_empty(), &output);
        self.journal.record_result(job.job_id, &result).await
    }

    pub(super) async fn cancel_orders(
        &self,
        job: &ClaimedJob,
        input: CancelOrdersInput,
    ) -> Result<JobResultRequest, JournalError> {
        if job.expires_at.is_some_and(|t| t <= Utc::now()) {
            return Ok(failed("expired: not executed (the job's deadline passed)"));
        }
        let orders = match self.terminal.orders().await {
            Ok(os) => os,
            Err(e) => {
                return Ok(failed(format!(
                    "cannot list pending orders: {}",
                    describe_terminal_error(&e)
                )))
            }
        };
        let selected = match (input.ticket, &input.symbol) {
            (Some(t), _) => orders.into_iter().filter(|o| o.ticket == t).collect(),
            (None, Some(symbol)) => {
                let names = self
                    .management_names(symbol, input.raw_symbol.as_deref())
                    .await;
                manage::order_selection(&orders, &names, input.side, &input.magics)
            }
            (None, None) => return Ok(failed("cancel_orders needs a ticket or a symbol")),
        };
        let comment = job_comment(job.job_id);
        self.journal.mark_sent(job.job_id, &comment).await?;
        let mut cancelled = Vec::new();
        let mut error = None;
        for o in selected {
            match self.terminal.cancel_order(o.ticket).await {
                Ok(()) => cancelled.push(o),
                Err(e) => {
                    error = Some(format!(
                        "cancelling order {} failed: {}",
                        o.ticket,
                        describe_terminal_error(&e)
                    ));
                    break;
                }
            }
        }
        // Nothing to cancel is not a failure: the orders are gone either way.
        let output = CancelOrdersOutput { cancelled };
        let result = match error {
            None => completed(&output),
            Some(m) => partial_result(Some(m), output.cancelled.is_empty(), &output),
        };
        self.journal.record_result(job.job_id, &result).await
    }

    /// The broker names of a management job's canonical symbol (as for closes).
    async fn management_names(&self, canonical: &str, raw: Option<&str>) -> Vec<String> {
        match self
            .symbols
            .resolve(&*self.terminal, canonical, raw, Purpose::Close)
            .await
        {
            Ok(r) => vec![r.broker_symbol],
            Err(crate::symbols::ResolveError::Ambiguous { candidates, .. }) => candidates,
            Err(_) => [Some(canonical), raw]
                .into_iter()
                .flatten()
                .map(String::from)
                .collect(),
        }
    }
}

fn describe_target(ticket: Option<u64>, symbol: Option<&str>, magics: &[i64]) -> String {
    match ticket {
        Some(t) => format!("ticket {t}"),
        None => format!(
            "{}{}",
            symbol.unwrap_or_default(),
            if magics.is_empty() {
                String::new()
            } else {
                format!(
                    " with magic {}",
                    magics
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ),
    }
}

/// Completed, or failed with what was done so far as output.
fn partial_result<O: serde::Serialize>(
    error: Option<String>,
    nothing_done: bool,
    output: &O,
) -> JobResultRequest {
    match error {
        None => completed(output),
        Some(m) if nothing_done => failed(m),
        Some(m) => JobResultRequest {
            status: ResultStatus::Failed,
            output_data: serde_json::to_value(output).ok(),
            error_message: Some(format!("only part was done; {m}")),
        },
    }
}
