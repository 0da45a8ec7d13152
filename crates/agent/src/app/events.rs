//! Reading the user-API event stream (`GET /api/v1/events`, server-sent events)
//! with the `eventsource-stream` parser: each message becomes a [`ServerEvent`]
//! (`resync`, or a `companion_protocol::UserEvent`); `ready` and unreadable
//! messages are dropped.

use eventsource_stream::{Event, Eventsource};
use futures::StreamExt;

use crate::app::dto::ServerEvent;
use crate::app::error::{AppError, AppErrorCode, AppResult};
use crate::app::user_api::{check, UserApi};

/// The SSE `event:` name of the server's "you missed events" message.
pub const RESYNC_EVENT: &str = "resync";

/// Reads `GET /events` until it ends: `on_open` once connected, `on_event` per message.
/// Always ends with an error (the stream is endless while the server lives).
pub async fn stream_events(
    api: &UserApi,
    mut on_event: impl FnMut(ServerEvent),
    on_open: impl FnOnce(),
) -> AppResult<()> {
    let resp = api
        .events_request()
        .send()
        .await
        .map_err(|e| api.transport(e))?;
    let resp = check(resp).await?;
    on_open();
    let mut events = resp.bytes_stream().eventsource();
    while let Some(ev) = events.next().await {
        match ev {
            Ok(ev) => {
                if let Some(ev) = to_server_event(&ev) {
                    on_event(ev);
                }
            }
            Err(eventsource_stream::EventStreamError::Transport(e)) => {
                return Err(api.transport(e));
            }
            Err(e) => {
                return Err(AppError::new(
                    AppErrorCode::Unreachable,
                    format!("The event stream broke off: {e}"),
                ))
            }
        }
    }
    Err(AppError::new(
        AppErrorCode::Unreachable,
        "The server closed the event stream.",
    ))
}

/// The event to relay for one stream message: `resync` (events were missed: refetch),
/// a change (`signal`, `job`, `agent`, `price`: a `UserEvent`), or nothing (`ready`,
/// unreadable data).
pub fn to_server_event(msg: &Event) -> Option<ServerEvent> {
    if msg.event == RESYNC_EVENT {
        return Some(ServerEvent::resync());
    }
    match serde_json::from_str::<companion_protocol::UserEvent>(&msg.data) {
        Ok(ev) => Some(ev.into()),
        Err(e) => {
            tracing::debug!(error = %e, event = %msg.event, "ignored an unreadable event");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::dto::ServerEventKind;

    #[tokio::test]
    async fn resync_is_relayed_and_ready_is_not_even_across_split_chunks() {
        let text = "event: ready\ndata: {\"user_id\":\"00000000-0000-0000-0000-000000000001\"}\n\n\
              : keep-alive\n\n\
              event: resync\nid: 9\ndata: {}\n\n\
              event: signal\ndata: {\"kind\":\"signal\",\"id\":\"00000000-0000-0000-0000-000000000002\",\n\
              data: \"op\":\"insert\",\"data\":{}}\r\n\r\n";
        // Chunks split mid-line, as the network delivers them.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            text.as_bytes().chunks(7).map(|c| Ok(c.to_vec())).collect();
        let relayed: Vec<ServerEvent> = futures::stream::iter(chunks)
            .eventsource()
            .filter_map(|e| async move { e.ok().as_ref().and_then(to_server_event) })
            .collect()
            .await;
        assert_eq!(relayed.len(), 2);
        assert_eq!(relayed[0], ServerEvent::resync());
        assert_eq!(relayed[1].kind, ServerEventKind::Signal);
        assert_eq!(relayed[1].op, "insert");
    }
}
