//! Order sizing and price levels for `trade` jobs: lots from the typed
//! `volume_spec` (lots, money or % of balance/equity lost at the stop, % of balance
//! as lots or as margin) or the older `volume` / `risk_pct`, rounded down to the
//! symbol's volume step and clamped to its maximum (a computed size below the
//! minimum is refused); SL/TP from prices, pips, points or percent of the entry.

use companion_protocol::{Filling, PriceDistance, PriceUnit, Side, TradeInput, VolumeSpec};
use companion_terminal::SymbolInfo;

/// What sizing reads from the account.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Funds {
    pub balance: f64,
    pub equity: f64,
}

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

/// A distance in price units from `reference`: pips, points or percent of it
/// (`None` for a non-positive value or the `price` unit, which is not a distance).
pub fn distance_in_price(si: &SymbolInfo, reference: f64, d: PriceDistance) -> Option<f64> {
    if !(d.value.is_finite() && d.value > 0.0) {
        return None;
    }
    match d.unit {
        PriceUnit::Pips => Some(d.value * pip_size(si)),
        PriceUnit::Points => Some(d.value * si.point),
        PriceUnit::Percent => Some(reference * d.value / 100.0),
        PriceUnit::Price => None,
    }
}

/// Stop-loss and take-profit prices of an order filling near `entry`: explicit
/// prices win, else pips, else the typed distance (points, percent of `entry`);
/// all on the tick grid.
pub fn stops_at(input: &TradeInput, si: &SymbolInfo, entry: f64) -> (Option<f64>, Option<f64>) {
    let pip = pip_size(si);
    let dir = match input.side {
        Side::Buy => 1.0,
        Side::Sell => -1.0,
    };
    let away = |d: Option<PriceDistance>| d.and_then(|d| distance_in_price(si, entry, d));
    let sl = input
        .sl
        .or_else(|| input.sl_pips.map(|p| entry - dir * p * pip))
        .or_else(|| away(input.sl_distance).map(|d| entry - dir * d))
        .map(|v| round_to_tick(v, si));
    let tp = input
        .tp
        .or_else(|| input.tp_pips.map(|p| entry + dir * p * pip))
        .or_else(|| away(input.tp_distance).map(|d| entry + dir * d))
        .map(|v| round_to_tick(v, si));
    (sl, tp)
}

/// Whether a stop or target is a distance from the entry (not a price): it then
/// depends on the quote at the moment of sending.
pub fn has_distance_stops(input: &TradeInput) -> bool {
    (input.sl.is_none() && (input.sl_pips.is_some() || input.sl_distance.is_some()))
        || (input.tp.is_none() && (input.tp_pips.is_some() || input.tp_distance.is_some()))
}

/// [`stops_at`] the market entry (ask for buys, bid for sells).
pub fn stops(input: &TradeInput, si: &SymbolInfo) -> (Option<f64>, Option<f64>) {
    stops_at(input, si, entry_price(si, input.side))
}

/// Rounds down to the volume step, then clamps to the symbol's min/max.
pub fn normalize_volume(v: f64, si: &SymbolInfo) -> f64 {
    let step = step_of(si);
    let decimals = (-step.log10()).ceil().max(0.0) as u32;
    let stepped = ((v / step) + 1e-6).floor() * step;
    let clamped = stepped.max(si.volume_min).min(si.volume_max);
    round_to_digits(clamped, decimals)
}

fn step_of(si: &SymbolInfo) -> f64 {
    if si.volume_step > 0.0 {
        si.volume_step
    } else {
        0.01
    }
}

/// Rounds down to the volume step and clamps to the maximum only: `None` when the
/// result is below the symbol's minimum volume.
fn computed_volume(v: f64, si: &SymbolInfo) -> Option<f64> {
    let step = step_of(si);
    let decimals = (-step.log10()).ceil().max(0.0) as u32;
    let stepped = round_to_digits(((v / step) + 1e-6).floor() * step, decimals);
    let stepped = if si.volume_max > 0.0 {
        stepped.min(si.volume_max)
    } else {
        stepped
    };
    (stepped > 0.0 && stepped >= si.volume_min - 1e-9).then_some(stepped)
}

