//! Agent records: create with a fresh pairing key, rotate the key, delete. Each takes a
//! connection so it runs either under RLS (user API) or as the server role (admin CLI).

use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::keys;

/// A created (or re-keyed) agent. `pairing_key` is shown once and never stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IssuedKey {
    pub agent_id: Uuid,
    pub agent_name: String,
    pub user_id: Uuid,
    pub broker_connection_id: Option<Uuid>,
    pub pairing_key: String,
    pub pairing_key_prefix: String,
}

/// Errors of agent record operations.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("broker connection {0} not found for this user")]
    BrokerConnectionNotFound(Uuid),
    #[error("agent {0} not found")]
    AgentNotFound(Uuid),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("could not hash the pairing key: {0}")]
    Hash(String),
}

impl From<AgentError> for crate::error::ApiError {
    fn from(e: AgentError) -> Self {
        match e {
            AgentError::BrokerConnectionNotFound(_) | AgentError::AgentNotFound(_) => {
                crate::error::ApiError::NotFound(e.to_string())
            }
            AgentError::Db(db) => db.into(),
            AgentError::Hash(_) => crate::error::ApiError::internal(e),
        }
    }
}

/// Generates a key off the async threads (bcrypt is slow on purpose).
pub async fn new_key(bcrypt_cost: u32) -> Result<keys::NewKey, AgentError> {
    tokio::task::spawn_blocking(move || keys::generate(bcrypt_cost))
        .await
        .map_err(|e| AgentError::Hash(e.to_string()))?
        .map_err(|e| AgentError::Hash(e.to_string()))
}

/// Creates a broker connection of type `MT5_AGENT`.
pub async fn create_broker_connection(
    conn: &mut PgConnection,
    user_id: Uuid,
    name: &str,
) -> Result<Uuid, AgentError> {
    let id: Uuid = sqlx::query_scalar(
        "insert into broker_connections (user_id, broker_type, name) values ($1, 'MT5_AGENT', $2) returning id",
    )
    .bind(user_id)
    .bind(name)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Creates an agent for `user_id` (and a broker connection when none is given).
pub async fn create_agent(
    conn: &mut PgConnection,
    user_id: Uuid,
    broker_connection_id: Option<Uuid>,
    agent_name: &str,
    bcrypt_cost: u32,
) -> Result<IssuedKey, AgentError> {
    let broker_connection_id = match broker_connection_id {
        Some(id) => {
            let found: Option<Uuid> = sqlx::query_scalar(
                "select id from broker_connections where id = $1 and user_id = $2",
            )
            .bind(id)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
            found.ok_or(AgentError::BrokerConnectionNotFound(id))?
        }
        None => create_broker_connection(&mut *conn, user_id, agent_name).await?,
    };
    let key = new_key(bcrypt_cost).await?;
    let agent_id: Uuid = sqlx::query_scalar(
        "insert into mt5_agents (user_id, broker_connection_id, agent_name, pairing_key_hash, pairing_key_prefix) \
         values ($1, $2, $3, $4, $5) returning id",
    )
    .bind(user_id)
    .bind(broker_connection_id)
    .bind(agent_name)
    .bind(&key.hash)
    .bind(&key.prefix)
    .fetch_one(conn)
    .await?;
    Ok(IssuedKey {
        agent_id,
        agent_name: agent_name.to_string(),
        user_id,
        broker_connection_id: Some(broker_connection_id),
        pairing_key: key.key,
        pairing_key_prefix: key.prefix,
    })
}

/// Replaces an agent's key; the old key stops working at once (callers also drop
/// the verification cache).
pub async fn rotate_key(
    conn: &mut PgConnection,
    user_id: Uuid,
    agent_id: Uuid,
    bcrypt_cost: u32,
) -> Result<IssuedKey, AgentError> {
    let key = new_key(bcrypt_cost).await?;
    let row: Option<(String, Option<Uuid>)> = sqlx::query_as(
        "update mt5_agents set pairing_key_hash = $3, pairing_key_prefix = $4, updated_at = now() \
         where id = $1 and user_id = $2 returning agent_name, broker_connection_id",
    )
    .bind(agent_id)
    .bind(user_id)
    .bind(&key.hash)
    .bind(&key.prefix)
    .fetch_optional(conn)
    .await?;
    let (agent_name, broker_connection_id) = row.ok_or(AgentError::AgentNotFound(agent_id))?;
    Ok(IssuedKey {
        agent_id,
        agent_name,
        user_id,
        broker_connection_id,
        pairing_key: key.key,
        pairing_key_prefix: key.prefix,
    })
}

/// Deletes an agent (its key dies with it).
pub async fn delete_agent(
    conn: &mut PgConnection,
    user_id: Uuid,
    agent_id: Uuid,
) -> Result<(), AgentError> {
    let done = sqlx::query("delete from mt5_agents where id = $1 and user_id = $2")
        .bind(agent_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(AgentError::AgentNotFound(agent_id));
    }
    Ok(())
}
