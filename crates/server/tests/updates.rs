//! The updater endpoint serving `RELEASES_DIR/latest.json`.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::{assert_error, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn a_newer_release_is_offered_and_the_current_one_is_not() {
    let dir = std::env::temp_dir().join(format!("companion-releases-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir2 = dir.clone();
    let s = TestServer::start_with(move |c| c.releases_dir = Some(dir2)).await;
    let get = |path: String| {
        let s = &s;
        async move { s.http.get(s.url(&path)).send().await.unwrap() }
    };
    // No manifest yet.
    assert_eq!(
        get("/api/v1/updates/linux/x86_64/0.1.0".into())
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    std::fs::write(
        dir.join("latest.json"),
        json!({"version": "0.2.0", "notes": "faster", "pub_date": "2026-11-24T20:00:00Z",
               "platforms": {"linux-x86_64": {"url": "https://example.invalid/app.tar.gz", "signature": "c2ln"}}})
        .to_string(),
    )
    .unwrap();
    let r = get("/api/v1/updates/linux/x86_64/0.1.0".into()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["version"], "0.2.0");
    assert_eq!(m["url"], "https://example.invalid/app.tar.gz");
    assert_eq!(m["signature"], "c2ln");
    assert_eq!(m["notes"], "faster");
    for path in [
        "/api/v1/updates/linux/x86_64/0.2.0",
        "/api/v1/updates/linux/x86_64/0.3.0",
        "/api/v1/updates/windows/x86_64/0.1.0",
    ] {
        assert_eq!(
            get(path.into()).await.status(),
            StatusCode::NO_CONTENT,
            "{path}"
        );
    }
    assert_error(
        get("/api/v1/updates/linux/x86_64/banana".into()).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    std::fs::remove_dir_all(&dir).unwrap();
}
