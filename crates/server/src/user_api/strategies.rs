//! `/api/v1/strategies`: TradingView strategies of the caller (list, get, create with
//! a generated secret, update, delete, rotate the secret). Every query runs under RLS.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use companion_protocol::{
    parse_session_window, AlertDialect, CloseScope, CreateStrategyRequest, OppositeEntry,
    PcAccountFilter, PcPendingEntry, PcTargetType, PcVolumeType, Strategy, StrategyExecution,
    UpdateStrategyRequest, MAX_POSITIONS_CAP, MAX_SESSIONS, MAX_SLIPPAGE_POINTS,
};
use rand::distr::{Alphanumeric, SampleString};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::UserAuth;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use crate::webhook::dedup::DEFAULT_ID_WINDOW_SECS;
use crate::webhook::parse::valid_symbol;
use crate::webhook::pineconnector::is_license_id;

/// Generated webhook secrets: this many base62 characters (~238 bits).
pub const SECRET_LEN: usize = 40;
pub const MAX_NAME_LEN: usize = 100;
pub const MAX_PAIRS: usize = 200;
pub const MIN_RISK_PCT: f64 = 0.1;
pub const MAX_RISK_PCT: f64 = 10.0;
/// Longest de-duplication window (one year; migration 0012's CHECK).
pub const MAX_DEDUP_WINDOW_SECS: i32 = 31_536_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/strategies", get(list).post(create))
        .route(
            "/api/v1/strategies/{id}",
            get(get_one).patch(update).delete(delete),
        )
        .route("/api/v1/strategies/{id}/rotate-secret", post(rotate_secret))
}

/// A fresh webhook secret: 40 base62 characters from the OS-seeded CSPRNG.
pub fn generate_secret() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), SECRET_LEN)
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    broker_connection_id: Uuid,
    allowed_pairs: Option<Vec<String>>,
    risk_override_pct: Option<f64>,
    is_enabled: bool,
    magic: i64,
    close_scope: String,
    opposite_entry: String,
    webhook_secret: String,
    alert_dialect: String,
    pineconnector_license_id: Option<String>,
    pc_volume_type: String,
    pc_target_type: String,
    pc_pending_entry: String,
    dedup_window_secs: i32,
    slippage_points: i32,
    max_positions: Option<i32>,
    max_spread_points: Option<f64>,
    session_windows: Vec<String>,
    session_days: Vec<i16>,
    session_tz: String,
    min_equity: Option<f64>,
    min_free_margin: Option<f64>,
    pc_account_filter: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

macro_rules! strategy_columns {
    () => {
        "id, name, broker_connection_id, allowed_pairs, \
     risk_override_pct::float8 as risk_override_pct, is_enabled, magic, close_scope, opposite_entry, \
     webhook_secret, \
     alert_dialect, pineconnector_license_id, pc_volume_type, pc_target_type, dedup_window_secs, \
     slippage_points, max_positions, max_spread_points::float8 as max_spread_points, \
     session_windows, session_days, session_tz, min_equity::float8 as min_equity, \
     min_free_margin::float8 as min_free_margin, pc_account_filter, pc_pending_entry, \
     created_at, updated_at"
    };
}

