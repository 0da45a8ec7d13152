//! [`Terminal`] for [`BridgeTerminal`]: each trait method as one bridge command,
//! converting between the wire shapes and the executor's types.

use std::time::Duration;

use companion_protocol::{
    AccountOutput, BrokerSymbol, Candle, ClosedDeal, PendingOrder, Position, Side, StopRuleState,
    TerminalInfo, Timeframe,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::server::BridgeTerminal;
use super::wire::*;
use crate::ea::{chart_template, expert_template_name};
use crate::terminal::*;

pub use super::tag::MAX_COMMENT_CHARS;

/// The job's tag, the order comment of a job without a note
/// ([`super::tag::job_tag`]: `c:` + 22 base64url characters).
pub fn job_comment(job_id: uuid::Uuid) -> String {
    super::tag::job_tag(job_id)
}

fn decode<T: DeserializeOwned>(cmd: &str, v: Value) -> Result<T, TerminalError> {
    serde_json::from_value(v).map_err(|e| {
        TerminalError::Other(format!("malformed `{cmd}` reply from the terminal: {e}"))
    })
}

fn encode<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn side_str(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

/// Parses a wire side (`buy`/`sell`).
pub fn parse_side(s: &str) -> Result<Side, TerminalError> {
    match s {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        other => Err(TerminalError::Other(format!(
            "unknown side {other:?} from the terminal"
        ))),
    }
}

/// MT5's name of a timeframe (`M1`, …, `MN1`).
pub fn timeframe_str(tf: Timeframe) -> &'static str {
    match tf {
        Timeframe::M1 => "M1",
        Timeframe::M5 => "M5",
        Timeframe::M15 => "M15",
        Timeframe::M30 => "M30",
        Timeframe::H1 => "H1",
        Timeframe::H4 => "H4",
        Timeframe::D1 => "D1",
        Timeframe::W1 => "W1",
        Timeframe::MN1 => "MN1",
    }
}

/// The inverse of [`timeframe_str`].
pub fn parse_timeframe(s: &str) -> Option<Timeframe> {
    Some(match s {
        "M1" => Timeframe::M1,
        "M5" => Timeframe::M5,
        "M15" => Timeframe::M15,
        "M30" => Timeframe::M30,
        "H1" => Timeframe::H1,
        "H4" => Timeframe::H4,
        "D1" => Timeframe::D1,
        "W1" => Timeframe::W1,
        "MN1" => Timeframe::MN1,
        _ => return None,
    })
}

fn non_zero(x: f64) -> Option<f64> {
    (x != 0.0).then_some(x)
}

impl From<PositionWire> for Position {
    fn from(p: PositionWire) -> Self {
        Position {
            id: p.ticket.to_string(),
            ticket: p.ticket,
            symbol: p.symbol,
            side: if p.side == "sell" {
                Side::Sell
            } else {
                Side::Buy
            },
            volume: p.volume,
            open_price: p.price_open,
            current_price: p.price_current,
            sl: non_zero(p.sl),
            tp: non_zero(p.tp),
            pnl: p.profit + p.swap,
            comment: p.comment,
            magic: p.magic,
            identifier: p.identifier,
            stop_rule: p.stop_rule,
        }
    }
}

/// How long deploy/run/stop wait for the chart's expert to (dis)appear.
pub const CHART_CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
const CHART_CONFIRM_POLL: Duration = Duration::from_millis(250);

/// The expert's file name as `CHART_EXPERT_NAME` shows it: `Companion\My EA` → `My EA`.
fn expert_short_name(expert: &str) -> String {
    let full = expert_template_name(expert);
    full.rsplit('\\').next().unwrap_or(&full).to_string()
}

impl BridgeTerminal {
    async fn typed<A: Serialize, R: DeserializeOwned>(
        &self,
        cmd: &str,
        args: &A,
    ) -> Result<R, TerminalError> {
        let v = self.call(cmd, encode(args)).await?;
        decode(cmd, v)
    }

    /// Round trip to the terminal; returns its clock (Unix seconds).
    pub async fn ping(&self) -> Result<i64, TerminalError> {
        let r: PingResult = self.typed(cmd::PING, &serde_json::json!({})).await?;
        Ok(r.time)
    }

    /// Everything `info` reports, including `trade_allowed`.
    pub async fn info_full(&self) -> Result<InfoResult, TerminalError> {
        self.typed(cmd::INFO, &serde_json::json!({})).await
    }

    /// Bid/ask of several symbols in one round trip (unknown symbols are left out).
    pub async fn quotes(&self, symbols: &[String]) -> Result<Vec<QuoteWire>, TerminalError> {
        let r: QuotesResult = self
            .typed(
                cmd::QUOTES,
                &QuotesArgs {
                    symbols: symbols.to_vec(),
                },
            )
            .await?;
        Ok(r.quotes)
    }

    /// Deals, history orders and open positions whose comment equals `comment`.
    pub async fn history_by_comment(&self, comment: &str) -> Result<HistoryResult, TerminalError> {
        self.typed(
            cmd::HISTORY_BY_COMMENT,
            &HistoryArgs {
                comment: comment.to_string(),
                from: 0,
            },
        )
        .await
    }

    /// Sends an order with a caller-chosen timeout (trades may deserve longer).
    pub async fn send_order_with_timeout(
        &self,
        order: &OrderRequest,
        timeout: Duration,
    ) -> Result<OrderFill, TerminalError> {
        if order.comment.chars().count() > MAX_COMMENT_CHARS {
            return Err(TerminalError::Other(format!(
                "order comment {:?} is longer than {MAX_COMMENT_CHARS} characters; MT5 would cut it",
                order.comment
            )));
        }
        let args = OrderSendArgs {
            symbol: order.symbol.clone(),
            side: side_str(order.side).into(),
            volume: order.volume,
            sl: order.sl.unwrap_or(0.0),
            tp: order.tp.unwrap_or(0.0),
            comment: order.comment.clone(),
            magic: order.magic,
            deviation: order
                .deviation
                .unwrap_or(crate::terminal::DEFAULT_DEVIATION),
            filling: order.filling,
        };
        let v = self
            .call_with_timeout(cmd::ORDER_SEND, encode(&args), timeout)
            .await?;
        let r: OrderSendResult = decode(cmd::ORDER_SEND, v)?;
        // A placed-but-unfilled order (10008) reports no deal: its price is unknown.
        let known = r.deal_known && r.deal != 0;
        Ok(OrderFill {
            order_id: r.order,
            ticket: r.position.filter(|p| known && *p != 0),
            price: r.price.filter(|p| known && *p > 0.0),
            volume: r.volume.filter(|v| *v > 0.0).unwrap_or(order.volume),
        })
    }

    /// `CHART_EXPERT_NAME` of a chart: which expert runs on it right now.
    pub async fn chart_status(&self, chart_id: i64) -> Result<ChartStatusResult, TerminalError> {
        self.typed(cmd::CHART_STATUS, &ChartArgs { chart_id }).await
    }

    /// Polls `chart_status` until the chart runs `expert` (`Some`) or no expert
    /// (`None`), or [`CHART_CONFIRM_TIMEOUT`] passes: `ChartApplyTemplate` only
    /// queues the change, so an ok from deploy/run/stop proves nothing yet.
    async fn confirm_chart(
        &self,
        chart_id: i64,
        expert: Option<&str>,
        timeout: Duration,
    ) -> Result<(), TerminalError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let st = self.chart_status(chart_id).await?;
            let ok = match expert {
                // The chart had no expert before (new, or stopped): one running now is
                // ours. Whether CHART_EXPERT_NAME is exactly the file name is not
                // verified on a real terminal yet, so a different name only warns.
                Some(want) => {
                    if st.running && !st.expert.eq_ignore_ascii_case(want) {
                        tracing::warn!(chart_id, expected = want, reported = %st.expert, "the chart runs an expert whose CHART_EXPERT_NAME differs from the deployed file name");
                    }
                    st.running
                }
                None => !st.running,
            };
            if ok {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(TerminalError::Other(match expert {
                    Some(want) => format!(
                        "the expert {want:?} did not start on chart {chart_id} within {} s: it is probably not compiled (.ex5 missing under MQL5/Experts/Companion) or failed in OnInit; see the terminal's Experts journal",
                        timeout.as_secs()
                    ),
                    None => format!(
                        "the expert {:?} is still attached to chart {chart_id} after {} s; remove it by hand in the terminal",
                        st.expert,
                        timeout.as_secs()
                    ),
                }));
            }
            tokio::time::sleep(CHART_CONFIRM_POLL).await;
        }
    }

    /// The expert a chart deployed by Companion should run (from its saved deployment).
    fn chart_expert(&self, chart_id: i64) -> Option<String> {
        self.chart_experts().lock().ok()?.get(&chart_id).cloned()
    }
}