/// The volume request of an order: `volume_spec`, else `volume` as lots, else
/// `risk_pct` as % of the balance at risk.
pub fn volume_spec(input: &TradeInput) -> Result<VolumeSpec, String> {
    if let Some(spec) = input.volume_spec {
        return Ok(spec);
    }
    match (input.volume, input.risk_pct) {
        (Some(lots), _) => Ok(VolumeSpec::Lots { lots }),
        (None, Some(percent)) => Ok(VolumeSpec::BalanceRisk { percent }),
        (None, None) => Err("trade input needs volume_spec, volume or risk_pct".into()),
    }
}

/// Account-currency loss of one lot if the stop loss is hit.
fn loss_per_lot(input: &TradeInput, si: &SymbolInfo, what: &str) -> Result<f64, String> {
    let (sl, _) = stops(input, si);
    let sl = sl.ok_or_else(|| {
        format!("{what} sizing needs a stop loss: give sl, sl_pips, sl_points or sl_percent")
    })?;
    let distance = (entry_price(si, input.side) - sl).abs();
    if distance <= 0.0 || si.tick_size <= 0.0 || si.tick_value <= 0.0 {
        return Err(format!(
            "cannot size by {what}: stop distance {distance}, tick size {}, tick value {}",
            si.tick_size, si.tick_value
        ));
    }
    Ok(distance / si.tick_size * si.tick_value)
}

