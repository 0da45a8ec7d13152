//! `POST /api/v1/jobs`, `GET /api/v1/jobs/{id}`, `GET /api/v1/jobs?limit=`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use companion_protocol::{ApiErrorBody, CreateJobRequest, JobType, JobView};
use serde::Deserialize;
use uuid::Uuid;

use super::validate;
use crate::auth::UserAuth;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::queue::parse_status;
use crate::state::AppState;

const VIEW_COLUMNS: &str =
    "id, job_type, status, agent_id, input_data, output_data, error_message, attempts, \
     expires_at, created_at, claimed_at, completed_at";

#[derive(sqlx::FromRow)]
struct ViewRow {
    id: Uuid,
    job_type: String,
    status: String,
    agent_id: Option<Uuid>,
    input_data: Option<serde_json::Value>,
    output_data: Option<serde_json::Value>,
    error_message: Option<String>,
    attempts: i32,
    expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    claimed_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
}

impl TryFrom<ViewRow> for JobView {
    type Error = ApiError;
    fn try_from(r: ViewRow) -> Result<Self, ApiError> {
        let bad =
            |what: &str| ApiError::internal(anyhow::anyhow!("job {} has an unknown {what}", r.id));
        Ok(JobView {
            id: r.id,
            job_type: r.job_type.parse::<JobType>().map_err(|_| bad("type"))?,
            status: parse_status(&r.status).ok_or_else(|| bad("status"))?,
            agent_id: r.agent_id,
            input_data: r.input_data.unwrap_or_else(|| serde_json::json!({})),
            output_data: r.output_data,
            error_message: r.error_message,
            attempts: r.attempts,
            expires_at: r.expires_at,
            created_at: r.created_at,
            claimed_at: r.claimed_at,
            completed_at: r.completed_at,
        })
    }
}

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
    let row: ViewRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into jobs (user_id, job_type, status, agent_id, entity_type, entity_id, input_data, expires_at) \
         values ($1, $2, 'pending', $3, $4, $5, $6, $7) returning {VIEW_COLUMNS}"
    )))
    .bind(user.user_id)
    .bind(job.job_type.as_str())
    .bind(job.agent_id)
    .bind(job.entity_type)
    .bind(job.entity_id)
    .bind(&job.input)
    .bind(job.expires_at)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(job = %row.id, job_type = %job.job_type, agent = %job.agent_id, "job created");
    Ok((StatusCode::CREATED, ApiJson(row.try_into()?)))
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
    let row: Option<ViewRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {VIEW_COLUMNS} from jobs where id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ApiJson(
        row.ok_or_else(|| ApiError::not_found("job"))?.try_into()?,
    ))
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
    let rows: Vec<ViewRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {VIEW_COLUMNS} from jobs where ($2::uuid is null or agent_id = $2) \
         order by created_at desc, id desc limit $1"
    )))
    .bind(limit)
    .bind(q.agent_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ApiJson(
        rows.into_iter()
            .map(JobView::try_from)
            .collect::<Result<_, _>>()?,
    ))
}
