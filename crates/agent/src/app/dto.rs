//! Shapes exchanged with the desktop app's webview (the command contract of
//! `ui/src/lib/api.ts`, whose TypeScript copies are generated from these).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `status` and the `status-changed` event.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "Status"))]
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
    /// Loopback port the bridge EA connects to, when the runtime listens.
    pub bridge_port: Option<u16>,
    /// Every terminal (account) the runtime serves, the first one first (several
    /// terminals: `config.json` `terminals`). Empty while the runtime is not running.
    pub accounts: Vec<AccountDto>,
    /// Increases with every change, so the UI can drop a snapshot older than one it has.
    pub seq: u64,
}

/// The terminal part of [`StatusDto`].
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "TerminalStatus"))]
pub struct TerminalDto {
    pub connected: bool,
    /// True when the terminal is the paper terminal (simulated money).
    pub paper: bool,
    pub login: Option<String>,
    pub server: Option<String>,
    pub company: Option<String>,
    /// Hedging or netting (`null`: a bridge that does not say).
    pub margin_mode: Option<companion_protocol::MarginMode>,
    /// Demo, contest or real money (`null`: unknown).
    pub account_kind: Option<companion_protocol::AccountKind>,
}

/// One served terminal and its account, for the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "AccountStatus"))]
pub struct AccountDto {
    /// The terminal's label (`config.json`), e.g. "port 18765".
    pub name: String,
    /// Its bridge port.
    pub port: u16,
    /// The broker connection the server bound the account to (`null` until then).
    pub broker_connection_id: Option<Uuid>,
    pub terminal: TerminalDto,
    pub balance: Option<f64>,
    pub equity: Option<f64>,
    pub currency: Option<String>,
}

impl From<&crate::runtime::TerminalView> for AccountDto {
    fn from(t: &crate::runtime::TerminalView) -> Self {
        AccountDto {
            name: t.name.clone(),
            port: t.port,
            broker_connection_id: t.broker_connection_id,
            terminal: TerminalDto::from(&t.info),
            balance: t.balance,
            equity: t.equity,
            currency: t.currency.clone(),
        }
    }
}

impl From<&companion_protocol::TerminalInfo> for TerminalDto {
    fn from(t: &companion_protocol::TerminalInfo) -> Self {
        TerminalDto {
            connected: t.connected,
            paper: t.paper,
            login: t.login.clone(),
            server: t.server.clone(),
            company: t.company.clone(),
            margin_mode: t.margin_mode,
            account_kind: t.account_kind,
        }
    }
}

/// Create/update body from the strategy form (always the whole editable state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StrategyInput {
    pub name: String,
    pub broker_connection_id: Uuid,
    /// `null` = every pair allowed.
    pub allowed_pairs: Option<Vec<String>>,
    /// `null` = the account's default risk.
    pub risk_override_pct: Option<f64>,
    pub is_enabled: bool,
    /// The strategy's MT5 magic number; `null` on create = the server picks one,
    /// `null` on update = unchanged.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub magic: Option<i64>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub close_scope: Option<companion_protocol::CloseScope>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub opposite_entry: Option<companion_protocol::OppositeEntry>,
    /// What a PineConnector pending order's `price=` means; `null` = pips on
    /// create, unchanged on update.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub pc_pending_entry: Option<companion_protocol::PcPendingEntry>,
    /// What a PineConnector `risk=` means; `null` = the server's default / unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub pc_volume_type: Option<companion_protocol::PcVolumeType>,
    /// What PineConnector `sl=` / `tp=` mean; `null` = default / unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub pc_target_type: Option<companion_protocol::PcTargetType>,
    /// Slippage, position cap and filters (replaced as a whole); `null` = defaults
    /// on create, unchanged on update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub execution: Option<companion_protocol::StrategyExecution>,
}

