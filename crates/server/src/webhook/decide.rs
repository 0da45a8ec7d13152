//! Deciding what an accepted webhook signal becomes: the daily-loss, agent and
//! sizing rules applied to facts read beforehand ([`Context`]), giving the job's
//! typed input or the reason to discard the signal. Pure: storing is `ingest`'s job.

use chrono::{DateTime, Utc};
use companion_protocol::{
    CancelOrdersInput, ClosePositionInput, CloseScope, DailyLossCheck, JobInput,
    ModifyPositionInput, OppositeEntry, PcAccountFilter, PriceDistance, PriceUnit, SessionFilter,
    Side, SignalAction, SizingBasis, TradeFilters, TradeInput, DEFAULT_SLIPPAGE_POINTS,
};
use uuid::Uuid;

use super::ingest::StrategyRow;
use super::parse::{CloseTarget, Expiry, ParsedSignal, Rejected};
use super::pineconnector::PineRejected;
use super::sizing::{self, Instrument, Sizing, SizingContext, SizingError};

/// `user_settings` defaults when the user has no row.
const DEFAULT_RISK_PCT: f64 = 1.0;
const DEFAULT_DAILY_LOSS_LIMIT_PCT: f64 = 5.0;

/// Why a logged signal was not acted on. `code()` is stable; the row's
/// `error_message` and the response's `reason` are `code: message`.
#[derive(Debug, Clone, PartialEq)]
pub enum Discard {
    Disabled,
    Parse(Rejected),
    /// A PineConnector message Companion cannot execute (`pineconnector.rs`).
    PineConnector(PineRejected),
    PairNotAllowed(String),
    Duplicate(Uuid),
    DailyLossLimit {
        loss_today: f64,
        limit: f64,
        tz: String,
    },
    NoAgent,
    Sizing(SizingError),
    /// A pending order whose expiry is not after the signal's arrival.
    ExpiryPassed(DateTime<Utc>),
}

impl Discard {
    pub fn code(&self) -> &'static str {
        match self {
            Discard::Disabled => "disabled",
            Discard::Parse(r) => r.reason.code(),
            Discard::PineConnector(r) => r.error.code(),
            Discard::PairNotAllowed(_) => "pair_not_allowed",
            Discard::Duplicate(_) => "duplicate",
            Discard::DailyLossLimit { .. } => "daily_loss_limit",
            Discard::NoAgent => "no_agent",
            Discard::Sizing(_) => "volume_below_minimum",
            Discard::ExpiryPassed(_) => "invalid_expiry",
        }
    }

    pub fn reason(&self) -> String {
        let msg = match self {
            Discard::Disabled => {
                "the strategy is disabled (in the app, or by a PineConnector eaoff alert; eaon resumes it)".to_string()
            }
            Discard::Parse(r) => r.reason.to_string(),
            Discard::PineConnector(r) => r.error.to_string(),
            Discard::PairNotAllowed(s) => format!("{s} is not in this strategy's allowed pairs"),
            Discard::Duplicate(id) => format!("same signal as {id}"),
            Discard::DailyLossLimit {
                loss_today,
                limit,
                tz,
            } => format!(
                "today's realised loss {loss_today:.2} reached the daily limit {limit:.2}; only closes are accepted until 00:00 ({tz})"
            ),
            Discard::NoAgent => {
                "no agent serves this strategy's broker connection: pair one first".to_string()
            }
            Discard::Sizing(e) => e.to_string(),
            Discard::ExpiryPassed(t) => format!(
                "the pending order's expiry {} is not in the future",
                t.to_rfc3339()
            ),
        };
        format!("{}: {msg}", self.code())
    }
}

/// Facts read before deciding: today's P&L, balance, agent, instrument.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub(super) struct Context {
    pub pnl_today: f64,
    /// The trader's day's time zone (`user_settings.trading_day_tz`, default UTC).
    pub trading_day_tz: Option<String>,
    pub balance: Option<f64>,
    pub agent_id: Option<Uuid>,
    pub pip_size: Option<f64>,
    pub contract_size: Option<f64>,
    pub instrument_type: Option<String>,
    /// The balance's currency (newest `get_account`), else `user_settings.account_currency`.
    pub account_currency: Option<String>,
}

/// The job an accepted signal becomes.
pub(super) enum JobPlan {
    /// The order, and the daily-loss check the agent must make first when the server
    /// knows today's losses but no balance to compare them with.
    Trade(Sizing, Option<DailyLossCheck>),
    Close,
    /// `modify_position` of the strategy's positions on the symbol (one side or both).
    Modify,
    /// `cancel_orders` of the strategy's pending orders on the symbol.
    Cancel,
}

