//! Webhook ingest: one request for a known strategy → one `tv_signals` row, and for
//! an accepted signal its `trade` / `close_position` job, in one transaction (the
//! `jobs` trigger NOTIFYs the agent on commit). Runs as the server's RLS-bypassing
//! role: the request is authenticated by the strategy's secret, not by a user.

use chrono::Utc;
use companion_protocol::{
    ClosePositionInput, JobType, Side, SignalAction, SignalStatus, TradeInput, WebhookResponse,
};
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::dedup::{DedupKey, BODY_WINDOW_SECS};
use super::parse::{self, normalize_symbol, ParsedSignal, Rejected};
use super::sizing::{self, Instrument, Sizing, SizingContext, SizingError};

/// `user_settings` defaults when the user has no row.
const DEFAULT_RISK_PCT: f64 = 1.0;
const DEFAULT_DAILY_LOSS_LIMIT_PCT: f64 = 5.0;

/// The strategy a secret names, with the owner's settings.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StrategyRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub broker_connection_id: Uuid,
    pub is_enabled: bool,
    pub allowed_pairs: Option<Vec<String>>,
    pub risk_override_pct: Option<f64>,
    pub risk_percent: Option<f64>,
    pub daily_loss_limit_pct: Option<f64>,
    pub max_lots: Option<f64>,
}

/// Looks a strategy up by its webhook secret.
pub async fn find_strategy(db: &PgPool, secret: &str) -> Result<Option<StrategyRow>, sqlx::Error> {
    sqlx::query_as::<_, StrategyRow>(
        "select s.id, s.user_id, s.broker_connection_id, s.is_enabled, s.allowed_pairs,
                s.risk_override_pct::float8 as risk_override_pct,
                us.risk_percent::float8 as risk_percent,
                us.daily_loss_limit_pct::float8 as daily_loss_limit_pct,
                us.max_lots::float8 as max_lots
           from public.tv_strategies s
           left join public.user_settings us on us.user_id = s.user_id
          where s.webhook_secret = $1",
    )
    .bind(secret)
    .fetch_optional(db)
    .await
}

/// Why a logged signal was not acted on. `code()` is stable; the row's
/// `error_message` and the response's `reason` are `code: message`.
#[derive(Debug, Clone, PartialEq)]
pub enum Discard {
    Disabled,
    Parse(Rejected),
    PairNotAllowed(String),
    Duplicate(Uuid),
    DailyLossLimit { loss_today: f64, limit: f64 },
    NoAgent,
    Sizing(SizingError),
}

impl Discard {
    pub fn code(&self) -> &'static str {
        match self {
            Discard::Disabled => "disabled",
            Discard::Parse(r) => r.reason.code(),
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
struct Context {
    pnl_today: f64,
    balance: Option<f64>,
    agent_id: Option<Uuid>,
    pip_size: Option<f64>,
    contract_size: Option<f64>,
    instrument_type: Option<String>,
    /// The balance's currency (newest `get_account`), else `user_settings.account_currency`.
    account_currency: Option<String>,
}

async fn read_context(db: &PgPool, st: &StrategyRow, symbol: &str) -> Result<Context, sqlx::Error> {
    sqlx::query_as::<_, Context>(
        "select
           (select coalesce(sum(te.profit_loss), 0)::float8
              from public.trade_events te
             where te.broker_connection_id = $2 and te.user_id = $1
               and te.created_at >= date_trunc('day', now() at time zone 'utc') at time zone 'utc')
             as pnl_today,
           acct.balance,
           coalesce(acct.currency,
                    (select us.account_currency from public.user_settings us where us.user_id = $1))
             as account_currency,
           (select a.id from public.mt5_agents a
             where a.broker_connection_id = $2 and a.user_id = $1
             order by (a.status = 'online') desc, a.last_heartbeat desc nulls last, a.created_at
             limit 1) as agent_id,
           i.pip_size::float8 as pip_size, i.contract_size::float8 as contract_size,
           i.instrument_type
         from (select 1) one
         left join public.instrument_config i on i.pair = $3
         left join lateral (
           select case when jsonb_typeof(j.output_data -> 'balance') = 'number'
                       then (j.output_data ->> 'balance')::float8 end as balance,
                  j.output_data ->> 'currency' as currency
             from public.jobs j
            where j.job_type = 'get_account' and j.status = 'completed'
              and j.agent_id in (select a.id from public.mt5_agents a
                                  where a.broker_connection_id = $2 and a.user_id = $1)
            order by j.completed_at desc nulls last
            limit 1) acct on true",
    )
    .bind(st.user_id)
    .bind(st.broker_connection_id)
    .bind(symbol)
    .fetch_one(db)
    .await
}

/// The body as stored in `raw_payload`: the JSON value when the body is JSON, else
/// the text as a JSON string (invalid UTF-8 replaced). NUL characters, which
/// `jsonb` refuses, become U+FFFD.
pub fn raw_payload(body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body);
    let value = serde_json::from_str::<Value>(text.trim())
        .unwrap_or_else(|_| Value::String(text.into_owned()));
    scrub_nul(value)
}

fn scrub_nul(v: Value) -> Value {
    let fix = |s: String| {
        if s.contains('\0') {
            s.replace('\0', "\u{fffd}")
        } else {
            s
        }
    };
    match v {
        Value::String(s) => Value::String(fix(s)),
        Value::Array(a) => Value::Array(a.into_iter().map(scrub_nul).collect()),
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (fix(k), scrub_nul(v))).collect())
        }
        other => other,
    }
}

