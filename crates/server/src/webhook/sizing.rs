//! Order sizing for webhook signals: explicit lots capped by `user_settings.max_lots`,
//! or risk % of balance over the stop distance with `instrument_config` pip values.
//! Pure; the rules are documented in docs/webhook.md ("Sizing").

use companion_protocol::{SizingBasis, VolumeSpec};

use super::parse::ParsedSignal;

/// Smallest order (and lot step) we send.
pub const MIN_LOT: f64 = 0.01;

/// What sizing needs to know about one symbol (from `instrument_config`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Instrument {
    /// Price change of one pip (0.0001 for EURUSD, 0.01 for USDJPY / XAUUSD).
    pub pip_size: f64,
    /// Value of one pip moved by one lot in the account currency, when it can be
    /// known here (see [`Instrument::from_config`]).
    pub pip_value_per_lot: Option<f64>,
}

impl Instrument {
    /// `pip_size × contract_size` is the pip value in the symbol's quote currency;
    /// it is the account-currency value only when the quote currency (the last three
    /// letters of a forex / metals symbol) is the account currency. Otherwise the
    /// value stays unknown and the agent sizes with the terminal's own tick value.
    /// (`instrument_config.tick_value` is MT5's value per *tick*, and the table has
    /// no tick size, so it cannot be turned into a per-pip value.)
    pub fn from_config(
        symbol: &str,
        pip_size: f64,
        contract_size: f64,
        instrument_type: &str,
        account_currency: &str,
    ) -> Option<Instrument> {
        if !(pip_size.is_finite() && pip_size > 0.0) {
            return None;
        }
        let quote = symbol
            .len()
            .checked_sub(3)
            .and_then(|i| symbol.get(i..))
            .unwrap_or("");
        let same_currency = matches!(instrument_type, "forex" | "metals")
            && symbol.len() == 6
            && quote.eq_ignore_ascii_case(account_currency.trim());
        let value = pip_size * contract_size;
        Some(Instrument {
            pip_size,
            pip_value_per_lot: (same_currency && value.is_finite() && value > 0.0).then_some(value),
        })
    }
}

/// What the sizing rules need besides the signal.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SizingContext {
    /// `tv_strategies.risk_override_pct`.
    pub strategy_risk_pct: Option<f64>,
    /// `user_settings.risk_percent` (default 1.0).
    pub user_risk_pct: f64,
    /// `user_settings.max_lots`.
    pub max_lots: Option<f64>,
    /// Last known balance of the strategy's account (newest `get_account` result).
    pub balance: Option<f64>,
    pub instrument: Option<Instrument>,
}

/// The size decided at ingest.
#[derive(Debug, Clone, PartialEq)]
pub enum Sizing {
    /// Send this many lots.
    Lots { volume: f64, basis: LotsBasis },
    /// The balance (or the instrument) is unknown here: the agent sizes with the
    /// live balance from `risk_pct` and the stop (`sl_pips`, or `sl` as a price),
    /// never above `max_volume`.
    Risk {
        risk_pct: f64,
        sl_pips: Option<f64>,
        max_volume: Option<f64>,
    },
    /// A typed size (money or % of equity at risk, % of balance as lots or margin)
    /// that only the terminal's figures can turn into lots; never above `max_volume`.
    AtAgent {
        spec: VolumeSpec,
        max_volume: Option<f64>,
    },
}

/// How a `Lots` size came about (stored with the job input for the audit trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LotsBasis {
    /// The message's volume.
    Explicit,
    /// The message's volume, lowered to `max_lots`.
    CappedByMaxLots,
    /// Risk % of the last known balance over the stop distance.
    Risk,
    /// Risk sizing, lowered to `max_lots`.
    RiskCappedByMaxLots,
    /// No volume and no stop: the smallest order.
    MinimumNoStop,
}

impl LotsBasis {
    /// As recorded in the trade input's `sizing`.
    pub fn sizing_basis(self) -> SizingBasis {
        match self {
            LotsBasis::Explicit => SizingBasis::Explicit,
            LotsBasis::CappedByMaxLots => SizingBasis::ExplicitCappedByMaxLots,
            LotsBasis::Risk => SizingBasis::Risk,
            LotsBasis::RiskCappedByMaxLots => SizingBasis::RiskCappedByMaxLots,
            LotsBasis::MinimumNoStop => SizingBasis::MinimumNoStop,
        }
    }
}

/// A size that cannot be traded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SizingError {
    #[error("risk sizing gives {computed:.4} lots, below the minimum {MIN_LOT}: raise the risk or tighten the stop")]
    BelowMinimum { computed: f64 },
    #[error("max_lots {0} is below the minimum lot {MIN_LOT}")]
    MaxLotsBelowMinimum(f64),
}

/// The stop distance in pips: `sl_pips`, else `|price − sl| / pip_size`.
pub fn stop_distance_pips(s: &ParsedSignal, instrument: Option<&Instrument>) -> Option<f64> {
    if let Some(p) = s.sl_pips {
        return Some(p);
    }
    let (price, sl, ins) = (s.price?, s.sl?, instrument?);
    let d = (price - sl).abs() / ins.pip_size;
    (d.is_finite() && d > 0.0).then_some(d)
}