/// The side a close / modify / cancel target selects (`None` = both; `All` is a
/// close's only).
fn target_side(t: CloseTarget) -> Option<Side> {
    match t {
        CloseTarget::Long => Some(Side::Buy),
        CloseTarget::Short => Some(Side::Sell),
        CloseTarget::Both | CloseTarget::All => None,
    }
}

/// A pending order's expiry as a time (`expiry_secs` counts from `now`).
pub(super) fn expiry_time(e: Expiry, now: DateTime<Utc>) -> DateTime<Utc> {
    match e {
        Expiry::At(t) => t,
        Expiry::AfterSecs(secs) => now + chrono::Duration::seconds(secs),
    }
}

/// The magic numbers a close signal of `st` may touch: the strategy's own, or with
/// `close_scope = all_companion` those of all the owner's strategies. Never empty
/// (an empty list would mean "any position" to the agent).
pub(super) fn close_magics(st: &StrategyRow) -> Vec<i64> {
    let scope: CloseScope = st.close_scope.parse().unwrap_or_default();
    let mut magics = match scope {
        CloseScope::Strategy => vec![st.magic],
        CloseScope::AllCompanion => st.owner_magics.clone(),
    };
    if !magics.contains(&st.magic) {
        magics.push(st.magic);
    }
    magics
}

impl JobPlan {
    /// The job's input for signal `signal_id` of strategy `st`.
    pub(super) fn into_input(
        self,
        s: &ParsedSignal,
        signal_id: Uuid,
        st: &StrategyRow,
    ) -> JobInput {
        let strategy_id = st.id;
        match self {
            JobPlan::Modify => JobInput::ModifyPosition(ModifyPositionInput {
                ticket: None,
                symbol: Some(s.symbol.clone()),
                raw_symbol: s.raw_symbol.clone(),
                side: target_side(s.close),
                // Only the strategy's own positions (never close_scope's wider set).
                magics: vec![st.magic],
                sl: s.new_sl,
                tp: s.new_tp,
                // A modify alert may also (re)set the positions' breakeven/trailing.
                breakeven: s.breakeven,
                trailing: s.trailing,
                cancel_rules: false,
                signal_id: Some(signal_id),
                strategy_id: Some(strategy_id),
            }),
            JobPlan::Cancel => JobInput::CancelOrders(CancelOrdersInput {
                ticket: None,
                symbol: Some(s.symbol.clone()),
                raw_symbol: s.raw_symbol.clone(),
                side: target_side(s.close),
                magics: vec![st.magic],
                signal_id: Some(signal_id),
                strategy_id: Some(strategy_id),
            }),
            JobPlan::Close => {
                let (symbol, side, all_symbols) = match s.close {
                    CloseTarget::Both => (Some(s.symbol.clone()), None, false),
                    CloseTarget::Long => (Some(s.symbol.clone()), Some(Side::Buy), false),
                    CloseTarget::Short => (Some(s.symbol.clone()), Some(Side::Sell), false),
                    CloseTarget::All => (None, None, true),
                };
                JobInput::ClosePosition(ClosePositionInput {
                    ticket: None,
                    symbol,
                    raw_symbol: if all_symbols {
                        None
                    } else {
                        s.raw_symbol.clone()
                    },
                    side,
                    signal_id: Some(signal_id),
                    strategy_id: Some(strategy_id),
                    magics: close_magics(st),
                    all_symbols,
                    volume: s.close_volume,
                    percent: s.close_percent,
                })
            }
            JobPlan::Trade(sizing, daily_loss_check) => {
                let side = if s.action == SignalAction::Sell {
                    Side::Sell
                } else {
                    Side::Buy
                };
                let mut volume_spec = None;
                let (volume, risk_pct, sl_pips, basis, max_volume) = match sizing {
                    Sizing::Lots { volume, basis } => {
                        (Some(volume), None, s.sl_pips, basis.sizing_basis(), None)
                    }
                    Sizing::AtAgent { spec, max_volume } => {
                        volume_spec = Some(spec);
                        (None, None, s.sl_pips, SizingBasis::AtAgent, max_volume)
                    }
                    Sizing::Risk {
                        risk_pct,
                        sl_pips,
                        max_volume,
                    } => (
                        None,
                        Some(risk_pct),
                        sl_pips,
                        SizingBasis::RiskAtAgent,
                        max_volume,
                    ),
                };
                JobInput::Trade(TradeInput {
                    symbol: s.symbol.clone(),
                    raw_symbol: s.raw_symbol.clone(),
                    side,
                    volume,
                    risk_pct,
                    sl_pips,
                    tp_pips: s.tp_pips,
                    sl: s.sl,
                    tp: s.tp,
                    signal_id: Some(signal_id),
                    sizing: Some(basis),
                    strategy_id: Some(strategy_id),
                    max_volume,
                    daily_loss_check,
                    signal_price: s.price,
                    comment: s.comment.clone(),
                    magic: Some(st.magic),
                    opposite_entry: Some(
                        st.opposite_entry
                            .parse::<OppositeEntry>()
                            .unwrap_or_default(),
                    ),
                    order_type: s.order_type,
                    entry_price: s.entry_price.filter(|_| s.order_type.is_some()),
                    entry_offset: s.entry_offset.filter(|_| s.order_type.is_some()),
                    expiry: s
                        .expiry
                        .filter(|_| s.order_type.is_some())
                        .map(|e| expiry_time(e, Utc::now())),
                    close_same_side: s.close_same_side,
                    volume_spec,
                    sl_distance: s.sl_distance,
                    tp_distance: s.tp_distance,
                    filters: Some(Box::new(trade_filters(st, s))).filter(|f| !f.is_empty()),
                    max_positions: st.max_positions.and_then(|m| u32::try_from(m).ok()),
                    deviation: Some(
                        u32::try_from(st.slippage_points).unwrap_or(DEFAULT_SLIPPAGE_POINTS),
                    ),
                    breakeven: s.breakeven,
                    trailing: s.trailing,
                })
            }
        }
    }
}

