//! Notices the server sends itself, after the commit of the hot paths (webhook ingest,
//! claim, a `get_account`-like result), instead of a NOTIFY trigger inside them.
//!
//! PostgreSQL serialises the commits of every transaction that ran NOTIFY (a
//! database-wide lock from pre-commit until the commit record is on disk): such
//! transactions never share a group commit. With a NOTIFY trigger on every alert, claim
//! and result, those paths ran at one fsync per commit (pgbench on the CI machine: 12,545
//! one-row inserts/s alone, 1,852/s with a NOTIFY in the transaction). Those paths now
//! run with `companion.notify = off` (migration 0019: the triggers skip), and after
//! their commit the server
//!  1. delivers the notice in memory at once: this replica's long-polls and event
//!     streams see it without a round trip through PostgreSQL;
//!  2. queues it for the other replicas: one task sends what is queued in batches with
//!     `publish_notices`, on its own connection, in a transaction with
//!     `synchronous_commit = off` (nothing to flush: a notice is not data).
//!
//! Every payload names this replica (`origin`); its own listener skips them. A replica
//! that dies between a commit and the batch loses those notices: every replica sends a
//! resync notice when it starts, which voids every other replica's empty-claim marks
//! and wakes their polls; a batch that cannot be sent is replaced by a resync too. A
//! job whose notice was lost with a replica that never comes back is claimed at the
//! latest when its agent's empty-claim mark expires (`queue::idle`).

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::hub::{
    ChangeEvent, EventHub, HubEvent, JobNotice, JobWake, EVENTS_CHANNEL, JOBS_CHANNEL,
    RESYNC_CHANNEL,
};

/// Most notices sent in one `publish_notices` call.
const MAX_BATCH: usize = 512;

/// What a row change was (the triggers' `lower(TG_OP)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Insert,
    Update,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::Update => "update",
        }
    }
}

/// The kinds of rows whose changes are published (the triggers' argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Job,
    Signal,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Job => "job",
            Kind::Signal => "signal",
        }
    }
}

/// Sends this replica's notices: in memory now, to the other replicas in batches.
#[derive(Clone)]
pub struct Publisher {
    origin: Uuid,
    queue: mpsc::UnboundedSender<(&'static str, String)>,
    jobs: JobWake,
    events: EventHub,
}

impl Publisher {
    /// Starts the sending task on `db` (a pool of its own: a busy query pool must not
    /// delay other replicas' wake-ups) and queues this replica's start-up resync.
    pub fn start(db: PgPool, jobs: JobWake, events: EventHub) -> Self {
        let origin = Uuid::new_v4();
        let (queue, rx) = mpsc::unbounded_channel();
        let p = Publisher {
            origin,
            queue,
            jobs,
            events,
        };
        // A replica that starts may replace one that died with notices unsent.
        p.send(RESYNC_CHANNEL, origin.to_string());
        tokio::spawn(run(db, rx, origin));
        p
    }

    /// This replica's origin (its listener skips notices carrying it).
    pub fn origin(&self) -> Uuid {
        self.origin
    }

    /// `job_id` became pending for `user_id` (committed): wakes the user's polls.
    pub fn job_pending(&self, job_id: Uuid, user_id: Uuid, agent_id: Option<Uuid>) {
        self.jobs.wake_user(user_id);
        let notice = JobNotice {
            job_id,
            user_id,
            agent_id,
            origin: Some(self.origin),
        };
        if let Ok(payload) = serde_json::to_string(&notice) {
            self.send(JOBS_CHANNEL, payload);
        }
    }

    /// A `kind` row of `user_id` changed (committed): tells the event streams.
    pub fn changed(&self, kind: Kind, id: Uuid, user_id: Uuid, op: Op) {
        let mut change = ChangeEvent {
            kind: kind.as_str().to_string(),
            id,
            user_id,
            op: op.as_str().to_string(),
            origin: Some(self.origin),
        };
        if let Ok(payload) = serde_json::to_string(&change) {
            self.send(EVENTS_CHANNEL, payload);
        }
        change.origin = None;
        self.events.publish(HubEvent::Change(change));
    }

    fn send(&self, channel: &'static str, payload: String) {
        // The task ends only with the runtime.
        let _ = self.queue.send((channel, payload));
    }
}

/// Sends the queue in batches until every sender is gone. A batch that fails is
/// replaced by a resync notice (sent with the next batch that works).
async fn run(db: PgPool, mut rx: mpsc::UnboundedReceiver<(&'static str, String)>, origin: Uuid) {
    let mut owe_resync = false;
    let mut failures = 0u32;
    let mut batch: Vec<(&'static str, String)> = Vec::new();
    loop {
        if batch.is_empty() && !owe_resync {
            match rx.recv().await {
                Some(n) => batch.push(n),
                None => return,
            }
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(n) => batch.push(n),
                Err(_) => break,
            }
        }
        if owe_resync {
            batch.push((RESYNC_CHANNEL, origin.to_string()));
        }
        let (channels, payloads): (Vec<&str>, Vec<String>) = batch.drain(..).unzip();
        match sqlx::query("select public.publish_notices($1, $2)")
            .bind(&channels)
            .bind(&payloads)
            .execute(&db)
            .await
        {
            Ok(_) => {
                owe_resync = false;
                failures = 0;
            }
            Err(err) => {
                // The notices are lost; the resync tells the other replicas so.
                owe_resync = true;
                failures = failures.saturating_add(1);
                let wait = Duration::from_millis(100 * 2u64.pow(failures.min(6)));
                tracing::warn!(error = %err, lost = channels.len(), retry_in_ms = wait.as_millis() as u64,
                    "could not send notices to the other replicas; a resync follows");
                tokio::time::sleep(wait).await;
            }
        }
    }
}
