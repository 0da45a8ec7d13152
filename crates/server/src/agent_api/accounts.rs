//! `POST /api/v1/agents/{id}/accounts`: a terminal of the agent reports the account
//! (login @ server) it is logged into; the server binds it to a broker connection in
//! `agent_connections` (migration 0017) and answers which, so the agent can route the
//! jobs of that connection to that terminal.
//!
//! Which connection: the owner's connection already bound to that login and server
//! (by this agent first); else the agent's pairing connection when no other account
//! holds it (the single-terminal case: the first account adopts it); else a new
//! connection named `login @ server`. Reports of one agent are serialised by a row
//! lock on the agent, so two terminals starting together cannot both adopt the
//! pairing connection.

use axum::extract::State;
use companion_protocol::{AccountBinding, AccountReport, ApiErrorBody};
use uuid::Uuid;

use crate::auth::AgentAuth;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

/// Longest login or server name accepted.
const MAX_LEN: usize = 128;

#[utoipa::path(post, path = "/api/v1/agents/{id}/accounts", tag = "agents",
    params(("id" = Uuid, Path, description = "agent id")),
    request_body = AccountReport,
    security(("agent_key" = [])),
    responses((status = 200, body = AccountBinding), (status = 400, body = ApiErrorBody),
              (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)))]
pub async fn report_account(
    State(state): State<AppState>,
    agent: AgentAuth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<AccountReport>,
) -> Result<ApiJson<AccountBinding>, ApiError> {
    agent.require(id)?;
    let login = req.login.trim();
    let server = req.server.trim();
    if login.is_empty() || server.is_empty() || login.len() > MAX_LEN || server.len() > MAX_LEN {
        return Err(ApiError::invalid(format!(
            "login and server must be 1 to {MAX_LEN} characters"
        )));
    }
    let info = serde_json::to_value(&req.terminal).map_err(ApiError::internal)?;
    let mut tx = state.db.begin().await?;
    let pairing: Option<Option<Uuid>> = sqlx::query_scalar(
        "select broker_connection_id from public.mt5_agents where id = $1 and user_id = $2 for update",
    )
    .bind(id)
    .bind(agent.user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(pairing) = pairing else {
        return Err(ApiError::Unauthorized("invalid agent key".into()));
    };
    let known: Option<Uuid> = sqlx::query_scalar(
        "select ac.broker_connection_id from public.agent_connections ac
           join public.broker_connections b on b.id = ac.broker_connection_id and b.user_id = $1
          where ac.user_id = $1 and ac.login = $3 and ac.server = $4
          order by (ac.agent_id = $2) desc, ac.last_seen desc nulls last
          limit 1",
    )
    .bind(agent.user_id)
    .bind(id)
    .bind(login)
    .bind(server)
    .fetch_optional(&mut *tx)
    .await?;
    let adoptable = match (known, pairing) {
        (None, Some(p)) => {
            // Free unless another account is already bound to it.
            let taken: bool = sqlx::query_scalar(
                "select exists (select 1 from public.agent_connections
                                 where broker_connection_id = $1 and login is not null
                                   and (login, server) is distinct from ($2, $3))",
            )
            .bind(p)
            .bind(login)
            .bind(server)
            .fetch_one(&mut *tx)
            .await?;
            (!taken).then_some(p)
        }
        _ => None,
    };
    let (connection, created) = match known.or(adoptable) {
        Some(c) => (c, false),
        None => {
            let broker_type = if req.terminal.paper {
                "PAPER"
            } else {
                "MT5_AGENT"
            };
            let c: Uuid = sqlx::query_scalar(
                "insert into public.broker_connections (user_id, broker_type, name)
                 values ($1, $2, $3) returning id",
            )
            .bind(agent.user_id)
            .bind(broker_type)
            .bind(format!("{login} @ {server}"))
            .fetch_one(&mut *tx)
            .await?;
            (c, true)
        }
    };
    sqlx::query(
        "insert into public.agent_connections
           (agent_id, broker_connection_id, user_id, login, server, terminal_info, last_seen)
         values ($1, $2, $3, $4, $5, $6, now())
         on conflict (agent_id, broker_connection_id) do update
           set login = excluded.login, server = excluded.server,
               terminal_info = excluded.terminal_info, last_seen = now()",
    )
    .bind(id)
    .bind(connection)
    .bind(agent.user_id)
    .bind(login)
    .bind(server)
    .bind(info)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if created {
        tracing::info!(agent_id = %id, broker_connection_id = %connection, "new account: broker connection created");
    }
    Ok(ApiJson(AccountBinding {
        broker_connection_id: connection,
        created,
    }))
}
