//! The checks a strategy's entry passes at the terminal right before it is sent
//! (`TradeInput.filters` and `max_positions`): spread, trading sessions, account
//! minimums and the cap on open positions. Pure; each refusal starts with its
//! stable reason code (`filter_spread`, `filter_session`, `filter_balance`,
//! `filter_equity`, `filter_free_margin`, `max_positions`) and gives the value
//! seen and the limit.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use companion_protocol::{
    in_window, parse_session_window, AccountOutput, Position, PriceUnit, SessionFilter, Side,
    TradeFilters,
};
use companion_terminal::SymbolInfo;

use crate::sizing::pip_size;

/// `Err(reason)` when a filter refuses the entry. `account` is needed only for the
/// account minimums (a missing account with minimums set refuses).
pub fn check(
    f: &TradeFilters,
    si: &SymbolInfo,
    account: Option<&AccountOutput>,
    now: DateTime<Utc>,
) -> Result<(), String> {
    if let Some(max) = f.max_spread {
        let spread = si.ask - si.bid;
        let (seen, unit) = match max.unit {
            PriceUnit::Pips => (spread / pip_size(si), "pips"),
            _ => (spread / si.point, "points"),
        };
        // Quotes are on the point grid: compare with a little slack for floats.
        if seen > max.value + 1e-6 {
            return Err(format!(
                "filter_spread: the spread of {} is {seen:.1} {unit}, above the limit {} {unit}",
                si.symbol, max.value
            ));
        }
    }
    if let Some(s) = &f.sessions {
        check_session(s, now)?;
    }
    let minimums = [
        ("filter_balance", "balance", f.min_balance),
        ("filter_equity", "equity", f.min_equity),
        ("filter_free_margin", "free margin", f.min_free_margin),
    ];
    for (code, what, min) in minimums {
        let Some(min) = min else { continue };
        let Some(a) = account else {
            return Err(format!(
                "{code}: the account could not be read to check the minimum {what} {min:.2}"
            ));
        };
        let seen = match code {
            "filter_balance" => a.balance,
            "filter_equity" => a.equity,
            _ => a.margin_available,
        };
        if seen < min {
            return Err(format!(
                "{code}: the account's {what} is {seen:.2} {}, below the minimum {min:.2}",
                a.currency
            ));
        }
    }
    Ok(())
}

