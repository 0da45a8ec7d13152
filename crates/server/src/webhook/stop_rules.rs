//! Breakeven and trailing-stop parameters of a signal, in both dialects: the JSON
//! and text keys (`be_trigger_pips`, `be_offset_pips`, `trail_trigger_pips`,
//! `trail_dist_pips`, `trail_step_pips`, `trail_atr_timeframe`,
//! `trail_atr_period`, `trail_atr_multiplier`) and PineConnector's (`betrigger=`,
//! `beoffset=`, `trailtrig=`, `traildist=`, `trailstep=`, `atrtimeframe=`,
//! `atrperiod=`, `atrmultiplier=`, `atrshift=`), collected into [`RuleFields`] and
//! built into the `trade` input's typed rules. Every distance is in pips.

use companion_protocol::{
    AtrTrailing, BreakevenSpec, PriceDistance, PriceUnit, Timeframe, TrailingSpec,
};

/// Largest accepted distance, pips (as for sl/tp pips).
pub const MAX_RULE_PIPS: f64 = 100_000.0;

/// The rule parameters a message carried (pips; ATR settings as sent).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleFields {
    pub be_trigger_pips: Option<f64>,
    pub be_offset_pips: Option<f64>,
    pub trail_trigger_pips: Option<f64>,
    pub trail_dist_pips: Option<f64>,
    pub trail_step_pips: Option<f64>,
    pub atr_timeframe: Option<Timeframe>,
    pub atr_period: Option<u32>,
    pub atr_multiplier: Option<f64>,
    pub atr_shift: Option<u32>,
}

fn pips(value: f64) -> PriceDistance {
    PriceDistance {
        value,
        unit: PriceUnit::Pips,
    }
}

/// A timeframe as alerts write it: MT5's names (`H1`), TradingView's minutes
/// (`60`, `240`) or `D`/`W`/`M` (`1D`).
pub fn timeframe(text: &str) -> Option<Timeframe> {
    let t = text.trim().to_ascii_uppercase();
    Some(match t.as_str() {
        "M1" | "1" => Timeframe::M1,
        "M5" | "5" => Timeframe::M5,
        "M15" | "15" => Timeframe::M15,
        "M30" | "30" => Timeframe::M30,
        "H1" | "60" => Timeframe::H1,
        "H4" | "240" => Timeframe::H4,
        "D1" | "D" | "1D" | "1440" => Timeframe::D1,
        "W1" | "W" | "1W" | "10080" => Timeframe::W1,
        "MN1" | "MN" | "M" | "1M" | "43200" => Timeframe::MN1,
        _ => return None,
    })
}

impl RuleFields {
    /// True when any rule parameter was given.
    pub fn any(&self) -> bool {
        *self != RuleFields::default()
    }

    /// The typed rules, or why the combination cannot be honoured.
    pub fn build(&self) -> Result<(Option<BreakevenSpec>, Option<TrailingSpec>), &'static str> {
        let breakeven = match (self.be_trigger_pips, self.be_offset_pips) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(
                    "a breakeven offset needs a breakeven trigger (be_trigger_pips / betrigger=)",
                )
            }
            (Some(t), _) if t <= 0.0 => return Err("the breakeven trigger must be above 0 pips"),
            (Some(t), o) => {
                let offset = o.unwrap_or(0.0);
                if offset >= t {
                    return Err("the breakeven offset must be smaller than its trigger (the stop would sit at or beyond the price)");
                }
                Some(BreakevenSpec {
                    trigger: pips(t),
                    offset: pips(offset),
                })
            }
        };
        let atr_given = self.atr_timeframe.is_some()
            || self.atr_period.is_some()
            || self.atr_multiplier.is_some()
            || self.atr_shift.is_some();
        let atr = if atr_given {
            let (Some(timeframe), Some(period), Some(multiplier)) =
                (self.atr_timeframe, self.atr_period, self.atr_multiplier)
            else {
                return Err("ATR trailing needs its timeframe, period and multiplier (atrtimeframe=, atrperiod=, atrmultiplier=)");
            };
            if period == 0 || period > 1000 || multiplier <= 0.0 {
                return Err(
                    "ATR trailing: the period must be 1 to 1000 and the multiplier above 0",
                );
            }
            let shift = self.atr_shift.unwrap_or(1);
            if shift > 1 {
                return Err("ATR trailing: the ATR shift must be 0 (the forming bar) or 1 (the last closed bar)");
            }
            Some(AtrTrailing {
                timeframe,
                period,
                multiplier,
                shift,
            })
        } else {
            None
        };
        if atr.is_some() && self.trail_dist_pips.is_some() {
            return Err("a trailing stop takes a distance in pips or ATR settings, not both");
        }
        let trail_given = self.trail_dist_pips.is_some()
            || self.trail_trigger_pips.is_some()
            || self.trail_step_pips.is_some()
            || atr.is_some();
        let trailing = if trail_given {
            let distance = match (self.trail_dist_pips, &atr) {
                (Some(d), _) if d <= 0.0 => {
                    return Err("the trailing distance must be above 0 pips")
                }
                (Some(d), _) => Some(pips(d)),
                (None, Some(_)) => None,
                (None, None) => {
                    return Err("a trailing stop needs its distance (trail_dist_pips / traildist=) or ATR settings")
                }
            };
            Some(TrailingSpec {
                activation: self.trail_trigger_pips.map(pips),
                distance,
                step: pips(self.trail_step_pips.unwrap_or(0.0)),
                atr,
            })
        } else {
            None
        };
        Ok((breakeven, trailing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_rules_and_refuses_what_cannot_be_honoured() {
        let f = RuleFields {
            be_trigger_pips: Some(15.0),
            be_offset_pips: Some(2.0),
            trail_trigger_pips: Some(20.0),
            trail_dist_pips: Some(10.0),
            trail_step_pips: Some(5.0),
            ..Default::default()
        };
        let (be, tr) = f.build().unwrap();
        assert_eq!(be.unwrap().trigger.value, 15.0);
        let tr = tr.unwrap();
        assert_eq!(tr.activation.map(|a| a.value), Some(20.0));
        assert_eq!(tr.step.value, 5.0);
        assert!(RuleFields::default().build().unwrap() == (None, None));
        for bad in [
            RuleFields {
                be_offset_pips: Some(1.0),
                ..Default::default()
            },
            RuleFields {
                be_trigger_pips: Some(5.0),
                be_offset_pips: Some(5.0),
                ..Default::default()
            },
            RuleFields {
                trail_step_pips: Some(5.0),
                ..Default::default()
            },
            RuleFields {
                atr_period: Some(14),
                ..Default::default()
            },
            RuleFields {
                trail_dist_pips: Some(10.0),
                atr_timeframe: Some(Timeframe::H1),
                atr_period: Some(14),
                atr_multiplier: Some(2.0),
                ..Default::default()
            },
        ] {
            assert!(bad.build().is_err(), "{bad:?}");
        }
        let atr = RuleFields {
            atr_timeframe: timeframe("60"),
            atr_period: Some(14),
            atr_multiplier: Some(2.0),
            ..Default::default()
        };
        let (_, tr) = atr.build().unwrap();
        let tr = tr.unwrap();
        assert_eq!(tr.distance, None);
        assert_eq!(
            tr.atr.map(|a| (a.timeframe, a.shift)),
            Some((Timeframe::H1, 1))
        );
        assert_eq!(timeframe("1d"), Some(Timeframe::D1));
        assert_eq!(timeframe("7"), None);
    }
}
