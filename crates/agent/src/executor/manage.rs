//! Trade management rules, pure: a pending order's price (a price, or a distance
//! from the current price), SL/TP levels of `modify_position` (a price, or a
//! distance from the position's open price), and the volume of a partial close
//! (rounded down to the volume step; below the minimum refused; a remainder below
//! the minimum closes the whole position). Error texts start with a stable code.

use companion_protocol::{
    OrderType, PendingOrder, Position, PriceDistance, PriceUnit, Side, StopLevel,
};
use companion_terminal::SymbolInfo;

use crate::sizing::{pip_size, round_to_digits};

/// A distance in price units from `reference`.
pub(super) fn distance(si: &SymbolInfo, reference: f64, d: PriceDistance) -> Result<f64, String> {
    if !(d.value.is_finite() && d.value > 0.0) {
        return Err(format!(
            "invalid_distance: a distance must be positive, not {}",
            d.value
        ));
    }
    Ok(match d.unit {
        PriceUnit::Pips => d.value * pip_size(si),
        PriceUnit::Points => d.value * si.point,
        PriceUnit::Percent => reference * d.value / 100.0,
        PriceUnit::Price => {
            return Err("invalid_distance: a distance is in pips, points or percent".into())
        }
    })
}

/// Rounds a price to the symbol's tick size (then to its digits).
pub(super) fn normalize_price(si: &SymbolInfo, price: f64) -> f64 {
    let p = if si.tick_size > 0.0 {
        (price / si.tick_size).round() * si.tick_size
    } else {
        price
    };
    round_to_digits(p, si.digits)
}

/// The price of a pending order: `entry_price`, or `entry_offset` from the ask (buys)
/// or bid (sells), below for buy limits and sell stops, above for the others.
pub(super) fn pending_price(
    si: &SymbolInfo,
    side: Side,
    order_type: OrderType,
    entry_price: Option<f64>,
    entry_offset: Option<PriceDistance>,
) -> Result<f64, String> {
    let current = match side {
        Side::Buy => si.ask,
        Side::Sell => si.bid,
    };
    let price = match (entry_price, entry_offset) {
        (Some(p), _) if p.is_finite() && p > 0.0 => p,
        (Some(p), _) => return Err(format!("invalid_price: entry price {p} is not positive")),
        (None, Some(d)) => {
            let dist = distance(si, current, d)?;
            let below = matches!(
                (side, order_type),
                (Side::Buy, OrderType::Limit) | (Side::Sell, OrderType::Stop)
            );
            if below {
                current - dist
            } else {
                current + dist
            }
        }
        (None, None) => {
            return Err(
                "missing_price: a limit or stop order needs an entry price or offset".into(),
            )
        }
    };
    if price <= 0.0 {
        return Err(format!(
            "invalid_price: the order price {price} is not positive"
        ));
    }
    Ok(normalize_price(si, price))
}

/// A new SL (`is_sl`) or TP of `p`: a price (0 = none), or a distance from the open
/// price on the losing (SL) or winning (TP) side.
pub(super) fn level(
    si: &SymbolInfo,
    p: &Position,
    l: StopLevel,
    is_sl: bool,
) -> Result<Option<f64>, String> {
    if l.unit == PriceUnit::Price {
        if !(l.value.is_finite() && l.value >= 0.0) {
            return Err(format!("invalid_price: {} is not a price", l.value));
        }
        return Ok((l.value != 0.0).then(|| normalize_price(si, l.value)));
    }
    let d = distance(
        si,
        p.open_price,
        PriceDistance {
            value: l.value,
            unit: l.unit,
        },
    )?;
    let up = matches!((p.side, is_sl), (Side::Buy, false) | (Side::Sell, true));
    let v = if up {
        p.open_price + d
    } else {
        p.open_price - d
    };
    if v <= 0.0 {
        return Err(format!("invalid_price: the level {v} is not positive"));
    }
    Ok(Some(normalize_price(si, v)))
}

/// What a partial close does to one position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Partial {
    /// Close the whole position.
    Whole,
    /// Close this many lots.
    Part(f64),
}

