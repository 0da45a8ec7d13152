//! EA projects and versions of the caller: list projects and versions, read a
//! version's source, switch a project's `current_version_id` (only to a version of
//! the same project), and queue compile / deploy / test jobs for a version on one
//! of the caller's agents. Under RLS.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use companion_protocol::{
    CompileInput, DeployInput, EaProject, EaVersion, EaVersionSource, EaVersionStatus, JobInput,
    JobType, QueueCompileRequest, QueueDeployRequest, QueueTestRequest, QueuedJob,
    SetCurrentVersionRequest, TestInput,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::UserAuth;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::queue::{enqueue, Entity, NewJob};
use crate::state::AppState;
use crate::webhook::parse::legacy_normalize_symbol;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ea-projects", get(list_projects))
        .route("/api/v1/ea-projects/{id}/versions", get(list_versions))
        .route(
            "/api/v1/ea-projects/{id}/current-version",
            put(set_current_version),
        )
        .route("/api/v1/ea-versions/{id}/source", get(version_source))
        .route("/api/v1/ea-versions/{id}/compile", post(queue_compile))
        .route("/api/v1/ea-versions/{id}/deploy", post(queue_deploy))
        .route("/api/v1/ea-versions/{id}/test", post(queue_test))
}

#[derive(sqlx::FromRow)]
struct ProjectRow {
    id: Uuid,
    name: String,
    description: Option<String>,
    current_version_id: Option<Uuid>,
    latest_version_number: Option<i32>,
    version_count: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ProjectRow> for EaProject {
    fn from(r: ProjectRow) -> Self {
        EaProject {
            id: r.id,
            name: r.name,
            description: r.description,
            current_version_id: r.current_version_id,
            latest_version_number: r.latest_version_number,
            version_count: r.version_count,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

macro_rules! project_select {
    () => {
        "select p.id, p.name, p.description, p.current_version_id,
        (select max(v.version_number)::int4 from public.ea_versions v where v.ea_project_id = p.id)
          as latest_version_number,
        (select count(*) from public.ea_versions v where v.ea_project_id = p.id) as version_count,
        p.created_at, p.updated_at
   from public.ea_projects p"
    };
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    id: Uuid,
    ea_project_id: Uuid,
    version_number: i32,
    status: String,
    compilation_error: Option<String>,
    is_current: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn version_status(s: &str) -> EaVersionStatus {
    match s {
        "compiling" => EaVersionStatus::Compiling,
        "compiled" => EaVersionStatus::Compiled,
        "failed" => EaVersionStatus::Failed,
        _ => EaVersionStatus::Draft,
    }
}

impl From<VersionRow> for EaVersion {
    fn from(r: VersionRow) -> Self {
        EaVersion {
            id: r.id,
            ea_project_id: r.ea_project_id,
            version_number: r.version_number,
            status: version_status(&r.status),
            compilation_error: r.compilation_error,
            is_current: r.is_current,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/ea-projects", tag = "ea", security(("user_jwt" = [])),
    responses((status = 200, body = [EaProject])))]
pub async fn list_projects(
    State(state): State<AppState>,
    auth: UserAuth,
) -> Result<Json<Vec<EaProject>>, ApiError> {
    let mut tx = state.user_tx(auth.user_id).await?;
    let rows: Vec<ProjectRow> = sqlx::query_as(concat!(
        project_select!(),
        " order by p.updated_at desc, p.id"
    ))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(rows.into_iter().map(EaProject::from).collect()))
}

async fn project_exists(conn: &mut PgConnection, id: Uuid) -> Result<(), ApiError> {
    let found: Option<Uuid> = sqlx::query_scalar("select id from public.ea_projects where id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    found
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found("EA project"))
}

#[utoipa::path(get, path = "/api/v1/ea-projects/{id}/versions", tag = "ea", security(("user_jwt" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = [EaVersion]), (status = 404, body = crate::user_api::ErrorDoc)))]
pub async fn list_versions(
    State(state): State<AppState>,
    auth: UserAuth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Vec<EaVersion>>, ApiError> {
    let mut tx = state.user_tx(auth.user_id).await?;
    project_exists(&mut tx, id).await?;
    let rows: Vec<VersionRow> = sqlx::query_as(
        "select v.id, v.ea_project_id, v.version_number::int4 as version_number, v.status,
                v.compilation_error, (p.current_version_id is not distinct from v.id) as is_current,
                v.created_at, v.updated_at
           from public.ea_versions v join public.ea_projects p on p.id = v.ea_project_id
          where v.ea_project_id = $1
          order by v.version_number desc",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(rows.into_iter().map(EaVersion::from).collect()))
}

#[utoipa::path(put, path = "/api/v1/ea-projects/{id}/current-version", tag = "ea", security(("user_jwt" = [])),
    params(("id" = Uuid, Path)), request_body = SetCurrentVersionRequest,
    responses((status = 200, body = EaProject),
              (status = 404, description = "No such project, or the version is not one of its versions", body = crate::user_api::ErrorDoc)))]
pub async fn set_current_version(
    State(state): State<AppState>,
    auth: UserAuth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<SetCurrentVersionRequest>,
) -> Result<Json<EaProject>, ApiError> {
    let mut tx = state.user_tx(auth.user_id).await?;
    project_exists(&mut tx, id).await?;
    let updated: Option<Uuid> = sqlx::query_scalar(
        "update public.ea_projects p set current_version_id = $2, updated_at = now()
          where p.id = $1
            and exists (select 1 from public.ea_versions v where v.id = $2 and v.ea_project_id = $1)
          returning p.id",
    )
    .bind(id)
    .bind(req.current_version_id)
    .fetch_optional(&mut *tx)
    .await?;
    if updated.is_none() {
        return Err(ApiError::NotFound(
            "version not found in this EA project".into(),
        ));
    }
    let row: ProjectRow = sqlx::query_as(concat!(project_select!(), " where p.id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Json(row.into()))
}

#[derive(sqlx::FromRow)]
struct VersionBrief {
    id: Uuid,
    ea_project_id: Uuid,
    version_number: i32,
    status: String,
    source_code: Option<String>,
}

async fn version(conn: &mut PgConnection, id: Uuid) -> Result<VersionBrief, ApiError> {
    let row: Option<VersionBrief> = sqlx::query_as(
        "select id, ea_project_id, version_number::int4 as version_number, status, source_code
           from public.ea_versions where id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.ok_or_else(|| ApiError::not_found("EA version"))
}

#[utoipa::path(get, path = "/api/v1/ea-versions/{id}/source", tag = "ea", security(("user_jwt" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = EaVersionSource), (status = 404, body = crate::user_api::ErrorDoc)))]
pub async fn version_source(
    State(state): State<AppState>,
    auth: UserAuth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<EaVersionSource>, ApiError> {
    let mut tx = state.user_tx(auth.user_id).await?;
    let v = version(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(EaVersionSource {
        id: v.id,
        ea_project_id: v.ea_project_id,
        version_number: v.version_number,
        source_code: v.source_code.unwrap_or_default(),
    }))
}

/// 404 unless the agent is one of the caller's.
async fn agent_exists(conn: &mut PgConnection, id: Uuid) -> Result<(), ApiError> {
    let found: Option<Uuid> = sqlx::query_scalar("select id from public.mt5_agents where id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    found
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found("agent"))
}

/// Queues `input` for `agent_id` in the caller's transaction; its id.
async fn queue_job(
    conn: &mut PgConnection,
    user_id: Uuid,
    agent_id: Uuid,
    entity: Entity,
    input: JobInput,
) -> Result<Uuid, ApiError> {
    let job = enqueue(
        conn,
        NewJob {
            user_id,
            agent_id,
            input: &input,
            entity: Some(entity),
            expires_in: None,
        },
    )
    .await?;
    Ok(job.id)
}

fn require_compiled(v: &VersionBrief) -> Result<(), ApiError> {
    if version_status(&v.status) == EaVersionStatus::Compiled {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "version {} is {}: compile it first",
            v.version_number, v.status
        )))
    }
}

/// Opens the caller's transaction and loads the version and the target agent (404 unless
/// both are the caller's): the common start of every queue-a-job route.
async fn begin_queue(
    state: &AppState,
    auth: &UserAuth,
    version_id: Uuid,
    agent_id: Uuid,
) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, VersionBrief), ApiError> {
    auth.require_self_or_user(agent_id, "queue jobs for")?;
    let mut tx = state.user_tx(auth.user_id).await?;
    let v = version(&mut tx, version_id).await?;
    agent_exists(&mut tx, agent_id).await?;
    Ok((tx, v))
}

/// The 201 answer of a queue-a-job route.
fn queued(
    job_id: Uuid,
    job_type: JobType,
    agent_id: Uuid,
    deployment_id: Option<Uuid>,
) -> (StatusCode, Json<QueuedJob>) {
    (
        StatusCode::CREATED,
        Json(QueuedJob {
            job_id,
            job_type,
            agent_id,
            deployment_id,
        }),
    )
}

/// The normalised symbol of a request, or 400.
fn required_symbol(raw: &str) -> Result<String, ApiError> {
    // The chart symbol at the broker: only the exchange prefix and suffix go, no aliases.
    let symbol = legacy_normalize_symbol(raw);
    if symbol.len() < 2 {
        return Err(ApiError::invalid("symbol is required"));
    }
    Ok(symbol)
}

#[utoipa::path(post, path = "/api/v1/ea-versions/{id}/compile", tag = "ea", security(("user_jwt" = [])),
    params(("id" = Uuid, Path)), request_body = QueueCompileRequest,
    responses((status = 201, body = QueuedJob), (status = 404, body = crate::user_api::ErrorDoc)))]
pub async fn queue_compile(
    State(state): State<AppState>,
    auth: UserAuth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<QueueCompileRequest>,
) -> Result<(StatusCode, Json<QueuedJob>), ApiError> {
    let (mut tx, v) = begin_queue(&state, &auth, id, req.agent_id).await?;
    let input = JobInput::Compile(CompileInput {
        version_id: v.id,
        source: v.source_code.clone().unwrap_or_default(),
    });
    let job_id = queue_job(
        &mut tx,
        auth.user_id,
        req.agent_id,
        Entity::EaVersion(v.id),
        input,
    )
    .await?;
    sqlx::query(
        "update public.ea_versions set status = 'compiling', compilation_error = null, updated_at = now()
          where id = $1",
    )
    .bind(v.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(queued(job_id, JobType::Compile, req.agent_id, None))
}

/// A magic number for a deployment: stable, positive, below 10^9.
fn magic_for(deployment_id: Uuid) -> i64 {
    let n = u64::from_be_bytes(deployment_id.as_bytes()[..8].try_into().unwrap_or([0; 8]));
    i64::try_from(n % 999_999_999).unwrap_or(0) + 1
}

#[utoipa::path(post, path = "/api/v1/ea-versions/{id}/deploy", tag = "ea", security(("user_jwt" = [])),
    params(("id" = Uuid, Path)), request_body = QueueDeployRequest,
    responses((status = 201, body = QueuedJob), (status = 404, body = crate::user_api::ErrorDoc),
              (status = 409, description = "The version is not compiled", body = crate::user_api::ErrorDoc)))]
pub async fn queue_deploy(
    State(state): State<AppState>,
    auth: UserAuth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<QueueDeployRequest>,
) -> Result<(StatusCode, Json<QueuedJob>), ApiError> {
    let symbol = required_symbol(&req.symbol)?;
    let (mut tx, v) = begin_queue(&state, &auth, id, req.agent_id).await?;
    require_compiled(&v)?;
    let deployment_id = Uuid::new_v4();
    let magic_number = req.magic_number.unwrap_or_else(|| magic_for(deployment_id));
    let input = DeployInput {
        deployment_id,
        version_id: v.id,
        symbol,
        timeframe: req.timeframe,
        magic_number,
        inputs: req.inputs.clone(),
    };
    sqlx::query(
        "insert into public.ea_deployments (id, ea_version_id, mt5_agent_id, status, runtime_config)
         values ($1, $2, $3, 'pending', $4)",
    )
    .bind(deployment_id)
    .bind(v.id)
    .bind(req.agent_id)
    .bind(sqlx::types::Json(&input))
    .execute(&mut *tx)
    .await?;
    let job_id = queue_job(
        &mut tx,
        auth.user_id,
        req.agent_id,
        Entity::EaDeployment(deployment_id),
        JobInput::Deploy(input),
    )
    .await?;
    tx.commit().await?;
    Ok(queued(
        job_id,
        JobType::Deploy,
        req.agent_id,
        Some(deployment_id),
    ))
}

#[utoipa::path(post, path = "/api/v1/ea-versions/{id}/test", tag = "ea", security(("user_jwt" = [])),
    params(("id" = Uuid, Path)), request_body = QueueTestRequest,
    responses((status = 201, body = QueuedJob), (status = 400, body = crate::user_api::ErrorDoc),
              (status = 404, body = crate::user_api::ErrorDoc),
              (status = 409, description = "The version is not compiled", body = crate::user_api::ErrorDoc)))]
