//! The stale-job sweeper (DESIGN section 6). One [`sweep`] pass:
//! 1. pending trade jobs past `expires_at` fail (`expired`) and are never handed out;
//! 2. running jobs whose claim is stale (claimed and no job heartbeat for
//!    `stale_after`): non-trade jobs go back to pending (the claim's `attempts`
//!    counts them) until `max_attempts`, then fail; trade jobs go back to pending for
//!    the SAME agent only (it reconciles by the order comment) while unexpired, and
//!    are failed with [`LOST_CLAIM_REASON`] once expired and quiet for
//!    `trading_stale_after` (5 s by default, not `stale_after`: a trade's deadline is
//!    a minute, so an agent that is gone costs at most deadline + 5 s + one sweep
//!    interval; that agent's late result still wins);
//! 3. agents with no heartbeat for `agent_offline_after` are marked offline.
//!
//! Every step locks with `SKIP LOCKED`, so several servers may sweep at once.

use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::propagate::{propagate, Outcome};
use super::{JobRow, EXPIRED_REASON, JOB_COLUMNS, LOST_CLAIM_REASON};
use crate::config::Config;

/// Thresholds of one sweep.
#[derive(Debug, Clone)]
pub struct SweepRules {
    pub stale_after: Duration,
    /// A running trading job past its deadline with no claim or job heartbeat for this
    /// long is failed as lost (its agent can no longer execute it anyway).
    pub trading_stale_after: Duration,
    pub agent_offline_after: Duration,
}

impl SweepRules {
    pub fn from_config(c: &Config) -> Self {
        SweepRules {
            stale_after: Duration::from_secs(c.stale_claim_secs),
            trading_stale_after: Duration::from_secs(c.trading_stale_claim_secs),
            agent_offline_after: Duration::from_secs(c.agent_offline_secs),
        }
    }
}

impl Default for SweepRules {
    fn default() -> Self {
        SweepRules {
            stale_after: Duration::from_secs(300),
            trading_stale_after: Duration::from_secs(5),
            agent_offline_after: Duration::from_secs(90),
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    /// Trade jobs failed as expired (never claimed, or lost while claimed).
    pub expired: Vec<Uuid>,
    /// Stale jobs put back to pending.
    pub requeued: Vec<Uuid>,
    /// Stale non-trade jobs failed after their last attempt.
    pub failed: Vec<Uuid>,
    pub agents_offline: u64,
}

const TRADING: &str = "('trade', 'close_position', 'modify_position', 'cancel_orders')";

/// One pass over the queue.
pub async fn sweep(db: &PgPool, rules: &SweepRules) -> Result<SweepReport, sqlx::Error> {
    let mut report = SweepReport::default();
    let stale_secs = rules.stale_after.as_secs_f64();
    let mut tx = db.begin().await?;

    // 1. Pending trade jobs past their deadline.
    let expired: Vec<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update jobs j set status = 'failed', \
             error_message = case when j.claimed_at is null then $1 else $2 end, \
             completed_at = now(), updated_at = now() \
         where j.id in (select id from jobs where status = 'pending' and job_type in {TRADING} \
                        and expires_at is not null and expires_at <= now() for update skip locked) \
         returning {JOB_COLUMNS}"
    )))
    .bind(EXPIRED_REASON)
    .bind(LOST_CLAIM_REASON)
    .fetch_all(&mut *tx)
    .await?;

    // 2a. Quiet trade claims that are past their deadline: outcome unknown.
    let lost: Vec<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update jobs j set status = 'failed', error_message = $2, completed_at = now(), updated_at = now() \
         where j.id in (select id from jobs where status = 'running' and job_type in {TRADING} \
                        and greatest(claimed_at, coalesce(heartbeat_at, claimed_at)) < now() - make_interval(secs => $1) \
                        and expires_at is not null and expires_at <= now() for update skip locked) \
         returning {JOB_COLUMNS}"
    )))
    .bind(rules.trading_stale_after.as_secs_f64())
    .bind(LOST_CLAIM_REASON)
    .fetch_all(&mut *tx)
    .await?;

    // 2b. Stale claims that may run again: pending, same agent_id (for trade jobs that
    // restricts them to the claimer; targeted jobs stay targeted).
    let requeued: Vec<Uuid> = sqlx::query_scalar(
        "update jobs j set status = 'pending', heartbeat_at = null, updated_at = now() \
         where j.id in (select id from jobs where status = 'running' \
                        and greatest(claimed_at, coalesce(heartbeat_at, claimed_at)) < now() - make_interval(secs => $1) \
                        and attempts < max_attempts \
                        and (expires_at is null or expires_at > now()) for update skip locked) \
         returning j.id",
    )
    .bind(stale_secs)
    .fetch_all(&mut *tx)
    .await?;

    // 2c. Stale claims out of attempts.
    let exhausted: Vec<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update jobs j set status = 'failed', \
             error_message = 'stale: no result after ' || j.attempts || ' attempt(s)', \
             completed_at = now(), updated_at = now() \
         where j.id in (select id from jobs where status = 'running' \
                        and greatest(claimed_at, coalesce(heartbeat_at, claimed_at)) < now() - make_interval(secs => $1) \
                        and attempts >= max_attempts for update skip locked) \
         returning {JOB_COLUMNS}"
    )))
    .bind(stale_secs)
    .fetch_all(&mut *tx)
    .await?;

    for job in expired.iter().chain(&lost).chain(&exhausted) {
        let reason = job.error_message.as_deref().unwrap_or("failed");
        propagate(&mut tx, job, Outcome::Failed(reason)).await?;
    }

    // 3. Agents gone quiet.
    let offline = sqlx::query(
        "update mt5_agents set is_connected = false, status = 'offline', updated_at = now() \
         where (is_connected or status <> 'offline') \
           and (last_heartbeat is null or last_heartbeat < now() - make_interval(secs => $1))",
    )
    .bind(rules.agent_offline_after.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    report.expired = expired.iter().chain(&lost).map(|j| j.id).collect();
    report.requeued = requeued;
    report.failed = exhausted.iter().map(|j| j.id).collect();
    report.agents_offline = offline.rows_affected();
    Ok(report)
}

/// Sweeps every `every` forever (spawned by `serve`).
pub async fn run(db: PgPool, rules: SweepRules, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match sweep(&db, &rules).await {
            Ok(r) if r != SweepReport::default() => tracing::info!(
                expired = r.expired.len(),
                requeued = r.requeued.len(),
                failed = r.failed.len(),
                agents_offline = r.agents_offline,
                "sweeper pass"
            ),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "sweeper pass failed; will retry"),
        }
    }
}
