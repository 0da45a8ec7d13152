//! Unit and property tests of the PineConnector dialect (`pineconnector.rs`).

use super::*;
use proptest::prelude::*;

const LIC: &str = "60123456789";

fn settings(volume_type: PcVolumeType, target_type: PcTargetType) -> PineSettings {
    PineSettings {
        dialect: AlertDialect::Auto,
        license_id: None,
        volume_type,
        target_type,
        pending_entry: PcPendingEntry::Pips,
        account_filter: PcAccountFilter::Equity,
    }
}

fn outcome(body: &str, st: &PineSettings) -> Result<PineOutcome, PineRejected> {
    read(body.as_bytes(), st).unwrap_or_else(|| panic!("{body:?} not read as PineConnector"))
}

fn signal(body: &str, st: &PineSettings) -> (ParsedSignal, CloseTarget) {
    match outcome(body, st) {
        Ok(PineOutcome::Signal(signal)) => {
            let close = signal.close;
            (*signal, close)
        }
        other => panic!("{body:?}: {other:?}"),
    }
}

fn refused(body: &str, st: &PineSettings) -> PineRejected {
    match outcome(body, st) {
        Err(r) => r,
        Ok(o) => panic!("{body:?} accepted: {o:?}"),
    }
}

fn defaults() -> PineSettings {
    PineSettings::default()
}

#[test]
fn defaults_are_pineconnectors_lots_and_pips() {
    let d = defaults();
    assert_eq!(d.volume_type, PcVolumeType::Lots);
    assert_eq!(d.target_type, PcTargetType::Pips);
    assert_eq!(d.dialect, AlertDialect::Auto);
}

#[test]
fn documented_samples_for_each_volume_and_target_type() {
    // 60123456789,buy,AUDUSD,risk=0.1
    let (s, side) = signal("60123456789,buy,AUDUSD,risk=0.1", &defaults());
    assert_eq!(
        (s.action, s.symbol.as_str(), side),
        (SignalAction::Buy, "AUDUSD", CloseTarget::Both)
    );
    assert_eq!((s.volume, s.risk_pct), (Some(0.1), None));
    assert_eq!(s.signal_key, None, "the licence is never the signal id");
    let pct = settings(PcVolumeType::PercentBalanceRisk, PcTargetType::Pips);
    // % of balance lost at the stop needs the stop (PineConnector: "sl= is required").
    let r = refused("60123456789,buy,AUDUSD,risk=0.1", &pct);
    assert_eq!(r.error.code(), "missing_stop");
    assert!(r.to_string().contains("add sl="), "{r}");
    let (s, _) = signal("60123456789,buy,AUDUSD,risk=0.1,sl=20", &pct);
    assert_eq!((s.volume, s.risk_pct), (None, Some(0.1)));

    // 60123456789,sell,GBPJPY,sl=50,risk=1
    let (s, _) = signal("60123456789,sell,GBPJPY,sl=50,risk=1", &defaults());
    assert_eq!(
        (s.action, s.symbol.as_str()),
        (SignalAction::Sell, "GBPJPY")
    );
    assert_eq!((s.volume, s.risk_pct), (Some(1.0), None));
    assert_eq!((s.sl_pips, s.sl), (Some(50.0), None));
    let (s, _) = signal("60123456789,sell,GBPJPY,sl=50,risk=1", &pct);
    assert_eq!(
        (s.volume, s.risk_pct, s.sl_pips),
        (None, Some(1.0), Some(50.0))
    );
    let price = settings(PcVolumeType::Lots, PcTargetType::Price);
    let (s, _) = signal("60123456789,sell,GBPJPY,sl=50,risk=1", &price);
    assert_eq!((s.sl_pips, s.sl), (None, Some(50.0)));
    // Points and percent: typed distances the agent converts at the terminal.
    for (t, unit) in [
        (PcTargetType::Points, PriceUnit::Points),
        (PcTargetType::Percentage, PriceUnit::Percent),
    ] {
        let (s, _) = signal(
            "60123456789,sell,GBPJPY,sl=50,tp=2,risk=1",
            &settings(PcVolumeType::Lots, t),
        );
        assert_eq!((s.sl_pips, s.sl, s.tp_pips, s.tp), (None, None, None, None));
        assert_eq!(s.sl_distance, Some(PriceDistance { value: 50.0, unit }));
        assert_eq!(s.tp_distance, Some(PriceDistance { value: 2.0, unit }));
        assert_eq!(s.volume, Some(1.0));
    }
    // Every volume type: what risk=1 becomes.
    for (v, want) in [
        (
            PcVolumeType::DollarRisk,
            VolumeSpec::RiskMoney { amount: 1.0 },
        ),
        (
            PcVolumeType::PercentBalanceLots,
            VolumeSpec::BalanceLots { percent: 1.0 },
        ),
        (
            PcVolumeType::PercentBalanceMargin,
            VolumeSpec::BalanceMargin { percent: 1.0 },
        ),
        (
            PcVolumeType::PercentEquityRisk,
            VolumeSpec::EquityRisk { percent: 1.0 },
        ),
    ] {
        let (s, _) = signal(
            "60123456789,sell,GBPJPY,sl=50,risk=1",
            &settings(v, PcTargetType::Pips),
        );
        assert_eq!(s.volume_spec, Some(want), "{v:?}");
        assert_eq!((s.volume, s.risk_pct, s.sl_pips), (None, None, Some(50.0)));
    }

    // 60123456789,closelong,GBPUSD: close the buys, whatever the unit settings.
    for st in [defaults(), pct.clone(), price.clone()] {
        let (s, side) = signal("60123456789,closelong,GBPUSD", &st);
        assert_eq!(
            (s.action, s.symbol.as_str(), side),
            (SignalAction::Close, "GBPUSD", CloseTarget::Long)
        );
    }
}

