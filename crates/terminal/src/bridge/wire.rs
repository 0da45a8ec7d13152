//! The bridge protocol's messages (docs/bridge-protocol.md): the handshake, requests,
//! replies and heartbeats, plus the argument and result shapes of every command.
//!
//! Both ends use these types: the agent's [`super::BridgeTerminal`] and the paper
//! terminal. The MQL5 bridge EA builds the same JSON by hand.

use companion_protocol::{AccountKind, BrokerSymbol, ClosedDeal, Filling, MarginMode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Version of the protocol spoken by this build. The agent refuses other versions.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest line either side accepts (bytes, newline excluded). Candle replies are
/// the largest messages: 5,000 bars at ~120 bytes each fit comfortably.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// MT5 return codes, as the wire carries them (one table, in [`crate::retcode`]).
pub use crate::retcode;

/// The terminal's identity, sent in the hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HelloTerminal {
    #[serde(default)]
    pub login: String,
    #[serde(default)]
    pub server: String,
    #[serde(default)]
    pub company: String,
    #[serde(default)]
    pub build: i64,
    #[serde(default)]
    pub paper: bool,
    /// `ACCOUNT_MARGIN_MODE` (bridges before 1.1 do not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_mode: Option<MarginMode>,
    /// `ACCOUNT_TRADE_MODE`: demo, contest or real.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_kind: Option<AccountKind>,
    /// Trade-server time minus UTC, seconds (`TimeCurrent() - TimeGMT()`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gmt_offset_secs: Option<i64>,
}

/// First line the EA sends after connecting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub token: String,
    pub protocol_version: u32,
    pub terminal: HelloTerminal,
}

/// Why the agent refused a hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HelloRefusal {
    BadToken,
    UnsupportedVersion,
    BadHello,
}

/// `{id, cmd, args}` sent by the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    pub cmd: String,
    #[serde(default)]
    pub args: Value,
}

/// `{retcode, message}` of a failed reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyError {
    pub retcode: u32,
    #[serde(default)]
    pub message: String,
}

/// `{id, ok:true, result}` or `{id, ok:false, error}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub id: u64,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ReplyError>,
}

impl Reply {
    pub fn ok(id: u64, result: Value) -> Self {
        Reply {
            id,
            ok: true,
            result: Some(result),
            error: None,
        }
    }
    pub fn err(id: u64, retcode: u32, message: impl Into<String>) -> Self {
        Reply {
            id,
            ok: false,
            result: None,
            error: Some(ReplyError {
                retcode,
                message: message.into(),
            }),
        }
    }
}

/// Every line that can travel on a bridge connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// EA → agent, first line.
    Hello(Hello),
    /// Agent → EA: handshake accepted.
    HelloOk {
        protocol_version: u32,
        heartbeat_ms: u64,
    },
    /// Agent → EA: handshake refused; the agent closes the connection.
    HelloError { code: HelloRefusal, message: String },
    /// Both ways, every `heartbeat_ms`.
    Heartbeat { time: i64 },
    /// Agent → EA.
    Request(Request),
    /// EA → agent.
    Reply(Reply),
}

/// A line that is JSON but not a bridge message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("not a bridge message: {0}")]
    Shape(String),
}

#[derive(Serialize, Deserialize)]
struct HelloOkWire {
    protocol_version: u32,
    heartbeat_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct HelloErrorWire {
    code: HelloRefusal,
    #[serde(default)]
    message: String,
}

#[derive(Serialize, Deserialize)]
struct HeartbeatWire {
    #[serde(default)]
    time: i64,
}

impl Message {
    /// Parses one line (without its newline).
    pub fn parse(line: &str) -> Result<Message, MessageError> {
        let value: Value =
            serde_json::from_str(line).map_err(|e| MessageError::Json(e.to_string()))?;
        Self::from_value(value)
    }

