//! The updater endpoints (tauri-plugin-updater for the desktop app, `companion-agent
//! update` for the headless agent) and the release artifacts.
//!
//! `RELEASES_DIR/latest.json` is the release manifest `scripts/release` writes (through
//! `companion-release publish`, which uses [`ReleaseManifest`] too). It is Tauri's
//! "static" manifest format; each `platforms` key is an updater target string
//! `{target}-{arch}` or `{target}-{arch}-{bundle_type}`:
//!
//! ```json
//! {"version": "0.2.0", "notes": "...", "pub_date": "2026-11-24T20:00:00Z",
//!  "platforms": {"linux-x86_64-deb":  {"url": "0.2.0/companion_0.2.0_amd64.deb", "signature": "..."},
//!                "windows-x86_64-nsis": {"url": "0.2.0/Companion_0.2.0_x64-setup.exe", "signature": "..."},
//!                "linux-x86_64-agent": {"url": "0.2.0/companion-agent-linux-x86_64", "signature": "..."}}}
//! ```
//!
//! A relative `url` names a file under `RELEASES_DIR`; the server answers it as
//! `{RELEASES_DOWNLOAD_URL or <this server>/api/v1/releases}/{url}`. An absolute `url`
//! is passed through unchanged. The manifest is read on each request, so a release is
//! published by replacing the file (the release tool writes it atomically).
//!
//! Routes:
//! - `GET /api/v1/updates/{target}/{arch}/{bundle_type}/{current_version}`: the artifact
//!   for exactly `{target}-{arch}-{bundle_type}` (a `.deb` install only ever gets a `.deb`);
//!   `bundle_type` `unknown` (what the plugin sends when the binary was not bundled)
//!   falls back to `{target}-{arch}`.
//! - `GET /api/v1/updates/{target}/{arch}/{current_version}`: the route installs before
//!   the bundle type was part of the endpoint still use; answers `{target}-{arch}`.
//! - `GET /api/v1/releases/{*path}`: an artifact from `RELEASES_DIR` (or a redirect to
//!   `RELEASES_DOWNLOAD_URL/{path}` when that is set).
//!
//! 200 with `{version, url, signature, notes, pub_date}` (Tauri's "dynamic" format) when
//! the manifest's version is newer than `current_version` and has an artifact for the
//! client; 204 otherwise.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use companion_protocol::ApiErrorBody;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

/// The manifest file in `RELEASES_DIR`.
pub const MANIFEST_FILE: &str = "latest.json";

/// The installer kinds a client may name in `{bundle_type}`: the updater plugin's
/// installer names, `unknown` (plugin, binary not bundled) and `agent` (the headless
/// agent binary, `companion-agent update`).
pub const BUNDLE_TYPES: &[&str] = &[
    "appimage", "deb", "rpm", "app", "msi", "nsis", "agent", "unknown",
];

/// `RELEASES_DIR/latest.json`, as the release tool writes it and the server reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseManifest {
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pub_date: Option<String>,
    /// Keyed by `{target}-{arch}` or `{target}-{arch}-{bundle_type}`.
    pub platforms: BTreeMap<String, PlatformArtifact>,
}

/// One artifact of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformArtifact {
    /// Relative to `RELEASES_DIR` (served by this server), or an absolute URL.
    pub url: String,
    /// The `.sig` file's content: base64 of the minisign signature text.
    pub signature: String,
}

/// What the updater receives when an update exists (one type with the agent's reader).
pub use companion_protocol::updates::UpdateInfo as UpdateManifest;

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(check_update, check_update_legacy, release_artifact),
    components(schemas(UpdateManifest))
)]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/updates/{target}/{arch}/{current_version}",
            get(check_update_legacy),
        )
        .route(
            "/api/v1/updates/{target}/{arch}/{bundle_type}/{current_version}",
            get(check_update),
        )
        .route("/api/v1/releases/{*path}", get(release_artifact))
}

#[utoipa::path(get, path = "/api/v1/updates/{target}/{arch}/{bundle_type}/{current_version}", tag = "updates",
    params(("target" = String, Path, description = "linux, windows or darwin"),
           ("arch" = String, Path, description = "x86_64, aarch64, ..."),
           ("bundle_type" = String, Path, description = "appimage, deb, rpm, app, msi, nsis, agent or unknown"),
           ("current_version" = String, Path, description = "the running app's semver version")),
    responses((status = 200, body = UpdateManifest), (status = 204, description = "no newer version for this platform and installer kind"),
              (status = 400, body = ApiErrorBody)))]
pub async fn check_update(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath((target, arch, bundle_type, current)): ApiPath<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    if !BUNDLE_TYPES.contains(&bundle_type.as_str()) {
        return Err(ApiError::invalid(format!(
            "bundle_type must be one of {}",
            BUNDLE_TYPES.join(", ")
        )));
    }
    let key = if bundle_type == "unknown" {
        format!("{target}-{arch}")
    } else {
        format!("{target}-{arch}-{bundle_type}")
    };
    answer(&state, &headers, &key, &current).await
}

