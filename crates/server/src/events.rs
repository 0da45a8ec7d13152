//! `GET /api/v1/events`: the owner's server-sent event stream. Each row change the
//! `companion_events` fan-out reports for the caller (signal, job, agent) is sent with
//! the row's current JSON, read under RLS; prices come from the in-memory price book.
//! `id:` is a millisecond timestamp: reconnecting with `Last-Event-ID` replays the
//! rows changed since then (a few seconds of overlap; events carry current state, so
//! a repeat is harmless; the replay reads everything in one transaction, one query per
//! kind). The first event is `ready`; `resync` asks the client to refetch (the
//! listener reconnected or the client fell behind).
//!
//! A user holds at most [`MAX_STREAMS_PER_USER`] streams at once (429 beyond). A stream
//! ends with an `unauthorized` event when its credential stops being valid: a token at
//! its `exp`; an agent key when it is rotated or its agent deleted (at once through this
//! server, else within [`RECHECK_EVERY`]).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use companion_protocol::{UserEvent, UserEventKind, AGENT_KEY_HEADER};
use futures::stream::{self, Stream};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use tokio::time::Instant;
use uuid::Uuid;

use crate::auth::{AuthVia, UserAuth};
use crate::error::ApiError;
use crate::hub::{ChangeEvent, HubEvent};
use crate::queue::view as jobs;
use crate::state::AppState;
use crate::user_api::broker_connections::{agent_columns, AgentRow};
use crate::user_api::signals;

/// Overlap replayed before `Last-Event-ID` (clock skew, commit order).
pub const RESUME_OVERLAP: Duration = Duration::from_secs(5);
/// Most rows of each kind replayed on resume.
pub const RESUME_LIMIT: i64 = 500;
/// Most event streams one user may hold open at once.
pub const MAX_STREAMS_PER_USER: usize = 8;
/// How often a stream opened with an agent key re-checks that key.
pub const RECHECK_EVERY: Duration = Duration::from_secs(15);

/// Open event streams per user.
#[derive(Clone, Default)]
pub struct StreamSlots {
    by_user: Arc<Mutex<HashMap<Uuid, usize>>>,
}

impl StreamSlots {
    /// A slot for one more stream of `user_id`, unless it already holds `max`.
    pub fn take(&self, user_id: Uuid, max: usize) -> Option<StreamSlot> {
        let mut map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        let open = map.entry(user_id).or_insert(0);
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(StreamSlot {
            slots: self.clone(),
            user_id,
        })
    }

    /// Streams `user_id` holds open now.
    pub fn open(&self, user_id: Uuid) -> usize {
        let map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&user_id).copied().unwrap_or(0)
    }
}

/// One open stream; released when dropped (the client went away or the stream ended).
pub struct StreamSlot {
    slots: StreamSlots,
    user_id: Uuid,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut map = self.slots.by_user.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(open) = map.get_mut(&self.user_id) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                map.remove(&self.user_id);
            }
        }
    }
}

/// What the stream was opened with, re-checked while it runs.
enum Credential {
    /// A user token, valid until its `exp` (Unix seconds).
    Token { expires_at: Option<i64> },
    /// An agent key: re-verified every [`RECHECK_EVERY`] and on every revocation.
    AgentKey {
        agent_id: Uuid,
        key: String,
        revoked: Receiver<Uuid>,
    },
}

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(stream_events), components(schemas(UserEvent, UserEventKind)))]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/events", get(stream_events))
}

