//! Self-update through `tauri-plugin-updater`: the endpoint is the paired
//! server's `/api/v1/updates/{{target}}/{{arch}}/{{bundle_type}}/{{current_version}}`
//! (204 = none; `{{bundle_type}}` makes a `.deb` install get a `.deb`, docs/release.md),
//! artifacts are minisign-verified against `plugins.updater.pubkey`. The committed
//! config carries no key (scripts/release injects the production one; the dev overlay
//! `tauri.dev.conf.json` a development one): a build without a key does not update.
//! The app checks by itself too ([`spawn_auto_check`], schedule and "tell once per
//! version" in `companion_agent::app::update_watch`); installing stays the trader's click.

use std::sync::{Arc, Mutex};

use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_updater::{Update, UpdaterExt};

use companion_agent::app::settings::default_server;
use companion_agent::app::update_watch::{UpdateSchedule, UpdateWatch};
use companion_agent::app::{AppError, AppErrorCode, AppResult, Core, UpdateInfo, UpdateProgress};

/// The update found by the last check, waiting for "Install".
#[derive(Default)]
pub struct Pending(pub Mutex<Option<Update>>);

/// The last check's result and the version already announced (see `UpdateWatch`).
#[derive(Default)]
pub struct Watch(pub Mutex<UpdateWatch>);

/// The webview event carrying an `UpdateInfo` when a check finds a newer version.
pub const UPDATE_AVAILABLE_EVENT: &str = "update-available";

/// The last check's result (automatic or manual), if any.
pub fn last(app: &AppHandle) -> Option<UpdateInfo> {
    app.try_state::<Watch>()
        .and_then(|w| w.0.lock().ok().and_then(|w| w.last()))
}

/// Checks the paired server on the schedule of `UpdateSchedule::from_env` (a minute
/// after the start, or at pairing if that is later; then every six hours): a newer version goes to Settings (`update-available`) and,
/// once per version, to a system notification. Builds without an updater key (debug
/// builds without the dev overlay) do not check.
pub fn spawn_auto_check(app: &AppHandle, core: Arc<Core>) {
    let schedule = UpdateSchedule::from_env();
    let Some(interval) = schedule.interval else {
        tracing::info!("automatic update checks are off");
        return;
    };
    if configured_pubkey(app.config().plugins.0.get("updater")).is_none() {
        tracing::debug!("no updater key in this build: no automatic update checks");
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(schedule.first_delay).await;
        let mut status = core.subscribe_status();
        loop {
            // The paired server is the update server: before pairing there is none to ask.
            if status
                .wait_for(|s| s.paired && s.server_url.is_some())
                .await
                .is_err()
            {
                return;
            }
            let wait = match check(&app, &core).await {
                Ok(info) => {
                    tracing::info!(available = info.available, version = ?info.version, "automatic update check");
                    interval
                }
                // Offline, or the server is restarting: try again sooner than the interval.
                Err(e) => {
                    tracing::info!(error = %e.message, "automatic update check failed");
                    interval.min(RETRY_AFTER_FAILURE)
                }
            };
            tokio::time::sleep(wait).await;
        }
    });
}

/// How soon a failed automatic check is tried again (at most the interval).
const RETRY_AFTER_FAILURE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Records a result; announces a version the trader has not been told about.
fn record(app: &AppHandle, info: &UpdateInfo) {
    let announce = app
        .try_state::<Watch>()
        .and_then(|w| w.0.lock().ok().map(|mut w| w.record(info.clone())))
        .unwrap_or(false);
    if info.available {
        let _ = app.emit(UPDATE_AVAILABLE_EVENT, info);
    }
    if announce {
        let version = info.version.as_deref().unwrap_or("");
        crate::platform::notify(
            app,
            "Companion update available",
            &format!("Version {version} is ready to install: open Settings → Updates."),
        );
    }
}

/// The updater endpoint for a server base URL.
pub fn endpoint(server: &str) -> String {
    format!(
        "{}/api/v1/updates/{{{{target}}}}/{{{{arch}}}}/{{{{bundle_type}}}}/{{{{current_version}}}}",
        server.trim_end_matches('/')
    )
}

fn err(e: impl std::fmt::Display) -> AppError {
    AppError::new(AppErrorCode::Update, format!("Update failed: {e}"))
}

