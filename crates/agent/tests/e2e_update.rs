//! `companion-agent update` and the automatic mode, through the real binaries: the real
//! server (PostgreSQL, `RELEASES_DIR`) serves a release published with
//! `scripts/release publish` (real `companion-release`, a throwaway key made here).
//!
//! - unsigned, wrongly signed and tampered artifacts are refused: the binary is unchanged;
//! - `companion-agent update` replaces an installed copy with the signed newer build;
//! - a running agent (`run`, `COMPANION_AUTO_UPDATE=1`) finds the release, replaces its
//!   binary and re-executes itself in place: same PID, same arguments.
//!
//! The "newer build" is a stand-in: a small executable script that records that it runs,
//! its PID and its arguments (a real second agent build would need another full compile
//! with `COMPANION_VERSION=0.2.0`). Everything else is the real agent.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{agent_bin, bin_dir, eventually, free_port, spawn_named, Stack};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tool() -> Command {
    Command::new(bin_dir().join("companion-release"))
}

fn keygen(dir: &Path) -> PathBuf {
    let out = tool().arg("keygen").arg(dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("updater.key")
}

fn sign(key: &Path, file: &Path, version: &str) -> String {
    let out = tool()
        .args(["sign", "--version", version])
        .arg(file)
        .env("TAURI_SIGNING_PRIVATE_KEY", key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut sig = file.as_os_str().to_owned();
    sig.push(".sig");
    std::fs::read_to_string(PathBuf::from(sig)).unwrap()
}

/// A manifest offering `artifact` (already under RELEASES_DIR/0.2.0/) with `signature`.
fn write_manifest(releases: &Path, name: &str, signature: &str) {
    let m = serde_json::json!({
        "version": "0.2.0",
        "platforms": {format!("linux-{}-agent", std::env::consts::ARCH): {"url": format!("0.2.0/{name}"), "signature": signature}}
    });
    std::fs::write(releases.join("latest.json"), m.to_string()).unwrap();
}

fn update_cmd(exe: &Path, stack: &Stack, pubkey: &str) -> std::process::Output {
    Command::new(exe)
        .arg("update")
        .env("COMPANION_SERVER", stack.server_url())
        .env("COMPANION_UPDATE_PUBKEY", pubkey)
        .env("COMPANION_AGENT_DATA_DIR", stack.data_dir.path())
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_running_agent_is_replaced_by_a_newer_signed_build_and_bad_ones_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let releases = tmp.path().join("releases");
    std::fs::create_dir_all(releases.join("0.2.0")).unwrap();
    // The server process inherits it (one test in this binary).
    std::env::set_var("RELEASES_DIR", &releases);
    let stack = Stack::new("agent_update").await;

    let key = keygen(&tmp.path().join("keys"));
    let pubkey = std::fs::read_to_string(tmp.path().join("keys/updater.key.pub")).unwrap();
    let other_key = keygen(&tmp.path().join("other"));

    // Two installed copies of this agent (0.1.0).
    let install_a = tmp.path().join("a/companion-agent");
    let install_b = tmp.path().join("b/companion-agent");
    for p in [&install_a, &install_b] {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::copy(agent_bin(), p).unwrap();
    }
    let original = std::fs::read(agent_bin()).unwrap();

    // The newer build (stand-in): records that it runs, then stays up like an agent.
    let marker = tmp.path().join("newer-ran.txt");
    let build = tmp.path().join("build");
    std::fs::create_dir_all(&build).unwrap();
    let name = format!("companion-agent-0.2.0-linux-{}", std::env::consts::ARCH);
    let newer = build.join(&name);
    std::fs::write(
        &newer,
        "#!/bin/sh\necho \"0.2.0 pid=$$ args=$*\" >> \"$UPDATE_MARKER\"\nexec sleep 300\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&newer, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let served = releases.join("0.2.0").join(&name);

    // Refused: unsigned, signed by another key, tampered after signing.
    std::fs::copy(&newer, &served).unwrap();
    let wrong_sig = sign(&other_key, &served, "0.2.0");
    let good_sig = sign(&key, &newer, "0.2.0");
    let mut tampered = std::fs::read(&newer).unwrap();
    tampered.extend_from_slice(b"\nrm -rf /tmp/x\n");
    for (case, bytes, sig) in [
        ("unsigned", std::fs::read(&newer).unwrap(), String::new()),
        ("wrongly signed", std::fs::read(&newer).unwrap(), wrong_sig),
        ("tampered", tampered, good_sig.clone()),
    ] {
        std::fs::write(&served, &bytes).unwrap();
        write_manifest(&releases, &name, &sig);
        let out = update_cmd(&install_b, &stack, &pubkey);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{case}: must be refused");
        assert!(
            stderr.contains("refusing the update") || stderr.contains("signature"),
            "{case}: {stderr}"
        );
        assert_eq!(
            std::fs::read(&install_b).unwrap(),
            original,
            "{case}: binary changed"
        );
    }

    // A running agent with automatic updates on, while only the tampered release is served.
    let mut cmd = Command::new(&install_a);
    cmd.args([
        "run",
        "--bridge-port",
        &free_port().to_string(),
        "--bridge-token",
        "t",
    ])
    .env("COMPANION_AGENT_KEY", &stack.key)
    .env("COMPANION_SERVER", stack.server_url())
    .env("COMPANION_AGENT_DATA_DIR", stack.data_dir.path())
    .env("COMPANION_AUTO_UPDATE", "1")
    .env("COMPANION_AUTO_UPDATE_INTERVAL_SECS", "1")
    .env("COMPANION_UPDATE_PUBKEY", &pubkey)
    .env("UPDATE_MARKER", &marker)
    .env("RUST_LOG", "info,companion_agent=debug,sqlx=warn")
    .env_remove("DBUS_SESSION_BUS_ADDRESS");
    let mut agent = spawn_named("agent_update", "agent-a", cmd);
    let pid = agent.child.id();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        agent.child.try_wait().unwrap().is_none(),
        "the agent must keep running on a refused update"
    );
    assert!(!marker.exists());
    assert_eq!(std::fs::read(&install_a).unwrap(), original);

    // Publish the signed newer build the documented way.
    std::fs::remove_file(releases.join("latest.json")).unwrap();
    let out = Command::new("bash")
        .arg(repo().join("scripts/release"))
        .arg("publish")
        .arg(format!(
            "linux-{}-agent={}",
            std::env::consts::ARCH,
            newer.display()
        ))
        .env("TAURI_SIGNING_PRIVATE_KEY", &key)
        .env("RELEASES_DIR", &releases)
        .env("VERSION", "0.2.0")
        .env("COMPANION_RELEASE_BIN", bin_dir().join("companion-release"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "release: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The running agent replaced itself and re-executed in place.
    let ran = eventually(
        Duration::from_secs(60),
        "the agent restarts as 0.2.0",
        || {
            let marker = marker.clone();
            async move {
                std::fs::read_to_string(&marker)
                    .ok()
                    .filter(|s| !s.is_empty())
            }
        },
    )
    .await;
    assert!(
        ran.contains(&format!("pid={pid} ")),
        "re-exec keeps the PID: {ran}"
    );
    assert!(
        ran.contains("args=run --bridge-port"),
        "and the arguments: {ran}"
    );
    assert_eq!(
        std::fs::read(&install_a).unwrap(),
        std::fs::read(&newer).unwrap()
    );
    agent.kill();

    // `companion-agent update` replaces an installed copy.
    let out = update_cmd(&install_b, &stack, &pubkey);
    assert!(
        out.status.success(),
        "update: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("-> 0.2.0"));
    assert_eq!(
        std::fs::read(&install_b).unwrap(),
        std::fs::read(&newer).unwrap()
    );
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&install_b).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "the new binary is executable");
    }
    // No key, no update.
    let out = Command::new(agent_bin())
        .arg("update")
        .env("COMPANION_SERVER", stack.server_url())
        .env_remove("COMPANION_UPDATE_PUBKEY")
        .env("COMPANION_AGENT_DATA_DIR", stack.data_dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no updater public key"));
}
