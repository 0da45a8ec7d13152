//! Self-update through `tauri-plugin-updater`: the endpoint is the paired
//! server's `/api/v1/updates/{{target}}/{{arch}}/{{current_version}}` (204 = none),
//! artifacts are minisign-verified against `plugins.updater.pubkey`.

use std::sync::Mutex;

use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_updater::{Update, UpdaterExt};

use crate::backend::Backend;
use crate::error::{AppError, AppResult};
use crate::model::{UpdateInfo, UpdateProgress};

/// The update found by the last check, waiting for "Install".
#[derive(Default)]
pub struct Pending(pub Mutex<Option<Update>>);

/// The updater endpoint for a server base URL.
pub fn endpoint(server: &str) -> String {
    format!(
        "{}/api/v1/updates/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}",
        server.trim_end_matches('/')
    )
}

fn err(e: impl std::fmt::Display) -> AppError {
    AppError::new("update", format!("Update failed: {e}"))
}

pub async fn check(app: &AppHandle, b: &Backend) -> AppResult<UpdateInfo> {
    let server = b
        .status()
        .server_url
        .unwrap_or_else(crate::backend::default_server);
    let url = url::Url::parse(&endpoint(&server)).map_err(err)?;
    let updater = app
        .updater_builder()
        .endpoints(vec![url])
        .map_err(err)?
        .build()
        .map_err(err)?;
    let current = app.package_info().version.to_string();
    let found = updater.check().await.map_err(|e| match e {
        tauri_plugin_updater::Error::Reqwest(_) => AppError::new(
            "unreachable",
            format!("Cannot reach the update server at {server}."),
        ),
        other => err(other),
    })?;
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
    Ok(info)
}

pub async fn install(app: &AppHandle, b: &Backend) -> AppResult<()> {
    let pending = app
        .try_state::<Pending>()
        .and_then(|p| p.0.lock().ok().and_then(|mut s| s.take()));
    let update = match pending {
        Some(u) => u,
        None => {
            check(app, b).await?;
            app.try_state::<Pending>()
                .and_then(|p| p.0.lock().ok().and_then(|mut s| s.take()))
                .ok_or_else(|| AppError::new("update", "No update is available."))?
        }
    };
    let mut downloaded: u64 = 0;
    let emitter = app.clone();
    let done = app.clone();
    update
        .download_and_install(
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
            move || {
                let _ = done.emit(
                    "update-progress",
                    UpdateProgress {
                        downloaded: 0,
                        total: None,
                        finished: true,
                    },
                );
            },
        )
        .await
        .map_err(err)?;
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
            "http://127.0.0.1:8080/api/v1/updates/{{target}}/{{arch}}/{{current_version}}"
        );
    }
}
