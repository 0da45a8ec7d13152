//! The paper terminal's trading engine: it answers every bridge command against
//! the deterministic [`Market`] and rejects orders as the fault switches say. This
//! file is the dispatch (commands, orders, closes); the positions, deals and the
//! account arithmetic are in [`book`], the orders log and the state file in
//! [`persistence`].

mod book;
mod pending;
mod persistence;
mod stop_rules;

use std::collections::BTreeMap;
use std::path::PathBuf;

use companion_protocol::{
    AccountKind, ClosedDeal, DealEntry, Filling, MarginMode, Side, SymbolTradeMode,
};
use serde_json::{json, Value};

use super::market::{Market, SymbolSpec};
use crate::bridge::wire::{self, retcode, Reply, Request};
use crate::bridge::{comment_matches, parse_timeframe, MAX_COMMENT_CHARS};

use book::{fresh_book_id, Book, Chart};
pub use persistence::{LoggedFill, OrderLogLine};

/// A position someone else opened before the paper terminal started
/// (`--foreign-position SYMBOL:SIDE:VOLUME:MAGIC`; magic 0 = a manual trade).
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignPosition {
    pub symbol: String,
    pub buy: bool,
    pub volume: f64,
    pub magic: i64,
}

impl std::str::FromStr for ForeignPosition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(':').collect();
        let [symbol, side, volume, magic] = parts.as_slice() else {
            return Err(format!(
                "{s:?} is not SYMBOL:SIDE:VOLUME:MAGIC (e.g. EURUSD:buy:0.1:0)"
            ));
        };
        let buy = match *side {
            "buy" => true,
            "sell" => false,
            other => return Err(format!("side {other:?} is not buy or sell")),
        };
        let volume: f64 = volume
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v > 0.0)
            .ok_or_else(|| format!("volume {volume:?} is not a positive number"))?;
        let magic: i64 = magic
            .parse()
            .map_err(|_| format!("magic {magic:?} is not an integer"))?;
        if symbol.is_empty() {
            return Err("the symbol is empty".into());
        }
        Ok(ForeignPosition {
            symbol: symbol.to_string(),
            buy,
            volume,
            magic,
        })
    }
}

/// Which orders to reject.
#[derive(Debug, Clone, Default)]
pub struct RejectRule {
    /// Retcode of the rejection (10006 when only `every` is set).
    pub retcode: Option<u32>,
    /// Reject every n-th order (1 = all). `None` with a retcode = all.
    pub every: Option<u64>,
}

impl RejectRule {
    fn rejects(&self, order_number: u64) -> Option<u32> {
        let code = match (self.retcode, self.every) {
            (None, None) => return None,
            (Some(c), _) => c,
            (None, Some(_)) => retcode::REJECT,
        };
        let every = self.every.unwrap_or(1).max(1);
        order_number.is_multiple_of(every).then_some(code)
    }
}

/// The account number the paper terminal reports for `seed`.
pub fn paper_login(seed: u64) -> String {
    format!("{}", 90_000_000 + seed % 1_000_000)
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub seed: u64,
    pub balance: f64,
    pub leverage: i64,
    pub currency: String,
    /// Price step period; 0 freezes prices.
    pub tick_ms: u64,
    pub reject: RejectRule,
    /// Appends one JSON line per order received.
    pub orders_log: Option<PathBuf>,
    /// Persists the account (positions, history) across restarts.
    pub state_file: Option<PathBuf>,
    /// The broker's symbol list (`--symbols`, `--profile`): only these exist.
    /// `None`: the built-in symbols and any six-capital-letter currency pair.
    pub symbols: Option<Vec<SymbolSpec>>,
    pub margin_mode: MarginMode,
    /// Opened at start (when the book is new), as if by someone else.
    pub foreign_positions: Vec<ForeignPosition>,
    /// Trade-server time minus UTC: every time the terminal reports is UTC + this.
    pub gmt_offset_secs: i64,
    /// Answer order_send/position_close as a real EA does when the deal is not in
    /// the history yet: price, position and profit unknown (`null`); the deal is in
    /// `history_by_comment` right after.
    pub late_deals: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            seed: 1,
            balance: 10_000.0,
            leverage: 100,
            currency: "USD".into(),
            tick_ms: 1000,
            reject: RejectRule::default(),
            orders_log: None,
            state_file: None,
            symbols: None,
            margin_mode: MarginMode::Hedging,
            foreign_positions: Vec::new(),
            gmt_offset_secs: 0,
            late_deals: false,
        }
    }
}

/// The simulated terminal.
pub struct Engine {
    cfg: EngineConfig,
    market: Market,
    book: Book,
    /// The account number `info` reports (`--login`); default [`paper_login`] of the seed.
    login: Option<String>,
}