impl Row {
    fn into_api(self, base_url: &str) -> Strategy {
        Strategy {
            webhook_url: webhook_url(base_url, &self.webhook_secret),
            id: self.id,
            name: self.name,
            broker_connection_id: self.broker_connection_id,
            allowed_pairs: self.allowed_pairs,
            risk_override_pct: self.risk_override_pct,
            is_enabled: self.is_enabled,
            alert_dialect: AlertDialect::parse(&self.alert_dialect).unwrap_or_default(),
            pineconnector_license_id: self.pineconnector_license_id,
            pc_volume_type: PcVolumeType::parse(&self.pc_volume_type).unwrap_or_default(),
            pc_target_type: PcTargetType::parse(&self.pc_target_type).unwrap_or_default(),
            pc_pending_entry: PcPendingEntry::parse(&self.pc_pending_entry).unwrap_or_default(),
            dedup_window_secs: self.dedup_window_secs,
            magic: self.magic,
            // The table's CHECK constraints allow only known values.
            close_scope: self.close_scope.parse().unwrap_or_default(),
            opposite_entry: self.opposite_entry.parse().unwrap_or_default(),
            execution: StrategyExecution {
                slippage_points: u32::try_from(self.slippage_points).unwrap_or_default(),
                max_positions: self.max_positions.and_then(|m| u32::try_from(m).ok()),
                max_spread_points: self.max_spread_points,
                sessions: self.session_windows,
                session_days: self
                    .session_days
                    .into_iter()
                    .filter_map(|d| u8::try_from(d).ok())
                    .collect(),
                session_tz: self.session_tz,
                min_equity: self.min_equity,
                min_free_margin: self.min_free_margin,
                pc_account_filter: PcAccountFilter::parse(&self.pc_account_filter)
                    .unwrap_or_default(),
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// `{base}/api/v1/webhooks/tv/{secret}`.
pub fn webhook_url(base_url: &str, secret: &str) -> String {
    format!(
        "{}/api/v1/webhooks/tv/{secret}",
        base_url.trim_end_matches('/')
    )
}

fn valid_name(name: &str) -> Result<String, ApiError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > MAX_NAME_LEN {
        return Err(ApiError::invalid(format!(
            "name must be 1 to {MAX_NAME_LEN} characters"
        )));
    }
    Ok(n.to_string())
}

/// Normalises a whitelist; `[]` (or only blanks) means every pair (stored as NULL).
pub fn normalize_pairs(pairs: &[String]) -> Result<Option<Vec<String>>, ApiError> {
    if pairs.len() > MAX_PAIRS {
        return Err(ApiError::invalid(format!("at most {MAX_PAIRS} pairs")));
    }
    let mut out: Vec<String> = Vec::new();
    for raw in pairs.iter().filter(|p| !p.trim().is_empty()) {
        let s = valid_symbol(raw)
            .ok_or_else(|| ApiError::invalid(format!("{raw:?} is not a symbol")))?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

fn valid_risk(r: Option<f64>) -> Result<Option<f64>, ApiError> {
    match r {
        Some(x) if !(MIN_RISK_PCT..=MAX_RISK_PCT).contains(&x) => Err(ApiError::invalid(format!(
            "risk_override_pct must be between {MIN_RISK_PCT} and {MAX_RISK_PCT}"
        ))),
        other => Ok(other),
    }
}

fn valid_license(l: Option<String>) -> Result<Option<String>, ApiError> {
    match l.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(x) if is_license_id(x) => Ok(Some(x.to_string())),
        Some(_) => Err(ApiError::invalid(
            "pineconnector_license_id must be the licence's digits (1 to 32)",
        )),
    }
}

fn valid_window(w: Option<i32>) -> Result<Option<i32>, ApiError> {
    match w {
        Some(x) if !(0..=MAX_DEDUP_WINDOW_SECS).contains(&x) => Err(ApiError::invalid(format!(
            "dedup_window_secs must be 0 (forever) to {MAX_DEDUP_WINDOW_SECS}"
        ))),
        other => Ok(other),
    }
}

/// An execution group checked field by field (the CHECKs of migration 0015 hold
/// the same limits); the time zone is checked against PostgreSQL by [`check_tz`].
pub fn valid_execution(e: &StrategyExecution) -> Result<StrategyExecution, ApiError> {
    let mut e = e.clone();
    if e.slippage_points > MAX_SLIPPAGE_POINTS {
        return Err(ApiError::invalid(format!(
            "execution.slippage_points must be 0 to {MAX_SLIPPAGE_POINTS} points"
        )));
    }
    if let Some(m) = e.max_positions {
        if !(1..=MAX_POSITIONS_CAP).contains(&m) {
            return Err(ApiError::invalid(format!(
                "execution.max_positions must be 1 to {MAX_POSITIONS_CAP}, or null for no cap"
            )));
        }
    }
    if let Some(x) = e.max_spread_points {
        if !(x.is_finite() && x > 0.0 && x <= 1_000_000.0) {
            return Err(ApiError::invalid(
                "execution.max_spread_points must be a positive number of points (at most 1000000), or null for no limit",
            ));
        }
    }
    for (name, v) in [
        ("min_equity", e.min_equity),
        ("min_free_margin", e.min_free_margin),
    ] {
        if v.is_some_and(|x| !(x.is_finite() && (0.0..=1e12).contains(&x))) {
            return Err(ApiError::invalid(format!(
                "execution.{name} must be an amount from 0 (account currency), or null for none"
            )));
        }
    }
    e.sessions = e
        .sessions
        .iter()
        .map(|w| w.trim().replace(' ', ""))
        .filter(|w| !w.is_empty())
        .collect();
    if e.sessions.len() > MAX_SESSIONS {
        return Err(ApiError::invalid(format!(
            "execution.sessions: at most {MAX_SESSIONS} windows"
        )));
    }
    if let Some(bad) = e
        .sessions
        .iter()
        .find(|w| parse_session_window(w).is_none())
    {
        return Err(ApiError::invalid(format!(
            "execution.sessions: {bad:?} is not a window HH:MM-HH:MM (e.g. 08:00-17:00; 22:00-02:00 runs past midnight)"
        )));
    }
    if let Some(d) = e.session_days.iter().find(|d| !(1..=7).contains(*d)) {
        return Err(ApiError::invalid(format!(
            "execution.session_days: {d} is not a weekday (1 = Monday … 7 = Sunday)"
        )));
    }
    e.session_days.sort_unstable();
    e.session_days.dedup();
    e.session_tz = e.session_tz.trim().to_string();
    if e.session_tz.is_empty() {
        e.session_tz = "UTC".into();
    }
    Ok(e)
}

/// 400 unless PostgreSQL knows the execution group's time zone.
async fn check_tz(conn: &mut PgConnection, tz: &str) -> Result<(), ApiError> {
    let known: bool = sqlx::query_scalar("select public.is_time_zone($1)")
        .bind(tz)
        .fetch_one(conn)
        .await?;
    if known {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "execution.session_tz: {tz:?} is not a time zone name PostgreSQL knows (use e.g. UTC, Europe/London, America/New_York)"
        )))
    }
}

/// Binds an execution group's nine columns after `q`'s other parameters (in the
/// order of the columns in [`EXECUTION_COLUMNS`]).
fn bind_execution<'q, O>(
    q: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    e: &StrategyExecution,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    q.bind(i32::try_from(e.slippage_points).unwrap_or(i32::MAX))
        .bind(
            e.max_positions
                .map(|m| i32::try_from(m).unwrap_or(i32::MAX)),
        )
        .bind(e.max_spread_points)
        .bind(e.sessions.clone())
        .bind(
            e.session_days
                .iter()
                .map(|d| i16::from(*d))
                .collect::<Vec<i16>>(),
        )
        .bind(e.session_tz.clone())
        .bind(e.min_equity)
        .bind(e.min_free_margin)
        .bind(e.pc_account_filter.as_str())
}

