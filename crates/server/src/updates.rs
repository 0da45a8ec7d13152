//! `GET /api/v1/updates/{target}/{arch}/{current_version}`: the desktop app's updater
//! endpoint (tauri-plugin-updater, DESIGN section 8). Reads `RELEASES_DIR/latest.json`
//! on each request, so a release is published by replacing that file:
//!
//! ```json
//! {"version": "0.2.0", "notes": "...", "pub_date": "2026-11-24T20:00:00Z",
//!  "platforms": {"linux-x86_64": {"url": "https://...", "signature": "..."}}}
//! ```
//!
//! 200 with `{version, url, signature, notes, pub_date}` when that version is newer than
//! `current_version` and has an artifact for `{target}-{arch}`; 204 otherwise.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use companion_protocol::ApiErrorBody;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

/// The manifest file in `RELEASES_DIR`.
pub const MANIFEST_FILE: &str = "latest.json";

#[derive(Debug, Clone, Deserialize)]
struct Release {
    version: String,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    pub_date: Option<String>,
    platforms: BTreeMap<String, Artifact>,
}

#[derive(Debug, Clone, Deserialize)]
struct Artifact {
    url: String,
    signature: String,
}

/// What the updater receives when an update exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpdateManifest {
    pub version: String,
    pub url: String,
    pub signature: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pub_date: Option<String>,
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(check_update), components(schemas(UpdateManifest)))]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/updates/{target}/{arch}/{current_version}",
        get(check_update),
    )
}

#[utoipa::path(get, path = "/api/v1/updates/{target}/{arch}/{current_version}", tag = "updates",
    params(("target" = String, Path, description = "linux, windows or darwin"),
           ("arch" = String, Path, description = "x86_64, aarch64, ..."),
           ("current_version" = String, Path, description = "the running app's semver version")),
    responses((status = 200, body = UpdateManifest), (status = 204, description = "no newer version"),
              (status = 400, body = ApiErrorBody)))]
pub async fn check_update(
    State(state): State<AppState>,
    ApiPath((target, arch, current)): ApiPath<(String, String, String)>,
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
    let release: Release = serde_json::from_str(&text)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{MANIFEST_FILE} is invalid: {e}")))?;
    let latest = semver::Version::parse(release.version.trim_start_matches('v'))
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{MANIFEST_FILE} version: {e}")))?;
    let artifact = release.platforms.get(&format!("{target}-{arch}"));
    match artifact {
        Some(a) if latest > current => Ok(ApiJson(UpdateManifest {
            version: latest.to_string(),
            url: a.url.clone(),
            signature: a.signature.clone(),
            notes: release.notes.clone(),
            pub_date: release.pub_date.clone(),
        })
        .into_response()),
        _ => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
