//! Order sizing and price levels for `trade` jobs: lots from `volume` or
//! `risk_pct` (balance × risk ÷ loss per lot at the stop), rounded down to the
//! symbol's volume step and clamped to its min/max; SL/TP from pips or prices.

use companion_protocol::{Filling, Side, TradeInput};
use companion_terminal::SymbolInfo;

/// The filling policy to ask for, as CTrade's `SetTypeFillingBySymbol` picks it:
/// FOK when the symbol allows it, else IOC, else RETURN. `None` when the terminal
/// did not say (an older bridge): it then uses its own default.
pub fn filling(si: &SymbolInfo) -> Option<Filling> {
    [Filling::Fok, Filling::Ioc, Filling::Return]
        .into_iter()
        .find(|f| si.filling_modes.contains(f))
}

/// The size of one pip: 10 points on 3/5-digit quotes, else one point.
pub fn pip_size(si: &SymbolInfo) -> f64 {
    if si.digits == 3 || si.digits == 5 {
        si.point * 10.0
    } else {
        si.point
    }
}

pub fn round_to_digits(v: f64, digits: u32) -> f64 {
    let f = 10f64.powi(digits as i32);
    (v * f).round() / f
}

/// Entry price the order will fill near: ask for buys, bid for sells.
pub fn entry_price(si: &SymbolInfo, side: Side) -> f64 {
    match side {
        Side::Buy => si.ask,
        Side::Sell => si.bid,
    }
}

/// A price on the symbol's tick grid (`SYMBOL_TRADE_TICK_SIZE`, which can be
/// coarser than a point: indices quoted in 0.25 or 5), then to its digits.
pub fn round_to_tick(v: f64, si: &SymbolInfo) -> f64 {
    let on_grid = if si.tick_size > 0.0 && si.tick_size.is_finite() {
        (v / si.tick_size).round() * si.tick_size
    } else {
        v
    };
    round_to_digits(on_grid, si.digits)
}

/// Stop-loss and take-profit prices: explicit prices win, else pips from the entry;
/// both on the tick grid.
pub fn stops(input: &TradeInput, si: &SymbolInfo) -> (Option<f64>, Option<f64>) {
    let entry = entry_price(si, input.side);
    let pip = pip_size(si);
    let dir = match input.side {
        Side::Buy => 1.0,
        Side::Sell => -1.0,
    };
    let sl = input
        .sl
        .or_else(|| input.sl_pips.map(|p| entry - dir * p * pip))
        .map(|v| round_to_tick(v, si));
    let tp = input
        .tp
        .or_else(|| input.tp_pips.map(|p| entry + dir * p * pip))
        .map(|v| round_to_tick(v, si));
    (sl, tp)
}

/// Rounds down to the volume step, then clamps to the symbol's min/max.
pub fn normalize_volume(v: f64, si: &SymbolInfo) -> f64 {
    let step = if si.volume_step > 0.0 {
        si.volume_step
    } else {
        0.01
    };
    let decimals = (-step.log10()).ceil().max(0.0) as u32;
    let stepped = ((v / step) + 1e-6).floor() * step;
    let clamped = stepped.max(si.volume_min).min(si.volume_max);
    round_to_digits(clamped, decimals)
}

