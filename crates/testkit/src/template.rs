//! The template database: all migrations applied once per migrations-content hash.
//!
//! Building it is guarded by a PostgreSQL advisory lock, so concurrent test
//! processes share one build. A finished template is marked `IS_TEMPLATE true`;
//! a database with the template's name that is not marked is a crashed build and
//! is rebuilt.

use std::path::Path;

use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio::sync::OnceCell;

use crate::cluster::{migrations_dir, try_admin_url, url_for_database};
use crate::error::TestkitError;

/// Advisory lock key for template builds ("companio" in ASCII).
const TEMPLATE_LOCK_KEY: i64 = 0x636f_6d70_616e_696f;

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// Hash of the names and contents of every `.sql` file in `dir`, hex-encoded.
pub fn migrations_hash(dir: &Path) -> Result<String, TestkitError> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        h.update(f.file_name().unwrap_or_default().as_encoded_bytes());
        h.update([0u8]);
        h.update(std::fs::read(&f)?);
        h.update([0u8]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Name of the template database for `migrations/`, building it if needed
/// (once per process; across processes the advisory lock serialises builds).
pub async fn template_name() -> Result<String, TestkitError> {
    TEMPLATE
        .get_or_try_init(|| template_for(migrations_dir()))
        .await
        .cloned()
}

/// Name of the template database for the migrations in `dir`, building it if
/// no finished one exists. Not cached: every call takes the advisory lock.
pub async fn template_for(dir: impl AsRef<Path>) -> Result<String, TestkitError> {
    let dir = dir.as_ref();
    let admin = try_admin_url().await?;
    let name = format!("companion_tpl_{}", &migrations_hash(dir)?[..16]);

    let mut conn = PgConnection::connect(&admin).await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(TEMPLATE_LOCK_KEY)
        .execute(&mut conn)
        .await?;
    let result = build_locked(&mut conn, &admin, &name, dir).await;
    let unlock = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(TEMPLATE_LOCK_KEY)
        .execute(&mut conn)
        .await;
    result?;
    unlock?;
    conn.close().await?;
    Ok(name)
}

async fn build_locked(
    conn: &mut PgConnection,
    admin: &str,
    name: &str,
    dir: &Path,
) -> Result<(), TestkitError> {
    let state: Option<bool> =
        sqlx::query_scalar("SELECT datistemplate FROM pg_database WHERE datname = $1")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
    match state {
        Some(true) => return Ok(()),
        Some(false) => {
            sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&mut *conn)
            .await?;
        }
        None => {}
    }
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE DATABASE \"{name}\" TEMPLATE template0"
    )))
    .execute(&mut *conn)
    .await?;

    let url = url_for_database(admin, name)?;
    let mut db = PgConnection::connect(&url).await?;
    let migrator = sqlx::migrate::Migrator::new(dir).await?;
    migrator.run(&mut db).await?;
    db.close().await?;

    sqlx::raw_sql(AssertSqlSafe(format!(
        "ALTER DATABASE \"{name}\" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
    )))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