/// The updater public key in the plugin config, if one was built in.
pub fn configured_pubkey(updater_config: Option<&serde_json::Value>) -> Option<&str> {
    updater_config
        .and_then(|u| u.get("pubkey"))
        .and_then(|k| k.as_str())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

fn map_check_error(e: tauri_plugin_updater::Error, server: &str) -> AppError {
    match e {
        tauri_plugin_updater::Error::Reqwest(_) => AppError::new(
            AppErrorCode::Unreachable,
            format!("Cannot reach the update server at {server}."),
        ),
        tauri_plugin_updater::Error::InsecureTransportProtocol => AppError::new(
            AppErrorCode::Update,
            format!("Updates need an https server; {server} is not one."),
        ),
        other => err(other),
    }
}

pub async fn check(app: &AppHandle, c: &Core) -> AppResult<UpdateInfo> {
    let server = c.status().server_url.unwrap_or_else(default_server);
    if configured_pubkey(app.config().plugins.0.get("updater")).is_none() {
        return Err(AppError::new(
            AppErrorCode::Update,
            "This build carries no update signing key (a development build), so it does not update itself.",
        ));
    }
    let url = url::Url::parse(&endpoint(&server)).map_err(err)?;
    let updater = app
        .updater_builder()
        .endpoints(vec![url])
        .map_err(|e| map_check_error(e, &server))?
        .build()
        .map_err(err)?;
    let current = app.package_info().version.to_string();
    let found = updater
        .check()
        .await
        .map_err(|e| map_check_error(e, &server))?;
    let info = match &found {
        Some(u) => UpdateInfo {
            available: true,
            current_version: current,
            version: Some(u.version.clone()),
            notes: u.body.clone(),
            pub_date: u.date.map(|d| d.to_string()),
        },
        None => UpdateInfo {
            available: false,
            current_version: current,
            version: None,
            notes: None,
            pub_date: None,
        },
    };
    if let Some(p) = app.try_state::<Pending>() {
        if let Ok(mut slot) = p.0.lock() {
            *slot = found;
        }
    }
    record(app, &info);
    Ok(info)
}

pub async fn install(app: &AppHandle, c: &Core) -> AppResult<()> {
    let pending = app
        .try_state::<Pending>()
        .and_then(|p| p.0.lock().ok().and_then(|mut s| s.take()));
    let update = match pending {
        Some(u) => u,
        None => {
            check(app, c).await?;
            app.try_state::<Pending>()
                .and_then(|p| p.0.lock().ok().and_then(|mut s| s.take()))
                .ok_or_else(|| AppError::new(AppErrorCode::Update, "No update is available."))?
        }
    };
    let mut downloaded: u64 = 0;
    let emitter = app.clone();
    // Download and signature check first; "finished" only once the package is installed
    // (the plugin's own download-finished callback fires before the signature is checked).
    let bytes = update
        .download(
            move |chunk, total| {
                downloaded += chunk as u64;
                let _ = emitter.emit(
                    "update-progress",
                    UpdateProgress {
                        downloaded,
                        total,
                        finished: false,
                    },
                );
            },
            || {},
        )
        .await
        .map_err(err)?;
    update.install(bytes).map_err(err)?;
    let _ = app.emit(
        "update-progress",
        UpdateProgress {
            downloaded: 0,
            total: None,
            finished: true,
        },
    );
    tracing::info!(version = %update.version, "update installed; restarting");
    app.request_restart();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keeps_the_updater_placeholders() {
        assert_eq!(
            endpoint("http://127.0.0.1:8080/"),
            "http://127.0.0.1:8080/api/v1/updates/{{target}}/{{arch}}/{{bundle_type}}/{{current_version}}"
        );
    }

    #[test]
    fn an_empty_or_missing_pubkey_means_no_updates() {
        use serde_json::json;
        assert_eq!(configured_pubkey(None), None);
        assert_eq!(configured_pubkey(Some(&json!({ "pubkey": "  " }))), None);
        assert_eq!(configured_pubkey(Some(&json!({ "endpoints": [] }))), None);
        assert_eq!(
            configured_pubkey(Some(&json!({ "pubkey": "dW50cnVzdGVk" }))),
            Some("dW50cnVzdGVk")
        );
    }

    /// The shipped config allows no insecure transport and carries no key; the dev-only
    /// settings live in the overlay the demo and the e2e test build with.
    #[test]
    fn the_committed_config_is_release_safe_and_the_dev_overlay_holds_the_dev_settings() {
        let conf: serde_json::Value =
            serde_json::from_str(include_str!("../../tauri.conf.json")).unwrap();
        let updater = &conf["plugins"]["updater"];
        for key in [
            "dangerousInsecureTransportProtocol",
            "dangerousAcceptInvalidCerts",
            "dangerousAcceptInvalidHostnames",
        ] {
            assert!(updater.get(key).is_none(), "{key} in tauri.conf.json");
        }
        assert_eq!(configured_pubkey(Some(updater)), None, "a key is committed");
        for e in updater["endpoints"].as_array().into_iter().flatten() {
            assert!(e.as_str().unwrap().starts_with("https://"), "endpoint {e}");
        }
        assert_eq!(conf["bundle"]["createUpdaterArtifacts"], false);

        let dev: serde_json::Value =
            serde_json::from_str(include_str!("../../tauri.dev.conf.json")).unwrap();
        let dev_updater = &dev["plugins"]["updater"];
        assert_eq!(dev_updater["dangerousInsecureTransportProtocol"], true);
        assert!(configured_pubkey(Some(dev_updater)).is_some());
    }
}
