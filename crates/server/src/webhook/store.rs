//! The one write of a webhook alert: a call of `public.ingest_signal` (migration
//! 0018) with bound parameters — advisory lock on the de-duplication base, duplicate
//! look-up, then a discarded row or the job plus its linked pending signal, in one
//! statement and one commit. The job input travels as one `jsonb` parameter (its
//! typed [`JobInput`] serialised), so new input fields need no SQL change.

use std::time::Duration;

use companion_protocol::{JobInput, SignalStatus, WebhookResponse};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::dedup::DedupKey;

/// The job an accepted signal becomes.
pub struct IngestJob<'a> {
    pub agent_id: Uuid,
    pub input: &'a JobInput,
    /// Deadline from now (database time).
    pub expires_in: Duration,
    /// The command in words (`tv_signals.understood`).
    pub understood: &'a str,
    /// Pause the strategy with the job (PineConnector `closealleaoff`).
    pub then_pause: bool,
}

/// One alert to store.
pub struct Ingest<'a> {
    /// The id the signal gets when it is accepted (the job input names it already).
    pub signal_id: Uuid,
    pub strategy_id: Uuid,
    pub user_id: Uuid,
    pub symbol: &'a str,
    pub action: &'a str,
    pub price: Option<f64>,
    pub raw_payload: &'a Value,
    pub key: &'a DedupKey,
    /// The job when the server's rules accept the signal, else the discard reason
    /// (`code: message`); a duplicate wins over either.
    pub decision: Result<IngestJob<'a>, String>,
}

/// What was stored.
#[derive(Debug, sqlx::FromRow)]
pub struct Stored {
    pub signal_id: Uuid,
    pub status: String,
    pub reason: Option<String>,
    pub job_id: Option<Uuid>,
    pub duplicate_of: Option<Uuid>,
}

impl Stored {
    /// The webhook's answer.
    pub fn response(&self) -> WebhookResponse {
        WebhookResponse {
            signal_id: self.signal_id,
            status: if self.status == "pending" {
                SignalStatus::Pending
            } else {
                SignalStatus::Discarded
            },
            reason: self.reason.clone(),
        }
    }
}

/// Stores `a` in one round trip.
pub async fn ingest_signal(db: &mut PgConnection, a: &Ingest<'_>) -> Result<Stored, sqlx::Error> {
    let (job, discard) = match &a.decision {
        Ok(j) => (Some(j), None),
        Err(reason) => (None, Some(reason.as_str())),
    };
    sqlx::query_as::<_, Stored>(
        "select signal_id, status, reason, job_id, duplicate_of
           from public.ingest_signal($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                                     $14, $15, $16, $17, $18)",
    )
    .bind(a.signal_id)
    .bind(a.strategy_id)
    .bind(a.user_id)
    .bind(a.symbol)
    .bind(a.action)
    .bind(a.price)
    .bind(a.raw_payload)
    .bind(&a.key.base)
    .bind(a.key.legacy.as_deref())
    .bind(a.key.window_secs.map(|w| w as f64))
    .bind(a.key.stored(a.signal_id))
    .bind(discard)
    .bind(job.map(|j| j.agent_id))
    .bind(job.map(|j| j.input.job_type().as_str()))
    .bind(job.map(|j| Json(j.input)))
    .bind(job.map(|j| j.expires_in.as_secs_f64()))
    .bind(job.map(|j| j.understood))
    .bind(job.is_some_and(|j| j.then_pause))
    .fetch_one(db)
    .await
}