/// Filter of the signal list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SignalFilter {
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub strategy_id: Option<Uuid>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable, type = "SignalStatus | null"))]
    pub status: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub symbol: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub from: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
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
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "Settings"))]
pub struct SettingsDto {
    pub server_url: String,
    pub terminal_path: Option<String>,
    pub metaeditor_path: Option<String>,
    pub terminal_data_dir: Option<String>,
    pub autostart: bool,
    pub notify_failed_signals: bool,
}

/// What `check_update` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UpdateInfo {
    pub available: bool,
    pub current_version: String,
    pub version: Option<String>,
    pub notes: Option<String>,
    pub pub_date: Option<String>,
}

/// The `update-progress` event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UpdateProgress {
    pub downloaded: u64,
    pub total: Option<u64>,
    pub finished: bool,
}

/// What a `server-event` is about: the kinds of `companion_protocol::UserEvent`, and
/// `resync` (events were missed — the server's LISTEN connection or the app's event
/// stream reconnected — refetch what is shown; its id is the nil UUID, data null).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ServerEventKind {
    Signal,
    Job,
    Agent,
    Price,
    Resync,
}

impl From<companion_protocol::UserEventKind> for ServerEventKind {
    fn from(k: companion_protocol::UserEventKind) -> Self {
        use companion_protocol::UserEventKind as K;
        match k {
            K::Signal => ServerEventKind::Signal,
            K::Job => ServerEventKind::Job,
            K::Agent => ServerEventKind::Agent,
            K::Price => ServerEventKind::Price,
        }
    }
}

/// One relayed `GET /api/v1/events` message (`server-event`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ServerEvent {
    pub kind: ServerEventKind,
    pub id: Uuid,
    pub op: String,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub data: serde_json::Value,
}

impl ServerEvent {
    /// "Events were missed, refetch what is shown": the server's `resync` event, or the
    /// app's own after the event stream reconnects.
    pub fn resync() -> Self {
        ServerEvent {
            kind: ServerEventKind::Resync,
            id: Uuid::nil(),
            op: "resync".into(),
            data: serde_json::Value::Null,
        }
    }
}

impl From<companion_protocol::UserEvent> for ServerEvent {
    fn from(e: companion_protocol::UserEvent) -> Self {
        ServerEvent {
            kind: e.kind.into(),
            id: e.id,
            op: e.op,
            data: e.data,
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

    #[test]
    fn resync_serialises_as_the_ui_expects() {
        assert_eq!(
            serde_json::to_value(ServerEvent::resync()).unwrap(),
            serde_json::json!({"kind": "resync", "id": Uuid::nil(), "op": "resync", "data": null})
        );
    }
}

/// A `companion://pair` link waiting for the trader's confirmation (the `pair-offer`
/// event): who the link's key belongs to and what it would replace. Never the key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PairOffer {
    /// Names this offer in `confirm_link_pairing` / `dismiss_link_pairing`.
    pub offer_id: Uuid,
    /// The server the link points at (normalised: `https://host[:port]`).
    pub server_url: String,
    /// The server's host, as shown to the trader.
    pub server_host: String,
    /// The account the key belongs to (from `GET /agents/me`).
    pub email: Option<String>,
    /// The agent the key belongs to.
    pub agent_name: String,
    /// The key's first characters (like the web app shows them), never the key.
    pub key_prefix: String,
    /// The pairing this link would replace, when the app is paired.
    pub replaces: Option<CurrentPairing>,
}

/// The app's current pairing, as named in a [`PairOffer`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CurrentPairing {
    pub server_url: String,
    pub agent_name: Option<String>,
}

/// One line of the Symbols view: a canonical instrument, the broker symbol the
/// agent uses for it and how that was decided, and the trader's override.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SymbolRow {
    /// `XAUUSD`.
    pub canonical: String,
    /// The broker's symbol last resolved for it (`GOLD.pro`); `null` before a
    /// trade or close on it since the runtime started.
    pub broker_symbol: Option<String>,
    pub decided: Option<companion_protocol::symbols::SymbolDecision>,
    /// The trader's override for this broker connection.
    pub override_symbol: Option<String>,
}