/// A magic number the strategy may carry: positive (MT5's magic is a ulong; 0 is
/// the magic of manual trades), within PostgreSQL's bigint.
pub fn valid_magic(m: Option<i64>) -> Result<Option<i64>, ApiError> {
    match m {
        Some(x) if x < 1 => Err(ApiError::invalid(format!(
            "magic must be between 1 and {} (0 is the magic of manual trades)",
            i64::MAX
        ))),
        other => Ok(other),
    }
}

/// A unique violation on `(user_id, magic)` as the 409 it is.
fn magic_taken(err: sqlx::Error, magic: Option<i64>) -> ApiError {
    match &err {
        sqlx::Error::Database(db) if db.constraint() == Some("tv_strategies_user_magic_key") => {
            ApiError::Conflict(format!(
                "magic {} is already used by another of your strategies",
                magic.map(|m| m.to_string()).unwrap_or_default()
            ))
        }
        _ => err.into(),
    }
}

/// `opposite_entry = hedge` is refused on a connection whose agent last reported a
/// netting account (one position per symbol: an opposite order would reduce it).
/// Unknown margin mode: accepted here, refused at execution when netting.
async fn check_hedge_allowed(
    conn: &mut PgConnection,
    broker_connection_id: Uuid,
) -> Result<(), ApiError> {
    let mode: Option<String> = sqlx::query_scalar(
        "select a.terminal_info ->> 'margin_mode' from public.mt5_agents a
          where a.broker_connection_id = $1 and a.terminal_info ? 'margin_mode'
          order by a.last_heartbeat desc nulls last limit 1",
    )
    .bind(broker_connection_id)
    .fetch_optional(conn)
    .await?
    .flatten();
    match mode.as_deref() {
        Some(m @ ("netting" | "exchange")) => Err(ApiError::invalid(format!(
            "opposite_entry hedge is impossible: the account of this broker connection is {m} (one position per symbol); use reverse or reject"
        ))),
        _ => Ok(()),
    }
}