pub async fn queue_test(
    State(state): State<AppState>,
    auth: UserAuth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<QueueTestRequest>,
) -> Result<(StatusCode, Json<QueuedJob>), ApiError> {
    let date = |s: &str| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| ApiError::invalid(format!("{s:?} is not a YYYY-MM-DD date")))
    };
    if date(&req.from)? > date(&req.to)? {
        return Err(ApiError::invalid("from must not be after to"));
    }
    if req.model > 4 {
        return Err(ApiError::invalid("model must be 0 to 4"));
    }
    if !(req.deposit.is_finite() && req.deposit > 0.0) || req.leverage <= 0 {
        return Err(ApiError::invalid("deposit and leverage must be positive"));
    }
    let symbol = required_symbol(&req.symbol)?;
    let (mut tx, v) = begin_queue(&state, &auth, id, req.agent_id).await?;
    require_compiled(&v)?;
    let input = JobInput::Test(TestInput {
        version_id: v.id,
        symbol,
        timeframe: req.timeframe,
        from: req.from.clone(),
        to: req.to.clone(),
        model: req.model,
        deposit: req.deposit,
        leverage: req.leverage,
        inputs: req.inputs.clone(),
    });
    let job_id = queue_job(
        &mut tx,
        auth.user_id,
        req.agent_id,
        Entity::EaVersion(v.id),
        input,
    )
    .await?;
    tx.commit().await?;
    Ok(queued(job_id, JobType::Test, req.agent_id, None))
}
