//! Running queries the way PostgREST does, so row level security applies.
//!
//! ```no_run
//! # async fn demo(pool: &sqlx::PgPool, user: uuid::Uuid) -> Result<(), sqlx::Error> {
//! let mut tx = companion_testkit::as_user(pool, user).await?;
//! let mine: i64 = sqlx::query_scalar("SELECT count(*) FROM public.jobs")
//!     .fetch_one(&mut *tx)
//!     .await?; // only this user's jobs
//! tx.commit().await?;
//! # Ok(()) }
//! ```
//! Equivalent SQL: `BEGIN; SET LOCAL ROLE authenticated;
//! SELECT set_config('request.jwt.claims', '{"sub":"<uuid>","role":"authenticated"}', true); ...`

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// The JWT claims JSON PostgREST would set for `user_id`.
pub fn user_claims(user_id: Uuid) -> String {
    format!(r#"{{"sub":"{user_id}","role":"authenticated"}}"#)
}

/// A transaction running as role `authenticated` with the claims of `user_id`.
/// Commit or roll it back when done; RLS applies to every query on it.
pub async fn as_user(
    pool: &PgPool,
    user_id: Uuid,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    as_role(pool, "authenticated", Some(&user_claims(user_id))).await
}

/// A transaction running as role `anon` with no claims (an unauthenticated request).
pub async fn as_anon(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    as_role(pool, "anon", None).await
}

/// A transaction running as `role` (`anon`, `authenticated` or `service_role`) with
/// the given JWT claims JSON, if any.
pub async fn as_role(
    pool: &PgPool,
    role: &str,
    claims: Option<&str>,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let set_role: &'static str = match role {
        "anon" => "SET LOCAL ROLE anon",
        "authenticated" => "SET LOCAL ROLE authenticated",
        "service_role" => "SET LOCAL ROLE service_role",
        other => {
            return Err(sqlx::Error::Protocol(format!(
                "as_role: unknown role {other:?}"
            )))
        }
    };
    sqlx::query(set_role).execute(&mut *tx).await?;
    if let Some(claims) = claims {
        sqlx::query("SELECT set_config('request.jwt.claims', $1, true)")
            .bind(claims)
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
}
