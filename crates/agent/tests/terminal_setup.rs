//! Terminal setup and the Doctor on a fake installation tree: a data folder with
//! `origin.txt` (under a path with spaces), `terminal64.exe`, and the terminal
//! crate's fake MetaEditor, which writes MetaEditor's log and `.ex5` for real.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

use std::path::PathBuf;
use std::time::Duration;

use companion_agent::config::AgentConfig;
use companion_agent::terminal_setup::doctor::{
    run_checks, BridgeState, CheckId, CheckStatus, RefusalView,
};
use companion_agent::terminal_setup::{self, SetupError, SetupOptions};
use companion_terminal::discovery::{DiscoveryRoots, Installation};
use companion_terminal::ea::BRIDGE_EA_SOURCE;
use companion_terminal::startup::{self, BridgeFiles};

const TOKEN: &str = "test-bridge-token-0123456789abcdef";
const PORT: u16 = 17_999;

fn fake_metaeditor() -> PathBuf {
    companion_testkit::stack::ensure_built(&["companion-terminal"]);
    PathBuf::from(env!("CARGO_BIN_EXE_companion-agent"))
        .parent()
        .unwrap()
        .join("companion-fake-metaeditor")
}

struct Tree {
    _root: tempfile::TempDir,
    roots: DiscoveryRoots,
    data: PathBuf,
    config_dir: PathBuf,
}

/// `<root>/<appdata>/MetaQuotes/Terminal/<id>/origin.txt` → `<root>/Program Files/MetaTrader 5`.
fn tree(appdata_name: &str) -> Tree {
    let root = tempfile::tempdir().unwrap();
    let install = root.path().join("Program Files/MetaTrader 5");
    std::fs::create_dir_all(&install).unwrap();
    std::fs::write(install.join("terminal64.exe"), b"MZ").unwrap();
    std::fs::write(install.join("metaeditor64.exe"), b"MZ").unwrap();
    let appdata = root.path().join(appdata_name);
    let data = appdata.join("MetaQuotes/Terminal/D0E8209F77C8CF37AD8BF550E51FF075");
    std::fs::create_dir_all(data.join("MQL5/Experts")).unwrap();
    std::fs::write(data.join("origin.txt"), install.display().to_string()).unwrap();
    let config_dir = root.path().join("agent-data");
    Tree {
        roots: DiscoveryRoots {
            appdata: vec![appdata],
            ..Default::default()
        },
        data,
        config_dir,
        _root: root,
    }
}

/// The installation, with the fake MetaEditor (a native program) standing in.
fn installation(t: &Tree) -> Installation {
    let mut i = terminal_setup::resolve(&t.data, &t.roots).unwrap();
    i.metaeditor_exe = Some(fake_metaeditor());
    i
}

fn status(checks: &[companion_agent::terminal_setup::doctor::Check], id: CheckId) -> CheckStatus {
    checks.iter().find(|c| c.id == id).unwrap().status
}

fn fix(checks: &[companion_agent::terminal_setup::doctor::Check], id: CheckId) -> String {
    checks
        .iter()
        .find(|c| c.id == id)
        .unwrap()
        .fix
        .clone()
        .unwrap_or_default()
}