/// Inside one of the windows, on one of the days, in the filter's local time.
pub fn check_session(s: &SessionFilter, now: DateTime<Utc>) -> Result<(), String> {
    if s.windows.is_empty() {
        return Ok(());
    }
    let local = now + Duration::minutes(i64::from(s.utc_offset_minutes));
    let minute = local.hour() * 60 + local.minute();
    let day = local.weekday().number_from_monday() as u8;
    let hhmm = format!("{:02}:{:02}", local.hour(), local.minute());
    let tz = if s.tz.is_empty() { "UTC" } else { &s.tz };
    if !s.days.is_empty() && !s.days.contains(&day) {
        return Err(format!(
            "filter_session: {} {hhmm} ({tz}) is not a trading day of this strategy (days {})",
            local.format("%A"),
            s.days
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    let inside = s
        .windows
        .iter()
        .filter_map(|w| parse_session_window(w))
        .any(|w| in_window(minute, w));
    if inside {
        Ok(())
    } else {
        Err(format!(
            "filter_session: {hhmm} ({tz}) is outside the strategy's trading hours {}",
            s.windows.join(", ")
        ))
    }
}

/// The strategy's open positions on `symbol` in direction `side` (by `magic`)
/// against the cap: `Err(reason)` at or past it.
pub fn check_max_positions(
    positions: &[Position],
    symbol: &str,
    side: Side,
    magic: i64,
    cap: u32,
) -> Result<(), String> {
    let open = positions
        .iter()
        .filter(|p| p.magic == magic && p.symbol == symbol && p.side == side)
        .count();
    if open >= cap as usize {
        return Err(format!(
            "max_positions: the strategy already has {open} {} position(s) open on {symbol}, its cap is {cap}",
            match side {
                Side::Buy => "buy",
                Side::Sell => "sell",
            }
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use companion_protocol::PriceDistance;

    fn eurusd() -> SymbolInfo {
        SymbolInfo {
            symbol: "EURUSD".into(),
            digits: 5,
            point: 0.00001,
            bid: 1.10000,
            ask: 1.10025,
            ..Default::default()
        }
    }

    fn account() -> AccountOutput {
        AccountOutput {
            balance: 10_000.0,
            equity: 9_500.0,
            margin_used: 1_000.0,
            margin_available: 8_500.0,
            currency: "USD".into(),
            leverage: 100,
        }
    }

    fn now() -> DateTime<Utc> {
        // A Wednesday.
        Utc.with_ymd_and_hms(2026, 11, 25, 7, 30, 0).unwrap()
    }

    #[test]
    fn spread_in_points_or_pips() {
        let mut f = TradeFilters {
            max_spread: Some(PriceDistance {
                value: 20.0,
                unit: PriceUnit::Points,
            }),
            ..Default::default()
        };
        let e = check(&f, &eurusd(), None, now()).unwrap_err();
        assert!(e.starts_with("filter_spread:"), "{e}");
        assert!(
            e.contains("25.0 points") && e.contains("limit 20 points"),
            "{e}"
        );
        f.max_spread = Some(PriceDistance {
            value: 25.0,
            unit: PriceUnit::Points,
        });
        assert!(check(&f, &eurusd(), None, now()).is_ok());
        f.max_spread = Some(PriceDistance {
            value: 2.0,
            unit: PriceUnit::Pips,
        });
        let e = check(&f, &eurusd(), None, now()).unwrap_err();
        assert!(e.contains("2.5 pips"), "{e}");
    }

    #[test]
    fn sessions_in_local_time_and_days() {
        let mut s = SessionFilter {
            windows: vec!["08:00-17:00".into()],
            days: vec![],
            utc_offset_minutes: 0,
            tz: "UTC".into(),
        };
        let e = check_session(&s, now()).unwrap_err();
        assert!(e.starts_with("filter_session: 07:30 (UTC)"), "{e}");
        // UTC+1: 08:30 local.
        s.utc_offset_minutes = 60;
        s.tz = "Europe/Berlin".into();
        assert!(check_session(&s, now()).is_ok());
        s.days = vec![1, 2];
        let e = check_session(&s, now()).unwrap_err();
        assert!(
            e.contains("Wednesday") && e.contains("not a trading day"),
            "{e}"
        );
        s.days = vec![3];
        assert!(check_session(&s, now()).is_ok());
        // Overnight window.
        s.windows = vec!["22:00-09:00".into()];
        assert!(check_session(&s, now()).is_ok());
    }

    #[test]
    fn account_minimums() {
        let f = TradeFilters {
            min_equity: Some(9_600.0),
            ..Default::default()
        };
        let e = check(&f, &eurusd(), Some(&account()), now()).unwrap_err();
        assert_eq!(
            e,
            "filter_equity: the account's equity is 9500.00 USD, below the minimum 9600.00"
        );
        let f = TradeFilters {
            min_free_margin: Some(9_000.0),
            ..Default::default()
        };
        let e = check(&f, &eurusd(), Some(&account()), now()).unwrap_err();
        assert!(e.starts_with("filter_free_margin:") && e.contains("8500.00"));
        let f = TradeFilters {
            min_balance: Some(10_000.0),
            min_equity: Some(1.0),
            ..Default::default()
        };
        assert!(check(&f, &eurusd(), Some(&account()), now()).is_ok());
        assert!(check(&f, &eurusd(), None, now()).is_err());
    }

    #[test]
    fn max_positions_counts_the_strategy_symbol_and_side() {
        let pos = |magic, symbol: &str, side| Position {
            id: "1".into(),
            ticket: 1,
            symbol: symbol.into(),
            side,
            volume: 0.1,
            open_price: 1.0,
            current_price: 1.0,
            sl: None,
            tp: None,
            pnl: 0.0,
            comment: String::new(),
            magic,
            identifier: None,
            stop_rule: None,
        };
        let ps = vec![
            pos(7, "EURUSD", Side::Buy),
            pos(8, "EURUSD", Side::Buy),
            pos(7, "GBPUSD", Side::Buy),
            pos(7, "EURUSD", Side::Sell),
        ];
        let e = check_max_positions(&ps, "EURUSD", Side::Buy, 7, 1).unwrap_err();
        assert!(
            e.starts_with("max_positions: the strategy already has 1 buy"),
            "{e}"
        );
        assert!(check_max_positions(&ps, "EURUSD", Side::Buy, 7, 2).is_ok());
        assert!(check_max_positions(&ps, "USDJPY", Side::Buy, 7, 1).is_ok());
    }
}