impl Terminal for BridgeTerminal {
    async fn info(&self) -> Result<TerminalInfo, TerminalError> {
        let r = self.info_full().await?;
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        Ok(TerminalInfo {
            connected: r.connected,
            paper: r.paper,
            login: non_empty(r.login),
            server: non_empty(r.server),
            company: non_empty(r.company),
            build: (r.build != 0).then_some(r.build),
            margin_mode: r.margin_mode,
            account_kind: r.account_kind,
            gmt_offset_secs: r.gmt_offset_secs,
        })
    }

    async fn account(&self) -> Result<AccountOutput, TerminalError> {
        let r: AccountResult = self.typed(cmd::ACCOUNT, &serde_json::json!({})).await?;
        Ok(AccountOutput {
            balance: r.balance,
            equity: r.equity,
            margin_used: r.margin,
            margin_available: r.margin_free,
            currency: r.currency,
            leverage: r.leverage,
        })
    }

    async fn positions(&self) -> Result<Vec<Position>, TerminalError> {
        let r: PositionsResult = self.typed(cmd::POSITIONS, &serde_json::json!({})).await?;
        Ok(r.positions.into_iter().map(Position::from).collect())
    }

    async fn symbol_info(&self, symbol: &str) -> Result<SymbolInfo, TerminalError> {
        self.typed(
            cmd::SYMBOL_INFO,
            &SymbolArgs {
                symbol: symbol.to_string(),
            },
        )
        .await
    }

