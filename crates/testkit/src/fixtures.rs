//! Rows most tests need: users (auth.users + profiles + user_settings), agents, jobs.
//! These run on the superuser pool (no RLS).

use sqlx::PgPool;
use uuid::Uuid;

/// Creates a user: `auth.users`, `profiles` and default `user_settings` rows.
/// Returns the user id.
pub async fn create_user(pool: &PgPool, email: &str) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO auth.users (id, email) VALUES ($1, $2)")
        .bind(id)
        .bind(email)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO public.profiles (id, email) VALUES ($1, $2)")
        .bind(id)
        .bind(email)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO public.user_settings (user_id) VALUES ($1)")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(id)
}

/// Creates an `MT5_AGENT` broker connection and an agent on it for `user_id`.
/// Returns the agent id.
pub async fn create_agent(pool: &PgPool, user_id: Uuid, name: &str) -> Result<Uuid, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let conn_id: Uuid = sqlx::query_scalar(
        "INSERT INTO public.broker_connections (user_id, broker_type, name)
         VALUES ($1, 'MT5_AGENT', $2) RETURNING id",
    )
    .bind(user_id)
    .bind(name)
    .fetch_one(&mut *tx)
    .await?;
    let agent_id: Uuid = sqlx::query_scalar(
        "INSERT INTO public.mt5_agents (user_id, broker_connection_id, agent_name)
         VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(user_id)
    .bind(conn_id)
    .bind(name)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(agent_id)
}

/// The broker connection of an agent made by [`create_agent`].
pub async fn agent_broker_connection(pool: &PgPool, agent_id: Uuid) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar("SELECT broker_connection_id FROM public.mt5_agents WHERE id = $1")
        .bind(agent_id)
        .fetch_one(pool)
        .await
}

/// Creates a pending job of `job_type` for `user_id`, optionally targeted at an agent.
/// Returns the job id.
pub async fn create_job(
    pool: &PgPool,
    user_id: Uuid,
    job_type: &str,
    agent_id: Option<Uuid>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO public.jobs (user_id, job_type, agent_id) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(user_id)
    .bind(job_type)
    .bind(agent_id)
    .fetch_one(pool)
    .await
}
