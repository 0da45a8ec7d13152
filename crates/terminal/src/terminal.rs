//! The `Terminal` trait: everything the agent's executor asks of an MT5 terminal.

use std::future::Future;

use companion_protocol::{
    AccountOutput, BrokerSymbol, Candle, ClosedDeal, Filling, OrderType, PendingOrder, Position,
    Side, SymbolTradeMode, TerminalInfo, Timeframe,
};

/// Why a terminal call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TerminalError {
    /// No bridge EA (or paper terminal) is connected right now.
    #[error("the MT5 terminal is not connected: {0}")]
    NotConnected(String),
    /// The request was sent but no reply came in time; the outcome is unknown.
    #[error("the terminal did not answer within {0} ms; the outcome is unknown")]
    Timeout(u64),
    /// MT5 refused the request with a trade server return code.
    #[error("MT5 rejected the request: retcode {retcode} ({message})")]
    Rejected { retcode: u32, message: String },
    /// The terminal answered with an error that is not a trade retcode.
    #[error("terminal error: {0}")]
    Other(String),
}

impl TerminalError {
    /// True when the request may have taken effect (reconcile before retrying).
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, TerminalError::Timeout(_))
    }
}

/// Symbol properties needed to size and round orders.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct SymbolInfo {
    pub symbol: String,
    pub digits: u32,
    pub point: f64,
    pub contract_size: f64,
    pub tick_size: f64,
    pub tick_value: f64,
    pub volume_min: f64,
    pub volume_max: f64,
    pub volume_step: f64,
    pub bid: f64,
    pub ask: f64,
    /// `SYMBOL_TRADE_MODE` (full when an older bridge does not say).
    #[serde(default)]
    pub trade_mode: SymbolTradeMode,
    /// Filling policies the symbol allows (`SYMBOL_FILLING_MODE`); empty when an
    /// older bridge does not say.
    #[serde(default)]
    pub filling_modes: Vec<Filling>,
    /// `SYMBOL_TRADE_STOPS_LEVEL`: minimum SL/TP distance from the price, points.
    #[serde(default)]
    pub stops_level: u32,
    /// `SYMBOL_CURRENCY_PROFIT` (empty when an older bridge does not say).
    #[serde(default)]
    pub currency_profit: String,
    /// Margin of one lot bought at the ask, account currency (`OrderCalcMargin`);
    /// absent from older bridges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_per_lot: Option<f64>,
}

/// A market order to send.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OrderRequest {
    pub symbol: String,
    pub side: Side,
    pub volume: f64,
    pub sl: Option<f64>,
    pub tp: Option<f64>,
    /// Carries the job id so a re-claimed trade can be found (MT5 keeps 31 chars).
    pub comment: String,
    pub magic: i64,
    /// Filling policy (`ORDER_FILLING_*`); `None` leaves it to the bridge.
    #[serde(default)]
    pub filling: Option<Filling>,
    /// Allowed slippage, points (`None`: 20).
    #[serde(default)]
    pub deviation: Option<u32>,
}

/// Slippage of an order that does not say (points).
pub const DEFAULT_DEVIATION: u32 = 20;

/// A pending order to place.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PendingRequest {
    pub symbol: String,
    pub side: Side,
    /// `Limit` or `Stop`.
    pub order_type: OrderType,
    pub volume: f64,
    pub price: f64,
    pub sl: Option<f64>,
    pub tp: Option<f64>,
    /// Unix seconds; `None`: good till cancelled.
    pub expiry: Option<i64>,
    pub comment: String,
    pub magic: i64,
    #[serde(default)]
    pub filling: Option<Filling>,
}

/// A placed pending order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlacedOrder {
    pub order_id: u64,
    pub price: f64,
}

