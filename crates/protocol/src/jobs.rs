//! Job types, statuses and the per-type `input_data` / `output_data` contracts
//! (DESIGN section 5). Field names are the platform's; keep them stable.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The job types of `jobs.job_type` (the CHECK constraint lists the same twelve):
/// the seed's ten, plus `modify_position` and `cancel_orders` (migration 0013).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum JobType {
    Compile,
    Deploy,
    Run,
    Stop,
    Test,
    Trade,
    GetPositions,
    GetAccount,
    GetCandles,
    ClosePosition,
    /// SL/TP of open positions (migration 0013).
    ModifyPosition,
    /// Delete pending orders (migration 0013).
    CancelOrders,
}

impl JobType {
    pub const ALL: [JobType; 12] = [
        JobType::Compile,
        JobType::Deploy,
        JobType::Run,
        JobType::Stop,
        JobType::Test,
        JobType::Trade,
        JobType::GetPositions,
        JobType::GetAccount,
        JobType::GetCandles,
        JobType::ClosePosition,
        JobType::ModifyPosition,
        JobType::CancelOrders,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Compile => "compile",
            JobType::Deploy => "deploy",
            JobType::Run => "run",
            JobType::Stop => "stop",
            JobType::Test => "test",
            JobType::Trade => "trade",
            JobType::GetPositions => "get_positions",
            JobType::GetAccount => "get_account",
            JobType::GetCandles => "get_candles",
            JobType::ClosePosition => "close_position",
            JobType::ModifyPosition => "modify_position",
            JobType::CancelOrders => "cancel_orders",
        }
    }

    /// Jobs that move money: never re-queued blindly, never executed after `expires_at`.
    pub fn is_trading(self) -> bool {
        matches!(
            self,
            JobType::Trade
                | JobType::ClosePosition
                | JobType::ModifyPosition
                | JobType::CancelOrders
        )
    }
}

impl std::str::FromStr for JobType {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownValue(s.to_string()))
    }
}

impl std::fmt::Display for JobType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no known enum value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownValue(pub String);

/// `jobs.status`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum JobStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

/// Buy or sell.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Side {
    Buy,
    Sell,
}

/// Chart timeframes MT5 knows.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Timeframe {
    M1,
    M5,
    M15,
    M30,
    H1,
    H4,
    D1,
    W1,
    MN1,
}

impl Timeframe {
    /// Length of one bar in seconds (a month counts as 30 days).
    pub fn seconds(self) -> i64 {
        match self {
            Timeframe::M1 => 60,
            Timeframe::M5 => 300,
            Timeframe::M15 => 900,
            Timeframe::M30 => 1800,
            Timeframe::H1 => 3600,
            Timeframe::H4 => 14_400,
            Timeframe::D1 => 86_400,
            Timeframe::W1 => 604_800,
            Timeframe::MN1 => 2_592_000,
        }
    }
}