    async fn candles(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        count: u32,
    ) -> Result<Vec<Candle>, TerminalError> {
        let args = CandlesArgs {
            symbol: symbol.to_string(),
            timeframe: timeframe_str(timeframe).into(),
            count,
        };
        let r: CandlesResult = self.typed(cmd::CANDLES, &args).await?;
        Ok(r.candles)
    }

    async fn send_order(&self, order: &OrderRequest) -> Result<OrderFill, TerminalError> {
        self.send_order_with_timeout(order, self.request_timeout())
            .await
    }

    async fn close_position(&self, ticket: u64, comment: &str) -> Result<CloseFill, TerminalError> {
        if comment.chars().count() > MAX_COMMENT_CHARS {
            return Err(TerminalError::Other(format!(
                "close comment {comment:?} is longer than {MAX_COMMENT_CHARS} characters"
            )));
        }
        let args = PositionCloseArgs {
            ticket,
            comment: comment.to_string(),
            deviation: 20,
            volume: None,
        };
        let r: PositionCloseResult = self.typed(cmd::POSITION_CLOSE, &args).await?;
        let known = r.deal_known;
        Ok(CloseFill {
            ticket: r.ticket,
            price: r.price.filter(|p| *p > 0.0),
            pnl: r.profit.filter(|_| known),
        })
    }

