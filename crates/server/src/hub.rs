//! The notification hub: ONE dedicated `LISTEN` connection on `companion_jobs`,
//! `companion_events` and `companion_resync`, fanned out in memory. Long-polls wait on
//! [`JobWake`]; the event stream subscribes to [`EventHub`]. No request ever opens its
//! own LISTEN. Notices this replica sent itself ([`crate::publish`]) carry its origin
//! and were delivered in memory already: the listener skips them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
/// Channel a replica notifies (payload: its origin) when other replicas may have
/// missed its notices: it just started, or a batch of notices could not be sent.
pub const RESYNC_CHANNEL: &str = "companion_resync";

/// Payload of `companion_jobs`: `{job_id, user_id, agent_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobNotice {
    pub job_id: Uuid,
    pub user_id: Uuid,
    #[serde(default)]
    pub agent_id: Option<Uuid>,
    /// The replica that sent it (`None`: a database trigger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Uuid>,
}

/// Payload of `companion_events`: `{kind, id, user_id, op}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEvent {
    /// `job`, `signal` or `agent`.
    pub kind: String,
    pub id: Uuid,
    pub user_id: Uuid,
    /// `insert` or `update` (as the trigger reports it).
    pub op: String,
    /// The replica that sent it (`None`: a database trigger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Uuid>,
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

/// What one user's long-polls share: the wake-up, and a generation that changes on
/// every job notice for the user (so a poll can tell whether anything was queued
/// since its last empty claim).
#[derive(Default)]
pub struct UserWake {
    /// Fires when a job for the user becomes pending. Create a `notified()` future and
    /// `enable()` it BEFORE taking a [`WakeMark`] or claiming, so that a job inserted
    /// in between still wakes the poll.
    pub notify: Notify,
    gen: AtomicU64,
}

impl UserWake {
    /// Voids every mark taken so far for this user: a claim for the user failed, and
    /// a failed claim may have held a job locked (`claim_next_job` skips locked rows)
    /// while a concurrent claim came back empty, with no notice to follow.
    pub fn void_marks(&self, wake: &JobWake) {
        self.gen.store(wake.fresh_gen(), Ordering::SeqCst);
    }
}

/// The notification state a poll saw: equal marks mean no job notice for the user
/// and no listener outage in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WakeMark {
    gen: u64,
    epoch: u64,
}

/// Wakes long-polls when a job becomes pending for their user.
#[derive(Clone, Default)]
pub struct JobWake {
    inner: Arc<WakeInner>,
}

#[derive(Default)]
struct WakeInner {
    by_user: Mutex<HashMap<Uuid, Arc<UserWake>>>,
    /// Source of generations: every value handed out is unique, so a user entry that
    /// is dropped and created again never repeats an old generation.
    next_gen: AtomicU64,
    /// Bumped each time LISTEN is (re-)established.
    epoch: AtomicU64,
    /// True while LISTEN is active (notifications cannot be missed).
    listening: AtomicBool,
}

impl JobWake {
    /// The wake-up state of `user_id`'s long-polls.
    pub fn for_user(&self, user_id: Uuid) -> Arc<UserWake> {
        let mut map = self.inner.by_user.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(user_id)
            .or_insert_with(|| {
                Arc::new(UserWake {
                    gen: AtomicU64::new(self.fresh_gen()),
                    ..UserWake::default()
                })
            })
            .clone()
    }

    fn fresh_gen(&self) -> u64 {
        self.inner.next_gen.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The current mark of `user`, or `None` while LISTEN is down (then nothing can
    /// be concluded from the absence of notices). Take it after enabling `notified()`.
    pub fn mark(&self, user: &UserWake) -> Option<WakeMark> {
        if !self.inner.listening.load(Ordering::SeqCst) {
            return None;
        }
        let mark = WakeMark {
            gen: user.gen.load(Ordering::SeqCst),
            epoch: self.inner.epoch.load(Ordering::SeqCst),
        };
        // Re-check: an outage that began while reading makes the mark worthless.
        self.inner.listening.load(Ordering::SeqCst).then_some(mark)
    }

    /// Wakes every waiting long-poll of `user_id` (a job became pending for it).
    pub fn wake_user(&self, user_id: Uuid) {
        let user = {
            let map = self.inner.by_user.lock().unwrap_or_else(|e| e.into_inner());
            map.get(&user_id).cloned()
        };
        if let Some(u) = user {
            // The generation changes BEFORE the waiters are woken: a poll that enabled
            // its wake-up before reading the mark either sees the new generation or is woken.
            u.gen.store(self.fresh_gen(), Ordering::SeqCst);
            u.notify.notify_waiters();
        }
    }

    /// LISTEN is down: no mark is valid until [`JobWake::listening_again`].
    pub fn listener_lost(&self) {
        self.inner.listening.store(false, Ordering::SeqCst);
        self.wake_all();
    }

    /// LISTEN is (re-)established: a new epoch (older marks are void), and every
    /// waiter re-claims (a notification may have been missed during the outage).
    pub fn listening_again(&self) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        self.inner.listening.store(true, Ordering::SeqCst);
        self.wake_all();
    }

    /// Another replica's notices may have been lost: every mark taken so far is void
    /// (a new epoch) and every waiter re-claims.
    pub fn resync(&self) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        self.wake_all();
    }