#[test]
fn documented_pending_cancel_and_modify_samples() {
    // Defaults: Volume Type lots, Target Type pips, Pending Order Entry pips.
    let (s, _) = signal(
        "60123456789,selllimit,GBPUSD,risk=1,sl=30,tp=60,price=15",
        &defaults(),
    );
    assert_eq!(
        (s.action, s.order_type, s.symbol.as_str()),
        (SignalAction::Sell, Some(OrderType::Limit), "GBPUSD")
    );
    assert_eq!(s.volume, Some(1.0));
    assert_eq!((s.sl_pips, s.tp_pips), (Some(30.0), Some(60.0)));
    assert_eq!(
        s.entry_offset,
        Some(PriceDistance {
            value: 15.0,
            unit: PriceUnit::Pips
        })
    );
    assert_eq!((s.entry_price, s.expiry), (None, None));
    assert_eq!(s.dedup_action(), "sell_limit");
    let (s, close) = signal("60123456789,cancelshort,GBPUSD", &defaults());
    assert_eq!(
        (s.action, close, s.symbol.as_str()),
        (SignalAction::Cancel, CloseTarget::Short, "GBPUSD")
    );
    let (s, close) = signal("60123456789,newsltpshort,GBPUSD,sl=40", &defaults());
    assert_eq!(
        (s.action, close),
        (SignalAction::Modify, CloseTarget::Short)
    );
    assert_eq!(
        (s.new_sl, s.new_tp),
        (
            Some(StopLevel {
                value: 40.0,
                unit: PriceUnit::Pips
            }),
            None
        )
    );
}

#[test]
fn pending_entry_setting_decides_what_price_means() {
    let body = "60123456789,buylimit,EURUSD,risk=0.1,price=1.0850,sl=20";
    let mut st = defaults();
    st.pending_entry = PcPendingEntry::Price;
    let (s, _) = signal(body, &st);
    assert_eq!((s.entry_price, s.entry_offset), (Some(1.085), None));
    assert_eq!(s.order_type, Some(OrderType::Limit));
    st.pending_entry = PcPendingEntry::Percentage;
    let (s, _) = signal("60123456789,buystop,EURUSD,risk=0.1,price=0.5", &st);
    assert_eq!(
        (s.order_type, s.entry_offset),
        (
            Some(OrderType::Stop),
            Some(PriceDistance {
                value: 0.5,
                unit: PriceUnit::Percent
            })
        )
    );
    let r = refused("60123456789,buystop,EURUSD,risk=0.1,price=150", &st);
    assert_eq!(r.error.code(), "invalid_number");
    // price= is required on pending orders and refused on market orders.
    let r = refused("60123456789,sellstop,EURUSD,risk=0.1", &defaults());
    assert_eq!(r.error.code(), "missing_param");
    assert_eq!(r.action, Some(SignalAction::Sell));
    let r = refused("60123456789,sell,EURUSD,risk=0.1,price=10", &defaults());
    assert_eq!(r.error.code(), "unsupported_param");
}

