//! Tests of the app core against a local axum stand-in for the server's user API
//! (`/agents/me`, `/events`, one refusing route). Every test has its own temp data
//! dir and an in-memory key store: no keychain, no home config is touched.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use companion_protocol::{AgentMe, AGENT_KEY_HEADER};
use serde_json::json;
use uuid::Uuid;

use crate::app::error::AppErrorCode;
use crate::app::session::{Core, CoreOptions};
use crate::app::settings::LEGACY_APP_CONFIG;
use crate::config::AgentConfig;
use crate::secret::{AgentKey, MemoryStore, SecretStore};

const KEY: &str = "pk_0123456789abcdefghijklmnopqrstuvwxyz";

struct Fake {
    agent_id: Uuid,
    me_calls: AtomicUsize,
    event_streams: AtomicUsize,
}

fn authorised(h: &HeaderMap) -> bool {
    h.get(AGENT_KEY_HEADER).and_then(|v| v.to_str().ok()) == Some(KEY)
}

fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"code": "unauthorized", "message": "unknown pairing key"})),
    )
        .into_response()
}

async fn me(State(f): State<Arc<Fake>>, h: HeaderMap) -> Response {
    f.me_calls.fetch_add(1, Ordering::SeqCst);
    if !authorised(&h) {
        return refused();
    }
    Json(AgentMe {
        agent_id: f.agent_id,
        agent_name: "desk".into(),
        user_id: Uuid::new_v4(),
        email: None,
        broker_connection_id: None,
        pairing_key_prefix: KEY[..8].into(),
    })
    .into_response()
}

async fn events(State(f): State<Arc<Fake>>, h: HeaderMap) -> Response {
    if !authorised(&h) {
        return refused();
    }
    f.event_streams.fetch_add(1, Ordering::SeqCst);
    let first = futures::stream::iter([Ok::<_, std::io::Error>(
        "event: ready\ndata: {}\n\nevent: signal\ndata: {\"kind\":\"signal\",\"id\":\"00000000-0000-0000-0000-000000000002\",\"op\":\"insert\",\"data\":{\"status\":\"failed\"}}\n\n",
    )]);
    let body =
        axum::body::Body::from_stream(futures::StreamExt::chain(first, futures::stream::pending()));
    ([("content-type", "text/event-stream")], body).into_response()
}

async fn rate_limited() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({"code": "rate_limited", "message": "slow down"})),
    )
        .into_response()
}

async fn fake_server() -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake {
        agent_id: Uuid::new_v4(),
        me_calls: AtomicUsize::new(0),
        event_streams: AtomicUsize::new(0),
    });
    let app = Router::new()
        .route("/api/v1/agents/me", get(me))
        .route("/api/v1/events", get(events))
        .route("/api/v1/strategies", get(rate_limited))
        .with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), fake)
}

fn options(dir: &std::path::Path, store: Arc<MemoryStore>) -> CoreOptions {
    CoreOptions {
        version: "0.0.0-test".into(),
        data_dir: dir.to_path_buf(),
        legacy_app_dir: None,
        store,
        env_key: None,
        runtime: None,
    }
}

async fn wait_for(core: &Core, what: impl Fn(&crate::app::StatusDto) -> bool) {
    let mut rx = core.subscribe_status();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if what(&rx.borrow_and_update()) {
                return;
            }
            rx.changed().await.unwrap();
        }
    })
    .await
    .expect("status did not reach the expected state");
}

