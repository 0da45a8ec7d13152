//! Webhook ingest, the storing half: one request for a known strategy → one
//! `tv_signals` row, and for an accepted signal its `trade` / `close_position` /
//! `modify_position` / `cancel_orders` job with the command in words (`understood`),
//! written by one call of `ingest_signal` (`store`, migration 0018: one round trip,
//! one commit; the `jobs` trigger NOTIFYs the agent on commit; `closealleaoff` pauses
//! the strategy in it too). Per alert: the strategy look-up, the context read, then
//! that one write. What a signal becomes is `decide`'s. Runs as the server's
//! RLS-bypassing role: the request is authenticated by the strategy's secret, not by a user.

use std::time::Duration;

use companion_protocol::{
    AlertDialect, PcAccountFilter, PcPendingEntry, PcTargetType, PcVolumeType, SignalAction,
    SignalStatus, WebhookResponse,
};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::decide::{decide, Context, Discard};
use super::dedup::DedupKey;
use super::parse::{self, normalize_symbol, CloseTarget, ParsedSignal, Rejected};
use super::pineconnector::{self, PineOutcome, PineSettings};
use super::store;
use super::understood;
use crate::publish::{Kind, Op, Publisher};

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
    /// Migration 0012: `auto` | `pineconnector`.
    pub alert_dialect: String,
    pub pineconnector_license_id: Option<String>,
    pub pc_volume_type: String,
    pub pc_target_type: String,
    /// Migration 0014: `pips` | `price` | `percentage`.
    pub pc_pending_entry: String,
    /// Explicit ids de-duplicate for this long; 0 = forever.
    pub dedup_window_secs: i32,
    /// The MT5 magic number of the strategy's orders.
    pub magic: i64,
    /// `strategy` or `all_companion` (`tv_strategies.close_scope`).
    pub close_scope: String,
    /// `reverse`, `hedge` or `reject` (`tv_strategies.opposite_entry`).
    pub opposite_entry: String,
    /// The magics of all the owner's strategies (for `close_scope = all_companion`).
    pub owner_magics: Vec<i64>,
    /// Migration 0015: slippage, cap, filters (see `StrategyExecution`).
    pub slippage_points: i32,
    pub max_positions: Option<i32>,
    pub max_spread_points: Option<f64>,
    pub session_windows: Vec<String>,
    pub session_days: Vec<i16>,
    pub session_tz: String,
    /// `session_tz`'s offset from UTC now, minutes (read with the row).
    pub session_utc_offset_min: i32,
    pub min_equity: Option<f64>,
    pub min_free_margin: Option<f64>,
    pub pc_account_filter: String,
}

impl StrategyRow {
    /// The PineConnector settings (the columns' CHECKs allow only known values).
    pub fn pine_settings(&self) -> PineSettings {
        PineSettings {
            dialect: AlertDialect::parse(&self.alert_dialect).unwrap_or_default(),
            license_id: self.pineconnector_license_id.clone(),
            volume_type: PcVolumeType::parse(&self.pc_volume_type).unwrap_or_default(),
            target_type: PcTargetType::parse(&self.pc_target_type).unwrap_or_default(),
            pending_entry: PcPendingEntry::parse(&self.pc_pending_entry).unwrap_or_default(),
            account_filter: PcAccountFilter::parse(&self.pc_account_filter).unwrap_or_default(),
        }
    }
}

