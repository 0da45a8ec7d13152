//! `POST /api/v1/jobs`, `GET /api/v1/jobs/{id}`, `GET /api/v1/jobs?limit=`.

use axum::extract::State;
use axum::http::StatusCode;
use companion_protocol::{ApiErrorBody, CreateJobRequest, JobView};
use serde::Deserialize;
use uuid::Uuid;

use super::validate;
use crate::auth::UserAuth;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::queue::{enqueue, view, NewJob};
use crate::state::AppState;

/// Queue a job for one of the user's agents.
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs",
    request_body = CreateJobRequest,
    security(("user_jwt" = []), ("agent_key" = [])),
    responses((status = 201, body = JobView),
              (status = 400, description = "invalid input_data for the job type", body = ApiErrorBody),
              (status = 401, body = ApiErrorBody),
              (status = 403, description = "an agent key queues jobs for its own agent only", body = ApiErrorBody),
              (status = 404, description = "agent, EA version or deployment not found", body = ApiErrorBody)))]
pub async fn create_job(
    State(state): State<AppState>,
    user: UserAuth,
    ApiJson(req): ApiJson<CreateJobRequest>,
) -> Result<(StatusCode, ApiJson<JobView>), ApiError> {
    let mut tx = state.user_tx(user.user_id).await?;
    let job = validate::prepare(&mut tx, &req, state.config.trade_ttl()).await?;
    user.require_self_or_user(job.agent_id, "queue jobs for")?;
    let view = enqueue(
        &mut tx,
        NewJob {
            user_id: user.user_id,
            agent_id: job.agent_id,
            input: &job.input,
            entity: job.entity,
            expires_in: job.expires_in,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(job = %view.id, job_type = %view.job_type, agent = %job.agent_id, "job created");
    Ok((StatusCode::CREATED, ApiJson(view)))
}

/// One job with its result.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = Uuid, Path, description = "job id")),
    security(("user_jwt" = []), ("agent_key" = [])),
    responses((status = 200, body = JobView), (status = 401, body = ApiErrorBody),
              (status = 404, body = ApiErrorBody)))]
pub async fn get_job(
    State(state): State<AppState>,
    user: UserAuth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<ApiJson<JobView>, ApiError> {
    let mut tx = state.user_tx(user.user_id).await?;
    let job = view::fetch(&mut tx, id).await?;
    tx.commit().await?;
    Ok(ApiJson(job.ok_or_else(|| ApiError::not_found("job"))?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// How many jobs (1–200, default 50), newest first.
    #[serde(default)]
    pub limit: Option<i64>,
    /// Only jobs for this agent.
    #[serde(default)]
    pub agent_id: Option<Uuid>,
}

/// The user's recent jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs",
    params(ListQuery),
    security(("user_jwt" = []), ("agent_key" = [])),
    responses((status = 200, body = Vec<JobView>), (status = 400, body = ApiErrorBody),
              (status = 401, body = ApiErrorBody)))]
pub async fn list_jobs(
    State(state): State<AppState>,
    user: UserAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<ApiJson<Vec<JobView>>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit must be 1 to 200"));
    }
    let mut tx = state.user_tx(user.user_id).await?;
    let jobs = view::list(&mut tx, limit, q.agent_id).await?;
    tx.commit().await?;
    Ok(ApiJson(jobs))
}
