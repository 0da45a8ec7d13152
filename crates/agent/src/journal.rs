//! The local SQLite journal (DESIGN section 6): every claimed job moves
//! claimed → sent_to_terminal → result → reported (or dropped), so a crash or a
//! network loss never loses a result and never repeats a trade.

use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use companion_protocol::{ClaimedJob, JobResultRequest, JobType, ResultStatus};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("journal migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("journal row is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot create or protect the journal file: {0}")]
    Io(#[from] std::io::Error),
}

/// Where a journaled job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalState {
    Claimed,
    SentToTerminal,
    Result,
    Reported,
    /// The server refused the result (409: conflicting or not ours); kept for the record.
    Dropped,
}

impl JournalState {
    pub fn as_str(self) -> &'static str {
        match self {
            JournalState::Claimed => "claimed",
            JournalState::SentToTerminal => "sent_to_terminal",
            JournalState::Result => "result",
            JournalState::Reported => "reported",
            JournalState::Dropped => "dropped",
        }
    }
    fn parse(s: &str) -> Result<Self, JournalError> {
        Ok(match s {
            "claimed" => JournalState::Claimed,
            "sent_to_terminal" => JournalState::SentToTerminal,
            "result" => JournalState::Result,
            "reported" => JournalState::Reported,
            "dropped" => JournalState::Dropped,
            other => return Err(JournalError::Corrupt(format!("state {other:?}"))),
        })
    }
    /// A result exists (reported or not).
    pub fn has_result(self) -> bool {
        matches!(
            self,
            JournalState::Result | JournalState::Reported | JournalState::Dropped
        )
    }
}

/// One journal row.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    pub job: ClaimedJob,
    pub state: JournalState,
    pub order_comment: Option<String>,
    /// How many times an order/close for this job was handed to the terminal.
    pub sends: i64,
    pub result: Option<JobResultRequest>,
    pub report_note: Option<String>,
}

/// Row counts per state (for `status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct JournalCounts {
    pub claimed: i64,
    pub sent_to_terminal: i64,
    pub unreported: i64,
    pub reported: i64,
    pub dropped: i64,
}

/// A chart opened by a deploy job.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentRecord {
    pub deployment_id: Uuid,
    pub chart_id: i64,
    pub expert: String,
    pub symbol: String,
    pub timeframe: String,
    pub running: bool,
}

/// Handle to `journal.db` (cheap to clone).
#[derive(Debug, Clone)]
pub struct Journal {
    pool: SqlitePool,
}

fn now() -> String {
    Utc::now().to_rfc3339()
}

