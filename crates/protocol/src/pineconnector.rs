//! Strategy settings for PineConnector-style alerts (`tv_strategies` columns added by
//! migration 0012): which alert dialect a strategy accepts, and what the bare
//! `risk=` / `sl=` / `tp=` of a PineConnector message mean — the PineConnector EA's
//! "Volume Type" and "Target Type" settings. docs/webhook.md has the table.

use serde::{Deserialize, Serialize};

/// `tv_strategies.alert_dialect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum AlertDialect {
    /// Every syntax; `<digits>,<PineConnector command>,...` is read as PineConnector.
    #[default]
    Auto,
    /// Only PineConnector messages are accepted.
    Pineconnector,
}

/// `tv_strategies.pc_volume_type`: the unit of a PineConnector `risk=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PcVolumeType {
    /// `risk=0.1` opens 0.1 lots (PineConnector's default).
    #[default]
    Lots,
    /// `risk=1` risks 1 % of the balance between entry and stop loss.
    PercentBalanceRisk,
    /// `risk=50` loses 50 units of the account currency at the stop loss.
    DollarRisk,
    /// `risk=1` opens 0.1 lots per 1,000 of balance (1 lot on 10,000).
    PercentBalanceLots,
    /// `risk=1` opens what uses 1 % of the balance as margin.
    PercentBalanceMargin,
    /// `risk=1` risks 1 % of the equity between entry and stop loss (Companion's
    /// addition; PineConnector has no equity type).
    PercentEquityRisk,
}

/// `tv_strategies.pc_account_filter`: what a PineConnector `accfilter=` is a
/// minimum of (the EA's "Account Filter" setting; its "margin %" is not offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PcAccountFilter {
    Balance,
    #[default]
    Equity,
    FreeMargin,
}

/// `tv_strategies.pc_target_type`: the unit of a PineConnector `sl=` / `tp=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PcTargetType {
    /// Distances in pips from the entry (PineConnector's default).
    #[default]
    Pips,
    /// Price levels.
    Price,
    /// Distances in points (`SYMBOL_POINT`; converted by the agent at the terminal).
    Points,
    /// Percent of the entry price (converted by the agent at the terminal).
    Percentage,
}

/// `tv_strategies.pc_pending_entry` (migration 0014): the unit of a PineConnector
/// pending order's `price=` — the EA's "Pending Order Entry".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PcPendingEntry {
    /// Pips from the current price (PineConnector's recommended setting).
    #[default]
    Pips,
    /// The order's price as sent.
    Price,
    /// Percent of the current price away from it.
    Percentage,
}

macro_rules! text_enum {
    ($t:ty { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $t {
            /// The database / JSON spelling.
            pub fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),+ }
            }
            /// Parses the database / JSON spelling.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(<$t>::$v),)+ _ => None }
            }
        }
    };
}

text_enum!(AlertDialect { Auto => "auto", Pineconnector => "pineconnector" });
text_enum!(PcVolumeType {
    Lots => "lots",
    PercentBalanceRisk => "percent_balance_risk",
    DollarRisk => "dollar_risk",
    PercentBalanceLots => "percent_balance_lots",
    PercentBalanceMargin => "percent_balance_margin",
    PercentEquityRisk => "percent_equity_risk",
});
text_enum!(PcAccountFilter {
    Balance => "balance",
    Equity => "equity",
    FreeMargin => "free_margin",
});
text_enum!(PcTargetType {
    Pips => "pips",
    Price => "price",
    Points => "points",
    Percentage => "percentage",
});

text_enum!(PcPendingEntry {
    Pips => "pips",
    Price => "price",
    Percentage => "percentage",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_match_serde_and_the_migration() {
        for v in [
            PcVolumeType::Lots,
            PcVolumeType::PercentBalanceRisk,
            PcVolumeType::DollarRisk,
            PcVolumeType::PercentBalanceLots,
            PcVolumeType::PercentBalanceMargin,
            PcVolumeType::PercentEquityRisk,
        ] {
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
            assert_eq!(PcVolumeType::parse(v.as_str()), Some(v));
        }
        for t in [
            PcTargetType::Pips,
            PcTargetType::Price,
            PcTargetType::Points,
            PcTargetType::Percentage,
        ] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
            assert_eq!(PcTargetType::parse(t.as_str()), Some(t));
        }
        for e in [
            PcPendingEntry::Pips,
            PcPendingEntry::Price,
            PcPendingEntry::Percentage,
        ] {
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
            assert_eq!(PcPendingEntry::parse(e.as_str()), Some(e));
        }
        for d in [AlertDialect::Auto, AlertDialect::Pineconnector] {
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
            assert_eq!(AlertDialect::parse(d.as_str()), Some(d));
        }
        assert_eq!(PcVolumeType::parse("LOTS"), None);
    }
}