    async fn find_by_comment(&self, comment: &str) -> Result<Vec<DealRecord>, TerminalError> {
        let h = self.history_by_comment(comment).await?;
        let mut out = Vec::new();
        for d in h.deals {
            out.push(DealRecord {
                order_id: d.order,
                ticket: d.position,
                symbol: d.symbol,
                side: parse_side(&d.side)?,
                volume: d.volume,
                price: d.price,
                comment: d.comment,
                time: d.time,
                profit: (d.entry != "in").then_some(d.profit + d.swap + d.commission),
            });
        }
        // Open positions whose opening deal is not (yet) in the loaded history.
        for p in h.positions {
            if out.iter().any(|r| r.ticket == p.ticket) {
                continue;
            }
            out.push(DealRecord {
                order_id: p.ticket,
                ticket: p.ticket,
                symbol: p.symbol,
                side: parse_side(&p.side)?,
                volume: p.volume,
                price: p.price_open,
                comment: p.comment,
                time: p.time,
                profit: None,
            });
        }
        Ok(out)
    }

    async fn deploy(&self, deployment: &ChartDeployment) -> Result<i64, TerminalError> {
        let args = ChartDeployArgs {
            symbol: deployment.symbol.clone(),
            timeframe: timeframe_str(deployment.timeframe).into(),
            expert: expert_template_name(&deployment.expert),
            template: chart_template(deployment),
        };
        let r: ChartDeployResult = self.typed(cmd::CHART_DEPLOY, &args).await?;
        let expert = expert_short_name(&deployment.expert);
        if let Ok(mut m) = self.chart_experts().lock() {
            m.insert(r.chart_id, expert.clone());
        }
        self.confirm_chart(r.chart_id, Some(&expert), CHART_CONFIRM_TIMEOUT)
            .await
            .map_err(|e| TerminalError::Other(format!("chart {} opened, but {e}", r.chart_id)))?;
        Ok(r.chart_id)
    }

    async fn run(&self, chart_id: i64) -> Result<(), TerminalError> {
        let r: ChartStateResult = self.typed(cmd::CHART_RUN, &ChartArgs { chart_id }).await?;
        match self.chart_expert(chart_id) {
            Some(expert) => {
                self.confirm_chart(chart_id, Some(&expert), CHART_CONFIRM_TIMEOUT)
                    .await
            }
            // Deployed before this agent started: any expert on the chart will do.
            None if r.running => Ok(()),
            None => {
                let st = self.chart_status(chart_id).await?;
                if st.running {
                    Ok(())
                } else {
                    Err(TerminalError::Other(format!(
                        "no expert is running on chart {chart_id} after the template was applied; see the terminal's Experts journal"
                    )))
                }
            }
        }
    }

    async fn stop(&self, chart_id: i64) -> Result<(), TerminalError> {
        let _: ChartStateResult = self.typed(cmd::CHART_STOP, &ChartArgs { chart_id }).await?;
        self.confirm_chart(chart_id, None, CHART_CONFIRM_TIMEOUT)
            .await
    }

    async fn symbols(&self) -> Result<Vec<BrokerSymbol>, TerminalError> {
        let r: SymbolsResult = self.typed(cmd::SYMBOLS, &serde_json::json!({})).await?;
        Ok(r.symbols)
    }

    async fn closed_deals(&self, from: i64) -> Result<Vec<ClosedDeal>, TerminalError> {
        let r: DealsSinceResult = self
            .typed(cmd::DEALS_SINCE, &DealsSinceArgs { from })
            .await?;
        Ok(r.deals)
    }

    async fn place_order(&self, order: &PendingRequest) -> Result<PlacedOrder, TerminalError> {
        if order.comment.chars().count() > MAX_COMMENT_CHARS {
            return Err(TerminalError::Other(format!(
                "order comment {:?} is longer than {MAX_COMMENT_CHARS} characters; MT5 would cut it",
                order.comment
            )));
        }
        let order_type = pending_type_str(order.side, order.order_type).ok_or_else(|| {
            TerminalError::Other("order_place needs a limit or stop order".into())
        })?;
        let args = OrderPlaceArgs {
            symbol: order.symbol.clone(),
            order_type: order_type.into(),
            volume: order.volume,
            price: order.price,
            sl: order.sl.unwrap_or(0.0),
            tp: order.tp.unwrap_or(0.0),
            expiry: order.expiry.unwrap_or(0),
            comment: order.comment.clone(),
            magic: order.magic,
            filling: order.filling,
        };
        let r: OrderPlaceResult = self.typed(cmd::ORDER_PLACE, &args).await?;
        Ok(PlacedOrder {
            order_id: r.order,
            price: if r.price != 0.0 { r.price } else { order.price },
        })
    }

