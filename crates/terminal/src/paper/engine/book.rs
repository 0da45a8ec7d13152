//! The paper terminal's book: positions, deals, orders and charts, and the account
//! arithmetic on them (profit, margin, equity), closes at a price and at SL/TP.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::persistence::LoggedFill;
use super::{paper_login, Engine};
use crate::bridge::wire;
use crate::paper::market::Quote;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PaperPosition {
    pub(super) ticket: u64,
    pub(super) symbol: String,
    pub(super) buy: bool,
    pub(super) volume: f64,
    pub(super) price_open: f64,
    pub(super) sl: f64,
    pub(super) tp: f64,
    pub(super) comment: String,
    pub(super) magic: i64,
    pub(super) time: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Chart {
    pub(super) symbol: String,
    pub(super) timeframe: String,
    pub(super) expert: String,
    pub(super) template: String,
    pub(super) running: bool,
}

/// Everything that survives a restart when a state file is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Book {
    /// Tells this book's lines in the orders log from other runs' (0 in old files).
    #[serde(default)]
    pub(super) id: u64,
    pub(super) balance: f64,
    pub(super) next_order: u64,
    pub(super) next_deal: u64,
    pub(super) next_chart: i64,
    pub(super) orders_received: u64,
    pub(super) positions: Vec<PaperPosition>,
    pub(super) deals: Vec<wire::DealWire>,
    pub(super) orders: Vec<wire::OrderWire>,
    pub(super) charts: BTreeMap<i64, Chart>,
    /// Pending orders (absent in files from before pending orders).
    #[serde(default)]
    pub(super) pending: Vec<wire::PendingOrderWire>,
    /// Breakeven/trailing rules by ticket (absent in files from before them).
    #[serde(default)]
    pub(super) stop_rules: BTreeMap<u64, companion_protocol::StopRuleState>,
}

pub(super) fn round_to(x: f64, digits: u32) -> f64 {
    let f = 10f64.powi(digits as i32);
    (x * f).round() / f
}

impl Engine {
    pub(super) fn quote(&mut self, symbol: &str, now_ms: i64) -> Option<Quote> {
        self.market.quote(symbol, now_ms)
    }

    pub(super) fn profit(&mut self, p: &PaperPosition, close_price: f64, now_ms: i64) -> f64 {
        self.profit_for(p, p.volume, close_price, now_ms)
    }

    /// Profit of closing `volume` of `p` at `close_price`.
    pub(super) fn profit_for(
        &mut self,
        p: &PaperPosition,
        volume: f64,
        close_price: f64,
        now_ms: i64,
    ) -> f64 {
        let contract = self
            .market
            .spec(&p.symbol)
            .map(|s| s.contract_size)
            .unwrap_or(1.0);
        let dir = if p.buy { 1.0 } else { -1.0 };
        let to_usd = self.market.quote_to_usd(&p.symbol, close_price, now_ms);
        round_to(
            (close_price - p.price_open) * dir * volume * contract * to_usd,
            2,
        )
    }

    pub(super) fn close_price(&mut self, p: &PaperPosition, now_ms: i64) -> f64 {
        match self.quote(&p.symbol, now_ms) {
            Some(q) if p.buy => q.bid,
            Some(q) => q.ask,
            None => p.price_open,
        }
    }

    pub(super) fn margin(&mut self, symbol: &str, volume: f64, price: f64, now_ms: i64) -> f64 {
        let contract = self
            .market
            .spec(symbol)
            .map(|s| s.contract_size)
            .unwrap_or(1.0);
        let to_usd = self.market.quote_to_usd(symbol, price, now_ms);
        volume * contract * price * to_usd / self.cfg.leverage.max(1) as f64
    }

    pub(super) fn account(&mut self, now_ms: i64) -> wire::AccountResult {
        let positions = self.book.positions.clone();
        let mut floating = 0.0;
        let mut margin = 0.0;
        for p in &positions {
            let cp = self.close_price(p, now_ms);
            floating += self.profit(p, cp, now_ms);
            margin += self.margin(&p.symbol, p.volume, p.price_open, now_ms);
        }
        let equity = round_to(self.book.balance + floating, 2);
        let margin = round_to(margin, 2);
        wire::AccountResult {
            balance: round_to(self.book.balance, 2),
            equity,
            margin,
            margin_free: round_to(equity - margin, 2),
            currency: self.cfg.currency.clone(),
            leverage: self.cfg.leverage,
            login: paper_login(self.cfg.seed),
        }
    }

