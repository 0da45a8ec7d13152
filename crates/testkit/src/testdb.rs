//! `TestDb`: a fresh database per test, copied from the migrated template.

use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

use crate::cluster::{try_admin_url, url_for_database};
use crate::error::TestkitError;
use crate::template::template_name;

/// A database of its own for one test, dropped when this value is dropped
/// (set `COMPANION_TESTKIT_KEEP=1` to keep it for inspection).
#[derive(Debug)]
pub struct TestDb {
    /// Superuser URL of this database.
    pub url: String,
    /// A pool on `url` (superuser: bypasses RLS; see [`crate::as_user`] for RLS).
    pub pool: PgPool,
    /// The database name.
    pub name: String,
}

impl TestDb {
    /// A fresh database with every migration in `migrations/` applied.
    /// Panics with the reason when the cluster or the migrations fail.
    pub async fn new() -> TestDb {
        match Self::try_new().await {
            Ok(db) => db,
            Err(e) => panic!("companion-testkit: cannot create a test database: {e}"),
        }
    }

    /// Like [`TestDb::new`], returning the error instead of panicking.
    pub async fn try_new() -> Result<TestDb, TestkitError> {
        let template = template_name().await?;
        Self::create_from(&template).await
    }

    /// A fresh, empty database (no migrations applied), for tests of the
    /// migrations themselves.
    pub async fn empty() -> TestDb {
        match Self::create_from("template0").await {
            Ok(db) => db,
            Err(e) => panic!("companion-testkit: cannot create an empty database: {e}"),
        }
    }

    async fn create_from(template: &str) -> Result<TestDb, TestkitError> {
        let admin = try_admin_url().await?;
        let name = format!("companion_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
        )))
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        let url = url_for_database(&admin, &name)?;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .connect(&url)
            .await?;
        Ok(TestDb { url, pool, name })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::env::var_os("COMPANION_TESTKIT_KEEP").is_some() {
            eprintln!("companion-testkit: keeping database {}", self.url);
            return;
        }
        let name = self.name.clone();
        // Drop runs inside the test's runtime; do the async work on a thread of its own.
        let handle = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return Err(e.to_string()),
            };
            rt.block_on(async move {
                let admin = try_admin_url().await.map_err(|e| e.to_string())?;
                let mut conn = PgConnection::connect(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
                conn.close().await.map_err(|e| e.to_string())
            })
        });
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("companion-testkit: could not drop {}: {e}", self.name),
            Err(_) => eprintln!("companion-testkit: dropping {} panicked", self.name),
        }
    }
}
