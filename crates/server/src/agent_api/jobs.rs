//! `GET /agents/{id}/jobs/next?wait=N` (claim, long-poll woken by the NOTIFY fan-out;
//! claims admitted through `admission::AgentGate`, and without a claim when the agent's last claim was
//! empty and nothing was queued since: see `queue::idle`) and
//! `POST /agents/{id}/jobs/{job_id}/result`.

use std::time::Duration;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use companion_protocol::{ApiErrorBody, ClaimedJob, JobResultRequest, ResultAck};
use serde::Deserialize;
use tokio::time::Instant;
use uuid::Uuid;

use crate::auth::AgentAuth;
use crate::config::MAX_LONG_POLL;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::queue::{claim, result};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct NextQuery {
    /// Seconds to wait for a job when none is pending (0–30; larger values are capped).
    #[serde(default)]
    pub wait: Option<f64>,
}

/// Claim the next job: 200 with the job, or 204 when none arrived within `wait` seconds.
#[utoipa::path(get, path = "/api/v1/agents/{id}/jobs/next", tag = "agents",
    params(("id" = Uuid, Path, description = "agent id"), NextQuery),
    security(("agent_key" = [])),
    responses((status = 200, body = ClaimedJob), (status = 204, description = "no job"),
              (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
              (status = 429, body = ApiErrorBody)))]
pub async fn next_job(
    State(state): State<AppState>,
    arrived: Arrived,
    agent: AgentAuth,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<NextQuery>,
) -> Result<Response, ApiError> {
    agent.require(id)?;
    let wait = q.wait.unwrap_or(0.0);
    if !wait.is_finite() || wait < 0.0 {
        return Err(ApiError::invalid(
            "wait must be a number of seconds between 0 and 30",
        ));
    }
    // From the request's arrival: time spent queuing for admission counts as waiting.
    // Clamped before the conversion: `Duration::from_secs_f64` panics on huge values.
    let deadline = arrived.0 + Duration::from_secs_f64(wait.min(MAX_LONG_POLL.as_secs_f64()));
    let wake = state.jobs_notify.for_user(agent.user_id);
    loop {
        // Register for wake-ups BEFORE looking, so a job inserted in between still wakes us.
        let notified = wake.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let mark = state.jobs_notify.mark(&wake);
        let known_empty =
            mark.is_some_and(|m| state.empty_claims.still_empty(id, agent.user_id, m));
        if !known_empty {
            // Boxed (as the key check is): the waiting request's future stays small,
            // the claim's state lives only while it runs (memory per idle long-poll).
            let permit = Box::pin(state.agent_gate.enter()).await?;
            let claimed = Box::pin(claim::claim_next(&state.db, &state.publisher, id)).await;
            drop(permit);
            if claimed.is_err() {
                // It may have held a job locked while another poll's claim came back empty.
                wake.void_marks(&state.jobs_notify);
            }
            match claimed? {
                Some(job) => {
                    state.empty_claims.forget(id);
                    tracing::info!(agent = %id, job = %job.job_id, job_type = %job.job_type, attempt = job.attempt, "job claimed");
                    return Ok(ApiJson(job).into_response());
                }
                None => match mark {
                    Some(m) => state.empty_claims.record(id, agent.user_id, m),
                    None => state.empty_claims.forget(id),
                },
            }
        }
        if Instant::now() >= deadline {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// When the request reached the handler's extractors (taken before authentication,
/// which may queue for admission).
pub struct Arrived(Instant);

impl<S: Send + Sync> FromRequestParts<S> for Arrived {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Arrived(Instant::now()))
    }
}

/// Report a claimed job's result. Only the claiming agent, only while the job runs;
/// the same result again is acknowledged (`duplicate: true`), a different one is 409.
#[utoipa::path(post, path = "/api/v1/agents/{id}/jobs/{job_id}/result", tag = "agents",
    params(("id" = Uuid, Path, description = "agent id"), ("job_id" = Uuid, Path, description = "job id")),
    request_body = JobResultRequest,
    security(("agent_key" = [])),
    responses((status = 200, body = ResultAck),
              (status = 400, description = "output_data does not match the job type", body = ApiErrorBody),
              (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
              (status = 404, body = ApiErrorBody),
              (status = 409, description = "not this agent's running job, or a different result exists", body = ApiErrorBody)))]
pub async fn post_result(
    State(state): State<AppState>,
    agent: AgentAuth,
    ApiPath((id, job_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<JobResultRequest>,
) -> Result<ApiJson<ResultAck>, ApiError> {
    agent.require(id)?;
    let ack = result::submit(&state.db, &state.publisher, agent, job_id, &req).await?;
    tracing::info!(agent = %id, job = %job_id, status = ack.status.as_str(), duplicate = ack.duplicate, "job result");
    Ok(ApiJson(ack))
}