/// `trade` input. `volume_spec` (typed, migration 0015), else `volume` (lots), else
/// `risk_pct` sizes the order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradeInput {
    /// The canonical instrument (`EURUSD`, `XAUUSD`, `NAS100`); the agent resolves
    /// it to the broker's own name.
    pub symbol: String,
    /// The alert's own symbol (exchange prefix stripped) when it differs from the
    /// canonical one, e.g. `US30.cash`: used as is when the broker has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_symbol: Option<String>,
    pub side: Side,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sl_pips: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tp_pips: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sl: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tp: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_id: Option<Uuid>,
    /// How the webhook sized the order (audit trail; the agent does not read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sizing: Option<SizingBasis>,
    /// The TradingView strategy whose signal this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_id: Option<Uuid>,
    /// Upper bound (lots) of a `risk_pct`-sized order; ignored unless positive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_volume: Option<f64>,
    /// Set when the server knew today's losses but no balance: the agent checks
    /// the daily loss limit against the live balance before sending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_loss_check: Option<DailyLossCheck>,
    /// The price in the signal, when it had one (audit trail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_price: Option<f64>,
    /// The signal's comment (audit trail; the order's MT5 comment is the job's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The MT5 magic number of the order (the strategy's `magic`); absent: the
    /// agent's own default magic. With a magic the agent applies `opposite_entry`
    /// to the positions carrying it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub magic: Option<i64>,
    /// What to do when the strategy (positions with `magic`) holds the opposite
    /// side of the symbol; absent = `reverse`. Ignored without `magic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opposite_entry: Option<OppositeEntry>,
    /// `market` (absent), or a pending `limit` / `stop` order at `entry_price` or
    /// `entry_offset` from the current price (ask for buys, bid for sells).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_type: Option<OrderType>,
    /// A pending order's price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_price: Option<f64>,
    /// A pending order's distance from the current price (a positive distance; the
    /// direction follows from the order: a buy limit below the ask, a buy stop above).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_offset: Option<PriceDistance>,
    /// A pending order's expiry (absent: good till cancelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<DateTime<Utc>>,
    /// The size with its unit, computed by the agent at the terminal; wins over
    /// `volume` / `risk_pct` (which older servers send and the agent still reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_spec: Option<crate::VolumeSpec>,
    /// Stop loss as a distance from the entry in `pips`, `points` or `percent` of
    /// the entry price (used when `sl` and `sl_pips` are absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sl_distance: Option<PriceDistance>,
    /// Take profit as a distance (see `sl_distance`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tp_distance: Option<PriceDistance>,
    /// Checks made at the terminal right before sending (spread, sessions, account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Box<crate::TradeFilters>>,
    /// Cap on the strategy's (`magic`) open positions on the symbol in the order's
    /// direction; at the cap the entry fails with `max_positions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_positions: Option<u32>,
    /// Allowed slippage (MT5 `deviation`), points; absent = 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deviation: Option<u32>,
    /// Breakeven rule for the position (a pending order's: when it fills), run by
    /// the terminal beside the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakeven: Option<crate::stop_rules::BreakevenSpec>,
    /// Trailing-stop rule for the position (as `breakeven`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailing: Option<crate::stop_rules::TrailingSpec>,
    /// Close the strategy's (`magic`) positions of the order's own side on the
    /// symbol first, then enter (PineConnector `closelongbuy` / `closeshortsell`):
    /// one job, executed in that order, the closes listed in the output's `closed`.
    /// Market orders with a magic only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub close_same_side: bool,
}

/// Market or pending (`trade` input `order_type`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum OrderType {
    #[default]
    Market,
    /// Buy below the ask / sell above the bid.
    Limit,
    /// Buy above the ask / sell below the bid.
    Stop,
}

/// The unit of a price distance or level.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum PriceUnit {
    /// An absolute price (a level only, not a distance).
    Price,
    /// Pips (10 points on 3- and 5-digit symbols, else 1 point).
    Pips,
    /// Points (`SYMBOL_POINT`).
    Points,
    /// Percent of the reference price.
    Percent,
}

/// A positive distance from a reference price.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PriceDistance {
    pub value: f64,
    /// `pips`, `points` or `percent` (`price` is refused).
    pub unit: PriceUnit,
}

/// An SL or TP level of `modify_position`: an absolute price (0 removes it) or a
/// distance from the position's open price on the losing (SL) / winning (TP) side.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StopLevel {
    pub value: f64,
    pub unit: PriceUnit,
}

impl TradeInput {
    /// An order for `symbol` with every optional field unset (size it before sending).
    pub fn new(symbol: impl Into<String>, side: Side) -> Self {
        TradeInput {
            symbol: symbol.into(),
            raw_symbol: None,
            side,
            volume: None,
            risk_pct: None,
            sl_pips: None,
            tp_pips: None,
            sl: None,
            tp: None,
            signal_id: None,
            sizing: None,
            strategy_id: None,
            max_volume: None,
            daily_loss_check: None,
            signal_price: None,
            comment: None,
            magic: None,
            opposite_entry: None,
            order_type: None,
            entry_price: None,
            entry_offset: None,
            expiry: None,
            volume_spec: None,
            sl_distance: None,
            tp_distance: None,
            filters: None,
            max_positions: None,
            deviation: None,
            breakeven: None,
            trailing: None,
            close_same_side: false,
        }
    }

    /// True for a pending (`limit` / `stop`) order.
    pub fn is_pending(&self) -> bool {
        matches!(self.order_type, Some(OrderType::Limit | OrderType::Stop))
    }
}