/// The strategy's filters for an entry, with the alert's own `spread=` (pips) and
/// `accfilter=` (of the strategy's `pc_account_filter`) in place of the strategy's.
pub(super) fn trade_filters(st: &StrategyRow, s: &ParsedSignal) -> TradeFilters {
    let mut f = TradeFilters {
        max_spread: s
            .max_spread
            .or(st.max_spread_points.map(|value| PriceDistance {
                value,
                unit: PriceUnit::Points,
            })),
        sessions: (!st.session_windows.is_empty()).then(|| SessionFilter {
            windows: st.session_windows.clone(),
            days: st
                .session_days
                .iter()
                .filter_map(|d| u8::try_from(*d).ok())
                .collect(),
            utc_offset_minutes: st.session_utc_offset_min,
            tz: st.session_tz.clone(),
        }),
        min_balance: None,
        min_equity: st.min_equity,
        min_free_margin: st.min_free_margin,
    };
    if let Some(min) = s.account_min {
        match PcAccountFilter::parse(&st.pc_account_filter).unwrap_or_default() {
            PcAccountFilter::Balance => f.min_balance = Some(min),
            PcAccountFilter::Equity => f.min_equity = Some(min),
            PcAccountFilter::FreeMargin => f.min_free_margin = Some(min),
        }
    }
    f
}

