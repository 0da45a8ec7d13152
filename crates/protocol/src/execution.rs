//! How a strategy's orders are sized, filtered and sent (migration 0015): the typed
//! volume request of a `trade` job ([`VolumeSpec`], computed by the agent at the
//! terminal), the pre-send filters ([`TradeFilters`]: spread, sessions, account
//! minimums) and the strategy's settings that produce them ([`StrategyExecution`]).

use serde::{Deserialize, Serialize};

use crate::jobs::PriceDistance;
use crate::pineconnector::PcAccountFilter;

/// Default slippage (`deviation`, points) of a strategy's market orders.
pub const DEFAULT_SLIPPAGE_POINTS: u32 = 20;
/// Largest slippage a strategy may allow, points.
pub const MAX_SLIPPAGE_POINTS: u32 = 100_000;
/// Largest `max_positions`.
pub const MAX_POSITIONS_CAP: u32 = 1_000;
/// At most this many session windows per strategy.
pub const MAX_SESSIONS: usize = 12;

/// How the agent sizes an order, each with an explicit unit. Computed at the
/// terminal with the symbol's tick value/size, contract size and margin per lot,
/// rounded down to the volume step and clamped to the volume limits and the
/// trade's `max_volume`; a result below the symbol's minimum volume fails the job.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum VolumeSpec {
    /// This many lots.
    Lots { lots: f64 },
    /// Lose `amount` (account currency) if the stop loss is hit; needs a stop.
    RiskMoney { amount: f64 },
    /// `percent` % of the balance lost at the stop loss; needs a stop.
    BalanceRisk { percent: f64 },
    /// `percent` % of the equity lost at the stop loss; needs a stop.
    EquityRisk { percent: f64 },
    /// PineConnector's "% of balance, lots": 0.1 lot per 1,000 of balance at
    /// `percent` = 1 (lots = balance × percent ÷ 10,000); no stop needed.
    BalanceLots { percent: f64 },
    /// The order's margin is `percent` % of the balance (lots = balance × percent
    /// ÷ 100 ÷ margin of one lot).
    BalanceMargin { percent: f64 },
}

impl VolumeSpec {
    /// The number in the spec (lots, money or percent).
    pub fn value(self) -> f64 {
        match self {
            VolumeSpec::Lots { lots } => lots,
            VolumeSpec::RiskMoney { amount } => amount,
            VolumeSpec::BalanceRisk { percent }
            | VolumeSpec::EquityRisk { percent }
            | VolumeSpec::BalanceLots { percent }
            | VolumeSpec::BalanceMargin { percent } => percent,
        }
    }

    /// True when the size depends on the stop-loss distance.
    pub fn needs_stop(self) -> bool {
        matches!(
            self,
            VolumeSpec::RiskMoney { .. }
                | VolumeSpec::BalanceRisk { .. }
                | VolumeSpec::EquityRisk { .. }
        )
    }
}

/// Trading hours of a strategy: entries only inside one of `windows`
/// (`"HH:MM-HH:MM"`, end exclusive; an end before the start runs past midnight)
/// on one of `days` (ISO weekday 1 = Monday … 7 = Sunday; empty = every day),
/// in local time `utc_offset_minutes` from UTC (the server resolves the strategy's
/// time zone when it queues the job).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionFilter {
    pub windows: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<u8>,
    #[serde(default)]
    pub utc_offset_minutes: i32,
    /// The time zone's name (messages only).
    #[serde(default)]
    pub tz: String,
}

/// Checks the agent makes at the terminal right before sending an entry; a failed
/// check ends the job `failed` with `filter_spread`, `filter_session`,
/// `filter_balance`, `filter_equity` or `filter_free_margin`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TradeFilters {
    /// Largest spread (ask − bid), in `points` or `pips`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_spread: Option<PriceDistance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<SessionFilter>,
    /// Minimums, account currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_balance: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_equity: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_free_margin: Option<f64>,
}

impl TradeFilters {
    pub fn is_empty(&self) -> bool {
        *self == TradeFilters::default()
    }
}

/// A session window `"HH:MM-HH:MM"` as minutes of the day `[start, end)`; `None`
/// when malformed or empty (start = end).
pub fn parse_session_window(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.trim().split_once('-')?;
    let hm = |t: &str| -> Option<u32> {
        let (h, m) = t.trim().split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        // 24:00 is the end of the day.
        if m > 59 || h > 24 || (h == 24 && m != 0) {
            return None;
        }
        Some(h * 60 + m)
    };
    let (start, end) = (hm(a)?, hm(b)?);
    (start != end && start < 1440).then_some((start, end))
}