#[test]
fn newsltp_uses_the_target_type_and_refuses_other_params() {
    let st = settings(PcVolumeType::Lots, PcTargetType::Price);
    let (s, close) = signal("60123456789,newsltplong,EURUSD,sl=1.08,tp=1.1", &st);
    assert_eq!(close, CloseTarget::Long);
    assert_eq!(
        (
            s.new_sl.map(|l| (l.value, l.unit)),
            s.new_tp.map(|l| (l.value, l.unit))
        ),
        (
            Some((1.08, PriceUnit::Price)),
            Some((1.1, PriceUnit::Price))
        )
    );
    for (t, unit) in [
        (PcTargetType::Points, PriceUnit::Points),
        (PcTargetType::Percentage, PriceUnit::Percent),
    ] {
        let (s, _) = signal(
            "60123456789,newsltpshort,EURUSD,tp=50",
            &settings(PcVolumeType::Lots, t),
        );
        assert_eq!(s.new_tp.map(|l| l.unit), Some(unit));
    }
    let (s, _) = signal("60123456789,newsltpshort,EURUSD,sl_pips=25", &st);
    assert_eq!(s.new_sl.map(|l| l.unit), Some(PriceUnit::Pips));
    let r = refused("60123456789,newsltplong,EURUSD", &st);
    assert_eq!(r.error.code(), "missing_param");
    assert_eq!(r.action, Some(SignalAction::Modify));
    let r = refused("60123456789,newsltplong,EURUSD,sl=1.08,sl_pips=20", &st);
    assert_eq!(r.error.code(), "conflicting_params");
    let r = refused("60123456789,newsltplong,EURUSD,sl=1.08,risk=1", &st);
    assert_eq!(r.error.code(), "unsupported_param");
    let r = refused("60123456789,cancellong,EURUSD,price=10", &st);
    assert_eq!(r.error.code(), "unsupported_param");
}

#[test]
fn close_and_reenter_and_closealleaoff() {
    let (s, _) = signal(
        "60123456789,closelongbuy,EURUSD,risk=0.2,sl=20",
        &defaults(),
    );
    assert_eq!(
        (s.action, s.close_same_side, s.volume, s.sl_pips),
        (SignalAction::Buy, true, Some(0.2), Some(20.0))
    );
    assert_eq!(s.order_type, None);
    let (s, _) = signal("60123456789,closeshortsell,EURUSD", &defaults());
    assert_eq!((s.action, s.close_same_side), (SignalAction::Sell, true));
    let (s, close) = signal("60123456789,closealleaoff", &defaults());
    assert_eq!(
        (s.action, close, s.then_pause, s.symbol.as_str()),
        (SignalAction::Close, CloseTarget::All, true, ALL_SYMBOLS)
    );
    let r = refused("60123456789,closealleaoff,EURUSD,risk=1", &defaults());
    assert_eq!(r.error.code(), "unsupported_param");
}