/// The wire name of a pending order (`buy_limit`, …); `None` for a market order.
pub fn pending_type_str(side: Side, order_type: OrderType) -> Option<&'static str> {
    Some(match (side, order_type) {
        (Side::Buy, OrderType::Limit) => "buy_limit",
        (Side::Sell, OrderType::Limit) => "sell_limit",
        (Side::Buy, OrderType::Stop) => "buy_stop",
        (Side::Sell, OrderType::Stop) => "sell_stop",
        (_, OrderType::Market) => return None,
    })
}

/// The inverse of [`pending_type_str`].
pub fn parse_pending_type(s: &str) -> Option<(Side, OrderType)> {
    Some(match s {
        "buy_limit" => (Side::Buy, OrderType::Limit),
        "sell_limit" => (Side::Sell, OrderType::Limit),
        "buy_stop" => (Side::Buy, OrderType::Stop),
        "sell_stop" => (Side::Sell, OrderType::Stop),
        _ => return None,
    })
}

/// A filled order. `None` = unknown: the terminal accepted the order but its deal
/// was not in the history when it answered (look it up by the order's comment).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OrderFill {
    pub order_id: u64,
    /// Ticket (identifier) of the resulting position.
    pub ticket: Option<u64>,
    pub price: Option<f64>,
    pub volume: f64,
}

impl OrderFill {
    /// True when the price and position are both known.
    pub fn is_complete(&self) -> bool {
        self.ticket.is_some() && self.price.is_some()
    }
}

/// A closed position (`None` = unknown, as for [`OrderFill`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CloseFill {
    pub ticket: u64,
    pub price: Option<f64>,
    pub pnl: Option<f64>,
}

/// A historical deal or order found by its comment (for reconciliation).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DealRecord {
    pub order_id: u64,
    pub ticket: u64,
    pub symbol: String,
    pub side: Side,
    pub volume: f64,
    pub price: f64,
    pub comment: String,
    /// Unix seconds.
    pub time: i64,
    /// Profit + swap + commission of a closing deal; `None` for an opening deal or
    /// an open position.
    #[serde(default)]
    pub profit: Option<f64>,
}

/// An EA attached to a chart.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChartDeployment {
    pub expert: String,
    pub symbol: String,
    pub timeframe: Timeframe,
    pub magic: i64,
    pub inputs: serde_json::Map<String, serde_json::Value>,
}