/// 404 unless the broker connection is visible to the caller (RLS hides others').
async fn check_broker_connection(conn: &mut PgConnection, id: Uuid) -> Result<(), ApiError> {
    let found: Option<Uuid> =
        sqlx::query_scalar("select id from public.broker_connections where id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    found
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found("broker connection"))
}

#[utoipa::path(get, path = "/api/v1/strategies", tag = "strategies", security(("user_jwt" = [])),
    responses((status = 200, body = [Strategy])))]
pub async fn list(
    State(state): State<AppState>,
    auth: UserAuth,
) -> Result<Json<Vec<Strategy>>, ApiError> {
    let mut tx = state.user_tx(auth.user_id).await?;
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "select ",
        strategy_columns!(),
        " from public.tv_strategies order by created_at, id"
    ))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let base = state.config.public_base_url();
    Ok(Json(rows.into_iter().map(|r| r.into_api(&base)).collect()))
}

#[utoipa::path(get, path = "/api/v1/strategies/{id}", tag = "strategies", security(("user_jwt" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Strategy), (status = 404, body = crate::user_api::ErrorDoc)))]
pub async fn get_one(
    State(state): State<AppState>,
    auth: UserAuth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Strategy>, ApiError> {
    let mut tx = state.user_tx(auth.user_id).await?;
    let row: Option<Row> = sqlx::query_as(concat!(
        "select ",
        strategy_columns!(),
        " from public.tv_strategies where id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let row = row.ok_or_else(|| ApiError::not_found("strategy"))?;
    Ok(Json(row.into_api(&state.config.public_base_url())))
}

#[utoipa::path(post, path = "/api/v1/strategies", tag = "strategies", security(("user_jwt" = [])),
    request_body = CreateStrategyRequest,
    responses((status = 201, body = Strategy), (status = 400, body = crate::user_api::ErrorDoc),
              (status = 404, description = "The broker connection is not the caller's", body = crate::user_api::ErrorDoc)))]
pub async fn create(
    State(state): State<AppState>,
    auth: UserAuth,
    ApiJson(req): ApiJson<CreateStrategyRequest>,
) -> Result<(StatusCode, Json<Strategy>), ApiError> {
    let name = valid_name(&req.name)?;
    let pairs = normalize_pairs(req.allowed_pairs.as_deref().unwrap_or_default())?;
    let risk = valid_risk(req.risk_override_pct)?;
    let magic = valid_magic(req.magic)?;
    let close_scope = req.close_scope.unwrap_or_default();
    let opposite_entry = req.opposite_entry.unwrap_or_default();
    let license = valid_license(req.pineconnector_license_id)?;
    let window = valid_window(req.dedup_window_secs)?;
    let execution = valid_execution(&req.execution.clone().unwrap_or_default())?;
    let mut tx = state.user_tx(auth.user_id).await?;
    check_broker_connection(&mut tx, req.broker_connection_id).await?;
    check_tz(&mut tx, &execution.session_tz).await?;
    if opposite_entry == OppositeEntry::Hedge {
        check_hedge_allowed(&mut tx, req.broker_connection_id).await?;
    }
    let row = sqlx::query_as(concat!("insert into public.tv_strategies
           (user_id, broker_connection_id, name, webhook_secret, risk_override_pct, allowed_pairs, is_enabled,
            magic, close_scope, opposite_entry,
            alert_dialect, pineconnector_license_id, pc_volume_type, pc_target_type, dedup_window_secs,
            slippage_points, max_positions, max_spread_points, session_windows, session_days,
            session_tz, min_equity, min_free_margin, pc_account_filter, pc_pending_entry)
         values ($1, $2, $3, $4, $5::numeric, $6, $7,
                 coalesce($8, nextval('public.tv_strategies_magic_seq')), $9, $10,
                 $11, $12, $13, $14, $15,
                 $16, $17, $18::numeric, $19::text[], $20::smallint[], $21, $22::numeric, $23::numeric, $24, $25)
         returning ", strategy_columns!()))
    .bind(auth.user_id)
    .bind(req.broker_connection_id)
    .bind(&name)
    .bind(generate_secret())
    .bind(risk)
    .bind(pairs)
    .bind(req.is_enabled.unwrap_or(true))
    .bind(magic)
    .bind(close_scope.as_str())
    .bind(opposite_entry.as_str())
    .bind(req.alert_dialect.unwrap_or_default().as_str())
    .bind(license)
    .bind(req.pc_volume_type.unwrap_or_default().as_str())
    .bind(req.pc_target_type.unwrap_or_default().as_str())
    .bind(window.unwrap_or(DEFAULT_ID_WINDOW_SECS as i32));
    let row: Row = bind_execution(row, &execution)
        .bind(req.pc_pending_entry.unwrap_or_default().as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| magic_taken(e, magic))?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(row.into_api(&state.config.public_base_url())),
    ))
}

#[utoipa::path(patch, path = "/api/v1/strategies/{id}", tag = "strategies", security(("user_jwt" = [])),
    params(("id" = Uuid, Path)), request_body = UpdateStrategyRequest,
    responses((status = 200, body = Strategy), (status = 400, body = crate::user_api::ErrorDoc),
              (status = 404, body = crate::user_api::ErrorDoc)))]