    /// Interprets a parsed JSON value.
    pub fn from_value(value: Value) -> Result<Message, MessageError> {
        let shape = |e: serde_json::Error| MessageError::Shape(e.to_string());
        let obj = value
            .as_object()
            .ok_or_else(|| MessageError::Shape("not a JSON object".into()))?;
        if let Some(kind) = obj.get("type") {
            let kind = kind
                .as_str()
                .ok_or_else(|| MessageError::Shape("`type` is not a string".into()))?;
            return match kind {
                "hello" => Ok(Message::Hello(
                    serde_json::from_value(value).map_err(shape)?,
                )),
                "hello_ok" => {
                    let w: HelloOkWire = serde_json::from_value(value).map_err(shape)?;
                    Ok(Message::HelloOk {
                        protocol_version: w.protocol_version,
                        heartbeat_ms: w.heartbeat_ms,
                    })
                }
                "hello_error" => {
                    let w: HelloErrorWire = serde_json::from_value(value).map_err(shape)?;
                    Ok(Message::HelloError {
                        code: w.code,
                        message: w.message,
                    })
                }
                "heartbeat" => {
                    let w: HeartbeatWire = serde_json::from_value(value).map_err(shape)?;
                    Ok(Message::Heartbeat { time: w.time })
                }
                other => Err(MessageError::Shape(format!(
                    "unknown message type {other:?}"
                ))),
            };
        }
        if obj.contains_key("cmd") {
            return Ok(Message::Request(
                serde_json::from_value(value).map_err(shape)?,
            ));
        }
        if obj.contains_key("ok") {
            let reply: Reply = serde_json::from_value(value).map_err(shape)?;
            if !reply.ok && reply.error.is_none() {
                return Err(MessageError::Shape("failed reply without `error`".into()));
            }
            return Ok(Message::Reply(reply));
        }
        Err(MessageError::Shape("neither `type`, `cmd` nor `ok`".into()))
    }

    /// The JSON object for this message.
    pub fn to_value(&self) -> Value {
        let mut v = match self {
            Message::Hello(h) => {
                let mut v = serde_json::to_value(h).unwrap_or(Value::Null);
                tag(&mut v, "hello");
                v
            }
            Message::HelloOk {
                protocol_version,
                heartbeat_ms,
            } => {
                let mut v = serde_json::json!({
                    "protocol_version": protocol_version,
                    "heartbeat_ms": heartbeat_ms,
                });
                tag(&mut v, "hello_ok");
                v
            }
            Message::HelloError { code, message } => {
                let mut v = serde_json::json!({ "code": code, "message": message });
                tag(&mut v, "hello_error");
                v
            }
            Message::Heartbeat { time } => serde_json::json!({ "type": "heartbeat", "time": time }),
            Message::Request(r) => serde_json::to_value(r).unwrap_or(Value::Null),
            Message::Reply(r) => serde_json::to_value(r).unwrap_or(Value::Null),
        };
        if v.is_null() {
            v = Value::Object(Default::default());
        }
        v
    }

    /// One line of the wire format, newline included.
    pub fn to_line(&self) -> String {
        let mut s = self.to_value().to_string();
        s.push('\n');
        s
    }
}

fn tag(v: &mut Value, kind: &str) {
    if let Value::Object(map) = v {
        map.insert("type".into(), Value::String(kind.into()));
    }
}

/// Command names.
pub mod cmd {
    pub const PING: &str = "ping";
    pub const INFO: &str = "info";
    pub const ACCOUNT: &str = "account";
    pub const POSITIONS: &str = "positions";
    pub const SYMBOL_INFO: &str = "symbol_info";
    pub const QUOTES: &str = "quotes";
    pub const CANDLES: &str = "candles";
    pub const ORDER_SEND: &str = "order_send";
    pub const POSITION_CLOSE: &str = "position_close";
    pub const HISTORY_BY_COMMENT: &str = "history_by_comment";
    pub const CHART_DEPLOY: &str = "chart_deploy";
    pub const CHART_RUN: &str = "chart_run";
    pub const CHART_STOP: &str = "chart_stop";
    /// What CHART_EXPERT_NAME says about a chart: `{chart_id, expert, running}`.
    pub const CHART_STATUS: &str = "chart_status";
    /// Paper terminal only: move a symbol's price (tests drive SL/TP with it).
    pub const PAPER_SET_PRICE: &str = "paper_set_price";
    /// Every symbol the broker offers.
    pub const SYMBOLS: &str = "symbols";
    /// Deals that closed positions (entry out/inout/out_by) since a time.
    pub const DEALS_SINCE: &str = "deals_since";
    /// Paper terminal only: close a position as the trader would by hand.
    pub const PAPER_CLOSE_EXTERNAL: &str = "paper_close_external";
    /// Place a pending order (buy/sell limit/stop).
    pub const ORDER_PLACE: &str = "order_place";
    /// The pending orders.
    pub const ORDERS: &str = "orders";
    /// Delete a pending order.
    pub const ORDER_CANCEL: &str = "order_cancel";
    /// Set a position's SL/TP.
    pub const POSITION_MODIFY: &str = "position_modify";
    /// Set (replace) the breakeven/trailing rules of a position or pending order.
    pub const STOP_RULE_SET: &str = "stop_rule_set";
    /// The breakeven/trailing rules the terminal runs, with their state.
    pub const STOP_RULES: &str = "stop_rules";
    /// Remove a ticket's breakeven/trailing rules.
    pub const STOP_RULE_CANCEL: &str = "stop_rule_cancel";
}

/// `info` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct InfoResult {
    #[serde(default)]
    pub login: String,
    #[serde(default)]
    pub server: String,
    #[serde(default)]
    pub company: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub build: i64,
    #[serde(default)]
    pub paper: bool,
    /// Connected to the trade server.
    #[serde(default)]
    pub connected: bool,
    /// Algo trading allowed in the terminal and for this EA.
    #[serde(default)]
    pub trade_allowed: bool,
    /// `ACCOUNT_MARGIN_MODE` (bridges before 1.1 do not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_mode: Option<MarginMode>,
    /// `ACCOUNT_TRADE_MODE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_kind: Option<AccountKind>,
    /// Trade-server time minus UTC, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gmt_offset_secs: Option<i64>,
}

