//! From the release command to a client: `scripts/release publish` (its sign + manifest
//! part, with the real `companion-release` tool) on small fake artifacts signed with a
//! throwaway key generated here; then the real server on that `RELEASES_DIR`, and an HTTP
//! client asking as each installer kind would, downloading what it is pointed at and
//! checking it as the updater does (`companion_protocol::updates::verify_artifact`, the
//! plugin's check: minisign + signed version).

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_error, TestServer};
use companion_protocol::updates::{verify_artifact, SignatureError, UpdateInfo};
use reqwest::StatusCode;

const TOOL: &str = env!("CARGO_BIN_EXE_companion-release");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn keygen(dir: &Path) -> PathBuf {
    let out = Command::new(TOOL).arg("keygen").arg(dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("updater.key")
}

/// `scripts/release publish KIND=FILE...` as a release manager runs it.
fn release(
    key: &Path,
    releases: &Path,
    version: &str,
    artifacts: &[(&str, &Path)],
) -> std::process::Output {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("scripts/release")).arg("publish");
    for (kind, file) in artifacts {
        cmd.arg(format!("{kind}={}", file.display()));
    }
    cmd.env("TAURI_SIGNING_PRIVATE_KEY", key)
        .env_remove("TAURI_SIGNING_PUBLIC_KEY")
        .env("RELEASES_DIR", releases)
        .env("VERSION", version)
        .env("RELEASE_NOTES", "Faster fills.")
        .env("COMPANION_RELEASE_BIN", TOOL)
        .output()
        .unwrap()
}

fn fake(dir: &Path, name: &str, fill: u8) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, vec![fill; 4096]).unwrap();
    p
}