/// The endpoint without `{bundle_type}`, for installs made before it existed.
#[utoipa::path(get, path = "/api/v1/updates/{target}/{arch}/{current_version}", tag = "updates",
    params(("target" = String, Path, description = "linux, windows or darwin"),
           ("arch" = String, Path, description = "x86_64, aarch64, ..."),
           ("current_version" = String, Path, description = "the running app's semver version")),
    responses((status = 200, body = UpdateManifest), (status = 204, description = "no newer version"),
              (status = 400, body = ApiErrorBody)))]
pub async fn check_update_legacy(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath((target, arch, current)): ApiPath<(String, String, String)>,
) -> Result<Response, ApiError> {
    answer(&state, &headers, &format!("{target}-{arch}"), &current).await
}

async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    key: &str,
    current: &str,
) -> Result<Response, ApiError> {
    let current = semver::Version::parse(current.trim_start_matches('v'))
        .map_err(|_| ApiError::invalid("current_version is not a semver version"))?;
    let Some(dir) = state.config.releases_dir.as_ref() else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let text = match tokio::fs::read_to_string(dir.join(MANIFEST_FILE)).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(StatusCode::NO_CONTENT.into_response())
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    let release: ReleaseManifest = serde_json::from_str(&text)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{MANIFEST_FILE} is invalid: {e}")))?;
    let latest = semver::Version::parse(release.version.trim_start_matches('v'))
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{MANIFEST_FILE} version: {e}")))?;
    match release.platforms.get(key) {
        Some(a) if latest > current => Ok(ApiJson(UpdateManifest {
            version: latest.to_string(),
            url: artifact_url(state, headers, &a.url)?,
            signature: a.signature.clone(),
            notes: release.notes.clone(),
            pub_date: release.pub_date.clone(),
        })
        .into_response()),
        _ => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// The absolute URL the client downloads `url` (from the manifest) from.
fn artifact_url(state: &AppState, headers: &HeaderMap, url: &str) -> Result<String, ApiError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(url.to_string());
    }
    let rel = url.trim_start_matches('/');
    if safe_relative(rel).is_none() {
        return Err(ApiError::internal(anyhow::anyhow!(
            "{MANIFEST_FILE}: artifact url {url:?} is neither absolute nor a plain relative path"
        )));
    }
    if let Some(base) = &state.config.releases_download_url {
        return Ok(format!("{}/{rel}", base.trim_end_matches('/')));
    }
    let base = match &state.config.public_base_url {
        Some(b) => b.trim_end_matches('/').to_string(),
        // Without a configured public URL, the address the client reached us at.
        None => match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
            Some(host) => format!("http://{host}"),
            None => state.config.public_base_url(),
        },
    };
    Ok(format!("{base}/api/v1/releases/{rel}"))
}

/// `rel` as a path under the releases directory, or None when it could leave it.
fn safe_relative(rel: &str) -> Option<PathBuf> {
    if rel.is_empty() || rel.contains('\\') || rel.contains(':') {
        return None;
    }
    let path = Path::new(rel);
    path.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| path.to_path_buf())
}

#[utoipa::path(get, path = "/api/v1/releases/{path}", tag = "updates",
    params(("path" = String, Path, description = "an artifact path from the update manifest")),
    responses((status = 200, description = "the artifact", content_type = "application/octet-stream"),
              (status = 307, description = "redirect to RELEASES_DOWNLOAD_URL"),
              (status = 404, body = ApiErrorBody)))]
pub async fn release_artifact(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<String>,
) -> Result<Response, ApiError> {
    let rel = safe_relative(&path).ok_or_else(|| ApiError::not_found("artifact"))?;
    // The manifest itself is not an artifact (and would skip the version check).
    if rel == Path::new(MANIFEST_FILE) {
        return Err(ApiError::not_found("artifact"));
    }
    if let Some(base) = &state.config.releases_download_url {
        return Ok(
            Redirect::temporary(&format!("{}/{path}", base.trim_end_matches('/'))).into_response(),
        );
    }
    let dir = state
        .config
        .releases_dir
        .as_ref()
        .ok_or_else(|| ApiError::not_found("artifact"))?;
    let file = match tokio::fs::File::open(dir.join(&rel)).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found("artifact"))
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    let meta = file.metadata().await.map_err(ApiError::internal)?;
    if !meta.is_file() {
        return Err(ApiError::not_found("artifact"));
    }
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, meta.len().to_string()),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::safe_relative;

    #[test]
    fn only_plain_relative_paths_are_served() {
        assert!(safe_relative("0.2.0/companion_0.2.0_amd64.deb").is_some());
        for bad in [
            "",
            "../etc/passwd",
            "a/../../b",
            "/etc/passwd",
            "a\\b",
            "C:x",
            "./a",
        ] {
            assert!(safe_relative(bad).is_none(), "{bad}");
        }
    }
}