/// The daily-loss, agent and sizing rules (docs/webhook.md).
pub(super) fn decide(
    st: &StrategyRow,
    s: &ParsedSignal,
    ctx: &Context,
) -> Result<(Uuid, JobPlan), Discard> {
    let pct = st
        .daily_loss_limit_pct
        .unwrap_or(DEFAULT_DAILY_LOSS_LIMIT_PCT);
    let loss_today = -ctx.pnl_today;
    // Without losses today the limit cannot be reached, whatever the balance. With
    // losses and no known balance, the agent checks against the live balance before
    // sending (the limit never silently stops applying).
    let mut loss_check = None;
    if s.is_entry() && pct > 0.0 && loss_today > 0.0 {
        match ctx.balance.filter(|b| *b > 0.0) {
            Some(balance) => {
                let limit = balance * pct / 100.0;
                if loss_today >= limit {
                    return Err(Discard::DailyLossLimit {
                        loss_today,
                        limit,
                        tz: ctx.trading_day_tz.clone().unwrap_or_else(|| "UTC".into()),
                    });
                }
            }
            None => {
                loss_check = Some(DailyLossCheck {
                    loss_today,
                    limit_pct: pct,
                })
            }
        }
    }
    let agent_id = ctx.agent_id.ok_or(Discard::NoAgent)?;
    match s.action {
        SignalAction::Close => return Ok((agent_id, JobPlan::Close)),
        SignalAction::Modify => return Ok((agent_id, JobPlan::Modify)),
        SignalAction::Cancel => return Ok((agent_id, JobPlan::Cancel)),
        _ => {}
    }
    if let Some(Expiry::At(t)) = s.expiry.filter(|_| s.order_type.is_some()) {
        if t <= Utc::now() {
            return Err(Discard::ExpiryPassed(t));
        }
    }
    let instrument = match (ctx.pip_size, ctx.contract_size) {
        (Some(pip_size), Some(contract_size)) => Instrument::from_config(
            &s.symbol,
            pip_size,
            contract_size,
            ctx.instrument_type.as_deref().unwrap_or(""),
            ctx.account_currency.as_deref().unwrap_or("USD"),
        ),
        _ => None,
    };
    let sizing_ctx = SizingContext {
        strategy_risk_pct: st.risk_override_pct,
        user_risk_pct: st.risk_percent.unwrap_or(DEFAULT_RISK_PCT),
        max_lots: st.max_lots.filter(|m| *m > 0.0),
        balance: ctx.balance,
        instrument,
    };
    let plan = sizing::size(s, &sizing_ctx).map_err(Discard::Sizing)?;
    Ok((agent_id, JobPlan::Trade(plan, loss_check)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strategy(close_scope: &str, opposite_entry: &str) -> StrategyRow {
        StrategyRow {
            id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            broker_connection_id: Uuid::new_v4(),
            is_enabled: true,
            allowed_pairs: None,
            risk_override_pct: None,
            risk_percent: None,
            daily_loss_limit_pct: None,
            max_lots: None,
            alert_dialect: "auto".into(),
            pineconnector_license_id: None,
            pc_volume_type: "lots".into(),
            pc_target_type: "pips".into(),
            pc_pending_entry: "pips".into(),
            dedup_window_secs: 300,
            magic: 4242,
            close_scope: close_scope.into(),
            opposite_entry: opposite_entry.into(),
            owner_magics: vec![17, 4242, 9000],
            slippage_points: 20,
            max_positions: None,
            max_spread_points: None,
            session_windows: vec![],
            session_days: vec![],
            session_tz: "UTC".into(),
            session_utc_offset_min: 0,
            min_equity: None,
            min_free_margin: None,
            pc_account_filter: "equity".into(),
        }
    }

    fn ctx() -> Context {
        Context {
            agent_id: Some(Uuid::new_v4()),
            ..Context::default()
        }
    }

    fn close_input(st: &StrategyRow, body: &str) -> ClosePositionInput {
        let s = super::super::parse::parse(body.as_bytes()).unwrap();
        let (_, plan) = decide(st, &s, &ctx()).unwrap();
        match plan.into_input(&s, Uuid::new_v4(), st) {
            JobInput::ClosePosition(c) => c,
            other => panic!("not a close: {other:?}"),
        }
    }

    #[test]
    fn close_words_become_side_and_symbol_limited_closes_of_the_strategy_magic() {
        let st = strategy("strategy", "reverse");
        let c = close_input(&st, "close_long EURUSD");
        assert_eq!(
            (c.symbol.as_deref(), c.side, c.all_symbols),
            (Some("EURUSD"), Some(Side::Buy), false)
        );
        assert_eq!(c.magics, vec![4242]);
        assert_eq!(c.strategy_id, Some(st.id));
        let c = close_input(&st, "exit_short EURUSD");
        assert_eq!(c.side, Some(Side::Sell));
        let c = close_input(&st, "flat EURUSD");
        assert_eq!((c.side, c.all_symbols), (None, false));
        let c = close_input(&st, "closeall");
        assert_eq!((c.symbol, c.side, c.all_symbols), (None, None, true));
        assert_eq!(c.ticket, None);
        assert_eq!(c.magics, vec![4242]);
    }

    #[test]
    fn all_companion_scope_closes_every_strategy_magic_of_the_owner() {
        let st = strategy("all_companion", "reverse");
        assert_eq!(
            close_input(&st, "close EURUSD").magics,
            vec![17, 4242, 9000]
        );
        // Never empty, and always the strategy's own.
        let mut lone = strategy("all_companion", "reverse");
        lone.owner_magics.clear();
        assert_eq!(close_magics(&lone), vec![4242]);
    }

    #[test]
    fn entries_carry_the_strategy_magic_and_opposite_entry_mode() {
        for (mode, want) in [
            ("reverse", OppositeEntry::Reverse),
            ("hedge", OppositeEntry::Hedge),
            ("reject", OppositeEntry::Reject),
        ] {
            let st = strategy("strategy", mode);
            let s = super::super::parse::parse(b"sell 0.1 EURUSD").unwrap();
            let (_, plan) = decide(&st, &s, &ctx()).unwrap();
            match plan.into_input(&s, Uuid::new_v4(), &st) {
                JobInput::Trade(t) => {
                    assert_eq!(t.magic, Some(4242));
                    assert_eq!(t.opposite_entry, Some(want));
                    assert_eq!(t.side, Side::Sell);
                    assert_eq!(t.volume, Some(0.1));
                }
                other => panic!("not a trade: {other:?}"),
            }
        }
    }

    #[test]
    fn closes_pass_the_daily_loss_limit_entries_do_not() {
        let st = strategy("strategy", "reverse");
        let c = Context {
            pnl_today: -600.0,
            balance: Some(10_000.0),
            ..ctx()
        };
        let buy = super::super::parse::parse(b"buy 0.1 EURUSD").unwrap();
        let d = decide(&st, &buy, &c).err().unwrap();
        assert_eq!(d.code(), "daily_loss_limit");
        let close = super::super::parse::parse(b"closeall").unwrap();
        assert!(decide(&st, &close, &c).is_ok());
    }
}