#[test]
fn every_command_word_has_a_meaning() {
    let st = defaults();
    for cmd in PineCommand::ALL {
        assert_eq!(PineCommand::from_word(cmd.as_str()), Some(cmd));
        assert_eq!(
            PineCommand::from_word(&cmd.as_str().to_uppercase()),
            Some(cmd)
        );
        let body = format!("{LIC},{},EURUSD", cmd.as_str());
        let got = outcome(&body, &st);
        match cmd {
            PineCommand::Buy | PineCommand::Sell => {
                let (s, side) = signal(&body, &st);
                assert_eq!(side, CloseTarget::Both);
                let want = if cmd == PineCommand::Buy {
                    SignalAction::Buy
                } else {
                    SignalAction::Sell
                };
                assert_eq!(s.action, want);
            }
            PineCommand::CloseLong
            | PineCommand::CloseShort
            | PineCommand::CloseLongShort
            | PineCommand::CloseAll => {
                let (s, side) = signal(&body, &st);
                assert_eq!(s.action, SignalAction::Close);
                let want = match cmd {
                    PineCommand::CloseLong => CloseTarget::Long,
                    PineCommand::CloseShort => CloseTarget::Short,
                    PineCommand::CloseAll => CloseTarget::All,
                    _ => CloseTarget::Both,
                };
                assert_eq!(s.symbol, "EURUSD");
                assert_eq!(side, want, "{cmd:?}");
            }
            PineCommand::EaOn => assert_eq!(got, Ok(PineOutcome::SetEnabled(true))),
            PineCommand::EaOff => assert_eq!(got, Ok(PineOutcome::SetEnabled(false))),
            PineCommand::CloseAllEaOff => {
                let (s, side) = signal(&body, &st);
                assert_eq!(
                    (s.action, side, s.then_pause),
                    (SignalAction::Close, CloseTarget::All, true)
                );
            }
            PineCommand::CloseLongBuy | PineCommand::CloseShortSell => {
                let (s, _) = signal(&body, &st);
                assert!(s.close_same_side);
                assert_eq!(
                    s.action == SignalAction::Buy,
                    cmd == PineCommand::CloseLongBuy
                );
            }
            PineCommand::CancelLong | PineCommand::CancelShort => {
                let (s, side) = signal(&body, &st);
                assert_eq!(s.action, SignalAction::Cancel);
                assert_eq!(side == CloseTarget::Long, cmd == PineCommand::CancelLong);
            }
            // Without their required parameter: refused with its name.
            PineCommand::NewSlTpLong
            | PineCommand::NewSlTpShort
            | PineCommand::BuyLimit
            | PineCommand::BuyStop
            | PineCommand::SellLimit
            | PineCommand::SellStop => {
                let r = got.expect_err("refused");
                assert_eq!(r.error.code(), "missing_param", "{cmd:?}");
                let with = if matches!(cmd, PineCommand::NewSlTpLong | PineCommand::NewSlTpShort) {
                    format!("{body},sl=20")
                } else {
                    format!("{body},price=10")
                };
                assert!(outcome(&with, &st).is_ok(), "{with}");
            }
        }
    }
    for (w, c) in [
        ("long", PineCommand::Buy),
        ("bull", PineCommand::Buy),
        ("Bullish", PineCommand::Buy),
        ("short", PineCommand::Sell),
        ("bear", PineCommand::Sell),
        ("BEARISH", PineCommand::Sell),
    ] {
        let m = parse_message(&format!("{LIC},{w},EURUSD")).unwrap();
        assert_eq!(m.command, c);
        assert_eq!(m.command_word, w);
    }
    // Commands on every symbol: the symbol may be left out.
    assert_eq!(
        outcome(&format!("{LIC},eaoff"), &st),
        Ok(PineOutcome::SetEnabled(false))
    );
    assert_eq!(
        outcome(&format!("{LIC},eaon,eaon"), &st),
        Ok(PineOutcome::SetEnabled(true))
    );
    // closeall without a symbol: every position of the strategy, on every symbol.
    let (s, close) = signal(&format!("{LIC},closeall"), &st);
    assert_eq!(
        (s.action, close, s.symbol.as_str()),
        (SignalAction::Close, CloseTarget::All, ALL_SYMBOLS)
    );
    let r = refused(&format!("{LIC},buy"), &st);
    assert_eq!(r.error, PineError::MissingSymbol);
    let r = refused(&format!("{LIC},buy,risk=1"), &st);
    assert_eq!(r.error, PineError::MissingSymbol);
}

