//! Breakeven and trailing stops from the agent's side. The terminal runs them (the
//! bridge EA, the paper terminal) so they keep working while the agent is down; the
//! agent only converts the job's distances (pips, points, percent of the open
//! price) into price distances with the symbol's info, sets them right after a
//! fill (on a pending order: on its ticket, which its position takes), and sets or
//! cancels them for `modify_position`. Setting the same rules again keeps their
//! progress at the terminal, so a resumed job never applies a breakeven twice.

use companion_protocol::{
    BreakevenRule, BreakevenSpec, JobResultRequest, PriceDistance, PriceUnit, ResultStatus,
    TradeOutput, TrailingRule, TrailingSpec,
};
use companion_terminal::bridge::wire::StopRuleSetArgs;
use companion_terminal::{SymbolInfo, Terminal};

use super::{completed, describe_terminal_error, Executor};
use crate::sizing::pip_size;
use crate::toolchain::Toolchain;

/// A distance in price units, 0 allowed (offsets, steps).
fn distance_or_zero(si: &SymbolInfo, reference: f64, d: PriceDistance) -> Result<f64, String> {
    if d.value == 0.0 && d.unit != PriceUnit::Price {
        return Ok(0.0);
    }
    super::manage::distance(si, reference, d)
}

/// The bridge's `stop_rule_set` for `ticket` (distances from `reference`, the open
/// or order price, for percent). Errors start with `invalid_stop_rule:`.
pub(super) fn to_wire(
    si: &SymbolInfo,
    reference: f64,
    ticket: u64,
    breakeven: Option<BreakevenSpec>,
    trailing: Option<TrailingSpec>,
) -> Result<StopRuleSetArgs, String> {
    let bad = |what: &str, e: String| format!("invalid_stop_rule: {what}: {e}");
    let breakeven = match breakeven {
        None => None,
        Some(b) => Some(BreakevenRule {
            trigger: super::manage::distance(si, reference, b.trigger)
                .map_err(|e| bad("breakeven trigger", e))?,
            offset: distance_or_zero(si, reference, b.offset)
                .map_err(|e| bad("breakeven offset", e))?,
            done: false,
        }),
    };
    let trailing = match trailing {
        None => None,
        Some(t) => {
            let distance = match (t.distance, &t.atr) {
                (_, Some(a)) => {
                    if a.period == 0
                        || a.period > 1000
                        || !(a.multiplier.is_finite() && a.multiplier > 0.0)
                    {
                        return Err(bad(
                            "ATR trailing",
                            "the period must be 1 to 1000 and the multiplier positive".into(),
                        ));
                    }
                    0.0
                }
                (Some(d), None) => super::manage::distance(si, reference, d)
                    .map_err(|e| bad("trailing distance", e))?,
                (None, None) => {
                    return Err(bad(
                        "trailing",
                        "a trailing stop needs a distance or an ATR setting".into(),
                    ))
                }
            };
            Some(TrailingRule {
                activation: match t.activation {
                    Some(a) => distance_or_zero(si, reference, a)
                        .map_err(|e| bad("trailing activation", e))?,
                    None => 0.0,
                },
                distance,
                step: distance_or_zero(si, reference, t.step)
                    .map_err(|e| bad("trailing step", e))?,
                atr: t.atr,
                active: false,
            })
        }
    };
    Ok(StopRuleSetArgs {
        ticket,
        breakeven,
        trailing,
        pip: pip_size(si),
    })
}

impl<T: Terminal + 'static, C: Toolchain + 'static> Executor<T, C> {
    /// The symbol and reference price (open price, or a pending order's price) of
    /// `ticket`, from the open positions, then the pending orders.
    async fn ticket_target(&self, ticket: u64) -> Result<(String, f64), String> {
        let positions = self
            .terminal
            .positions()
            .await
            .map_err(|e| describe_terminal_error(&e))?;
        if let Some(p) = positions
            .iter()
            .find(|p| p.ticket == ticket || p.identifier == Some(ticket))
        {
            return Ok((p.symbol.clone(), p.open_price));
        }
        let orders = self.terminal.orders().await.unwrap_or_default();
        orders
            .iter()
            .find(|o| o.ticket == ticket)
            .map(|o| (o.symbol.clone(), o.price))
            .ok_or_else(|| {
                format!("ticket {ticket} is neither an open position nor a pending order (closed already?)")
            })
    }

