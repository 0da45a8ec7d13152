//! Companion desktop app: the Tauri shell around the app core
//! (`companion_agent::app::Core`, free of Tauri) — the builder, plugins (single
//! instance, deep link, autostart, notification, updater), the tray, the commands
//! of `ui/src/lib/api.ts`, and the events `status-changed`, `server-event`,
//! `update-progress` and `update-available`. Closing the window hides it; the agent keeps running until Quit.

pub mod commands;
pub mod platform;
pub mod tray;
pub mod updates;

use std::sync::Arc;

use tauri::{AppHandle, Emitter, Manager, RunEvent, WindowEvent};
use tauri_plugin_deep_link::DeepLinkExt;

use companion_agent::app::{logs, Core, CoreOptions};

/// Where older versions of the app kept `app.json` (moved into the agent's
/// `config.json` on start); defaults to the platform's app data dir.
pub const LEGACY_DATA_DIR_ENV: &str = "COMPANION_APP_DATA_DIR";

/// Shows and focuses the main window.
pub fn show_main(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}

pub fn run() {
    let builder = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            // A second launch (or a deep link on Linux/Windows) focuses the running app.
            show_main(app);
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec!["--minimized"]),
        ))
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_updater::Builder::new().build())
        .manage(updates::Pending::default())
        .manage(updates::Watch::default())
        .invoke_handler(tauri::generate_handler![
            commands::status,
            commands::pair,
            commands::unpair,
            commands::pending_link_pairing,
            commands::confirm_link_pairing,
            commands::dismiss_link_pairing,
            commands::set_paused,
            commands::account,
            commands::positions,
            commands::pending_orders,
            commands::close_position,
            commands::recent_jobs,
            commands::candles,
            commands::get_job,
            commands::trading_day,
            commands::set_trading_day_tz,
            commands::list_strategies,
            commands::create_strategy,
            commands::update_strategy,
            commands::delete_strategy,
            commands::rotate_strategy_secret,
            commands::list_broker_connections,
            commands::list_symbols,
            commands::set_symbol_override,
            commands::clear_symbol_override,
            commands::list_signals,
            commands::get_signal,
            commands::list_ea_projects,
            commands::list_ea_versions,
            commands::get_ea_version_source,
            commands::set_current_version,
            commands::queue_ea_job,
            commands::get_settings,
            commands::save_settings,
            commands::check_update,
            commands::last_update_check,
            commands::install_update,
            commands::read_logs,
            commands::terminal_list,
            commands::terminal_setup,
            commands::terminal_doctor,
        ])
        .setup(|app| {
            let handle = app.handle().clone();
            let legacy_dir = std::env::var_os(LEGACY_DATA_DIR_ENV)
                .map(std::path::PathBuf::from)
                .or_else(|| app.path().app_data_dir().ok());
            let version = app.package_info().version.to_string();
            let opts = CoreOptions::from_env(version.clone(), legacy_dir)?;
            logs::init(&opts.data_dir);
            tracing::info!(%version, data_dir = %opts.data_dir.display(), "Companion starting");
            let core = tauri::async_runtime::block_on(Core::open(opts));
            app.manage(Arc::clone(&core));

            updates::spawn_auto_check(&handle, Arc::clone(&core));

            let items = tray::build(&handle)?;
            tray::update(&handle, &items, &core.status());

            // Status → webview + tray.
            let mut rx = core.subscribe_status();
            let h = handle.clone();
            tauri::async_runtime::spawn(async move {
                while rx.changed().await.is_ok() {
                    let s = rx.borrow_and_update().clone();
                    tray::update(&h, &items, &s);
                    let _ = h.emit("status-changed", &s);
                }
            });

            // Server events → webview; failed signals → a system notification.
            let mut ev_rx = core.subscribe_events();
            let h = handle.clone();
            let c = Arc::clone(&core);
            tauri::async_runtime::spawn(async move {
                loop {
                    match ev_rx.recv().await {
                        Ok(ev) => {
                            if let Some(text) = platform::failed_signal_text(&ev) {
                                if c.notify_failed_signals().await {
                                    platform::notify(&h, "Signal failed", &text);
                                }
                            }
                            let _ = h.emit("server-event", &ev);
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(skipped = n, "event relay lagged");
                        }
                        Err(_) => break,
                    }
                }
            });

            // companion://pair?key=... links (at launch and while running).
            #[cfg(any(target_os = "linux", all(debug_assertions, windows)))]
            if let Err(e) = app.deep_link().register_all() {
                tracing::debug!(error = %e, "deep link scheme not registered");
            }
            let h = handle.clone();
            app.deep_link()
                .on_open_url(move |ev| platform::handle_urls(&h, ev.urls()));
            if let Ok(Some(urls)) = app.deep_link().get_current() {
                platform::handle_urls(&handle, urls);
            }

            if std::env::args().any(|a| a == "--minimized") {
                if let Some(w) = app.get_webview_window("main") {
                    let _ = w.hide();
                }
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window hides it: the agent keeps working in the tray.
            if let WindowEvent::CloseRequested { api, .. } = event {
                if window.label() == "main" && std::env::var_os("COMPANION_EXIT_ON_CLOSE").is_none()
                {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
        });

    let app = match builder.build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("Companion could not start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|_app, event| {
        if let RunEvent::ExitRequested { api, code, .. } = event {
            // No window left is not a reason to stop the agent; only Quit (an explicit code) is.
            if code.is_none() && std::env::var_os("COMPANION_EXIT_ON_CLOSE").is_none() {
                api.prevent_exit();
            }
        }
    });
}
