//! The command as the webhook understood it, in one short sentence for the signal
//! detail (`tv_signals.understood`): "sell limit 1 lot GBPUSD 15 pips above the
//! bid, SL 30 pips, TP 60 pips, good till cancelled". Written from the job input
//! the signal became, so it says what will be sent, not what the message looked
//! like. Pure.

use companion_protocol::{
    CancelOrdersInput, ClosePositionInput, JobInput, ModifyPositionInput, OrderType, PriceDistance,
    PriceUnit, Side, StopLevel, TradeInput,
};

/// The sentence for a queued job; `then_pause` adds PineConnector `closealleaoff`'s
/// pause.
pub fn describe(input: &JobInput, then_pause: bool) -> String {
    let mut s = match input {
        JobInput::Trade(t) => trade(t),
        JobInput::ClosePosition(c) => close(c),
        JobInput::ModifyPosition(m) => modify(m),
        JobInput::CancelOrders(c) => cancel(c),
        other => other.job_type().to_string(),
    };
    if then_pause {
        s.push_str(", then pause the strategy");
    }
    s
}

/// `eaon` / `eaoff`.
pub fn describe_enable(on: bool) -> String {
    if on {
        "resume the strategy (eaon)".into()
    } else {
        "pause the strategy (eaoff)".into()
    }
}

fn side_word(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn num(x: f64) -> String {
    let t = format!("{x:.5}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    t.to_string()
}

fn lots(v: f64) -> String {
    let n = num(v);
    if n == "1" {
        "1 lot".into()
    } else {
        format!("{n} lots")
    }
}

fn unit_word(u: PriceUnit) -> &'static str {
    match u {
        PriceUnit::Price => "",
        PriceUnit::Pips => " pips",
        PriceUnit::Points => " points",
        PriceUnit::Percent => " %",
    }
}

fn distance(d: &PriceDistance) -> String {
    format!("{}{}", num(d.value), unit_word(d.unit))
}

fn trade(t: &TradeInput) -> String {
    let kind = match t.order_type {
        Some(OrderType::Limit) => format!("{} limit", side_word(t.side)),
        Some(OrderType::Stop) => format!("{} stop", side_word(t.side)),
        _ => side_word(t.side).to_string(),
    };
    let size = match (t.volume, t.risk_pct) {
        (Some(v), _) => lots(v),
        (None, Some(r)) => format!("{}% risk", num(r)),
        (None, None) => "minimum volume".into(),
    };
    let mut out = String::new();
    if t.close_same_side {
        out.push_str(&format!(
            "close the strategy's {} positions on {}, then ",
            side_word(t.side),
            t.symbol
        ));
    }
    out.push_str(&format!("{kind} {size} {}", t.symbol));
    if t.is_pending() {
        match (t.entry_price, &t.entry_offset) {
            (Some(p), _) => out.push_str(&format!(" at {}", num(p))),
            (None, Some(d)) => {
                // Buy limit / sell stop below the price, buy stop / sell limit above.
                let below = matches!(
                    (t.side, t.order_type),
                    (Side::Buy, Some(OrderType::Limit)) | (Side::Sell, Some(OrderType::Stop))
                );
                let reference = if t.side == Side::Buy { "ask" } else { "bid" };
                out.push_str(&format!(
                    " {} {} the {reference}",
                    distance(d),
                    if below { "below" } else { "above" }
                ));
            }
            (None, None) => {}
        }
    } else {
        out.push_str(" at market");
    }
    for (name, pips, price) in [("SL", t.sl_pips, t.sl), ("TP", t.tp_pips, t.tp)] {
        match (pips, price) {
            (Some(p), _) => out.push_str(&format!(", {name} {} pips", num(p))),
            (None, Some(p)) => out.push_str(&format!(", {name} {}", num(p))),
            _ => {}
        }
    }
    if t.is_pending() {
        match t.expiry {
            Some(e) => out.push_str(&format!(", expires {}", e.format("%Y-%m-%d %H:%M:%S UTC"))),
            None => out.push_str(", good till cancelled"),
        }
    }
    if let Some(c) = &t.comment {
        out.push_str(&format!(", comment \"{c}\""));
    }
    out
}

fn whose(side: Option<Side>) -> String {
    match side {
        Some(s) => format!("{} positions", side_word(s)),
        None => "positions".into(),
    }
}

fn close(c: &ClosePositionInput) -> String {
    let what = match (c.percent, c.volume) {
        (Some(p), _) => format!("close {}% of each of the strategy's ", num(p)),
        (None, Some(v)) => format!("close {} of each of the strategy's ", lots(v)),
        _ => "close the strategy's ".into(),
    };
    if c.all_symbols {
        return format!("{what}positions on every symbol (and nothing else)");
    }
    format!(
        "{what}{} on {}",
        whose(c.side),
        c.symbol.as_deref().unwrap_or("?")
    )
}

fn level(l: &StopLevel) -> String {
    match l.unit {
        PriceUnit::Price => format!("to {}", num(l.value)),
        u => format!("{}{} from the open price", num(l.value), unit_word(u)),
    }
}

fn modify(m: &ModifyPositionInput) -> String {
    let mut parts = Vec::new();
    if let Some(sl) = &m.sl {
        parts.push(format!("SL {}", level(sl)));
    }
    if let Some(tp) = &m.tp {
        parts.push(format!("TP {}", level(tp)));
    }
    format!(
        "modify {} of the strategy's {} on {}",
        parts.join(" and "),
        whose(m.side),
        m.symbol.as_deref().unwrap_or("?")
    )
}

fn cancel(c: &CancelOrdersInput) -> String {
    let side = match c.side {
        Some(s) => format!("{} ", side_word(s)),
        None => String::new(),
    };
    format!(
        "cancel the strategy's pending {side}orders on {}",
        c.symbol.as_deref().unwrap_or("?")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_say_what_will_be_sent() {
        let mut t = TradeInput::new("GBPUSD", Side::Sell);
        t.volume = Some(1.0);
        t.order_type = Some(OrderType::Limit);
        t.entry_offset = Some(PriceDistance {
            value: 15.0,
            unit: PriceUnit::Pips,
        });
        t.sl_pips = Some(30.0);
        t.tp_pips = Some(60.0);
        assert_eq!(
            describe(&JobInput::Trade(t), false),
            "sell limit 1 lot GBPUSD 15 pips above the bid, SL 30 pips, TP 60 pips, good till cancelled"
        );
        let m = ModifyPositionInput {
            symbol: Some("EURUSD".into()),
            side: Some(Side::Buy),
            sl: Some(StopLevel {
                value: 1.082,
                unit: PriceUnit::Price,
            }),
            ..Default::default()
        };
        assert_eq!(
            describe(&JobInput::ModifyPosition(m), false),
            "modify SL to 1.082 of the strategy's buy positions on EURUSD"
        );
        let c = ClosePositionInput {
            all_symbols: true,
            ..Default::default()
        };
        assert_eq!(
            describe(&JobInput::ClosePosition(c), true),
            "close the strategy's positions on every symbol (and nothing else), then pause the strategy"
        );
        let mut t = TradeInput::new("EURUSD", Side::Buy);
        t.volume = Some(0.1);
        t.close_same_side = true;
        assert_eq!(
            describe(&JobInput::Trade(t), false),
            "close the strategy's buy positions on EURUSD, then buy 0.1 lots EURUSD at market"
        );
    }
}