type Outcome = Result<Value, (u32, String)>;

fn bad_args(e: serde_json::Error) -> (u32, String) {
    (retcode::BAD_ARGS, format!("wrong parameters: {e}"))
}

fn args<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, (u32, String)> {
    serde_json::from_value(v.clone()).map_err(bad_args)
}

/// What `CHART_EXPERT_NAME` shows for an expert path: its file name without extension.
fn expert_name(expert: &str) -> String {
    let e = expert.rsplit(['\\', '/']).next().unwrap_or(expert);
    e.strip_suffix(".ex5").unwrap_or(e).to_string()
}

fn reject(code: u32) -> (u32, String) {
    (code, retcode::describe(code).to_string())
}

impl Engine {
    /// A fresh engine, or the state file's account when one exists and parses.
    pub fn new(cfg: EngineConfig, now_ms: i64) -> Self {
        let fresh = Book {
            id: fresh_book_id(),
            balance: cfg.balance,
            next_order: 5_000_001,
            next_deal: 7_000_001,
            next_chart: 133_246_705_822_839_040,
            orders_received: 0,
            positions: Vec::new(),
            deals: Vec::new(),
            orders: Vec::new(),
            charts: BTreeMap::new(),
            pending: Vec::new(),
            stop_rules: BTreeMap::new(),
        };
        let saved = cfg
            .state_file
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice::<Book>(&b).ok());
        let is_fresh = saved.is_none();
        let book = saved.unwrap_or(fresh);
        let mut market = Market::with_symbols(cfg.seed, cfg.tick_ms, now_ms, cfg.symbols.clone());
        market.set_time_offset(cfg.gmt_offset_secs);
        let mut engine = Engine {
            cfg,
            market,
            book,
            login: None,
        };
        if is_fresh {
            engine.open_foreign_positions(now_ms);
        }
        engine.replay_orders_log(now_ms);
        engine
    }

    /// True when the market trades `symbol`.
    pub fn knows_symbol(&mut self, symbol: &str) -> bool {
        self.market.spec(symbol).is_some()
    }

    /// The terminal's time: trade-server seconds (UTC + the GMT offset).
    pub(super) fn server_secs(&self, now_ms: i64) -> i64 {
        now_ms.div_euclid(1000) + self.cfg.gmt_offset_secs
    }

    /// Reports `login` as the account number (two paper terminals, two accounts).
    pub fn set_login(&mut self, login: impl Into<String>) {
        self.login = Some(login.into());
    }

    /// The account number this terminal reports.
    pub fn login(&self) -> String {
        self.login
            .clone()
            .unwrap_or_else(|| paper_login(self.cfg.seed))
    }

    /// What the hello says about the terminal (the login is the client's).
    pub fn hello_terminal(&self, login: &str) -> wire::HelloTerminal {
        wire::HelloTerminal {
            login: login.to_string(),
            server: "Companion-Paper".into(),
            company: "Companion paper trading (simulated money)".into(),
            build: 4755,
            paper: true,
            margin_mode: Some(self.cfg.margin_mode),
            account_kind: Some(AccountKind::Demo),
            gmt_offset_secs: Some(self.cfg.gmt_offset_secs),
        }
    }

    fn open_foreign_positions(&mut self, now_ms: i64) {
        let foreign = self.cfg.foreign_positions.clone();
        for f in &foreign {
            let Some(q) = self.quote(&f.symbol, now_ms) else {
                tracing::error!(symbol = %f.symbol, "foreign position on an unknown symbol skipped");
                continue;
            };
            let fill = LoggedFill {
                order: self.book.next_order,
                deal: self.book.next_deal,
                price: if f.buy { q.ask } else { q.bid },
                sl: 0.0,
                tp: 0.0,
                magic: f.magic,
                time: self.server_secs(now_ms),
            };
            self.apply_fill(&f.symbol, f.buy, f.volume, "", &fill, now_ms);
        }
        if !foreign.is_empty() {
            self.save();
        }
    }

    /// Answers one request at `now_ms`.
    pub fn handle(&mut self, req: &Request, now_ms: i64) -> Reply {
        self.check_pending(now_ms);
        self.check_stops(now_ms);
        let outcome = self.dispatch(req, now_ms);
        match outcome {
            Ok(v) => Reply::ok(req.id, v),
            Err((code, message)) => Reply::err(req.id, code, message),
        }
    }

    fn dispatch(&mut self, req: &Request, now_ms: i64) -> Outcome {
        let a = &req.args;
        match req.cmd.as_str() {
            wire::cmd::PING => Ok(json!({ "time": self.server_secs(now_ms) })),
            wire::cmd::INFO => Ok(json!(wire::InfoResult {
                login: self.login(),
                server: "Companion-Paper".into(),
                company: "Companion paper trading (simulated money)".into(),
                name: "Companion Paper Terminal".into(),
                build: 4755,
                paper: true,
                connected: true,
                trade_allowed: true,
                margin_mode: Some(self.cfg.margin_mode),
                account_kind: Some(AccountKind::Demo),
                gmt_offset_secs: Some(self.cfg.gmt_offset_secs),
            })),
            wire::cmd::SYMBOLS => {
                let symbols = self
                    .market
                    .listed()
                    .iter()
                    .map(SymbolSpec::broker_symbol)
                    .collect();
                Ok(json!(wire::SymbolsResult { symbols }))
            }
            wire::cmd::DEALS_SINCE => {
                let d: wire::DealsSinceArgs = args(a)?;
                Ok(json!(wire::DealsSinceResult {
                    deals: self.closed_deals(d.from)
                }))
            }
            wire::cmd::PAPER_CLOSE_EXTERNAL => {
                let t: wire::TicketArgs = args(a)?;
                let idx = self.position_index(t.ticket)?;
                let p = self.book.positions[idx].clone();
                let price = self.close_price(&p, now_ms);
                // As the trader closing it by hand: no comment, no magic.
                let r = self.close_at(idx, price, "", 0, now_ms);
                self.save();
                Ok(json!(r))
            }
            wire::cmd::ACCOUNT => Ok(json!(self.account(now_ms))),
            wire::cmd::POSITIONS => {
                let positions = self.book.positions.clone();
                let list: Vec<_> = positions
                    .iter()
                    .map(|p| self.position_wire(p, now_ms))
                    .collect();
                Ok(json!({ "positions": list }))
            }
            wire::cmd::SYMBOL_INFO => {
                let s: wire::SymbolArgs = args(a)?;
                let mut info = self
                    .market
                    .symbol_info(&s.symbol, now_ms)
                    .ok_or_else(|| reject(retcode::UNKNOWN_SYMBOL))?;
                // As MT5's OrderCalcMargin(ORDER_TYPE_BUY, symbol, 1.0, ask).
                let m = self.margin(&s.symbol, 1.0, info.ask, now_ms);
                info.margin_per_lot = Some((m * 100.0).round() / 100.0);
                Ok(json!(info))
            }
            wire::cmd::QUOTES => {
                let q: wire::QuotesArgs = args(a)?;
                let time = self.server_secs(now_ms);
                let quotes: Vec<_> = q
                    .symbols
                    .iter()
                    .filter_map(|s| {
                        self.market.quote(s, now_ms).map(|q| wire::QuoteWire {
                            symbol: s.clone(),
                            bid: q.bid,
                            ask: q.ask,
                            time,
                        })
                    })
                    .collect();
                Ok(json!({ "quotes": quotes }))
            }
            wire::cmd::CANDLES => {
                let c: wire::CandlesArgs = args(a)?;
                let tf = parse_timeframe(&c.timeframe).ok_or((
                    retcode::BAD_ARGS,
                    format!("unknown timeframe {:?}", c.timeframe),
                ))?;
                let candles = self
                    .market
                    .candles(&c.symbol, tf, c.count.min(100_000), now_ms)
                    .ok_or_else(|| reject(retcode::UNKNOWN_SYMBOL))?;
                Ok(json!({ "candles": candles }))
            }
            wire::cmd::ORDER_SEND => {
                let o: wire::OrderSendArgs = args(a)?;
                self.order_send(o, now_ms)
            }
            wire::cmd::POSITION_CLOSE => {
                let c: wire::PositionCloseArgs = args(a)?;
                match c.volume {
                    Some(v) => self.position_close_partial(c.ticket, v, &c.comment, now_ms),
                    None => self.position_close(c.ticket, &c.comment, now_ms),
                }
            }
            wire::cmd::ORDER_PLACE => {
                let o: wire::OrderPlaceArgs = args(a)?;
                self.order_place(o, now_ms)
            }
            wire::cmd::ORDERS => Ok(json!(wire::OrdersResult {
                orders: self.book.pending.clone()
            })),
            wire::cmd::ORDER_CANCEL => {
                let t: wire::TicketArgs = args(a)?;
                self.order_cancel(t.ticket)
            }
            wire::cmd::POSITION_MODIFY => {
                let m: wire::PositionModifyArgs = args(a)?;
                self.position_modify(m, now_ms)
            }
            wire::cmd::HISTORY_BY_COMMENT => {
                let h: wire::HistoryArgs = args(a)?;
                let from = h.from;
                let deals: Vec<_> = self
                    .book
                    .deals
                    .iter()
                    .filter(|d| comment_matches(&d.comment, &h.comment) && d.time >= from)
                    .cloned()
                    .collect();
                let orders: Vec<_> = self
                    .book
                    .orders
                    .iter()
                    .filter(|o| comment_matches(&o.comment, &h.comment) && o.time >= from)
                    .cloned()
                    .collect();
                let open = self.book.positions.clone();
                let positions: Vec<_> = open
                    .iter()
                    .filter(|p| comment_matches(&p.comment, &h.comment))
                    .map(|p| self.position_wire(p, now_ms))
                    .collect();
                Ok(json!(wire::HistoryResult {
                    deals,
                    orders,
                    positions
                }))
            }
            wire::cmd::CHART_DEPLOY => {
                let d: wire::ChartDeployArgs = args(a)?;
                if parse_timeframe(&d.timeframe).is_none() {
                    return Err((
                        retcode::BAD_ARGS,
                        format!("unknown timeframe {:?}", d.timeframe),
                    ));
                }
                if self.market.spec(&d.symbol).is_none() {
                    return Err(reject(retcode::UNKNOWN_SYMBOL));
                }
                if !d.template.contains("<expert>") {
                    return Err((retcode::BAD_ARGS, "the template attaches no expert".into()));
                }
                let id = self.book.next_chart;
                self.book.next_chart += 1;
                let expert = d.expert.clone();
                self.book.charts.insert(
                    id,
                    Chart {
                        symbol: d.symbol,
                        timeframe: d.timeframe,
                        expert: d.expert,
                        template: d.template,
                        running: true,
                    },
                );
                self.save();
                Ok(json!({ "chart_id": id, "expert": expert_name(&expert), "running": true }))
            }
            wire::cmd::CHART_RUN | wire::cmd::CHART_STOP => {
                let c: wire::ChartArgs = args(a)?;
                let running = req.cmd == wire::cmd::CHART_RUN;
                let chart = self
                    .book
                    .charts
                    .get_mut(&c.chart_id)
                    .ok_or_else(|| reject(retcode::CHART_WRONG_ID))?;
                chart.running = running;
                self.save();
                Ok(json!({ "chart_id": c.chart_id, "running": running }))
            }
            wire::cmd::CHART_STATUS => {
                let c: wire::ChartArgs = args(a)?;
                let chart = self
                    .book
                    .charts
                    .get(&c.chart_id)
                    .ok_or_else(|| reject(retcode::CHART_WRONG_ID))?;
                let expert = if chart.running {
                    expert_name(&chart.expert)
                } else {
                    String::new()
                };
                Ok(json!(wire::ChartStatusResult {
                    chart_id: c.chart_id,
                    running: !expert.is_empty(),
                    expert,
                }))
            }
            wire::cmd::STOP_RULE_SET => {
                let r: wire::StopRuleSetArgs = args(a)?;
                let out = self.stop_rule_set(r)?;
                // Evaluated at once (a trigger already reached moves the SL now).
                self.check_stop_rules(now_ms);
                let ticket = out["ticket"].as_u64().unwrap_or_default();
                Ok(self.stop_rule_of(ticket).map_or(out, |s| json!(s)))
            }
            wire::cmd::STOP_RULES => Ok(json!(wire::StopRulesResult {
                rules: self.stop_rules_list()
            })),
            wire::cmd::STOP_RULE_CANCEL => {
                let t: wire::TicketArgs = args(a)?;
                self.stop_rule_cancel(t.ticket)
            }
            wire::cmd::PAPER_SET_PRICE => {
                let s: wire::SetPriceArgs = args(a)?;
                if !self.market.set_bid(&s.symbol, s.bid, now_ms) {
                    return Err(reject(retcode::UNKNOWN_SYMBOL));
                }
                self.check_pending(now_ms);
                self.check_stops(now_ms);
                let q = self
                    .market
                    .quote(&s.symbol, now_ms)
                    .ok_or_else(|| reject(retcode::UNKNOWN_SYMBOL))?;
                Ok(json!({ "symbol": s.symbol, "bid": q.bid, "ask": q.ask }))
            }
            other => Err((
                retcode::UNKNOWN_COMMAND,
                format!("unknown command {other:?}"),
            )),
        }
    }

    fn order_send(&mut self, o: wire::OrderSendArgs, now_ms: i64) -> Outcome {
        self.book.orders_received += 1;
        let n = self.book.orders_received;
        let result = self.try_order(&o, n, now_ms);
        let (ticket, code, fill) = match &result {
            Ok((_, fill)) => (Some(fill.order), retcode::DONE, Some(fill.clone())),
            Err((code, _)) => (None, *code, None),
        };
        // The log line first (the commit record, replayed at start if the save below
        // never happens), then the book: no kill between them loses the order.
        self.log_order(&OrderLogLine {
            time_us: chrono::Utc::now().timestamp_micros().max(now_ms * 1000),
            comment: o.comment.clone(),
            symbol: o.symbol.clone(),
            side: o.side.clone(),
            volume: o.volume,
            ticket,
            retcode: code,
            book: Some(self.book.id),
            seq: Some(n),
            fill,
            deviation: Some(o.deviation),
        });
        self.save();
        result.map(|(r, _)| json!(r))
    }

    fn try_order(
        &mut self,
        o: &wire::OrderSendArgs,
        n: u64,
        now_ms: i64,
    ) -> Result<(wire::OrderSendResult, LoggedFill), (u32, String)> {
        if let Some(code) = self.cfg.reject.rejects(n) {
            return Err(reject(code));
        }
        let buy = match o.side.as_str() {
            "buy" => true,
            "sell" => false,
            other => return Err((retcode::INVALID, format!("unknown side {other:?}"))),
        };
        if o.comment.chars().count() > MAX_COMMENT_CHARS {
            return Err((retcode::INVALID, "comment longer than 31 characters".into()));
        }
        let spec = self
            .market
            .spec(&o.symbol)
            .ok_or_else(|| reject(retcode::UNKNOWN_SYMBOL))?;
        // On a netting account the order may only reduce the symbol's position.
        let existing = if self.cfg.margin_mode.is_netting() {
            self.book
                .positions
                .iter()
                .find(|p| p.symbol == o.symbol)
                .cloned()
        } else {
            None
        };
        let reduces_only = existing
            .as_ref()
            .is_some_and(|p| p.buy != buy && o.volume <= p.volume + 1e-9);
        match spec.trade_mode {
            SymbolTradeMode::Disabled => return Err(reject(retcode::TRADE_DISABLED)),
            SymbolTradeMode::CloseOnly if !reduces_only => return Err(reject(retcode::CLOSE_ONLY)),
            SymbolTradeMode::LongOnly if !buy && !reduces_only => {
                return Err(reject(retcode::LONG_ONLY))
            }
            SymbolTradeMode::ShortOnly if buy && !reduces_only => {
                return Err(reject(retcode::SHORT_ONLY))
            }
            _ => {}
        }
        // An order without a filling policy is FOK, as MT5's default (0) is.
        let filling = o.filling.unwrap_or(Filling::Fok);
        if !spec.filling.contains(&filling) {
            return Err(reject(retcode::INVALID_FILL));
        }
        let steps = o.volume / spec.volume_step;
        if !o.volume.is_finite()
            || o.volume < spec.volume_min - 1e-9
            || o.volume > spec.volume_max + 1e-9
            || (steps - steps.round()).abs() > 1e-6
        {
            return Err(reject(retcode::INVALID_VOLUME));
        }
        let q = self
            .quote(&o.symbol, now_ms)
            .ok_or_else(|| reject(retcode::UNKNOWN_SYMBOL))?;
        let price = if buy { q.ask } else { q.bid };
        // Stops must sit on the right side of the price the position closes at,
        // at least the symbol's stops level away.
        let close_at = if buy { q.bid } else { q.ask };
        let level = f64::from(spec.stops_level_points) * spec.point();
        let far_enough = |d: f64| {
            if level > 0.0 {
                d >= level - spec.point() * 1e-6
            } else {
                d > 0.0
            }
        };
        let sl_ok = o.sl == 0.0
            || far_enough(if buy {
                close_at - o.sl
            } else {
                o.sl - close_at
            });
        let tp_ok = o.tp == 0.0
            || far_enough(if buy {
                o.tp - close_at
            } else {
                close_at - o.tp
            });
        if !sl_ok || !tp_ok || o.sl < 0.0 || o.tp < 0.0 {
            return Err(reject(retcode::INVALID_STOPS));
        }
        // Netting: an opposite order needs margin only for what it opens beyond
        // the position it closes.
        let opens = match &existing {
            Some(p) if p.buy != buy => (o.volume - p.volume).max(0.0),
            _ => o.volume,
        };
        let need = self.margin(&o.symbol, opens, price, now_ms);
        let acct = self.account(now_ms);
        if opens > 0.0 && need > acct.margin_free {
            return Err(reject(retcode::NO_MONEY));
        }
        let fill = LoggedFill {
            order: self.book.next_order,
            deal: self.book.next_deal,
            price,
            sl: o.sl,
            tp: o.tp,
            magic: o.magic,
            time: self.server_secs(now_ms),
        };
        let position = self.apply_fill(&o.symbol, buy, o.volume, &o.comment, &fill, now_ms);
        let (order, deal) = (fill.order, fill.deal);
        Ok((
            wire::OrderSendResult {
                retcode: retcode::DONE,
                order,
                deal,
                deal_known: !self.cfg.late_deals,
                position: (!self.cfg.late_deals).then_some(position),
                price: (!self.cfg.late_deals).then_some(price),
                volume: Some(o.volume),
                commission: (!self.cfg.late_deals).then_some(0.0),
            },
            fill,
        ))
    }

    /// The index of open position `ticket`, or MT5's error for a closed or
    /// unknown one.
    fn position_index(&self, ticket: u64) -> Result<usize, (u32, String)> {
        if let Some(idx) = self.book.positions.iter().position(|p| p.ticket == ticket) {
            return Ok(idx);
        }
        let closed = self
            .book
            .deals
            .iter()
            .any(|d| d.position == ticket && d.entry != "in");
        Err(if closed {
            reject(retcode::POSITION_CLOSED)
        } else {
            reject(retcode::POSITION_NOT_FOUND)
        })
    }

    fn position_close(&mut self, ticket: u64, comment: &str, now_ms: i64) -> Outcome {
        if comment.chars().count() > MAX_COMMENT_CHARS {
            return Err((retcode::INVALID, "comment longer than 31 characters".into()));
        }
        // The ticket or the position identifier (the same number here).
        let idx = self.position_index(ticket)?;
        let p = self.book.positions[idx].clone();
        // A disabled symbol refuses closes too (close-only ones accept them).
        if self
            .market
            .spec(&p.symbol)
            .is_some_and(|s| s.trade_mode == SymbolTradeMode::Disabled)
        {
            return Err(reject(retcode::TRADE_DISABLED));
        }
        let price = self.close_price(&p, now_ms);
        let r = self.close_at(idx, price, comment, p.magic, now_ms);
        self.save();
        Ok(json!(r))
    }

    /// Deals that closed (part of) a position at or after `from` (server seconds),
    /// oldest first.
    fn closed_deals(&self, from: i64) -> Vec<ClosedDeal> {
        let mut out: Vec<ClosedDeal> = self
            .book
            .deals
            .iter()
            .filter(|d| d.time >= from)
            .filter_map(|d| {
                let entry = match d.entry.as_str() {
                    "out" => DealEntry::Out,
                    "inout" => DealEntry::Inout,
                    "out_by" => DealEntry::OutBy,
                    _ => return None,
                };
                Some(ClosedDeal {
                    deal: d.deal,
                    order: d.order,
                    position: d.position,
                    symbol: d.symbol.clone(),
                    side: if d.side == "sell" {
                        Side::Sell
                    } else {
                        Side::Buy
                    },
                    entry,
                    volume: d.volume,
                    price: d.price,
                    profit: d.profit,
                    swap: 0.0,
                    commission: 0.0,
                    fee: 0.0,
                    magic: d.magic,
                    comment: d.comment.clone(),
                    time: d.time,
                })
            })
            .collect();
        out.sort_by_key(|d| (d.time, d.deal));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(cmd: &str, args: Value) -> Request {
        Request {
            id: 1,
            cmd: cmd.into(),
            args,
        }
    }

    fn frozen() -> Engine {
        Engine::new(
            EngineConfig {
                tick_ms: 0,
                ..Default::default()
            },
            0,
        )
    }

    #[test]
    fn history_by_comment_matches_the_tag_alone_or_followed_by_a_note() {
        let mut e = frozen();
        for c in ["c:tag note", "c:tagx", "c:tag"] {
            let r = e.handle(
                &req(
                    "order_send",
                    json!({"symbol":"EURUSD","side":"buy","volume":0.1,"comment":c}),
                ),
                0,
            );
            assert!(r.ok, "{c}");
        }
        let h = e
            .handle(&req("history_by_comment", json!({"comment":"c:tag"})), 0)
            .result
            .unwrap();
        let mut comments: Vec<&str> = h["deals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["comment"].as_str().unwrap())
            .collect();
        comments.sort();
        // `c:tagx` is another tag, not this one with a note.
        assert_eq!(comments, vec!["c:tag", "c:tag note"]);
        assert_eq!(h["positions"].as_array().unwrap().len(), 2);
        let h = e
            .handle(
                &req("history_by_comment", json!({"comment":"c:tag note"})),
                0,
            )
            .result
            .unwrap();
        assert_eq!(h["deals"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn buy_fills_at_ask_and_sl_closes_it() {
        let mut e = frozen();
        let info = e
            .handle(&req("symbol_info", json!({"symbol":"EURUSD"})), 0)
            .result
            .unwrap();
        let ask = info["ask"].as_f64().unwrap();
        let bid = info["bid"].as_f64().unwrap();
        let r = e.handle(
            &req("order_send", json!({"symbol":"EURUSD","side":"buy","volume":0.1,"sl": bid - 0.001,"comment":"j1"})),
            0,
        );
        let r = r.result.unwrap();
        assert_eq!(r["price"].as_f64().unwrap(), ask);
        e.handle(
            &req(
                "paper_set_price",
                json!({"symbol":"EURUSD","bid": bid - 0.002}),
            ),
            1000,
        );
        let pos = e.handle(&req("positions", json!({})), 1000).result.unwrap();
        assert_eq!(pos["positions"].as_array().unwrap().len(), 0);
        let h = e
            .handle(&req("history_by_comment", json!({"comment":"j1"})), 1000)
            .result
            .unwrap();
        assert_eq!(h["deals"].as_array().unwrap().len(), 1);
        let acct = e.handle(&req("account", json!({})), 1000).result.unwrap();
        // Lost (ask - sl) * 0.1 * 100000.
        let expected = 10_000.0 - ((ask - (bid - 0.001)) * 10_000.0 * 100.0).round() / 100.0;
        assert!((acct["balance"].as_f64().unwrap() - expected).abs() < 0.011);
    }

    #[test]
    fn rejects_per_rule() {
        let mut e = Engine::new(
            EngineConfig {
                tick_ms: 0,
                reject: RejectRule {
                    retcode: None,
                    every: Some(2),
                },
                ..Default::default()
            },
            0,
        );
        let o = json!({"symbol":"EURUSD","side":"sell","volume":0.01});
        assert!(e.handle(&req("order_send", o.clone()), 0).ok);
        let r = e.handle(&req("order_send", o.clone()), 0);
        assert_eq!(r.error.unwrap().retcode, 10006);
        assert!(e.handle(&req("order_send", o), 0).ok);
    }

    #[test]
    fn no_money_and_bad_volume() {
        let mut e = Engine::new(
            EngineConfig {
                tick_ms: 0,
                balance: 100.0,
                ..Default::default()
            },
            0,
        );
        let r = e.handle(
            &req(
                "order_send",
                json!({"symbol":"EURUSD","side":"buy","volume":10.0}),
            ),
            0,
        );
        assert_eq!(r.error.unwrap().retcode, 10019);
        let r = e.handle(
            &req(
                "order_send",
                json!({"symbol":"EURUSD","side":"buy","volume":0.015}),
            ),
            0,
        );
        assert_eq!(r.error.unwrap().retcode, 10014);
        let r = e.handle(&req("nope", json!({})), 0);
        assert_eq!(r.error.unwrap().retcode, retcode::UNKNOWN_COMMAND);
    }

    fn persisted(dir: &std::path::Path) -> EngineConfig {
        EngineConfig {
            tick_ms: 0,
            orders_log: Some(dir.join("orders.jsonl")),
            state_file: Some(dir.join("state.json")),
            ..Default::default()
        }
    }

    fn log_lines(dir: &std::path::Path) -> Vec<OrderLogLine> {
        std::fs::read_to_string(dir.join("orders.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn positions(e: &mut Engine) -> Vec<Value> {
        e.handle(&req("positions", json!({})), 0).result.unwrap()["positions"]
            .as_array()
            .unwrap()
            .clone()
    }

    #[test]
    fn netting_replay_reduces_the_position_again_and_foreign_positions_open_once() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let netting = || EngineConfig {
            margin_mode: MarginMode::Netting,
            foreign_positions: vec!["EURUSD:buy:0.3:0".parse().unwrap()],
            ..persisted(dir.path())
        };
        let mut e = Engine::new(netting(), 0);
        let pos = positions(&mut e);
        assert_eq!(pos.len(), 1);
        assert_eq!(
            (pos[0]["magic"].as_i64(), pos[0]["comment"].as_str()),
            (Some(0), Some(""))
        );
        let ticket = pos[0]["ticket"].as_u64().unwrap();
        let book_before = std::fs::read(&state).unwrap();
        let r = e
            .handle(
                &req(
                    "order_send",
                    json!({"symbol":"EURUSD","side":"sell","volume":0.1,"comment":"j1","magic":5}),
                ),
                0,
            )
            .result
            .unwrap();
        assert_eq!(r["position"].as_u64(), Some(ticket));
        let balance = e.handle(&req("account", json!({})), 0).result.unwrap()["balance"].clone();
        drop(e);
        // Killed between the log line and the book save: the replay reduces it again.
        std::fs::write(&state, &book_before).unwrap();
        let mut restarted = Engine::new(netting(), 0);
        let pos = positions(&mut restarted);
        assert_eq!(
            pos.len(),
            1,
            "the foreign position is not opened a second time"
        );
        assert_eq!(pos[0]["ticket"].as_u64(), Some(ticket));
        assert!((pos[0]["volume"].as_f64().unwrap() - 0.2).abs() < 1e-9);
        let deals = restarted
            .handle(&req("deals_since", json!({"from":0})), 0)
            .result
            .unwrap();
        let deals = deals["deals"].as_array().unwrap();
        assert_eq!(deals.len(), 1);
        assert_eq!(deals[0]["entry"], "out");
        assert_eq!(deals[0]["magic"].as_i64(), Some(5));
        let acct = restarted
            .handle(&req("account", json!({})), 0)
            .result
            .unwrap();
        assert_eq!(acct["balance"], balance, "the realised loss is booked once");
    }

    #[test]
    fn foreign_position_specs_parse() {
        let f: ForeignPosition = "US30.cash:sell:0.5:777".parse().unwrap();
        assert_eq!(
            f,
            ForeignPosition {
                symbol: "US30.cash".into(),
                buy: false,
                volume: 0.5,
                magic: 777
            }
        );
        for bad in [
            "EURUSD:buy:0.1",
            "EURUSD:long:0.1:0",
            "EURUSD:buy:-1:0",
            "EURUSD:buy:0.1:x",
            ":buy:0.1:0",
        ] {
            assert!(bad.parse::<ForeignPosition>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_kill_between_the_log_line_and_the_book_save_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let mut e = Engine::new(persisted(dir.path()), 0);
        let first = e.handle(
            &req(
                "order_send",
                json!({"symbol":"EURUSD","side":"buy","volume":0.1,"comment":"j1"}),
            ),
            0,
        );
        assert!(first.ok);
        let book_before = std::fs::read(&state).unwrap();
        let r = e
            .handle(
                &req("order_send", json!({"symbol":"EURUSD","side":"sell","volume":0.2,"sl":9.0,"comment":"j2","magic":7})),
                0,
            )
            .result
            .unwrap();
        let ticket = r["position"].as_u64().unwrap();
        drop(e);
        // The process died after the order's log line and before its book save: the
        // state file still holds the book from before the order.
        std::fs::write(&state, &book_before).unwrap();

        let mut restarted = Engine::new(persisted(dir.path()), 0);
        let pos = positions(&mut restarted);
        assert_eq!(pos.len(), 2, "the order's effect is back: {pos:?}");
        let j2 = pos.iter().find(|p| p["comment"] == "j2").unwrap();
        assert_eq!(j2["ticket"].as_u64(), Some(ticket));
        assert_eq!(j2["volume"].as_f64(), Some(0.2));
        assert_eq!(j2["sl"].as_f64(), Some(9.0));
        assert_eq!(j2["magic"].as_i64(), Some(7));
        let h = restarted
            .handle(&req("history_by_comment", json!({"comment":"j2"})), 0)
            .result
            .unwrap();
        assert_eq!(h["deals"].as_array().unwrap().len(), 1);
        // The record is there exactly once, and new orders get new numbers.
        let lines = log_lines(dir.path());
        assert_eq!(lines.iter().filter(|l| l.comment == "j2").count(), 1);
        let next = restarted
            .handle(
                &req(
                    "order_send",
                    json!({"symbol":"EURUSD","side":"buy","volume":0.1,"comment":"j3"}),
                ),
                0,
            )
            .result
            .unwrap();
        assert!(next["position"].as_u64().unwrap() > ticket);
        drop(restarted);
        // A second restart replays nothing twice.
        let mut again = Engine::new(persisted(dir.path()), 0);
        assert_eq!(positions(&mut again).len(), 3);
        assert_eq!(log_lines(dir.path()).len(), 3);
    }

    #[test]
    fn a_torn_last_log_line_is_cut_and_other_runs_lines_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("orders.jsonl");
        // A line of another book (an earlier run) and a torn line.
        let other = OrderLogLine {
            time_us: 1,
            comment: "old".into(),
            symbol: "EURUSD".into(),
            side: "buy".into(),
            volume: 0.1,
            ticket: Some(1),
            retcode: retcode::DONE,
            book: Some(12345),
            seq: Some(1),
            deviation: None,
            fill: Some(LoggedFill {
                order: 1,
                deal: 1,
                price: 1.1,
                sl: 0.0,
                tp: 0.0,
                magic: 0,
                time: 0,
            }),
        };
        let mut text = serde_json::to_string(&other).unwrap();
        text.push_str("\n{\"time_us\":2,\"comm");
        std::fs::write(&log, text).unwrap();
        let mut e = Engine::new(persisted(dir.path()), 0);
        assert!(positions(&mut e).is_empty());
        assert!(
            e.handle(
                &req(
                    "order_send",
                    json!({"symbol":"EURUSD","side":"buy","volume":0.1,"comment":"j1"})
                ),
                0
            )
            .ok
        );
        let lines = log_lines(dir.path());
        assert_eq!(
            lines.iter().map(|l| l.comment.as_str()).collect::<Vec<_>>(),
            ["old", "j1"]
        );
    }
}
