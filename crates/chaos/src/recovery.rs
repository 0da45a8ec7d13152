//! "Time from restart to recovered job": the jobs the agent held (running, claimed by
//! it) when the chaos run killed it, and how long after its restart each one got its
//! verdict (completed or failed). Times are the database's clock on both ends.

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// Kills and restarts seen so far.
#[derive(Default)]
pub struct Recoveries {
    /// Jobs held at the last kill, waiting for the restart.
    held_at_kill: Vec<Uuid>,
    /// (restart time, jobs held at the kill before it).
    restarts: Vec<(f64, Vec<Uuid>)>,
}

/// What [`Recoveries::report`] measured.
#[derive(Debug, Default, Serialize)]
pub struct RecoveryReport {
    /// Agent restarts after a kill that left at least one held job.
    pub restarts_with_held_jobs: usize,
    /// Jobs held at a kill and resolved after the restart.
    pub jobs: usize,
    pub p50_ms: f64,
    pub max_ms: f64,
    /// Held jobs that got their verdict before the agent came back (e.g. the sweeper).
    pub resolved_before_restart: usize,
    /// Held jobs without a verdict at the end of the run.
    pub unresolved: usize,
}

impl Recoveries {
    /// Just after a kill: remember what the agent held. Best effort (the database may
    /// be the next fault's target).
    pub async fn agent_killed(&mut self, db: &PgPool, agent_id: Uuid) {
        match sqlx::query_scalar::<_, Uuid>(
            "select id from jobs where agent_id = $1 and status = 'running'",
        )
        .bind(agent_id)
        .fetch_all(db)
        .await
        {
            Ok(ids) => self.held_at_kill.extend(ids),
            Err(e) => println!("chaos: cannot list the killed agent's jobs: {e}"),
        }
    }

    /// Just after the agent was started again.
    pub async fn agent_restarted(&mut self, db: &PgPool) {
        if self.held_at_kill.is_empty() {
            return;
        }
        let now: Result<f64, _> = sqlx::query_scalar("select extract(epoch from now())::float8")
            .fetch_one(db)
            .await;
        match now {
            Ok(t) => self
                .restarts
                .push((t, std::mem::take(&mut self.held_at_kill))),
            Err(e) => println!("chaos: cannot read the database clock: {e}"),
        }
    }

    /// Verdict times of every job held at a kill, from the restart that followed it.
    pub async fn report(&self, db: &PgPool) -> Result<RecoveryReport, sqlx::Error> {
        let mut r = RecoveryReport {
            restarts_with_held_jobs: self.restarts.len(),
            ..Default::default()
        };
        let mut ms: Vec<f64> = Vec::new();
        for (restarted, ids) in &self.restarts {
            let done: Vec<Option<f64>> = sqlx::query_scalar(
                "select extract(epoch from completed_at)::float8 from jobs where id = any($1)",
            )
            .bind(ids)
            .fetch_all(db)
            .await?;
            for d in done {
                match d {
                    None => r.unresolved += 1,
                    Some(t) if t < *restarted => r.resolved_before_restart += 1,
                    Some(t) => ms.push((t - restarted) * 1000.0),
                }
            }
        }
        ms.sort_by(f64::total_cmp);
        r.jobs = ms.len();
        if !ms.is_empty() {
            r.p50_ms = ms[ms.len() / 2];
            r.max_ms = ms[ms.len() - 1];
        }
        Ok(r)
    }
}
