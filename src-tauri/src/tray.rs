//! Tray icon: connection state in the tooltip and first menu line; Open, Pause/Resume, Quit.

use std::sync::Arc;

use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Wry};

use companion_agent::app::{Core, StatusDto};

pub const TRAY_ID: &str = "companion";

/// The one-line state shown in the tray.
pub fn summary(s: &StatusDto) -> String {
    if !s.paired {
        return "Not paired".into();
    }
    let server = if s.server_connected {
        "online"
    } else {
        "offline"
    };
    let terminal = match (s.terminal.connected, s.terminal.paper) {
        (false, _) => "terminal not connected",
        (true, true) => "terminal PAPER",
        (true, false) => "terminal LIVE",
    };
    let paused = match (s.paused, s.pause_requested) {
        (true, _) => " · paused",
        (false, true) => " · pausing",
        (false, false) => "",
    };
    format!("Server {server} · {terminal}{paused}")
}

pub struct TrayItems {
    state: MenuItem<Wry>,
    pause: MenuItem<Wry>,
}

pub fn build(app: &AppHandle) -> tauri::Result<TrayItems> {
    let state = MenuItem::with_id(app, "state", "Starting…", false, None::<&str>)?;
    let open = MenuItem::with_id(app, "open", "Open Companion", true, None::<&str>)?;
    let pause = MenuItem::with_id(app, "pause", "Pause", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let sep = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&state, &sep, &open, &pause, &quit])?;
    let mut builder = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("Companion")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, ev| match ev.id.as_ref() {
            "open" => crate::show_main(app),
            "pause" => {
                let app = app.clone();
                tauri::async_runtime::spawn(async move {
                    if let Some(b) = app.try_state::<Arc<Core>>() {
                        let requested = b.status().pause_requested;
                        if let Err(e) = b.set_paused(!requested).await {
                            tracing::warn!(error = %e.message, "pause from the tray failed");
                        }
                    }
                });
            }
            "quit" => {
                app.exit(0);
            }
            _ => {}
        })
        .on_tray_icon_event(|tray, ev| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = ev
            {
                crate::show_main(tray.app_handle());
            }
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    Ok(TrayItems { state, pause })
}

pub fn update(app: &AppHandle, items: &TrayItems, s: &StatusDto) {
    let text = summary(s);
    let _ = items.state.set_text(&text);
    let _ = items
        .pause
        .set_text(if s.pause_requested { "Resume" } else { "Pause" });
    let _ = items.pause.set_enabled(s.paired);
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let _ = tray.set_tooltip(Some(format!("Companion — {text}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use companion_agent::app::TerminalDto;

    #[test]
    fn summary_names_server_terminal_mode_and_pause() {
        assert_eq!(summary(&StatusDto::default()), "Not paired");
        let s = StatusDto {
            paired: true,
            server_connected: true,
            terminal: TerminalDto {
                connected: true,
                paper: true,
                ..Default::default()
            },
            paused: false,
            pause_requested: true,
            ..Default::default()
        };
        assert_eq!(summary(&s), "Server online · terminal PAPER · pausing");
        let s = StatusDto { paused: true, ..s };
        assert_eq!(summary(&s), "Server online · terminal PAPER · paused");
        let live = StatusDto {
            terminal: TerminalDto {
                connected: true,
                paper: false,
                ..Default::default()
            },
            paused: false,
            pause_requested: false,
            ..s
        };
        assert_eq!(summary(&live), "Server online · terminal LIVE");
    }
}