/// Lots for `risk_pct` % of `balance` lost over `sl_pips`, rounded down to the lot step.
pub fn lots_for_risk(balance: f64, risk_pct: f64, sl_pips: f64, pip_value_per_lot: f64) -> f64 {
    let raw = balance * risk_pct / 100.0 / (sl_pips * pip_value_per_lot);
    round_down_to_step(raw)
}

fn round_down_to_step(lots: f64) -> f64 {
    if !lots.is_finite() || lots <= 0.0 {
        return 0.0;
    }
    // The epsilon keeps 0.3 / 0.01 = 29.999... from losing a step.
    let steps = (lots / MIN_LOT + 1e-9).floor();
    (steps * MIN_LOT * 100.0).round() / 100.0
}

fn cap(volume: f64, max_lots: Option<f64>) -> (f64, bool) {
    match max_lots {
        Some(m) if volume > m => (round_down_to_step(m), true),
        _ => (volume, false),
    }
}

/// Sizes a buy/sell signal (see the module doc and docs/webhook.md).
pub fn size(s: &ParsedSignal, ctx: &SizingContext) -> Result<Sizing, SizingError> {
    if let Some(m) = ctx.max_lots {
        if m < MIN_LOT {
            return Err(SizingError::MaxLotsBelowMinimum(m));
        }
    }
    if let Some(spec) = s.volume_spec {
        return Ok(Sizing::AtAgent {
            spec,
            max_volume: ctx.max_lots,
        });
    }
    if let Some(v) = s.volume {
        let (volume, capped) = cap(v, ctx.max_lots);
        // Explicit volumes below a step are rounded up to the minimum lot only if
        // they are positive; parse() guarantees v > 0.
        let volume = if volume < MIN_LOT { MIN_LOT } else { volume };
        let basis = if capped {
            LotsBasis::CappedByMaxLots
        } else {
            LotsBasis::Explicit
        };
        return Ok(Sizing::Lots { volume, basis });
    }
    let risk_pct = s
        .risk_pct
        .or(ctx.strategy_risk_pct)
        .unwrap_or(ctx.user_risk_pct);
    let stop = stop_distance_pips(s, ctx.instrument.as_ref());
    let pip_value = ctx.instrument.and_then(|i| i.pip_value_per_lot);
    match (stop, ctx.balance, pip_value) {
        (Some(sl_pips), Some(balance), Some(pv)) if balance > 0.0 => {
            let computed = lots_for_risk(balance, risk_pct, sl_pips, pv);
            if computed < MIN_LOT {
                return Err(SizingError::BelowMinimum {
                    computed: balance * risk_pct / 100.0 / (sl_pips * pv),
                });
            }
            let (volume, capped) = cap(computed, ctx.max_lots);
            let basis = if capped {
                LotsBasis::RiskCappedByMaxLots
            } else {
                LotsBasis::Risk
            };
            Ok(Sizing::Lots { volume, basis })
        }
        // A stop the agent measures (a price without a price to measure from, or
        // points / percent).
        (stop, _, _) if stop.is_some() || s.sl.is_some() || s.sl_distance.is_some() => {
            Ok(Sizing::Risk {
                risk_pct,
                sl_pips: stop,
                max_volume: ctx.max_lots,
            })
        }
        _ => Ok(Sizing::Lots {
            volume: MIN_LOT,
            basis: LotsBasis::MinimumNoStop,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use companion_protocol::SignalAction;

    const EURUSD: Instrument = Instrument {
        pip_size: 0.0001,
        pip_value_per_lot: Some(10.0),
    };

    fn sig() -> ParsedSignal {
        ParsedSignal::new(SignalAction::Buy, "EURUSD")
    }

    fn ctx() -> SizingContext {
        SizingContext {
            strategy_risk_pct: None,
            user_risk_pct: 1.0,
            max_lots: None,
            balance: Some(10_000.0),
            instrument: Some(EURUSD),
        }
    }

    #[test]
    fn explicit_volume_is_capped_by_max_lots() {
        let mut s = sig();
        s.volume = Some(5.0);
        let c = SizingContext {
            max_lots: Some(2.0),
            ..ctx()
        };
        assert_eq!(
            size(&s, &c).unwrap(),
            Sizing::Lots {
                volume: 2.0,
                basis: LotsBasis::CappedByMaxLots
            }
        );
        s.volume = Some(0.5);
        assert_eq!(
            size(&s, &c).unwrap(),
            Sizing::Lots {
                volume: 0.5,
                basis: LotsBasis::Explicit
            }
        );
    }

    #[test]
    fn risk_over_stop_with_pip_values() {
        // 1% of 10 000 = 100; 20 pips × 10/pip/lot = 200 per lot → 0.5 lots.
        let mut s = sig();
        s.sl_pips = Some(20.0);
        assert_eq!(
            size(&s, &ctx()).unwrap(),
            Sizing::Lots {
                volume: 0.5,
                basis: LotsBasis::Risk
            }
        );
        // The message's risk beats the strategy's, which beats the user's.
        s.risk_pct = Some(2.0);
        let c = SizingContext {
            strategy_risk_pct: Some(3.0),
            ..ctx()
        };
        assert_eq!(
            size(&s, &c).unwrap(),
            Sizing::Lots {
                volume: 1.0,
                basis: LotsBasis::Risk
            }
        );
        s.risk_pct = None;
        assert_eq!(
            size(&s, &c).unwrap(),
            Sizing::Lots {
                volume: 1.5,
                basis: LotsBasis::Risk
            }
        );
    }

    #[test]
    fn pip_values_only_when_the_quote_is_the_account_currency() {
        let eu = Instrument::from_config("EURUSD", 0.0001, 100_000.0, "forex", "USD").unwrap();
        assert_eq!(eu.pip_value_per_lot, Some(10.0));
        let xau = Instrument::from_config("XAUUSD", 0.01, 100.0, "metals", "usd").unwrap();
        assert_eq!(xau.pip_value_per_lot, Some(1.0));
        let uj = Instrument::from_config("USDJPY", 0.01, 100_000.0, "forex", "USD").unwrap();
        assert_eq!(uj.pip_value_per_lot, None);
        let eu_eur = Instrument::from_config("EURUSD", 0.0001, 100_000.0, "forex", "EUR").unwrap();
        assert_eq!(eu_eur.pip_value_per_lot, None);
        assert_eq!(Instrument::from_config("X", 0.0, 1.0, "forex", "USD"), None);
    }

    #[test]
    fn stop_from_prices() {
        let mut s = sig();
        s.price = Some(1.1000);
        s.sl = Some(1.0950); // 50 pips
        let c = ctx();
        // 100 / (50 × 10) = 0.2
        assert_eq!(
            size(&s, &c).unwrap(),
            Sizing::Lots {
                volume: 0.2,
                basis: LotsBasis::Risk
            }
        );
    }

    #[test]
    fn risk_sizing_capped_and_floored() {
        let mut s = sig();
        s.sl_pips = Some(1.0);
        let c = SizingContext {
            max_lots: Some(3.0),
            ..ctx()
        };
        assert_eq!(
            size(&s, &c).unwrap(),
            Sizing::Lots {
                volume: 3.0,
                basis: LotsBasis::RiskCappedByMaxLots
            }
        );
        s.sl_pips = Some(5000.0);
        assert!(matches!(
            size(&s, &ctx()),
            Err(SizingError::BelowMinimum { .. })
        ));
        // Rounds down to the lot step: 100 / (30 × 10) = 0.333.. → 0.33
        s.sl_pips = Some(30.0);
        assert_eq!(
            size(&s, &ctx()).unwrap(),
            Sizing::Lots {
                volume: 0.33,
                basis: LotsBasis::Risk
            }
        );
    }

    #[test]
    fn unknown_balance_passes_risk_to_the_agent() {
        let mut s = sig();
        s.sl_pips = Some(20.0);
        let c = SizingContext {
            balance: None,
            max_lots: Some(1.0),
            strategy_risk_pct: Some(0.5),
            ..ctx()
        };
        assert_eq!(
            size(&s, &c).unwrap(),
            Sizing::Risk {
                risk_pct: 0.5,
                sl_pips: Some(20.0),
                max_volume: Some(1.0)
            }
        );
        // A stop given only as a price, without a price to measure from.
        let mut s = sig();
        s.sl = Some(1.05);
        assert_eq!(
            size(&s, &ctx()).unwrap(),
            Sizing::Risk {
                risk_pct: 1.0,
                sl_pips: None,
                max_volume: None
            }
        );
    }

    #[test]
    fn typed_sizes_and_typed_stops_go_to_the_agent() {
        let mut s = sig();
        s.volume_spec = Some(VolumeSpec::EquityRisk { percent: 1.0 });
        let c = SizingContext {
            max_lots: Some(2.0),
            ..ctx()
        };
        assert_eq!(
            size(&s, &c).unwrap(),
            Sizing::AtAgent {
                spec: VolumeSpec::EquityRisk { percent: 1.0 },
                max_volume: Some(2.0)
            }
        );
        // Risk % with a stop in points: the server cannot measure it.
        let mut s = sig();
        s.risk_pct = Some(1.0);
        s.sl_distance = Some(companion_protocol::PriceDistance {
            value: 200.0,
            unit: companion_protocol::PriceUnit::Points,
        });
        assert_eq!(
            size(&s, &ctx()).unwrap(),
            Sizing::Risk {
                risk_pct: 1.0,
                sl_pips: None,
                max_volume: None
            }
        );
    }

    #[test]
    fn no_volume_and_no_stop_is_the_minimum_lot() {
        assert_eq!(
            size(&sig(), &ctx()).unwrap(),
            Sizing::Lots {
                volume: MIN_LOT,
                basis: LotsBasis::MinimumNoStop
            }
        );
    }

    #[test]
    fn lot_rounding() {
        assert_eq!(round_down_to_step(0.3), 0.3);
        assert_eq!(round_down_to_step(0.019), 0.01);
        assert_eq!(round_down_to_step(1.239), 1.23);
        assert_eq!(round_down_to_step(-1.0), 0.0);
    }
}