/// What the row records about the signal, accepted or not.
struct RowFields {
    symbol: String,
    action: SignalAction,
    price: Option<f64>,
}

impl RowFields {
    fn of(parsed: &Result<ParsedSignal, Rejected>) -> Self {
        match parsed {
            Ok(s) => RowFields {
                symbol: s.symbol.clone(),
                action: s.action,
                price: s.price,
            },
            Err(r) => RowFields {
                symbol: r.partial.symbol.clone().unwrap_or_default(),
                action: r.partial.action.unwrap_or(SignalAction::Unknown),
                price: r.partial.price,
            },
        }
    }
}

/// Logs one request and, when it is a new actionable signal, queues its job.
pub async fn ingest(
    db: &PgPool,
    st: &StrategyRow,
    body: &[u8],
    trade_ttl_secs: u64,
) -> Result<WebhookResponse, sqlx::Error> {
    let parsed = parse::parse(body);
    let fields = RowFields::of(&parsed);
    let payload = raw_payload(body);

    let signal = match (st.is_enabled, parsed) {
        (false, _) => return log_discarded(db, st, &fields, &payload, Discard::Disabled).await,
        (true, Err(r)) => return log_discarded(db, st, &fields, &payload, Discard::Parse(r)).await,
        (true, Ok(s)) => s,
    };
    if let Some(pairs) = st.allowed_pairs.as_ref().filter(|p| !p.is_empty()) {
        if !pairs.iter().any(|p| normalize_symbol(p) == signal.symbol) {
            let d = Discard::PairNotAllowed(signal.symbol.clone());
            return log_discarded(db, st, &fields, &payload, d).await;
        }
    }

    let ctx = read_context(db, st, &signal.symbol).await?;
    let key = DedupKey::for_signal(&signal, body, Utc::now().timestamp());

    let mut tx = db.begin().await?;
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("tv:{}:{}", st.id, key.lock_name()))
        .execute(&mut *tx)
        .await?;
    if let Some(original) = find_duplicate(&mut tx, st.id, &key).await? {
        let r = insert_signal(
            &mut tx,
            st,
            &fields,
            &payload,
            Some(Discard::Duplicate(original)),
            None,
        )
        .await?;
        tx.commit().await?;
        return Ok(r.1);
    }

    let discard = decide(st, &signal, &ctx);
    let (agent_id, job) = match discard {
        Err(d) => {
            let r = insert_signal(&mut tx, st, &fields, &payload, Some(d), None).await?;
            tx.commit().await?;
            return Ok(r.1);
        }
        Ok(ok) => ok,
    };

    let signal_id = Uuid::new_v4();
    let (job_type, input) = job.into_input(&signal, signal_id, st.id);
    let inserted = sqlx::query_scalar::<_, Uuid>(
        "insert into public.tv_signals
           (id, strategy_id, user_id, symbol, action, price, raw_payload, status, dedup_key)
         values ($1, $2, $3, $4, $5, $6, $7, 'pending', $8)
         on conflict (strategy_id, dedup_key) where dedup_key is not null do nothing
         returning id",
    )
    .bind(signal_id)
    .bind(st.id)
    .bind(st.user_id)
    .bind(&fields.symbol)
    .bind(fields.action.as_str())
    .bind(fields.price)
    .bind(&payload)
    .bind(key.stored())
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_none() {
        // Only reachable if another writer bypassed the advisory lock.
        tx.rollback().await?;
        let mut tx = db.begin().await?;
        let original = find_duplicate(&mut tx, st.id, &key)
            .await?
            .unwrap_or(Uuid::nil());
        let r = insert_signal(
            &mut tx,
            st,
            &fields,
            &payload,
            Some(Discard::Duplicate(original)),
            None,
        )
        .await?;
        tx.commit().await?;
        return Ok(r.1);
    }
    sqlx::query(
        "with j as (
           insert into public.jobs
             (user_id, job_type, status, agent_id, entity_type, entity_id, input_data, expires_at)
           values ($1, $2, 'pending', $3, 'tv_signal', $4, $5, now() + make_interval(secs => $6))
           returning id)
         update public.tv_signals s set job_id = j.id from j where s.id = $4",
    )
    .bind(st.user_id)
    .bind(job_type.as_str())
    .bind(agent_id)
    .bind(signal_id)
    .bind(&input)
    .bind(trade_ttl_secs as f64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(%signal_id, strategy_id = %st.id, job_type = %job_type, "signal queued");
    Ok(WebhookResponse {
        signal_id,
        status: SignalStatus::Pending,
        reason: None,
    })
}

