//! The paper terminal's deterministic market: per-symbol seeded random walks with
//! a spread, and candle history generated back from the current price.
//!
//! The price of a symbol steps once per `tick_ms` of wall time; the sequence of
//! steps depends only on the seed and the symbol, so two runs with the same seed
//! see the same prices at the same step. `tick_ms = 0` freezes prices (they move
//! only through `paper_set_price`), which tests use to assert exact fills.

use std::collections::HashMap;

use companion_protocol::{BrokerSymbol, Candle, Filling, SymbolTradeMode, Timeframe};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::terminal::SymbolInfo;

/// Static properties of a tradable symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolSpec {
    pub name: String,
    pub digits: u32,
    pub contract_size: f64,
    pub base_price: f64,
    /// Spread in points.
    pub spread_points: u32,
    /// Relative standard deviation of one price step.
    pub step_volatility: f64,
    pub volume_min: f64,
    pub volume_max: f64,
    pub volume_step: f64,
    /// Smallest price change; prices are multiples of it.
    pub tick_size: f64,
    pub trade_mode: SymbolTradeMode,
    /// Filling policies orders may ask for.
    pub filling: Vec<Filling>,
    /// `SYMBOL_TRADE_STOPS_LEVEL`: minimum SL/TP distance from the price, points.
    pub stops_level_points: u32,
    /// Currency of the symbol's profit (`SYMBOL_CURRENCY_PROFIT`).
    pub currency_profit: String,
    pub description: String,
    pub path: String,
    /// Shown in Market Watch.
    pub visible: bool,
}

impl SymbolSpec {
    pub fn point(&self) -> f64 {
        10f64.powi(-(self.digits as i32))
    }

    /// The entry of the `symbols` command.
    pub fn broker_symbol(&self) -> BrokerSymbol {
        BrokerSymbol {
            name: self.name.clone(),
            description: self.description.clone(),
            path: self.path.clone(),
            trade_mode: self.trade_mode,
            digits: self.digits,
            visible: self.visible,
        }
    }
}

/// All three filling policies (what a symbol allows unless told otherwise).
pub fn all_fillings() -> Vec<Filling> {
    vec![Filling::Fok, Filling::Ioc, Filling::Return]
}

/// A symbol's `SYMBOL_PATH` when none is given: `Forex\EURUSD.pro`, `Metals\GOLD`, …
pub fn default_path(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    let group = if ["XAU", "XAG", "XPT", "XPD", "GOLD", "SILVER"]
        .iter()
        .any(|p| upper.starts_with(p))
    {
        "Metals"
    } else if ["BTC", "ETH", "LTC", "XRP", "SOL"]
        .iter()
        .any(|p| upper.starts_with(p))
    {
        "Crypto"
    } else if upper.len() >= 6 && upper.bytes().take(6).all(|b| b.is_ascii_uppercase()) {
        "Forex"
    } else if ["OIL", "USOIL", "UKOIL", "BRENT", "WTI", "NGAS"]
        .iter()
        .any(|p| upper.starts_with(p))
    {
        "Energies"
    } else {
        "Indices"
    };
    format!("{group}\\{name}")
}

fn fx(name: &str, price: f64, digits: u32, spread: u32) -> SymbolSpec {
    SymbolSpec {
        name: name.into(),
        digits,
        contract_size: 100_000.0,
        base_price: price,
        spread_points: spread,
        step_volatility: 0.00004,
        volume_min: 0.01,
        volume_max: 100.0,
        volume_step: 0.01,
        tick_size: 10f64.powi(-(digits as i32)),
        trade_mode: SymbolTradeMode::Full,
        filling: all_fillings(),
        stops_level_points: 0,
        currency_profit: name.get(3..6).unwrap_or("USD").to_string(),
        description: String::new(),
        path: default_path(name),
        visible: true,
    }
}