pub async fn update(
    State(state): State<AppState>,
    auth: UserAuth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<UpdateStrategyRequest>,
) -> Result<Json<Strategy>, ApiError> {
    let name = req.name.as_deref().map(valid_name).transpose()?;
    let pairs = match &req.allowed_pairs {
        None => None,
        Some(None) => Some(None),
        Some(Some(p)) => Some(normalize_pairs(p)?),
    };
    let risk = match req.risk_override_pct {
        None => None,
        Some(r) => Some(valid_risk(r)?),
    };
    let magic = valid_magic(req.magic)?;
    let license = match req.pineconnector_license_id {
        None => None,
        Some(l) => Some(valid_license(l)?),
    };
    let window = valid_window(req.dedup_window_secs)?;
    let execution = req.execution.as_ref().map(valid_execution).transpose()?;
    let mut tx = state.user_tx(auth.user_id).await?;
    if let Some(bc) = req.broker_connection_id {
        check_broker_connection(&mut tx, bc).await?;
    }
    if let Some(e) = &execution {
        check_tz(&mut tx, &e.session_tz).await?;
    }
    let row = sqlx::query_as(concat!(
        "update public.tv_strategies set
           name = coalesce($2, name),
           broker_connection_id = coalesce($3, broker_connection_id),
           allowed_pairs = case when $4 then $5::text[] else allowed_pairs end,
           risk_override_pct = case when $6 then $7::numeric else risk_override_pct end,
           is_enabled = coalesce($8, is_enabled),
           magic = coalesce($9, magic),
           close_scope = coalesce($10, close_scope),
           opposite_entry = coalesce($11, opposite_entry),
           alert_dialect = coalesce($12, alert_dialect),
           pineconnector_license_id = case when $13 then $14 else pineconnector_license_id end,
           pc_volume_type = coalesce($15, pc_volume_type),
           pc_target_type = coalesce($16, pc_target_type),
           dedup_window_secs = coalesce($17, dedup_window_secs),
           slippage_points = case when $18 then $19 else slippage_points end,
           max_positions = case when $18 then $20 else max_positions end,
           max_spread_points = case when $18 then $21::numeric else max_spread_points end,
           session_windows = case when $18 then $22::text[] else session_windows end,
           session_days = case when $18 then $23::smallint[] else session_days end,
           session_tz = case when $18 then $24 else session_tz end,
           min_equity = case when $18 then $25::numeric else min_equity end,
           min_free_margin = case when $18 then $26::numeric else min_free_margin end,
           pc_account_filter = case when $18 then $27 else pc_account_filter end,
           pc_pending_entry = coalesce($28, pc_pending_entry),
           updated_at = now()
         where id = $1
         returning ",
        strategy_columns!()
    ))
    .bind(id)
    .bind(name)
    .bind(req.broker_connection_id)
    .bind(pairs.is_some())
    .bind(pairs.flatten())
    .bind(risk.is_some())
    .bind(risk.flatten())
    .bind(req.is_enabled)
    .bind(magic)
    .bind(req.close_scope.map(CloseScope::as_str))
    .bind(req.opposite_entry.map(OppositeEntry::as_str))
    .bind(req.alert_dialect.map(AlertDialect::as_str))
    .bind(license.is_some())
    .bind(license.flatten())
    .bind(req.pc_volume_type.map(PcVolumeType::as_str))
    .bind(req.pc_target_type.map(PcTargetType::as_str))
    .bind(window)
    .bind(execution.is_some());
    let row: Option<Row> = bind_execution(row, &execution.unwrap_or_default())
        .bind(req.pc_pending_entry.map(PcPendingEntry::as_str))
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| magic_taken(e, magic))?;
    // Checked after the update, in the same transaction: the row's final broker
    // connection and mode decide (nothing is committed when refused).
    if let Some(r) = row.as_ref().filter(|r| r.opposite_entry == "hedge") {
        check_hedge_allowed(&mut tx, r.broker_connection_id).await?;
    }
    tx.commit().await?;
    let row = row.ok_or_else(|| ApiError::not_found("strategy"))?;
    Ok(Json(row.into_api(&state.config.public_base_url())))
}

