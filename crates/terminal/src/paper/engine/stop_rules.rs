//! Breakeven and trailing stops at the paper terminal, as the bridge EA runs them:
//! rules kept per ticket in the book (so the `--state-file` keeps them across
//! restarts), set/listed/cancelled by `stop_rule_set` / `stop_rules` /
//! `stop_rule_cancel`, and evaluated on every price check (each request, the
//! `--tick-ms` stop watcher, `paper_set_price`) whether or not an agent is
//! connected. A rule on a pending order's ticket waits for its fill (the position
//! takes the order's ticket); rules of closed positions and deleted orders go.
//! The SL only moves when it improves (trailing: by at least `step`) and stays
//! at least the symbol's stops level from the price.

use companion_protocol::{Candle, StopRuleState};
use serde_json::{json, Value};

use super::book::round_to;
use super::Engine;
use crate::bridge::wire::{self, retcode};

type Outcome = Result<Value, (u32, String)>;

fn bad(message: &str) -> (u32, String) {
    (retcode::BAD_ARGS, message.to_string())
}

fn finite_non_negative(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

/// The average true range of the `period` bars before the last `shift` bars of
/// `candles` (oldest first); `None` when there are too few.
pub fn atr(candles: &[Candle], period: u32, shift: u32) -> Option<f64> {
    let period = period as usize;
    let end = candles.len().checked_sub(shift as usize)?;
    if period == 0 || end < period + 1 {
        return None;
    }
    let bars = &candles[end - period - 1..end];
    let sum: f64 = bars
        .windows(2)
        .map(|w| {
            let (prev, c) = (&w[0], &w[1]);
            (c.high - c.low)
                .max((c.high - prev.close).abs())
                .max((c.low - prev.close).abs())
        })
        .sum();
    Some(sum / period as f64)
}

/// True when the two states hold the same rule parameters (their progress aside).
fn same_rules(a: &StopRuleState, args: &wire::StopRuleSetArgs) -> bool {
    let be = match (&a.breakeven, &args.breakeven) {
        (None, None) => true,
        (Some(x), Some(y)) => x.trigger == y.trigger && x.offset == y.offset,
        _ => false,
    };
    let tr = match (&a.trailing, &args.trailing) {
        (None, None) => true,
        (Some(x), Some(y)) => {
            x.activation == y.activation
                && x.distance == y.distance
                && x.step == y.step
                && x.atr == y.atr
        }
        _ => false,
    };
    be && tr
}

impl Engine {
    pub(super) fn stop_rule_set(&mut self, a: wire::StopRuleSetArgs) -> Outcome {
        if a.breakeven.is_none() && a.trailing.is_none() {
            return Err(bad(
                "stop_rule_set needs breakeven or trailing (stop_rule_cancel removes rules)",
            ));
        }
        if let Some(b) = &a.breakeven {
            if !(b.trigger.is_finite() && b.trigger > 0.0 && finite_non_negative(b.offset)) {
                return Err(bad(
                    "breakeven: trigger must be positive, offset at least 0",
                ));
            }
        }
        if let Some(t) = &a.trailing {
            let distance_ok = match &t.atr {
                Some(atr) => atr.period > 0 && atr.multiplier.is_finite() && atr.multiplier > 0.0,
                None => t.distance.is_finite() && t.distance > 0.0,
            };
            if !(distance_ok && finite_non_negative(t.activation) && finite_non_negative(t.step)) {
                return Err(bad(
                    "trailing: distance (or atr period and multiplier) must be positive, activation and step at least 0",
                ));
            }
        }
        let known = self.book.positions.iter().any(|p| p.ticket == a.ticket)
            || self.book.pending.iter().any(|o| o.ticket == a.ticket);
        if !known {
            return Err((
                retcode::POSITION_NOT_FOUND,
                format!("no open position or pending order {}", a.ticket),
            ));
        }
        // The same rules again keep their progress: setting is idempotent.
        if let Some(existing) = self.book.stop_rules.get(&a.ticket) {
            if same_rules(existing, &a) {
                return Ok(json!(existing));
            }
        }
        let mut breakeven = a.breakeven;
        if let Some(b) = &mut breakeven {
            b.done = false;
        }
        let mut trailing = a.trailing;
        if let Some(t) = &mut trailing {
            t.active = false;
        }
        let state = StopRuleState {
            ticket: a.ticket,
            breakeven,
            trailing,
            phase: StopRuleState::phase_of(breakeven.as_ref(), trailing.as_ref()),
            last_sl: None,
            moves: 0,
            pip: if a.pip.is_finite() && a.pip > 0.0 {
                a.pip
            } else {
                0.0
            },
        };
        self.book.stop_rules.insert(a.ticket, state);
        self.save();
        Ok(json!(state))
    }

    pub(super) fn stop_rule_cancel(&mut self, ticket: u64) -> Outcome {
        let removed = self.book.stop_rules.remove(&ticket).is_some();
        if removed {
            self.save();
        }
        Ok(json!(wire::StopRuleCancelResult { removed }))
    }

    pub(super) fn stop_rules_list(&self) -> Vec<StopRuleState> {
        self.book.stop_rules.values().copied().collect()
    }

    /// The rule state of position `ticket`, if it has rules.
    pub(super) fn stop_rule_of(&self, ticket: u64) -> Option<StopRuleState> {
        self.book.stop_rules.get(&ticket).copied()
    }

    /// Moves SLs as the rules say at the current prices; drops the rules of tickets
    /// that are neither open positions nor pending orders.
    pub(super) fn check_stop_rules(&mut self, now_ms: i64) {
        if self.book.stop_rules.is_empty() {
            return;
        }
        let mut changed = false;
        let tickets: Vec<u64> = self.book.stop_rules.keys().copied().collect();
        for ticket in tickets {
            let Some(idx) = self.book.positions.iter().position(|p| p.ticket == ticket) else {
                if !self.book.pending.iter().any(|o| o.ticket == ticket) {
                    self.book.stop_rules.remove(&ticket);
                    changed = true;
                }
                continue;
            };
            changed |= self.apply_rule(idx, ticket, now_ms);
        }
        if changed {
            self.save();
        }
    }

    /// Evaluates the rules of position `idx`; true when anything changed.
    fn apply_rule(&mut self, idx: usize, ticket: u64, now_ms: i64) -> bool {
        let p = self.book.positions[idx].clone();
        let (Some(spec), Some(q)) = (self.market.spec(&p.symbol), self.quote(&p.symbol, now_ms))
        else {
            return false;
        };
        let Some(mut rule) = self.book.stop_rules.get(&ticket).copied() else {
            return false;
        };
        let before = rule;
        let dir = if p.buy { 1.0 } else { -1.0 };
        let price = if p.buy { q.bid } else { q.ask };
        let point = spec.point();
        let eps = point * 1e-6;
        let level = f64::from(spec.stops_level_points) * point;
        let profit = dir * (price - p.price_open);
        // A level the broker accepts: on the right side, at least the stops level away.
        let allowed = |sl: f64| {
            let d = dir * (price - sl);
            if level > 0.0 {
                d >= level - eps
            } else {
                d > eps
            }
        };
        let improves =
            |new: f64, old: f64, by: f64| old == 0.0 || dir * (new - old) >= by.max(point) - eps;
        let mut sl = p.sl;
        if let Some(be) = &mut rule.breakeven {
            if !be.done && profit >= be.trigger - eps {
                let target = round_to(p.price_open + dir * be.offset, spec.digits);
                if sl != 0.0 && dir * (target - sl) <= eps {
                    // Already at or beyond breakeven.
                    be.done = true;
                } else if allowed(target) {
                    sl = target;
                    be.done = true;
                }
            }
        }
        if let Some(tr) = &mut rule.trailing {
            let distance = match &tr.atr {
                Some(a) => {
                    let count = a.period + a.shift + 1;
                    self.market
                        .candles(&p.symbol, a.timeframe, count, now_ms)
                        .and_then(|c| atr(&c, a.period, a.shift))
                        .map_or(0.0, |v| v * a.multiplier)
                }
                None => tr.distance,
            };
            // Activation 0 (none): at once, even inside the spread.
            if !tr.active && (tr.activation <= 0.0 || profit >= tr.activation - eps) {
                tr.active = true;
            }
            if tr.active && distance > 0.0 {
                let mut cand = round_to(price - dir * distance, spec.digits);
                if level > 0.0 && dir * (price - cand) < level - eps {
                    // Inside the stops level: as close as the broker allows.
                    let c = price - dir * level;
                    cand = if p.buy {
                        (c / point).floor() * point
                    } else {
                        (c / point).ceil() * point
                    };
                    cand = round_to(cand, spec.digits);
                }
                if improves(cand, sl, tr.step) && allowed(cand) {
                    sl = cand;
                }
            }
        }
        if sl != p.sl {
            self.book.positions[idx].sl = sl;
            rule.last_sl = Some(sl);
            rule.moves += 1;
        }
        rule.phase = StopRuleState::phase_of(rule.breakeven.as_ref(), rule.trailing.as_ref());
        let changed = rule != before;
        self.book.stop_rules.insert(ticket, rule);
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Engine, EngineConfig};
    use super::*;
    use crate::bridge::wire::Request;
    use companion_protocol::MarginMode;

    fn call(e: &mut Engine, cmd: &str, args: Value) -> Value {
        let r = e.handle(
            &Request {
                id: 1,
                cmd: cmd.into(),
                args,
            },
            0,
        );
        r.result.unwrap_or_else(|| panic!("{cmd}: {:?}", r.error))
    }

    #[test]
    fn a_netting_reversal_drops_the_old_directions_rules() {
        let mut e = Engine::new(
            EngineConfig {
                tick_ms: 0,
                margin_mode: MarginMode::Netting,
                ..Default::default()
            },
            0,
        );
        let buy = json!({"symbol":"EURUSD","side":"buy","volume":0.1});
        let t = call(&mut e, "order_send", buy)["position"]
            .as_u64()
            .unwrap();
        let rule = json!({"ticket": t, "trailing": {"activation": 0.001, "distance": 0.001, "step": 0.0}, "pip": 0.0001});
        call(&mut e, "stop_rule_set", rule);
        assert_eq!(
            call(&mut e, "stop_rules", json!({}))["rules"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        // Adding to the same side keeps them; reversing drops them.
        call(
            &mut e,
            "order_send",
            json!({"symbol":"EURUSD","side":"buy","volume":0.1}),
        );
        assert_eq!(
            call(&mut e, "stop_rules", json!({}))["rules"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        call(
            &mut e,
            "order_send",
            json!({"symbol":"EURUSD","side":"sell","volume":0.3}),
        );
        let p = call(&mut e, "positions", json!({}));
        assert_eq!(p["positions"][0]["side"], "sell");
        assert_eq!(p["positions"][0]["ticket"].as_u64(), Some(t));
        assert!(call(&mut e, "stop_rules", json!({}))["rules"]
            .as_array()
            .unwrap()
            .is_empty());
        assert!(p["positions"][0].get("stop_rule").is_none());
    }

    fn c(high: f64, low: f64, close: f64) -> Candle {
        Candle {
            time: 0,
            open: close,
            high,
            low,
            close,
            volume: 1.0,
        }
    }

    #[test]
    fn atr_averages_true_ranges_before_the_shift() {
        let bars = vec![
            c(1.0, 0.9, 0.95),
            c(1.1, 1.0, 1.05),  // TR max(0.1, 0.15, 0.05) = 0.15
            c(1.06, 1.0, 1.02), // TR max(0.06, 0.01, 0.05) = 0.06
            c(5.0, 0.0, 1.0),   // the forming bar, left out with shift 1
        ];
        let a = atr(&bars, 2, 1).unwrap();
        assert!((a - 0.105).abs() < 1e-12, "{a}");
        assert!(atr(&bars, 3, 1).is_none());
        assert!(atr(&bars, 3, 0).is_some());
    }
}
