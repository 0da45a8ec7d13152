//! Bodies of the agent API (`/api/v1/agents/...`) and the user API
//! (`/api/v1/strategies`, `/signals`, `/jobs`, ...), and the event-stream payloads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::jobs::{JobStatus, JobType};

/// Header carrying the pairing key on every agent request.
pub const AGENT_KEY_HEADER: &str = "X-Agent-Key";
/// Optional header naming the agent id.
pub const AGENT_ID_HEADER: &str = "X-Agent-Id";
/// Prefix of every pairing key.
pub const PAIRING_KEY_PREFIX: &str = "pk_";

/// `POST /api/v1/agents/pair` body (user auth).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PairRequest {
    #[serde(default)]
    pub agent_name: Option<String>,
    /// The broker connection this agent serves; one is created when absent.
    #[serde(default)]
    pub broker_connection_id: Option<Uuid>,
}

/// Returned once by pairing and key rotation; the key is never shown again.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairResponse {
    pub agent_id: Uuid,
    pub agent_name: String,
    pub pairing_key: String,
}

/// `GET /api/v1/agents/me`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentMe {
    pub agent_id: Uuid,
    pub agent_name: String,
    pub user_id: Uuid,
    pub email: Option<String>,
    pub broker_connection_id: Option<Uuid>,
    pub pairing_key_prefix: String,
}

/// What the agent knows about its terminal, sent with each heartbeat.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TerminalInfo {
    pub connected: bool,
    /// True when the terminal is the paper terminal (simulated money).
    pub paper: bool,
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub build: Option<i64>,
    /// `ACCOUNT_MARGIN_MODE` (absent from bridges before protocol 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_mode: Option<crate::MarginMode>,
    /// Demo, contest or real account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_kind: Option<crate::AccountKind>,
    /// Trade-server time minus UTC, seconds (`TimeCurrent() - TimeGMT()`): MT5 times
    /// (ticks, bars, deals) are the trade server's clock, not Unix time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gmt_offset_secs: Option<i64>,
}

/// `POST /api/v1/agents/{id}/accounts`: one terminal of the agent reports the
/// account it is logged into. The server binds the account to a broker connection
/// (the user's connection for that login and server, else the agent's pairing
/// connection if no other account took it, else a new one) and answers which.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountReport {
    /// `ACCOUNT_LOGIN`.
    pub login: String,
    /// `ACCOUNT_SERVER`.
    pub server: String,
    /// The terminal's state (stored for the user's views).
    pub terminal: TerminalInfo,
}

/// Answer to [`AccountReport`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountBinding {
    /// The connection jobs for this account name (`jobs.broker_connection_id`).
    pub broker_connection_id: Uuid,
    /// True when the server created the connection for this report.
    pub created: bool,
}

/// Agent status reported by heartbeats (`mt5_agents.status`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum AgentStatus {
    Online,
    Paused,
    Offline,
}

/// `POST /api/v1/agents/{id}/heartbeat`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    pub status: AgentStatus,
    pub app_version: String,
    #[serde(default)]
    pub terminal: Option<TerminalInfo>,
    /// Jobs this agent is executing right now; keeps their claims fresh.
    #[serde(default)]
    pub running_jobs: Vec<Uuid>,
}

/// One quote.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceTick {
    pub symbol: String,
    pub bid: f64,
    pub ask: f64,
    pub time: DateTime<Utc>,
}

/// `POST /api/v1/agents/{id}/prices`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PricesRequest {
    pub prices: Vec<PriceTick>,
}

/// Body of a `POST .../result` acknowledgement.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultAck {
    pub job_id: Uuid,
    pub status: JobStatus,
    /// True when this exact result had already been recorded.
    pub duplicate: bool,
}

/// Older servers answered an empty queue with 200 `{"no_jobs": true}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoJobsLegacy {
    pub no_jobs: bool,
}

/// `POST /api/v1/jobs` (user auth): queue a job for one of the user's agents.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateJobRequest {
    pub job_type: JobType,
    pub agent_id: Uuid,
    #[serde(default)]
    pub input_data: serde_json::Value,
}

/// A job as users see it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct JobView {
    pub id: Uuid,
    pub job_type: JobType,
    pub status: JobStatus,
    pub agent_id: Option<Uuid>,
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub input_data: serde_json::Value,
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub output_data: Option<serde_json::Value>,
    pub error_message: Option<String>,
    pub attempts: i32,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// `tv_signals.status`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum SignalStatus {
    Pending,
    Executed,
    Failed,
    Discarded,
}

/// What the webhook answers: `{signal_id, status}` (plus the reason when discarded).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookResponse {
    pub signal_id: Uuid,
    pub status: SignalStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
