//! Trade management at the paper terminal: pending orders (`order_place`,
//! `orders`, `order_cancel`; filled when the price crosses them, checked on every
//! request and on `paper_set_price`; expired at their expiry), `position_modify`
//! (SL/TP validated like MT5: wrong side or inside the stops level → 10016) and
//! partial closes (`position_close` with `volume`: on the volume step and at most
//! the position, else 10014; an `out` deal for the part closed).

use serde_json::{json, Value};

use super::book::round_to;
use super::persistence::LoggedFill;
use super::Engine;
use crate::bridge::wire::{self, retcode};
use crate::bridge::MAX_COMMENT_CHARS;
use crate::paper::market::SymbolSpec;

type Outcome = Result<Value, (u32, String)>;

fn reject(code: u32) -> (u32, String) {
    (code, retcode::describe(code).to_string())
}

/// (buy, limit) of a pending order's wire type.
fn kind(t: &str) -> Option<(bool, bool)> {
    Some(match t {
        "buy_limit" => (true, true),
        "sell_limit" => (false, true),
        "buy_stop" => (true, false),
        "sell_stop" => (false, false),
        _ => return None,
    })
}

fn volume_ok(spec: &SymbolSpec, v: f64) -> bool {
    let steps = v / spec.volume_step;
    v.is_finite()
        && v >= spec.volume_min - 1e-9
        && v <= spec.volume_max + 1e-9
        && (steps - steps.round()).abs() <= 1e-6
}

/// SL/TP of a `buy` (or sell) position closing at `close_at`: on the right side and
/// at least the stops level away (0 = none).
fn stops_ok(spec: &SymbolSpec, buy: bool, close_at: f64, sl: f64, tp: f64) -> bool {
    let level = f64::from(spec.stops_level_points) * spec.point();
    let far_enough = |d: f64| {
        if level > 0.0 {
            d >= level - spec.point() * 1e-6
        } else {
            d > 0.0
        }
    };
    let sl_ok = sl == 0.0 || far_enough(if buy { close_at - sl } else { sl - close_at });
    let tp_ok = tp == 0.0 || far_enough(if buy { tp - close_at } else { close_at - tp });
    sl >= 0.0 && tp >= 0.0 && sl_ok && tp_ok
}

impl Engine {
    pub(super) fn order_place(&mut self, o: wire::OrderPlaceArgs, now_ms: i64) -> Outcome {
        let (buy, limit) = kind(&o.order_type).ok_or((
            retcode::INVALID,
            format!("unknown pending order type {:?}", o.order_type),
        ))?;
        if o.comment.chars().count() > MAX_COMMENT_CHARS {
            return Err((retcode::INVALID, "comment longer than 31 characters".into()));
        }
        let spec = self
            .market
            .spec(&o.symbol)
            .ok_or_else(|| reject(retcode::UNKNOWN_SYMBOL))?;
        if spec.trade_mode != companion_protocol::SymbolTradeMode::Full {
            return Err(reject(retcode::TRADE_DISABLED));
        }
        if !volume_ok(&spec, o.volume) {
            return Err(reject(retcode::INVALID_VOLUME));
        }
        let q = self
            .quote(&o.symbol, now_ms)
            .ok_or_else(|| reject(retcode::UNKNOWN_SYMBOL))?;
        let price = round_to(o.price, spec.digits);
        let current = if buy { q.ask } else { q.bid };
        // A limit buys below / sells above the price; a stop the other way.
        let right_side = match (buy, limit) {
            (true, true) | (false, false) => price < current,
            (true, false) | (false, true) => price > current,
        };
        if !(price.is_finite() && price > 0.0 && right_side) {
            return Err(reject(retcode::INVALID_PRICE));
        }
        // The stops of the position it opens, from the order's price.
        if !stops_ok(&spec, buy, price, o.sl, o.tp) {
            return Err(reject(retcode::INVALID_STOPS));
        }
        if o.expiry != 0 && o.expiry <= self.server_secs(now_ms) {
            return Err(reject(retcode::INVALID_EXPIRATION));
        }
        let ticket = self.book.next_order;
        self.book.next_order += 1;
        self.book.pending.push(wire::PendingOrderWire {
            ticket,
            symbol: o.symbol,
            order_type: o.order_type,
            volume: o.volume,
            price,
            sl: o.sl,
            tp: o.tp,
            magic: o.magic,
            comment: o.comment,
            expiry: o.expiry,
        });
        self.save();
        Ok(json!(wire::OrderPlaceResult {
            retcode: retcode::DONE,
            order: ticket,
            price,
        }))
    }