/// Lots for the order, or a message saying why none can be computed. Explicit lots
/// are rounded to the step and clamped to the symbol's limits; a computed size
/// below the minimum volume is refused (`volume_below_minimum`).
pub fn volume(input: &TradeInput, si: &SymbolInfo, funds: Funds) -> Result<f64, String> {
    let spec = volume_spec(input)?;
    let x = spec.value();
    if !(x.is_finite() && x > 0.0) {
        return Err(match spec {
            VolumeSpec::Lots { .. } => {
                format!("invalid volume {x}: must be a positive number of lots")
            }
            VolumeSpec::RiskMoney { .. } => format!("invalid risk amount {x}: must be positive"),
            _ => format!("invalid risk_pct {x}: must be a positive percentage"),
        });
    }
    let (raw, what) = match spec {
        VolumeSpec::Lots { lots } => return Ok(normalize_volume(lots, si)),
        VolumeSpec::RiskMoney { amount } => (
            amount / loss_per_lot(input, si, "risk amount")?,
            format!("{amount} lost at the stop"),
        ),
        VolumeSpec::BalanceRisk { percent } => (
            funds.balance * percent / 100.0 / loss_per_lot(input, si, "risk_pct")?,
            format!(
                "{percent}% of the balance {:.2} lost at the stop",
                funds.balance
            ),
        ),
        VolumeSpec::EquityRisk { percent } => (
            funds.equity * percent / 100.0 / loss_per_lot(input, si, "equity risk")?,
            format!(
                "{percent}% of the equity {:.2} lost at the stop",
                funds.equity
            ),
        ),
        VolumeSpec::BalanceLots { percent } => (
            funds.balance * percent / 10_000.0,
            format!(
                "{percent}% of the balance {:.2} as lots (0.1 lot per 1,000 at 1%)",
                funds.balance
            ),
        ),
        VolumeSpec::BalanceMargin { percent } => {
            let per_lot = si.margin_per_lot.filter(|m| m.is_finite() && *m > 0.0).ok_or(
                "cannot size by margin: the terminal did not report the margin of one lot (update the bridge EA)",
            )?;
            (
                funds.balance * percent / 100.0 / per_lot,
                format!(
                    "{percent}% of the balance {:.2} as margin at {per_lot:.2} per lot",
                    funds.balance
                ),
            )
        }
    };
    computed_volume(raw, si).ok_or_else(|| {
        format!(
            "volume_below_minimum: {what} gives {raw:.4} lots, below the symbol's minimum volume {} for {}",
            si.volume_min, si.symbol
        )
    })
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

    fn funds(balance: f64) -> Funds {
        Funds {
            balance,
            equity: balance,
        }
    }

    fn input(side: Side) -> TradeInput {
        TradeInput::new("EURUSD", side)
    }

    #[test]
    fn only_distance_stops_depend_on_the_quote_at_sending() {
        let mut i = input(Side::Buy);
        assert!(!has_distance_stops(&i), "no stops");
        i.sl = Some(1.09);
        i.tp = Some(1.11);
        assert!(!has_distance_stops(&i), "prices");
        i.sl_pips = Some(5.0);
        assert!(!has_distance_stops(&i), "a price wins over pips");
        i.sl = None;
        assert!(has_distance_stops(&i), "sl in pips");
        i.sl_pips = None;
        i.tp = None;
        i.tp_distance = Some(PriceDistance {
            value: 0.5,
            unit: PriceUnit::Percent,
        });
        assert!(has_distance_stops(&i), "tp in percent");
    }

    #[test]
    fn risk_sizing_uses_balance_and_stop_distance() {
        // 1% of 10,000 = 100 USD; 20 pips on EURUSD = 200 points * 1 USD/lot-point... = 200 USD per lot.
        let mut i = input(Side::Buy);
        i.risk_pct = Some(1.0);
        i.sl_pips = Some(20.0);
        assert_eq!(volume(&i, &eurusd(), funds(10_000.0)).unwrap(), 0.5);
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
        assert!(volume(&i, &eurusd(), funds(1000.0))
            .unwrap_err()
            .contains("volume_spec, volume or risk_pct"));
        let mut r = input(Side::Buy);
        r.risk_pct = Some(1.0);
        assert!(volume(&r, &eurusd(), funds(1000.0))
            .unwrap_err()
            .contains("stop loss"));
        let mut v = input(Side::Buy);
        v.volume = Some(-1.0);
        assert!(volume(&v, &eurusd(), funds(1000.0)).is_err());
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

    /// XAUUSD: 2 digits, contract 100 oz, tick 0.01 worth 1 USD per lot.
    fn xauusd() -> SymbolInfo {
        SymbolInfo {
            symbol: "XAUUSD".into(),
            digits: 2,
            point: 0.01,
            contract_size: 100.0,
            tick_size: 0.01,
            tick_value: 1.0,
            volume_min: 0.01,
            volume_max: 100.0,
            volume_step: 0.01,
            bid: 2400.00,
            ask: 2400.30,
            margin_per_lot: Some(2400.30),
            ..Default::default()
        }
    }

    /// An index CFD quoted in 0.01 but traded in quarter points, 5 USD per 0.25
    /// per lot, lots in steps of 0.1.
    fn us500() -> SymbolInfo {
        SymbolInfo {
            symbol: "US500".into(),
            digits: 2,
            point: 0.01,
            contract_size: 20.0,
            tick_size: 0.25,
            tick_value: 5.0,
            volume_min: 0.1,
            volume_max: 50.0,
            volume_step: 0.1,
            bid: 5000.00,
            ask: 5000.50,
            margin_per_lot: Some(5000.0),
            ..Default::default()
        }
    }

    fn spec(side: Side, spec: VolumeSpec) -> TradeInput {
        let mut i = input(side);
        i.volume_spec = Some(spec);
        i
    }

    fn points(value: f64) -> Option<PriceDistance> {
        Some(PriceDistance {
            value,
            unit: PriceUnit::Points,
        })
    }

    #[test]
    fn each_volume_type_on_eurusd() {
        let f = Funds {
            balance: 10_000.0,
            equity: 8_000.0,
        };
        let si = eurusd();
        // Lots as given (rounded to the step).
        let i = spec(Side::Buy, VolumeSpec::Lots { lots: 0.257 });
        assert_eq!(volume(&i, &si, f).unwrap(), 0.25);
        // 50 USD lost over 25 pips (250 points × 1 USD per point-lot) = 0.2 lots.
        let mut i = spec(Side::Buy, VolumeSpec::RiskMoney { amount: 50.0 });
        i.sl_pips = Some(25.0);
        assert_eq!(volume(&i, &si, f).unwrap(), 0.2);
        // 1 % of the balance (100) over 25 pips = 0.4; of the equity (80) = 0.32.
        i.volume_spec = Some(VolumeSpec::BalanceRisk { percent: 1.0 });
        assert_eq!(volume(&i, &si, f).unwrap(), 0.4);
        i.volume_spec = Some(VolumeSpec::EquityRisk { percent: 1.0 });
        assert_eq!(volume(&i, &si, f).unwrap(), 0.32);
        // 0.1 lot per 1,000 at 1 %: 10,000 → 1 lot; 0.5 % → 0.5 lots.
        let i = spec(Side::Sell, VolumeSpec::BalanceLots { percent: 0.5 });
        assert_eq!(volume(&i, &si, f).unwrap(), 0.5);
        // 1 % of the balance (100) as margin at 1,100.1 per lot → 0.09 lots.
        let mut si_m = eurusd();
        si_m.margin_per_lot = Some(1_100.1);
        let i = spec(Side::Buy, VolumeSpec::BalanceMargin { percent: 1.0 });
        assert_eq!(volume(&i, &si_m, f).unwrap(), 0.09);
        assert!(volume(&i, &si, f)
            .unwrap_err()
            .contains("margin of one lot"));
    }

    #[test]
    fn gold_sizes_with_its_contract_and_tick_value() {
        let f = Funds {
            balance: 5_000.0,
            equity: 5_000.0,
        };
        // A 10.00 USD stop on gold loses 1,000 USD per lot (1,000 ticks × 1 USD).
        let mut i = spec(Side::Buy, VolumeSpec::BalanceRisk { percent: 2.0 });
        i.sl_distance = points(1_000.0);
        assert_eq!(stops(&i, &xauusd()).0, Some(2390.30));
        assert_eq!(volume(&i, &xauusd(), f).unwrap(), 0.1);
        // 250 USD at the same stop: 0.25 lots.
        i.volume_spec = Some(VolumeSpec::RiskMoney { amount: 250.0 });
        assert_eq!(volume(&i, &xauusd(), f).unwrap(), 0.25);
        // 10 % of the balance as margin: 500 / 2,400.30 = 0.208 → 0.2.
        i.volume_spec = Some(VolumeSpec::BalanceMargin { percent: 10.0 });
        assert_eq!(volume(&i, &xauusd(), f).unwrap(), 0.2);
    }

    #[test]
    fn an_index_with_quarter_point_ticks() {
        let f = Funds {
            balance: 20_000.0,
            equity: 20_000.0,
        };
        // 1 % of the ask as the stop: 50.005 → 4950.50 on the 0.25 grid; the loss
        // per lot is 50.00 / 0.25 × 5 = 1,000 USD; 1 % of 20,000 → 0.2 lots.
        let mut i = spec(Side::Buy, VolumeSpec::BalanceRisk { percent: 1.0 });
        i.sl_distance = Some(PriceDistance {
            value: 1.0,
            unit: PriceUnit::Percent,
        });
        assert_eq!(stops(&i, &us500()).0, Some(4950.5));
        assert_eq!(volume(&i, &us500(), f).unwrap(), 0.2);
        // 150 USD over the same stop = 0.15 lots → 0.1 (step 0.1).
        i.volume_spec = Some(VolumeSpec::RiskMoney { amount: 150.0 });
        assert_eq!(volume(&i, &us500(), f).unwrap(), 0.1);
        // 90 USD = 0.09 lots: below the minimum 0.1, refused (never rounded up).
        i.volume_spec = Some(VolumeSpec::RiskMoney { amount: 90.0 });
        let e = volume(&i, &us500(), f).unwrap_err();
        assert!(e.starts_with("volume_below_minimum:"), "{e}");
        assert!(
            e.contains("0.0900 lots") && e.contains("minimum volume 0.1"),
            "{e}"
        );
        // Huge sizes stop at the symbol's maximum.
        i.volume_spec = Some(VolumeSpec::BalanceLots { percent: 100.0 });
        assert_eq!(volume(&i, &us500(), f).unwrap(), 50.0);
    }

    #[test]
    fn risk_types_need_a_stop_and_distances_in_every_unit() {
        let f = Funds {
            balance: 10_000.0,
            equity: 10_000.0,
        };
        let i = spec(Side::Buy, VolumeSpec::EquityRisk { percent: 1.0 });
        assert!(volume(&i, &eurusd(), f)
            .unwrap_err()
            .contains("needs a stop loss"));
        // Sell: SL above the bid, TP below; points, pips and percent.
        let mut i = input(Side::Sell);
        i.sl_distance = points(150.0);
        i.tp_distance = Some(PriceDistance {
            value: 1.0,
            unit: PriceUnit::Percent,
        });
        assert_eq!(stops(&i, &eurusd()), (Some(1.1015), Some(1.089)));
        // Explicit pips win over a typed distance.
        i.sl_pips = Some(10.0);
        assert_eq!(stops(&i, &eurusd()).0, Some(1.101));
        // A `price` unit is not a distance.
        let mut i = input(Side::Buy);
        i.sl_distance = Some(PriceDistance {
            value: 1.2,
            unit: PriceUnit::Price,
        });
        assert_eq!(stops(&i, &eurusd()).0, None);
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
