//! Breakeven and trailing-stop rules (issue 14): what a `trade` or
//! `modify_position` asks for ([`BreakevenSpec`], [`TrailingSpec`], distances with
//! explicit units) and what the terminal reports back per position
//! ([`StopRuleState`], in price units). The rules run beside the terminal (bridge EA,
//! paper terminal), not in the agent: they keep moving the SL while the agent, the
//! app or the server is down.

use serde::{Deserialize, Serialize};

use crate::jobs::{PriceDistance, PriceUnit, Timeframe};

fn zero_pips() -> PriceDistance {
    PriceDistance {
        value: 0.0,
        unit: PriceUnit::Pips,
    }
}

/// Breakeven: once the price has moved `trigger` into profit from the open price,
/// the SL moves to the open price plus `offset` in the position's favour (0 = the
/// open price itself). Once, and only when that improves the SL.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BreakevenSpec {
    pub trigger: PriceDistance,
    /// Beyond the open price, in profit (absent: 0).
    #[serde(default = "zero_pips")]
    pub offset: PriceDistance,
}

/// ATR-based trailing distance: `multiplier` × the average true range of the last
/// `period` bars of `timeframe` (`shift` 1: closed bars only; 0: with the forming bar).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AtrTrailing {
    pub timeframe: Timeframe,
    pub period: u32,
    pub multiplier: f64,
    #[serde(default = "one")]
    pub shift: u32,
}

fn one() -> u32 {
    1
}

/// Trailing stop: once the price has moved `activation` into profit (absent: at
/// once), the SL follows the price at `distance` (or the ATR distance), moving only
/// when it improves by at least `step`; it never moves back.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TrailingSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<PriceDistance>,
    /// The SL's distance from the price (with `atr`: ignored, may be absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<PriceDistance>,
    /// The least improvement worth a modification (absent: 0, any improvement).
    #[serde(default = "zero_pips")]
    pub step: PriceDistance,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atr: Option<AtrTrailing>,
}

/// Where a position's rules are.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum StopRulePhase {
    /// Waiting for the breakeven trigger / trailing activation.
    Armed,
    /// Breakeven done (and no trailing active yet).
    Triggered,
    /// The trailing stop is following the price.
    Trailing,
}

/// A rule as the terminal keeps it: distances in price units (converted by the
/// agent from pips/points/percent), with `pip` (the price of one pip) to show
/// them in pips again.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BreakevenRule {
    pub trigger: f64,
    pub offset: f64,
    /// Done: the SL was moved (or was already beyond the breakeven level).
    #[serde(default)]
    pub done: bool,
}

/// See [`BreakevenRule`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TrailingRule {
    /// 0: at once (even while the spread keeps the position below its open price).
    #[serde(default)]
    pub activation: f64,
    /// Price distance (0 with `atr`).
    #[serde(default)]
    pub distance: f64,
    #[serde(default)]
    pub step: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atr: Option<AtrTrailing>,
    /// The activation was reached.
    #[serde(default)]
    pub active: bool,
}

/// A ticket's rules and where they are, as the terminal reports them (bridge
/// `stop_rules`, `positions[].stop_rule`; `Position::stop_rule`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StopRuleState {
    /// The position (or the pending order whose position it will be).
    pub ticket: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakeven: Option<BreakevenRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailing: Option<TrailingRule>,
    pub phase: StopRulePhase,
    /// The SL the rules last set (absent: not moved yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sl: Option<f64>,
    /// SL modifications the rules made.
    #[serde(default)]
    pub moves: u32,
    /// One pip in price units (to show distances in pips); 0 when unknown.
    #[serde(default)]
    pub pip: f64,
}

impl StopRuleState {
    /// The phase the rules are in.
    pub fn phase_of(be: Option<&BreakevenRule>, tr: Option<&TrailingRule>) -> StopRulePhase {
        if tr.is_some_and(|t| t.active) {
            StopRulePhase::Trailing
        } else if be.is_some_and(|b| b.done) {
            StopRulePhase::Triggered
        } else {
            StopRulePhase::Armed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_read_the_documented_json() {
        let be: BreakevenSpec =
            serde_json::from_str(r#"{"trigger":{"value":15,"unit":"pips"}}"#).unwrap();
        assert_eq!(be.offset.value, 0.0);
        let tr: TrailingSpec = serde_json::from_str(
            r#"{"activation":{"value":20,"unit":"pips"},"distance":{"value":10,"unit":"pips"},
                "step":{"value":5,"unit":"points"}}"#,
        )
        .unwrap();
        assert_eq!(tr.step.unit, PriceUnit::Points);
        let atr: TrailingSpec =
            serde_json::from_str(r#"{"atr":{"timeframe":"H1","period":14,"multiplier":2.0}}"#)
                .unwrap();
        assert_eq!(atr.atr.map(|a| a.shift), Some(1));
        assert_eq!(atr.distance, None);
    }
}