    pub(super) fn order_cancel(&mut self, ticket: u64) -> Outcome {
        let idx = self
            .book
            .pending
            .iter()
            .position(|o| o.ticket == ticket)
            .ok_or((retcode::INVALID, format!("no pending order {ticket}")))?;
        self.book.pending.remove(idx);
        self.save();
        Ok(json!(wire::RetcodeResult {
            retcode: retcode::DONE
        }))
    }

    pub(super) fn position_modify(&mut self, m: wire::PositionModifyArgs, now_ms: i64) -> Outcome {
        let idx = self.position_index(m.ticket)?;
        let p = self.book.positions[idx].clone();
        let spec = self
            .market
            .spec(&p.symbol)
            .ok_or_else(|| reject(retcode::UNKNOWN_SYMBOL))?;
        let close_at = self.close_price(&p, now_ms);
        if !stops_ok(&spec, p.buy, close_at, m.sl, m.tp) {
            return Err(reject(retcode::INVALID_STOPS));
        }
        let pos = &mut self.book.positions[idx];
        pos.sl = round_to(m.sl, spec.digits);
        pos.tp = round_to(m.tp, spec.digits);
        self.save();
        Ok(json!(wire::RetcodeResult {
            retcode: retcode::DONE
        }))
    }

    /// Closes `volume` lots of position `ticket` (all of it when `volume` is its volume).
    pub(super) fn position_close_partial(
        &mut self,
        ticket: u64,
        volume: f64,
        comment: &str,
        now_ms: i64,
    ) -> Outcome {
        if comment.chars().count() > MAX_COMMENT_CHARS {
            return Err((retcode::INVALID, "comment longer than 31 characters".into()));
        }
        let idx = self.position_index(ticket)?;
        let p = self.book.positions[idx].clone();
        let spec = self
            .market
            .spec(&p.symbol)
            .ok_or_else(|| reject(retcode::UNKNOWN_SYMBOL))?;
        if spec.trade_mode == companion_protocol::SymbolTradeMode::Disabled {
            return Err(reject(retcode::TRADE_DISABLED));
        }
        let steps = volume / spec.volume_step;
        if !volume.is_finite()
            || volume <= 0.0
            || volume > p.volume + 1e-9
            || (steps - steps.round()).abs() > 1e-6
        {
            return Err(reject(retcode::INVALID_VOLUME));
        }
        let price = self.close_price(&p, now_ms);
        if (p.volume - volume).abs() <= 1e-9 {
            let r = self.close_at(idx, price, comment, p.magic, now_ms);
            self.save();
            return Ok(json!(r));
        }
        let profit = self.profit_for(&p, volume, price, now_ms);
        self.book.balance = round_to(self.book.balance + profit, 2);
        self.book.positions[idx].volume = round_to(p.volume - volume, 8);
        let r = self.record_out(&p, volume, price, profit, comment, p.magic, now_ms);
        self.save();
        Ok(json!(r))
    }