    /// Wakes every waiting long-poll.
    pub fn wake_all(&self) {
        let all: Vec<Arc<UserWake>> = {
            let mut map = self.inner.by_user.lock().unwrap_or_else(|e| e.into_inner());
            // Drop entries nobody holds any more.
            map.retain(|_, n| Arc::strong_count(n) > 1);
            map.values().cloned().collect()
        };
        for u in all {
            u.notify.notify_waiters();
        }
    }
}

/// Connects the listener and LISTENs on both channels. Fails if the database is unreachable.
pub async fn connect_listener(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.eager_reconnect(true);
    listener
        .listen_all([JOBS_CHANNEL, EVENTS_CHANNEL, RESYNC_CHANNEL])
        .await?;
    Ok(listener)
}

/// Runs the fan-out loop forever: each notification is parsed and dispatched. On a
/// lost connection every waiter is woken and marks are void until LISTEN is
/// re-established on a new connection (to `url`), after which every waiter is woken
/// again (a notification may have been missed in between). `own` is this replica's
/// origin: its own notices are skipped.
pub async fn run_listener(
    mut listener: PgListener,
    url: String,
    jobs: JobWake,
    events: EventHub,
    own: Uuid,
) {
    jobs.listening_again();
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => {
                dispatch(n.channel(), n.payload(), &jobs, &events, own);
                continue;
            }
            Ok(None) => tracing::warn!("notification listener lost its connection; reconnecting"),
            Err(err) => tracing::warn!(error = %err, "notification listener error; reconnecting"),
        }
        jobs.listener_lost();
        events.publish(HubEvent::Resync);
        drop(listener);
        listener = reconnect(&url).await;
        jobs.listening_again();
        events.publish(HubEvent::Resync);
    }
}

/// Connects and LISTENs again, retrying with jittered backoff until it works.
async fn reconnect(url: &str) -> PgListener {
    use backon::BackoffBuilder;
    let mut delays = backon::ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .without_max_times()
        .build();
    loop {
        match connect_listener(url).await {
            Ok(l) => return l,
            Err(err) => {
                let d = delays.next().unwrap_or(Duration::from_secs(10));
                tracing::warn!(error = %err, retry_in_ms = d.as_millis() as u64, "cannot re-LISTEN yet");
                tokio::time::sleep(d).await;
            }
        }
    }
}