    async fn orders(&self) -> Result<Vec<PendingOrder>, TerminalError> {
        let r: OrdersResult = self.typed(cmd::ORDERS, &serde_json::json!({})).await?;
        r.orders
            .into_iter()
            .map(|o| {
                let (side, order_type) = parse_pending_type(&o.order_type).ok_or_else(|| {
                    TerminalError::Other(format!(
                        "unknown pending order type {:?} from the terminal",
                        o.order_type
                    ))
                })?;
                Ok(PendingOrder {
                    ticket: o.ticket,
                    symbol: o.symbol,
                    side,
                    order_type,
                    volume: o.volume,
                    price: o.price,
                    sl: non_zero(o.sl),
                    tp: non_zero(o.tp),
                    magic: o.magic,
                    comment: o.comment,
                    expiry: (o.expiry != 0).then_some(o.expiry),
                })
            })
            .collect()
    }

    async fn cancel_order(&self, ticket: u64) -> Result<(), TerminalError> {
        let _: RetcodeResult = self
            .typed(cmd::ORDER_CANCEL, &TicketArgs { ticket })
            .await?;
        Ok(())
    }

    async fn modify_position(
        &self,
        ticket: u64,
        sl: Option<f64>,
        tp: Option<f64>,
    ) -> Result<(), TerminalError> {
        let args = PositionModifyArgs {
            ticket,
            sl: sl.unwrap_or(0.0),
            tp: tp.unwrap_or(0.0),
        };
        let _: RetcodeResult = self.typed(cmd::POSITION_MODIFY, &args).await?;
        Ok(())
    }

    async fn set_stop_rule(&self, rule: &StopRuleSetArgs) -> Result<StopRuleState, TerminalError> {
        self.typed(cmd::STOP_RULE_SET, rule).await
    }

    async fn stop_rules(&self) -> Result<Vec<StopRuleState>, TerminalError> {
        let r: StopRulesResult = self.typed(cmd::STOP_RULES, &serde_json::json!({})).await?;
        Ok(r.rules)
    }

    async fn cancel_stop_rule(&self, ticket: u64) -> Result<bool, TerminalError> {
        let r: StopRuleCancelResult = self
            .typed(cmd::STOP_RULE_CANCEL, &TicketArgs { ticket })
            .await?;
        Ok(r.removed)
    }

    async fn close_partial(
        &self,
        ticket: u64,
        volume: f64,
        comment: &str,
    ) -> Result<CloseFill, TerminalError> {
        if comment.chars().count() > MAX_COMMENT_CHARS {
            return Err(TerminalError::Other(format!(
                "close comment {comment:?} is longer than {MAX_COMMENT_CHARS} characters"
            )));
        }
        let args = PositionCloseArgs {
            ticket,
            comment: comment.to_string(),
            deviation: 20,
            volume: Some(volume),
        };
        let r: PositionCloseResult = self.typed(cmd::POSITION_CLOSE, &args).await?;
        Ok(CloseFill {
            ticket: r.ticket,
            price: r.price,
            pnl: r.profit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_comments_fit_mt5() {
        let id = uuid::Uuid::new_v4();
        let c = job_comment(id);
        assert_eq!(c.len(), super::super::tag::TAG_LEN);
        assert!(c.len() < MAX_COMMENT_CHARS);
        assert!(c.starts_with("c:"));
    }

    #[test]
    fn timeframes_round_trip() {
        for tf in [Timeframe::M1, Timeframe::H4, Timeframe::MN1] {
            assert_eq!(parse_timeframe(timeframe_str(tf)), Some(tf));
        }
        assert_eq!(parse_timeframe("H2"), None);
    }

    #[test]
    fn chart_expert_names_are_the_file_name() {
        assert_eq!(expert_short_name("Trend Rider"), "Trend Rider");
        assert_eq!(expert_short_name("Companion/v42.ex5"), "v42");
    }
}