/// The symbols the paper terminal knows by name. Any other six-letter symbol of
/// capital letters is traded as a currency pair with a price derived from its name.
pub fn builtin_symbols() -> Vec<SymbolSpec> {
    let mut v = vec![
        fx("EURUSD", 1.08500, 5, 12),
        fx("GBPUSD", 1.26500, 5, 15),
        fx("AUDUSD", 0.65500, 5, 14),
        fx("NZDUSD", 0.60500, 5, 18),
        fx("USDJPY", 151.200, 3, 14),
        fx("USDCHF", 0.88500, 5, 16),
        fx("USDCAD", 1.36500, 5, 18),
        fx("EURGBP", 0.85800, 5, 16),
        fx("EURJPY", 164.000, 3, 20),
    ];
    v.push(SymbolSpec {
        contract_size: 100.0,
        spread_points: 25,
        step_volatility: 0.00008,
        volume_max: 50.0,
        ..fx("XAUUSD", 2350.0, 2, 25)
    });
    v.push(SymbolSpec {
        contract_size: 1.0,
        spread_points: 1500,
        step_volatility: 0.0002,
        volume_max: 10.0,
        ..fx("BTCUSD", 65_000.0, 2, 1500)
    });
    v
}

fn hash64(parts: &[&[u8]]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

fn derived_spec(name: &str) -> Option<SymbolSpec> {
    if name.len() != 6 || !name.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let h = hash64(&[name.as_bytes()]);
    let jpy = name.ends_with("JPY");
    let unit = (h % 10_000) as f64 / 10_000.0;
    let (price, digits) = if jpy {
        (80.0 + unit * 120.0, 3)
    } else {
        (0.5 + unit * 1.5, 5)
    };
    Some(fx(name, price, digits, 20))
}

struct Walk {
    rng: ChaCha8Rng,
    step: u64,
    log_offset: f64,
}

/// Current prices of all symbols, advanced lazily.
pub struct Market {
    seed: u64,
    tick_ms: u64,
    origin_ms: i64,
    specs: HashMap<String, SymbolSpec>,
    /// The listed symbols' names, in their list's order (for `symbols`).
    order: Vec<String>,
    /// Any six-capital-letter name is a currency pair (no symbol list given).
    derive: bool,
    /// Trade-server time minus UTC: candle times are the server's clock.
    time_offset_secs: i64,
    walks: HashMap<String, Walk>,
}

/// One symbol's quote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quote {
    pub bid: f64,
    pub ask: f64,
}

fn round_to(x: f64, digits: u32) -> f64 {
    let f = 10f64.powi(digits as i32);
    (x * f).round() / f
}

impl Market {
    /// A market whose walks start at `origin_ms` (Unix milliseconds).
    pub fn new(seed: u64, tick_ms: u64, origin_ms: i64) -> Self {
        Self::with_symbols(seed, tick_ms, origin_ms, None)
    }

    /// A market of exactly `symbols` (a broker's list: any other name is unknown),
    /// or of the built-in symbols plus any six-capital-letter pair when `None`.
    pub fn with_symbols(
        seed: u64,
        tick_ms: u64,
        origin_ms: i64,
        symbols: Option<Vec<SymbolSpec>>,
    ) -> Self {
        let derive = symbols.is_none();
        let list = symbols.unwrap_or_else(builtin_symbols);
        let order = list.iter().map(|s| s.name.clone()).collect();
        let specs = list.into_iter().map(|s| (s.name.clone(), s)).collect();
        Market {
            seed,
            tick_ms,
            origin_ms,
            specs,
            order,
            derive,
            time_offset_secs: 0,
            walks: HashMap::new(),
        }
    }

    /// Candle times become trade-server times (UTC + `secs`).
    pub fn set_time_offset(&mut self, secs: i64) {
        self.time_offset_secs = secs;
    }

    /// Every listed symbol, in list order (derived pairs are not listed).
    pub fn listed(&self) -> Vec<SymbolSpec> {
        self.order
            .iter()
            .filter_map(|n| self.specs.get(n).cloned())
            .collect()
    }

    /// The spec of `symbol`, if the market trades it.
    pub fn spec(&mut self, symbol: &str) -> Option<SymbolSpec> {
        if let Some(s) = self.specs.get(symbol) {
            return Some(s.clone());
        }
        if !self.derive {
            return None;
        }
        let s = derived_spec(symbol)?;
        self.specs.insert(symbol.to_string(), s.clone());
        Some(s)
    }

    fn target_step(&self, now_ms: i64) -> u64 {
        if self.tick_ms == 0 {
            return 0;
        }
        ((now_ms - self.origin_ms).max(0) as u64) / self.tick_ms
    }

