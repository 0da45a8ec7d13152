//! The notification hub: ONE dedicated `LISTEN` connection on `companion_jobs` and
//! `companion_events`, fanned out in memory. Long-polls wait on [`JobWake`]; the
//! event stream subscribes to [`EventHub`]. No request ever opens its own LISTEN.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use companion_protocol::PriceTick;
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use tokio::sync::{broadcast, Notify};
use uuid::Uuid;

/// Channel the `jobs` trigger notifies when a job becomes pending.
pub const JOBS_CHANNEL: &str = "companion_jobs";
/// Channel the row-change triggers notify (jobs, signals, agents).
pub const EVENTS_CHANNEL: &str = "companion_events";

/// Payload of `companion_jobs`: `{job_id, user_id, agent_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobNotice {
    pub job_id: Uuid,
    pub user_id: Uuid,
    #[serde(default)]
    pub agent_id: Option<Uuid>,
}

/// Payload of `companion_events`: `{kind, id, user_id, op}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEvent {
    /// `job`, `signal` or `agent`.
    pub kind: String,
    pub id: Uuid,
    pub user_id: Uuid,
    /// `INSERT`, `UPDATE` or `DELETE` (as the trigger reports it).
    pub op: String,
}

/// Latest quotes an agent pushed for its owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceUpdate {
    pub user_id: Uuid,
    pub agent_id: Uuid,
    pub prices: Vec<PriceTick>,
}

/// What subscribers of the event hub receive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HubEvent {
    /// A row changed (from `companion_events`).
    Change(ChangeEvent),
    /// An agent pushed prices (in memory, never stored).
    Prices(PriceUpdate),
    /// The listener reconnected: notifications may have been missed, refetch state.
    Resync,
}

impl HubEvent {
    /// The user this event belongs to; `None` for events meant for everyone.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            HubEvent::Change(c) => Some(c.user_id),
            HubEvent::Prices(p) => Some(p.user_id),
            HubEvent::Resync => None,
        }
    }
}

/// Broadcast of row changes and prices to every event-stream subscriber.
#[derive(Clone)]
pub struct EventHub {
    tx: broadcast::Sender<HubEvent>,
}

impl EventHub {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        EventHub { tx }
    }

    /// A receiver of every event from now on (filter by `user_id()`).
    pub fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.tx.subscribe()
    }

    pub fn publish(&self, event: HubEvent) {
        // No subscribers is fine.
        let _ = self.tx.send(event);
    }
}

/// Wakes long-polls when a job becomes pending for their user.
#[derive(Clone, Default)]
pub struct JobWake {
    by_user: Arc<Mutex<HashMap<Uuid, Arc<Notify>>>>,
}

impl JobWake {
    /// The `Notify` that fires when a job for `user_id` becomes pending. Create a
    /// `notified()` future and `enable()` it BEFORE trying to claim, so that a job
    /// inserted between the attempt and the wait still wakes the poll.
    pub fn for_user(&self, user_id: Uuid) -> Arc<Notify> {
        let mut map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(user_id).or_default().clone()
    }

    /// Wakes every waiting long-poll of `user_id`.
    pub fn wake_user(&self, user_id: Uuid) {
        let notify = {
            let map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
            map.get(&user_id).cloned()
        };
        if let Some(n) = notify {
            n.notify_waiters();
        }
    }

    /// Wakes every waiting long-poll (after a listener reconnect).
    pub fn wake_all(&self) {
        let all: Vec<Arc<Notify>> = {
            let mut map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
            // Drop entries nobody holds any more.
            map.retain(|_, n| Arc::strong_count(n) > 1);
            map.values().cloned().collect()
        };
        for n in all {
            n.notify_waiters();
        }
    }
}

/// Connects the listener and LISTENs on both channels. Fails if the database is unreachable.
pub async fn connect_listener(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.eager_reconnect(true);
    listener.listen_all([JOBS_CHANNEL, EVENTS_CHANNEL]).await?;
    Ok(listener)
}

/// Runs the fan-out loop forever: each notification is parsed and dispatched; on a
/// lost connection every waiter is woken (a notification may have been missed).
pub async fn run_listener(mut listener: PgListener, jobs: JobWake, events: EventHub) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => {
                backoff = Duration::from_millis(200);
                dispatch(n.channel(), n.payload(), &jobs, &events);
            }
            Ok(None) => {
                tracing::warn!("notification listener reconnected; waking all waiters");
                jobs.wake_all();
                events.publish(HubEvent::Resync);
            }
            Err(err) => {
                tracing::warn!(error = %err, "notification listener error; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                jobs.wake_all();
                events.publish(HubEvent::Resync);
            }
        }
    }
}

fn dispatch(channel: &str, payload: &str, jobs: &JobWake, events: &EventHub) {
    match channel {
        JOBS_CHANNEL => match serde_json::from_str::<JobNotice>(payload) {
            Ok(notice) => jobs.wake_user(notice.user_id),
            Err(err) => tracing::warn!(error = %err, "unparseable {JOBS_CHANNEL} payload"),
        },
        EVENTS_CHANNEL => match serde_json::from_str::<ChangeEvent>(payload) {
            Ok(change) => events.publish(HubEvent::Change(change)),
            Err(err) => tracing::warn!(error = %err, "unparseable {EVENTS_CHANNEL} payload"),
        },
        other => tracing::debug!(channel = other, "notification on an unexpected channel"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_notice_wakes_only_its_user() {
        let jobs = JobWake::default();
        let events = EventHub::new(8);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let na = jobs.for_user(a);
        let nb = jobs.for_user(b);
        let fa = na.notified();
        let fb = nb.notified();
        tokio::pin!(fa, fb);
        fa.as_mut().enable();
        fb.as_mut().enable();
        let payload = format!(
            r#"{{"job_id":"{}","user_id":"{}","agent_id":null}}"#,
            Uuid::new_v4(),
            a
        );
        dispatch(JOBS_CHANNEL, &payload, &jobs, &events);
        assert!(futures::poll!(fa).is_ready());
        assert!(futures::poll!(fb).is_pending());
    }

    #[tokio::test]
    async fn change_events_reach_subscribers() {
        let jobs = JobWake::default();
        let events = EventHub::new(8);
        let mut rx = events.subscribe();
        let (id, user) = (Uuid::new_v4(), Uuid::new_v4());
        let payload =
            format!(r#"{{"kind":"signal","id":"{id}","user_id":"{user}","op":"INSERT"}}"#);
        dispatch(EVENTS_CHANNEL, &payload, &jobs, &events);
        let got = rx.try_recv().unwrap();
        assert_eq!(got.user_id(), Some(user));
        assert!(matches!(got, HubEvent::Change(c) if c.kind == "signal" && c.id == id));
    }
}