/// An MT5 terminal as the executor sees it: the bridge EA in a real terminal,
/// or the paper terminal speaking the same protocol.
pub trait Terminal: Send + Sync {
    fn info(&self) -> impl Future<Output = Result<TerminalInfo, TerminalError>> + Send;
    fn account(&self) -> impl Future<Output = Result<AccountOutput, TerminalError>> + Send;
    fn positions(&self) -> impl Future<Output = Result<Vec<Position>, TerminalError>> + Send;
    fn symbol_info(
        &self,
        symbol: &str,
    ) -> impl Future<Output = Result<SymbolInfo, TerminalError>> + Send;
    fn candles(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        count: u32,
    ) -> impl Future<Output = Result<Vec<Candle>, TerminalError>> + Send;
    fn send_order(
        &self,
        order: &OrderRequest,
    ) -> impl Future<Output = Result<OrderFill, TerminalError>> + Send;
    fn close_position(
        &self,
        ticket: u64,
        comment: &str,
    ) -> impl Future<Output = Result<CloseFill, TerminalError>> + Send;
    /// Orders/deals (history and open positions) whose comment equals `comment`.
    fn find_by_comment(
        &self,
        comment: &str,
    ) -> impl Future<Output = Result<Vec<DealRecord>, TerminalError>> + Send;
    /// Opens a chart with the expert attached; returns the chart id.
    fn deploy(
        &self,
        deployment: &ChartDeployment,
    ) -> impl Future<Output = Result<i64, TerminalError>> + Send;
    fn run(&self, chart_id: i64) -> impl Future<Output = Result<(), TerminalError>> + Send;
    fn stop(&self, chart_id: i64) -> impl Future<Output = Result<(), TerminalError>> + Send;
    /// Every symbol the broker offers (bridge command `symbols`), for symbol resolution.
    fn symbols(&self) -> impl Future<Output = Result<Vec<BrokerSymbol>, TerminalError>> + Send {
        async {
            Err(TerminalError::Other(
                "this terminal cannot list its symbols".into(),
            ))
        }
    }
    /// Deals that realised profit or loss (entry out, inout, out_by) with `DEAL_TIME`
    /// at or after `from` (trade-server seconds), oldest first (bridge command
    /// `deals_since`): every close on the account, whoever made it.
    fn closed_deals(
        &self,
        from: i64,
    ) -> impl Future<Output = Result<Vec<ClosedDeal>, TerminalError>> + Send {
        let _ = from;
        async {
            Err(TerminalError::Other(
                "this terminal cannot list its deals".into(),
            ))
        }
    }
    /// Places a pending order (bridge command `order_place`).
    fn place_order(
        &self,
        order: &PendingRequest,
    ) -> impl Future<Output = Result<PlacedOrder, TerminalError>> + Send {
        let _ = order;
        async {
            Err(TerminalError::Other(
                "this terminal cannot place pending orders".into(),
            ))
        }
    }
    /// The pending orders (bridge command `orders`).
    fn orders(&self) -> impl Future<Output = Result<Vec<PendingOrder>, TerminalError>> + Send {
        async {
            Err(TerminalError::Other(
                "this terminal cannot list pending orders".into(),
            ))
        }
    }
    /// Deletes a pending order (bridge command `order_cancel`).
    fn cancel_order(&self, ticket: u64) -> impl Future<Output = Result<(), TerminalError>> + Send {
        let _ = ticket;
        async {
            Err(TerminalError::Other(
                "this terminal cannot cancel pending orders".into(),
            ))
        }
    }
    /// Sets a position's SL and TP (`None`: none) (bridge command `position_modify`).
    fn modify_position(
        &self,
        ticket: u64,
        sl: Option<f64>,
        tp: Option<f64>,
    ) -> impl Future<Output = Result<(), TerminalError>> + Send {
        let _ = (ticket, sl, tp);
        async {
            Err(TerminalError::Other(
                "this terminal cannot modify positions".into(),
            ))
        }
    }
    /// Sets (replaces) the breakeven/trailing rules of a position or pending order
    /// (bridge `stop_rule_set`); the terminal runs them and answers their state.
    fn set_stop_rule(
        &self,
        rule: &crate::bridge::wire::StopRuleSetArgs,
    ) -> impl Future<Output = Result<companion_protocol::StopRuleState, TerminalError>> + Send {
        let _ = rule;
        async {
            Err(TerminalError::Other(
                "this terminal cannot run breakeven or trailing stops".into(),
            ))
        }
    }
    /// The breakeven/trailing rules the terminal runs (bridge `stop_rules`).
    fn stop_rules(
        &self,
    ) -> impl Future<Output = Result<Vec<companion_protocol::StopRuleState>, TerminalError>> + Send
    {
        async {
            Err(TerminalError::Other(
                "this terminal cannot run breakeven or trailing stops".into(),
            ))
        }
    }
    /// Removes a ticket's rules; false when it had none (bridge `stop_rule_cancel`).
    fn cancel_stop_rule(
        &self,
        ticket: u64,
    ) -> impl Future<Output = Result<bool, TerminalError>> + Send {
        let _ = ticket;
        async {
            Err(TerminalError::Other(
                "this terminal cannot run breakeven or trailing stops".into(),
            ))
        }
    }
    /// Closes `volume` lots of a position (`position_close` with `volume`).
    fn close_partial(
        &self,
        ticket: u64,
        volume: f64,
        comment: &str,
    ) -> impl Future<Output = Result<CloseFill, TerminalError>> + Send {
        let _ = (ticket, volume, comment);
        async {
            Err(TerminalError::Other(
                "this terminal cannot close part of a position".into(),
            ))
        }
    }
}
