//! `GET /api/v1/agents`: the user's agents with their status.

use axum::extract::State;
use chrono::{DateTime, Utc};
use companion_protocol::{AgentStatus, AgentView, ApiErrorBody, TerminalInfo};
use uuid::Uuid;

use crate::auth::UserAuth;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    agent_name: String,
    broker_connection_id: Option<Uuid>,
    status: String,
    is_connected: Option<bool>,
    last_heartbeat: Option<DateTime<Utc>>,
    app_version: Option<String>,
    terminal_info: Option<serde_json::Value>,
    pairing_key_prefix: String,
    created_at: DateTime<Utc>,
}

#[utoipa::path(get, path = "/api/v1/agents", tag = "jobs",
    security(("user_jwt" = []), ("agent_key" = [])),
    responses((status = 200, body = Vec<AgentView>), (status = 401, body = ApiErrorBody)))]
pub async fn list_agents(
    State(state): State<AppState>,
    user: UserAuth,
) -> Result<ApiJson<Vec<AgentView>>, ApiError> {
    let mut tx = state.user_tx(user.user_id).await?;
    let rows: Vec<Row> = sqlx::query_as(
        "select id, agent_name, broker_connection_id, status, is_connected, last_heartbeat, app_version, \
         terminal_info, pairing_key_prefix, created_at from mt5_agents order by created_at, id",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ApiJson(
        rows.into_iter()
            .map(|r| AgentView {
                id: r.id,
                agent_name: r.agent_name,
                broker_connection_id: r.broker_connection_id,
                status: match r.status.as_str() {
                    "online" => AgentStatus::Online,
                    "paused" => AgentStatus::Paused,
                    _ => AgentStatus::Offline,
                },
                is_connected: r.is_connected.unwrap_or(false),
                last_heartbeat: r.last_heartbeat,
                app_version: r.app_version,
                terminal: r
                    .terminal_info
                    .and_then(|v| serde_json::from_value::<TerminalInfo>(v).ok()),
                pairing_key_prefix: r.pairing_key_prefix,
                created_at: r.created_at,
            })
            .collect(),
    ))
}
