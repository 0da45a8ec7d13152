//! Test harness: a fresh migrated database, the real router served over real HTTP on
//! 127.0.0.1:0, and helpers that create users and agents through the admin code.
#![allow(dead_code)]

use std::time::Duration;

use companion_protocol::{ClaimedJob, AGENT_KEY_HEADER};
use companion_server::agents::IssuedKey;
use companion_server::{admin, AppState, Config};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

pub const JWT_SECRET: &str = "test-jwt-secret-for-companion-server-tests";

pub struct TestServer {
    pub base: String,
    pub state: AppState,
    pub pool: PgPool,
    pub http: reqwest::Client,
    pub db_url: String,
}

/// A fresh database with every migration applied.
/// TEMPORARY until companion-testkit lands on main: a fresh database on the cluster
/// named by `DATABASE_URL`, migrated with the server's embedded migrations.
pub async fn fresh_db() -> (String, PgPool) {
    let admin_url = std::env::var("DATABASE_URL").expect("set DATABASE_URL to a superuser URL");
    let name = format!("srv_{}", Uuid::new_v4().simple());
    let admin_pool = PgPool::connect(&admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&admin_pool)
        .await
        .unwrap();
    admin_pool.close().await;
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(30)
        .connect(&url)
        .await
        .unwrap();
    companion_server::db::migrate(&pool).await.unwrap();
    (url, pool)
}

impl TestServer {
    pub async fn start() -> Self {
        let (url, pool) = fresh_db().await;
        let mut config = Config::for_database(url.clone());
        config.supabase_jwt_secret = Some(companion_server::config::Secret::new(JWT_SECRET));
        config.bcrypt_cost = 4;
        let state = AppState::new(config, pool.clone()).await.expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = companion_server::router(state.clone());
        tokio::spawn(companion_server::serve(listener, app));
        TestServer {
            base: format!("http://{addr}"),
            state,
            pool,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            db_url: url,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn user(&self, email: &str) -> Uuid {
        admin::create_user(&self.pool, email, None).await.unwrap()
    }

    pub async fn agent(&self, user: Uuid, name: &str) -> IssuedKey {
        admin::create_agent(&self.pool, user, None, name, 4)
            .await
            .unwrap()
    }

    pub fn jwt(&self, user: Uuid) -> String {
        companion_server::auth::user::sign_jwt(user, JWT_SECRET, 3600).unwrap()
    }

    pub async fn agent_get(&self, key: &str, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .header(AGENT_KEY_HEADER, key)
            .send()
            .await
            .unwrap()
    }

    pub async fn agent_post(&self, key: &str, path: &str, body: &Value) -> Response {
        self.http
            .post(self.url(path))
            .header(AGENT_KEY_HEADER, key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn user_get(&self, user: Uuid, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .bearer_auth(self.jwt(user))
            .send()
            .await
            .unwrap()
    }

    pub async fn user_post(&self, user: Uuid, path: &str, body: &Value) -> Response {
        self.http
            .post(self.url(path))
            .bearer_auth(self.jwt(user))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `jobs/next?wait=N` for an agent: `Some(job)` on 200, `None` on 204.
    pub async fn next(&self, agent: &IssuedKey, wait: u64) -> Option<ClaimedJob> {
        let r = self
            .agent_get(
                &agent.pairing_key,
                &format!("/api/v1/agents/{}/jobs/next?wait={wait}", agent.agent_id),
            )
            .await;
        match r.status() {
            StatusCode::OK => Some(r.json().await.unwrap()),
            StatusCode::NO_CONTENT => None,
            s => panic!("jobs/next answered {s}: {}", r.text().await.unwrap()),
        }
    }

    pub async fn result(&self, agent: &IssuedKey, job: Uuid, body: &Value) -> Response {
        self.agent_post(
            &agent.pairing_key,
            &format!("/api/v1/agents/{}/jobs/{job}/result", agent.agent_id),
            body,
        )
        .await
    }

    /// Inserts a job with plain SQL, as any other writer (the web app) would.
    pub async fn insert_job(
        &self,
        user: Uuid,
        job_type: &str,
        agent: Option<Uuid>,
        input: Value,
    ) -> Uuid {
        sqlx::query_scalar(
            "insert into jobs (user_id, job_type, status, agent_id, input_data) values ($1, $2, 'pending', $3, $4) returning id",
        )
        .bind(user)
        .bind(job_type)
        .bind(agent)
        .bind(input)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    pub async fn job_status(&self, job: Uuid) -> (String, Option<Uuid>, i32, Option<String>) {
        sqlx::query_as("select status, agent_id, attempts, error_message from jobs where id = $1")
            .bind(job)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

/// Asserts a JSON error body with the given code.
pub async fn assert_error(r: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status);
    assert!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json")),
        "error bodies are JSON"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], code, "body: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(
        body.as_object().unwrap().len(),
        2,
        "only code and message: {body}"
    );
    body
}

pub fn completed(output: Value) -> Value {
    json!({ "status": "completed", "output_data": output })
}

pub fn failed(message: &str) -> Value {
    json!({ "status": "failed", "error_message": message })
}