impl Journal {
    /// Opens (creating when missing) and migrates the journal at `path`.
    pub async fn open(path: &Path) -> Result<Self, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::config::ensure_private_dir(dir)?;
        }
        // Created 0600 before SQLite opens it (SQLite gives its -wal/-shm files the
        // database file's mode); an existing journal and its side files are tightened.
        {
            let mut opts = std::fs::OpenOptions::new();
            opts.create(true).append(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            opts.open(path)?;
        }
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            crate::config::make_private_file(Path::new(&p))?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a journaled step survives a crash or power loss before the next step.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Journal { pool })
    }

    /// Journals a claim. A job already journaled keeps its state (the caller
    /// reconciles); only the attempt number is refreshed.
    pub async fn record_claim(&self, job: &ClaimedJob) -> Result<JournalEntry, JournalError> {
        sqlx::query(
            "INSERT INTO journal (job_id, job_type, input_data, attempt, expires_at, state, claimed_at,
                                  broker_connection_id)
             VALUES (?, ?, ?, ?, ?, 'claimed', ?, ?)
             ON CONFLICT (job_id) DO UPDATE SET attempt = excluded.attempt, expires_at = excluded.expires_at",
        )
        .bind(job.job_id.to_string())
        .bind(job.job_type.as_str())
        .bind(job.input_data.to_string())
        .bind(job.attempt)
        .bind(job.expires_at.map(|t| t.to_rfc3339()))
        .bind(now())
        .bind(job.broker_connection_id.map(|c| c.to_string()))
        .execute(&self.pool)
        .await?;
        self.get(job.job_id)
            .await?
            .ok_or_else(|| JournalError::Corrupt("claim row vanished".into()))
    }

    pub async fn get(&self, job_id: Uuid) -> Result<Option<JournalEntry>, JournalError> {
        let row = sqlx::query("SELECT * FROM journal WHERE job_id = ?")
            .bind(job_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| entry_from_row(&r)).transpose()
    }

    /// Journals that an order (or close) with `comment` is about to be handed to the terminal.
    pub async fn mark_sent(&self, job_id: Uuid, comment: &str) -> Result<(), JournalError> {
        sqlx::query(
            "UPDATE journal SET state = 'sent_to_terminal', order_comment = ?, sends = sends + 1, sent_at = ?
             WHERE job_id = ? AND state IN ('claimed', 'sent_to_terminal')",
        )
        .bind(comment)
        .bind(now())
        .bind(job_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Journals the result. The first result wins: returns the stored result
    /// (which is the earlier one if a result was already journaled).
    pub async fn record_result(
        &self,
        job_id: Uuid,
        result: &JobResultRequest,
    ) -> Result<JobResultRequest, JournalError> {
        sqlx::query(
            "UPDATE journal SET state = 'result', result_status = ?, output_data = ?, error_message = ?, result_at = ?
             WHERE job_id = ? AND state IN ('claimed', 'sent_to_terminal')",
        )
        .bind(status_str(result.status))
        .bind(result.output_data.as_ref().map(|v| v.to_string()))
        .bind(result.error_message.as_deref())
        .bind(now())
        .bind(job_id.to_string())
        .execute(&self.pool)
        .await?;
        self.get(job_id)
            .await?
            .and_then(|e| e.result)
            .ok_or_else(|| JournalError::Corrupt(format!("job {job_id} has no journaled result")))
    }

    /// The server acknowledged the result (200, or a duplicate).
    pub async fn mark_reported(&self, job_id: Uuid, note: &str) -> Result<(), JournalError> {
        sqlx::query(
            "UPDATE journal SET state = 'reported', report_note = ?, reported_at = ?, report_tries = report_tries + 1
             WHERE job_id = ? AND state IN ('result', 'reported')",
        )
        .bind(note)
        .bind(now())
        .bind(job_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The server refused the result for good (409); recorded and no longer sent.
    pub async fn mark_dropped(&self, job_id: Uuid, note: &str) -> Result<(), JournalError> {
        sqlx::query(
            "UPDATE journal SET state = 'dropped', report_note = ?, reported_at = ?, report_tries = report_tries + 1
             WHERE job_id = ? AND state = 'result'",
        )
        .bind(note)
        .bind(now())
        .bind(job_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A failed delivery attempt (the result stays queued).
    pub async fn note_report_attempt(&self, job_id: Uuid, note: &str) -> Result<(), JournalError> {
        sqlx::query(
            "UPDATE journal SET report_note = ?, report_tries = report_tries + 1 WHERE job_id = ?",
        )
        .bind(note)
        .bind(job_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Results not yet acknowledged by the server, oldest first.
    pub async fn unreported(&self) -> Result<Vec<JournalEntry>, JournalError> {
        self.by_state("SELECT * FROM journal WHERE state = 'result' ORDER BY claimed_at")
            .await
    }

    /// Jobs claimed but without a result (interrupted by a crash or shutdown).
    pub async fn unfinished(&self) -> Result<Vec<JournalEntry>, JournalError> {
        self.by_state("SELECT * FROM journal WHERE state IN ('claimed', 'sent_to_terminal') ORDER BY claimed_at")
            .await
    }

    async fn by_state(&self, sql: &'static str) -> Result<Vec<JournalEntry>, JournalError> {
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(entry_from_row).collect()
    }

    pub async fn counts(&self) -> Result<JournalCounts, JournalError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM journal GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        let mut c = JournalCounts::default();
        for r in rows {
            let n: i64 = r.try_get("n")?;
            match JournalState::parse(r.try_get::<&str, _>("state")?)? {
                JournalState::Claimed => c.claimed = n,
                JournalState::SentToTerminal => c.sent_to_terminal = n,
                JournalState::Result => c.unreported = n,
                JournalState::Reported => c.reported = n,
                JournalState::Dropped => c.dropped = n,
            }
        }
        Ok(c)
    }

    pub async fn save_deployment(&self, d: &DeploymentRecord) -> Result<(), JournalError> {
        sqlx::query(
            "INSERT INTO deployments (deployment_id, chart_id, expert, symbol, timeframe, running, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (deployment_id) DO UPDATE SET chart_id = excluded.chart_id, expert = excluded.expert,
               symbol = excluded.symbol, timeframe = excluded.timeframe, running = excluded.running,
               updated_at = excluded.updated_at",
        )
        .bind(d.deployment_id.to_string())
        .bind(d.chart_id)
        .bind(&d.expert)
        .bind(&d.symbol)
        .bind(&d.timeframe)
        .bind(d.running)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn deployment(
        &self,
        deployment_id: Uuid,
    ) -> Result<Option<DeploymentRecord>, JournalError> {
        let row = sqlx::query("SELECT * FROM deployments WHERE deployment_id = ?")
            .bind(deployment_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(DeploymentRecord {
                deployment_id,
                chart_id: r.try_get("chart_id")?,
                expert: r.try_get("expert")?,
                symbol: r.try_get("symbol")?,
                timeframe: r.try_get("timeframe")?,
                running: r.try_get("running")?,
            })
        })
        .transpose()
    }

    pub async fn set_deployment_running(
        &self,
        deployment_id: Uuid,
        running: bool,
    ) -> Result<(), JournalError> {
        sqlx::query("UPDATE deployments SET running = ?, updated_at = ? WHERE deployment_id = ?")
            .bind(running)
            .bind(now())
            .bind(deployment_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn status_str(s: ResultStatus) -> &'static str {
    match s {
        ResultStatus::Completed => "completed",
        ResultStatus::Failed => "failed",
    }
}

fn entry_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<JournalEntry, JournalError> {
    let corrupt = |what: &str| JournalError::Corrupt(what.to_string());
    let job_id = Uuid::parse_str(r.try_get::<&str, _>("job_id")?).map_err(|_| corrupt("job_id"))?;
    let job_type =
        JobType::from_str(r.try_get::<&str, _>("job_type")?).map_err(|_| corrupt("job_type"))?;
    let input_data = serde_json::from_str(r.try_get::<&str, _>("input_data")?)
        .map_err(|_| corrupt("input_data"))?;
    let expires_at = r
        .try_get::<Option<&str>, _>("expires_at")?
        .map(|s| DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)))
        .transpose()
        .map_err(|_| corrupt("expires_at"))?;
    let state = JournalState::parse(r.try_get::<&str, _>("state")?)?;
    let result = match r.try_get::<Option<&str>, _>("result_status")? {
        None => None,
        Some(s) => Some(JobResultRequest {
            status: if s == "completed" {
                ResultStatus::Completed
            } else {
                ResultStatus::Failed
            },
            output_data: r
                .try_get::<Option<&str>, _>("output_data")?
                .map(serde_json::from_str)
                .transpose()
                .map_err(|_| corrupt("output_data"))?,
            error_message: r.try_get("error_message")?,
        }),
    };
    Ok(JournalEntry {
        job: ClaimedJob {
            job_id,
            job_type,
            input_data,
            attempt: r.try_get("attempt")?,
            expires_at,
            broker_connection_id: r
                .try_get::<Option<&str>, _>("broker_connection_id")?
                .map(Uuid::parse_str)
                .transpose()
                .map_err(|_| corrupt("broker_connection_id"))?,
        },
        state,
        order_comment: r.try_get("order_comment")?,
        sends: r.try_get("sends")?,
        result,
        report_note: r.try_get("report_note")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(t: JobType) -> ClaimedJob {
        ClaimedJob {
            job_id: Uuid::new_v4(),
            job_type: t,
            input_data: json!({"symbol": "EURUSD", "side": "buy", "volume": 0.1}),
            attempt: 1,
            expires_at: Some(Utc::now()),
            broker_connection_id: None,
        }
    }

    #[tokio::test]
    async fn a_job_moves_through_its_states_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let j = Journal::open(&path).await.unwrap();
        let job = job(JobType::Trade);
        let e = j.record_claim(&job).await.unwrap();
        assert_eq!(e.state, JournalState::Claimed);
        assert_eq!(e.job.job_id, job.job_id);
        j.mark_sent(job.job_id, "cj:abc").await.unwrap();
        assert_eq!(j.unfinished().await.unwrap().len(), 1);
        let res = JobResultRequest {
            status: ResultStatus::Completed,
            output_data: Some(json!({"fill_price": 1.1})),
            error_message: None,
        };
        assert_eq!(j.record_result(job.job_id, &res).await.unwrap(), res);
        // A second, different result does not replace the first.
        let other = JobResultRequest {
            status: ResultStatus::Failed,
            output_data: None,
            error_message: Some("x".into()),
        };
        assert_eq!(j.record_result(job.job_id, &other).await.unwrap(), res);
        j.close().await;

        let j = Journal::open(&path).await.unwrap();
        let unrep = j.unreported().await.unwrap();
        assert_eq!(unrep.len(), 1);
        assert_eq!(unrep[0].sends, 1);
        assert_eq!(unrep[0].order_comment.as_deref(), Some("cj:abc"));
        assert_eq!(
            unrep[0].job.expires_at.map(|t| t.timestamp()),
            job.expires_at.map(|t| t.timestamp())
        );
        // A re-claim keeps the journaled result.
        let again = j
            .record_claim(&ClaimedJob {
                attempt: 2,
                ..job.clone()
            })
            .await
            .unwrap();
        assert_eq!(again.state, JournalState::Result);
        assert_eq!(again.job.attempt, 2);
        j.mark_reported(job.job_id, "200").await.unwrap();
        assert!(j.unreported().await.unwrap().is_empty());
        let c = j.counts().await.unwrap();
        assert_eq!(c.reported, 1);
        assert_eq!(c.unreported, 0);
    }

    #[tokio::test]
    async fn dropped_results_are_not_resent_and_deployments_persist() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("j.db")).await.unwrap();
        let job = job(JobType::GetAccount);
        j.record_claim(&job).await.unwrap();
        j.record_result(
            job.job_id,
            &JobResultRequest {
                status: ResultStatus::Failed,
                output_data: None,
                error_message: Some("e".into()),
            },
        )
        .await
        .unwrap();
        j.mark_dropped(job.job_id, "409 conflict").await.unwrap();
        assert!(j.unreported().await.unwrap().is_empty());
        assert_eq!(j.counts().await.unwrap().dropped, 1);

        let d = DeploymentRecord {
            deployment_id: Uuid::new_v4(),
            chart_id: 42,
            expert: "Companion\\x".into(),
            symbol: "EURUSD".into(),
            timeframe: "H1".into(),
            running: true,
        };
        j.save_deployment(&d).await.unwrap();
        j.set_deployment_running(d.deployment_id, false)
            .await
            .unwrap();
        let got = j.deployment(d.deployment_id).await.unwrap().unwrap();
        assert_eq!(got.chart_id, 42);
        assert!(!got.running);
        assert!(j.deployment(Uuid::new_v4()).await.unwrap().is_none());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_journal_and_its_directory_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("data");
        let path = dir.join("journal.db");
        let j = Journal::open(&path).await.unwrap();
        sqlx::query("select 1").execute(&j.pool).await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&path), 0o600);
        drop(j);
        // A journal left readable by an older version is tightened on open.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let _j = Journal::open(&path).await.unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&path), 0o600);
    }
}
