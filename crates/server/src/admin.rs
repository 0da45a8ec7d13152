//! Admin operations behind the CLI (self-hosting, demo, tests): users, broker
//! connections, agents. They run as the server's database role, not under RLS.

use sqlx::PgPool;
use uuid::Uuid;

use crate::agents::{self, AgentError, IssuedKey};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no user with id or email {0:?}; create one with `companion-server create-user --email ...`")]
    UnknownUser(String),
    #[error("a user with email {0:?} already exists")]
    EmailTaken(String),
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Creates `auth.users`, `profiles` and `user_settings` rows for a new user.
pub async fn create_user(
    pool: &PgPool,
    email: &str,
    display_name: Option<&str>,
) -> Result<Uuid, AdminError> {
    let mut tx = pool.begin().await?;
    let taken: Option<Uuid> =
        sqlx::query_scalar("select id from profiles where lower(email) = lower($1)")
            .bind(email)
            .fetch_optional(&mut *tx)
            .await?;
    if taken.is_some() {
        return Err(AdminError::EmailTaken(email.to_string()));
    }
    let id = Uuid::new_v4();
    sqlx::query("insert into auth.users (id, email) values ($1, $2)")
        .bind(id)
        .bind(email)
        .execute(&mut *tx)
        .await?;
    sqlx::query("insert into profiles (id, email, display_name) values ($1, $2, $3) on conflict (id) do nothing")
        .bind(id)
        .bind(email)
        .bind(display_name)
        .execute(&mut *tx)
        .await?;
    sqlx::query("insert into user_settings (user_id) values ($1) on conflict (user_id) do nothing")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(id)
}

/// Finds a user by id or email.
pub async fn resolve_user(pool: &PgPool, user: &str) -> Result<Uuid, AdminError> {
    let found: Option<Uuid> = match user.parse::<Uuid>() {
        Ok(id) => {
            sqlx::query_scalar("select id from profiles where id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        }
        Err(_) => {
            sqlx::query_scalar("select id from profiles where lower(email) = lower($1)")
                .bind(user)
                .fetch_optional(pool)
                .await?
        }
    };
    found.ok_or_else(|| AdminError::UnknownUser(user.to_string()))
}

pub async fn create_broker_connection(
    pool: &PgPool,
    user_id: Uuid,
    name: &str,
) -> Result<Uuid, AdminError> {
    let mut conn = pool.acquire().await?;
    Ok(agents::create_broker_connection(&mut conn, user_id, name).await?)
}

/// Creates an agent and returns its pairing key (shown once).
pub async fn create_agent(
    pool: &PgPool,
    user_id: Uuid,
    broker_connection_id: Option<Uuid>,
    name: &str,
    bcrypt_cost: u32,
) -> Result<IssuedKey, AdminError> {
    let mut tx = pool.begin().await?;
    let issued =
        agents::create_agent(&mut tx, user_id, broker_connection_id, name, bcrypt_cost).await?;
    tx.commit().await?;
    Ok(issued)
}
