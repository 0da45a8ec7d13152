//! The tooling under the tests: `scripts/dev-db` as a real process, and the
//! template build (advisory lock, crash recovery).

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use companion_testkit::{admin_url, migrations_dir, repo_root, template_for, url_for_database};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

fn dev_db(state: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/dev-db"))
        .args(args)
        .env("DEV_DB_DIR", state)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run scripts/dev-db");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

/// Stops the cluster of a state dir even when the test fails half-way.
struct StopOnDrop(PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = dev_db(&self.0, &["stop"]);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn have_local_postgres() -> bool {
    let versions = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.path().join("bin/initdb").exists())
        })
        .unwrap_or(false);
    versions
        || Command::new("sh")
            .args(["-c", "command -v initdb"])
            .output()
            .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn dev_db_starts_reuses_and_removes_a_cluster() {
    if std::env::var_os("DATABASE_URL").is_some() && !have_local_postgres() {
        // Tests run against a given server on a machine without PostgreSQL binaries.
        eprintln!("skipped: no local PostgreSQL binaries to start a cluster with");
        return;
    }
    let state = std::env::temp_dir().join(format!("dev-db-test-{}", uuid::Uuid::new_v4()));
    let _guard = StopOnDrop(state.clone());
    let (ok, out) = dev_db(&state, &["start"]);
    assert!(ok, "start failed");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "stdout is only the URL: {out:?}");
    let url = lines[0].to_string();
    assert!(url.starts_with("postgres://postgres@127.0.0.1:"), "{url}");

    let mut conn = PgConnection::connect(&url).await.unwrap();
    let superuser: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(superuser);
    conn.close().await.unwrap();

    assert_eq!(
        dev_db(&state, &["start"]),
        (true, format!("{url}\n")),
        "same cluster again"
    );
    assert_eq!(dev_db(&state, &["status"]), (true, format!("{url}\n")));
    let cluster_dir = PathBuf::from(std::fs::read_to_string(state.join("dir")).unwrap().trim());
    assert!(cluster_dir.join("PG_VERSION").exists());

    assert!(dev_db(&state, &["stop"]).0);
    assert!(!cluster_dir.exists(), "cluster directory removed");
    assert!(!dev_db(&state, &["status"]).0, "status fails once stopped");
    assert!(PgConnection::connect(&url).await.is_err(), "server is gone");
}

#[test]
fn dev_db_passes_a_given_database_url_through() {
    let state = std::env::temp_dir().join(format!("dev-db-test-{}", uuid::Uuid::new_v4()));
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/dev-db"))
        .arg("start")
        .env("DEV_DB_DIR", &state)
        .env("DATABASE_URL", "postgres://someone@127.0.0.1:1/elsewhere")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "postgres://someone@127.0.0.1:1/elsewhere\n"
    );
    assert!(!state.exists(), "nothing started, no state written");
}

/// A copy of migrations/ with a unique comment appended, so its template is new.
fn probe_migrations() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("migrations-probe-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(migrations_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let last = files.last().cloned().unwrap();
    for f in files {
        let mut text = std::fs::read_to_string(&f).unwrap();
        if f == last {
            text.push_str(&format!("\n-- probe {}\n", uuid::Uuid::new_v4()));
        }
        std::fs::write(dir.join(f.file_name().unwrap()), text).unwrap();
    }
    dir
}

/// Number of migrations recorded in template `tpl` (read through a copy of it),
/// then removes the template.
async fn migrations_in_and_drop(admin: &mut PgConnection, admin_url: &str, tpl: &str) -> i64 {
    let copy = format!("probe_copy_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE DATABASE \"{copy}\" TEMPLATE \"{tpl}\""
    )))
    .execute(&mut *admin)
    .await
    .unwrap();
    let mut c = PgConnection::connect(&url_for_database(admin_url, &copy).unwrap())
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    for sql in [
        format!("DROP DATABASE \"{copy}\" WITH (FORCE)"),
        format!("ALTER DATABASE \"{tpl}\" WITH IS_TEMPLATE false"),
        format!("DROP DATABASE \"{tpl}\" WITH (FORCE)"),
    ] {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *admin)
            .await
            .unwrap();
    }
    n
}

#[tokio::test]
async fn concurrent_template_builds_produce_one_finished_template() {
    let dir = probe_migrations();
    let builds = (0..4).map(|_| template_for(&dir));
    let names: Vec<String> = futures::future::join_all(builds)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert!(names.iter().all(|n| n == &names[0]), "{names:?}");

    let url = admin_url().await;
    let mut admin = PgConnection::connect(&url).await.unwrap();
    let rows: Vec<bool> =
        sqlx::query_scalar("SELECT datistemplate FROM pg_database WHERE datname = $1")
            .bind(&names[0])
            .fetch_all(&mut admin)
            .await
            .unwrap();
    assert_eq!(rows, vec![true]);
    let files = std::fs::read_dir(&dir).unwrap().count() as i64;
    assert_eq!(
        migrations_in_and_drop(&mut admin, &url, &names[0]).await,
        files
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_half_built_template_is_rebuilt() {
    let dir = probe_migrations();
    let name = format!(
        "companion_tpl_{}",
        &companion_testkit::migrations_hash(&dir).unwrap()[..16]
    );
    let url = admin_url().await;
    let mut admin = PgConnection::connect(&url).await.unwrap();
    // What a build killed half-way leaves: the database, not marked as template.
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .unwrap();
    assert_eq!(template_for(&dir).await.unwrap(), name);
    let files = std::fs::read_dir(&dir).unwrap().count() as i64;
    assert_eq!(migrations_in_and_drop(&mut admin, &url, &name).await, files);
    let _ = std::fs::remove_dir_all(&dir);
}
