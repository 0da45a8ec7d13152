//! Agents as users see them (`GET /api/v1/agents`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{AgentStatus, TerminalInfo};

/// One of the user's agents with its last known status.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    pub id: Uuid,
    pub agent_name: String,
    pub broker_connection_id: Option<Uuid>,
    pub status: AgentStatus,
    pub is_connected: bool,
    pub last_heartbeat: Option<DateTime<Utc>>,
    pub app_version: Option<String>,
    pub terminal: Option<TerminalInfo>,
    /// First 8 characters of the pairing key, for recognising it.
    pub pairing_key_prefix: String,
    pub created_at: DateTime<Utc>,
}