/// The job an accepted signal becomes.
enum JobPlan {
    /// The order, and the daily-loss check the agent must make first when the server
    /// knows today's losses but no balance to compare them with.
    Trade(Sizing, Option<DailyLossCheck>),
    Close,
}

/// `daily_loss_check` of a trade job's input: the agent reads the live balance and
/// refuses the order when `loss_today` ≥ `limit_pct` % of it.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct DailyLossCheck {
    loss_today: f64,
    limit_pct: f64,
}

impl JobPlan {
    fn into_input(self, s: &ParsedSignal, signal_id: Uuid, strategy_id: Uuid) -> (JobType, Value) {
        match self {
            JobPlan::Close => {
                let input = ClosePositionInput {
                    ticket: None,
                    symbol: Some(s.symbol.clone()),
                    side: None,
                    signal_id: Some(signal_id),
                };
                let mut v = serde_json::to_value(input).unwrap_or(Value::Null);
                extra(
                    &mut v,
                    "strategy_id",
                    Value::String(strategy_id.to_string()),
                );
                (JobType::ClosePosition, v)
            }
            JobPlan::Trade(sizing, loss_check) => {
                let side = if s.action == SignalAction::Sell {
                    Side::Sell
                } else {
                    Side::Buy
                };
                let (volume, risk_pct, sl_pips, basis, max_volume) = match sizing {
                    Sizing::Lots { volume, basis } => {
                        (Some(volume), None, s.sl_pips, basis.as_str(), None)
                    }
                    Sizing::Risk {
                        risk_pct,
                        sl_pips,
                        max_volume,
                    } => (None, Some(risk_pct), sl_pips, "risk_at_agent", max_volume),
                };
                let input = TradeInput {
                    symbol: s.symbol.clone(),
                    side,
                    volume,
                    risk_pct,
                    sl_pips,
                    tp_pips: s.tp_pips,
                    sl: s.sl,
                    tp: s.tp,
                    signal_id: Some(signal_id),
                };
                let mut v = serde_json::to_value(input).unwrap_or(Value::Null);
                extra(&mut v, "sizing", Value::String(basis.into()));
                extra(
                    &mut v,
                    "strategy_id",
                    Value::String(strategy_id.to_string()),
                );
                if let Some(m) = max_volume {
                    extra(&mut v, "max_volume", serde_json::json!(m));
                }
                if let Some(c) = loss_check {
                    extra(&mut v, "daily_loss_check", serde_json::json!(c));
                }
                if let Some(p) = s.price {
                    extra(&mut v, "signal_price", serde_json::json!(p));
                }
                if let Some(c) = &s.comment {
                    extra(&mut v, "comment", Value::String(c.clone()));
                }
                (JobType::Trade, v)
            }
        }
    }
}

