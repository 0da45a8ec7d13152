//! OS integration: autostart, notifications, and the `companion://pair` deep link.

use std::sync::Arc;

use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_autostart::ManagerExt;
use tauri_plugin_notification::NotificationExt;

use companion_agent::app::{AppError, AppResult, Core, ServerEvent, ServerEventKind};

pub fn autostart_enabled(app: &AppHandle) -> bool {
    app.autolaunch().is_enabled().unwrap_or(false)
}

pub fn set_autostart(app: &AppHandle, on: bool) -> AppResult<()> {
    let r = if on {
        app.autolaunch().enable()
    } else {
        app.autolaunch().disable()
    };
    r.map_err(|e| AppError::internal(format!("could not change autostart: {e}")))
}

/// A `companion://pair?key=...&server=...` link: `(key, server)`.
pub fn parse_pair_link(url: &url::Url) -> Option<(String, Option<String>)> {
    if url.scheme() != "companion" {
        return None;
    }
    // `companion://pair?...` parses with host "pair"; `companion:pair?...` with path "pair".
    let target = url
        .host_str()
        .unwrap_or_else(|| url.path())
        .trim_matches('/');
    if target != "pair" {
        return None;
    }
    let mut key = None;
    let mut server = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "key" => key = Some(v.into_owned()),
            "server" => server = Some(v.into_owned()).filter(|s| !s.is_empty()),
            _ => {}
        }
    }
    key.filter(|k| !k.is_empty()).map(|k| (k, server))
}

/// A deep link's key stays in Rust: the core checks it and the server, asks whose key
/// it is, and keeps it pending; the webview gets a `pair-offer` (server, account, key
/// prefix, the pairing it replaces — never the key) and pairs only when the trader
/// confirms (`confirm_link_pairing`). A refused link is a `pair-failed` with the error.
pub fn handle_urls(app: &AppHandle, urls: Vec<url::Url>) {
    for u in urls {
        let Some((key, server)) = parse_pair_link(&u) else {
            tracing::warn!(scheme = %u.scheme(), "ignored a link that is not companion://pair");
            continue;
        };
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            let Some(b) = app.try_state::<Arc<Core>>().map(|s| Arc::clone(&s)) else {
                return;
            };
            match b.offer_link_pairing(key, server).await {
                Ok(offer) => {
                    let _ = app.emit("pair-offer", &offer);
                }
                Err(e) => {
                    tracing::warn!(code = %e.code, "a pairing link was refused");
                    let _ = app.emit("pair-failed", &e);
                    notify(&app, "Pairing link refused", &e.message);
                }
            }
            crate::show_main(&app);
        });
    }
}

pub fn notify(app: &AppHandle, title: &str, body: &str) {
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::debug!(error = %e, "notification not shown");
    }
}

/// A system notification when a signal becomes `failed`.
pub fn failed_signal_text(ev: &ServerEvent) -> Option<String> {
    if ev.kind != ServerEventKind::Signal
        || ev.data.get("status").and_then(|s| s.as_str()) != Some("failed")
    {
        return None;
    }
    let sym = ev
        .data
        .get("symbol")
        .and_then(|s| s.as_str())
        .unwrap_or("?");
    let action = ev
        .data
        .get("action")
        .and_then(|s| s.as_str())
        .unwrap_or("")
        .to_uppercase();
    let why = ev
        .data
        .get("error_message")
        .and_then(|s| s.as_str())
        .unwrap_or("no reason given");
    Some(format!("{action} {sym}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_links_yield_key_and_optional_server() {
        let u = url::Url::parse("companion://pair?key=pk_abc&server=http%3A%2F%2F127.0.0.1%3A8080")
            .unwrap();
        assert_eq!(
            parse_pair_link(&u),
            Some(("pk_abc".into(), Some("http://127.0.0.1:8080".into())))
        );
        let u = url::Url::parse("companion://pair?key=pk_abc").unwrap();
        assert_eq!(parse_pair_link(&u), Some(("pk_abc".into(), None)));
        assert_eq!(
            parse_pair_link(&url::Url::parse("companion://pair?server=x").unwrap()),
            None
        );
        assert_eq!(
            parse_pair_link(&url::Url::parse("companion://other?key=pk").unwrap()),
            None
        );
        assert_eq!(
            parse_pair_link(&url::Url::parse("https://pair?key=pk").unwrap()),
            None
        );
    }

    #[test]
    fn only_failed_signals_notify() {
        let ev = |status: &str| ServerEvent {
            kind: ServerEventKind::Signal,
            id: uuid::Uuid::nil(),
            op: "UPDATE".into(),
            data: serde_json::json!({"status": status, "symbol": "EURUSD", "action": "buy", "error_message": "market closed"}),
        };
        assert_eq!(
            failed_signal_text(&ev("failed")).as_deref(),
            Some("BUY EURUSD: market closed")
        );
        assert_eq!(failed_signal_text(&ev("executed")), None);
    }
}