/// The part of a position of `position_volume` lots that `volume` (lots) or `percent`
/// closes: rounded down to the volume step, at most the position; refused
/// (`partial_below_min`) below the minimum volume; a remainder below the minimum
/// closes the whole position.
pub(super) fn partial(
    si: &SymbolInfo,
    position_volume: f64,
    volume: Option<f64>,
    percent: Option<f64>,
) -> Result<Partial, String> {
    let wanted = match (volume, percent) {
        (Some(v), _) => v,
        (None, Some(pc)) => position_volume * pc / 100.0,
        (None, None) => return Ok(Partial::Whole),
    };
    if !(wanted.is_finite() && wanted > 0.0) {
        return Err(format!(
            "invalid_volume: {wanted} lots is not a volume to close"
        ));
    }
    let step = if si.volume_step > 0.0 {
        si.volume_step
    } else {
        0.01
    };
    let decimals = (-step.log10()).ceil().max(0.0) as u32;
    let part = round_to_digits(
        ((wanted.min(position_volume) / step) + 1e-6).floor() * step,
        decimals,
    );
    if part < si.volume_min - 1e-9 || part <= 0.0 {
        return Err(format!(
            "partial_below_min: closing {wanted} of {position_volume} lots rounds down to {part} lots, below the symbol's minimum volume {}",
            si.volume_min
        ));
    }
    let rest = round_to_digits(position_volume - part, decimals);
    if rest < si.volume_min - 1e-9 {
        Ok(Partial::Whole)
    } else {
        Ok(Partial::Part(part))
    }
}

