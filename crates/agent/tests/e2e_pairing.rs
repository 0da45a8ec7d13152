//! Pairing and key handling through the real binaries: the key is checked with
//! the server, never written to a file, and a refused key stops the agent.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use std::process::Command;

use common::Stack;

fn files_contain(dir: &std::path::Path, needle: &str) -> bool {
    walk(dir).into_iter().any(|p| {
        std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
    })
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Runs `cmd` with `key` and a newline on its stdin.
fn pair_with_stdin(cmd: &mut Command, key: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{key}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Issue 17, item 8: the key never goes through argv (`ps`, shell history).
#[tokio::test(flavor = "multi_thread")]
async fn pair_refuses_a_key_in_argv_and_says_how_to_pass_it() {
    let s = Stack::new("pair_argv").await;
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(common::agent_bin())
        .args([
            "pair",
            "--server",
            &s.server_url(),
            "--key",
            &s.key,
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("COMPANION_AGENT_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--key")
            && stderr.contains("stdin")
            && stderr.contains("COMPANION_AGENT_KEY"),
        "{stderr}"
    );
    assert!(!stderr.contains(&s.key), "the key is never printed");
    // Nothing on stdin: a clear error, not a hang or a pairing with an empty key.
    let out = pair_with_stdin(
        Command::new(common::agent_bin())
            .args(["pair", "--server", &s.server_url(), "--data-dir"])
            .arg(dir.path())
            .env_remove("COMPANION_AGENT_KEY"),
        "",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("no pairing key"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pair_without_a_keychain_says_how_to_fix_it_and_writes_no_key() {
    let s = Stack::new("pair_no_keychain").await;
    let dir = tempfile::tempdir().unwrap();
    // The key on stdin, as a script pipes it (never in argv).
    let out = pair_with_stdin(
        Command::new(common::agent_bin())
            .args(["pair", "--server", &s.server_url(), "--data-dir"])
            .arg(dir.path())
            // No session bus: no Secret Service.
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/nonexistent/companion-e2e-bus",
            )
            .env_remove("COMPANION_AGENT_KEY"),
        &s.key,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "pair must fail without a keychain: {stderr}"
    );
    assert!(
        stderr.contains("COMPANION_AGENT_KEY") && stderr.contains("Secret Service"),
        "{stderr}"
    );
    assert!(!stderr.contains(&s.key), "the key is never printed");
    assert!(
        !files_contain(dir.path(), &s.key),
        "no plaintext key on disk"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_is_refused_with_exit_code_2_and_status_reports_the_journal() {
    let mut s = Stack::new("bad_key").await;
    // Flip the last character to a different one (appending a fixed `x` kept the key
    // unchanged whenever it already ended in `x`: the agent then ran forever).
    let last = if s.key.ends_with('x') { "y" } else { "x" };
    let wrong = format!("{}{last}", &s.key[..s.key.len() - 1]);
    assert_ne!(wrong, s.key);
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::agent_bin())
        .args(["run", "--server", &s.server_url(), "--bridge-port", "0"])
        .env("COMPANION_AGENT_KEY", &wrong)
        .env("COMPANION_AGENT_DATA_DIR", s.data_dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let status = tokio::task::block_in_place(|| {
        common::wait_exit(&mut child, std::time::Duration::from_secs(60))
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(2),
        "a wrong key must end the agent with exit code 2 within 60 s: {stderr}"
    );
    assert!(stderr.contains("pair again"), "{stderr}");
    assert!(!stderr.contains(&wrong));

    // With the right key: status says paired and reachable, and after a job the journal counts it.
    s.start_agent(&[]);
    s.start_paper(&[]);
    s.wait_terminal_ready().await;
    let st = s.agent_status();
    assert_eq!(st["paired"], true, "{st}");
    assert_eq!(st["key_source"], "environment");
    assert_eq!(st["server_reachable"], true);
    assert!(st["journal"]["reported"].as_i64().unwrap() >= 1, "{st}");
    assert!(
        !files_contain(s.data_dir.path(), &s.key),
        "no plaintext key on disk"
    );
    // SIGTERM: graceful stop with exit code 0.
    let code = tokio::task::block_in_place(|| s.agent.as_mut().unwrap().terminate());
    assert_eq!(code.and_then(|c| c.code()), Some(0));
}

/// With a real Secret Service (gnome-keyring in a private D-Bus session): `pair`
/// stores the key in the keychain, `status` and `run` find it there without
/// `COMPANION_AGENT_KEY`, `unpair` removes it. Needs `dbus-run-session` and
/// `gnome-keyring-daemon` (scripts/install-deps installs them).
#[tokio::test(flavor = "multi_thread")]
async fn pair_status_unpair_with_a_real_secret_service() {
    let s = Stack::new("pair_keychain").await;
    let dir = tempfile::tempdir().unwrap();
    let bin = common::agent_bin();
    let script = format!(
        r#"set -e
export XDG_DATA_HOME="{home}/xdg" HOME="{home}"
mkdir -p "$XDG_DATA_HOME"
eval "$(printf 'companion-e2e' | gnome-keyring-daemon --unlock --components=secrets)"
printf '%s\n' "$PAIR_KEY" | "{bin}" pair --server "{url}" --data-dir "{dir}"
"{bin}" status --json --data-dir "{dir}" > "{dir}/status-paired.json"
"{bin}" unpair --data-dir "{dir}"
"{bin}" status --json --data-dir "{dir}" > "{dir}/status-unpaired.json"
"#,
        home = dir.path().display(),
        bin = bin.display(),
        url = s.server_url(),
        dir = dir.path().join("agent").display(),
    );
    let out = Command::new("dbus-run-session")
        .args(["--", "bash", "-c", &script])
        .env("PAIR_KEY", &s.key)
        .env_remove("COMPANION_AGENT_KEY")
        .env_remove("COMPANION_SERVER")
        .output()
        .expect("dbus-run-session (install dbus and gnome-keyring)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("agent_id={}", s.agent_id)),
        "{stdout}"
    );
    assert!(stdout.contains("agent_name=e2e-agent"), "{stdout}");
    assert!(
        !stdout.contains(&s.key) && !stderr.contains(&s.key),
        "the key is never printed"
    );
    let paired: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("agent/status-paired.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(paired["paired"], true, "{paired}");
    assert_eq!(paired["key_source"], "keychain");
    assert_eq!(paired["server_reachable"], true);
    let unpaired: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("agent/status-unpaired.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(unpaired["paired"], false, "{unpaired}");
    assert!(
        !files_contain(&dir.path().join("agent"), &s.key),
        "no plaintext key in the data dir"
    );
}