    pub(super) fn position_wire(&mut self, p: &PaperPosition, now_ms: i64) -> wire::PositionWire {
        let cp = self.close_price(p, now_ms);
        let profit = self.profit(p, cp, now_ms);
        wire::PositionWire {
            ticket: p.ticket,
            identifier: Some(p.ticket),
            symbol: p.symbol.clone(),
            side: if p.buy { "buy" } else { "sell" }.into(),
            volume: p.volume,
            price_open: p.price_open,
            price_current: cp,
            sl: p.sl,
            tp: p.tp,
            profit,
            swap: 0.0,
            comment: p.comment.clone(),
            magic: p.magic,
            time: p.time,
            stop_rule: self.stop_rule_of(p.ticket),
        }
    }

    /// Closes position `idx` at `price` with a deal carrying `comment` and
    /// `magic`; returns the result.
    pub(super) fn close_at(
        &mut self,
        idx: usize,
        price: f64,
        comment: &str,
        magic: i64,
        now_ms: i64,
    ) -> wire::PositionCloseResult {
        let p = self.book.positions.remove(idx);
        let profit = self.profit(&p, price, now_ms);
        self.book.balance = round_to(self.book.balance + profit, 2);
        self.record_out(&p, p.volume, price, profit, comment, magic, now_ms)
    }

    /// Books the closing order and `out` deal of `volume` lots of position `p` at
    /// `price` (the whole position, or a partial close), and answers as the EA does
    /// (`--late-deals`: as when the deal is not in the history yet).
    #[allow(
        clippy::too_many_arguments,
        reason = "one closing fill, field by field"
    )]
    pub(super) fn record_out(
        &mut self,
        p: &PaperPosition,
        volume: f64,
        price: f64,
        profit: f64,
        comment: &str,
        magic: i64,
        now_ms: i64,
    ) -> wire::PositionCloseResult {
        let order = self.book.next_order;
        self.book.next_order += 1;
        let deal = self.book.next_deal;
        self.book.next_deal += 1;
        let time = self.server_secs(now_ms);
        let side = if p.buy { "sell" } else { "buy" }.to_string();
        self.book.orders.push(wire::OrderWire {
            order,
            position: p.ticket,
            symbol: p.symbol.clone(),
            side: side.clone(),
            volume,
            price,
            state: "filled".into(),
            comment: comment.to_string(),
            time,
        });
        self.book.deals.push(wire::DealWire {
            deal,
            order,
            position: p.ticket,
            symbol: p.symbol.clone(),
            side,
            entry: "out".into(),
            volume,
            price,
            profit,
            commission: 0.0,
            swap: 0.0,
            comment: comment.to_string(),
            magic,
            time,
        });
        let late = self.cfg.late_deals;
        wire::PositionCloseResult {
            ticket: p.ticket,
            deal,
            deal_known: !late,
            price: (!late).then_some(price),
            profit: (!late).then_some(profit),
            commission: (!late).then_some(0.0),
        }
    }

    /// Closes positions whose stop loss or take profit the price has reached.
    pub fn check_stops(&mut self, now_ms: i64) {
        let mut i = 0;
        let mut changed = false;
        while i < self.book.positions.len() {
            let p = self.book.positions[i].clone();
            let Some(q) = self.quote(&p.symbol, now_ms) else {
                i += 1;
                continue;
            };
            let digits = self.market.spec(&p.symbol).map(|s| s.digits).unwrap_or(5) as usize;
            let px = if p.buy { q.bid } else { q.ask };
            let hit_sl = p.sl > 0.0 && if p.buy { px <= p.sl } else { px >= p.sl };
            let hit_tp = p.tp > 0.0 && if p.buy { px >= p.tp } else { px <= p.tp };
            if hit_sl {
                let c = format!("[sl {:.*}]", digits, p.sl);
                self.close_at(i, p.sl, &c, p.magic, now_ms);
                changed = true;
            } else if hit_tp {
                let c = format!("[tp {:.*}]", digits, p.tp);
                self.close_at(i, p.tp, &c, p.magic, now_ms);
                changed = true;
            } else {
                i += 1;
            }
        }
        if changed {
            self.save();
        }
        self.check_stop_rules(now_ms);
    }
}

