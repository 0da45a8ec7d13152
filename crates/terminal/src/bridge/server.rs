//! The agent's side of the bridge: a loopback TCP listener that accepts the bridge
//! EA (or the paper terminal), checks its hello, and a [`BridgeTerminal`] handle
//! that sends requests over the current connection and matches replies by id.
//!
//! One connection is current at a time: a new authenticated connection replaces
//! the old one. Requests still waiting on a replaced or lost connection fail with
//! [`TerminalError::Timeout`] (sent, outcome unknown: reconcile by comment);
//! requests made while nothing is connected fail with [`TerminalError::NotConnected`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use companion_protocol::TerminalInfo;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::codec::MessageReader;
use super::wire::{Hello, HelloRefusal, Message, Reply, Request, PROTOCOL_VERSION};
use crate::terminal::TerminalError;

/// Timing of the bridge.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// How long a request waits for its reply by default.
    pub request_timeout: Duration,
    /// Heartbeat period, both ways (told to the EA in `hello_ok`).
    pub heartbeat_interval: Duration,
    /// A connection silent for this long is dropped.
    pub idle_timeout: Duration,
    /// How long a new connection has to send its hello.
    pub handshake_timeout: Duration,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            request_timeout: Duration::from_secs(15),
            heartbeat_interval: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(20),
            handshake_timeout: Duration::from_secs(5),
        }
    }
}

type Pending = HashMap<u64, oneshot::Sender<Result<Value, TerminalError>>>;

struct Connection {
    generation: u64,
    tx: mpsc::UnboundedSender<String>,
    /// Dropping the connection (replaced, shut down) drops this and ends its task.
    _close: oneshot::Sender<()>,
    pending: Pending,
    peer: SocketAddr,
}

struct Inner {
    token: String,
    config: BridgeConfig,
    current: Mutex<Option<Connection>>,
    info_tx: watch::Sender<TerminalInfo>,
    next_id: AtomicU64,
    next_generation: AtomicU64,
    /// Expert file name per chart deployed through this handle (run confirms it).
    chart_experts: Mutex<HashMap<i64, String>>,
    /// Why the last hello was refused (cleared by the next accepted one): the
    /// Doctor's "token matches" check.
    last_refusal: Mutex<Option<Refusal>>,
}

/// A refused hello, remembered for diagnostics (never the token itself).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: HelloRefusal,
    pub message: String,
    pub peer: SocketAddr,
    pub at: std::time::SystemTime,
}

/// A handle on whatever terminal is connected to the bridge. Cheap to clone.
#[derive(Clone)]
pub struct BridgeTerminal {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BridgeTerminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeTerminal")
            .field("connected", &self.is_connected())
            .finish()
    }
}

/// The listening bridge. Dropping it stops accepting (the current connection,
/// if any, lives on until it closes).
pub struct BridgeServer {
    local_addr: SocketAddr,
    terminal: BridgeTerminal,
    accept_task: JoinHandle<()>,
}