/// Looks a strategy up by its webhook secret.
pub async fn find_strategy(db: &PgPool, secret: &str) -> Result<Option<StrategyRow>, sqlx::Error> {
    sqlx::query_as::<_, StrategyRow>(
        "select s.id, s.user_id, s.broker_connection_id, s.is_enabled, s.allowed_pairs,
                s.risk_override_pct::float8 as risk_override_pct,
                us.risk_percent::float8 as risk_percent,
                us.daily_loss_limit_pct::float8 as daily_loss_limit_pct,
                us.max_lots::float8 as max_lots,
                s.alert_dialect, s.pineconnector_license_id, s.pc_volume_type,
                s.pc_target_type, s.pc_pending_entry, s.dedup_window_secs,
                s.magic, s.close_scope, s.opposite_entry,
                array(select o.magic from public.tv_strategies o
                       where o.user_id = s.user_id order by o.magic) as owner_magics,
                s.slippage_points, s.max_positions,
                s.max_spread_points::float8 as max_spread_points,
                s.session_windows, s.session_days, s.session_tz,
                (extract(epoch from (now() at time zone s.session_tz)
                                    - (now() at time zone 'UTC')) / 60)::int4
                  as session_utc_offset_min,
                s.min_equity::float8 as min_equity,
                s.min_free_margin::float8 as min_free_margin,
                s.pc_account_filter
           from public.tv_strategies s
           left join public.user_settings us on us.user_id = s.user_id
          where s.webhook_secret = $1",
    )
    .bind(secret)
    .fetch_optional(db)
    .await
}

