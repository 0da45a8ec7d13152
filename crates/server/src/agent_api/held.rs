//! `GET /api/v1/agents/{id}/jobs/held`: the jobs the server believes this agent holds
//! (running, claimed by it). An agent asks at start and after a long-poll that failed
//! in flight, so a job claimed just before a crash — or whose claim response was lost —
//! comes back to it at once instead of waiting for the stale-claim sweeper.

use axum::extract::State;
use companion_protocol::{ApiErrorBody, ClaimedJob};
use uuid::Uuid;

use crate::auth::AgentAuth;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::queue::claim;
use crate::state::AppState;

/// The running jobs claimed by this agent, oldest claim first; each one's job heartbeat
/// is refreshed (the agent is taking it back).
#[utoipa::path(get, path = "/api/v1/agents/{id}/jobs/held", tag = "agents",
    params(("id" = Uuid, Path, description = "agent id")),
    security(("agent_key" = [])),
    responses((status = 200, body = Vec<ClaimedJob>),
              (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)))]
pub async fn held_jobs(
    State(state): State<AppState>,
    agent: AgentAuth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<ApiJson<Vec<ClaimedJob>>, ApiError> {
    agent.require(id)?;
    let jobs = claim::held_by(&state.db, id, agent.user_id).await?;
    if !jobs.is_empty() {
        tracing::info!(agent = %id, jobs = jobs.len(), "held jobs handed back");
    }
    Ok(ApiJson(jobs))
}
