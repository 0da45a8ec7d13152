//! The desktop app's core (`companion_agent::app::Core`) with its embedded runtime
//! against the real server and PostgreSQL and the paper terminal: pairing (one
//! `/agents/me`), terminal reads as jobs, user-API calls, pause, a restart that resumes
//! the session, unpair. Temp data dir and an in-memory key store: no keychain, no
//! home config.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{eventually, Stack};
use companion_agent::app::link::RuntimeSpec;
use companion_agent::app::{Core, CoreOptions, StatusDto};
use companion_agent::{MemoryStore, SecretStore};

fn options(s: &Stack, store: Arc<MemoryStore>) -> CoreOptions {
    CoreOptions {
        version: "0.0.0-e2e".into(),
        data_dir: s.data_dir.path().to_path_buf(),
        legacy_app_dir: None,
        store,
        env_key: None,
        runtime: Some(RuntimeSpec {
            bridge_port: Some(s.bridge_port),
            bridge_token: Some(s.bridge_token.clone()),
        }),
    }
}

async fn status_reaches(core: &Core, what: &str, f: impl Fn(&StatusDto) -> bool) {
    eventually(Duration::from_secs(60), what, || async {
        let st = core.status();
        f(&st).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_core_pairs_runs_jobs_pauses_resumes_after_a_restart_and_unpairs() {
    let mut s = Stack::new("app_core").await;
    let store = Arc::new(MemoryStore::default());
    let core = Core::open(options(&s, Arc::clone(&store))).await;
    assert!(!core.status().paired);

    let st = core
        .pair(s.key.clone(), Some(s.server_url()))
        .await
        .expect("pair");
    assert!(st.paired);
    assert_eq!(st.agent_id, Some(s.agent_id));
    assert!(store.get(&s.agent_id.to_string()).unwrap().is_some());
    status_reaches(&core, "server connected and bridge listening", |st| {
        st.server_connected && st.bridge_port == Some(s.bridge_port)
    })
    .await;

    s.start_paper(&[]);
    status_reaches(&core, "terminal connected", |st| st.terminal.connected).await;
    assert!(core.status().terminal.paper);
    let account = core.account().await.expect("account");
    assert!(account.balance > 0.0);
    assert!(core.positions().await.expect("positions").is_empty());
    assert!(core.list_strategies().await.expect("strategies").is_empty());
    let jobs = core.recent_jobs().await.expect("recent jobs");
    assert!(
        jobs.len() >= 2,
        "the two terminal reads are this agent's jobs"
    );

    core.set_paused(true).await.unwrap();
    status_reaches(&core, "paused", |st| st.paused).await;
    core.set_paused(false).await.unwrap();
    status_reaches(&core, "running again", |st| !st.paused).await;

    // Quit and start again: the session resumes from config.json and the key store.
    // (A quitting app's process takes its bridge connections with it; in one test
    // process the paper terminal is restarted to stand for that.)
    core.close().await;
    drop(core);
    s.stop_paper();
    let core = Core::open(options(&s, Arc::clone(&store))).await;
    assert!(core.status().paired);
    s.start_paper(&[]);
    status_reaches(&core, "terminal connected after the restart", |st| {
        st.server_connected && st.terminal.connected
    })
    .await;
    assert!(core.account().await.expect("account after restart").balance > 0.0);

    let st = core.unpair().await.unwrap();
    assert!(!st.paired);
    assert!(store.get(&s.agent_id.to_string()).unwrap().is_none());
    s.stop_paper();
}

/// Posts a buy alert for `symbol` to the strategy `secret` and waits for its job.
async fn alert(s: &Stack, secret: &str, symbol: &str) -> (String, Option<String>) {
    let url = format!("{}/api/v1/webhooks/tv/{secret}", s.server_url());
    let body = serde_json::json!({"action": "buy", "symbol": symbol, "volume": 0.1, "id": uuid::Uuid::new_v4().to_string()});
    let v: serde_json::Value = s
        .http
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signal: uuid::Uuid = v["signal_id"].as_str().unwrap().parse().unwrap();
    let job: uuid::Uuid = sqlx::query_scalar("SELECT job_id FROM tv_signals WHERE id = $1")
        .bind(signal)
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    let (status, _, _) = s.wait_job(job).await;
    let orders = s.orders_with_comment(&companion_agent::job_comment(job));
    (
        status,
        orders
            .first()
            .and_then(|o| o["symbol"].as_str())
            .map(String::from),
    )
}

/// The Symbols view's commands: overrides set and cleared through the user API with
/// the app's agent key, applied at once by the embedded runtime, and the
/// resolutions it made with how each was decided.
#[tokio::test(flavor = "multi_thread")]
async fn the_symbols_view_shows_resolutions_and_sets_overrides_the_runtime_applies() {
    use companion_agent::symbols::SymbolDecision;
    let mut s = Stack::new("app_core_symbols").await;
    let store = Arc::new(MemoryStore::default());
    let core = Core::open(options(&s, Arc::clone(&store))).await;
    core.pair(s.key.clone(), Some(s.server_url()))
        .await
        .expect("pair");
    s.start_paper(&["--profile", "dotted-pro"]);
    status_reaches(&core, "terminal connected", |st| st.terminal.connected).await;
    assert!(core.list_symbols().await.expect("symbols").is_empty());
    let (_, secret) = s.insert_strategy().await;

    assert_eq!(
        alert(&s, &secret, "OANDA:EURUSD").await,
        ("completed".into(), Some("EURUSD.pro".into()))
    );
    assert_eq!(
        alert(&s, &secret, "OANDA:NAS100USD").await,
        ("completed".into(), Some("US100.cash".into()))
    );
    let rows = core.list_symbols().await.expect("symbols");
    let line = |rows: &[companion_agent::app::SymbolRow], c: &str| {
        rows.iter()
            .find(|r| r.canonical == c)
            .cloned()
            .unwrap_or_else(|| panic!("{c} in {rows:?}"))
    };
    let eur = line(&rows, "EURUSD");
    assert_eq!(
        (eur.broker_symbol.as_deref(), eur.decided),
        (Some("EURUSD.pro"), Some(SymbolDecision::Affix))
    );
    let nas = line(&rows, "NAS100");
    assert_eq!(
        (nas.broker_symbol.as_deref(), nas.decided),
        (Some("US100.cash"), Some(SymbolDecision::Alias))
    );

    // The trader prefers another symbol for the Nasdaq (any spelling names it).
    let rows = core
        .set_symbol_override("OANDA:NAS100USD", "US30.cash")
        .await
        .expect("set override");
    assert_eq!(
        line(&rows, "NAS100").override_symbol.as_deref(),
        Some("US30.cash")
    );
    assert_eq!(
        alert(&s, &secret, "NAS100").await,
        ("completed".into(), Some("US30.cash".into()))
    );
    let nas = line(&core.list_symbols().await.unwrap(), "NAS100");
    assert_eq!(
        (nas.broker_symbol.as_deref(), nas.decided),
        (Some("US30.cash"), Some(SymbolDecision::Override))
    );
    let bad = core.set_symbol_override("NAS100", "US 30").await;
    assert!(bad.is_err(), "{bad:?}");

    // Cleared: the agent resolves it itself again.
    let rows = core.clear_symbol_override("NAS100").await.expect("clear");
    assert!(rows.iter().all(|r| r.override_symbol.is_none()), "{rows:?}");
    assert_eq!(
        alert(&s, &secret, "NAS100").await,
        ("completed".into(), Some("US100.cash".into()))
    );

    core.close().await;
    s.stop_paper();
}
