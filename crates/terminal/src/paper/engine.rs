//! The paper terminal's trading engine: it answers every bridge command against
//! the deterministic [`Market`] and rejects orders as the fault switches say. This
//! file is the dispatch (commands, orders, closes); the positions, deals and the
//! account arithmetic are in [`book`], the orders log and the state file in
//! [`persistence`].

mod book;
mod persistence;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::market::Market;
use crate::bridge::wire::{self, retcode, Reply, Request};
use crate::bridge::{parse_timeframe, MAX_COMMENT_CHARS};

use book::{apply_fill, fresh_book_id, Book, Chart};
pub use persistence::{LoggedFill, OrderLogLine};

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
            late_deals: false,
        }
    }
}

/// The simulated terminal.
pub struct Engine {
    cfg: EngineConfig,
    market: Market,
    book: Book,
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
        };
        let book = cfg
            .state_file
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice::<Book>(&b).ok())
            .unwrap_or(fresh);
        let market = Market::new(cfg.seed, cfg.tick_ms, now_ms);
        let mut engine = Engine { cfg, market, book };
        engine.replay_orders_log();
        engine
    }

    /// Answers one request at `now_ms`.
    pub fn handle(&mut self, req: &Request, now_ms: i64) -> Reply {
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
            wire::cmd::PING => Ok(json!({ "time": now_ms / 1000 })),
            wire::cmd::INFO => Ok(json!(wire::InfoResult {
                login: paper_login(self.cfg.seed),
                server: "Companion-Paper".into(),
                company: "Companion paper trading (simulated money)".into(),
                name: "Companion Paper Terminal".into(),
                build: 4755,
                paper: true,
                connected: true,
                trade_allowed: true,
            })),
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
                let info = self
                    .market
                    .symbol_info(&s.symbol, now_ms)
                    .ok_or_else(|| reject(retcode::UNKNOWN_SYMBOL))?;
                Ok(json!(info))
            }
            wire::cmd::QUOTES => {
                let q: wire::QuotesArgs = args(a)?;
                let quotes: Vec<_> = q
                    .symbols
                    .iter()
                    .filter_map(|s| {
                        self.market.quote(s, now_ms).map(|q| wire::QuoteWire {
                            symbol: s.clone(),
                            bid: q.bid,
                            ask: q.ask,
                            time: now_ms / 1000,
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
                self.position_close(c.ticket, &c.comment, now_ms)
            }
            wire::cmd::HISTORY_BY_COMMENT => {
                let h: wire::HistoryArgs = args(a)?;
                let from = h.from;
                let deals: Vec<_> = self
                    .book
                    .deals
                    .iter()
                    .filter(|d| d.comment == h.comment && d.time >= from)
                    .cloned()
                    .collect();
                let orders: Vec<_> = self
                    .book
                    .orders
                    .iter()
                    .filter(|o| o.comment == h.comment && o.time >= from)
                    .cloned()
                    .collect();
                let open = self.book.positions.clone();
                let positions: Vec<_> = open
                    .iter()
                    .filter(|p| p.comment == h.comment)
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
            wire::cmd::PAPER_SET_PRICE => {
                let s: wire::SetPriceArgs = args(a)?;
                if !self.market.set_bid(&s.symbol, s.bid, now_ms) {
                    return Err(reject(retcode::UNKNOWN_SYMBOL));
                }
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
        // Stops must sit on the right side of the price the position closes at.
        let close_at = if buy { q.bid } else { q.ask };
        let sl_ok = o.sl == 0.0
            || if buy {
                o.sl < close_at
            } else {
                o.sl > close_at
            };
        let tp_ok = o.tp == 0.0
            || if buy {
                o.tp > close_at
            } else {
                o.tp < close_at
            };
        if !sl_ok || !tp_ok || o.sl < 0.0 || o.tp < 0.0 {
            return Err(reject(retcode::INVALID_STOPS));
        }
        let need = self.margin(&o.symbol, o.volume, price, now_ms);
        let acct = self.account(now_ms);
        if need > acct.margin_free {
            return Err(reject(retcode::NO_MONEY));
        }
        let fill = LoggedFill {
            order: self.book.next_order,
            deal: self.book.next_deal,
            price,
            sl: o.sl,
            tp: o.tp,
            magic: o.magic,
            time: now_ms / 1000,
        };
        apply_fill(&mut self.book, &o.symbol, buy, o.volume, &o.comment, &fill);
        let (order, deal) = (fill.order, fill.deal);
        Ok((
            wire::OrderSendResult {
                retcode: retcode::DONE,
                order,
                deal,
                deal_known: !self.cfg.late_deals,
                position: (!self.cfg.late_deals).then_some(order),
                price: (!self.cfg.late_deals).then_some(price),
                volume: Some(o.volume),
                commission: (!self.cfg.late_deals).then_some(0.0),
            },
            fill,
        ))
    }

    fn position_close(&mut self, ticket: u64, comment: &str, now_ms: i64) -> Outcome {
        if comment.chars().count() > MAX_COMMENT_CHARS {
            return Err((retcode::INVALID, "comment longer than 31 characters".into()));
        }
        // The ticket or the position identifier (the same number here).
        let Some(idx) = self.book.positions.iter().position(|p| p.ticket == ticket) else {
            let closed = self
                .book
                .deals
                .iter()
                .any(|d| d.position == ticket && d.entry == "out");
            return Err(if closed {
                reject(retcode::POSITION_CLOSED)
            } else {
                reject(retcode::POSITION_NOT_FOUND)
            });
        };
        let p = self.book.positions[idx].clone();
        let price = self.close_price(&p, now_ms);
        let r = self.close_at(idx, price, comment, now_ms);
        self.save();
        Ok(json!(r))
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
