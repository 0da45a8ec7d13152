//! HTTP to the Companion server with the agent key (`X-Agent-Key`): JSON calls
//! of the user API and the `GET /api/v1/events` server-sent event stream.
//! Errors become [`AppError`]s with the codes the UI understands.

use std::time::Duration;

use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{AppError, AppResult};
use crate::model::ServerEvent;

#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    stream_client: reqwest::Client,
    base: String,
    key: String,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Http {
    pub fn new(server: &str, key: String) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap_or_default();
        let stream_client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Http {
            client,
            stream_client,
            base: format!("{}/api/v1", server.trim_end_matches('/')),
            key,
        }
    }

    /// The pairing key (handed to the in-process agent runtime; never logged).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The server URL (without `/api/v1`).
    pub fn server(&self) -> &str {
        self.base.trim_end_matches("/api/v1")
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
            .header(companion_protocol::AGENT_KEY_HEADER, &self.key)
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> AppResult<T> {
        self.send::<(), T>(reqwest::Method::GET, path, None).await
    }

    pub async fn send<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> AppResult<T> {
        let mut r = self.req(method, path);
        if let Some(b) = body {
            r = r.json(b);
        }
        let resp = r.send().await.map_err(|e| self.transport(e))?;
        let resp = check(resp).await?;
        let bytes = resp.bytes().await.map_err(|e| self.transport(e))?;
        let bytes = if bytes.is_empty() {
            "null".into()
        } else {
            bytes
        };
        serde_json::from_slice(&bytes).map_err(|e| {
            AppError::internal(format!("unexpected answer from the server for {path}: {e}"))
        })
    }

    pub async fn delete(&self, path: &str) -> AppResult<()> {
        let resp = self
            .req(reqwest::Method::DELETE, path)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        check(resp).await.map(|_| ())
    }

    fn transport(&self, e: reqwest::Error) -> AppError {
        let server = self.base.trim_end_matches("/api/v1");
        if e.is_timeout() {
            AppError::new(
                "timeout",
                format!("The server at {server} did not answer in time."),
            )
        } else {
            AppError::new(
                "unreachable",
                format!("Cannot reach the server at {server}."),
            )
        }
    }
}

/// Maps a non-2xx answer to an [`AppError`], reading the `{code, message}` body.
async fn check(resp: reqwest::Response) -> AppResult<reqwest::Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body: Option<companion_protocol::ApiErrorBody> = resp.json().await.ok();
    let message = body
        .as_ref()
        .map(|b| b.message.clone())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let code = match status.as_u16() {
        401 => "bad_key",
        403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        400 | 413 | 422 => "invalid_request",
        429 => "unreachable",
        500..=599 => "unreachable",
        _ => "internal",
    };
    Err(AppError::new(code, message))
}

/// Reads `GET /events` until it ends: `on_open` once connected, `on_event` per message.
pub async fn stream_events(
    http: &Http,
    mut on_event: impl FnMut(ServerEvent),
    on_open: impl FnOnce(),
) -> AppResult<()> {
    let resp = http
        .stream_client
        .get(format!("{}/events", http.base))
        .header(companion_protocol::AGENT_KEY_HEADER, &http.key)
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .send()
        .await
        .map_err(|e| http.transport(e))?;
    let resp = check(resp).await?;
    on_open();
    let mut parser = SseParser::default();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| http.transport(e))?;
        for msg in parser.push(&chunk) {
            if let Some(ev) = to_server_event(&msg) {
                on_event(ev);
            }
        }
    }
    Err(AppError::new(
        "unreachable",
        "The server closed the event stream.",
    ))
}

/// The event to relay for one stream message: `resync` (events were missed: refetch),
/// a change (`signal`, `job`, `agent`, `price`: a `UserEvent`), or nothing (`ready`,
/// unreadable data).
pub fn to_server_event(msg: &SseMessage) -> Option<ServerEvent> {
    if msg.event == ServerEvent::RESYNC {
        return Some(ServerEvent::resync());
    }
    match serde_json::from_str::<ServerEvent>(&msg.data) {
        Ok(ev) => Some(ev),
        Err(e) => {
            tracing::debug!(error = %e, event = %msg.event, "ignored an unreadable event");
            None
        }
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SseMessage {
    pub event: String,
    pub data: String,
    pub id: Option<String>,
}

/// Incremental `text/event-stream` parser (lines, `event:`/`data:`/`id:`, blank line ends a message).
#[derive(Debug, Default)]
pub struct SseParser {
    buf: String,
    cur: SseMessage,
    has_data: bool,
}

impl SseParser {
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseMessage> {
        self.buf.push_str(&String::from_utf8_lossy(bytes));
        let mut out = Vec::new();
        while let Some(nl) = self.buf.find('\n') {
            let line: String = self.buf.drain(..=nl).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if self.has_data {
                    out.push(std::mem::take(&mut self.cur));
                }
                self.cur = SseMessage::default();
                self.has_data = false;
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "event" => self.cur.event = value.to_string(),
                "data" => {
                    if self.has_data {
                        self.cur.data.push('\n');
                    }
                    self.cur.data.push_str(value);
                    self.has_data = true;
                }
                "id" => self.cur.id = Some(value.to_string()),
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_parser_handles_split_chunks_comments_and_multiline_data() {
        let mut p = SseParser::default();
        assert!(p.push(b": keep-alive\n\nevent: sig").is_empty());
        let out = p.push(b"nal\nid: 7\ndata: {\"a\":\ndata: 1}\r\n\r\n");
        assert_eq!(
            out,
            vec![SseMessage {
                event: "signal".into(),
                data: "{\"a\":\n1}".into(),
                id: Some("7".into())
            }]
        );
        assert!(
            p.push(b"event: x\n\n").is_empty(),
            "a message without data is dropped"
        );
    }

    #[test]
    fn resync_is_relayed_and_ready_is_not() {
        let mut p = SseParser::default();
        let msgs = p.push(
            b"event: ready\ndata: {\"user_id\":\"00000000-0000-0000-0000-000000000001\"}\n\n\
              event: resync\nid: 9\ndata: {}\n\n\
              event: signal\ndata: {\"kind\":\"signal\",\"id\":\"00000000-0000-0000-0000-000000000002\",\"op\":\"insert\",\"data\":{}}\n\n",
        );
        let relayed: Vec<_> = msgs.iter().filter_map(to_server_event).collect();
        assert_eq!(relayed.len(), 2);
        assert_eq!(relayed[0], ServerEvent::resync());
        assert_eq!(relayed[0].kind, "resync");
        assert_eq!(relayed[1].kind, "signal");
    }
}
