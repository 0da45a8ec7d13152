//! Statements sent to PostgreSQL per webhook alert and per job result (issue 18),
//! counted on the wire: the server's own pool (`db::connect`, as in production) talks
//! to the real database through a pass-through TCP proxy that counts the statements
//! executed (`Execute` of the extended protocol, simple `Query`: `BEGIN` and `COMMIT`
//! count too). Each is one round trip. An accepted alert takes the context read plus
//! one `ingest_signal` call; a duplicate the same; a `get_account` result one fenced
//! update. (sqlx's own `Sync`-only ping when a connection returns to the pool is not a
//! statement and is not counted.)

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod webhook_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use companion_protocol::{JobResultRequest, ResultStatus, SignalStatus};
use companion_server::auth::AgentAuth;
use companion_server::webhook::ingest;
use companion_server::Config;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;
use webhook_support::Srv;

/// Counts `Execute` ('E') and `Query` ('Q') messages from every client it relays.
struct CountingProxy {
    addr: std::net::SocketAddr,
    statements: Arc<AtomicUsize>,
}

impl CountingProxy {
    async fn start(upstream: String) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let statements = Arc::new(AtomicUsize::new(0));
        let counter = statements.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(&upstream).await.unwrap();
                let counter = counter.clone();
                tokio::spawn(relay(client, server, counter));
            }
        });
        CountingProxy { addr, statements }
    }

    fn take(&self) -> usize {
        self.statements.swap(0, Ordering::SeqCst)
    }
}

