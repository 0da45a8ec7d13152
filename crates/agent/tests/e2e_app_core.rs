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
