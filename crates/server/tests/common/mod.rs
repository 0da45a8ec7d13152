//! Test harness: a fresh migrated database, the real router served over real HTTP on
//! 127.0.0.1:0, and helpers that create users and agents through the admin code.
#![allow(
    clippy::unwrap_used,
    reason = "integration-test helpers: a panic is a failed test"
)]
#![allow(dead_code)]

use std::time::Duration;

use companion_protocol::{ClaimedJob, AGENT_KEY_HEADER};
use companion_server::agents::IssuedKey;
use companion_server::{admin, AppState, Config};
use companion_testkit::TestDb;
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
    _db: TestDb,
}

/// A fresh database with every migration applied.
/// A fresh database with every migration applied (dropped with the value).
pub async fn fresh_db() -> TestDb {
    TestDb::new().await
}

/// A server over the database at `url` (its own pool, as in production), with the
/// test configuration adjusted by `configure`, served on a free port: its base URL.
async fn serve_on(url: &str, configure: impl FnOnce(&mut Config)) -> (String, AppState) {
    let mut config = Config::for_database(url.to_string());
    config.supabase_jwt_secret = Some(companion_server::config::Secret::new(JWT_SECRET));
    config.bcrypt_cost = 4;
    configure(&mut config);
    let server_pool = companion_server::db::connect(&config.db)
        .await
        .expect("server pool");
    let state = AppState::new(config, server_pool).await.expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = companion_server::router(state.clone());
    tokio::spawn(companion_server::serve(listener, app));
    (format!("http://{addr}"), state)
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with a configuration adjusted by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let db = fresh_db().await;
        let (url, pool) = (db.url.clone(), db.pool.clone());
        let (base, state) = serve_on(&url, configure).await;
        TestServer {
            base,
            state,
            pool,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            db_url: url,
            _db: db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Another replica of the server on the same database (its own pool, LISTEN
    /// connection and notice publisher), served on its own port: its base URL.
    pub async fn replica(&self) -> (String, AppState) {
        serve_on(&self.db_url, |_| {}).await
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
