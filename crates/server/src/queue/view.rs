//! A `jobs` row as users see it (`JobView`): the one row→view mapping, used by the
//! jobs API, signal details, the event stream and [`super::enqueue`].

use chrono::{DateTime, Utc};
use companion_protocol::{JobType, JobView};
use sqlx::PgConnection;
use uuid::Uuid;

use super::parse_status;

/// The columns a [`ViewRow`] is read from.
pub const VIEW_COLUMNS: &str =
    "id, job_type, status, agent_id, input_data, output_data, error_message, attempts, \
     expires_at, created_at, claimed_at, completed_at";

/// The `jobs` columns of a [`JobView`], as stored.
#[derive(Debug, sqlx::FromRow)]
pub struct ViewRow {
    pub id: Uuid,
    pub job_type: String,
    pub status: String,
    pub agent_id: Option<Uuid>,
    pub input_data: Option<serde_json::Value>,
    pub output_data: Option<serde_json::Value>,
    pub error_message: Option<String>,
    pub attempts: i32,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// A row whose type or status the schema's CHECK constraints should have refused.
#[derive(Debug, thiserror::Error)]
#[error("job {id} has an unknown {what}")]
pub struct UnknownJobValue {
    pub id: Uuid,
    pub what: &'static str,
}

impl TryFrom<ViewRow> for JobView {
    type Error = UnknownJobValue;
    fn try_from(r: ViewRow) -> Result<Self, UnknownJobValue> {
        let bad = |what| UnknownJobValue { id: r.id, what };
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

/// Maps rows to views; a row with an unknown type or status is a decode error.
pub fn to_view(row: ViewRow) -> Result<JobView, sqlx::Error> {
    JobView::try_from(row).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// One job visible to the connection (RLS applies to user transactions).
pub async fn fetch(conn: &mut PgConnection, id: Uuid) -> Result<Option<JobView>, sqlx::Error> {
    let row: Option<ViewRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {VIEW_COLUMNS} from public.jobs where id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(to_view).transpose()
}

/// The jobs among `ids` visible to the connection, in one query (event replay).
pub async fn fetch_many(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<JobView>, sqlx::Error> {
    let rows: Vec<ViewRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {VIEW_COLUMNS} from public.jobs where id = any($1)"
    )))
    .bind(ids)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(to_view).collect()
}

/// The connection's newest jobs (optionally of one agent), newest first.
pub async fn list(
    conn: &mut PgConnection,
    limit: i64,
    agent_id: Option<Uuid>,
) -> Result<Vec<JobView>, sqlx::Error> {
    let rows: Vec<ViewRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {VIEW_COLUMNS} from public.jobs where ($2::uuid is null or agent_id = $2) \
         order by created_at desc, id desc limit $1"
    )))
    .bind(limit)
    .bind(agent_id)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(to_view).collect()
}
