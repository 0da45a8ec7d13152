//! `GET /api/v1/events`: the stream delivers a signal created by a webhook (and its
//! job) with the row's current JSON, only to its owner, and replays missed rows
//! after a reconnect with `Last-Event-ID`.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod webhook_support;

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use webhook_support::Srv;

/// One parsed server-sent event.
#[derive(Debug, Clone)]
struct Sse {
    event: String,
    id: String,
    data: Value,
}

struct Stream {
    resp: Response,
    buf: String,
}

impl Stream {
    async fn open(srv: &Srv, user: uuid::Uuid, last_event_id: Option<&str>) -> Stream {
        let mut req = srv
            .http
            .get(srv.url("/api/v1/events"))
            .bearer_auth(srv.jwt(user));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        Stream {
            resp,
            buf: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped). Guarded against hanging forever.
    async fn next(&mut self) -> Sse {
        tokio::time::timeout(Duration::from_secs(60), self.next_inner())
            .await
            .expect("no event within 60 s")
    }

    async fn next_inner(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = Sse {
                    event: "message".into(),
                    id: String::new(),
                    data: Value::Null,
                };
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        ev.event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        ev.id = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                ev.data = serde_json::from_str(&data).unwrap();
                return ev;
            }
            let chunk = self.resp.chunk().await.unwrap().expect("stream ended");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Skips events until one of `kind` about `id`.
    async fn until(&mut self, kind: &str, id: &Value) -> Sse {
        loop {
            let ev = self.next().await;
            if ev.event == kind && &ev.data["id"] == id {
                return ev;
            }
        }
    }
}

#[tokio::test]
async fn the_stream_delivers_a_webhook_signal_to_its_owner_only() {
    let srv = Srv::start().await;
    let alice = srv.trader("sse-a@example.test").await;
    let bob = srv.trader("sse-b@example.test").await;
    let (_, secret_a) = srv.strategy(&alice, json!({})).await;
    let (_, secret_b) = srv.strategy(&bob, json!({})).await;

    let mut a = Stream::open(&srv, alice.user, None).await;
    let mut b = Stream::open(&srv, bob.user, None).await;
    let ready = a.next().await;
    assert_eq!(
        (ready.event.as_str(), &ready.data["user_id"]),
        ("ready", &json!(alice.user))
    );
    assert_eq!(b.next().await.event, "ready");

    let (_, v) = srv
        .hook(
            &secret_a,
            r#"{"action":"buy","symbol":"OANDA:EURUSD","qty":0.2}"#,
            "application/json",
        )
        .await;
    let signal_id = v["signal_id"].clone();
    let ev = a.until("signal", &signal_id).await;
    assert_eq!(ev.data["kind"], "signal");
    assert!(!ev.id.is_empty());
    let sig = &ev.data["data"];
    assert_eq!(
        (sig["symbol"].as_str(), sig["action"].as_str()),
        (Some("EURUSD"), Some("buy"))
    );
    assert!(sig["strategy_id"].as_str().is_some());
    // Its job follows, with its current JSON.
    let job_id: Value =
        sqlx::query_scalar::<_, uuid::Uuid>("select job_id from tv_signals where id = $1")
            .bind(uuid::Uuid::parse_str(signal_id.as_str().unwrap()).unwrap())
            .fetch_one(&srv.db.pool)
            .await
            .map(|id| json!(id))
            .unwrap();
    let job = a.until("job", &job_id).await;
    assert_eq!(
        (
            job.data["data"]["job_type"].as_str(),
            job.data["data"]["status"].as_str()
        ),
        (Some("trade"), Some("pending"))
    );

    // Bob's stream carries nothing of Alice's: the first thing he sees after his
    // ready event is his own signal, although Alice's events were published first.
    let (_, vb) = srv.hook(&secret_b, "sell 0.1 GBPUSD", "text/plain").await;
    let first = b.next().await;
    assert_eq!(
        (first.event.as_str(), &first.data["id"]),
        ("signal", &vb["signal_id"])
    );
}

#[tokio::test]
async fn last_event_id_replays_what_was_missed() {
    let srv = Srv::start().await;
    let t = srv.trader("resume@example.test").await;
    let (_, secret) = srv.strategy(&t, json!({})).await;
    let mut s = Stream::open(&srv, t.user, None).await;
    let ready = s.next().await;
    drop(s);

    let (_, v) = srv.hook(&secret, "close EURUSD", "text/plain").await;
    let mut s = Stream::open(&srv, t.user, Some(&ready.id)).await;
    assert_eq!(s.next().await.event, "ready");
    let replayed = s.until("signal", &v["signal_id"]).await;
    assert_eq!(replayed.data["data"]["action"], "close");
    assert_eq!(replayed.data["data"]["status"], "pending");
}
