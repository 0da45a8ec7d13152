//! Result delivery: posts each journaled result, and a loop that re-sends the
//! unreported ones with jittered backoff until the server acknowledges them.

use std::sync::Arc;
use std::time::Duration;

use companion_protocol::JobResultRequest;
use uuid::Uuid;

use super::{backoff, Shared};
use crate::client::ClientError;

/// Outcome of one delivery attempt.
pub(super) enum Delivery {
    Done,
    Retry,
    Fatal,
}

pub(super) async fn report_one<T, C>(
    shared: &Shared<T, C>,
    job_id: Uuid,
    result: &JobResultRequest,
) -> Delivery {
    let journal = shared.executor.journal();
    match shared.client.post_result(job_id, result).await {
        Ok(ack) => {
            shared.server_ok();
            let note = if ack.duplicate {
                "acknowledged (duplicate)"
            } else {
                "acknowledged"
            };
            if let Err(e) = journal.mark_reported(job_id, note).await {
                tracing::error!(%job_id, error = %e, "cannot journal the acknowledgement");
            }
            tracing::info!(%job_id, duplicate = ack.duplicate, "result reported");
            Delivery::Done
        }
        Err(ClientError::Conflict { code, message }) => {
            tracing::warn!(%job_id, %code, %message, "the server refused this result (conflicting, or the job is no longer ours); dropping it");
            let _ = journal
                .mark_dropped(job_id, &format!("409 {code}: {message}"))
                .await;
            Delivery::Done
        }
        Err(e @ ClientError::BadKey { .. }) => {
            shared.fatal(e).await;
            Delivery::Fatal
        }
        Err(e) if e.is_retryable() => {
            shared.server_down(&e);
            tracing::warn!(%job_id, error = %e, "posting the result failed; will retry");
            let _ = journal.note_report_attempt(job_id, &e.to_string()).await;
            Delivery::Retry
        }
        Err(e) => {
            // Another 4xx (unknown job, invalid output): retrying cannot change it.
            tracing::warn!(%job_id, error = %e, "the server refused this result; dropping it");
            let _ = journal.mark_dropped(job_id, &e.to_string()).await;
            Delivery::Done
        }
    }
}

/// Posts every unreported result once; false when the server should be retried later.
pub(super) async fn report_pending<T, C>(shared: &Shared<T, C>) -> bool {
    let pending = match shared.executor.journal().unreported().await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the journal");
            return false;
        }
    };
    shared.update(|s| s.unreported_results = pending.len() as i64);
    let mut all_ok = true;
    for entry in pending {
        let Some(result) = entry.result else { continue };
        match report_one(shared, entry.job.job_id, &result).await {
            Delivery::Done => {}
            Delivery::Retry => {
                all_ok = false;
                break;
            }
            Delivery::Fatal => return false,
        }
    }
    if all_ok {
        if let Ok(c) = shared.executor.journal().counts().await {
            shared.update(|s| s.unreported_results = c.unreported);
        }
    }
    all_ok
}

/// Re-sends unreported results with jittered backoff until acknowledged.
pub(super) async fn reporter_loop<T, C>(shared: Arc<Shared<T, C>>) {
    let mut delays = backoff();
    loop {
        let wait = if report_pending(&shared).await {
            delays = backoff();
            Duration::from_secs(5)
        } else {
            delays.next().unwrap_or(Duration::from_secs(30))
        };
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = shared.report_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