#[test]
fn every_parameter_is_read_with_its_unit() {
    let m = parse_message(
        "60123456789, buy , OANDA:EURUSD , risk=0.5, sl=20, tp=40, price=1.1, comment=\"London open\", spread=2, accfilter=500, \
         betrigger=10, beoffset=0, trailtrig=15, traildist=10, trailstep=5, atrtimeframe=60, atrtrigger=1, atrperiod=14, \
         atrmultiplier=1.5, atrshift=0, secret=HappyTrader501, vol_dollar=50, sl_pct=1, tp_pct=2",
    )
    .unwrap();
    assert_eq!(m.license_id, LIC);
    assert_eq!(m.symbol.as_deref(), Some("EURUSD"));
    let p = &m.params;
    assert_eq!(
        (p.risk, p.sl, p.tp, p.price),
        (Some(0.5), Some(20.0), Some(40.0), Some(1.1))
    );
    assert_eq!(p.comment.as_deref(), Some("London open"));
    assert_eq!((p.spread, p.accfilter), (Some(2.0), Some(500.0)));
    assert_eq!(
        (p.be_trigger_pips, p.be_offset_pips),
        (Some(10.0), Some(0.0))
    );
    assert_eq!(
        (
            p.trail_trigger_pips,
            p.trail_distance_pips,
            p.trail_step_pips
        ),
        (Some(15.0), Some(10.0), Some(5.0))
    );
    assert_eq!(p.atr_timeframe.as_deref(), Some("60"));
    assert_eq!(
        (p.atr_trigger, p.atr_period, p.atr_multiplier, p.atr_shift),
        (Some(1.0), Some(14.0), Some(1.5), Some(0.0))
    );
    assert_eq!(p.secret.as_deref(), Some("HappyTrader501"));
    assert_eq!(
        (p.vol_dollar, p.sl_pct, p.tp_pct),
        (Some(50.0), Some(1.0), Some(2.0))
    );
    assert_eq!(p.present.len(), 21);
    let m = parse_message(
        "60123456789,buy,EURUSD,vol_lots=0.2,sl_pips=15,tp_price=1.2,sl_price=1.0,tp_pips=30",
    )
    .unwrap();
    let p = &m.params;
    assert_eq!(
        (p.vol_lots, p.sl_pips, p.tp_price, p.sl_price, p.tp_pips),
        (Some(0.2), Some(15.0), Some(1.2), Some(1.0), Some(30.0))
    );
    assert_eq!(PineParam::ALL.len(), 26);
    for param in PineParam::ALL {
        assert_eq!(PineParam::from_name(param.as_str()), Some(param));
        assert_eq!(
            PineParam::from_name(&param.as_str().to_uppercase()),
            Some(param)
        );
    }
}

#[test]
fn parameters_companion_does_not_execute_are_refused_by_name() {
    let st = defaults();
    for (param, mentions) in [
        ("price=1.1", "pending"),
        ("atrtrigger=1", "atrtrigger="),
        ("secret=abc", "secret="),
    ] {
        let r = refused(&format!("{LIC},buy,EURUSD,risk=0.1,{param}"), &st);
        assert_eq!(r.error.code(), "unsupported_param", "{param}");
        assert!(r.to_string().contains(mentions), "{param}: {r}");
        assert_eq!(r.action, Some(SignalAction::Buy));
    }
    // Volume or stops on a close: a close closes whole positions.
    let r = refused(&format!("{LIC},closelong,EURUSD,risk=0.5"), &st);
    assert_eq!(r.error.code(), "unsupported_param");
    let (s, _) = signal(&format!("{LIC},closeshort,EURUSD,comment=done"), &st);
    assert_eq!(s.comment.as_deref(), Some("done"));
    let r = refused(&format!("{LIC},eaoff,EURUSD,risk=1"), &st);
    assert_eq!(r.error.code(), "unsupported_param");
}