/// `account` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountResult {
    pub balance: f64,
    pub equity: f64,
    pub margin: f64,
    pub margin_free: f64,
    pub currency: String,
    pub leverage: i64,
    #[serde(default)]
    pub login: String,
}

/// One open position as the EA reports it (`sl`/`tp` 0 = none, as in MQL5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionWire {
    pub ticket: u64,
    /// POSITION_IDENTIFIER (the opening order's ticket; stays when a netting
    /// position's ticket changes). Older EAs and the paper terminal may omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<u64>,
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    pub volume: f64,
    pub price_open: f64,
    pub price_current: f64,
    #[serde(default)]
    pub sl: f64,
    #[serde(default)]
    pub tp: f64,
    pub profit: f64,
    #[serde(default)]
    pub swap: f64,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub magic: i64,
    /// Open time, Unix seconds.
    #[serde(default)]
    pub time: i64,
    /// The breakeven/trailing rules running for this position (bridge 1.20+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_rule: Option<companion_protocol::StopRuleState>,
}

/// `stop_rule_set` args: distances in price units; a rule that is absent is
/// removed. Setting the same rules again keeps their state (idempotent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopRuleSetArgs {
    pub ticket: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakeven: Option<companion_protocol::BreakevenRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailing: Option<companion_protocol::TrailingRule>,
    /// One pip in price units (kept for display).
    #[serde(default)]
    pub pip: f64,
}

/// `stop_rules` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopRulesResult {
    pub rules: Vec<companion_protocol::StopRuleState>,
}

/// `stop_rule_cancel` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopRuleCancelResult {
    /// False when the ticket had no rules.
    pub removed: bool,
}

/// `positions` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionsResult {
    pub positions: Vec<PositionWire>,
}

/// `symbol_info` args (also `candles`' symbol).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolArgs {
    pub symbol: String,
}

/// `quotes` args.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotesArgs {
    pub symbols: Vec<String>,
}

/// One quote of the `quotes` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuoteWire {
    pub symbol: String,
    pub bid: f64,
    pub ask: f64,
    /// Unix seconds of the last tick.
    pub time: i64,
}

/// `quotes` result (unknown symbols are left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotesResult {
    pub quotes: Vec<QuoteWire>,
}

/// `candles` args.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandlesArgs {
    pub symbol: String,
    /// `M1` … `MN1`.
    pub timeframe: String,
    pub count: u32,
}

/// `candles` result: oldest bar first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandlesResult {
    pub candles: Vec<companion_protocol::Candle>,
}

/// `order_send` args: a market order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderSendArgs {
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    pub volume: f64,
    /// 0 = none.
    #[serde(default)]
    pub sl: f64,
    /// 0 = none.
    #[serde(default)]
    pub tp: f64,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub magic: i64,
    /// Allowed slippage in points.
    #[serde(default)]
    pub deviation: u32,
    /// Filling policy; absent = the bridge's default (FOK at the paper terminal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filling: Option<Filling>,
}

