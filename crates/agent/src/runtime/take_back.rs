//! Taking back the jobs the server says this agent holds (`GET /agents/{id}/jobs/held`):
//! a claim that landed just before the agent stopped (before its journal entry), or a
//! claim whose response was lost in flight, would otherwise wait for the server's
//! stale-claim sweeper — minutes, past a trade's deadline.

use std::sync::Arc;

use companion_terminal::Terminal;
use tokio::task::JoinSet;

use super::poll::handle_job;
use super::Shared;
use crate::toolchain::Toolchain;

/// Test-only hook: `COMPANION_AGENT_LOSE_FIRST_CLAIM=1` drops the first claimed job as
/// if the poll's response had been lost in flight.
pub const LOSE_FIRST_CLAIM_ENV: &str = "COMPANION_AGENT_LOSE_FIRST_CLAIM";

/// Takes back the held jobs that this process is not executing and its journal does
/// not know (journaled ones are recovered from the journal at start). False when the
/// server could not be asked (ask again later).
pub(super) async fn take_back_held<T, C>(shared: &Arc<Shared<T, C>>, jobs: &mut JoinSet<()>) -> bool
where
    T: Terminal + 'static,
    C: Toolchain + 'static,
{
    let held = match shared.client.held_jobs().await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "cannot ask the server which jobs this agent holds; asking again later");
            return false;
        }
    };
    for job in held {
        match shared.executor.journal().get(job.job_id).await {
            Ok(None) => {}
            Ok(Some(_)) => continue,
            Err(e) => {
                tracing::error!(job_id = %job.job_id, error = %e, "cannot read the journal");
                continue;
            }
        }
        if !shared.take(job.job_id) {
            continue;
        }
        tracing::warn!(job_id = %job.job_id, job_type = %job.job_type, "taking back a job the server says this agent holds (claimed before a restart or a lost poll response)");
        let s = shared.clone();
        jobs.spawn(async move { handle_job(&s, job, true).await });
    }
    true
}
