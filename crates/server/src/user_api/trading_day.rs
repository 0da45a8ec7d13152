//! `GET /api/v1/trading-day`: each of the caller's broker connections' realised P&L
//! since 00:00 of the trader's day (`user_settings.trading_day_tz`) against the daily
//! loss limit, counted the way the webhook's limit counts it (the terminal's closed
//! deals once the agent reports them, else Companion's own closes).
//! `PUT /api/v1/trading-day/time-zone` sets that time zone. Under RLS.

use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use companion_protocol::{TradingDay, TradingDayTimeZone};
use uuid::Uuid;

use crate::auth::UserAuth;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/trading-day", get(list))
        .route("/api/v1/trading-day/time-zone", put(set_time_zone))
}

#[derive(sqlx::FromRow)]
struct Row {
    broker_connection_id: Uuid,
    tz: String,
    day_start: DateTime<Utc>,
    pct: f64,
    from_terminal: bool,
    deals: i64,
    realised: f64,
    balance: Option<f64>,
}

#[utoipa::path(get, path = "/api/v1/trading-day", tag = "strategies", security(("user_jwt" = [])),
    responses((status = 200, body = [TradingDay])))]
pub async fn list(
    State(state): State<AppState>,
    auth: UserAuth,
) -> Result<Json<Vec<TradingDay>>, ApiError> {
    let mut tx = state.user_tx(auth.user_id).await?;
    let rows: Vec<Row> = sqlx::query_as(
        "with settings as (
           select coalesce((select us.trading_day_tz from public.user_settings us where us.user_id = $1), 'UTC') as tz,
                  coalesce((select us.daily_loss_limit_pct::float8 from public.user_settings us
                             where us.user_id = $1), 5.0) as pct
         ), day as (
           select s.tz, s.pct, date_trunc('day', now() at time zone s.tz) at time zone s.tz as day_start
             from settings s
         )
         select bc.id as broker_connection_id, day.tz, day.day_start, day.pct,
                exists (select 1 from public.broker_deals d where d.broker_connection_id = bc.id)
                  as from_terminal,
                (select count(*) from public.broker_deals d
                  where d.broker_connection_id = bc.id and d.deal_time >= day.day_start) as deals,
                case when exists (select 1 from public.broker_deals d where d.broker_connection_id = bc.id)
                  then (select coalesce(sum(d.net), 0)::float8 from public.broker_deals d
                         where d.broker_connection_id = bc.id and d.deal_time >= day.day_start)
                  else (select coalesce(sum(te.profit_loss), 0)::float8 from public.trade_events te
                         where te.broker_connection_id = bc.id and te.created_at >= day.day_start)
                end as realised,
                (select case when jsonb_typeof(j.output_data -> 'balance') = 'number'
                             then (j.output_data ->> 'balance')::float8 end
                   from public.jobs j
                  where j.job_type = 'get_account' and j.status = 'completed'
                    and (j.broker_connection_id = bc.id
                         or j.broker_connection_id is null
                            and j.agent_id in (select a.id from public.mt5_agents a
                                                where a.broker_connection_id = bc.id))
                  order by j.completed_at desc nulls last limit 1) as balance
           from public.broker_connections bc cross join day
          order by bc.created_at, bc.id",
    )
    .bind(auth.user_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| TradingDay {
                broker_connection_id: r.broker_connection_id,
                trading_day_tz: r.tz,
                day_start: r.day_start,
                realised_pnl: r.realised,
                from_terminal: r.from_terminal,
                deals: r.deals,
                loss_limit: r.balance.filter(|b| *b > 0.0).map(|b| b * r.pct / 100.0),
                balance: r.balance,
                daily_loss_limit_pct: r.pct,
            })
            .collect(),
    ))
}

#[utoipa::path(put, path = "/api/v1/trading-day/time-zone", tag = "strategies", security(("user_jwt" = [])),
    request_body = TradingDayTimeZone,
    responses((status = 200, body = TradingDayTimeZone), (status = 400, body = crate::user_api::ErrorDoc)))]
pub async fn set_time_zone(
    State(state): State<AppState>,
    auth: UserAuth,
    ApiJson(req): ApiJson<TradingDayTimeZone>,
) -> Result<Json<TradingDayTimeZone>, ApiError> {
    let tz = req.trading_day_tz.trim().to_string();
    let mut tx = state.user_tx(auth.user_id).await?;
    let known: bool = sqlx::query_scalar("select public.is_time_zone($1)")
        .bind(&tz)
        .fetch_one(&mut *tx)
        .await?;
    if !known {
        return Err(ApiError::invalid(format!(
            "{tz:?} is not a time zone name PostgreSQL knows (use e.g. UTC, Europe/Berlin, America/New_York)"
        )));
    }
    sqlx::query(
        "insert into public.user_settings (user_id, trading_day_tz) values ($1, $2)
         on conflict (user_id) do update set trading_day_tz = excluded.trading_day_tz, updated_at = now()",
    )
    .bind(auth.user_id)
    .bind(&tz)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(TradingDayTimeZone { trading_day_tz: tz }))
}
