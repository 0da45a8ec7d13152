//! The paper terminal's connection to the agent, as the bridge EA makes it: connect
//! to the agent's bridge port, send the hello, answer requests one at a time,
//! heartbeat, and reconnect with backoff when the connection goes, keeping the
//! engine's state. Connection-level faults (reply delay, dropped connections)
//! are injected here.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::engine::Engine;
use crate::bridge::codec::MessageReader;
use crate::bridge::wire::{Hello, HelloRefusal, Message, PROTOCOL_VERSION};

/// Connection faults.
#[derive(Debug, Clone, Default)]
pub struct ConnectionFaults {
    /// Wait this long before each reply.
    pub delay: Duration,
    /// Drop the connection once, after this many requests (counted over the
    /// process's life); the paper terminal then reconnects.
    pub drop_after: Option<u64>,
    /// With `drop_after`: execute the last request but drop before replying
    /// (the agent then cannot know the outcome).
    pub drop_before_reply: bool,
    /// With `drop_after`: drop again after every further `drop_after` requests.
    pub drop_repeat: bool,
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub agent: String,
    pub token: String,
    pub faults: ConnectionFaults,
    /// Account number announced in the hello (see `engine::paper_login`).
    pub login: String,
}

/// Why the paper terminal gave up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the agent refused the connection ({code:?}): {message}")]
    Refused { code: HelloRefusal, message: String },
}

enum Ended {
    /// Connection lost or dropped on purpose: reconnect.
    Reconnect,
}

/// Runs until the agent refuses the hello (bad token or version).
pub async fn run(cfg: ClientConfig, engine: Arc<Mutex<Engine>>) -> Result<(), ClientError> {
    let mut requests_seen: u64 = 0;
    let mut backoff = new_backoff();
    loop {
        let stream = match TcpStream::connect(&cfg.agent).await {
            Ok(s) => s,
            Err(e) => {
                let wait = backoff.next().unwrap_or(Duration::from_secs(2));
                tracing::debug!(error = %e, ?wait, "agent not reachable; retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        match serve(&cfg, stream, &engine, &mut requests_seen).await {
            Ok(Ended::Reconnect) => {}
            Err(e) => return Err(e),
        }
        backoff = new_backoff();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn new_backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(2))
        .with_jitter()
        .without_max_times()
        .build()
}

async fn serve(
    cfg: &ClientConfig,
    stream: TcpStream,
    engine: &Arc<Mutex<Engine>>,
    requests_seen: &mut u64,
) -> Result<Ended, ClientError> {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = MessageReader::new(read);
    let terminal = engine.lock().await.hello_terminal(&cfg.login);
    let hello = Message::Hello(Hello {
        token: cfg.token.clone(),
        protocol_version: PROTOCOL_VERSION,
        terminal,
    });
    if write.write_all(hello.to_line().as_bytes()).await.is_err() {
        return Ok(Ended::Reconnect);
    }
    let heartbeat = match tokio::time::timeout(Duration::from_secs(10), reader.next()).await {
        Ok(Ok(Some(Ok(Message::HelloOk { heartbeat_ms, .. })))) => {
            Duration::from_millis(heartbeat_ms.max(100))
        }
        Ok(Ok(Some(Ok(Message::HelloError { code, message })))) => {
            return Err(ClientError::Refused { code, message })
        }
        _ => return Ok(Ended::Reconnect),
    };
    tracing::info!(agent = %cfg.agent, "connected to the agent");
    let idle = heartbeat * 4;
    let mut tick = tokio::time::interval(heartbeat);
    tick.tick().await;
    let mut last_seen = tokio::time::Instant::now();
    loop {
        let msg = tokio::select! {
            m = reader.next() => m,
            _ = tick.tick() => {
                if last_seen.elapsed() > idle {
                    tracing::warn!("agent silent too long; reconnecting");
                    return Ok(Ended::Reconnect);
                }
                let hb = Message::Heartbeat { time: chrono::Utc::now().timestamp() };
                if write.write_all(hb.to_line().as_bytes()).await.is_err() {
                    return Ok(Ended::Reconnect);
                }
                continue;
            }
        };
        last_seen = tokio::time::Instant::now();
        let req = match msg {
            Ok(Some(Ok(Message::Request(r)))) => r,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => {
                tracing::warn!(error = %e, "bad line from the agent ignored");
                continue;
            }
            Ok(None) | Err(_) => {
                tracing::info!("agent closed the connection; reconnecting");
                return Ok(Ended::Reconnect);
            }
        };
        *requests_seen += 1;
        let drop_now = match cfg.faults.drop_after {
            Some(n) if n > 0 => {
                if cfg.faults.drop_repeat {
                    requests_seen.is_multiple_of(n)
                } else {
                    *requests_seen == n
                }
            }
            _ => false,
        };
        let reply = {
            let now_ms = chrono::Utc::now().timestamp_millis();
            engine.lock().await.handle(&req, now_ms)
        };
        if drop_now && cfg.faults.drop_before_reply {
            tracing::info!(
                id = req.id,
                "fault: dropping the connection before replying"
            );
            return Ok(Ended::Reconnect);
        }
        if !cfg.faults.delay.is_zero() {
            tokio::time::sleep(cfg.faults.delay).await;
        }
        if write
            .write_all(Message::Reply(reply).to_line().as_bytes())
            .await
            .is_err()
        {
            return Ok(Ended::Reconnect);
        }
        if drop_now {
            tracing::info!(id = req.id, "fault: dropping the connection after replying");
            let _ = write.shutdown().await;
            return Ok(Ended::Reconnect);
        }
    }
}

/// Checks the stops of open positions every `every` (SL/TP between requests).
pub async fn watch_stops(engine: Arc<Mutex<Engine>>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        engine
            .lock()
            .await
            .check_stops(chrono::Utc::now().timestamp_millis());
    }
}

/// Applies the prices a test writes to `path` (`--price-file`): one JSON object
/// per line, `{"symbol": "GBPUSD", "bid": 1.265}`, each sent to the engine as a
/// `paper_set_price` (pending orders and stops are checked at once). The file is
/// read again whenever its contents change; a line that does not parse is logged
/// and skipped.
pub async fn watch_price_file(
    engine: Arc<Mutex<Engine>>,
    path: std::path::PathBuf,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    let mut seen = String::new();
    loop {
        tick.tick().await;
        let Ok(text) = tokio::fs::read_to_string(&path).await else {
            continue;
        };
        if text == seen {
            continue;
        }
        seen = text.clone();
        let mut e = engine.lock().await;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let args: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(err) => {
                    tracing::warn!(%line, error = %err, "--price-file: not a JSON object");
                    continue;
                }
            };
            let req = crate::bridge::wire::Request {
                id: 0,
                cmd: crate::bridge::wire::cmd::PAPER_SET_PRICE.into(),
                args,
            };
            let reply = e.handle(&req, chrono::Utc::now().timestamp_millis());
            tracing::info!(%line, ok = reply.error.is_none(), "--price-file: price set");
        }
    }
}
