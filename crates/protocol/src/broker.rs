//! What a broker's MT5 terminal says about itself: account margin mode and kind,
//! its symbol list (for symbol resolution) and its closed deals (for realised P&L).
//!
//! Filled by the bridge EA (or the paper terminal) and read by the agent; the server
//! and the app see them through heartbeats, job results and the user API.

use serde::{Deserialize, Serialize};

use crate::Side;

/// `ACCOUNT_MARGIN_MODE`: how the account keeps positions.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarginMode {
    /// Several positions per symbol, each closed on its own (`ACCOUNT_MARGIN_MODE_RETAIL_HEDGING`).
    Hedging,
    /// One net position per symbol; an opposite order reduces or reverses it
    /// (`ACCOUNT_MARGIN_MODE_RETAIL_NETTING`).
    Netting,
    /// Exchange netting (`ACCOUNT_MARGIN_MODE_EXCHANGE`): netting semantics.
    Exchange,
}

impl MarginMode {
    /// True when the account keeps one position per symbol.
    pub fn is_netting(self) -> bool {
        !matches!(self, MarginMode::Hedging)
    }
}

/// `ACCOUNT_TRADE_MODE`: demo, contest or real money.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Demo,
    Contest,
    Real,
}

/// `SYMBOL_TRADE_MODE`: what orders a symbol accepts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SymbolTradeMode {
    #[default]
    Full,
    LongOnly,
    ShortOnly,
    CloseOnly,
    Disabled,
}

impl SymbolTradeMode {
    /// True when new positions can be opened on the symbol (in some direction).
    pub fn opens(self) -> bool {
        matches!(
            self,
            SymbolTradeMode::Full | SymbolTradeMode::LongOnly | SymbolTradeMode::ShortOnly
        )
    }
}

/// An order filling policy (`ORDER_FILLING_*`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filling {
    Fok,
    Ioc,
    Return,
}

/// One entry of the terminal's symbol list (bridge command `symbols`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrokerSymbol {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `SYMBOL_PATH`, e.g. `Forex\Majors\EURUSD.pro`.
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub trade_mode: SymbolTradeMode,
    #[serde(default)]
    pub digits: u32,
    /// Shown in Market Watch.
    #[serde(default)]
    pub visible: bool,
}

/// How a deal changed a position (`DEAL_ENTRY_*`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealEntry {
    In,
    Out,
    /// A reversal on a netting account (closes and opens in one deal).
    Inout,
    OutBy,
}

/// A deal from the terminal's history that realised profit or loss (entry out,
/// inout or out_by): stop-loss and take-profit hits, manual closes, other EAs'.
/// `deal` (the deal ticket) is the key: reported twice, it counts once.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedDeal {
    pub deal: u64,
    #[serde(default)]
    pub order: u64,
    /// `DEAL_POSITION_ID` of the position the deal closed.
    #[serde(default)]
    pub position: u64,
    pub symbol: String,
    /// The deal's own direction (a buy deal closes a sell position).
    pub side: Side,
    pub entry: DealEntry,
    pub volume: f64,
    pub price: f64,
    pub profit: f64,
    #[serde(default)]
    pub swap: f64,
    #[serde(default)]
    pub commission: f64,
    #[serde(default)]
    pub fee: f64,
    #[serde(default)]
    pub magic: i64,
    #[serde(default)]
    pub comment: String,
    /// Trade-server time (`DEAL_TIME`), seconds; see `TerminalInfo::gmt_offset_secs`.
    pub time: i64,
}

impl ClosedDeal {
    /// What the deal added to the balance: profit + swap + commission + fee.
    pub fn net(&self) -> f64 {
        self.profit + self.swap + self.commission + self.fee
    }
}

/// `POST /api/v1/agents/{id}/deals`: closed deals the agent read from its terminal
/// (`Terminal::closed_deals`). The server stores each once per (broker connection,
/// deal ticket), so the agent may send a deal again.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealsReport {
    /// Trade-server time minus UTC, seconds (`TerminalInfo::gmt_offset_secs`; 0 when
    /// unknown): a deal's UTC time is `time - gmt_offset_secs`.
    #[serde(default)]
    pub gmt_offset_secs: i64,
    pub deals: Vec<ClosedDeal>,
    /// The account (broker connection) whose terminal the deals come from, when the
    /// agent serves several; absent: the agent's pairing connection. The agent must
    /// serve it (`agent_connections`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_connection_id: Option<uuid::Uuid>,
}

/// The answer to a [`DealsReport`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealsAccepted {
    /// Deals not seen before (the others were already stored).
    pub stored: u32,
}
