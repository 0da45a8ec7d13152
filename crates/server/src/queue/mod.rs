//! The job queue, the one home of jobs in the server: creating them (`enqueue`),
//! reading them as users see them (`view`), claiming (`claim`), results and their
//! effects on signals, EA versions and deployments (`result`, `propagate`), and the
//! stale-job sweeper (`sweeper`).

pub mod claim;
pub mod enqueue;
pub mod idle;
pub mod propagate;
pub mod result;
mod result_fast;
pub mod sweeper;
pub mod view;

pub use enqueue::{enqueue, Entity, NewJob};

use chrono::{DateTime, Utc};
use companion_protocol::{JobInput, JobStatus, JobType};
use uuid::Uuid;

/// Prefix of the `error_message` of a trade job that expired while claimed by an
/// agent that never reported: its outcome is unknown, so that agent's late result
/// still replaces this verdict.
pub const LOST_CLAIM_REASON: &str = "expired: claimed by its agent, no result before the deadline";
/// `error_message` of a trade job that was never handed out before its deadline.
pub const EXPIRED_REASON: &str = "expired: not claimed before its deadline; not executed";

/// The columns of `jobs` the queue works with.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub job_type: String,
    pub status: String,
    pub agent_id: Option<Uuid>,
    pub entity_type: Option<String>,
    pub entity_id: Option<Uuid>,
    pub input_data: Option<serde_json::Value>,
    pub output_data: Option<serde_json::Value>,
    pub error_message: Option<String>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub expires_at: Option<DateTime<Utc>>,
    pub claimed_at: Option<DateTime<Utc>>,
}

/// Columns selected into a [`JobRow`].
pub const JOB_COLUMNS: &str = "id, user_id, job_type, status, agent_id, entity_type, entity_id, \
     input_data, output_data, error_message, attempts, max_attempts, expires_at, claimed_at";

impl JobRow {
    pub fn job_type(&self) -> Option<JobType> {
        self.job_type.parse().ok()
    }

    pub fn status(&self) -> Option<JobStatus> {
        parse_status(&self.status)
    }

    /// `input_data` as its job type's input; `None` when it is not one.
    pub fn input(&self) -> Option<JobInput> {
        let v = self.input_data.as_ref()?;
        JobInput::from_value(self.job_type()?, v).ok()
    }
}

/// Parses `jobs.status`.
pub fn parse_status(s: &str) -> Option<JobStatus> {
    Some(match s {
        "pending" => JobStatus::Pending,
        "running" => JobStatus::Running,
        "completed" => JobStatus::Completed,
        "failed" => JobStatus::Failed,
        "cancelled" => JobStatus::Cancelled,
        _ => return None,
    })
}