    /// Removes expired pending orders and fills those the price has crossed (a buy
    /// limit once the ask is at or below its price, a sell limit once the bid is at
    /// or above it, stops the other way), at the market price.
    pub(super) fn check_pending(&mut self, now_ms: i64) {
        if self.book.pending.is_empty() {
            return;
        }
        let now = self.server_secs(now_ms);
        let before = self.book.pending.len();
        self.book
            .pending
            .retain(|o| o.expiry == 0 || o.expiry > now);
        let mut changed = self.book.pending.len() != before;
        let mut i = 0;
        while i < self.book.pending.len() {
            let o = self.book.pending[i].clone();
            let (Some((buy, limit)), Some(q)) =
                (kind(&o.order_type), self.quote(&o.symbol, now_ms))
            else {
                i += 1;
                continue;
            };
            let px = if buy { q.ask } else { q.bid };
            let crossed = match (buy, limit) {
                (true, true) | (false, false) => px <= o.price,
                (true, false) | (false, true) => px >= o.price,
            };
            if !crossed {
                i += 1;
                continue;
            }
            self.book.pending.remove(i);
            let fill = LoggedFill {
                order: o.ticket,
                deal: self.book.next_deal,
                price: px,
                sl: o.sl,
                tp: o.tp,
                magic: o.magic,
                time: now,
            };
            self.apply_fill(&o.symbol, buy, o.volume, &o.comment, &fill, now_ms);
            changed = true;
        }
        if changed {
            self.save();
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::{Engine, EngineConfig};
    use crate::bridge::wire::{retcode, Request};

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

    fn call(e: &mut Engine, cmd: &str, args: Value, now_ms: i64) -> Result<Value, u32> {
        let r = e.handle(&req(cmd, args), now_ms);
        match r.result {
            Some(v) => Ok(v),
            None => Err(r.error.map(|e| e.retcode).unwrap_or(0)),
        }
    }

    fn bid_ask(e: &mut Engine) -> (f64, f64) {
        let i = call(e, "symbol_info", json!({"symbol": "EURUSD"}), 0).unwrap();
        (i["bid"].as_f64().unwrap(), i["ask"].as_f64().unwrap())
    }

    fn positions(e: &mut Engine, now_ms: i64) -> Vec<Value> {
        call(e, "positions", json!({}), now_ms).unwrap()["positions"]
            .as_array()
            .unwrap()
            .clone()
    }

    #[test]
    fn a_buy_limit_fills_when_the_ask_crosses_it_and_not_before() {
        let mut e = frozen();
        let (bid, ask) = bid_ask(&mut e);
        let price = ask - 0.0010;
        // On the wrong side of the price: 10015.
        let wrong = json!({"symbol":"EURUSD","type":"buy_limit","volume":0.1,"price": ask + 0.001});
        assert_eq!(
            call(&mut e, "order_place", wrong, 0),
            Err(retcode::INVALID_PRICE)
        );
        let r = call(
            &mut e,
            "order_place",
            json!({"symbol":"EURUSD","type":"buy_limit","volume":0.1,
            "price": price,"magic":7,"comment":"p1"}),
            0,
        )
        .unwrap();
        let ticket = r["order"].as_u64().unwrap();
        assert_eq!(
            call(&mut e, "orders", json!({}), 0).unwrap()["orders"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        call(
            &mut e,
            "paper_set_price",
            json!({"symbol":"EURUSD","bid": bid - 0.0005}),
            1,
        )
        .unwrap();
        assert!(positions(&mut e, 1).is_empty(), "not crossed yet");
        call(
            &mut e,
            "paper_set_price",
            json!({"symbol":"EURUSD","bid": bid - 0.0020}),
            2,
        )
        .unwrap();
        let ps = positions(&mut e, 2);
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0]["ticket"].as_u64(), Some(ticket));
        assert_eq!(ps[0]["magic"].as_i64(), Some(7));
        assert!(ps[0]["price_open"].as_f64().unwrap() <= price + 1e-9);
        assert!(call(&mut e, "orders", json!({}), 2).unwrap()["orders"]
            .as_array()
            .unwrap()
            .is_empty());
    }

    #[test]
    fn sell_stops_fill_below_and_pending_orders_expire_or_cancel() {
        let mut e = frozen();
        let (bid, _) = bid_ask(&mut e);
        let place = |e: &mut Engine, t: &str, price: f64, expiry: i64| {
            call(
                e,
                "order_place",
                json!({"symbol":"EURUSD","type":t,"volume":0.1,"price":price,"expiry":expiry}),
                0,
            )
            .unwrap()["order"]
                .as_u64()
                .unwrap()
        };
        let _stop = place(&mut e, "sell_stop", bid - 0.001, 0);
        let expiring = place(&mut e, "sell_limit", bid + 0.01, 60);
        let cancelled = place(&mut e, "sell_limit", bid + 0.02, 0);
        call(&mut e, "order_cancel", json!({"ticket": cancelled}), 0).unwrap();
        assert_eq!(
            call(&mut e, "order_cancel", json!({"ticket": cancelled}), 0),
            Err(retcode::INVALID)
        );
        // Past the expiry: gone, unfilled.
        call(&mut e, "ping", json!({}), 61_000).unwrap();
        let left: Vec<u64> = call(&mut e, "orders", json!({}), 61_000).unwrap()["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["ticket"].as_u64().unwrap())
            .collect();
        assert!(!left.contains(&expiring) && !left.contains(&cancelled));
        assert_eq!(left.len(), 1);
        call(
            &mut e,
            "paper_set_price",
            json!({"symbol":"EURUSD","bid": bid - 0.002}),
            62_000,
        )
        .unwrap();
        let ps = positions(&mut e, 62_000);
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0]["side"].as_str(), Some("sell"));
        // An expiry in the past is refused.
        let past = json!({"symbol":"EURUSD","type":"sell_limit","volume":0.1,"price": bid + 0.01,"expiry": 1});
        assert_eq!(
            call(&mut e, "order_place", past, 62_000),
            Err(retcode::INVALID_EXPIRATION)
        );
    }

    #[test]
    fn modify_validates_sides_like_mt5() {
        let mut e = frozen();
        let (bid, _) = bid_ask(&mut e);
        let t = call(
            &mut e,
            "order_send",
            json!({"symbol":"EURUSD","side":"buy","volume":0.1}),
            0,
        )
        .unwrap()["position"]
            .as_u64()
            .unwrap();
        // An SL above the bid of a buy: 10016.
        let wrong = json!({"ticket": t, "sl": bid + 0.001, "tp": 0.0});
        assert_eq!(
            call(&mut e, "position_modify", wrong, 0),
            Err(retcode::INVALID_STOPS)
        );
        let ok = json!({"ticket": t, "sl": bid - 0.002, "tp": bid + 0.003});
        call(&mut e, "position_modify", ok, 0).unwrap();
        let p = &positions(&mut e, 0)[0];
        assert!((p["sl"].as_f64().unwrap() - (bid - 0.002)).abs() < 1e-9);
        assert!((p["tp"].as_f64().unwrap() - (bid + 0.003)).abs() < 1e-9);
        assert_eq!(
            call(
                &mut e,
                "position_modify",
                json!({"ticket": 1, "sl": 0.0, "tp": 0.0}),
                0
            ),
            Err(retcode::POSITION_NOT_FOUND)
        );
    }

    #[test]
    fn partial_closes_keep_the_rest_and_refuse_off_step_volumes() {
        let mut e = frozen();
        let t = call(
            &mut e,
            "order_send",
            json!({"symbol":"EURUSD","side":"buy","volume":0.1,"comment":"o"}),
            0,
        )
        .unwrap()["position"]
            .as_u64()
            .unwrap();
        let bad = |v: f64| json!({"ticket": t, "volume": v, "comment": "c"});
        assert_eq!(
            call(&mut e, "position_close", bad(0.015), 0),
            Err(retcode::INVALID_VOLUME)
        );
        assert_eq!(
            call(&mut e, "position_close", bad(0.2), 0),
            Err(retcode::INVALID_VOLUME)
        );
        call(&mut e, "position_close", bad(0.04), 0).unwrap();
        let ps = positions(&mut e, 0);
        assert!((ps[0]["volume"].as_f64().unwrap() - 0.06).abs() < 1e-9);
        let deals = call(&mut e, "history_by_comment", json!({"comment": "c"}), 0).unwrap()
            ["deals"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(deals.len(), 1);
        assert_eq!(deals[0]["entry"].as_str(), Some("out"));
        assert!((deals[0]["volume"].as_f64().unwrap() - 0.04).abs() < 1e-9);
        // The rest, exactly: the position is closed.
        call(&mut e, "position_close", bad(0.06), 0).unwrap();
        assert!(positions(&mut e, 0).is_empty());
    }

    #[test]
    fn pending_orders_survive_a_restart_with_the_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = || EngineConfig {
            tick_ms: 0,
            state_file: Some(dir.path().join("state.json")),
            ..Default::default()
        };
        let mut e = Engine::new(cfg(), 0);
        let (_, ask) = bid_ask(&mut e);
        call(
            &mut e,
            "order_place",
            json!({"symbol":"EURUSD","type":"buy_stop","volume":0.1,"price": ask + 0.01}),
            0,
        )
        .unwrap();
        drop(e);
        let mut again = Engine::new(cfg(), 0);
        let orders = call(&mut again, "orders", json!({}), 0).unwrap();
        assert_eq!(orders["orders"].as_array().unwrap().len(), 1);
    }
}