#[test]
fn explicit_units_and_per_alert_filters() {
    let st = defaults();
    let (s, _) = signal(
        &format!("{LIC},buy,EURUSD,vol_dollar=50,sl_pct=1,tp_pct=2.5,spread=1.5,accfilter=500"),
        &st,
    );
    assert_eq!(s.volume_spec, Some(VolumeSpec::RiskMoney { amount: 50.0 }));
    assert_eq!(
        (s.sl_distance, s.tp_distance),
        (
            Some(PriceDistance {
                value: 1.0,
                unit: PriceUnit::Percent
            }),
            Some(PriceDistance {
                value: 2.5,
                unit: PriceUnit::Percent
            })
        )
    );
    assert_eq!(
        s.max_spread,
        Some(PriceDistance {
            value: 1.5,
            unit: PriceUnit::Pips
        })
    );
    assert_eq!(s.account_min, Some(500.0));
    for body in [
        format!("{LIC},buy,EURUSD,risk=1,vol_dollar=50"),
        format!("{LIC},buy,EURUSD,vol_lots=1,vol_dollar=50"),
        format!("{LIC},buy,EURUSD,sl=10,sl_pct=1"),
    ] {
        assert_eq!(
            refused(&body, &st).error.code(),
            "conflicting_params",
            "{body}"
        );
    }
    // Out-of-range values per unit.
    let eq = settings(PcVolumeType::PercentEquityRisk, PcTargetType::Percentage);
    for body in [
        format!("{LIC},buy,EURUSD,risk=11"),
        format!("{LIC},buy,EURUSD,risk=1,sl=1001"),
        format!("{LIC},buy,EURUSD,risk=11,sl=1"),
    ] {
        assert_eq!(refused(&body, &eq).error.code(), "invalid_number", "{body}");
    }
    let pts = settings(PcVolumeType::PercentBalanceLots, PcTargetType::Points);
    assert_eq!(
        refused(&format!("{LIC},buy,EURUSD,risk=101"), &pts)
            .error
            .code(),
        "invalid_number"
    );
}

#[test]
fn breakeven_and_trailing_parameters_become_rules() {
    use companion_protocol::{PriceUnit, Timeframe};
    let st = defaults();
    let (s, _) = signal(
        &format!("{LIC},buy,EURUSD,risk=0.1,sl=30,betrigger=15,beoffset=2,trailtrig=20,traildist=10,trailstep=5"),
        &st,
    );
    let be = s.breakeven.unwrap();
    assert_eq!((be.trigger.value, be.offset.value), (15.0, 2.0));
    assert_eq!(be.trigger.unit, PriceUnit::Pips);
    let tr = s.trailing.unwrap();
    assert_eq!(tr.activation.map(|a| a.value), Some(20.0));
    assert_eq!(tr.distance.map(|d| d.value), Some(10.0));
    assert_eq!(tr.step.value, 5.0);
    assert!(tr.atr.is_none());
    // beoffset= alone: 0 offset is the open price.
    let (s, _) = signal(&format!("{LIC},sell,EURUSD,risk=0.1,betrigger=10"), &st);
    assert_eq!(s.breakeven.map(|b| b.offset.value), Some(0.0));
    assert!(s.trailing.is_none());
    // ATR trailing: timeframe in minutes, period, multiplier, shift.
    let (s, _) = signal(
        &format!(
            "{LIC},buy,EURUSD,risk=0.1,atrtimeframe=60,atrperiod=14,atrmultiplier=1.5,atrshift=0"
        ),
        &st,
    );
    let atr = s.trailing.unwrap().atr.unwrap();
    assert_eq!(
        (atr.timeframe, atr.period, atr.multiplier, atr.shift),
        (Timeframe::H1, 14, 1.5, 0)
    );
    // What cannot be honoured is refused with the reason.
    for (body, code) in [
        ("beoffset=2", "conflicting_params"),
        ("betrigger=5,beoffset=5", "conflicting_params"),
        ("trailstep=5", "conflicting_params"),
        ("atrperiod=14", "conflicting_params"),
        (
            "traildist=10,atrtimeframe=60,atrperiod=14,atrmultiplier=2",
            "conflicting_params",
        ),
        (
            "atrtimeframe=7,atrperiod=14,atrmultiplier=2",
            "invalid_number",
        ),
        ("atrtrigger=1", "unsupported_param"),
    ] {
        let r = refused(&format!("{LIC},buy,EURUSD,risk=0.1,{body}"), &st);
        assert_eq!(r.error.code(), code, "{body}: {r}");
    }
    // On a close they are refused like any other parameter.
    let r = refused(&format!("{LIC},closelong,EURUSD,betrigger=10"), &st);
    assert_eq!(r.error.code(), "unsupported_param");
}