    /// Sets the rules on `ticket` at the terminal; the state it answers.
    pub(super) async fn set_rules_on(
        &self,
        ticket: u64,
        breakeven: Option<BreakevenSpec>,
        trailing: Option<TrailingSpec>,
    ) -> Result<companion_protocol::StopRuleState, String> {
        let (symbol, reference) = self.ticket_target(ticket).await?;
        let si = self.terminal.symbol_info(&symbol).await.map_err(|e| {
            format!(
                "cannot read symbol {symbol}: {}",
                describe_terminal_error(&e)
            )
        })?;
        let args = to_wire(&si, reference, ticket, breakeven, trailing)?;
        self.terminal
            .set_stop_rule(&args)
            .await
            .map_err(|e| describe_terminal_error(&e))
    }

    /// After a completed `trade`: the job's rules set on its position (a pending
    /// order's ticket), their state in the output, or why not (`stop_rule_error`;
    /// the order itself stands).
    pub(super) async fn attach_stop_rules(
        &self,
        breakeven: Option<BreakevenSpec>,
        trailing: Option<TrailingSpec>,
        result: JobResultRequest,
    ) -> JobResultRequest {
        if (breakeven.is_none() && trailing.is_none()) || result.status != ResultStatus::Completed {
            return result;
        }
        let Some(mut out) = result
            .output_data
            .as_ref()
            .and_then(|v| serde_json::from_value::<TradeOutput>(v.clone()).ok())
        else {
            return result;
        };
        let ticket = if out.pending {
            out.order_id
        } else {
            out.ticket
        };
        if ticket == 0 {
            return result;
        }
        match self.set_rules_on(ticket, breakeven, trailing).await {
            Ok(state) => out.stop_rule = Some(state),
            Err(m) => {
                tracing::warn!(ticket, error = %m, "breakeven/trailing rules not set");
                out.stop_rule_error = Some(format!("stop_rule_not_set: {m}"));
            }
        }
        completed(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use companion_protocol::{AtrTrailing, Timeframe};

    fn eurusd() -> SymbolInfo {
        SymbolInfo {
            symbol: "EURUSD".into(),
            digits: 5,
            point: 0.00001,
            tick_size: 0.00001,
            ..Default::default()
        }
    }

    fn pips(v: f64) -> PriceDistance {
        PriceDistance {
            value: v,
            unit: PriceUnit::Pips,
        }
    }

    #[test]
    fn distances_become_prices_and_bad_ones_are_refused() {
        let si = eurusd();
        let w = to_wire(
            &si,
            1.1,
            9,
            Some(BreakevenSpec {
                trigger: pips(15.0),
                offset: pips(0.0),
            }),
            Some(TrailingSpec {
                activation: Some(PriceDistance {
                    value: 1.0,
                    unit: PriceUnit::Percent,
                }),
                distance: Some(PriceDistance {
                    value: 200.0,
                    unit: PriceUnit::Points,
                }),
                step: pips(5.0),
                atr: None,
            }),
        )
        .unwrap();
        let be = w.breakeven.unwrap();
        assert!((be.trigger - 0.0015).abs() < 1e-12 && be.offset == 0.0);
        let tr = w.trailing.unwrap();
        assert!((tr.activation - 0.011).abs() < 1e-12);
        assert!((tr.distance - 0.002).abs() < 1e-12);
        assert!((tr.step - 0.0005).abs() < 1e-12);
        assert!((w.pip - 0.0001).abs() < 1e-12);
        // A trailing stop needs a distance or ATR; a price is no distance.
        let none = TrailingSpec {
            activation: None,
            distance: None,
            step: pips(0.0),
            atr: None,
        };
        assert!(to_wire(&si, 1.1, 9, None, Some(none))
            .unwrap_err()
            .starts_with("invalid_stop_rule"));
        let price = BreakevenSpec {
            trigger: PriceDistance {
                value: 1.1,
                unit: PriceUnit::Price,
            },
            offset: pips(0.0),
        };
        assert!(to_wire(&si, 1.1, 9, Some(price), None).is_err());
        let atr = TrailingSpec {
            atr: Some(AtrTrailing {
                timeframe: Timeframe::H1,
                period: 14,
                multiplier: 2.0,
                shift: 1,
            }),
            ..none
        };
        let w = to_wire(&si, 1.1, 9, None, Some(atr)).unwrap();
        assert_eq!(w.trailing.unwrap().distance, 0.0);
    }
}
