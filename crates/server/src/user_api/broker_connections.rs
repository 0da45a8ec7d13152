//! `GET /api/v1/broker-connections`: the caller's broker connections with the
//! agents serving each and the account (login @ server) last reported. Under RLS.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use companion_protocol::{AgentStatus, AgentSummary, BrokerConnection};
use uuid::Uuid;

use crate::auth::UserAuth;
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/broker-connections", get(list))
}

#[derive(sqlx::FromRow)]
struct ConnRow {
    id: Uuid,
    name: Option<String>,
    broker_type: String,
    is_active: Option<bool>,
    login: Option<String>,
    server: Option<String>,
    paper: Option<bool>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AgentRow {
    pub id: Uuid,
    pub broker_connection_id: Option<Uuid>,
    pub agent_name: Option<String>,
    pub status: String,
    pub last_heartbeat: Option<DateTime<Utc>>,
    pub app_version: Option<String>,
}

/// Agent columns for `AgentRow`.
macro_rules! agent_columns {
    () => {
        "id, broker_connection_id, agent_name, status, last_heartbeat, app_version"
    };
}
pub(crate) use agent_columns;

impl AgentRow {
    /// `offline` when no heartbeat came for `offline_after_secs`, whatever the row says.
    pub fn into_summary(self, offline_after_secs: u64) -> AgentSummary {
        let fresh = self.last_heartbeat.is_some_and(|t| {
            (Utc::now() - t).num_seconds() <= i64::try_from(offline_after_secs).unwrap_or(i64::MAX)
        });
        let status = match (self.status.as_str(), fresh) {
            (_, false) => AgentStatus::Offline,
            ("online", true) => AgentStatus::Online,
            ("paused", true) => AgentStatus::Paused,
            _ => AgentStatus::Offline,
        };
        AgentSummary {
            id: self.id,
            agent_name: self.agent_name.unwrap_or_default(),
            status,
            last_heartbeat: self.last_heartbeat,
            app_version: self.app_version,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/broker-connections", tag = "broker-connections", security(("user_jwt" = [])),
    responses((status = 200, body = [BrokerConnection])))]
pub async fn list(
    State(state): State<AppState>,
    auth: UserAuth,
) -> Result<Json<Vec<BrokerConnection>>, ApiError> {
    let mut tx = state.user_tx(auth.user_id).await?;
    let conns: Vec<ConnRow> = sqlx::query_as(
        "select b.id, b.name, b.broker_type, b.is_active, acc.login, acc.server, acc.paper,
                b.created_at, b.updated_at
           from public.broker_connections b
           left join lateral (
             select ac.login, ac.server, (ac.terminal_info ->> 'paper')::boolean as paper
               from public.agent_connections ac
              where ac.broker_connection_id = b.id and ac.login is not null
              order by ac.last_seen desc nulls last limit 1) acc on true
          order by b.created_at, b.id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let agents: Vec<AgentRow> = sqlx::query_as(concat!(
        "select ",
        agent_columns!(),
        " from public.mt5_agents order by created_at, id"
    ))
    .fetch_all(&mut *tx)
    .await?;
    // 0017: the connections each agent serves besides its pairing connection.
    let served: Vec<(Uuid, Uuid)> =
        sqlx::query_as("select agent_id, broker_connection_id from public.agent_connections")
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    let offline = state.config.agent_offline_secs;
    let mut out: Vec<BrokerConnection> = conns
        .into_iter()
        .map(|c| BrokerConnection {
            id: c.id,
            name: c.name.unwrap_or_default(),
            broker_type: c.broker_type,
            is_active: c.is_active.unwrap_or(true),
            agents: Vec::new(),
            login: c.login,
            server: c.server,
            paper: c.paper,
            created_at: c.created_at,
            updated_at: c.updated_at,
        })
        .collect();
    for a in agents {
        let id = a.id;
        let pairing = a.broker_connection_id;
        let summary = a.into_summary(offline);
        for c in out.iter_mut().filter(|c| {
            Some(c.id) == pairing
                || served
                    .iter()
                    .any(|(agent, conn)| *agent == id && *conn == c.id)
        }) {
            c.agents.push(summary.clone());
        }
    }
    Ok(Json(out))
}