fn dispatch(channel: &str, payload: &str, jobs: &JobWake, events: &EventHub, own: Uuid) {
    match channel {
        JOBS_CHANNEL => match serde_json::from_str::<JobNotice>(payload) {
            Ok(notice) if notice.origin == Some(own) => {}
            Ok(notice) => jobs.wake_user(notice.user_id),
            Err(err) => tracing::warn!(error = %err, "unparseable {JOBS_CHANNEL} payload"),
        },
        EVENTS_CHANNEL => match serde_json::from_str::<ChangeEvent>(payload) {
            Ok(change) if change.origin == Some(own) => {}
            Ok(mut change) => {
                change.origin = None;
                events.publish(HubEvent::Change(change))
            }
            Err(err) => tracing::warn!(error = %err, "unparseable {EVENTS_CHANNEL} payload"),
        },
        RESYNC_CHANNEL if payload == own.to_string() => {}
        RESYNC_CHANNEL => {
            tracing::info!(
                origin = payload,
                "another replica may have lost notices; every long-poll re-claims"
            );
            jobs.resync();
            events.publish(HubEvent::Resync);
        }
        other => tracing::debug!(channel = other, "notification on an unexpected channel"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This replica's origin in the tests.
    const OWN: Uuid = Uuid::from_u128(0x0123);

    #[tokio::test]
    async fn own_notices_are_skipped_and_another_replicas_resync_voids_every_mark() {
        let jobs = JobWake::default();
        let events = EventHub::new(8);
        let mut rx = events.subscribe();
        jobs.listening_again();
        let a = Uuid::new_v4();
        let ua = jobs.for_user(a);
        let before = jobs.mark(&ua).unwrap();
        let own = serde_json::to_string(&JobNotice {
            job_id: Uuid::new_v4(),
            user_id: a,
            agent_id: None,
            origin: Some(OWN),
        })
        .unwrap();
        dispatch(JOBS_CHANNEL, &own, &jobs, &events, OWN);
        assert_eq!(
            jobs.mark(&ua).unwrap(),
            before,
            "delivered in memory already"
        );
        let change = ChangeEvent {
            kind: "job".into(),
            id: Uuid::new_v4(),
            user_id: a,
            op: "update".into(),
            origin: Some(OWN),
        };
        let own_change = serde_json::to_string(&change).unwrap();
        dispatch(EVENTS_CHANNEL, &own_change, &jobs, &events, OWN);
        assert!(rx.try_recv().is_err(), "own change not published twice");
        // Another replica's change reaches subscribers, without its origin.
        let other = serde_json::to_string(&ChangeEvent {
            origin: Some(Uuid::new_v4()),
            ..change.clone()
        })
        .unwrap();
        dispatch(EVENTS_CHANNEL, &other, &jobs, &events, OWN);
        assert_eq!(
            rx.try_recv().unwrap(),
            HubEvent::Change(ChangeEvent {
                origin: None,
                ..change
            })
        );
        // Our own resync is ignored; another replica's voids every mark.
        dispatch(RESYNC_CHANNEL, &OWN.to_string(), &jobs, &events, OWN);
        assert_eq!(jobs.mark(&ua).unwrap(), before);
        let waiter = ua.notify.notified();
        tokio::pin!(waiter);
        waiter.as_mut().enable();
        dispatch(
            RESYNC_CHANNEL,
            &Uuid::new_v4().to_string(),
            &jobs,
            &events,
            OWN,
        );
        assert_ne!(jobs.mark(&ua).unwrap(), before);
        assert!(futures::poll!(waiter).is_ready());
        assert_eq!(rx.try_recv().unwrap(), HubEvent::Resync);
    }

    #[tokio::test]
    async fn a_job_notice_wakes_only_its_user() {
        let jobs = JobWake::default();
        let events = EventHub::new(8);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let na = jobs.for_user(a);
        let nb = jobs.for_user(b);
        let fa = na.notify.notified();
        let fb = nb.notify.notified();
        tokio::pin!(fa, fb);
        fa.as_mut().enable();
        fb.as_mut().enable();
        let payload = format!(
            r#"{{"job_id":"{}","user_id":"{}","agent_id":null}}"#,
            Uuid::new_v4(),
            a
        );
        dispatch(JOBS_CHANNEL, &payload, &jobs, &events, OWN);
        assert!(futures::poll!(fa).is_ready());
        assert!(futures::poll!(fb).is_pending());
    }

    #[test]
    fn a_mark_changes_with_a_notice_or_an_outage_and_is_void_while_not_listening() {
        let jobs = JobWake::default();
        let events = EventHub::new(8);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let (ua, ub) = (jobs.for_user(a), jobs.for_user(b));
        assert_eq!(jobs.mark(&ua), None, "not listening yet");
        jobs.listening_again();
        let (ma, mb) = (jobs.mark(&ua).unwrap(), jobs.mark(&ub).unwrap());
        let payload = format!(
            r#"{{"job_id":"{}","user_id":"{}","agent_id":null}}"#,
            Uuid::new_v4(),
            a
        );
        dispatch(JOBS_CHANNEL, &payload, &jobs, &events, OWN);
        assert_ne!(
            jobs.mark(&ua).unwrap(),
            ma,
            "a notice for a changes a's mark"
        );
        assert_eq!(jobs.mark(&ub).unwrap(), mb, "and not b's");
        jobs.listener_lost();
        assert_eq!(jobs.mark(&ub), None);
        jobs.listening_again();
        assert_ne!(jobs.mark(&ub).unwrap(), mb, "a new epoch after an outage");
        // A user entry dropped and created again never repeats a generation.
        let mb2 = jobs.mark(&ub).unwrap();
        drop(ub);
        jobs.wake_all();
        assert_ne!(jobs.mark(&jobs.for_user(b)).unwrap(), mb2);
    }

    #[test]
    fn a_failed_claim_voids_the_users_marks() {
        let jobs = JobWake::default();
        jobs.listening_again();
        let u = jobs.for_user(Uuid::new_v4());
        let before = jobs.mark(&u).unwrap();
        u.void_marks(&jobs);
        assert_ne!(jobs.mark(&u).unwrap(), before);
    }

    #[tokio::test]
    async fn change_events_reach_subscribers() {
        let jobs = JobWake::default();
        let events = EventHub::new(8);
        let mut rx = events.subscribe();
        let (id, user) = (Uuid::new_v4(), Uuid::new_v4());
        let payload =
            format!(r#"{{"kind":"signal","id":"{id}","user_id":"{user}","op":"INSERT"}}"#);
        dispatch(EVENTS_CHANNEL, &payload, &jobs, &events, OWN);
        let got = rx.try_recv().unwrap();
        assert_eq!(got.user_id(), Some(user));
        assert!(matches!(got, HubEvent::Change(c) if c.kind == "signal" && c.id == id));
    }
}
