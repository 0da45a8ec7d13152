//! The updater plugin, configured as the app configures it, against a real HTTP
//! server speaking the update protocol: a newer version is found and its artifact
//! verifies; an equal or older version is not offered; a tampered artifact is
//! rejected by the minisign check. Fixtures: a throwaway key pair (the private
//! half was discarded after signing `Companion.AppImage`).

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

use std::net::SocketAddr;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tauri_plugin_updater::UpdaterExt;

const PUBKEY: &str = include_str!("fixtures/updater/key.pub");
const ARTIFACT: &[u8] = include_bytes!("fixtures/updater/Companion.AppImage");
const SIG: &str = include_str!("fixtures/updater/Companion.AppImage.sig");

#[derive(Clone)]
struct Release {
    version: &'static str,
    artifact: Vec<u8>,
    base: String,
}

async fn manifest(
    State(r): State<Release>,
    Path((_t, _a, _b, _v)): Path<(String, String, String, String)>,
) -> Response {
    Json(json!({
        "version": r.version,
        "url": format!("{}/releases/Companion.AppImage", r.base),
        "signature": SIG.trim(),
        "notes": "Faster fills.",
        "pub_date": "2026-11-24T20:00:00Z",
    }))
    .into_response()
}

async fn artifact(State(r): State<Release>) -> Vec<u8> {
    r.artifact
}

/// Serves one release; returns the server base URL.
async fn serve(version: &'static str, artifact_bytes: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let app = Router::new()
        .route(
            "/api/v1/updates/{target}/{arch}/{bundle_type}/{current}",
            get(manifest),
        )
        .route("/releases/Companion.AppImage", get(artifact))
        .with_state(Release {
            version,
            artifact: artifact_bytes,
            base: base.clone(),
        });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn app() -> tauri::App<tauri::test::MockRuntime> {
    let mut ctx = tauri::test::mock_context(tauri::test::noop_assets());
    ctx.config_mut().plugins.0.insert(
        "updater".into(),
        json!({ "pubkey": PUBKEY.trim(), "endpoints": [], "dangerousInsecureTransportProtocol": true }),
    );
    // mock_context's package version is 0.1.0, like the app's.
    tauri::test::mock_builder()
        .plugin(tauri_plugin_updater::Builder::new().build())
        .build(ctx)
        .expect("mock app")
}

async fn check(
    app: &tauri::App<tauri::test::MockRuntime>,
    base: &str,
) -> Option<tauri_plugin_updater::Update> {
    let url = companion_app::updates::endpoint(base).parse().unwrap();
    app.handle()
        .updater_builder()
        .endpoints(vec![url])
        .unwrap()
        .build()
        .unwrap()
        .check()
        .await
        .expect("update check")
}

#[tokio::test]
async fn a_newer_version_is_found_and_its_artifact_verifies() {
    let app = app();
    let base = serve("0.2.0", ARTIFACT.to_vec()).await;
    let update = check(&app, &base)
        .await
        .expect("0.2.0 > 0.1.0 must be offered");
    assert_eq!(update.version, "0.2.0");
    assert_eq!(update.current_version, "0.1.0");
    assert_eq!(update.body.as_deref(), Some("Faster fills."));
    let bytes = update
        .download(|_, _| {}, || {})
        .await
        .expect("a correctly signed artifact downloads");
    assert_eq!(bytes, ARTIFACT);
}

#[tokio::test]
async fn an_equal_or_older_version_is_not_offered() {
    let app = app();
    for v in ["0.1.0", "0.0.9"] {
        let base = serve(v, ARTIFACT.to_vec()).await;
        assert!(
            check(&app, &base).await.is_none(),
            "{v} must not be offered over 0.1.0"
        );
    }
}

#[tokio::test]
async fn a_tampered_artifact_is_rejected() {
    let app = app();
    let mut tampered = ARTIFACT.to_vec();
    tampered[100] ^= 0xff;
    let base = serve("0.2.0", tampered).await;
    let update = check(&app, &base).await.expect("offered");
    let err = update
        .download(|_, _| {}, || {})
        .await
        .expect_err("a tampered artifact must be rejected");
    assert!(
        matches!(err, tauri_plugin_updater::Error::Minisign(_)),
        "expected a signature error, got {err:?}"
    );
}