async fn relay(client: TcpStream, server: TcpStream, counter: Arc<AtomicUsize>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
    });
    // Frontend → backend: untyped startup packets (SSLRequest / GSSENCRequest and
    // then StartupMessage), then typed messages: 1 type byte + a length.
    let mut started = false;
    loop {
        let mut msg = Vec::new();
        if started {
            let mut t = [0u8; 1];
            if cr.read_exact(&mut t).await.is_err() {
                return;
            }
            msg.push(t[0]);
            if t[0] == b'E' || t[0] == b'Q' {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
        let mut len = [0u8; 4];
        if cr.read_exact(&mut len).await.is_err() {
            return;
        }
        msg.extend_from_slice(&len);
        let n = u32::from_be_bytes(len) as usize;
        let mut body = vec![0u8; n.saturating_sub(4)];
        if cr.read_exact(&mut body).await.is_err() {
            return;
        }
        if !started {
            let code = body
                .get(..4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
            // 80877103 = SSLRequest, 80877104 = GSSENCRequest: a startup follows.
            started = !matches!(code, Some(80877103 | 80877104));
        }
        msg.extend_from_slice(&body);
        if sw.write_all(&msg).await.is_err() {
            return;
        }
    }
}

/// The server's pool (production settings) through a counting proxy.
async fn counted_pool(srv: &Srv) -> (CountingProxy, sqlx::PgPool) {
    let opts: PgConnectOptions = srv.db.url.parse().unwrap();
    let upstream = format!("{}:{}", opts.get_host(), opts.get_port());
    let proxy = CountingProxy::start(upstream.clone()).await;
    // Same URL, through the proxy (TestDb URLs are `postgres://user@host:port/db`).
    let via = srv.db.url.replacen(&upstream, &proxy.addr.to_string(), 1);
    assert_ne!(via, srv.db.url, "the test database URL names {upstream}");
    let sep = if via.contains('?') { '&' } else { '?' };
    let mut config = Config::for_database(format!("{via}{sep}sslmode=disable"));
    config.db.database_max_connections = 1;
    let pool = companion_server::db::connect(&config.db).await.unwrap();
    (proxy, pool)
}

#[tokio::test]
async fn an_alert_is_one_context_read_and_one_write_call() {
    let srv = Srv::start().await;
    let t = srv.trader("rt@example.test").await;
    let (sid, secret) = srv.strategy(&t, json!({})).await;
    let (proxy, pool) = counted_pool(&srv).await;
    let st = ingest::find_strategy(&pool, &secret)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(st.id, sid);

    // Warm-up: the first use of each statement also prepares it.
    let body = |i: u32| format!(r#"{{"action":"buy","symbol":"EURUSD","qty":0.1,"id":"rt-{i}"}}"#);
    let r = ingest::ingest(&pool, &srv.state.publisher, &st, body(0).as_bytes(), 60)
        .await
        .unwrap();
    assert_eq!(r.status, SignalStatus::Pending);

    proxy.take();
    let r = ingest::ingest(&pool, &srv.state.publisher, &st, body(1).as_bytes(), 60)
        .await
        .unwrap();
    assert_eq!(r.status, SignalStatus::Pending, "{r:?}");
    assert_eq!(
        proxy.take(),
        2,
        "accepted alert: context read + ingest_signal"
    );

    // The signal row was written once, already linked to its job, which names it.
    let (job_id, input_signal, entity): (Uuid, String, Uuid) = sqlx::query_as(
        "select j.id, j.input_data ->> 'signal_id', j.entity_id
           from tv_signals s join jobs j on j.id = s.job_id where s.id = $1",
    )
    .bind(r.signal_id)
    .fetch_one(&srv.db.pool)
    .await
    .unwrap();
    assert_eq!(input_signal, r.signal_id.to_string());
    assert_eq!(entity, r.signal_id);

    // The same id again: a duplicate, same two round trips, no second job.
    let d = ingest::ingest(&pool, &srv.state.publisher, &st, body(1).as_bytes(), 60)
        .await
        .unwrap();
    assert_eq!(
        proxy.take(),
        2,
        "duplicate alert: context read + ingest_signal"
    );
    assert_eq!(d.status, SignalStatus::Discarded);
    assert_eq!(
        d.reason.as_deref(),
        Some(format!("duplicate: same signal as {}", r.signal_id).as_str())
    );
    let jobs: Vec<Uuid> = sqlx::query_scalar("select id from jobs where entity_id = $1")
        .bind(r.signal_id)
        .fetch_all(&srv.db.pool)
        .await
        .unwrap();
    assert_eq!(jobs, vec![job_id]);
}

#[tokio::test]
async fn a_get_account_result_is_one_fenced_update() {
    let srv = Srv::start().await;
    let t = srv.trader("rt-result@example.test").await;
    let (proxy, pool) = counted_pool(&srv).await;
    let agent = AgentAuth {
        agent_id: t.agent,
        user_id: t.user,
    };
    let output = json!({"balance": 1000.0, "equity": 1000.0, "margin_used": 0.0,
                        "margin_available": 1000.0, "currency": "USD", "leverage": 100});
    let mut jobs = Vec::new();
    for _ in 0..2 {
        let id: Uuid = sqlx::query_scalar(
            "insert into jobs (user_id, job_type, input_data, status, agent_id, claimed_at, heartbeat_at)
             values ($1, 'get_account', '{}', 'running', $2, now(), now()) returning id",
        )
        .bind(t.user)
        .bind(t.agent)
        .fetch_one(&srv.db.pool)
        .await
        .unwrap();
        jobs.push(id);
    }
    let req: JobResultRequest = serde_json::from_value(json!({
        "status": "completed", "output_data": output
    }))
    .unwrap();
    assert_eq!(req.status, ResultStatus::Completed);
    // Warm-up (statement preparation), then the counted one.
    let ack =
        companion_server::queue::result::submit(&pool, &srv.state.publisher, agent, jobs[0], &req)
            .await
            .unwrap();
    assert!(!ack.duplicate);
    proxy.take();
    let ack =
        companion_server::queue::result::submit(&pool, &srv.state.publisher, agent, jobs[1], &req)
            .await
            .unwrap();
    assert!(!ack.duplicate);
    assert_eq!(proxy.take(), 1, "a get_account result: one fenced update");
    let (status, out): (String, serde_json::Value) =
        sqlx::query_as("select status, output_data from jobs where id = $1")
            .bind(jobs[1])
            .fetch_one(&srv.db.pool)
            .await
            .unwrap();
    assert_eq!(status, "completed");
    assert_eq!(out["balance"], json!(1000.0));

    // The same result again takes the full path and is acknowledged as a duplicate.
    let again =
        companion_server::queue::result::submit(&pool, &srv.state.publisher, agent, jobs[1], &req)
            .await
            .unwrap();
    assert!(again.duplicate);
}
