//! The fast path of recording a result: the fenced `UPDATE` without reading the row
//! first. The job types the sent output is valid for go into the `WHERE`, so no
//! invalid output is ever stored; when none of them propagates (`get_account`,
//! `get_positions`, ...) the update is the whole transaction (one round trip), else it
//! runs with the propagation in one transaction. `None` = no row matched: the caller's
//! full path decides (repeat, conflict, lost claim, invalid output, not found).
//! The one-statement form runs with `companion.notify = off` (migration 0019: no
//! NOTIFY in its commit) and the job's change is published after it; the form with
//! propagation keeps its triggers (it changes signals, events, versions...).

use companion_protocol::{
    JobOutput, JobResultRequest, JobStatus, JobType, ResultAck, ResultStatus,
};
use sqlx::PgPool;
use uuid::Uuid;

use super::propagate::{propagate, propagates, Outcome};
use super::{JobRow, JOB_COLUMNS};
use crate::auth::AgentAuth;
use crate::error::ApiError;
use crate::publish::{Kind, Op, Publisher};

/// Records `req` for a running job of `agent` in one fenced update, or `None`.
pub(super) async fn submit(
    db: &PgPool,
    publisher: &Publisher,
    agent: AgentAuth,
    job_id: Uuid,
    req: &JobResultRequest,
) -> Result<Option<ResultAck>, ApiError> {
    let (new_status, output, error_message) = match req.status {
        ResultStatus::Completed => {
            let Some(out) = req.output_data.clone() else {
                return Ok(None);
            };
            (JobStatus::Completed, Some(out), req.error_message.clone())
        }
        ResultStatus::Failed => (
            JobStatus::Failed,
            req.output_data.clone(),
            Some(
                req.error_message
                    .clone()
                    .filter(|m| !m.trim().is_empty())
                    .unwrap_or_else(|| "the agent reported a failure without a message".into()),
            ),
        ),
    };
    let types: Vec<JobType> = match (&output, req.status) {
        (Some(out), ResultStatus::Completed) => JobType::ALL
            .into_iter()
            .filter(|t| JobOutput::from_value(*t, out).is_ok())
            .collect(),
        _ => JobType::ALL.to_vec(),
    };
    if types.is_empty() {
        return Ok(None);
    }
    let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    let alone = !types.iter().any(|t| propagates(*t));
    // Alone, the statement is its own transaction: `companion.notify` is set for it
    // (the sub-select runs once, before the row is updated and its triggers fire).
    let sql = format!(
        "update jobs set status = $3, output_data = $4, error_message = $5, completed_at = now(), \
         heartbeat_at = null, updated_at = now() {} \
         where id = $1 and agent_id = $2 and user_id = $6 and status = 'running' \
           and job_type = any($7) \
         returning {JOB_COLUMNS}",
        if alone {
            "from (select set_config('companion.notify', 'off', true)) as quiet"
        } else {
            ""
        }
    );
    let update = || {
        sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(job_id)
            .bind(agent.agent_id)
            .bind(new_status.as_str())
            .bind(&output)
            .bind(&error_message)
            .bind(agent.user_id)
            .bind(&names)
    };
    let ack = ResultAck {
        job_id,
        status: new_status,
        duplicate: false,
    };
    if alone {
        let row = update().fetch_optional(db).await?;
        if row.is_some() {
            publisher.changed(Kind::Job, job_id, agent.user_id, Op::Update);
        }
        return Ok(row.map(|_| ack));
    }
    let mut tx = db.begin().await?;
    let Some(job) = update().fetch_optional(&mut *tx).await? else {
        tx.rollback().await?;
        return Ok(None);
    };
    let outcome = match (&output, req.status) {
        (Some(out), ResultStatus::Completed) => Outcome::Completed(out),
        _ => Outcome::Failed(error_message.as_deref().unwrap_or("failed")),
    };
    propagate(&mut tx, &job, outcome).await?;
    tx.commit().await?;
    Ok(Some(ack))
}