async fn read_context(
    db: &mut PgConnection,
    st: &StrategyRow,
    symbol: &str,
) -> Result<Context, sqlx::Error> {
    sqlx::query_as::<_, Context>(
        "select
           -- Realised P&L since 00:00 of the trader's day (user_settings.trading_day_tz):
           -- the terminal's closed deals (every close on the account: stop-loss hits,
           -- manual, other EAs') once the agent reports them, else Companion's own
           -- trade events (agents before 0.11).
           case when exists (select 1 from public.broker_deals d
                              where d.broker_connection_id = $2 and d.user_id = $1)
             then (select coalesce(sum(d.net), 0)::float8 from public.broker_deals d
                    where d.broker_connection_id = $2 and d.user_id = $1
                      and d.deal_time >= day.start)
             else (select coalesce(sum(te.profit_loss), 0)::float8
                     from public.trade_events te
                    where te.broker_connection_id = $2 and te.user_id = $1
                      and te.created_at >= day.start)
           end as pnl_today,
           day.tz as trading_day_tz,
           acct.balance,
           coalesce(acct.currency,
                    (select us.account_currency from public.user_settings us where us.user_id = $1))
             as account_currency,
           -- The agent serving the strategy's connection (0017: agent_connections; an
           -- agent's pairing connection counts too).
           (select a.id from public.mt5_agents a
             left join public.agent_connections ac
               on ac.agent_id = a.id and ac.broker_connection_id = $2
             where a.user_id = $1 and (ac.agent_id is not null or a.broker_connection_id = $2)
             order by (a.status = 'online') desc, ac.last_seen desc nulls last,
                      a.last_heartbeat desc nulls last, a.created_at
             limit 1) as agent_id,
           i.pip_size::float8 as pip_size, i.contract_size::float8 as contract_size,
           i.instrument_type
         from (select coalesce((select us.trading_day_tz from public.user_settings us
                                 where us.user_id = $1), 'UTC') as tz) tzs
         cross join lateral (
           select tzs.tz, date_trunc('day', now() at time zone tzs.tz) at time zone tzs.tz as start
         ) day
         left join public.instrument_config i on i.pair = $3
         left join lateral (
           select case when jsonb_typeof(j.output_data -> 'balance') = 'number'
                       then (j.output_data ->> 'balance')::float8 end as balance,
                  j.output_data ->> 'currency' as currency
             from public.jobs j
            where j.job_type = 'get_account' and j.status = 'completed'
              and (j.broker_connection_id = $2
                   or j.broker_connection_id is null
                      and j.agent_id in (select a.id from public.mt5_agents a
                                          where a.broker_connection_id = $2 and a.user_id = $1))
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
    fn of(s: &ParsedSignal) -> Self {
        RowFields {
            symbol: s.symbol.clone(),
            action: s.action,
            price: s.price,
        }
    }

    fn of_rejected(r: &Rejected) -> Self {
        RowFields {
            symbol: r.partial.symbol.clone().unwrap_or_default(),
            action: r.partial.action.unwrap_or(SignalAction::Unknown),
            price: r.partial.price,
        }
    }
}

/// What a body is, before the strategy's state is looked at.
enum Reading {
    /// A signal for the pipeline.
    Signal(Box<ParsedSignal>),
    /// PineConnector `eaon` / `eaoff`.
    SetEnabled(bool),
    Refused(Discard, RowFields),
}

fn read_body(st: &StrategyRow, body: &[u8]) -> Reading {
    match pineconnector::read(body, &st.pine_settings()) {
        None => match parse::parse(body) {
            Ok(s) => Reading::Signal(Box::new(s)),
            Err(r) => {
                let fields = RowFields::of_rejected(&r);
                Reading::Refused(Discard::Parse(r), fields)
            }
        },
        Some(Ok(PineOutcome::Signal(signal))) => Reading::Signal(signal),
        Some(Ok(PineOutcome::SetEnabled(on))) => Reading::SetEnabled(on),
        Some(Err(r)) => {
            let fields = RowFields {
                symbol: r.symbol.clone().unwrap_or_default(),
                action: r.action.unwrap_or(SignalAction::Unknown),
                price: None,
            };
            Reading::Refused(Discard::PineConnector(r), fields)
        }
    }
}

/// Logs one request and, when it is a new actionable signal, queues its job.
/// `ingest_signal` does not NOTIFY (migration 0019): `publisher` sends the signal's
/// and the job's notices after the commit.
pub async fn ingest(
    db: &PgPool,
    publisher: &Publisher,
    st: &StrategyRow,
    body: &[u8],
    trade_ttl_secs: u64,
) -> Result<WebhookResponse, sqlx::Error> {
    let payload = raw_payload(body);
    let signal = match read_body(st, body) {
        // `eaon` is accepted while the strategy is paused.
        Reading::SetEnabled(on) => return set_enabled(db, st, on, &payload).await,
        Reading::Signal(s) if st.is_enabled => *s,
        Reading::Signal(s) => {
            let fields = RowFields::of(&s);
            return log_discarded(db, st, &fields, &payload, Discard::Disabled).await;
        }
        Reading::Refused(_, fields) if !st.is_enabled => {
            return log_discarded(db, st, &fields, &payload, Discard::Disabled).await
        }
        Reading::Refused(d, fields) => return log_discarded(db, st, &fields, &payload, d).await,
    };
    let fields = RowFields::of(&signal);
    let every_symbol = signal.action == SignalAction::Close && signal.close == CloseTarget::All;
    if let Some(pairs) = st
        .allowed_pairs
        .as_ref()
        .filter(|p| !p.is_empty() && !every_symbol)
    {
        if !pairs.iter().any(|p| normalize_symbol(p) == signal.symbol) {
            let d = Discard::PairNotAllowed(signal.symbol.clone());
            return log_discarded(db, st, &fields, &payload, d).await;
        }
    }

    // One connection for the read and the write (one acquire, one release).
    let mut conn = db.acquire().await?;
    let ctx = read_context(&mut conn, st, &signal.symbol).await?;
    let key = DedupKey::for_signal(&signal, body, i64::from(st.dedup_window_secs));
    // Pure, so decided before the one write call; a duplicate still wins over the
    // decision there (its look-up runs under the lock, inside `ingest_signal`).
    let signal_id = Uuid::new_v4();
    let decided = decide(st, &signal, &ctx)
        .map(|(agent_id, plan)| (agent_id, plan.into_input(&signal, signal_id, st)));
    let words = decided
        .as_ref()
        .map(|(_, input)| understood::describe(input, signal.then_pause))
        .unwrap_or_default();
    let stored = store::ingest_signal(
        &mut conn,
        &store::Ingest {
            signal_id,
            strategy_id: st.id,
            user_id: st.user_id,
            symbol: &fields.symbol,
            action: fields.action.as_str(),
            price: fields.price,
            raw_payload: &payload,
            key: &key,
            decision: match &decided {
                Ok((agent_id, input)) => Ok(store::IngestJob {
                    agent_id: *agent_id,
                    input,
                    expires_in: Duration::from_secs(trade_ttl_secs),
                    understood: &words,
                    then_pause: signal.then_pause,
                }),
                Err(d) => Err(d.reason()),
            },
        },
    )
    .await?;
    drop(conn);
    publisher.changed(Kind::Signal, stored.signal_id, st.user_id, Op::Insert);
    if let (Some(job), Ok((agent_id, _))) = (stored.job_id, &decided) {
        publisher.job_pending(job, st.user_id, Some(*agent_id));
        publisher.changed(Kind::Job, job, st.user_id, Op::Insert);
    }
    match (stored.job_id, stored.duplicate_of, &decided) {
        (Some(job), _, _) => {
            tracing::info!(signal_id = %stored.signal_id, strategy_id = %st.id, %job, "signal queued");
        }
        (None, None, Err(d)) => {
            tracing::info!(signal_id = %stored.signal_id, strategy_id = %st.id, reason = d.code(), "signal discarded");
        }
        (None, _, _) => {
            tracing::info!(signal_id = %stored.signal_id, strategy_id = %st.id, reason = "duplicate", "signal discarded");
        }
    }
    Ok(stored.response())
}

/// PineConnector `eaon` / `eaoff`: sets the strategy's `is_enabled` and logs the
/// signal as `executed` with what was done, in one statement (one commit).
async fn set_enabled(
    db: &PgPool,
    st: &StrategyRow,
    on: bool,
    payload: &Value,
) -> Result<WebhookResponse, sqlx::Error> {
    let note = match (on, st.is_enabled) {
        (true, false) => "strategy_resumed: eaon: the strategy was paused and is enabled again",
        (true, true) => "strategy_resumed: eaon: the strategy was already enabled",
        (false, true) => "strategy_paused: eaoff: the strategy is paused; signals are discarded (disabled) until eaon or the app enables it",
        (false, false) => "strategy_paused: eaoff: the strategy was already paused",
    };
    let id: Uuid = sqlx::query_scalar(
        "with switched as (
           update public.tv_strategies set is_enabled = $1 where id = $2
         )
         insert into public.tv_signals
           (strategy_id, user_id, symbol, action, raw_payload, status, error_message, resolved_at,
            understood)
         values ($2, $3, '', 'unknown', $4, 'executed', $5, now(), $6)
         returning id",
    )
    .bind(on)
    .bind(st.id)
    .bind(st.user_id)
    .bind(payload)
    .bind(note)
    .bind(understood::describe_enable(on))
    .fetch_one(db)
    .await?;
    tracing::info!(signal_id = %id, strategy_id = %st.id, enabled = on, "strategy switched by alert");
    Ok(WebhookResponse {
        signal_id: id,
        status: SignalStatus::Executed,
        reason: Some(note.to_string()),
    })
}

/// Logs a request refused before the strategy's state is looked at (disabled,
/// unreadable, pair not allowed): one insert, one commit.
async fn log_discarded(
    db: &PgPool,
    st: &StrategyRow,
    fields: &RowFields,
    payload: &Value,
    discard: Discard,
) -> Result<WebhookResponse, sqlx::Error> {
    let reason = discard.reason();
    let id: Uuid = sqlx::query_scalar(
        "insert into public.tv_signals
           (strategy_id, user_id, symbol, action, price, raw_payload, status, error_message,
            resolved_at)
         values ($1, $2, $3, $4, $5, $6, 'discarded', $7, now())
         returning id",
    )
    .bind(st.id)
    .bind(st.user_id)
    .bind(&fields.symbol)
    .bind(fields.action.as_str())
    .bind(fields.price)
    .bind(payload)
    .bind(&reason)
    .fetch_one(db)
    .await?;
    tracing::info!(signal_id = %id, strategy_id = %st.id, reason = discard.code(), "signal discarded");
    Ok(WebhookResponse {
        signal_id: id,
        status: SignalStatus::Discarded,
        reason: Some(reason),
    })
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
