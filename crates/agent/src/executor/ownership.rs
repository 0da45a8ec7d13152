//! Which positions a signal may touch, and what an entry does to the strategy's
//! opposite positions. Pure rules over a snapshot of the terminal's positions:
//!
//! - a signal close (`close_position` with `magics`) selects only positions carrying
//!   one of the magics, on its symbol (or every symbol with `all_symbols`) and side;
//!   manual positions (magic 0) and other EAs' are never selected. A ticket close
//!   (the app's "close this position") selects that ticket whoever owns it;
//! - an entry with a magic applies the strategy's `opposite_entry`: `reverse` closes
//!   the strategy's opposite positions on the symbol first (then opens: on a netting
//!   account a sell of 0.1 after a buy of 0.1 ends as one short of 0.1), `reject`
//!   refuses (`opposite_position`), `hedge` opens alongside and is refused on netting
//!   accounts (`hedge_on_netting`);
//! - the order's [`PositionEffect`] follows from the symbol's position before it.

use companion_protocol::{ClosePositionInput, OppositeEntry, Position, PositionEffect, Side};

/// True when `p` is on `symbol` (broker names compare case-insensitively).
fn on_symbol(p: &Position, symbol: &str) -> bool {
    p.symbol.eq_ignore_ascii_case(symbol)
}

/// The positions a symbol-wide or `all_symbols` close selects (not for ticket closes).
/// `broker_names`: the broker's names for the job's (canonical) symbol, as the symbol
/// resolver found them; `None` compares with the job's symbol itself.
pub(super) fn close_selection(
    positions: &[Position],
    input: &ClosePositionInput,
    broker_names: Option<&[String]>,
) -> Vec<Position> {
    let on_job_symbol = |p: &Position| match broker_names {
        Some(names) => names.iter().any(|n| on_symbol(p, n)),
        None => input.symbol.as_deref().is_some_and(|s| on_symbol(p, s)),
    };
    positions
        .iter()
        .filter(|p| input.magics.is_empty() || input.magics.contains(&p.magic))
        .filter(|p| input.all_symbols || on_job_symbol(p))
        .filter(|p| input.side.is_none_or(|s| s == p.side))
        .cloned()
        .collect()
}

/// What to do before an entry.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct EntryPlan {
    /// The strategy's opposite positions to close first (`reverse`).
    pub close_first: Vec<Position>,
    /// Netting: the symbol's position (side, volume) the order will meet once
    /// `close_first` is closed; `None` when there is none (or on hedging accounts).
    pub net_before: Option<(Side, f64)>,
}

/// Why an entry must not be sent; the text starts with its stable code.
pub(super) fn entry_plan(
    positions: &[Position],
    symbol: &str,
    side: Side,
    magic: i64,
    mode: OppositeEntry,
    netting: bool,
) -> Result<EntryPlan, String> {
    if netting && mode == OppositeEntry::Hedge {
        return Err("hedge_on_netting: the strategy's opposite_entry is hedge, but this account is netting (one position per symbol: an opposite order would reduce or reverse it); set opposite_entry to reverse or reject".into());
    }
    let opposite: Vec<Position> = positions
        .iter()
        .filter(|p| on_symbol(p, symbol) && p.magic == magic && p.side != side)
        .cloned()
        .collect();
    let close_first = match mode {
        OppositeEntry::Reject if !opposite.is_empty() => {
            let v: f64 = opposite.iter().map(|p| p.volume).sum();
            return Err(format!(
                "opposite_position: the strategy holds {} {} lots on {symbol} (opposite_entry reject); close it first",
                side_word(opposite[0].side),
                round_lots(v)
            ));
        }
        OppositeEntry::Reverse => opposite,
        _ => Vec::new(),
    };
    let net_before = if netting {
        positions
            .iter()
            .find(|p| on_symbol(p, symbol) && !close_first.iter().any(|c| c.ticket == p.ticket))
            .map(|p| (p.side, p.volume))
    } else {
        None
    };
    Ok(EntryPlan {
        close_first,
        net_before,
    })
}

/// What an order of `side`/`volume` did, given the plan it followed.
pub(super) fn position_effect(plan: &EntryPlan, side: Side, volume: f64) -> PositionEffect {
    let reversed_first = !plan.close_first.is_empty();
    match plan.net_before {
        None if reversed_first => PositionEffect::Reversed,
        None => PositionEffect::Opened,
        Some((s, _)) if s == side => PositionEffect::Added,
        Some((_, v)) => {
            let (order, held) = (round_lots(volume), round_lots(v));
            if order < held {
                PositionEffect::Reduced
            } else if order == held {
                PositionEffect::Closed
            } else {
                PositionEffect::Reversed
            }
        }
    }
}

fn side_word(s: Side) -> &'static str {
    match s {
        Side::Buy => "long",
        Side::Sell => "short",
    }
}

