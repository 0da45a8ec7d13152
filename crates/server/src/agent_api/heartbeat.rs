//! `POST /agents/{id}/heartbeat` (agent status, app version, terminal, and the
//! heartbeat of each running job) and `POST /agents/{id}/prices` (in memory only).

use axum::extract::State;
use axum::http::StatusCode;
use companion_protocol::{AgentStatus, ApiErrorBody, HeartbeatRequest, PricesRequest};
use uuid::Uuid;

use crate::auth::AgentAuth;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

/// Most ticks accepted in one prices request.
const MAX_TICKS: usize = 1000;

#[utoipa::path(post, path = "/api/v1/agents/{id}/heartbeat", tag = "agents",
    params(("id" = Uuid, Path, description = "agent id")),
    request_body = HeartbeatRequest,
    security(("agent_key" = [])),
    responses((status = 204, description = "recorded"), (status = 401, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody)))]
pub async fn heartbeat(
    State(state): State<AppState>,
    agent: AgentAuth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<HeartbeatRequest>,
) -> Result<StatusCode, ApiError> {
    agent.require(id)?;
    let status = match req.status {
        AgentStatus::Online => "online",
        AgentStatus::Paused => "paused",
        AgentStatus::Offline => "offline",
    };
    let terminal = req
        .terminal
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(ApiError::internal)?;
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "update mt5_agents set is_connected = $2, status = $3, last_heartbeat = now(), app_version = $4, \
         terminal_info = coalesce($5, terminal_info), login = coalesce($6, login), \
         terminal_server = coalesce($7, terminal_server), updated_at = now() where id = $1",
    )
    .bind(id)
    .bind(req.status != AgentStatus::Offline)
    .bind(status)
    .bind(&req.app_version)
    .bind(terminal)
    .bind(req.terminal.as_ref().and_then(|t| t.login.clone()))
    .bind(req.terminal.as_ref().and_then(|t| t.server.clone()))
    .execute(&mut *tx)
    .await?;
    if !req.running_jobs.is_empty() {
        sqlx::query(
            "update jobs set heartbeat_at = now() where id = any($1) and agent_id = $2 and status = 'running'",
        )
        .bind(&req.running_jobs)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/agents/{id}/prices", tag = "agents",
    params(("id" = Uuid, Path, description = "agent id")),
    request_body = PricesRequest,
    security(("agent_key" = [])),
    responses((status = 204, description = "published to the owner's event stream"),
              (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody)))]
pub async fn prices(
    State(state): State<AppState>,
    agent: AgentAuth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<PricesRequest>,
) -> Result<StatusCode, ApiError> {
    agent.require(id)?;
    if req.prices.len() > MAX_TICKS {
        return Err(ApiError::invalid(format!(
            "at most {MAX_TICKS} prices per request"
        )));
    }
    if let Some(bad) = req.prices.iter().find(|t| {
        t.symbol.trim().is_empty()
            || t.symbol.len() > 32
            || !t.bid.is_finite()
            || !t.ask.is_finite()
    }) {
        return Err(ApiError::invalid(format!(
            "invalid price for symbol {:?}",
            bad.symbol
        )));
    }
    state
        .prices
        .update(&state.events, agent.user_id, id, req.prices);
    Ok(StatusCode::NO_CONTENT)
}