#[tokio::test]
async fn the_release_commands_manifest_reaches_each_installer_kind() {
    let tmp = std::env::temp_dir().join(format!("companion-release-{}", uuid::Uuid::new_v4()));
    let build = tmp.join("build");
    let releases = tmp.join("releases");
    std::fs::create_dir_all(&build).unwrap();
    let key = keygen(&tmp.join("keys"));
    let pubkey = std::fs::read_to_string(tmp.join("keys/updater.key.pub")).unwrap();

    let deb = fake(&build, "companion_0.2.0_amd64.deb", 1);
    let img = fake(&build, "Companion_0.2.0_amd64.AppImage", 2);
    let nsis = fake(&build, "Companion_0.2.0_x64-setup.exe", 3);
    let agent = fake(&build, "companion-agent-0.2.0-linux-x86_64", 4);
    let out = release(
        &key,
        &releases,
        "0.2.0",
        &[
            ("linux-x86_64-deb", &deb),
            ("linux-x86_64-appimage", &img),
            ("linux-x86_64", &img),
            ("windows-x86_64-nsis", &nsis),
            ("linux-x86_64-agent", &agent),
        ],
    );
    assert!(
        out.status.success(),
        "release: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(releases.join("latest.json").is_file());

    let dir = releases.clone();
    let s = TestServer::start_with(move |c| c.releases_dir = Some(dir)).await;
    let get = |path: String| {
        let s = &s;
        async move { s.http.get(s.url(&path)).send().await.unwrap() }
    };

    // Each installer kind gets its own artifact, and it verifies as the updater checks it.
    for (bundle, expect) in [
        ("deb", &deb),
        ("appimage", &img),
        ("nsis", &nsis),
        ("agent", &agent),
        ("unknown", &img),
    ] {
        let target = if bundle == "nsis" { "windows" } else { "linux" };
        let r = get(format!("/api/v1/updates/{target}/x86_64/{bundle}/0.1.0")).await;
        assert_eq!(r.status(), StatusCode::OK, "{bundle}");
        let u: UpdateInfo = r.json().await.unwrap();
        assert_eq!(u.version, "0.2.0");
        assert_eq!(u.notes.as_deref(), Some("Faster fills."));
        let name = expect.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            u.url,
            s.url(&format!("/api/v1/releases/0.2.0/{name}")),
            "{bundle}"
        );
        let bytes = s.http.get(&u.url).send().await.unwrap();
        assert_eq!(bytes.status(), StatusCode::OK);
        let bytes = bytes.bytes().await.unwrap();
        assert_eq!(bytes.as_ref(), std::fs::read(expect).unwrap(), "{bundle}");
        verify_artifact(&bytes, &u.signature, &pubkey, &u.version)
            .unwrap_or_else(|e| panic!("{bundle}: {e}"));
    }
    // Installs from before {bundle_type} was in the endpoint keep their answer.
    let r = get("/api/v1/updates/linux/x86_64/0.1.0".into()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let legacy: UpdateInfo = r.json().await.unwrap();
    assert!(legacy.url.ends_with("Companion_0.2.0_amd64.AppImage"));

    // Current or newer: 204. A kind with no artifact: 204, never another kind's artifact.
    for path in [
        "/api/v1/updates/linux/x86_64/deb/0.2.0",
        "/api/v1/updates/linux/x86_64/deb/0.3.0",
        "/api/v1/updates/linux/x86_64/rpm/0.1.0",
        "/api/v1/updates/windows/x86_64/msi/0.1.0",
        "/api/v1/updates/windows/x86_64/agent/0.1.0",
        "/api/v1/updates/darwin/aarch64/app/0.1.0",
    ] {
        assert_eq!(
            get(path.into()).await.status(),
            StatusCode::NO_CONTENT,
            "{path}"
        );
    }
    // Unknown installer kind, bad version: JSON errors with stable codes.
    assert_error(
        get("/api/v1/updates/linux/x86_64/banana/0.1.0".into()).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_error(
        get("/api/v1/updates/linux/x86_64/deb/banana".into()).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    // Only artifacts are served: not the manifest, nothing outside RELEASES_DIR.
    for path in [
        "/api/v1/releases/latest.json",
        "/api/v1/releases/0.2.0/nope.deb",
        "/api/v1/releases/0.2.0/..%2F..%2Fkeys%2Fupdater.key",
        "/api/v1/releases/..%2Fkeys%2Fupdater.key",
    ] {
        assert_error(get(path.into()).await, StatusCode::NOT_FOUND, "not_found").await;
    }

    // A tampered artifact on the server is served, and refused by the client's check.
    let served = releases.join("0.2.0/companion_0.2.0_amd64.deb");
    let mut bytes = std::fs::read(&served).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&served, &bytes).unwrap();
    let u: UpdateInfo = get("/api/v1/updates/linux/x86_64/deb/0.1.0".into())
        .await
        .json()
        .await
        .unwrap();
    let got = s
        .http
        .get(&u.url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(matches!(
        verify_artifact(&got, &u.signature, &pubkey, &u.version),
        Err(SignatureError::Invalid(_))
    ));

    // The release command refuses: an artifact signed by another key, a changed artifact
    // with a stale-looking but newer .sig, and an older version than the one published.
    let other_key = keygen(&tmp.join("other"));
    let deb3 = fake(&build, "companion_0.3.0_amd64.deb", 5);
    let out = Command::new(TOOL)
        .args(["sign", "--version", "0.3.0"])
        .arg(&deb3)
        .env("TAURI_SIGNING_PRIVATE_KEY", &other_key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = release(&key, &releases, "0.3.0", &[("linux-x86_64-deb", &deb3)]);
    assert!(
        !out.status.success(),
        "a signature by another key must be refused"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not made with the updater key"));
    let out = release(&key, &releases, "0.1.5", &[("linux-x86_64-deb", &deb)]);
    assert!(
        !out.status.success(),
        "an older version than published must be refused"
    );
    let out = release(&key, &releases, "0.3.0", &[("linux-x86_64-bogus", &deb)]);
    assert!(
        !out.status.success(),
        "an unknown installer kind must be refused"
    );
    // Nothing of those reached the manifest.
    let r = get("/api/v1/updates/linux/x86_64/deb/0.1.0".into()).await;
    assert_eq!(r.json::<UpdateInfo>().await.unwrap().version, "0.2.0");
    // The key never shows in what the release command prints.
    let secret = std::fs::read_to_string(&key).unwrap();
    let out = release(&key, &releases, "0.2.0", &[("linux-x86_64-agent", &agent)]);
    assert!(out.status.success());
    for stream in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains(secret.trim()));
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}
