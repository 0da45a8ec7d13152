//! Database plumbing: the pool, the embedded migrations and the RLS transaction.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::config::DbConfig;

/// Every migration in `migrations/`, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// A pooled connection idle longer than this is pinged before it is handed out.
/// sqlx's default pings on every acquire: one extra round trip per statement
/// outside a transaction (issue 18). A busy connection is not pinged: if its backend
/// was terminated meanwhile, the next statement fails, the connection is dropped and
/// the request answers 500 (webhook senders and agents retry).
pub const PING_IF_IDLE_FOR: Duration = Duration::from_secs(2);

/// Opens the query pool.
pub async fn connect(cfg: &DbConfig) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(cfg.database_max_connections)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IF_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .acquire_timeout(Duration::from_secs_f64(
            cfg.database_acquire_timeout_secs.clamp(0.001, 3600.0),
        ))
        .connect(cfg.database_url.expose())
        .await
}

/// The publisher's own one-connection pool (`crate::publish`), opened on first use:
/// a query pool busy with a burst must not delay other replicas' wake-ups.
pub fn connect_notices(cfg: &DbConfig) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(cfg.database_url.expose())
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Begins a transaction that runs as the `authenticated` role with the user's JWT
/// claims set, exactly as PostgREST does, so row-level security applies.
/// The role and the claims are transaction-local: they end with the transaction.
pub async fn user_tx(
    pool: &PgPool,
    user_id: Uuid,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let claims = serde_json::json!({ "sub": user_id, "role": "authenticated" }).to_string();
    sqlx::query("select set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)")
        .bind(claims)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}
