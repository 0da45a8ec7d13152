//! `/api/v1/signals`: the caller's TradingView signal log, newest first with keyset
//! pagination on `(received_at, id)` and an opaque cursor; one signal with its raw
//! payload and its job. Under RLS.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use companion_protocol::{
    Signal, SignalAction, SignalDetail, SignalPage, SignalQuery, SignalStatus,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::UserAuth;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use crate::webhook::parse::normalize_symbol;

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/signals", get(list))
        .route("/api/v1/signals/{id}", get(get_one))
}

/// A position in the newest-first order: the last item of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub received_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    /// Opaque text: base64url of `<unix micros>:<uuid>`.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}:{}",
            self.received_at.timestamp_micros(),
            self.id
        ))
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        let raw = URL_SAFE_NO_PAD.decode(s.trim()).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (micros, id) = text.split_once(':')?;
        Some(Cursor {
            received_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.parse().ok()?,
        })
    }
}

/// Signal columns (as `Row`), with or without the raw payload.
macro_rules! signal_columns {
    () => {
        "id, strategy_id, symbol, action, price::float8 as price, status, \
     fill_price::float8 as fill_price, broker_order_id, error_message, job_id, received_at, resolved_at, duplicate_of, understood"
    };
}

#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    id: Uuid,
    strategy_id: Uuid,
    symbol: String,
    action: String,
    price: Option<f64>,
    status: String,
    fill_price: Option<f64>,
    broker_order_id: Option<String>,
    error_message: Option<String>,
    job_id: Option<Uuid>,
    received_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    duplicate_of: Option<Uuid>,
    understood: Option<String>,
    #[sqlx(default)]
    raw_payload: Option<serde_json::Value>,
}

pub(crate) fn parse_action(s: &str) -> SignalAction {
    match s {
        "buy" => SignalAction::Buy,
        "sell" => SignalAction::Sell,
        "close" => SignalAction::Close,
        "modify" => SignalAction::Modify,
        "cancel" => SignalAction::Cancel,
        _ => SignalAction::Unknown,
    }
}

pub(crate) fn parse_status(s: &str) -> Option<SignalStatus> {
    Some(match s {
        "pending" => SignalStatus::Pending,
        "executed" => SignalStatus::Executed,
        "failed" => SignalStatus::Failed,
        "discarded" => SignalStatus::Discarded,
        _ => return None,
    })
}

impl From<Row> for Signal {
    fn from(r: Row) -> Signal {
        Signal {
            id: r.id,
            strategy_id: r.strategy_id,
            symbol: r.symbol,
            action: parse_action(&r.action),
            price: r.price,
            status: parse_status(&r.status).unwrap_or(SignalStatus::Pending),
            fill_price: r.fill_price,
            broker_order_id: r.broker_order_id,
            error_message: r.error_message,
            job_id: r.job_id,
            received_at: r.received_at,
            resolved_at: r.resolved_at,
            duplicate_of: r.duplicate_of,
            understood: r.understood,
            raw_payload: r.raw_payload,
        }
    }
}

/// One signal visible to the connection's user (RLS), without its payload.
pub(crate) async fn fetch(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<Signal>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(concat!(
        "select ",
        signal_columns!(),
        " from public.tv_signals where id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Signal::from))
}

/// The signals among `ids` visible to the connection's user (RLS), in one query.
pub(crate) async fn fetch_many(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<Signal>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "select ",
        signal_columns!(),
        " from public.tv_signals where id = any($1)"
    ))
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Signal::from).collect())
}

#[utoipa::path(get, path = "/api/v1/signals", tag = "signals", security(("user_jwt" = [])),
    params(SignalQuery),
    responses((status = 200, body = SignalPage), (status = 400, body = crate::user_api::ErrorDoc)))]
pub async fn list(
    State(state): State<AppState>,
    auth: UserAuth,
    ApiQuery(q): ApiQuery<SignalQuery>,
) -> Result<Json<SignalPage>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    if let Some(s) = &q.status {
        parse_status(s).ok_or_else(|| {
            ApiError::invalid("status must be pending, executed, failed or discarded")
        })?;
    }
    let cursor = match &q.cursor {
        Some(c) => Some(Cursor::decode(c).ok_or_else(|| ApiError::invalid("invalid cursor"))?),
        None => None,
    };
    let symbol = q.symbol.as_deref().map(normalize_symbol);
    let mut tx = state.user_tx(auth.user_id).await?;
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "select ",
        signal_columns!(),
        " from public.tv_signals
          where ($1::uuid is null or strategy_id = $1)
            and ($2::text is null or status = $2)
            and ($3::text is null or symbol = $3)
            and ($4::timestamptz is null or received_at >= $4)
            and ($5::timestamptz is null or received_at < $5)
            and ($6::timestamptz is null or (received_at, id) < ($6, $7::uuid))
          order by received_at desc, id desc
          limit $8"
    ))
    .bind(q.strategy_id)
    .bind(&q.status)
    .bind(symbol)
    .bind(q.from)
    .bind(q.to)
    .bind(cursor.map(|c| c.received_at))
    .bind(cursor.map(|c| c.id))
    .bind(i64::from(limit) + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut items: Vec<Signal> = rows.into_iter().map(Signal::from).collect();
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|s| {
            Cursor {
                received_at: s.received_at,
                id: s.id,
            }
            .encode()
        })
    } else {
        None
    };
    Ok(Json(SignalPage { items, next_cursor }))
}

#[utoipa::path(get, path = "/api/v1/signals/{id}", tag = "signals", security(("user_jwt" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SignalDetail), (status = 404, body = crate::user_api::ErrorDoc)))]
pub async fn get_one(
    State(state): State<AppState>,
    auth: UserAuth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SignalDetail>, ApiError> {
    let mut tx = state.user_tx(auth.user_id).await?;
    let row: Option<Row> = sqlx::query_as(concat!(
        "select ",
        signal_columns!(),
        ", raw_payload from public.tv_signals where id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let signal = Signal::from(row.ok_or_else(|| ApiError::not_found("signal"))?);
    let job = match signal.job_id {
        Some(job_id) => crate::queue::view::fetch(&mut tx, job_id).await?,
        None => None,
    };
    tx.commit().await?;
    Ok(Json(SignalDetail { signal, job }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            received_at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("not a cursor"), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("12:nope")), None);
    }
}
