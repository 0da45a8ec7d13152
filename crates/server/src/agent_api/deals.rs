//! `POST /agents/{id}/deals`: the closed deals an agent read from its terminal
//! (realised P&L of the whole account: stop-loss and take-profit hits, manual and
//! other EAs' closes). Stored in `broker_deals` under the agent's broker connection,
//! once per deal ticket; the daily loss limit sums them (webhook `read_context`).

use axum::extract::State;
use axum::Json;
use chrono::DateTime;
use companion_protocol::{ApiErrorBody, DealEntry, DealsAccepted, DealsReport, Side};
use uuid::Uuid;

use crate::auth::AgentAuth;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

/// Most deals accepted in one request.
pub const MAX_DEALS: usize = 1000;

fn entry_str(e: DealEntry) -> &'static str {
    match e {
        DealEntry::In => "in",
        DealEntry::Out => "out",
        DealEntry::Inout => "inout",
        DealEntry::OutBy => "out_by",
    }
}

fn finite(field: &str, x: f64) -> Result<f64, ApiError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(ApiError::invalid(format!(
            "{field} must be a finite number"
        )))
    }
}

#[utoipa::path(post, path = "/api/v1/agents/{id}/deals", tag = "agents",
    params(("id" = Uuid, Path, description = "agent id")),
    request_body = DealsReport,
    security(("agent_key" = [])),
    responses((status = 200, body = DealsAccepted), (status = 400, body = ApiErrorBody),
              (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
              (status = 409, description = "The agent serves no broker connection", body = ApiErrorBody)))]
pub async fn deals(
    State(state): State<AppState>,
    agent: AgentAuth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<DealsReport>,
) -> Result<Json<DealsAccepted>, ApiError> {
    agent.require(id)?;
    if req.deals.len() > MAX_DEALS {
        return Err(ApiError::invalid(format!(
            "at most {MAX_DEALS} deals per request"
        )));
    }
    let mut tx = state.db.begin().await?;
    // The agent's owner and connection: deals are filed under them, never under
    // anything the body names.
    let owner: Option<(Uuid, Option<Uuid>)> =
        sqlx::query_as("select user_id, broker_connection_id from public.mt5_agents where id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((user_id, pairing)) = owner else {
        return Err(ApiError::Unauthorized("invalid agent key".into()));
    };
    // Several accounts (0017): a named connection must be one this agent serves.
    let connection = match req.broker_connection_id {
        Some(c) if Some(c) == pairing => Some(c),
        Some(c) => {
            let serves: bool = sqlx::query_scalar(
                "select exists (select 1 from public.agent_connections
                                 where agent_id = $1 and broker_connection_id = $2 and user_id = $3)",
            )
            .bind(id)
            .bind(c)
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
            if !serves {
                return Err(ApiError::Forbidden(
                    "this agent does not serve that broker connection".into(),
                ));
            }
            Some(c)
        }
        None => pairing,
    };
    let Some(connection) = connection else {
        return Err(ApiError::Conflict(
            "this agent serves no broker connection; its deals cannot be filed".into(),
        ));
    };
    let mut stored = 0u32;
    for d in &req.deals {
        let utc = d.time.saturating_sub(req.gmt_offset_secs);
        let deal_time = DateTime::from_timestamp(utc, 0)
            .ok_or_else(|| ApiError::invalid(format!("deal {}: time out of range", d.deal)))?;
        let ticket = i64::try_from(d.deal)
            .map_err(|_| ApiError::invalid(format!("deal ticket {} out of range", d.deal)))?;
        let done = sqlx::query(
            "insert into public.broker_deals
               (broker_connection_id, deal, user_id, agent_id, order_id, position_id, symbol, side,
                entry, volume, price, profit, swap, commission, fee, net, magic, comment,
                server_time, deal_time)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                     $18, $19, $20)
             on conflict (broker_connection_id, deal) do nothing",
        )
        .bind(connection)
        .bind(ticket)
        .bind(user_id)
        .bind(id)
        .bind(i64::try_from(d.order).unwrap_or(0))
        .bind(i64::try_from(d.position).unwrap_or(0))
        .bind(d.symbol.chars().take(64).collect::<String>())
        .bind(match d.side {
            Side::Buy => "buy",
            Side::Sell => "sell",
        })
        .bind(entry_str(d.entry))
        .bind(finite("volume", d.volume)?)
        .bind(finite("price", d.price)?)
        .bind(finite("profit", d.profit)?)
        .bind(finite("swap", d.swap)?)
        .bind(finite("commission", d.commission)?)
        .bind(finite("fee", d.fee)?)
        .bind(finite("net", d.net())?)
        .bind(d.magic)
        .bind(d.comment.chars().take(256).collect::<String>())
        .bind(d.time)
        .bind(deal_time)
        .execute(&mut *tx)
        .await?;
        stored += u32::try_from(done.rows_affected()).unwrap_or(0);
    }
    tx.commit().await?;
    if stored > 0 {
        tracing::info!(agent_id = %id, stored, "closed deals recorded");
    }
    Ok(Json(DealsAccepted { stored }))
}
