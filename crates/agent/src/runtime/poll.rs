//! The claim loop: long-polls the server for jobs (or short-polls, in tests) and
//! runs each claimed job in its own task, up to the concurrency limit, honouring
//! pause and stop. At start and after a failed poll it first takes back what the
//! server says this agent holds ([`super::take_back`]).

use std::sync::Arc;
use std::time::Duration;

use companion_protocol::ClaimedJob;
use companion_terminal::Terminal;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::report::report_one;
use super::take_back::{take_back_held, LOSE_FIRST_CLAIM_ENV};
use super::{backoff, CurrentJob, RunState, Shared};
use crate::client::ClientError;
use crate::toolchain::Toolchain;

/// Claims jobs (long-poll) and spawns one task per job, up to the concurrency limit.
pub(super) async fn poll_loop<T, C>(shared: Arc<Shared<T, C>>, jobs: &mut JoinSet<()>)
where
    T: Terminal + 'static,
    C: Toolchain + 'static,
{
    let permits = Arc::new(Semaphore::new(shared.opts.max_concurrent_jobs.max(1)));
    let mut delays = backoff();
    let mut paused = shared.paused.clone();
    let wait = if shared.opts.short_poll_interval.is_some() {
        0
    } else {
        shared.opts.poll_wait_secs
    };
    // Ask the server which jobs it believes we hold: at start (a claim may have landed
    // just before the last stop, before its journal entry) and after a failed poll
    // (its response may have carried a job we never read).
    let mut check_held = true;
    // Test-only hook: the first claimed job is dropped as if its response were lost.
    let mut lose_claim = std::env::var(LOSE_FIRST_CLAIM_ENV).is_ok_and(|v| v == "1");
    loop {
        while jobs.try_join_next().is_some() {}
        if check_held && !*paused.borrow() {
            check_held = !take_back_held(&shared, jobs).await;
        }
        if *paused.borrow() {
            shared.update(|s| s.state = RunState::Paused);
            tokio::select! {
                _ = shared.cancel.cancelled() => return,
                _ = paused.wait_for(|p| !*p) => {}
            }
            shared.update(|s| s.state = RunState::Running);
        }
        let permit = tokio::select! {
            _ = shared.cancel.cancelled() => return,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let claimed = tokio::select! {
            _ = shared.cancel.cancelled() => return,
            // A pause does not cancel an in-flight poll: a job it claims is executed.
            r = shared.client.next_job(wait) => r,
        };
        match claimed {
            Ok(Some(job)) if lose_claim => {
                lose_claim = false;
                check_held = true;
                tracing::warn!(job_id = %job.job_id, "{LOSE_FIRST_CLAIM_ENV}=1: dropping this claim's response (test hook)");
            }
            Ok(Some(job)) => {
                shared.server_ok();
                delays = backoff();
                let s = shared.clone();
                if s.take(job.job_id) {
                    jobs.spawn(async move {
                        handle_job(&s, job, false).await;
                        drop(permit);
                    });
                }
            }
            Ok(None) => {
                shared.server_ok();
                delays = backoff();
                if let Some(interval) = shared.opts.short_poll_interval {
                    tokio::select! {
                        _ = shared.cancel.cancelled() => return,
                        _ = tokio::time::sleep(interval) => {}
                    }
                }
            }
            Err(e @ ClientError::BadKey { .. }) => {
                shared.fatal(e).await;
                return;
            }
            Err(e) => {
                check_held = true;
                let d = delays.next().unwrap_or(Duration::from_secs(30));
                tracing::warn!(error = %e, retry_in_ms = d.as_millis() as u64, "claiming jobs failed");
                shared.server_down(&e);
                tokio::select! {
                    _ = shared.cancel.cancelled() => return,
                    _ = tokio::time::sleep(d) => {}
                }
            }
        }
    }
}

/// Executes one claimed (or taken back) job and posts its result (the reporter
/// retries on failure).
pub(super) async fn handle_job<T, C>(shared: &Shared<T, C>, job: ClaimedJob, taken_back: bool)
where
    T: Terminal + 'static,
    C: Toolchain + 'static,
{
    let id = job.job_id;
    tracing::info!(job_id = %id, job_type = %job.job_type, attempt = job.attempt, taken_back, "claimed job");
    shared.update(|s| {
        s.current_jobs.push(CurrentJob {
            job_id: id,
            job_type: job.job_type,
        })
    });
    // The terminal of the job's account (several terminals: runtime::slots).
    let result = match shared.executor_for(&job).await {
        Ok(ex) if taken_back => ex.take_back(&job).await.map(Some),
        Ok(ex) => ex.run_claimed(&job).await.map(Some),
        Err(reason) => {
            tracing::warn!(job_id = %id, %reason, "no terminal for this job's account");
            shared.executor.refuse(&job, reason).await
        }
    };
    shared.update(|s| s.current_jobs.retain(|j| j.job_id != id));
    shared.release(id);
    match result {
        Ok(None) => {
            tracing::error!(job_id = %id, "a trade sent to a terminal this agent does not serve now: left unfinished until that terminal is back");
        }
        Ok(Some(r)) => {
            tracing::info!(job_id = %id, status = ?r.status, error = r.error_message.as_deref().unwrap_or(""), "job finished");
            report_one(shared, id, &r).await;
        }
        Err(e) => {
            tracing::error!(job_id = %id, error = %e, "journal failure; the job's result could not be recorded");
            shared.update(|s| s.last_error = Some(e.to_string()));
        }
    }
    shared.report_wake.notify_one();
    shared.deals_wake.notify_one();
}
