//! Shapes exchanged with the webview (the command contract of `ui/src/lib/api.ts`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `status` and the `status-changed` event.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct StatusDto {
    pub paired: bool,
    pub agent_id: Option<Uuid>,
    pub agent_name: Option<String>,
    pub server_url: Option<String>,
    pub server_connected: bool,
    pub terminal: TerminalDto,
    /// The runtime has stopped claiming jobs (set once it is parked, not when asked).
    pub paused: bool,
    /// The user asked to pause (UI or tray). Until `paused` follows, a long-poll already
    /// in flight may still deliver one job, which is then executed.
    pub pause_requested: bool,
    pub last_error: Option<String>,
    pub version: String,
    pub bridge_port: Option<u16>,
    /// Increases with every change, so the UI can drop a snapshot older than one it has.
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct TerminalDto {
    pub connected: bool,
    pub paper: bool,
    pub login: Option<String>,
    pub server: Option<String>,
    pub company: Option<String>,
}

impl From<&companion_protocol::TerminalInfo> for TerminalDto {
    fn from(t: &companion_protocol::TerminalInfo) -> Self {
        TerminalDto {
            connected: t.connected,
            paper: t.paper,
            login: t.login.clone(),
            server: t.server.clone(),
            company: t.company.clone(),
        }
    }
}

/// Create/update body from the strategy form (always the whole editable state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyInput {
    pub name: String,
    pub broker_connection_id: Uuid,
    pub allowed_pairs: Option<Vec<String>>,
    pub risk_override_pct: Option<f64>,
    pub is_enabled: bool,
}

/// Filter of the signal list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SignalFilter {
    #[serde(default)]
    pub strategy_id: Option<Uuid>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub symbol: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
}

impl SignalFilter {
    /// The query string of `GET /signals` (values URL-encoded).
    pub fn query(&self, cursor: Option<&str>) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(v) = self.strategy_id {
            q.append_pair("strategy_id", &v.to_string());
        }
        for (k, v) in [
            ("status", &self.status),
            ("symbol", &self.symbol),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                q.append_pair(k, v);
            }
        }
        if let Some(c) = cursor.filter(|c| !c.is_empty()) {
            q.append_pair("cursor", c);
        }
        q.finish()
    }
}

/// App settings the Settings screen edits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SettingsDto {
    pub server_url: String,
    pub terminal_path: Option<String>,
    pub metaeditor_path: Option<String>,
    pub terminal_data_dir: Option<String>,
    pub autostart: bool,
    pub notify_failed_signals: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdateInfo {
    pub available: bool,
    pub current_version: String,
    pub version: Option<String>,
    pub notes: Option<String>,
    pub pub_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdateProgress {
    pub downloaded: u64,
    pub total: Option<u64>,
    pub finished: bool,
}

/// One relayed `GET /api/v1/events` message (`server-event`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerEvent {
    pub kind: String,
    pub id: Uuid,
    pub op: String,
    #[serde(default)]
    pub data: serde_json::Value,
}

impl ServerEvent {
    /// The kind of [`ServerEvent::resync`].
    pub const RESYNC: &'static str = "resync";

    /// "Events were missed, refetch what is shown": the server's `resync` event, or the
    /// app's own after the event stream reconnects.
    pub fn resync() -> Self {
        ServerEvent {
            kind: Self::RESYNC.into(),
            id: Uuid::nil(),
            op: Self::RESYNC.into(),
            data: serde_json::Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_filter_builds_an_encoded_query_and_skips_empty_fields() {
        let f = SignalFilter {
            status: Some("failed".into()),
            symbol: Some("OANDA:EUR USD".into()),
            from: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(
            f.query(Some("abc=")),
            "status=failed&symbol=OANDA%3AEUR+USD&cursor=abc%3D"
        );
        assert_eq!(SignalFilter::default().query(None), "");
    }
}