/// `order_send` result. The deal may not be in the terminal's history yet when
/// the EA answers: then `deal_known` is false and the deal's values are `null`
/// (unknown), never a guess; the agent looks the order up by its comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderSendResult {
    pub retcode: u32,
    pub order: u64,
    #[serde(default)]
    pub deal: u64,
    /// False when the EA could not read the deal from the history in time.
    #[serde(default = "yes")]
    pub deal_known: bool,
    /// Identifier of the position the deal opened (`DEAL_POSITION_ID`).
    #[serde(default)]
    pub position: Option<u64>,
    /// `DEAL_PRICE`.
    #[serde(default)]
    pub price: Option<f64>,
    /// `DEAL_VOLUME` (or the volume the trade server confirmed).
    #[serde(default)]
    pub volume: Option<f64>,
    /// `DEAL_COMMISSION + DEAL_FEE` of the opening deal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission: Option<f64>,
}

fn yes() -> bool {
    true
}

/// `position_close` args.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionCloseArgs {
    pub ticket: u64,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub deviation: u32,
    /// Partial close: lots to close (absent: the whole position).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<f64>,
}

/// `order_place` args: a pending order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderPlaceArgs {
    pub symbol: String,
    /// `buy_limit`, `sell_limit`, `buy_stop` or `sell_stop`.
    #[serde(rename = "type")]
    pub order_type: String,
    pub volume: f64,
    pub price: f64,
    /// 0 = none.
    #[serde(default)]
    pub sl: f64,
    /// 0 = none.
    #[serde(default)]
    pub tp: f64,
    /// Unix seconds, 0 = good till cancelled.
    #[serde(default)]
    pub expiry: i64,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub magic: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filling: Option<Filling>,
}

/// `order_place` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderPlaceResult {
    pub retcode: u32,
    /// The pending order's ticket.
    pub order: u64,
    /// The price as placed (normalised to the tick size).
    #[serde(default)]
    pub price: f64,
}

/// One pending order of `orders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingOrderWire {
    pub ticket: u64,
    pub symbol: String,
    /// `buy_limit`, `sell_limit`, `buy_stop` or `sell_stop`.
    #[serde(rename = "type")]
    pub order_type: String,
    pub volume: f64,
    pub price: f64,
    #[serde(default)]
    pub sl: f64,
    #[serde(default)]
    pub tp: f64,
    #[serde(default)]
    pub magic: i64,
    #[serde(default)]
    pub comment: String,
    /// Unix seconds, 0 = good till cancelled.
    #[serde(default)]
    pub expiry: i64,
}

/// `orders` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrdersResult {
    #[serde(default)]
    pub orders: Vec<PendingOrderWire>,
}

/// `position_modify` args: the new SL and TP (0 = none); both are set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionModifyArgs {
    pub ticket: u64,
    #[serde(default)]
    pub sl: f64,
    #[serde(default)]
    pub tp: f64,
}

/// `position_modify` / `order_cancel` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetcodeResult {
    pub retcode: u32,
}

/// `position_close` result (`null` = unknown: the closing deal was not in the
/// history yet when the EA answered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionCloseResult {
    /// The position's ticket (also when the request named its identifier).
    pub ticket: u64,
    #[serde(default)]
    pub deal: u64,
    #[serde(default = "yes")]
    pub deal_known: bool,
    #[serde(default)]
    pub price: Option<f64>,
    /// Profit of the closing deal (profit + swap + commission + fee).
    #[serde(default)]
    pub profit: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission: Option<f64>,
}

/// `history_by_comment` args.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryArgs {
    pub comment: String,
    /// Unix seconds; history before it is not searched (0 = all).
    #[serde(default)]
    pub from: i64,
}

/// A deal in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealWire {
    pub deal: u64,
    pub order: u64,
    /// Position identifier (the ticket of the position).
    pub position: u64,
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// `in`, `out`, `inout` or `out_by`.
    pub entry: String,
    pub volume: f64,
    pub price: f64,
    #[serde(default)]
    pub profit: f64,
    /// `DEAL_COMMISSION + DEAL_FEE` (older EAs omit it).
    #[serde(default)]
    pub commission: f64,
    #[serde(default)]
    pub swap: f64,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub magic: i64,
    pub time: i64,
}

/// An order in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderWire {
    pub order: u64,
    pub position: u64,
    pub symbol: String,
    pub side: String,
    pub volume: f64,
    #[serde(default)]
    pub price: f64,
    /// `filled`, `rejected`, `canceled`, …
    pub state: String,
    #[serde(default)]
    pub comment: String,
    pub time: i64,
}