#[tokio::test]
async fn pairing_asks_the_server_once_keeps_the_key_out_of_the_config_and_connects() {
    let (server, fake) = fake_server().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::default());
    let core = Core::open(options(dir.path(), Arc::clone(&store))).await;
    assert!(!core.status().paired);
    let mut events = core.subscribe_events();

    let s = core
        .pair(format!("  {KEY} "), Some(format!("{server}/")))
        .await
        .unwrap();
    assert!(s.paired);
    assert_eq!(s.agent_id, Some(fake.agent_id));
    assert_eq!(s.agent_name.as_deref(), Some("desk"));
    assert_eq!(s.server_url.as_deref(), Some(server.as_str()));
    assert_eq!(fake.me_calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        store.get(&fake.agent_id.to_string()).unwrap(),
        Some(AgentKey::new(KEY))
    );
    let cfg = AgentConfig::load(dir.path()).unwrap();
    assert_eq!(cfg.agent_id, Some(fake.agent_id));
    assert_eq!(cfg.server_url.as_deref(), Some(server.as_str()));
    let text = std::fs::read_to_string(dir.path().join(crate::config::CONFIG_FILE)).unwrap();
    assert!(!text.contains("pk_"));

    wait_for(&core, |s| s.server_connected).await;
    let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev.kind, crate::app::ServerEventKind::Signal);
    assert_eq!(ev.data["status"], "failed");
}

#[tokio::test]
async fn a_refused_or_malformed_key_is_bad_key_and_nothing_is_stored() {
    let (server, fake) = fake_server().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::default());
    let core = Core::open(options(dir.path(), Arc::clone(&store))).await;
    let e = core
        .pair("pk_short".into(), Some(server.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code, AppErrorCode::BadKey);
    assert_eq!(fake.me_calls.load(Ordering::SeqCst), 0);
    let wrong = format!("pk_{}", "x".repeat(40));
    let e = core.pair(wrong, Some(server)).await.unwrap_err();
    assert_eq!(e.code, AppErrorCode::BadKey);
    assert!(!core.status().paired);
    assert_eq!(AgentConfig::load(dir.path()).unwrap().agent_id, None);
}

#[tokio::test]
async fn unpair_removes_the_key_and_the_identity_but_keeps_the_server() {
    let (server, fake) = fake_server().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::default());
    let core = Core::open(options(dir.path(), Arc::clone(&store))).await;
    core.pair(KEY.into(), Some(server.clone())).await.unwrap();
    let before = core.status().seq;

    let s = core.unpair().await.unwrap();
    assert!(!s.paired);
    assert_eq!(s.agent_id, None);
    assert_eq!(s.server_url.as_deref(), Some(server.as_str()));
    assert!(s.seq > before);
    assert_eq!(store.get(&fake.agent_id.to_string()).unwrap(), None);
    let cfg = AgentConfig::load(dir.path()).unwrap();
    assert_eq!(cfg.agent_id, None);
    assert_eq!(cfg.server_url.as_deref(), Some(server.as_str()));
    assert_eq!(
        core.list_strategies().await.unwrap_err().code,
        AppErrorCode::NotPaired
    );
}

#[tokio::test]
async fn a_restart_resumes_the_session_from_the_config_and_the_keychain() {
    let (server, fake) = fake_server().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::default());
    {
        let core = Core::open(options(dir.path(), Arc::clone(&store))).await;
        core.pair(KEY.into(), Some(server.clone())).await.unwrap();
    }
    let core = Core::open(options(dir.path(), Arc::clone(&store))).await;
    let s = core.status();
    assert!(s.paired);
    assert_eq!(s.agent_id, Some(fake.agent_id));
    // Resuming does not ask the server who we are (the runtime does, when it runs).
    assert_eq!(fake.me_calls.load(Ordering::SeqCst), 1);
    wait_for(&core, |s| s.server_connected).await;

    // Without the key in the keychain the app starts unpaired.
    let empty = Arc::new(MemoryStore::default());
    let core = Core::open(options(dir.path(), empty)).await;
    assert!(!core.status().paired);
}

#[tokio::test]
async fn an_older_app_json_is_moved_in_and_the_app_stays_paired() {
    let (server, fake) = fake_server().await;
    let agent_dir = tempfile::tempdir().unwrap();
    let app_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        app_dir.path().join(LEGACY_APP_CONFIG),
        json!({"server_url": server, "agent_id": fake.agent_id, "agent_name": "desk", "notify_failed_signals": false})
            .to_string(),
    )
    .unwrap();
    let store = Arc::new(MemoryStore::default());
    store
        .set(&fake.agent_id.to_string(), &AgentKey::new(KEY))
        .unwrap();
    let mut opts = options(agent_dir.path(), store);
    opts.legacy_app_dir = Some(app_dir.path().to_path_buf());
    let core = Core::open(opts).await;
    assert!(core.status().paired);
    assert_eq!(core.status().agent_name.as_deref(), Some("desk"));
    assert!(!core.notify_failed_signals().await);
    assert!(!app_dir.path().join(LEGACY_APP_CONFIG).exists());
}