/// Server-sent events of the caller's signals, jobs, agents and prices.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", security(("user_jwt" = [])),
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses((status = 200, description = "`text/event-stream`: events `ready`, `signal`, `job`, `agent`, `price`, `resync`; data is a UserEvent", body = UserEvent, content_type = "text/event-stream")))]
pub async fn stream_events(
    State(state): State<AppState>,
    auth: UserAuth,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let slot = state
        .streams
        .take(auth.user_id, MAX_STREAMS_PER_USER)
        .ok_or(ApiError::RateLimited {
            retry_after_secs: 5,
        })?;
    let credential = match auth.via {
        AuthVia::Jwt => Credential::Token {
            expires_at: auth.expires_at,
        },
        AuthVia::Agent(agent_id) => Credential::AgentKey {
            agent_id,
            // Authentication read this very header.
            key: headers
                .get(AGENT_KEY_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
                .unwrap_or_default(),
            revoked: state.keys.revocations(),
        },
    };
    // Subscribe before reading the replay, so nothing falls in between.
    let rx = state.events.subscribe();
    let mut pending = VecDeque::new();
    pending.push_back(
        Event::default()
            .event("ready")
            .id(now_id())
            .data(serde_json::json!({ "user_id": auth.user_id }).to_string()),
    );
    let since = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis);
    if let Some(since) = since {
        pending.extend(replay(&state, auth.user_id, since).await?);
    }
    let s = Streamer {
        state,
        user_id: auth.user_id,
        rx,
        pending,
        credential,
        next_check: Instant::now() + RECHECK_EVERY,
        ended: false,
        _slot: slot,
    };
    let stream = stream::unfold(s, |mut s| async move {
        let event = s.next().await?;
        Some((Ok(event), s))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

struct Streamer {
    state: AppState,
    user_id: Uuid,
    rx: Receiver<HubEvent>,
    pending: VecDeque<Event>,
    credential: Credential,
    /// Next periodic re-check of an agent key.
    next_check: Instant,
    /// The credential failed: the `unauthorized` event was sent, nothing follows.
    ended: bool,
    _slot: StreamSlot,
}

/// What woke the stream up.
enum Wake {
    Hub(Result<HubEvent, RecvError>),
    Recheck,
    Expired,
}

impl Streamer {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.ended {
                return None;
            }
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            let wake = match &mut self.credential {
                Credential::Token { expires_at } => {
                    let left = expires_at
                        .map(|exp| (exp - Utc::now().timestamp()).max(0) as u64)
                        .unwrap_or(365 * 24 * 3600);
                    tokio::select! {
                        r = self.rx.recv() => Wake::Hub(r),
                        _ = tokio::time::sleep(Duration::from_secs(left)) => Wake::Expired,
                    }
                }
                Credential::AgentKey {
                    agent_id, revoked, ..
                } => {
                    let mine = *agent_id;
                    tokio::select! {
                        r = self.rx.recv() => Wake::Hub(r),
                        _ = tokio::time::sleep_until(self.next_check) => Wake::Recheck,
                        r = revoked.recv() => match r {
                            Ok(id) if id != mine => continue,
                            // Ours, or revocations were missed: check now.
                            _ => Wake::Recheck,
                        },
                    }
                }
            };
            match wake {
                Wake::Expired => return Some(self.end("the access token expired")),
                Wake::Recheck => {
                    self.next_check = Instant::now() + RECHECK_EVERY;
                    if !self.key_still_valid().await {
                        return Some(self.end("the agent key was rotated or its agent deleted"));
                    }
                }
                Wake::Hub(Ok(HubEvent::Resync)) | Wake::Hub(Err(RecvError::Lagged(_))) => {
                    return Some(resync())
                }
                Wake::Hub(Err(RecvError::Closed)) => return None,
                Wake::Hub(Ok(ev)) if ev.user_id() != Some(self.user_id) => continue,
                Wake::Hub(Ok(HubEvent::Change(c))) => {
                    match render_change(&self.state, self.user_id, &c).await {
                        Ok(Some(e)) => return Some(e),
                        Ok(None) => continue,
                        Err(err) => {
                            tracing::warn!(error = %err, "event stream could not read a changed row");
                            return Some(resync());
                        }
                    }
                }
                Wake::Hub(Ok(HubEvent::Prices(p))) => {
                    let data = serde_json::to_value(&p.prices).unwrap_or(Value::Null);
                    return Some(user_event(UserEventKind::Price, p.agent_id, "update", data));
                }
            }
        }
    }

    async fn key_still_valid(&self) -> bool {
        let Credential::AgentKey { agent_id, key, .. } = &self.credential else {
            return true;
        };
        match self
            .state
            .keys
            .still_valid(&self.state.db, *agent_id, key)
            .await
        {
            Ok(valid) => valid,
            Err(err) => {
                // The database is away: keep the stream, check again later.
                tracing::warn!(error = %err, "event stream could not re-check its agent key");
                true
            }
        }
    }

    /// The final event of a stream whose credential is no longer valid.
    fn end(&mut self, why: &str) -> Event {
        self.ended = true;
        tracing::info!(user = %self.user_id, reason = why, "event stream closed");
        Event::default()
            .event("unauthorized")
            .id(now_id())
            .data(serde_json::json!({ "code": "unauthorized", "message": why }).to_string())
    }
}

fn now_id() -> String {
    Utc::now().timestamp_millis().to_string()
}

fn resync() -> Event {
    Event::default().event("resync").id(now_id()).data("{}")
}

fn user_event(kind: UserEventKind, id: Uuid, op: &str, data: Value) -> Event {
    let body = UserEvent {
        kind,
        id,
        op: op.to_string(),
        data,
    };
    Event::default()
        .event(kind.as_str())
        .id(now_id())
        .data(serde_json::to_string(&body).unwrap_or_else(|_| "{}".into()))
}

/// The changed row's current JSON under RLS, `null` when it is gone.
async fn render_change(
    state: &AppState,
    user_id: Uuid,
    c: &ChangeEvent,
) -> Result<Option<Event>, sqlx::Error> {
    let Some(kind) = kind_of(&c.kind) else {
        return Ok(None);
    };
    let mut tx = state.user_tx(user_id).await?;
    let data = match kind {
        UserEventKind::Signal => to_json(signals::fetch(&mut tx, c.id).await?),
        UserEventKind::Job => to_json(jobs::fetch(&mut tx, c.id).await?),
        _ => {
            let row: Option<AgentRow> = sqlx::query_as(concat!(
                "select ",
                agent_columns!(),
                " from public.mt5_agents where id = $1"
            ))
            .bind(c.id)
            .fetch_optional(&mut *tx)
            .await?;
            to_json(row.map(|r| r.into_summary(state.config.agent_offline_secs)))
        }
    };
    tx.commit().await?;
    Ok(Some(user_event(kind, c.id, &c.op, data)))
}

fn kind_of(kind: &str) -> Option<UserEventKind> {
    match kind {
        "signal" => Some(UserEventKind::Signal),
        "job" => Some(UserEventKind::Job),
        "agent" => Some(UserEventKind::Agent),
        _ => None,
    }
}

fn to_json<T: serde::Serialize>(v: Option<T>) -> Value {
    v.and_then(|v| serde_json::to_value(v).ok())
        .unwrap_or(Value::Null)
}

/// Rows of the caller changed since `since` (minus the overlap), oldest first: one
/// transaction, one query for the list and one per kind for the rows.
async fn replay(
    state: &AppState,
    user_id: Uuid,
    since: DateTime<Utc>,
) -> Result<Vec<Event>, ApiError> {
    let from = since - RESUME_OVERLAP;
    let mut tx = state.user_tx(user_id).await?;
    let changed: Vec<(String, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "(select 'signal', id, greatest(received_at, resolved_at) as t from public.tv_signals
           where greatest(received_at, resolved_at) > $1 order by t limit $2)
         union all
         (select 'job', id, greatest(created_at, updated_at, claimed_at, completed_at) as t from public.jobs
           where greatest(created_at, updated_at, claimed_at, completed_at) > $1 order by t limit $2)
         union all
         (select 'agent', id, greatest(created_at, updated_at, last_heartbeat) as t from public.mt5_agents
           where greatest(created_at, updated_at, last_heartbeat) > $1 order by t limit $2)
         order by 3",
    )
    .bind(from)
    .bind(RESUME_LIMIT)
    .fetch_all(&mut *tx)
    .await?;
    let ids = |k: &str| -> Vec<Uuid> {
        changed
            .iter()
            .filter(|(kind, ..)| kind == k)
            .map(|(_, id, _)| *id)
            .collect()
    };
    let mut rows: HashMap<(UserEventKind, Uuid), Value> = HashMap::new();
    let signal_ids = ids("signal");
    if !signal_ids.is_empty() {
        for s in signals::fetch_many(&mut tx, &signal_ids).await? {
            rows.insert((UserEventKind::Signal, s.id), to_json(Some(&s)));
        }
    }
    let job_ids = ids("job");
    if !job_ids.is_empty() {
        for j in jobs::fetch_many(&mut tx, &job_ids).await? {
            rows.insert((UserEventKind::Job, j.id), to_json(Some(&j)));
        }
    }
    let agent_ids = ids("agent");
    if !agent_ids.is_empty() {
        let agents: Vec<AgentRow> = sqlx::query_as(concat!(
            "select ",
            agent_columns!(),
            " from public.mt5_agents where id = any($1)"
        ))
        .bind(&agent_ids)
        .fetch_all(&mut *tx)
        .await?;
        for a in agents {
            let id = a.id;
            rows.insert(
                (UserEventKind::Agent, id),
                to_json(Some(a.into_summary(state.config.agent_offline_secs))),
            );
        }
    }
    tx.commit().await?;
    Ok(changed
        .into_iter()
        .filter_map(|(kind, id, _)| {
            let kind = kind_of(&kind)?;
            let data = rows.get(&(kind, id)).cloned().unwrap_or(Value::Null);
            Some(user_event(kind, id, "update", data))
        })
        .collect())
}