/// True when minute-of-day `minute` is inside window `[start, end)` (past midnight
/// when `end < start`).
pub fn in_window(minute: u32, (start, end): (u32, u32)) -> bool {
    if start < end {
        (start..end).contains(&minute)
    } else {
        minute >= start || minute < end
    }
}

/// A strategy's execution settings (`tv_strategies` columns of migration 0015).
/// In a create/update request the group replaces every one of these settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StrategyExecution {
    /// Allowed slippage of market orders (MT5 `deviation`), points; default 20.
    #[serde(default = "default_slippage")]
    pub slippage_points: u32,
    /// Open positions per symbol and direction (this strategy's magic) after which
    /// an entry fails with `max_positions`; `null` = no cap.
    #[serde(default)]
    pub max_positions: Option<u32>,
    /// Largest spread for an entry, points (`SYMBOL_POINT`); `null` = no limit.
    #[serde(default)]
    pub max_spread_points: Option<f64>,
    /// Trading windows `"HH:MM-HH:MM"`; empty = any time.
    #[serde(default)]
    pub sessions: Vec<String>,
    /// ISO weekdays (1 = Monday … 7 = Sunday) of the windows; empty = every day.
    #[serde(default)]
    pub session_days: Vec<u8>,
    /// The windows' time zone (a name PostgreSQL knows), default `UTC`.
    #[serde(default = "default_tz")]
    pub session_tz: String,
    /// Account minimums for an entry (account currency); `null` = none.
    #[serde(default)]
    pub min_equity: Option<f64>,
    #[serde(default)]
    pub min_free_margin: Option<f64>,
    /// What a PineConnector `accfilter=` is a minimum of.
    #[serde(default)]
    pub pc_account_filter: PcAccountFilter,
}

fn default_slippage() -> u32 {
    DEFAULT_SLIPPAGE_POINTS
}

fn default_tz() -> String {
    "UTC".into()
}

impl Default for StrategyExecution {
    fn default() -> Self {
        StrategyExecution {
            slippage_points: DEFAULT_SLIPPAGE_POINTS,
            max_positions: None,
            max_spread_points: None,
            sessions: Vec::new(),
            session_days: Vec::new(),
            session_tz: default_tz(),
            min_equity: None,
            min_free_margin: None,
            pc_account_filter: PcAccountFilter::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_specs_carry_their_unit_in_the_json() {
        let v = serde_json::to_value(VolumeSpec::RiskMoney { amount: 50.0 }).unwrap();
        assert_eq!(v, serde_json::json!({"type":"risk_money","amount":50.0}));
        let back: VolumeSpec =
            serde_json::from_str(r#"{"type":"balance_lots","percent":1}"#).unwrap();
        assert_eq!(back, VolumeSpec::BalanceLots { percent: 1.0 });
        assert!(VolumeSpec::EquityRisk { percent: 1.0 }.needs_stop());
        assert!(!VolumeSpec::BalanceMargin { percent: 1.0 }.needs_stop());
    }

    #[test]
    fn session_windows() {
        assert_eq!(parse_session_window("08:00-17:00"), Some((480, 1020)));
        assert_eq!(parse_session_window(" 22:30 - 02:00 "), Some((1350, 120)));
        assert_eq!(parse_session_window("00:00-24:00"), Some((0, 1440)));
        for bad in [
            "8:00-17:00",
            "08:00-08:00",
            "25:00-01:00",
            "08:60-09:00",
            "x",
            "24:00-01:00",
        ] {
            assert_eq!(parse_session_window(bad), None, "{bad}");
        }
        assert!(in_window(480, (480, 1020)));
        assert!(!in_window(1020, (480, 1020)));
        assert!(in_window(1400, (1350, 120)));
        assert!(in_window(60, (1350, 120)));
        assert!(!in_window(600, (1350, 120)));
    }

    #[test]
    fn execution_defaults_when_absent() {
        let e: StrategyExecution = serde_json::from_str("{}").unwrap();
        assert_eq!(e, StrategyExecution::default());
        assert_eq!(e.slippage_points, 20);
        assert_eq!(e.session_tz, "UTC");
    }
}
