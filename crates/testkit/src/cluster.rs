//! Where the test cluster is: `$DATABASE_URL`, or one started through `scripts/dev-db`.

use std::path::PathBuf;

use tokio::sync::OnceCell;

use crate::error::TestkitError;

static ADMIN_URL: OnceCell<String> = OnceCell::const_new();

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.join("..").join("..");
    root.canonicalize().unwrap_or(root)
}

/// The `migrations/` directory every test database is built from.
pub fn migrations_dir() -> PathBuf {
    repo_root().join("migrations")
}

/// A superuser URL to the test cluster (database `postgres` unless `$DATABASE_URL`
/// names another). Uses `$DATABASE_URL` when set, otherwise starts (or reuses) the
/// ephemeral cluster of `scripts/dev-db start`. Panics with the reason on failure.
pub async fn admin_url() -> String {
    match try_admin_url().await {
        Ok(url) => url,
        Err(e) => panic!("companion-testkit: no test database cluster: {e}"),
    }
}

/// Like [`admin_url`], returning the error instead of panicking.
pub async fn try_admin_url() -> Result<String, TestkitError> {
    ADMIN_URL
        .get_or_try_init(|| async {
            if let Ok(url) = std::env::var("DATABASE_URL") {
                if !url.trim().is_empty() {
                    return Ok(url.trim().to_string());
                }
            }
            start_dev_db().await
        })
        .await
        .cloned()
}

async fn start_dev_db() -> Result<String, TestkitError> {
    let script = repo_root().join("scripts").join("dev-db");
    let out = tokio::process::Command::new("bash")
        .arg(&script)
        .arg("start")
        .env_remove("DATABASE_URL")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| TestkitError::DevDb(format!("running {}: {e}", script.display())))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let url = stdout.lines().last().unwrap_or("").trim().to_string();
    if !out.status.success() || url.is_empty() {
        return Err(TestkitError::DevDb(format!(
            "{} ({})",
            String::from_utf8_lossy(&out.stderr).trim(),
            out.status
        )));
    }
    Ok(url)
}

/// `base` with its database name replaced by `db`.
pub fn url_for_database(base: &str, db: &str) -> Result<String, TestkitError> {
    let mut u = url::Url::parse(base).map_err(|e| TestkitError::Url(e.to_string()))?;
    u.set_path(&format!("/{db}"));
    Ok(u.to_string())
}
