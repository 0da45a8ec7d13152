//! The one error type of the test harness.

/// Anything that can go wrong while preparing a test database.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// `scripts/dev-db start` failed or printed no URL.
    #[error("scripts/dev-db failed: {0} (set DATABASE_URL to a superuser URL, or fix the message above)")]
    DevDb(String),
    /// An admin or database URL could not be parsed.
    #[error("bad database URL: {0}")]
    Url(String),
    /// Reading the migrations directory failed.
    #[error("reading migrations: {0}")]
    Io(#[from] std::io::Error),
    /// A SQL statement failed.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// Applying the migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Starting or provisioning a stack (server, user, agent) failed.
    #[error("stack: {0}")]
    Stack(String),
}
