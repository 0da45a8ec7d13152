//! Recording an agent's result: fenced to the claiming agent and a running job
//! (`WHERE id = $job AND agent_id = $agent AND status = 'running'`), idempotent (the
//! same result again is acknowledged), conflicting repeats refused; the outcome is
//! propagated in the same transaction.
//!
//! The common case takes the fast path: one fenced `UPDATE` restricted to the job
//! types the sent output is valid for (one statement, one commit, when none of those
//! types propagates; else `BEGIN`, that `UPDATE`, the propagation, `COMMIT`). When it
//! matches no row (a repeat, a conflict, a lost claim, an invalid output, an unknown
//! job) the full path reads the row and answers exactly as before.

use companion_protocol::{
    JobOutput, JobResultRequest, JobStatus, JobType, ResultAck, ResultStatus,
};
use sqlx::PgPool;
use uuid::Uuid;

use super::propagate::{propagate, Outcome};
use super::result_fast as fast;
use super::{JobRow, JOB_COLUMNS, LOST_CLAIM_REASON};
use crate::auth::AgentAuth;
use crate::error::ApiError;
use crate::publish::Publisher;

/// Records `req` as the result of `job_id` reported by `agent`.
pub async fn submit(
    db: &PgPool,
    publisher: &Publisher,
    agent: AgentAuth,
    job_id: Uuid,
    req: &JobResultRequest,
) -> Result<ResultAck, ApiError> {
    if let Some(ack) = fast::submit(db, publisher, agent, job_id, req).await? {
        return Ok(ack);
    }
    let mut tx = db.begin().await?;
    let job: Option<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {JOB_COLUMNS} from jobs where id = $1 and user_id = $2 for update"
    )))
    .bind(job_id)
    .bind(agent.user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let job = job.ok_or_else(|| ApiError::not_found("job"))?;
    let job_type = job
        .job_type()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("job {job_id} has an unknown type")))?;
    let status = job.status();
    let new_status = match req.status {
        ResultStatus::Completed => JobStatus::Completed,
        ResultStatus::Failed => JobStatus::Failed,
    };
    let mine = job.agent_id == Some(agent.agent_id);
    let finished = matches!(
        status,
        Some(JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled)
    );

    if finished && mine && same_result(&job, new_status, req) {
        return Ok(ResultAck {
            job_id,
            status: new_status,
            duplicate: true,
        });
    }
    // A trade job the sweeper expired while this agent held it: its outcome was
    // unknown, so the agent's report is the truth.
    let lost_claim = status == Some(JobStatus::Failed)
        && mine
        && job.claimed_at.is_some()
        && job.error_message.as_deref() == Some(LOST_CLAIM_REASON);
    if !lost_claim {
        if finished {
            return Err(ApiError::Conflict(format!(
                "job {job_id} already has a different result ({})",
                job.status
            )));
        }
        if !mine {
            return Err(ApiError::Conflict(format!(
                "job {job_id} is not claimed by this agent"
            )));
        }
        if status != Some(JobStatus::Running) {
            return Err(ApiError::Conflict(format!(
                "job {job_id} is {} (re-queued or not claimed): this claim is no longer valid",
                job.status
            )));
        }
    }

    let output = match req.status {
        ResultStatus::Completed => {
            let out = req
                .output_data
                .clone()
                .ok_or_else(|| ApiError::invalid("a completed result needs output_data"))?;
            validate_output(job_type, &out)?;
            Some(out)
        }
        ResultStatus::Failed => req.output_data.clone(),
    };
    let error_message = match req.status {
        ResultStatus::Failed => Some(
            req.error_message
                .clone()
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| "the agent reported a failure without a message".into()),
        ),
        ResultStatus::Completed => req.error_message.clone(),
    };

    let updated = sqlx::query(
        "update jobs set status = $3, output_data = $4, error_message = $5, completed_at = now(), \
         heartbeat_at = null, updated_at = now() \
         where id = $1 and agent_id = $2 and (status = 'running' or (status = 'failed' and error_message = $6))",
    )
    .bind(job_id)
    .bind(agent.agent_id)
    .bind(new_status.as_str())
    .bind(&output)
    .bind(&error_message)
    .bind(LOST_CLAIM_REASON)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(ApiError::Conflict(format!(
            "job {job_id} changed while recording the result"
        )));
    }
    let outcome = match (&output, req.status) {
        (Some(out), ResultStatus::Completed) => Outcome::Completed(out),
        _ => Outcome::Failed(error_message.as_deref().unwrap_or("failed")),
    };
    propagate(&mut tx, &job, outcome).await?;
    tx.commit().await?;
    Ok(ResultAck {
        job_id,
        status: new_status,
        duplicate: false,
    })
}

fn same_result(job: &JobRow, status: JobStatus, req: &JobResultRequest) -> bool {
    let stored_output = job.output_data.clone().filter(|v| !v.is_null());
    let sent_output = req.output_data.clone().filter(|v| !v.is_null());
    let sent_error = match req.status {
        ResultStatus::Failed => req.error_message.clone().filter(|m| !m.trim().is_empty()),
        ResultStatus::Completed => req.error_message.clone(),
    };
    job.status() == Some(status)
        && stored_output == sent_output
        && (sent_error.is_none() || job.error_message == sent_error)
}

/// A completed result must carry the job type's output shape (DESIGN section 5).
pub fn validate_output(job_type: JobType, out: &serde_json::Value) -> Result<(), ApiError> {
    JobOutput::from_value(job_type, out)
        .map(|_| ())
        .map_err(|e| {
            ApiError::invalid(format!("output_data is not a valid {job_type} output: {e}"))
        })
}