/// `history_by_comment` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HistoryResult {
    #[serde(default)]
    pub deals: Vec<DealWire>,
    #[serde(default)]
    pub orders: Vec<OrderWire>,
    #[serde(default)]
    pub positions: Vec<PositionWire>,
}

/// `chart_deploy` args: the agent generates the template text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartDeployArgs {
    pub symbol: String,
    pub timeframe: String,
    /// Expert path relative to `MQL5/Experts`, without extension (`Companion\\MyEa`).
    pub expert: String,
    /// Full `.tpl` text to apply (see `crate::ea::chart_template`).
    pub template: String,
}

/// `chart_deploy` result (the EA adds what `chart_status` says after a short wait).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartDeployResult {
    pub chart_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
}

/// `chart_status` result: `CHART_EXPERT_NAME` of the chart (empty: no expert).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartStatusResult {
    pub chart_id: i64,
    #[serde(default)]
    pub expert: String,
    pub running: bool,
}

/// `chart_run` / `chart_stop` / `chart_status` args.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartArgs {
    pub chart_id: i64,
}

/// `chart_run` / `chart_stop` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartStateResult {
    pub chart_id: i64,
    /// True when an expert is attached and running on the chart.
    pub running: bool,
}

/// `paper_set_price` args.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetPriceArgs {
    pub symbol: String,
    pub bid: f64,
}

/// `symbols` result: every symbol the broker offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SymbolsResult {
    #[serde(default)]
    pub symbols: Vec<BrokerSymbol>,
}

/// `deals_since` args.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealsSinceArgs {
    /// Trade-server seconds; deals at or after it.
    #[serde(default)]
    pub from: i64,
}

/// `deals_since` result: closing deals, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DealsSinceResult {
    #[serde(default)]
    pub deals: Vec<ClosedDeal>,
}

/// `paper_close_external` args.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketArgs {
    pub ticket: u64,
}

/// `ping` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingResult {
    /// Terminal time, Unix seconds.
    pub time: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trips_with_its_type_tag() {
        let m = Message::Hello(Hello {
            token: "t".into(),
            protocol_version: 1,
            terminal: HelloTerminal {
                login: "42".into(),
                paper: true,
                ..Default::default()
            },
        });
        let line = m.to_line();
        assert!(line.contains("\"type\":\"hello\""));
        assert!(line.ends_with('\n'));
        assert_eq!(Message::parse(line.trim_end()).unwrap(), m);
    }

    #[test]
    fn requests_and_replies_are_told_apart() {
        let r = Message::parse(r#"{"id":3,"cmd":"ping","args":{}}"#).unwrap();
        assert!(matches!(r, Message::Request(Request { id: 3, .. })));
        let r = Message::parse(r#"{"id":3,"ok":false,"error":{"retcode":10006,"message":"x"}}"#)
            .unwrap();
        match r {
            Message::Reply(rep) => assert_eq!(rep.error.unwrap().retcode, 10006),
            other => panic!("{other:?}"),
        }
        assert!(Message::parse(r#"{"id":3,"ok":false}"#).is_err());
        assert!(Message::parse(r#"[1,2]"#).is_err());
        assert!(Message::parse(r#"{"type":"nope"}"#).is_err());
    }

    #[test]
    fn unknown_deal_values_are_none_not_zero() {
        let r: OrderSendResult = serde_json::from_str(
            r#"{"retcode":10009,"order":5,"deal":0,"deal_known":false,"position":null,"price":null,"volume":0.1,"commission":null}"#,
        )
        .unwrap();
        assert!(!r.deal_known);
        assert_eq!((r.position, r.price, r.volume), (None, None, Some(0.1)));
        // An older EA's reply (all numbers, no flag) still reads as known.
        let r: OrderSendResult = serde_json::from_str(
            r#"{"retcode":10009,"order":5,"deal":7,"position":5,"price":1.1,"volume":0.1}"#,
        )
        .unwrap();
        assert!(r.deal_known);
        assert_eq!(r.price, Some(1.1));
        let c: PositionCloseResult = serde_json::from_str(
            r#"{"ticket":5,"deal":0,"deal_known":false,"price":null,"profit":null}"#,
        )
        .unwrap();
        assert_eq!((c.price, c.profit), (None, None));
    }
}
