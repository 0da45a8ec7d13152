//! The harness itself: fresh migrated databases, isolation, RLS helpers.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

use companion_testkit::{as_anon, as_user, create_agent, create_job, create_user, TestDb};

#[tokio::test]
async fn new_database_has_every_migration_applied() {
    let db = TestDb::new().await;
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let files = std::fs::read_dir(companion_testkit::migrations_dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count();
    assert_eq!(applied.len(), files);
    assert_eq!(applied.first(), Some(&1));
}

#[tokio::test]
async fn each_test_database_is_its_own() {
    let a = TestDb::new().await;
    let b = TestDb::new().await;
    assert_ne!(a.name, b.name);
    create_user(&a.pool, "only-in-a@example.com").await.unwrap();
    let in_b: i64 = sqlx::query_scalar("SELECT count(*) FROM public.profiles")
        .fetch_one(&b.pool)
        .await
        .unwrap();
    assert_eq!(in_b, 0);
}

#[tokio::test]
async fn dropped_database_is_removed() {
    let db = TestDb::new().await;
    let name = db.name.clone();
    drop(db);
    let other = TestDb::new().await;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&other.pool)
            .await
            .unwrap();
    assert!(!exists, "{name} should have been dropped");
}

#[tokio::test]
async fn as_user_sees_only_own_rows_and_anon_none() {
    let db = TestDb::new().await;
    let alice = create_user(&db.pool, "alice@example.com").await.unwrap();
    let bob = create_user(&db.pool, "bob@example.com").await.unwrap();
    let agent = create_agent(&db.pool, alice, "alice-pc").await.unwrap();
    create_job(&db.pool, alice, "compile", Some(agent))
        .await
        .unwrap();
    create_job(&db.pool, bob, "compile", None).await.unwrap();

    let mut tx = as_user(&db.pool, alice).await.unwrap();
    let uid: Option<uuid::Uuid> = sqlx::query_scalar("SELECT auth.uid()")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(uid, Some(alice));
    let owners: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT user_id FROM public.jobs")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(owners, vec![alice]);
    tx.rollback().await.unwrap();

    let mut tx = as_anon(&db.pool).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM public.jobs")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(n, 0);
}