#[test]
fn bad_values_have_reasons() {
    let st = defaults();
    for (body, code) in [
        ("60123456789,buy,EURUSD,risk=0", "invalid_number"),
        ("60123456789,buy,EURUSD,risk=-1", "invalid_number"),
        ("60123456789,buy,EURUSD,risk=abc", "invalid_number"),
        ("60123456789,buy,EURUSD,risk=NaN", "invalid_number"),
        ("60123456789,buy,EURUSD,risk=inf", "invalid_number"),
        ("60123456789,buy,EURUSD,risk=1001", "invalid_volume"),
        ("60123456789,buy,EURUSD,vol_lots=5000", "invalid_volume"),
        ("60123456789,buy,EURUSD,sl=0", "invalid_number"),
        ("60123456789,buy,EURUSD,sl=200000", "invalid_number"),
        ("60123456789,buy,EURUSD,tp=1e300", "invalid_number"),
        ("60123456789,buy,EURUSD,foo=1", "unknown_param"),
        ("60123456789,buy,EURUSD,risk=1,risk=2", "unknown_param"),
        ("60123456789,buy,EURUSD,0.5", "unknown_param"),
        ("60123456789,buy,EUR$USD", "invalid_symbol"),
        ("60123456789,buy,{{ticker}},risk=1", "placeholder"),
        (
            "60123456789,buy,EURUSD,risk=1,vol_lots=1",
            "conflicting_params",
        ),
        (
            "60123456789,buy,EURUSD,sl=10,sl_pips=10",
            "conflicting_params",
        ),
    ] {
        let r = refused(body, &st);
        assert_eq!(r.error.code(), code, "{body}: {r}");
    }
    let pct = settings(PcVolumeType::PercentBalanceRisk, PcTargetType::Pips);
    let r = refused("60123456789,buy,EURUSD,risk=0.01", &pct);
    assert_eq!(r.error.code(), "invalid_number");
    assert!(r.to_string().contains("percent"), "{r}");
    // PineConnector's risk=0.01 is 0.01 lots in its (default) Lots mode.
    let (s, _) = signal("60123456789,buy,EURUSD,risk=0.01", &st);
    assert_eq!(s.volume, Some(0.01));
}

#[test]
fn licence_and_dialect_rules() {
    let mut st = defaults();
    st.license_id = Some(LIC.into());
    assert!(outcome("60123456789,buy,EURUSD", &st).is_ok());
    let r = refused("70000000001,buy,EURUSD", &st);
    assert_eq!(r.error.code(), "license_mismatch");
    assert!(r.to_string().contains("70000000001"), "{r}");
    // eaon / eaoff from another licence are refused too.
    assert_eq!(
        refused("70000000001,eaoff", &st).error.code(),
        "license_mismatch"
    );

    // Auto: other syntaxes are not PineConnector.
    let auto = defaults();
    for body in [
        "buy EURUSD",
        r#"{"action":"buy","symbol":"EURUSD"}"#,
        "abc,buy,EURUSD",
        "12:00,buy,EURUSD",
        "60123456789,close,EURUSD",
    ] {
        assert!(read(body.as_bytes(), &auto).is_none(), "{body}");
    }
    // PineConnector mode: they are refused.
    let mut pine = defaults();
    pine.dialect = AlertDialect::Pineconnector;
    for body in [
        "buy EURUSD",
        r#"{"action":"buy","symbol":"EURUSD"}"#,
        "abc,buy,EURUSD",
        "",
    ] {
        let r = read(body.as_bytes(), &pine)
            .expect("read")
            .expect_err("refused");
        assert_eq!(r.error.code(), "not_pineconnector", "{body}");
    }
    let r = read(b"60123456789,close,EURUSD", &pine)
        .expect("read")
        .expect_err("refused");
    assert_eq!(r.error.code(), "unknown_action");
    // Quoted messages and a BOM are tolerated.
    assert!(read("\u{feff}\"60123456789,buy,EURUSD\"".as_bytes(), &auto).is_some());
}