/// A strategy's rule for an entry while it holds the opposite side of the symbol
/// (`tv_strategies.opposite_entry`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum OppositeEntry {
    /// Close the strategy's opposite positions on the symbol, then open.
    #[default]
    Reverse,
    /// Open alongside (hedging accounts only; refused on netting accounts).
    Hedge,
    /// Refuse the entry (`opposite_position`).
    Reject,
}

impl OppositeEntry {
    pub fn as_str(self) -> &'static str {
        match self {
            OppositeEntry::Reverse => "reverse",
            OppositeEntry::Hedge => "hedge",
            OppositeEntry::Reject => "reject",
        }
    }
}

impl std::str::FromStr for OppositeEntry {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            OppositeEntry::Reverse,
            OppositeEntry::Hedge,
            OppositeEntry::Reject,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or_else(|| UnknownValue(s.to_string()))
    }
}

/// What an order did to the symbol's position (`trade` output `position_effect`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum PositionEffect {
    /// A new position.
    Opened,
    /// Netting: volume added to the existing position of the same side.
    Added,
    /// Netting: the opposite position was reduced.
    Reduced,
    /// Netting: the opposite position was closed exactly (the account is flat).
    Closed,
    /// The opposite position was closed and one of the order's side opened
    /// (`reverse`: closed first, then opened; or a netting order larger than it).
    Reversed,
}

/// How a trade's size was decided (`trade` input `sizing`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SizingBasis {
    /// The message's volume.
    Explicit,
    /// The message's volume, lowered to `max_lots`.
    ExplicitCappedByMaxLots,
    /// Risk % of the last known balance over the stop distance.
    Risk,
    /// Risk sizing, lowered to `max_lots`.
    RiskCappedByMaxLots,
    /// No volume and no stop: the smallest order.
    MinimumNoStop,
    /// The balance or the instrument was unknown: the agent sizes from `risk_pct`.
    RiskAtAgent,
    /// A typed `volume_spec` the agent computes at the terminal.
    AtAgent,
    /// A basis this build does not know (written by a newer or other client).
    #[serde(other)]
    Unknown,
}

/// `daily_loss_check` of a `trade` input: refuse the order when `loss_today`
/// reaches `limit_pct` % of the live balance.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DailyLossCheck {
    /// Today's realised loss (positive), account currency.
    pub loss_today: f64,
    /// `user_settings.daily_loss_limit_pct`.
    pub limit_pct: f64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TradeOutput {
    pub fill_price: f64,
    /// The position the deal went to (on netting accounts the symbol's one position).
    pub ticket: u64,
    pub order_id: u64,
    pub volume: f64,
    /// What the order did to the position; absent from agents before 0.11 and from
    /// results reconciled by comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_effect: Option<PositionEffect>,
    /// Positions closed before the order (`opposite_entry` = `reverse`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closed: Vec<ClosedPosition>,
    /// A pending order was placed, not filled: `order_id` is its ticket,
    /// `fill_price` its price, `ticket` 0 (no position yet).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
    /// The breakeven/trailing rules set on the position (or pending order), as
    /// the terminal keeps them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_rule: Option<crate::stop_rules::StopRuleState>,
    /// Why the rules could not be set (the order itself went through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_rule_error: Option<String>,
}

/// One position a close (or a reversing entry) closed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ClosedPosition {
    pub ticket: u64,
    pub symbol: String,
    /// The position's side (a buy position is closed by a sell deal).
    pub side: Side,
    pub volume: f64,
    /// The closing price.
    pub price: f64,
    /// Realised P&L of this position (0 when reconciled from the terminal's history).
    pub pnl: f64,
}

/// `close_position` input: a ticket (the app's close of one position, whoever
/// owns it), or a symbol (optionally one side of it), or with `all_symbols` every
/// symbol. `magics`, when not empty, limits a symbol-wide close to positions
/// carrying one of them (the server sets it for every signal close).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ClosePositionInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<u64>,
    /// The canonical instrument (resolved by the agent like a trade's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// The alert's own symbol when it differs from `symbol` (see `TradeInput`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_symbol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_id: Option<Uuid>,
    /// The TradingView strategy whose close signal this is (set by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_id: Option<Uuid>,
    /// Only positions with one of these magic numbers (empty: any). Ignored for a
    /// ticket close.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub magics: Vec<i64>,
    /// Every symbol (`closeall`); `symbol` is then ignored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_symbols: bool,
    /// Partial close: lots to close of each selected position (at most its volume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<f64>,
    /// Partial close: percent (0 < p <= 100) of each selected position's volume.
    /// The part is rounded down to the volume step; a part below the symbol's
    /// minimum volume is refused (`partial_below_min`); a remainder below it
    /// closes the whole position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
}