#[utoipa::path(delete, path = "/api/v1/strategies/{id}", tag = "strategies", security(("user_jwt" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted with its signal log"), (status = 404, body = crate::user_api::ErrorDoc)))]
pub async fn delete(
    State(state): State<AppState>,
    auth: UserAuth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let mut tx = state.user_tx(auth.user_id).await?;
    let done = sqlx::query("delete from public.tv_strategies where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found("strategy"));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/strategies/{id}/rotate-secret", tag = "strategies", security(("user_jwt" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "The strategy with its new webhook URL; the old URL stops working", body = Strategy),
              (status = 404, body = crate::user_api::ErrorDoc)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: UserAuth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Strategy>, ApiError> {
    let mut tx = state.user_tx(auth.user_id).await?;
    let row: Option<Row> = sqlx::query_as(concat!(
        "update public.tv_strategies set webhook_secret = $2, updated_at = now()
          where id = $1 returning ",
        strategy_columns!()
    ))
    .bind(id)
    .bind(generate_secret())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let row = row.ok_or_else(|| ApiError::not_found("strategy"))?;
    Ok(Json(row.into_api(&state.config.public_base_url())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_base62_and_distinct() {
        let a = generate_secret();
        assert_eq!(a.len(), SECRET_LEN);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, generate_secret());
    }

    #[test]
    fn pairs_are_normalised_and_deduplicated() {
        let p =
            normalize_pairs(&["OANDA:EURUSD".into(), "eurusd".into(), "XAUUSD.m".into()]).unwrap();
        assert_eq!(p, Some(vec!["EURUSD".to_string(), "XAUUSD".to_string()]));
        assert_eq!(normalize_pairs(&[]).unwrap(), None);
        assert!(normalize_pairs(&["!!".into()]).is_err());
    }

    #[test]
    fn magic_must_be_positive() {
        assert!(valid_magic(Some(0)).is_err());
        assert!(valid_magic(Some(-5)).is_err());
        assert_eq!(valid_magic(Some(1)).unwrap(), Some(1));
        assert_eq!(valid_magic(Some(i64::MAX)).unwrap(), Some(i64::MAX));
        assert_eq!(valid_magic(None).unwrap(), None);
    }
}