/// The pending orders a `cancel_orders` by symbol selects: on one of `names`,
/// optionally one side, carrying one of `magics` (empty: any).
pub(super) fn order_selection(
    orders: &[PendingOrder],
    names: &[String],
    side: Option<Side>,
    magics: &[i64],
) -> Vec<PendingOrder> {
    orders
        .iter()
        .filter(|o| names.iter().any(|n| o.symbol.eq_ignore_ascii_case(n)))
        .filter(|o| side.is_none_or(|s| s == o.side))
        .filter(|o| magics.is_empty() || magics.contains(&o.magic))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eurusd() -> SymbolInfo {
        SymbolInfo {
            symbol: "EURUSD".into(),
            digits: 5,
            point: 0.00001,
            tick_size: 0.00001,
            volume_min: 0.01,
            volume_max: 100.0,
            volume_step: 0.01,
            bid: 1.10000,
            ask: 1.10010,
            ..Default::default()
        }
    }

    fn pos(side: Side, volume: f64) -> Position {
        Position {
            id: "1".into(),
            ticket: 1,
            symbol: "EURUSD".into(),
            side,
            volume,
            open_price: 1.1,
            current_price: 1.1,
            sl: None,
            tp: None,
            pnl: 0.0,
            comment: String::new(),
            magic: 7,
            identifier: None,
            stop_rule: None,
        }
    }

    #[test]
    fn pending_prices_from_offsets_go_the_orders_way() {
        let si = eurusd();
        let pips = |v| {
            Some(PriceDistance {
                value: v,
                unit: PriceUnit::Pips,
            })
        };
        let bl = pending_price(&si, Side::Buy, OrderType::Limit, None, pips(10.0)).unwrap();
        assert!((bl - 1.0991).abs() < 1e-9);
        let bs = pending_price(&si, Side::Buy, OrderType::Stop, None, pips(10.0)).unwrap();
        assert!((bs - 1.1011).abs() < 1e-9);
        let ss = pending_price(&si, Side::Sell, OrderType::Stop, None, pips(10.0)).unwrap();
        assert!((ss - 1.0990).abs() < 1e-9);
        let pct = Some(PriceDistance {
            value: 1.0,
            unit: PriceUnit::Percent,
        });
        let sl = pending_price(&si, Side::Sell, OrderType::Limit, None, pct).unwrap();
        assert!((sl - 1.111).abs() < 1e-9);
        assert!(
            pending_price(&si, Side::Buy, OrderType::Limit, Some(1.0812345), None)
                .is_ok_and(|p| (p - 1.08123).abs() < 1e-9)
        );
        assert!(pending_price(&si, Side::Buy, OrderType::Limit, None, None)
            .unwrap_err()
            .starts_with("missing_price"));
    }

    #[test]
    fn levels_are_from_the_open_price_on_the_right_side() {
        let si = eurusd();
        let l = |value, unit| StopLevel { value, unit };
        let buy = pos(Side::Buy, 0.1);
        assert_eq!(
            level(&si, &buy, l(20.0, PriceUnit::Pips), true),
            Ok(Some(1.098))
        );
        assert_eq!(
            level(&si, &buy, l(20.0, PriceUnit::Pips), false),
            Ok(Some(1.102))
        );
        let sell = pos(Side::Sell, 0.1);
        assert_eq!(
            level(&si, &sell, l(200.0, PriceUnit::Points), true),
            Ok(Some(1.102))
        );
        assert_eq!(
            level(&si, &sell, l(1.0, PriceUnit::Percent), false),
            Ok(Some(1.089))
        );
        assert_eq!(level(&si, &sell, l(0.0, PriceUnit::Price), true), Ok(None));
        assert_eq!(
            level(&si, &sell, l(1.2, PriceUnit::Price), true),
            Ok(Some(1.2))
        );
        assert!(level(&si, &sell, l(-1.0, PriceUnit::Pips), true).is_err());
    }

    #[test]
    fn partial_closes_round_down_and_keep_the_minimum() {
        let si = eurusd();
        assert_eq!(partial(&si, 0.1, None, Some(50.0)), Ok(Partial::Part(0.05)));
        // 50 % of 0.15 = 0.075, rounded down to the step.
        assert_eq!(
            partial(&si, 0.15, None, Some(50.0)),
            Ok(Partial::Part(0.07))
        );
        // More than the position: the whole position.
        assert_eq!(partial(&si, 0.1, Some(0.5), None), Ok(Partial::Whole));
        // A remainder below the minimum: the whole position.
        assert_eq!(
            partial(&si, 0.02, None, Some(60.0)),
            Ok(Partial::Part(0.01))
        );
        assert_eq!(
            partial(&si, 0.1, Some(0.095), None),
            Ok(Partial::Part(0.09))
        );
        let min2 = SymbolInfo {
            volume_min: 0.02,
            ..eurusd()
        };
        assert_eq!(partial(&min2, 0.1, Some(0.09), None), Ok(Partial::Whole));
        assert_eq!(partial(&si, 0.1, None, Some(100.0)), Ok(Partial::Whole));
        // Below the minimum: refused.
        assert!(partial(&si, 0.01, None, Some(50.0))
            .unwrap_err()
            .starts_with("partial_below_min"));
        assert_eq!(partial(&si, 0.1, None, None), Ok(Partial::Whole));
    }

    #[test]
    fn cancels_select_symbol_side_and_magic() {
        let o = |ticket, symbol: &str, side, magic| PendingOrder {
            ticket,
            symbol: symbol.into(),
            side,
            order_type: OrderType::Limit,
            volume: 0.1,
            price: 1.0,
            sl: None,
            tp: None,
            magic,
            comment: String::new(),
            expiry: None,
        };
        let book = vec![
            o(1, "EURUSD", Side::Buy, 7),
            o(2, "EURUSD", Side::Sell, 7),
            o(3, "EURUSD", Side::Buy, 8),
            o(4, "GBPUSD", Side::Buy, 7),
        ];
        let names = vec!["eurusd".to_string()];
        let t = |v: Vec<PendingOrder>| v.iter().map(|o| o.ticket).collect::<Vec<_>>();
        assert_eq!(
            t(order_selection(&book, &names, Some(Side::Buy), &[7])),
            vec![1]
        );
        assert_eq!(t(order_selection(&book, &names, None, &[7])), vec![1, 2]);
        assert_eq!(t(order_selection(&book, &names, None, &[])), vec![1, 2, 3]);
    }
}