#[tokio::test]
async fn the_servers_error_codes_reach_the_ui_and_a_429_is_not_unreachable() {
    let (server, _fake) = fake_server().await;
    let dir = tempfile::tempdir().unwrap();
    let core = Core::open(options(dir.path(), Arc::new(MemoryStore::default()))).await;
    core.pair(KEY.into(), Some(server)).await.unwrap();
    let e = core.list_strategies().await.unwrap_err();
    assert_eq!(e.code, AppErrorCode::RateLimited);
    assert_eq!(e.message, "slow down");
    // No terminal connected: terminal reads refuse before queueing a job.
    assert_eq!(
        core.account().await.unwrap_err().code,
        AppErrorCode::TerminalOffline
    );
    // A server that is gone is unreachable.
    let gone = crate::app::UserApi::new("http://127.0.0.1:9", AgentKey::new(KEY));
    assert_eq!(gone.me().await.unwrap_err().code, AppErrorCode::Unreachable);
}

// -- pairing from a companion://pair link: offer, then confirm -----------------------

const OTHER_KEY: &str = "pk_zyxwvutsrqponmlkjihgfedcba9876543210";

/// A second server whose `/agents/me` accepts [`OTHER_KEY`] for "laptop" of a@b.c.
async fn other_server() -> (String, Uuid, Arc<AtomicUsize>) {
    let agent_id = Uuid::new_v4();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let app = Router::new()
        .route(
            "/api/v1/agents/me",
            get(move |h: HeaderMap| {
                let c = Arc::clone(&c);
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    if h.get(AGENT_KEY_HEADER).and_then(|v| v.to_str().ok()) != Some(OTHER_KEY) {
                        return refused();
                    }
                    Json(AgentMe {
                        agent_id,
                        agent_name: "laptop".into(),
                        user_id: Uuid::new_v4(),
                        email: Some("a@b.c".into()),
                        broker_connection_id: None,
                        pairing_key_prefix: OTHER_KEY[..8].into(),
                    })
                    .into_response()
                }
            }),
        )
        .route("/api/v1/events", get(|| async { StatusCode::NOT_FOUND }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), agent_id, calls)
}

#[tokio::test]
async fn a_link_offer_names_the_account_and_keeps_the_key_until_confirmed() {
    let (server, agent_id, calls) = other_server().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::default());
    let core = Core::open(options(dir.path(), Arc::clone(&store))).await;

    let offer = core
        .offer_link_pairing(OTHER_KEY.into(), Some(format!("{server}/")))
        .await
        .unwrap();
    assert_eq!(offer.server_url, server);
    assert_eq!(offer.server_host, server.trim_start_matches("http://"));
    assert_eq!(offer.email.as_deref(), Some("a@b.c"));
    assert_eq!(offer.agent_name, "laptop");
    assert_eq!(offer.key_prefix, &OTHER_KEY[..8]);
    assert_eq!(offer.replaces, None);
    // The offer (what the webview gets) carries no key.
    let wire = serde_json::to_string(&offer).unwrap();
    assert!(!wire.contains(OTHER_KEY), "{wire}");
    assert!(!wire.contains(&OTHER_KEY[8..]), "{wire}");
    assert_eq!(core.pending_link_pairing().await, Some(offer.clone()));

    // Nothing is paired or stored before the trader confirms.
    assert!(!core.status().paired);
    assert_eq!(store.get(&agent_id.to_string()).unwrap(), None);
    assert_eq!(AgentConfig::load(dir.path()).unwrap().agent_id, None);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A wrong offer id pairs nothing and keeps the offer.
    let e = core.confirm_link_pairing(Uuid::new_v4()).await.unwrap_err();
    assert_eq!(e.code, AppErrorCode::NotFound);
    assert!(!core.status().paired);

    let s = core.confirm_link_pairing(offer.offer_id).await.unwrap();
    assert!(s.paired);
    assert_eq!(s.agent_id, Some(agent_id));
    assert_eq!(s.agent_name.as_deref(), Some("laptop"));
    assert_eq!(s.server_url.as_deref(), Some(server.as_str()));
    assert_eq!(
        store.get(&agent_id.to_string()).unwrap(),
        Some(AgentKey::new(OTHER_KEY))
    );
    // The offer is used up.
    assert_eq!(core.pending_link_pairing().await, None);
    assert_eq!(
        core.confirm_link_pairing(offer.offer_id)
            .await
            .unwrap_err()
            .code,
        AppErrorCode::NotFound
    );
}

