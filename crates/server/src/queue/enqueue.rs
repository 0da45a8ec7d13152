//! Creating jobs: the one place a job row is inserted, used by the webhook ingest, the jobs
//! API and the EA routes. The input is typed ([`JobInput`]); the job type follows
//! from it. The `jobs` trigger wakes the agent when the transaction commits.

use std::time::Duration;

use companion_protocol::{JobInput, JobView};
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::view::{to_view, ViewRow, VIEW_COLUMNS};

/// What the job concerns (`jobs.entity_type`, `jobs.entity_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    TvSignal(Uuid),
    EaVersion(Uuid),
    EaDeployment(Uuid),
}

impl Entity {
    fn columns(self) -> (&'static str, Uuid) {
        match self {
            Entity::TvSignal(id) => ("tv_signal", id),
            Entity::EaVersion(id) => ("ea_version", id),
            Entity::EaDeployment(id) => ("ea_deployment", id),
        }
    }
}

/// A job to queue for one agent.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub user_id: Uuid,
    pub agent_id: Uuid,
    pub input: &'a JobInput,
    pub entity: Option<Entity>,
    /// Deadline, from now (database time); trading jobs must have one.
    pub expires_in: Option<Duration>,
}

/// Inserts `job` as `pending` on `conn` (the caller's transaction) and returns it.
pub async fn enqueue(conn: &mut PgConnection, job: NewJob<'_>) -> Result<JobView, sqlx::Error> {
    let (entity_type, entity_id) = job.entity.map(Entity::columns).unzip();
    let row: ViewRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into public.jobs \
           (user_id, job_type, status, agent_id, entity_type, entity_id, input_data, expires_at) \
         values ($1, $2, 'pending', $3, $4, $5, $6, now() + make_interval(secs => $7)) \
         returning {VIEW_COLUMNS}"
    )))
    .bind(job.user_id)
    .bind(job.input.job_type().as_str())
    .bind(job.agent_id)
    .bind(entity_type)
    .bind(entity_id)
    .bind(Json(job.input))
    .bind(job.expires_in.map(|d| d.as_secs_f64()))
    .fetch_one(conn)
    .await?;
    to_view(row)
}