/// `modify_position` input: new SL and/or TP of a ticket, or of the positions on a
/// symbol (optionally one side) carrying one of `magics` (the server sets the
/// strategy's magic for every signal; empty: any magic, the app's own choice).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ModifyPositionInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_symbol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub magics: Vec<i64>,
    /// New SL (absent: unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sl: Option<StopLevel>,
    /// New TP (absent: unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tp: Option<StopLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_id: Option<Uuid>,
    /// Set (replace) the breakeven rule of the selected positions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakeven: Option<crate::stop_rules::BreakevenSpec>,
    /// Set (replace) the trailing rule of the selected positions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailing: Option<crate::stop_rules::TrailingSpec>,
    /// Remove the breakeven/trailing rules of the selected positions (before
    /// setting new ones, when given too).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel_rules: bool,
}

/// One position a `modify_position` changed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ModifiedPosition {
    pub ticket: u64,
    pub symbol: String,
    pub side: Side,
    pub sl: Option<f64>,
    pub tp: Option<f64>,
    /// The position's breakeven/trailing rules after the job (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_rule: Option<crate::stop_rules::StopRuleState>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ModifyPositionOutput {
    pub modified: Vec<ModifiedPosition>,
}

/// `cancel_orders` input: a pending order's ticket, or the pending orders on a
/// symbol (optionally one side) carrying one of `magics` (see `ModifyPositionInput`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CancelOrdersInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_symbol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub magics: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_id: Option<Uuid>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CancelOrdersOutput {
    /// The pending orders deleted.
    pub cancelled: Vec<PendingOrder>,
}