/// Lots for the order, or a message saying why none can be computed.
pub fn volume(input: &TradeInput, si: &SymbolInfo, balance: f64) -> Result<f64, String> {
    match (input.volume, input.risk_pct) {
        (Some(v), _) if v > 0.0 && v.is_finite() => Ok(normalize_volume(v, si)),
        (Some(v), _) => Err(format!(
            "invalid volume {v}: must be a positive number of lots"
        )),
        (None, Some(r)) if r > 0.0 && r.is_finite() => {
            let (sl, _) = stops(input, si);
            let sl = sl.ok_or("risk_pct sizing needs a stop loss: give sl or sl_pips")?;
            let distance = (entry_price(si, input.side) - sl).abs();
            if distance <= 0.0 || si.tick_size <= 0.0 || si.tick_value <= 0.0 {
                return Err(format!(
                    "cannot size by risk: stop distance {distance}, tick size {}, tick value {}",
                    si.tick_size, si.tick_value
                ));
            }
            let loss_per_lot = distance / si.tick_size * si.tick_value;
            let risk_money = balance * r / 100.0;
            Ok(normalize_volume(risk_money / loss_per_lot, si))
        }
        (None, Some(r)) => Err(format!(
            "invalid risk_pct {r}: must be a positive percentage"
        )),
        (None, None) => Err("trade input needs volume or risk_pct".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eurusd() -> SymbolInfo {
        SymbolInfo {
            symbol: "EURUSD".into(),
            digits: 5,
            point: 0.00001,
            contract_size: 100_000.0,
            tick_size: 0.00001,
            tick_value: 1.0,
            volume_min: 0.01,
            volume_max: 50.0,
            volume_step: 0.01,
            bid: 1.10000,
            ask: 1.10010,
            ..Default::default()
        }
    }

    #[test]
    fn filling_follows_what_the_symbol_allows() {
        let mut si = eurusd();
        assert_eq!(filling(&si), None, "an older bridge does not say");
        si.filling_modes = vec![Filling::Return, Filling::Ioc, Filling::Fok];
        assert_eq!(filling(&si), Some(Filling::Fok));
        si.filling_modes = vec![Filling::Return, Filling::Ioc];
        assert_eq!(filling(&si), Some(Filling::Ioc));
        si.filling_modes = vec![Filling::Return];
        assert_eq!(filling(&si), Some(Filling::Return));
    }

    fn input(side: Side) -> TradeInput {
        TradeInput::new("EURUSD", side)
    }

    #[test]
    fn risk_sizing_uses_balance_and_stop_distance() {
        // 1% of 10,000 = 100 USD; 20 pips on EURUSD = 200 points * 1 USD/lot-point... = 200 USD per lot.
        let mut i = input(Side::Buy);
        i.risk_pct = Some(1.0);
        i.sl_pips = Some(20.0);
        assert_eq!(volume(&i, &eurusd(), 10_000.0).unwrap(), 0.5);
        let (sl, tp) = stops(&i, &eurusd());
        assert_eq!(sl, Some(1.0981));
        assert_eq!(tp, None);
    }

    #[test]
    fn sell_stops_are_above_entry_and_explicit_prices_win() {
        let mut i = input(Side::Sell);
        i.sl_pips = Some(10.0);
        i.tp_pips = Some(30.0);
        assert_eq!(stops(&i, &eurusd()), (Some(1.101), Some(1.097)));
        i.sl = Some(1.2);
        assert_eq!(stops(&i, &eurusd()).0, Some(1.2));
    }

    #[test]
    fn volume_is_rounded_down_to_step_and_clamped() {
        let si = eurusd();
        assert_eq!(normalize_volume(0.129, &si), 0.12);
        assert_eq!(normalize_volume(0.001, &si), 0.01);
        assert_eq!(normalize_volume(500.0, &si), 50.0);
        assert_eq!(normalize_volume(0.3, &si), 0.3);
    }

    #[test]
    fn sizing_refuses_missing_or_bad_inputs() {
        let i = input(Side::Buy);
        assert!(volume(&i, &eurusd(), 1000.0)
            .unwrap_err()
            .contains("volume or risk_pct"));
        let mut r = input(Side::Buy);
        r.risk_pct = Some(1.0);
        assert!(volume(&r, &eurusd(), 1000.0)
            .unwrap_err()
            .contains("stop loss"));
        let mut v = input(Side::Buy);
        v.volume = Some(-1.0);
        assert!(volume(&v, &eurusd(), 1000.0).is_err());
    }

    #[test]
    fn stops_land_on_the_tick_grid() {
        // An index quoted with 2 digits but traded in quarter points.
        let mut si = eurusd();
        si.symbol = "US500".into();
        si.digits = 2;
        si.point = 0.01;
        si.tick_size = 0.25;
        si.bid = 4500.00;
        si.ask = 4500.50;
        let mut i = input(Side::Buy);
        i.sl = Some(4480.13);
        i.tp_pips = Some(2_003.0); // 20.03 above the ask
        let (sl, tp) = stops(&i, &si);
        assert_eq!(sl, Some(4480.25));
        assert_eq!(tp, Some(4520.5));
        assert_eq!(round_to_tick(1.234567, &eurusd()), 1.23457);
    }

    #[test]
    fn pip_size_depends_on_digits() {
        let mut si = eurusd();
        assert_eq!(pip_size(&si), 0.0001);
        si.digits = 2;
        si.point = 0.01;
        assert_eq!(pip_size(&si), 0.01);
    }
}
