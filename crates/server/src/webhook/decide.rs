//! Deciding what an accepted webhook signal becomes: the daily-loss, agent and
//! sizing rules applied to facts read beforehand ([`Context`]), giving the job's
//! typed input or the reason to discard the signal. Pure: storing is `ingest`'s job.

use companion_protocol::{
    ClosePositionInput, DailyLossCheck, JobInput, Side, SignalAction, SizingBasis, TradeInput,
};
use uuid::Uuid;

use super::ingest::StrategyRow;
use super::parse::{ParsedSignal, Rejected};
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
    },
    NoAgent,
    Sizing(SizingError),
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
        }
    }

    pub fn reason(&self) -> String {
        let msg = match self {
            Discard::Disabled => "the strategy is disabled".to_string(),
            Discard::Parse(r) => r.reason.to_string(),
            Discard::PineConnector(r) => r.error.to_string(),
            Discard::PairNotAllowed(s) => format!("{s} is not in this strategy's allowed pairs"),
            Discard::Duplicate(id) => format!("same signal as {id}"),
            Discard::DailyLossLimit { loss_today, limit } => format!(
                "today's realised loss {loss_today:.2} reached the daily limit {limit:.2}; only closes are accepted until 00:00 UTC"
            ),
            Discard::NoAgent => {
                "no agent serves this strategy's broker connection: pair one first".to_string()
            }
            Discard::Sizing(e) => e.to_string(),
        };
        format!("{}: {msg}", self.code())
    }
}

/// Facts read before deciding: today's P&L, balance, agent, instrument.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub(super) struct Context {
    pub pnl_today: f64,
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
}

impl JobPlan {
    /// The job's input for signal `signal_id` of strategy `strategy_id`.
    pub(super) fn into_input(
        self,
        s: &ParsedSignal,
        signal_id: Uuid,
        strategy_id: Uuid,
    ) -> JobInput {
        match self {
            JobPlan::Close => JobInput::ClosePosition(ClosePositionInput {
                ticket: None,
                symbol: Some(s.symbol.clone()),
                side: None,
                signal_id: Some(signal_id),
                strategy_id: Some(strategy_id),
            }),
            JobPlan::Trade(sizing, daily_loss_check) => {
                let side = if s.action == SignalAction::Sell {
                    Side::Sell
                } else {
                    Side::Buy
                };
                let (volume, risk_pct, sl_pips, basis, max_volume) = match sizing {
                    Sizing::Lots { volume, basis } => {
                        (Some(volume), None, s.sl_pips, basis.sizing_basis(), None)
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
                })
            }
        }
    }
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
    if s.action != SignalAction::Close && pct > 0.0 && loss_today > 0.0 {
        match ctx.balance.filter(|b| *b > 0.0) {
            Some(balance) => {
                let limit = balance * pct / 100.0;
                if loss_today >= limit {
                    return Err(Discard::DailyLossLimit { loss_today, limit });
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
    if s.action == SignalAction::Close {
        return Ok((agent_id, JobPlan::Close));
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
