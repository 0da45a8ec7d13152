//! `/api/v1/broker-connections/{id}/symbol-overrides`: the trader's choice of
//! broker symbol for a canonical instrument (`XAUUSD` → `GOLD.pro`), per broker
//! connection. The agent serving the connection loads them (with its agent key)
//! and applies them before its own symbol resolution. Every query runs under RLS:
//! another user's connection answers 404.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use companion_protocol::symbols::{SetSymbolOverride, SymbolOverride};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::UserAuth;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use crate::webhook::parse::valid_symbol;

/// Longest broker symbol (MT5 allows 31 characters; the agent API's limit is 32).
pub const MAX_BROKER_SYMBOL_LEN: usize = 32;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/broker-connections/{id}/symbol-overrides",
            get(list),
        )
        .route(
            "/api/v1/broker-connections/{id}/symbol-overrides/{canonical}",
            put(set).delete(delete),
        )
}

#[derive(sqlx::FromRow)]
struct Row {
    canonical: String,
    broker_symbol: String,
    updated_at: DateTime<Utc>,
}

impl From<Row> for SymbolOverride {
    fn from(r: Row) -> Self {
        SymbolOverride {
            canonical: r.canonical,
            broker_symbol: r.broker_symbol,
            updated_at: r.updated_at,
        }
    }
}

/// 404 unless the connection is visible to the caller (RLS).
async fn require_connection(conn: &mut PgConnection, id: Uuid) -> Result<(), ApiError> {
    let found: Option<Uuid> =
        sqlx::query_scalar("select id from public.broker_connections where id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    found
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found("broker connection"))
}

/// The canonical name in a path (any spelling: `OANDA:XAUUSD`, `gold`), or 400.
fn canonical(raw: &str) -> Result<String, ApiError> {
    valid_symbol(raw).ok_or_else(|| ApiError::invalid(format!("{raw:?} is not a symbol")))
}

/// A broker symbol as MT5 spells it: 1–32 printable characters, no spaces.
fn broker_symbol(raw: &str) -> Result<String, ApiError> {
    let s = raw.trim();
    let ok = !s.is_empty()
        && s.len() <= MAX_BROKER_SYMBOL_LEN
        && s.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(s.to_string())
    } else {
        Err(ApiError::invalid(format!(
            "broker_symbol must be 1 to {MAX_BROKER_SYMBOL_LEN} printable characters without spaces"
        )))
    }
}

#[utoipa::path(get, path = "/api/v1/broker-connections/{id}/symbol-overrides", tag = "broker-connections",
    security(("user_jwt" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = [SymbolOverride]), (status = 404, body = crate::user_api::ErrorDoc)))]
pub async fn list(
    State(state): State<AppState>,
    auth: UserAuth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Vec<SymbolOverride>>, ApiError> {
    let mut tx = state.user_tx(auth.user_id).await?;
    require_connection(&mut tx, id).await?;
    let rows: Vec<Row> = sqlx::query_as(
        "select canonical, broker_symbol, updated_at from public.broker_symbol_overrides
          where broker_connection_id = $1 order by canonical",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

#[utoipa::path(put, path = "/api/v1/broker-connections/{id}/symbol-overrides/{canonical}", tag = "broker-connections",
    security(("user_jwt" = [])), params(("id" = Uuid, Path), ("canonical" = String, Path)),
    request_body = SetSymbolOverride,
    responses((status = 200, body = SymbolOverride), (status = 400, body = crate::user_api::ErrorDoc),
              (status = 404, body = crate::user_api::ErrorDoc)))]
pub async fn set(
    State(state): State<AppState>,
    auth: UserAuth,
    ApiPath((id, raw)): ApiPath<(Uuid, String)>,
    ApiJson(req): ApiJson<SetSymbolOverride>,
) -> Result<Json<SymbolOverride>, ApiError> {
    let canonical = canonical(&raw)?;
    let symbol = broker_symbol(&req.broker_symbol)?;
    let mut tx = state.user_tx(auth.user_id).await?;
    require_connection(&mut tx, id).await?;
    let row: Row = sqlx::query_as(
        "insert into public.broker_symbol_overrides (broker_connection_id, canonical, broker_symbol)
         values ($1, $2, $3)
         on conflict (broker_connection_id, canonical)
           do update set broker_symbol = excluded.broker_symbol
         returning canonical, broker_symbol, updated_at",
    )
    .bind(id)
    .bind(&canonical)
    .bind(&symbol)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(row.into()))
}

#[utoipa::path(delete, path = "/api/v1/broker-connections/{id}/symbol-overrides/{canonical}", tag = "broker-connections",
    security(("user_jwt" = [])), params(("id" = Uuid, Path), ("canonical" = String, Path)),
    responses((status = 204, description = "Cleared: the agent resolves the symbol itself again"),
              (status = 404, body = crate::user_api::ErrorDoc)))]
pub async fn delete(
    State(state): State<AppState>,
    auth: UserAuth,
    ApiPath((id, raw)): ApiPath<(Uuid, String)>,
) -> Result<StatusCode, ApiError> {
    let canonical = canonical(&raw)?;
    let mut tx = state.user_tx(auth.user_id).await?;
    require_connection(&mut tx, id).await?;
    let done = sqlx::query(
        "delete from public.broker_symbol_overrides where broker_connection_id = $1 and canonical = $2",
    )
    .bind(id)
    .bind(&canonical)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found("symbol override"));
    }
    Ok(StatusCode::NO_CONTENT)
}