#[tokio::test]
async fn setup_installs_compiles_and_configures_under_a_path_with_spaces() {
    let t = tree("Users/Trader Name/AppData/Roaming");
    let listed = terminal_setup::list(&t.roots, &AgentConfig::default());
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].bridge_version, None);
    let i = installation(&t);
    let r = terminal_setup::setup_and_record(&t.config_dir, &i, &SetupOptions::new(PORT, TOKEN))
        .await
        .unwrap();

    // Where MT5 expects them.
    let files = BridgeFiles::in_data_dir(&t.data);
    assert_eq!(r.source, files.source);
    assert!(t
        .data
        .join("MQL5/Experts/Companion/CompanionBridge.mq5")
        .is_file());
    assert!(t
        .data
        .join("MQL5/Experts/Companion/CompanionBridge.ex5")
        .is_file());
    assert_eq!(
        std::fs::read_to_string(&files.source).unwrap(),
        BRIDGE_EA_SOURCE
    );
    assert_eq!(r.bridge_version, startup::bundled_bridge_version());
    // The startup files: the token only in the private .set, never in the command.
    let ini = companion_terminal::toolchain::decode_text(&std::fs::read(&files.ini).unwrap());
    assert!(ini.contains("Expert=Companion\\CompanionBridge"), "{ini}");
    assert!(!ini.contains(TOKEN));
    let (port, token) = startup::read_bridge_set(&std::fs::read(&files.set).unwrap());
    assert_eq!((port, token.as_deref()), (Some(PORT), Some(TOKEN)));
    assert!(!r.start_command.contains(TOKEN), "{}", r.start_command);
    assert!(r.start_command.contains("/config:"), "{}", r.start_command);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [&files.set, &files.ini] {
            let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }
    }
    // Recorded for the next start.
    let cfg = AgentConfig::load(&t.config_dir).unwrap();
    assert_eq!(cfg.set_up_terminals.len(), 1);
    assert_eq!(cfg.set_up_terminals[0].bridge_version, r.bridge_version);
    assert!(terminal_setup::list(&t.roots, &cfg)[0].set_up);

    // The Doctor: every file check passes; the bridge one says what is missing.
    let idle = BridgeState {
        listening: true,
        port: Some(PORT),
        ..Default::default()
    };
    let checks = run_checks(Some(&i), PORT, TOKEN, Some(&idle));
    for id in [
        CheckId::TerminalFound,
        CheckId::MetaeditorFound,
        CheckId::EaInstalled,
        CheckId::EaCompiled,
        CheckId::StartupConfig,
    ] {
        assert_eq!(status(&checks, id), CheckStatus::Ok, "{id:?}: {checks:#?}");
    }
    assert_eq!(status(&checks, CheckId::EaConnected), CheckStatus::Fail);
    assert!(fix(&checks, CheckId::EaConnected).contains("127.0.0.1"));
    assert_eq!(status(&checks, CheckId::TokenMatches), CheckStatus::Skipped);
    // Connected, trading allowed, hedging: all green.
    let live = BridgeState {
        connected: true,
        login: Some("51234567".into()),
        trade_allowed: Some(true),
        margin_mode: Some("hedging".into()),
        ..idle.clone()
    };
    let checks = run_checks(Some(&i), PORT, TOKEN, Some(&live));
    assert!(
        checks.iter().all(|c| c.status == CheckStatus::Ok),
        "{checks:#?}"
    );
}

#[tokio::test]
async fn each_failure_has_its_own_message() {
    let t = tree("AppData");
    // No installation at all.
    let checks = run_checks(None, PORT, TOKEN, None);
    assert_eq!(status(&checks, CheckId::TerminalFound), CheckStatus::Fail);
    assert!(fix(&checks, CheckId::TerminalFound).contains("install MetaTrader 5"));

    // No MetaEditor: setup refuses, saying what to do; the Doctor says the same.
    let mut no_me = installation(&t);
    no_me.metaeditor_exe = None;
    let e = terminal_setup::setup(&no_me, &SetupOptions::new(PORT, TOKEN))
        .await
        .unwrap_err();
    assert!(matches!(e, SetupError::NoMetaEditor { .. }), "{e}");
    assert!(e.to_string().contains("reinstall MetaTrader 5"), "{e}");
    let checks = run_checks(Some(&no_me), PORT, TOKEN, None);
    assert_eq!(status(&checks, CheckId::MetaeditorFound), CheckStatus::Fail);
    // The source went in before the compile step: installed, not compiled.
    assert_eq!(status(&checks, CheckId::EaInstalled), CheckStatus::Ok);
    assert_eq!(status(&checks, CheckId::EaCompiled), CheckStatus::Fail);
    assert!(fix(&checks, CheckId::EaCompiled).contains("terminal setup"));
    // Agent not running.
    assert_eq!(status(&checks, CheckId::EaConnected), CheckStatus::Fail);
    assert!(fix(&checks, CheckId::EaConnected).contains("start the agent"));

    // A compile error: the log comes back with the error.
    let i = installation(&t);
    let broken = SetupOptions {
        source: format!("{BRIDGE_EA_SOURCE}\nSYNTAX_ERROR_HERE\n"),
        ..SetupOptions::new(PORT, TOKEN)
    };
    match terminal_setup::setup(&i, &broken).await {
        Err(SetupError::Compile { errors, log }) => {
            assert_eq!(errors.len(), 1, "{log}");
            assert!(!log.is_empty());
        }
        other => panic!("a compile error must fail setup: {other:?}"),
    }
    let checks = run_checks(Some(&i), PORT, TOKEN, None);
    assert_eq!(
        status(&checks, CheckId::EaInstalled),
        CheckStatus::Fail,
        "not the bundled source"
    );

    // Set up properly, then: a wrong token refused by the bridge.
    terminal_setup::setup(&i, &SetupOptions::new(PORT, TOKEN))
        .await
        .unwrap();
    let refused = BridgeState {
        listening: true,
        port: Some(PORT),
        last_refusal: Some(RefusalView {
            code: "bad_token".into(),
            message: "the bridge EA's InpToken differs".into(),
        }),
        ..Default::default()
    };
    let checks = run_checks(Some(&i), PORT, TOKEN, Some(&refused));
    assert_eq!(status(&checks, CheckId::TokenMatches), CheckStatus::Fail);
    assert!(fix(&checks, CheckId::TokenMatches).contains("InpToken"));
    // The agent's token changed since setup: the startup inputs say so.
    let checks = run_checks(Some(&i), PORT, "another-token", Some(&refused));
    assert_eq!(status(&checks, CheckId::StartupConfig), CheckStatus::Fail);
    // Connected but algo trading off.
    let off = BridgeState {
        connected: true,
        trade_allowed: Some(false),
        last_refusal: None,
        ..refused
    };
    let checks = run_checks(Some(&i), PORT, TOKEN, Some(&off));
    assert_eq!(status(&checks, CheckId::AlgoTrading), CheckStatus::Fail);
    assert!(fix(&checks, CheckId::AlgoTrading).contains("Algo Trading"));
    assert_eq!(status(&checks, CheckId::MarginMode), CheckStatus::Skipped);
}