    fn walk(&mut self, symbol: &str) -> &mut Walk {
        let seed = self.seed;
        self.walks
            .entry(symbol.to_string())
            .or_insert_with(|| Walk {
                rng: ChaCha8Rng::seed_from_u64(hash64(&[&seed.to_le_bytes(), symbol.as_bytes()])),
                step: 0,
                log_offset: 0.0,
            })
    }

    /// The quote of `symbol` at `now_ms`; `None` for an unknown symbol.
    pub fn quote(&mut self, symbol: &str, now_ms: i64) -> Option<Quote> {
        let spec = self.spec(symbol)?;
        let target = self.target_step(now_ms);
        let w = self.walk(symbol);
        // A walk far behind (a long-idle process) skips ahead rather than stall.
        if target.saturating_sub(w.step) > 1_000_000 {
            w.step = target - 1_000_000;
        }
        while w.step < target {
            let z: f64 = w.rng.random_range(-1.0..1.0) + w.rng.random_range(-1.0..1.0);
            w.log_offset += spec.step_volatility * z;
            // Keep the walk within a sane band around its base price.
            w.log_offset = w.log_offset.clamp(-0.5, 0.5);
            w.step += 1;
        }
        let mid = spec.base_price * w.log_offset.exp();
        let tick = if spec.tick_size > 0.0 {
            spec.tick_size
        } else {
            spec.point()
        };
        let bid = round_to((mid / tick).round() * tick, spec.digits);
        let ask = round_to(bid + spec.spread_points as f64 * spec.point(), spec.digits);
        Some(Quote { bid, ask })
    }

    /// Moves `symbol` so its bid is `bid` from now on (the walk continues from there).
    pub fn set_bid(&mut self, symbol: &str, bid: f64, now_ms: i64) -> bool {
        let Some(spec) = self.spec(symbol) else {
            return false;
        };
        if bid <= 0.0 || !bid.is_finite() {
            return false;
        }
        let _ = self.quote(symbol, now_ms);
        let w = self.walk(symbol);
        w.log_offset = (bid / spec.base_price).ln();
        true
    }

    /// `SymbolInfo` at `now_ms`.
    pub fn symbol_info(&mut self, symbol: &str, now_ms: i64) -> Option<SymbolInfo> {
        let spec = self.spec(symbol)?;
        let q = self.quote(symbol, now_ms)?;
        let point = spec.point();
        let tick_size = if spec.tick_size > 0.0 {
            spec.tick_size
        } else {
            point
        };
        Some(SymbolInfo {
            symbol: spec.name.clone(),
            digits: spec.digits,
            point,
            contract_size: spec.contract_size,
            tick_size,
            tick_value: tick_size * spec.contract_size * self.quote_to_usd(symbol, q.bid, now_ms),
            volume_min: spec.volume_min,
            volume_max: spec.volume_max,
            volume_step: spec.volume_step,
            bid: q.bid,
            ask: q.ask,
            trade_mode: spec.trade_mode,
            filling_modes: spec.filling.clone(),
            stops_level: spec.stops_level_points,
            currency_profit: spec.currency_profit.clone(),
            margin_per_lot: None,
        })
    }

    /// Value in USD of one unit of `symbol`'s profit currency.
    pub fn quote_to_usd(&mut self, symbol: &str, price: f64, now_ms: i64) -> f64 {
        let Some(spec) = self.spec(symbol) else {
            return 1.0;
        };
        let cur = spec.currency_profit.to_ascii_uppercase();
        if cur.is_empty() || cur == "USD" {
            return 1.0;
        }
        // The symbol itself quotes USD in its profit currency (USDJPY, USDJPY.pro).
        if symbol
            .to_ascii_uppercase()
            .starts_with(&format!("USD{cur}"))
        {
            return if price > 0.0 { 1.0 / price } else { 1.0 };
        }
        // Another symbol converts it: CURUSD (× bid) or USDCUR (÷ bid), with or
        // without the broker's suffix.
        for (prefix, direct) in [(format!("{cur}USD"), true), (format!("USD{cur}"), false)] {
            let name = if self.spec(&prefix).is_some() {
                Some(prefix.clone())
            } else {
                let mut names: Vec<&String> = self
                    .order
                    .iter()
                    .filter(|n| n.to_ascii_uppercase().starts_with(&prefix))
                    .collect();
                names.sort();
                names.first().map(|n| n.to_string())
            };
            if let Some(q) = name.and_then(|n| self.quote(&n, now_ms)) {
                if q.bid > 0.0 {
                    return if direct { q.bid } else { 1.0 / q.bid };
                }
            }
        }
        1.0
    }