impl Drop for BridgeServer {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

fn disconnected_info() -> TerminalInfo {
    TerminalInfo {
        connected: false,
        paper: false,
        login: None,
        server: None,
        company: None,
        build: None,
        ..Default::default()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl BridgeServer {
    /// Listens on `addr` (use a loopback address) with the shared `token`.
    pub async fn bind(addr: &str, token: &str) -> std::io::Result<BridgeServer> {
        Self::bind_with(addr, token, BridgeConfig::default()).await
    }

    pub async fn bind_with(
        addr: &str,
        token: &str,
        config: BridgeConfig,
    ) -> std::io::Result<BridgeServer> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (info_tx, _) = watch::channel(disconnected_info());
        let inner = Arc::new(Inner {
            token: token.to_string(),
            config,
            current: Mutex::new(None),
            info_tx,
            next_id: AtomicU64::new(1),
            next_generation: AtomicU64::new(1),
            chart_experts: Mutex::new(HashMap::new()),
            last_refusal: Mutex::new(None),
        });
        let terminal = BridgeTerminal { inner };
        let t = terminal.clone();
        let accept_task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let t = t.clone();
                        tokio::spawn(async move { t.serve_connection(stream, peer).await });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "bridge accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        tracing::info!(%local_addr, "bridge listening");
        Ok(BridgeServer {
            local_addr,
            terminal,
            accept_task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops listening and closes the current connection (requests in flight fail
    /// as for a lost connection). The port is free when this returns.
    pub async fn shutdown(mut self) {
        self.accept_task.abort();
        let _ = (&mut self.accept_task).await;
        let old = lock(&self.terminal.inner.current).take();
        if old.is_some() {
            drop(old);
            self.terminal
                .inner
                .info_tx
                .send_replace(disconnected_info());
        }
    }

    /// The terminal handle (clone it freely).
    pub fn terminal(&self) -> BridgeTerminal {
        self.terminal.clone()
    }
}

/// Compares without an early exit, so the token cannot be guessed byte by byte.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

impl BridgeTerminal {
    /// True while an authenticated terminal is connected.
    pub fn is_connected(&self) -> bool {
        lock(&self.inner.current).is_some()
    }

    /// The last refused hello since the last accepted one (wrong token, old EA).
    pub fn last_refusal(&self) -> Option<Refusal> {
        lock(&self.inner.last_refusal).clone()
    }

    fn remember_refusal(&self, code: HelloRefusal, message: &str, peer: SocketAddr) {
        *lock(&self.inner.last_refusal) = Some(Refusal {
            code,
            message: message.to_string(),
            peer,
            at: std::time::SystemTime::now(),
        });
    }

    pub(super) fn chart_experts(&self) -> &Mutex<HashMap<i64, String>> {
        &self.inner.chart_experts
    }

    /// The connection state and the connected terminal's identity; changes on every
    /// connect and disconnect.
    pub fn subscribe(&self) -> watch::Receiver<TerminalInfo> {
        self.inner.info_tx.subscribe()
    }

    /// The last known terminal identity (`connected: false` when none).
    pub fn current_info(&self) -> TerminalInfo {
        self.inner.info_tx.borrow().clone()
    }

    /// Waits until a terminal is connected, at most `timeout`. True when connected.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut rx = self.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|i| i.connected))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits until no terminal is connected, at most `timeout`. True when disconnected.
    pub async fn wait_disconnected(&self, timeout: Duration) -> bool {
        let mut rx = self.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|i| !i.connected))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The default per-request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.inner.config.request_timeout
    }

    /// Sends `cmd` with `args` and waits for its reply with the default timeout.
    pub async fn call(&self, cmd: &str, args: Value) -> Result<Value, TerminalError> {
        self.call_with_timeout(cmd, args, self.inner.config.request_timeout)
            .await
    }

    /// Sends `cmd` with `args` and waits at most `timeout` for the reply.
    /// A reply with `ok:false` becomes [`TerminalError::Rejected`].
    pub async fn call_with_timeout(
        &self,
        cmd: &str,
        args: Value,
        timeout: Duration,
    ) -> Result<Value, TerminalError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let line = Message::Request(Request {
            id,
            cmd: cmd.to_string(),
            args,
        })
        .to_line();
        {
            let mut current = lock(&self.inner.current);
            let conn = current.as_mut().ok_or_else(|| {
                TerminalError::NotConnected(
                    "no bridge EA is connected; start MT5 with the CompanionBridge EA attached"
                        .into(),
                )
            })?;
            if conn.tx.send(line).is_err() {
                return Err(TerminalError::NotConnected(
                    "the bridge connection is closing".into(),
                ));
            }
            conn.pending.insert(id, tx);
        }
        let started = Instant::now();
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            // The connection went away with the request in flight.
            Ok(Err(_)) => Err(TerminalError::Timeout(started.elapsed().as_millis() as u64)),
            Err(_) => {
                if let Some(conn) = lock(&self.inner.current).as_mut() {
                    conn.pending.remove(&id);
                }
                Err(TerminalError::Timeout(timeout.as_millis() as u64))
            }
        }
    }

    async fn serve_connection(self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let (read, mut write) = stream.into_split();
        let mut reader = MessageReader::new(read);
        let cfg = self.inner.config.clone();

        // Handshake.
        let first = tokio::time::timeout(cfg.handshake_timeout, reader.next()).await;
        let hello = match first {
            Ok(Ok(Some(Ok(Message::Hello(h))))) => h,
            Ok(Ok(Some(_))) => {
                self.remember_refusal(
                    HelloRefusal::BadHello,
                    "the first line must be a hello",
                    peer,
                );
                refuse(
                    &mut write,
                    HelloRefusal::BadHello,
                    "the first line must be a hello",
                )
                .await;
                return;
            }
            _ => {
                tracing::debug!(%peer, "bridge connection closed before its hello");
                return;
            }
        };
        if !same_secret(&hello.token, &self.inner.token) {
            tracing::warn!(%peer, "bridge connection refused: wrong token");
            self.remember_refusal(
                HelloRefusal::BadToken,
                "the bridge EA's InpToken differs from this agent's bridge token",
                peer,
            );
            refuse(&mut write, HelloRefusal::BadToken, "wrong bridge token").await;
            return;
        }
        if hello.protocol_version != PROTOCOL_VERSION {
            tracing::warn!(%peer, version = hello.protocol_version, "bridge connection refused: version");
            let msg = format!(
                "protocol version {} is not supported; this agent speaks {}: update the CompanionBridge EA",
                hello.protocol_version, PROTOCOL_VERSION
            );
            self.remember_refusal(HelloRefusal::UnsupportedVersion, &msg, peer);
            refuse(&mut write, HelloRefusal::UnsupportedVersion, &msg).await;
            return;
        }
        *lock(&self.inner.last_refusal) = None;
        let ok = Message::HelloOk {
            protocol_version: PROTOCOL_VERSION,
            heartbeat_ms: cfg.heartbeat_interval.as_millis() as u64,
        };
        if write.write_all(ok.to_line().as_bytes()).await.is_err() {
            return;
        }

        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let (close_tx, mut close_rx) = oneshot::channel::<()>();
        let generation = self.inner.next_generation.fetch_add(1, Ordering::Relaxed);
        self.install(generation, tx, close_tx, peer, &hello);

        // Writer: queued lines and heartbeats.
        let hb_every = cfg.heartbeat_interval;
        let writer = tokio::spawn(async move {
            let mut tick = tokio::time::interval(hb_every);
            tick.tick().await;
            loop {
                let line = tokio::select! {
                    line = rx.recv() => match line { Some(l) => l, None => break },
                    _ = tick.tick() => Message::Heartbeat { time: chrono::Utc::now().timestamp() }.to_line(),
                };
                if write.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
            }
            let _ = write.shutdown().await;
        });

        // Reader: replies and heartbeats; silence past idle_timeout ends the connection.
        loop {
            let next = tokio::select! {
                _ = &mut close_rx => break,
                next = tokio::time::timeout(cfg.idle_timeout, reader.next()) => next,
            };
            match next {
                Err(_) => {
                    tracing::warn!(%peer, "bridge connection silent too long; dropping it");
                    break;
                }
                Ok(Err(_)) | Ok(Ok(None)) => break,
                Ok(Ok(Some(Ok(Message::Reply(reply))))) => self.resolve(generation, reply),
                Ok(Ok(Some(Ok(Message::Heartbeat { .. })))) => {}
                Ok(Ok(Some(Ok(other)))) => {
                    tracing::debug!(%peer, ?other, "unexpected bridge message ignored")
                }
                Ok(Ok(Some(Err(e)))) => {
                    tracing::warn!(%peer, error = %e, "bad bridge line ignored")
                }
            }
        }
        self.uninstall(generation);
        writer.abort();
        tracing::info!(%peer, "bridge connection closed");
    }

    fn install(
        &self,
        generation: u64,
        tx: mpsc::UnboundedSender<String>,
        close: oneshot::Sender<()>,
        peer: SocketAddr,
        hello: &Hello,
    ) {
        let old = lock(&self.inner.current).replace(Connection {
            generation,
            tx,
            _close: close,
            pending: HashMap::new(),
            peer,
        });
        if let Some(old) = old {
            tracing::info!(old = %old.peer, new = %peer, "a new bridge connection replaces the old one");
            // Dropping `old` drops its pending senders (callers see Timeout) and its
            // close signal (its task ends and closes the socket).
        }
        let t = &hello.terminal;
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let info = TerminalInfo {
            connected: true,
            paper: t.paper,
            login: non_empty(&t.login),
            server: non_empty(&t.server),
            company: non_empty(&t.company),
            build: (t.build != 0).then_some(t.build),
            margin_mode: t.margin_mode,
            account_kind: t.account_kind,
            gmt_offset_secs: t.gmt_offset_secs,
        };
        tracing::info!(%peer, paper = t.paper, "bridge terminal connected");
        self.inner.info_tx.send_replace(info);
    }

    fn uninstall(&self, generation: u64) {
        let mut current = lock(&self.inner.current);
        if current.as_ref().is_some_and(|c| c.generation == generation) {
            *current = None;
            drop(current);
            self.inner.info_tx.send_replace(disconnected_info());
        }
    }

    fn resolve(&self, generation: u64, reply: Reply) {
        let sender = {
            let mut current = lock(&self.inner.current);
            match current.as_mut() {
                Some(c) if c.generation == generation => c.pending.remove(&reply.id),
                _ => None,
            }
        };
        let Some(sender) = sender else {
            tracing::debug!(id = reply.id, "reply to an unknown or expired request");
            return;
        };
        let result = if reply.ok {
            Ok(reply.result.unwrap_or(Value::Null))
        } else {
            let e = reply.error.unwrap_or(super::wire::ReplyError {
                retcode: super::wire::retcode::ERROR,
                message: String::new(),
            });
            let message = if e.message.is_empty() {
                super::wire::retcode::describe(e.retcode).to_string()
            } else {
                e.message
            };
            Err(TerminalError::Rejected {
                retcode: e.retcode,
                message,
            })
        };
        let _ = sender.send(result);
    }
}

async fn refuse(write: &mut tokio::net::tcp::OwnedWriteHalf, code: HelloRefusal, message: &str) {
    let line = Message::HelloError {
        code,
        message: message.to_string(),
    }
    .to_line();
    let _ = write.write_all(line.as_bytes()).await;
    let _ = write.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "a"));
        assert!(same_secret("", ""));
    }
}
