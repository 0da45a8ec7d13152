//! Pairing (create an agent and its key), key rotation and agent deletion. Pairing
//! needs the user's own token; an agent key may rotate or delete only its own agent
//! (docs/api.md, "Security model"). Users cannot write the key columns themselves
//! (migration 0009), so pairing and rotation write them as the server role, scoped
//! explicitly to the caller (`user_id = $caller`); deletion runs under RLS.
//! Rotation and deletion drop the agent's cached key verifications and end its
//! event streams.

use axum::extract::State;
use axum::http::StatusCode;
use companion_protocol::{ApiErrorBody, PairRequest, PairResponse};
use uuid::Uuid;

use crate::agents;
use crate::auth::UserAuth;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

/// Longest agent name accepted.
const MAX_NAME: usize = 100;

/// Pair a new agent: returns its id and pairing key, shown only this once.
#[utoipa::path(post, path = "/api/v1/agents/pair", tag = "agents",
    request_body = PairRequest,
    security(("user_jwt" = []), ("agent_key" = [])),
    responses((status = 201, body = PairResponse),
              (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
              (status = 403, description = "agent keys cannot pair new agents", body = ApiErrorBody),
              (status = 404, description = "broker connection not found", body = ApiErrorBody)))]
pub async fn pair(
    State(state): State<AppState>,
    user: UserAuth,
    ApiJson(req): ApiJson<PairRequest>,
) -> Result<(StatusCode, ApiJson<PairResponse>), ApiError> {
    user.require_user_token("pair a new agent")?;
    let name = req
        .agent_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("Companion agent")
        .to_string();
    if name.chars().count() > MAX_NAME {
        return Err(ApiError::invalid(format!(
            "agent_name is longer than {MAX_NAME} characters"
        )));
    }
    let mut tx = state.db.begin().await?;
    let issued = agents::create_agent(
        &mut tx,
        user.user_id,
        req.broker_connection_id,
        &name,
        state.config.bcrypt_cost,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(agent = %issued.agent_id, prefix = %issued.pairing_key_prefix, "agent paired");
    Ok((
        StatusCode::CREATED,
        ApiJson(PairResponse {
            agent_id: issued.agent_id,
            agent_name: issued.agent_name,
            pairing_key: issued.pairing_key,
        }),
    ))
}

/// Replace an agent's pairing key; the old key stops working at once.
#[utoipa::path(post, path = "/api/v1/agents/{id}/rotate-key", tag = "agents",
    params(("id" = Uuid, Path, description = "agent id")),
    security(("user_jwt" = []), ("agent_key" = [])),
    responses((status = 200, body = PairResponse), (status = 401, body = ApiErrorBody),
              (status = 403, description = "an agent key rotates only its own key", body = ApiErrorBody),
              (status = 404, body = ApiErrorBody)))]
pub async fn rotate_key(
    State(state): State<AppState>,
    user: UserAuth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<ApiJson<PairResponse>, ApiError> {
    user.require_self_or_user(id, "rotate the key of")?;
    let mut tx = state.db.begin().await?;
    let issued = agents::rotate_key(&mut tx, user.user_id, id, state.config.bcrypt_cost).await?;
    tx.commit().await?;
    state.keys.forget_agent(id);
    tracing::info!(agent = %id, prefix = %issued.pairing_key_prefix, "agent key rotated");
    Ok(ApiJson(PairResponse {
        agent_id: issued.agent_id,
        agent_name: issued.agent_name,
        pairing_key: issued.pairing_key,
    }))
}

/// Delete (revoke) an agent.
#[utoipa::path(delete, path = "/api/v1/agents/{id}", tag = "agents",
    params(("id" = Uuid, Path, description = "agent id")),
    security(("user_jwt" = []), ("agent_key" = [])),
    responses((status = 204, description = "deleted"), (status = 401, body = ApiErrorBody),
              (status = 403, description = "an agent key deletes only its own agent", body = ApiErrorBody),
              (status = 404, body = ApiErrorBody)))]
pub async fn delete_agent(
    State(state): State<AppState>,
    user: UserAuth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    user.require_self_or_user(id, "delete")?;
    let mut tx = state.user_tx(user.user_id).await?;
    agents::delete_agent(&mut tx, user.user_id, id).await?;
    tx.commit().await?;
    state.keys.forget_agent(id);
    tracing::info!(agent = %id, "agent deleted");
    Ok(StatusCode::NO_CONTENT)
}