fn extra(v: &mut Value, key: &str, value: Value) {
    if let Value::Object(m) = v {
        m.insert(key.to_string(), value);
    }
}

/// The daily-loss, agent and sizing rules (docs/webhook.md).
fn decide(st: &StrategyRow, s: &ParsedSignal, ctx: &Context) -> Result<(Uuid, JobPlan), Discard> {
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

async fn find_duplicate(
    tx: &mut Transaction<'static, Postgres>,
    strategy_id: Uuid,
    key: &DedupKey,
) -> Result<Option<Uuid>, sqlx::Error> {
    match key {
        DedupKey::Explicit { key } => {
            sqlx::query_scalar(
                "select id from public.tv_signals where strategy_id = $1 and dedup_key = $2",
            )
            .bind(strategy_id)
            .bind(key)
            .fetch_optional(&mut **tx)
            .await
        }
        DedupKey::Body {
            current, previous, ..
        } => {
            sqlx::query_scalar(
                "select id from public.tv_signals
                  where strategy_id = $1 and dedup_key in ($2, $3)
                    and received_at > now() - make_interval(secs => $4)
                  order by received_at desc limit 1",
            )
            .bind(strategy_id)
            .bind(current)
            .bind(previous)
            .bind(BODY_WINDOW_SECS as f64)
            .fetch_optional(&mut **tx)
            .await
        }
    }
}

async fn log_discarded(
    db: &PgPool,
    st: &StrategyRow,
    fields: &RowFields,
    payload: &Value,
    discard: Discard,
) -> Result<WebhookResponse, sqlx::Error> {
    let mut tx = db.begin().await?;
    let (_, r) = insert_signal(&mut tx, st, fields, payload, Some(discard), None).await?;
    tx.commit().await?;
    Ok(r)
}

async fn insert_signal(
    tx: &mut Transaction<'static, Postgres>,
    st: &StrategyRow,
    fields: &RowFields,
    payload: &Value,
    discard: Option<Discard>,
    dedup_key: Option<&str>,
) -> Result<(Uuid, WebhookResponse), sqlx::Error> {
    let (status, reason) = match &discard {
        Some(d) => (SignalStatus::Discarded, Some(d.reason())),
        None => (SignalStatus::Pending, None),
    };
    let status_str = match status {
        SignalStatus::Discarded => "discarded",
        _ => "pending",
    };
    let id: Uuid = sqlx::query_scalar(
        "insert into public.tv_signals
           (strategy_id, user_id, symbol, action, price, raw_payload, status, error_message,
            dedup_key, resolved_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                 case when $7 = 'discarded' then now() end)
         returning id",
    )
    .bind(st.id)
    .bind(st.user_id)
    .bind(&fields.symbol)
    .bind(fields.action.as_str())
    .bind(fields.price)
    .bind(payload)
    .bind(status_str)
    .bind(&reason)
    .bind(dedup_key)
    .fetch_one(&mut **tx)
    .await?;
    if let Some(d) = &discard {
        tracing::info!(signal_id = %id, strategy_id = %st.id, reason = d.code(), "signal discarded");
    }
    Ok((
        id,
        WebhookResponse {
            signal_id: id,
            status,
            reason,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_payload_keeps_json_and_wraps_text() {
        assert_eq!(
            raw_payload(br#"{"action":"buy"}"#),
            serde_json::json!({"action": "buy"})
        );
        assert_eq!(
            raw_payload(b"buy EURUSD"),
            Value::String("buy EURUSD".into())
        );
        assert_eq!(raw_payload(b"a\0b"), Value::String("a\u{fffd}b".into()));
        assert_eq!(
            raw_payload(br#"{"c":"x\u0000"}"#),
            serde_json::json!({"c": "x\u{fffd}"})
        );
        assert_eq!(
            raw_payload(&[0xff, b'a']),
            Value::String("\u{fffd}a".into())
        );
    }
}
