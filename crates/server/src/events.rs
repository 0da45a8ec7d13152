//! `GET /api/v1/events`: the owner's server-sent event stream. Each row change the
//! `companion_events` fan-out reports for the caller (signal, job, agent) is sent with
//! the row's current JSON, read under RLS; prices come from the in-memory price book.
//! `id:` is a millisecond timestamp: reconnecting with `Last-Event-ID` replays the
//! rows changed since then (a few seconds of overlap; events carry current state, so
//! a repeat is harmless). The first event is `ready`; `resync` asks the client to
//! refetch (the listener reconnected or the client fell behind).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use companion_protocol::{UserEvent, UserEventKind};
use futures::stream::{self, Stream};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use uuid::Uuid;

use crate::auth::UserAuth;
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
}

impl Streamer {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            match self.rx.recv().await {
                Ok(HubEvent::Resync) | Err(RecvError::Lagged(_)) => return Some(resync()),
                Err(RecvError::Closed) => return None,
                Ok(ev) if ev.user_id() != Some(self.user_id) => continue,
                Ok(HubEvent::Change(c)) => match render_change(&self.state, self.user_id, &c).await
                {
                    Ok(Some(e)) => return Some(e),
                    Ok(None) => continue,
                    Err(err) => {
                        tracing::warn!(error = %err, "event stream could not read a changed row");
                        return Some(resync());
                    }
                },
                Ok(HubEvent::Prices(p)) => {
                    let data = serde_json::to_value(&p.prices).unwrap_or(Value::Null);
                    return Some(user_event(UserEventKind::Price, p.agent_id, "update", data));
                }
            }
        }
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
    let kind = match c.kind.as_str() {
        "signal" => UserEventKind::Signal,
        "job" => UserEventKind::Job,
        "agent" => UserEventKind::Agent,
        _ => return Ok(None),
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

fn to_json<T: serde::Serialize>(v: Option<T>) -> Value {
    v.and_then(|v| serde_json::to_value(v).ok())
        .unwrap_or(Value::Null)
}

/// Rows of the caller changed since `since` (minus the overlap), oldest first.
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
    tx.commit().await?;
    let mut out = Vec::with_capacity(changed.len());
    for (kind, id, _) in changed {
        let c = ChangeEvent {
            kind,
            id,
            user_id,
            op: "update".into(),
        };
        if let Some(e) = render_change(state, user_id, &c).await? {
            out.push(e);
        }
    }
    Ok(out)
}