#[test]
fn recognition_needs_digits_then_a_command() {
    assert!(recognise("60123456789,buy,EURUSD"));
    assert!(recognise(" 60123456789 , closelong , EURUSD"));
    assert!(recognise("1,eaoff"));
    assert!(!recognise("6012345678a,buy,EURUSD"));
    assert!(!recognise("60123456789 buy EURUSD"));
    assert!(!recognise("60123456789,hold,EURUSD"));
    assert!(!recognise(&format!(
        "{},buy,EURUSD",
        "1".repeat(MAX_LICENSE_LEN + 1)
    )));
}

fn arb_command() -> impl Strategy<Value = PineCommand> {
    proptest::sample::select(PineCommand::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics(body in "\\PC{0,200}") {
        let _ = read(body.as_bytes(), &defaults());
        let mut pine = defaults();
        pine.dialect = AlertDialect::Pineconnector;
        let _ = read(body.as_bytes(), &pine);
    }

    #[test]
    fn never_panics_on_pine_shaped_text(
        lic in "[0-9]{1,14}",
        cmd in arb_command(),
        rest in r#"[a-zA-Z0-9=.,_ "-]{0,80}"#,
    ) {
        let body = format!("{lic},{},{rest}", cmd.as_str());
        let _ = read(body.as_bytes(), &defaults());
    }

    /// The licence is never the signal id, and market entries carry the values sent
    /// in the units the settings say.
    #[test]
    fn market_entries_round_trip(
        lic in "[0-9]{6,14}",
        buy in any::<bool>(),
        symbol in "[A-Z]{6}",
        risk in proptest::option::of((1u32..=100).prop_map(|v| f64::from(v) / 10.0)),
        sl in proptest::option::of((1u32..10_000).prop_map(|v| f64::from(v) / 10.0)),
        tp in proptest::option::of((1u32..10_000).prop_map(|v| f64::from(v) / 10.0)),
        lots in any::<bool>(),
        target in 0usize..4,
    ) {
        let mut body = format!("{lic},{},{symbol}", if buy { "buy" } else { "sell" });
        for (k, v) in [("risk", risk), ("sl", sl), ("tp", tp)] {
            if let Some(x) = v {
                body.push_str(&format!(",{k}={x}"));
            }
        }
        let st = settings(
            if lots { PcVolumeType::Lots } else { PcVolumeType::PercentBalanceRisk },
            [PcTargetType::Pips, PcTargetType::Price, PcTargetType::Points, PcTargetType::Percentage][target],
        );
        let pips = target == 0;
        if !lots && risk.is_some() && sl.is_none() {
            // Risk at the stop without a stop: refused, never sized to a minimum.
            prop_assert_eq!(refused(&body, &st).error.code(), "missing_stop");
            return Ok(());
        }
        let (s, side) = signal(&body, &st);
        prop_assert_eq!(side, CloseTarget::Both);
        prop_assert_eq!(s.signal_key, None);
        prop_assert_eq!(s.symbol, symbol);
        prop_assert_eq!(s.action, if buy { SignalAction::Buy } else { SignalAction::Sell });
        prop_assert_eq!(if lots { s.volume } else { s.risk_pct }, risk);
        let unit = [None, None, Some(PriceUnit::Points), Some(PriceUnit::Percent)][target];
        match unit {
            Some(unit) => {
                // Percent stops above 1000 % are refused; the generator stays below.
                prop_assert_eq!(s.sl_distance, sl.map(|value| PriceDistance { value, unit }));
                prop_assert_eq!(s.tp_distance, tp.map(|value| PriceDistance { value, unit }));
                prop_assert_eq!((s.sl_pips, s.sl), (None, None));
            }
            None => {
                prop_assert_eq!(if pips { s.sl_pips } else { s.sl }, sl);
                prop_assert_eq!(if pips { s.tp_pips } else { s.tp }, tp);
            }
        }
    }
}