#[tokio::test]
async fn a_newer_bundled_ea_is_reinstalled_at_the_next_start() {
    let t = tree("AppData");
    let i = installation(&t);
    // An older bridge was set up: older source, its version recorded.
    let old = BRIDGE_EA_SOURCE.replacen(
        &format!("\"{}\"", startup::bundled_bridge_version()),
        "\"0.9\"",
        1,
    );
    let older = SetupOptions {
        source: old,
        ..SetupOptions::new(PORT, TOKEN)
    };
    terminal_setup::setup_and_record(&t.config_dir, &i, &older)
        .await
        .unwrap();
    let mut cfg = AgentConfig::load(&t.config_dir).unwrap();
    assert_eq!(cfg.set_up_terminals[0].bridge_version, "0.9");
    // The recorded MetaEditor is the fake one (native).
    cfg.set_up_terminals[0].metaeditor_exe = Some(fake_metaeditor());
    cfg.save(&t.config_dir).unwrap();
    let before = startup::inspect(&t.data);
    assert_eq!(before.source_version.as_deref(), Some("0.9"));
    assert!(!before.source_current);

    let done = terminal_setup::refresh_set_up_terminals(&t.config_dir, PORT, TOKEN)
        .await
        .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].from_version, "0.9");
    done[0].result.as_ref().unwrap();
    let after = startup::inspect(&t.data);
    assert!(after.source_current && after.compiled, "{after:?}");
    assert_eq!(
        AgentConfig::load(&t.config_dir).unwrap().set_up_terminals[0].bridge_version,
        startup::bundled_bridge_version()
    );
    // Current everywhere: the next start does nothing.
    let again = terminal_setup::refresh_set_up_terminals(&t.config_dir, PORT, TOKEN)
        .await
        .unwrap();
    assert!(again.is_empty());
}

#[tokio::test]
async fn the_probe_sees_a_wrong_token_from_the_paper_terminal() {
    companion_testkit::stack::ensure_built(&["companion-terminal"]);
    let paper = fake_metaeditor().with_file_name("companion-paper-terminal");
    // A free port: bind, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let probe =
        tokio::spawn(async move { BridgeState::probe(port, TOKEN, Duration::from_secs(20)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut child = tokio::process::Command::new(&paper)
        .args(["--agent", &format!("127.0.0.1:{port}"), "--token", "wrong"])
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let state = probe.await.unwrap();
    let _ = child.kill().await;
    assert!(state.listening && !state.connected, "{state:?}");
    assert_eq!(state.last_refusal.unwrap().code, "bad_token");
}

#[tokio::test]
async fn the_probe_reads_a_connected_terminal_for_the_doctor() {
    companion_testkit::stack::ensure_built(&["companion-terminal"]);
    let paper = fake_metaeditor().with_file_name("companion-paper-terminal");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let probe =
        tokio::spawn(async move { BridgeState::probe(port, TOKEN, Duration::from_secs(20)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut child = tokio::process::Command::new(&paper)
        .args([
            "--agent",
            &format!("127.0.0.1:{port}"),
            "--token",
            TOKEN,
            "--profile",
            "netting",
        ])
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let state = probe.await.unwrap();
    let _ = child.kill().await;
    assert!(state.connected, "{state:?}");
    assert_eq!(state.trade_allowed, Some(true));
    assert_eq!(state.margin_mode.as_deref(), Some("netting"));
    let t = tree("AppData");
    let i = installation(&t);
    terminal_setup::setup(&i, &SetupOptions::new(port, TOKEN))
        .await
        .unwrap();
    let checks = run_checks(Some(&i), port, TOKEN, Some(&state));
    assert_eq!(status(&checks, CheckId::EaConnected), CheckStatus::Ok);
    assert_eq!(status(&checks, CheckId::TokenMatches), CheckStatus::Ok);
    assert_eq!(status(&checks, CheckId::AlgoTrading), CheckStatus::Ok);
    assert_eq!(status(&checks, CheckId::MarginMode), CheckStatus::Warn);
}