/// A pending order in the terminal.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PendingOrder {
    pub ticket: u64,
    pub symbol: String,
    pub side: Side,
    /// `limit` or `stop`.
    pub order_type: OrderType,
    pub volume: f64,
    pub price: f64,
    pub sl: Option<f64>,
    pub tp: Option<f64>,
    pub magic: i64,
    pub comment: String,
    /// Unix seconds; absent: good till cancelled.
    pub expiry: Option<i64>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ClosePositionOutput {
    pub closed_price: f64,
    pub pnl: f64,
    /// Tickets closed (a symbol-wide close may close several).
    #[serde(default)]
    pub tickets: Vec<u64>,
    /// Each position closed, with its own price and P&L (`closed_price` is the last
    /// one's, `pnl` their sum).
    #[serde(default)]
    pub closed: Vec<ClosedPosition>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Position {
    /// The ticket as a string (the platform's `id`).
    pub id: String,
    pub ticket: u64,
    pub symbol: String,
    pub side: Side,
    pub volume: f64,
    pub open_price: f64,
    pub current_price: f64,
    pub sl: Option<f64>,
    pub tp: Option<f64>,
    pub pnl: f64,
    pub comment: String,
    pub magic: i64,
    // POSITION_IDENTIFIER: the position's id in history (deals' DEAL_POSITION_ID);
    // equals `ticket` on most accounts, may differ after a netting reversal. The
    // agent's close accepts either. None from terminals that do not report it.
    #[serde(default)]
    pub identifier: Option<u64>,
    /// The breakeven/trailing rules the terminal runs for this position (absent:
    /// none, or a bridge older than the rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_rule: Option<crate::stop_rules::StopRuleState>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionsOutput {
    pub positions: Vec<Position>,
    /// The terminal's pending orders (agents from 0.14; empty when the terminal
    /// cannot list them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orders: Vec<PendingOrder>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AccountOutput {
    pub balance: f64,
    pub equity: f64,
    pub margin_used: f64,
    pub margin_available: f64,
    pub currency: String,
    pub leverage: i64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandlesInput {
    pub symbol: String,
    pub timeframe: Timeframe,
    pub count: u32,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Candle {
    /// Bar open time, Unix seconds UTC.
    pub time: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandlesOutput {
    pub candles: Vec<Candle>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompileInput {
    pub version_id: Uuid,
    pub source: String,
}

/// One compiler message: `file(line,col) : error 109: message`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Diagnostic {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub code: u32,
    pub message: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CompileOutput {
    pub compiled: bool,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    /// SHA-256 of the produced `.ex5`, hex; absent when compilation failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ex5_checksum: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployInput {
    pub deployment_id: Uuid,
    pub version_id: Uuid,
    pub symbol: String,
    pub timeframe: Timeframe,
    pub magic_number: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<serde_json::Map<String, serde_json::Value>>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployOutput {
    pub deployed: bool,
    pub chart_id: i64,
}

/// `run` and `stop` input.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRef {
    pub deployment_id: Uuid,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutput {
    pub running: bool,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopOutput {
    pub stopped: bool,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestInput {
    pub version_id: Uuid,
    pub symbol: String,
    pub timeframe: Timeframe,
    /// `YYYY-MM-DD`.
    pub from: String,
    /// `YYYY-MM-DD`.
    pub to: String,
    /// MT5 tester model 0–4 (0 = every tick).
    #[serde(default)]
    pub model: u8,
    pub deposit: f64,
    pub leverage: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Figures read from an MT5 tester report.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TestReport {
    pub net_profit: f64,
    pub gross_profit: f64,
    pub gross_loss: f64,
    pub profit_factor: f64,
    pub max_drawdown: f64,
    pub max_drawdown_pct: f64,
    pub total_trades: u32,
    pub win_rate_pct: f64,
    pub initial_deposit: f64,
    /// Balance after each closed trade, when the report has one.
    #[serde(default)]
    pub equity_curve: Vec<f64>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestOutput {
    pub report: TestReport,
}

/// What `GET /agents/{id}/jobs/next` returns with 200.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimedJob {
    pub job_id: Uuid,
    pub job_type: JobType,
    pub input_data: serde_json::Value,
    /// 1 on the first claim, incremented on every re-queue.
    pub attempt: i32,
    /// Trade jobs: the deadline after which the job must not be executed.
    pub expires_at: Option<DateTime<Utc>>,
    /// The account (broker connection) the job is for: the agent runs it on the
    /// terminal bound to that connection. Absent: the agent's first terminal
    /// (servers before migration 0017, jobs that name no account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_connection_id: Option<Uuid>,
}

/// Terminal states an agent may report.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultStatus {
    Completed,
    Failed,
}

/// `POST /agents/{id}/jobs/{job_id}/result` body.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResultRequest {
    pub status: ResultStatus,
    #[serde(default)]
    pub output_data: Option<serde_json::Value>,
    #[serde(default)]
    pub error_message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_type_round_trips_through_its_wire_name() {
        for t in JobType::ALL {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(t.as_str().parse::<JobType>().unwrap(), t);
        }
        assert!("sell".parse::<JobType>().is_err());
    }

    #[test]
    fn trade_input_reads_the_webhook_fields_and_tolerates_unknown_ones() {
        let v: TradeInput = serde_json::from_str(
            r#"{"symbol":"EURUSD","side":"sell","risk_pct":1.0,"sizing":"risk_at_agent",
                "max_volume":0.5,"daily_loss_check":{"loss_today":120.0,"limit_pct":5.0},
                "signal_price":1.085,"comment":"x","future_field":true}"#,
        )
        .unwrap();
        assert_eq!(v.sizing, Some(SizingBasis::RiskAtAgent));
        assert_eq!(v.max_volume, Some(0.5));
        assert_eq!(
            v.daily_loss_check,
            Some(DailyLossCheck {
                loss_today: 120.0,
                limit_pct: 5.0
            })
        );
        let later: TradeInput =
            serde_json::from_str(r#"{"symbol":"EURUSD","side":"buy","sizing":"by_magic"}"#)
                .unwrap();
        assert_eq!(later.sizing, Some(SizingBasis::Unknown));
    }

    #[test]
    fn trade_input_accepts_the_platform_shape() {
        let v: TradeInput =
            serde_json::from_str(r#"{"symbol":"EURUSD","side":"buy","risk_pct":1.0,"sl_pips":20}"#)
                .unwrap();
        assert_eq!(v.side, Side::Buy);
        assert_eq!(v.volume, None);
        assert_eq!(v.sl_pips, Some(20.0));
    }
}