    /// `count` bars of `tf` ending with the bar that contains `now_ms`, oldest
    /// first. The last close is the current bid; earlier bars walk back from it,
    /// each bar's shape fixed by the seed, the symbol, the timeframe and its time.
    pub fn candles(
        &mut self,
        symbol: &str,
        tf: Timeframe,
        count: u32,
        now_ms: i64,
    ) -> Option<Vec<Candle>> {
        let spec = self.spec(symbol)?;
        let q = self.quote(symbol, now_ms)?;
        let secs = tf.seconds();
        let now = now_ms.div_euclid(1000) + self.time_offset_secs;
        let last_open = now - now.rem_euclid(secs);
        let bar_vol = (spec.step_volatility * ((secs as f64).sqrt())).min(0.05);
        let mut close = q.bid;
        let mut out = Vec::with_capacity(count as usize);
        for i in 0..count as i64 {
            let time = last_open - i * secs;
            let mut rng = ChaCha8Rng::seed_from_u64(hash64(&[
                &self.seed.to_le_bytes(),
                symbol.as_bytes(),
                &secs.to_le_bytes(),
                &time.to_le_bytes(),
            ]));
            let r: f64 = rng.random_range(-1.0..1.0) * bar_vol;
            let open = close * (-r).exp();
            let wick_hi: f64 = rng.random_range(0.0..1.0) * bar_vol * 0.5;
            let wick_lo: f64 = rng.random_range(0.0..1.0) * bar_vol * 0.5;
            let high = open.max(close) * (1.0 + wick_hi);
            let low = open.min(close) * (1.0 - wick_lo);
            let volume = (rng.random_range(50.0..500.0) * (secs as f64 / 60.0).sqrt()).round();
            out.push(Candle {
                time,
                open: round_to(open, spec.digits),
                high: round_to(high, spec.digits),
                low: round_to(low, spec.digits),
                close: round_to(close, spec.digits),
                volume,
            });
            close = open;
        }
        out.reverse();
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_prices_and_spread_applies() {
        let mut a = Market::new(7, 1000, 0);
        let mut b = Market::new(7, 1000, 0);
        for t in [0, 5_000, 60_000, 3_600_000] {
            assert_eq!(a.quote("EURUSD", t), b.quote("EURUSD", t));
        }
        let q = a.quote("EURUSD", 3_600_000).unwrap();
        assert!((q.ask - q.bid - 0.00012).abs() < 1e-9);
        let mut c = Market::new(8, 1000, 0);
        assert_ne!(c.quote("EURUSD", 3_600_000), a.quote("EURUSD", 3_600_000));
    }

    #[test]
    fn frozen_market_only_moves_when_told() {
        let mut m = Market::new(1, 0, 0);
        let q0 = m.quote("GBPUSD", 0).unwrap();
        assert_eq!(m.quote("GBPUSD", 10_000_000).unwrap(), q0);
        assert!(m.set_bid("GBPUSD", 1.3, 1));
        assert_eq!(m.quote("GBPUSD", 2).unwrap().bid, 1.3);
    }

    #[test]
    fn candles_end_at_the_current_bid_and_are_well_formed() {
        let now = 1_700_000_123_000;
        let mut m = Market::new(3, 1000, now - 600_000);
        let c = m.candles("XAUUSD", Timeframe::H1, 50, now).unwrap();
        assert_eq!(c.len(), 50);
        assert_eq!(c.last().unwrap().close, m.quote("XAUUSD", now).unwrap().bid);
        for w in c.windows(2) {
            assert_eq!(w[1].time - w[0].time, 3600);
        }
        for k in &c {
            assert!(k.low <= k.open.min(k.close) && k.high >= k.open.max(k.close));
        }
    }

    #[test]
    fn unknown_symbols() {
        let mut m = Market::new(1, 0, 0);
        assert!(m.quote("NOPE", 0).is_none());
        assert!(m.quote("SEKNOK", 0).is_some());
    }
}
