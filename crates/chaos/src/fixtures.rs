//! Rows the benches and the chaos run need, created through the server's own admin
//! functions (the same code as `companion-server create-user|create-agent`).

use companion_server::admin;
use futures::stream::{self, StreamExt, TryStreamExt};
use sqlx::PgPool;
use uuid::Uuid;

/// A created agent: its id and pairing key.
#[derive(Debug, Clone)]
pub struct Agent {
    pub id: Uuid,
    pub key: String,
}

/// Creates a user with one broker connection; returns (user id, connection id).
pub async fn user_with_connection(pool: &PgPool, email: &str) -> anyhow::Result<(Uuid, Uuid)> {
    let user = admin::create_user(pool, email, None).await?;
    let conn = admin::create_broker_connection(pool, user, "bench account").await?;
    Ok((user, conn))
}

/// Creates `n` agents of `user` (bcrypt `cost`), `parallel` at a time.
pub async fn agents(
    pool: &PgPool,
    user: Uuid,
    conn: Uuid,
    n: usize,
    cost: u32,
    parallel: usize,
) -> anyhow::Result<Vec<Agent>> {
    stream::iter(0..n)
        .map(|i| async move {
            let issued =
                admin::create_agent(pool, user, Some(conn), &format!("bench {i}"), cost).await?;
            anyhow::Ok(Agent {
                id: issued.agent_id,
                key: issued.pairing_key.clone(),
            })
        })
        .buffer_unordered(parallel)
        .try_collect()
        .await
}