fn round_volume(v: f64) -> f64 {
    round_to(v, 8)
}

impl Engine {
    /// Applies a filled order to the book: its order and deal, and the position it
    /// opens (hedging), or adds to, reduces, closes or reverses (netting: one
    /// position per symbol, keeping its ticket, magic and comment). Returns the
    /// position id of the deal.
    pub(super) fn apply_fill(
        &mut self,
        symbol: &str,
        buy: bool,
        volume: f64,
        comment: &str,
        f: &LoggedFill,
        now_ms: i64,
    ) -> u64 {
        self.book.next_order = self.book.next_order.max(f.order + 1);
        self.book.next_deal = self.book.next_deal.max(f.deal + 1);
        let existing = if self.cfg.margin_mode.is_netting() {
            self.book.positions.iter().position(|p| p.symbol == symbol)
        } else {
            None
        };
        let (position, entry, profit) = match existing {
            None => {
                self.book.positions.push(PaperPosition {
                    ticket: f.order,
                    symbol: symbol.to_string(),
                    buy,
                    volume,
                    price_open: f.price,
                    sl: f.sl,
                    tp: f.tp,
                    comment: comment.to_string(),
                    magic: f.magic,
                    time: f.time,
                });
                (f.order, "in", 0.0)
            }
            Some(idx) => {
                let p = self.book.positions[idx].clone();
                if p.buy == buy {
                    let digits = self.market.spec(symbol).map_or(5, |s| s.digits);
                    let total = round_volume(p.volume + volume);
                    let pos = &mut self.book.positions[idx];
                    pos.price_open =
                        round_to((p.price_open * p.volume + f.price * volume) / total, digits);
                    pos.volume = total;
                    if f.sl != 0.0 {
                        pos.sl = f.sl;
                    }
                    if f.tp != 0.0 {
                        pos.tp = f.tp;
                    }
                    (p.ticket, "in", 0.0)
                } else {
                    let profit = self.profit_for(&p, volume.min(p.volume), f.price, now_ms);
                    self.book.balance = round_to(self.book.balance + profit, 2);
                    let rest = round_volume(p.volume - volume);
                    if rest > 0.0 {
                        self.book.positions[idx].volume = rest;
                        (p.ticket, "out", profit)
                    } else if rest == 0.0 {
                        self.book.positions.remove(idx);
                        (p.ticket, "out", profit)
                    } else {
                        // Reversal: the same position, now the other way; its
                        // breakeven/trailing rules were the old direction's.
                        self.book.stop_rules.remove(&p.ticket);
                        let pos = &mut self.book.positions[idx];
                        pos.buy = buy;
                        pos.volume = -rest;
                        pos.price_open = f.price;
                        pos.sl = f.sl;
                        pos.tp = f.tp;
                        (p.ticket, "inout", profit)
                    }
                }
            }
        };
        let side = if buy { "buy" } else { "sell" }.to_string();
        self.book.orders.push(wire::OrderWire {
            order: f.order,
            position,
            symbol: symbol.to_string(),
            side: side.clone(),
            volume,
            price: f.price,
            state: "filled".into(),
            comment: comment.to_string(),
            time: f.time,
        });
        self.book.deals.push(wire::DealWire {
            deal: f.deal,
            order: f.order,
            position,
            symbol: symbol.to_string(),
            side,
            entry: entry.into(),
            volume,
            price: f.price,
            profit,
            commission: 0.0,
            swap: 0.0,
            comment: comment.to_string(),
            magic: f.magic,
            time: f.time,
        });
        position
    }
}

/// An id for a new book (not a secret: it only tells runs' log lines apart).
pub(super) fn fresh_book_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ (u64::from(std::process::id()) << 32)).max(1)
}
