//! Claiming: `claim_next_job` (scoped to the agent's owner, oldest first, skips
//! expired trade jobs; an expired trading job that still comes back is failed, never
//! handed out), then the claimed entity is marked in progress.

use chrono::{DateTime, Utc};
use companion_protocol::{ClaimedJob, JobType};
use sqlx::PgPool;
use uuid::Uuid;

use super::propagate::{propagate, Outcome};
use super::{JobRow, EXPIRED_REASON, JOB_COLUMNS};
use crate::error::ApiError;
use crate::publish::{Kind, Op, Publisher};

#[derive(sqlx::FromRow)]
struct Claimed {
    id: Uuid,
    user_id: Uuid,
    job_type: String,
    input_data: Option<serde_json::Value>,
    attempts: i32,
    expires_at: Option<DateTime<Utc>>,
    entity_type: Option<String>,
    entity_id: Option<Uuid>,
    broker_connection_id: Option<Uuid>,
}

/// Claims the next job for `agent_id`, if any. `claim_next_job` does not NOTIFY
/// (migration 0019): `publisher` tells the event streams the job changed.
pub async fn claim_next(
    db: &PgPool,
    publisher: &Publisher,
    agent_id: Uuid,
) -> Result<Option<ClaimedJob>, ApiError> {
    loop {
        let claimed: Option<Claimed> = sqlx::query_as(
            "select id, user_id, job_type, input_data, attempts, expires_at, entity_type, entity_id, \
             broker_connection_id from claim_next_job($1)",
        )
        .bind(agent_id)
        .fetch_optional(db)
        .await?;
        let Some(c) = claimed else { return Ok(None) };
        publisher.changed(Kind::Job, c.id, c.user_id, Op::Update);
        let job_type: JobType = c
            .job_type
            .parse()
            .map_err(|e| ApiError::internal(anyhow::anyhow!("job {}: {e}", c.id)))?;
        // Guard: a trading job past its deadline is never handed out, whatever the
        // database function skips (it may only know about `trade`).
        if job_type.is_trading() && c.expires_at.is_some_and(|t| t <= Utc::now()) {
            expire_claimed(db, c.id, agent_id).await?;
            continue;
        }
        return Ok(Some(hand_out(db, c, job_type).await));
    }
}

/// Fails a just-claimed, already expired trading job as never executed.
async fn expire_claimed(db: &PgPool, job_id: Uuid, agent_id: Uuid) -> Result<(), ApiError> {
    let mut tx = db.begin().await?;
    let job: Option<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update jobs set status = 'failed', error_message = $3, completed_at = now(), updated_at = now() \
         where id = $1 and agent_id = $2 and status = 'running' returning {JOB_COLUMNS}"
    )))
    .bind(job_id)
    .bind(agent_id)
    .bind(EXPIRED_REASON)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(job) = job {
        propagate(&mut tx, &job, Outcome::Failed(EXPIRED_REASON)).await?;
    }
    tx.commit().await?;
    tracing::info!(job = %job_id, "expired trading job withdrawn at claim");
    Ok(())
}

async fn hand_out(db: &PgPool, c: Claimed, job_type: JobType) -> ClaimedJob {
    mark_in_progress(
        db,
        c.user_id,
        job_type,
        c.entity_type.as_deref(),
        c.entity_id,
    )
    .await;
    ClaimedJob {
        job_id: c.id,
        job_type,
        input_data: c.input_data.unwrap_or_else(|| serde_json::json!({})),
        attempt: c.attempts,
        expires_at: c.expires_at,
        broker_connection_id: c.broker_connection_id,
    }
}

/// `ea_versions.status = compiling` / `ea_deployments.status = deploying` while the
/// agent works. Best effort: the claim stands even if this fails.
async fn mark_in_progress(
    db: &PgPool,
    owner: Uuid,
    job_type: JobType,
    entity_type: Option<&str>,
    entity_id: Option<Uuid>,
) {
    let Some(id) = entity_id else { return };
    let sql = match (job_type, entity_type) {
        (JobType::Compile, Some("ea_version")) => {
            "update ea_versions v set status = 'compiling', updated_at = now() from ea_projects p \
             where v.id = $1 and p.id = v.ea_project_id and p.user_id = $2"
        }
        (JobType::Deploy, Some("ea_deployment")) => {
            "update ea_deployments d set status = 'deploying', updated_at = now() \
             from ea_versions v join ea_projects p on p.id = v.ea_project_id \
             where d.id = $1 and v.id = d.ea_version_id and p.user_id = $2"
        }
        _ => return,
    };
    if let Err(err) = sqlx::query(sql).bind(id).bind(owner).execute(db).await {
        tracing::warn!(error = %err, entity = %id, "could not mark the job's entity in progress");
    }
}

/// The jobs `agent_id` holds: running, claimed by it (and its owner's). Their
/// `heartbeat_at` is refreshed in the same statement, so the stale-claim sweeper does
/// not requeue a job the agent is taking back. Oldest claim first.
pub async fn held_by(
    db: &PgPool,
    agent_id: Uuid,
    user_id: Uuid,
) -> Result<Vec<ClaimedJob>, ApiError> {
    let rows: Vec<Claimed> = sqlx::query_as(
        "with held as ( \
             update jobs set heartbeat_at = now(), updated_at = now() \
             where agent_id = $1 and user_id = $2 and status = 'running' and claimed_at is not null \
             returning id, user_id, job_type, input_data, attempts, expires_at, entity_type, entity_id, \
                       broker_connection_id, claimed_at) \
         select id, user_id, job_type, input_data, attempts, expires_at, entity_type, entity_id, \
                broker_connection_id \
         from held order by claimed_at, id",
    )
    .bind(agent_id)
    .bind(user_id)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|c| {
            let job_type: JobType = c
                .job_type
                .parse()
                .map_err(|e| ApiError::internal(anyhow::anyhow!("job {}: {e}", c.id)))?;
            Ok(ClaimedJob {
                job_id: c.id,
                job_type,
                input_data: c.input_data.unwrap_or_else(|| serde_json::json!({})),
                attempt: c.attempts,
                expires_at: c.expires_at,
                broker_connection_id: c.broker_connection_id,
            })
        })
        .collect()
}
