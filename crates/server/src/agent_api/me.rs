//! `GET /api/v1/agents/me`: who the key belongs to, so the app can pair from the key alone.

use axum::extract::State;
use companion_protocol::{AgentMe, ApiErrorBody};
use uuid::Uuid;

use crate::auth::AgentAuth;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/agents/me", tag = "agents",
    security(("agent_key" = [])),
    responses((status = 200, body = AgentMe), (status = 401, body = ApiErrorBody),
              (status = 429, body = ApiErrorBody)))]
pub async fn me(
    State(state): State<AppState>,
    agent: AgentAuth,
) -> Result<ApiJson<AgentMe>, ApiError> {
    let row: Option<(String, Option<Uuid>, String, Option<String>)> = sqlx::query_as(
        "select a.agent_name, a.broker_connection_id, a.pairing_key_prefix, p.email \
         from mt5_agents a left join profiles p on p.id = a.user_id where a.id = $1",
    )
    .bind(agent.agent_id)
    .fetch_optional(&state.db)
    .await?;
    let (agent_name, broker_connection_id, pairing_key_prefix, email) =
        row.ok_or_else(|| ApiError::Unauthorized("invalid agent key".into()))?;
    Ok(ApiJson(AgentMe {
        agent_id: agent.agent_id,
        agent_name,
        user_id: agent.user_id,
        email,
        broker_connection_id,
        pairing_key_prefix,
    }))
}
