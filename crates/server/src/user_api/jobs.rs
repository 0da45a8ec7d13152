//! Reading jobs as users see them (`JobView`), for signal details and the event stream.

use chrono::{DateTime, Utc};
use companion_protocol::{JobStatus, JobType, JobView};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
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

fn status(s: &str) -> JobStatus {
    match s {
        "running" => JobStatus::Running,
        "completed" => JobStatus::Completed,
        "failed" => JobStatus::Failed,
        "cancelled" => JobStatus::Cancelled,
        _ => JobStatus::Pending,
    }
}

const COLUMNS: &str =
    "select id, job_type, status, agent_id, input_data, output_data, error_message, attempts,
                expires_at, created_at, claimed_at, completed_at from public.jobs";

fn view(r: Row) -> Option<JobView> {
    Some(JobView {
        id: r.id,
        job_type: r.job_type.parse::<JobType>().ok()?,
        status: status(&r.status),
        agent_id: r.agent_id,
        input_data: r.input_data.unwrap_or(serde_json::Value::Null),
        output_data: r.output_data,
        error_message: r.error_message,
        attempts: r.attempts,
        expires_at: r.expires_at,
        created_at: r.created_at,
        claimed_at: r.claimed_at,
        completed_at: r.completed_at,
    })
}

/// One job visible to the connection's user (RLS).
pub(crate) async fn fetch(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<JobView>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLUMNS} where id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.and_then(view))
}

/// The jobs among `ids` visible to the connection's user (RLS), in one query.
pub(crate) async fn fetch_many(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<JobView>, sqlx::Error> {
    let rows: Vec<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLUMNS} where id = any($1)")))
            .bind(ids)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().filter_map(view).collect())
}