#[tokio::test]
async fn a_link_offer_reports_the_pairing_it_replaces_and_dismiss_keeps_it() {
    let (server, fake) = fake_server().await;
    let (other, other_id, _calls) = other_server().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::default());
    let core = Core::open(options(dir.path(), Arc::clone(&store))).await;
    core.pair(KEY.into(), Some(server.clone())).await.unwrap();

    let offer = core
        .offer_link_pairing(OTHER_KEY.into(), Some(other.clone()))
        .await
        .unwrap();
    let replaces = offer
        .replaces
        .clone()
        .expect("the current pairing is named");
    assert_eq!(replaces.server_url, server);
    assert_eq!(replaces.agent_name.as_deref(), Some("desk"));

    // The old pairing is untouched while the offer waits, and after it is dismissed.
    let check_old = |core: &Core| {
        let s = core.status();
        assert!(s.paired);
        assert_eq!(s.agent_id, Some(fake.agent_id));
        assert_eq!(s.server_url.as_deref(), Some(server.as_str()));
    };
    check_old(&core);
    core.dismiss_link_pairing(offer.offer_id).await.unwrap();
    assert_eq!(core.pending_link_pairing().await, None);
    assert_eq!(
        core.confirm_link_pairing(offer.offer_id)
            .await
            .unwrap_err()
            .code,
        AppErrorCode::NotFound
    );
    check_old(&core);
    assert_eq!(store.get(&other_id.to_string()).unwrap(), None);
    let cfg = AgentConfig::load(dir.path()).unwrap();
    assert_eq!(cfg.agent_id, Some(fake.agent_id));

    // A second link, confirmed, replaces the pairing.
    let offer = core
        .offer_link_pairing(OTHER_KEY.into(), Some(other.clone()))
        .await
        .unwrap();
    check_old(&core);
    let s = core.confirm_link_pairing(offer.offer_id).await.unwrap();
    assert_eq!(s.agent_id, Some(other_id));
    assert_eq!(s.server_url.as_deref(), Some(other.as_str()));
    assert_eq!(
        AgentConfig::load(dir.path()).unwrap().agent_id,
        Some(other_id)
    );
}

#[tokio::test]
async fn a_link_offer_refuses_bad_keys_refused_keys_and_plain_http_to_other_hosts() {
    let (server, fake) = fake_server().await;
    let dir = tempfile::tempdir().unwrap();
    let core = Core::open(options(dir.path(), Arc::new(MemoryStore::default()))).await;

    let e = core
        .offer_link_pairing("pk_short".into(), Some(server.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code, AppErrorCode::BadKey);
    // A key the server does not know.
    let e = core
        .offer_link_pairing(OTHER_KEY.into(), Some(server.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code, AppErrorCode::BadKey);
    // Plain http to a host that is not this computer: refused before any request.
    for insecure in [
        "http://example.com",
        "http://10.0.0.5:8080",
        "ftp://example.com",
    ] {
        let e = core
            .offer_link_pairing(KEY.into(), Some(insecure.into()))
            .await
            .unwrap_err();
        assert_eq!(e.code, AppErrorCode::InvalidRequest, "{insecure}");
    }
    assert_eq!(fake.me_calls.load(Ordering::SeqCst), 1);
    assert_eq!(core.pending_link_pairing().await, None);
    assert!(!core.status().paired);
}