/// Lots to 1/10000 (volume steps are coarser), so float sums compare exactly.
fn round_lots(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(ticket: u64, symbol: &str, side: Side, volume: f64, magic: i64) -> Position {
        Position {
            id: ticket.to_string(),
            ticket,
            symbol: symbol.into(),
            side,
            volume,
            open_price: 1.1,
            current_price: 1.1,
            sl: None,
            tp: None,
            pnl: 0.0,
            comment: String::new(),
            magic,
            identifier: Some(ticket),
            stop_rule: None,
        }
    }

    fn book() -> Vec<Position> {
        vec![
            pos(1, "EURUSD", Side::Buy, 0.1, 7),
            pos(2, "EURUSD", Side::Sell, 0.2, 7),
            pos(3, "EURUSD", Side::Buy, 0.3, 0),
            pos(4, "GBPUSD", Side::Buy, 0.1, 7),
            pos(5, "EURUSD", Side::Buy, 0.1, 99),
            pos(6, "GBPUSD", Side::Sell, 0.1, 8),
        ]
    }

    fn tickets(ps: &[Position]) -> Vec<u64> {
        ps.iter().map(|p| p.ticket).collect()
    }

    #[test]
    fn signal_closes_select_only_their_magics_symbol_and_side() {
        let mut c = ClosePositionInput {
            symbol: Some("eurusd".into()),
            side: Some(Side::Buy),
            magics: vec![7],
            ..Default::default()
        };
        assert_eq!(tickets(&close_selection(&book(), &c, None)), vec![1]);
        c.side = None;
        assert_eq!(tickets(&close_selection(&book(), &c, None)), vec![1, 2]);
        c.all_symbols = true;
        assert_eq!(tickets(&close_selection(&book(), &c, None)), vec![1, 2, 4]);
        c.magics = vec![7, 8];
        assert_eq!(
            tickets(&close_selection(&book(), &c, None)),
            vec![1, 2, 4, 6]
        );
        // No symbol and not all symbols: nothing.
        c.all_symbols = false;
        c.symbol = None;
        assert!(close_selection(&book(), &c, None).is_empty());
    }

    #[test]
    fn reverse_closes_the_strategy_opposite_only_reject_refuses_hedge_keeps() {
        let p = entry_plan(
            &book(),
            "EURUSD",
            Side::Sell,
            7,
            OppositeEntry::Reverse,
            false,
        )
        .unwrap();
        assert_eq!(tickets(&p.close_first), vec![1]);
        assert_eq!(p.net_before, None);
        assert_eq!(
            position_effect(&p, Side::Sell, 0.1),
            PositionEffect::Reversed
        );
        let e = entry_plan(
            &book(),
            "EURUSD",
            Side::Sell,
            7,
            OppositeEntry::Reject,
            false,
        )
        .unwrap_err();
        assert!(e.starts_with("opposite_position:"), "{e}");
        let p = entry_plan(
            &book(),
            "EURUSD",
            Side::Sell,
            7,
            OppositeEntry::Hedge,
            false,
        )
        .unwrap();
        assert!(p.close_first.is_empty());
        assert_eq!(position_effect(&p, Side::Sell, 0.1), PositionEffect::Opened);
        // Nothing opposite: reject lets the entry through.
        let p = entry_plan(
            &book(),
            "GBPUSD",
            Side::Buy,
            7,
            OppositeEntry::Reject,
            false,
        )
        .unwrap();
        assert!(p.close_first.is_empty());
    }

    #[test]
    fn hedge_is_refused_on_netting_accounts() {
        let e = entry_plan(&[], "EURUSD", Side::Buy, 7, OppositeEntry::Hedge, true).unwrap_err();
        assert!(e.starts_with("hedge_on_netting:"), "{e}");
    }

    #[test]
    fn netting_effects_follow_the_symbol_position() {
        let long = vec![pos(1, "EURUSD", Side::Buy, 0.2, 7)];
        let plan =
            |ps: &[Position], side, mode| entry_plan(ps, "EURUSD", side, 7, mode, true).unwrap();
        let p = plan(&[], Side::Buy, OppositeEntry::Reverse);
        assert_eq!(position_effect(&p, Side::Buy, 0.1), PositionEffect::Opened);
        let p = plan(&long, Side::Buy, OppositeEntry::Reverse);
        assert_eq!(position_effect(&p, Side::Buy, 0.1), PositionEffect::Added);
        // Reverse closes the strategy's long first: one short of the order's size.
        let p = plan(&long, Side::Sell, OppositeEntry::Reverse);
        assert_eq!(tickets(&p.close_first), vec![1]);
        assert_eq!(
            position_effect(&p, Side::Sell, 0.1),
            PositionEffect::Reversed
        );
        // A manual long is not the strategy's: the sell nets against it.
        let manual = vec![pos(1, "EURUSD", Side::Buy, 0.2, 0)];
        let p = plan(&manual, Side::Sell, OppositeEntry::Reverse);
        assert!(p.close_first.is_empty());
        assert_eq!(
            position_effect(&p, Side::Sell, 0.1),
            PositionEffect::Reduced
        );
        assert_eq!(position_effect(&p, Side::Sell, 0.2), PositionEffect::Closed);
        assert_eq!(
            position_effect(&p, Side::Sell, 0.3),
            PositionEffect::Reversed
        );
    }
}
