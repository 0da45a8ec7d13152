//! Shared harness of the webhook / user API / event stream tests: a fresh migrated
//! database (companion-testkit), the real router served over real HTTP on
//! 127.0.0.1:0, users and agents made by the testkit fixtures, user requests signed
//! with a test JWT secret.
#![allow(
    clippy::unwrap_used,
    reason = "integration-test helpers: a panic is a failed test"
)]
#![allow(dead_code)]

use std::time::Duration;

use companion_server::config::Secret;
use companion_server::{AppState, Config};
use companion_testkit::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

pub const JWT_SECRET: &str = "webhook-tests-jwt-secret-0123456789abcdef";
pub const PUBLIC_BASE: &str = "https://companion.example.test";

pub struct Srv {
    pub base: String,
    pub state: AppState,
    pub db: TestDb,
    pub http: reqwest::Client,
}

/// A user with one agent on one broker connection.
#[derive(Debug, Clone, Copy)]
pub struct Trader {
    pub user: Uuid,
    pub agent: Uuid,
    pub connection: Uuid,
}

impl Srv {
    pub async fn start() -> Srv {
        Self::start_with_pool(None).await
    }

    /// With `Some(n)`, the server gets a pool of its own with `n` connections
    /// (benchmarks); otherwise it shares the test database's pool.
    pub async fn start_with_pool(max_connections: Option<u32>) -> Srv {
        let db = TestDb::new().await;
        let mut config = Config::for_database(db.url.clone());
        config.supabase_jwt_secret = Some(Secret::new(JWT_SECRET));
        config.public_base_url = Some(PUBLIC_BASE.to_string());
        let pool = match max_connections {
            Some(n) => sqlx::postgres::PgPoolOptions::new()
                .max_connections(n)
                .connect(&db.url)
                .await
                .expect("server pool"),
            None => db.pool.clone(),
        };
        let state = AppState::new(config, pool).await.expect("app state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(companion_server::serve(
            listener,
            companion_server::router(state.clone()),
        ));
        Srv {
            base: format!("http://{addr}"),
            state,
            db,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn trader(&self, email: &str) -> Trader {
        let user = companion_testkit::create_user(&self.db.pool, email)
            .await
            .unwrap();
        let agent = companion_testkit::create_agent(&self.db.pool, user, &format!("{email} mt5"))
            .await
            .unwrap();
        let connection = companion_testkit::agent_broker_connection(&self.db.pool, agent)
            .await
            .unwrap();
        Trader {
            user,
            agent,
            connection,
        }
    }

    /// A broker connection of `user` that no agent serves.
    pub async fn bare_connection(&self, user: Uuid) -> Uuid {
        sqlx::query_scalar(
            "insert into broker_connections (user_id, broker_type, name) values ($1, 'MT5_AGENT', 'spare') returning id",
        )
        .bind(user)
        .fetch_one(&self.db.pool)
        .await
        .unwrap()
    }

    pub fn jwt(&self, user: Uuid) -> String {
        companion_server::auth::user::sign_jwt(user, JWT_SECRET, 3600).unwrap()
    }

    /// A user request; returns the status and the JSON body (`Null` when empty).
    pub async fn call(
        &self,
        user: Uuid,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(self.jwt(user));
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!(
                    "{path}: non-JSON body {:?}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        (status, v)
    }

    pub async fn get(&self, user: Uuid, path: &str) -> (StatusCode, Value) {
        self.call(user, Method::GET, path, None).await
    }

    pub async fn post(&self, user: Uuid, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(user, Method::POST, path, Some(body)).await
    }

    /// Creates a strategy through the API; returns (id, webhook secret).
    pub async fn strategy(&self, t: &Trader, extra: Value) -> (Uuid, String) {
        let mut body = json!({ "name": "test strategy", "broker_connection_id": t.connection });
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        let (status, v) = self.post(t.user, "/api/v1/strategies", &body).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        let url = v["webhook_url"].as_str().unwrap();
        let secret = url.rsplit('/').next().unwrap().to_string();
        (v["id"].as_str().unwrap().parse().unwrap(), secret)
    }

    /// Posts an alert body; returns the status and the JSON answer.
    pub async fn hook(
        &self,
        secret: &str,
        body: impl Into<reqwest::Body>,
        content_type: &str,
    ) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url(&format!("/api/v1/webhooks/tv/{secret}")))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn signal_count(&self, strategy: Uuid) -> i64 {
        sqlx::query_scalar("select count(*) from tv_signals where strategy_id = $1")
            .bind(strategy)
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }
}

/// An EA project of `user` with versions 1..=n (version 1 compiled); returns the
/// project id and the version ids in order.
pub async fn ea_project(srv: &Srv, user: Uuid, name: &str, n: i32) -> (Uuid, Vec<Uuid>) {
    let project: Uuid = sqlx::query_scalar(
        "insert into ea_projects (user_id, name, description) values ($1, $2, 'test EA') returning id",
    )
    .bind(user)
    .bind(name)
    .fetch_one(&srv.db.pool)
    .await
    .unwrap();
    let mut versions = Vec::new();
    for v in 1..=n {
        let id: Uuid = sqlx::query_scalar(
            "insert into ea_versions (ea_project_id, version_number, source_code, status)
             values ($1, $2, $3, case when $2 = 1 then 'compiled' else 'draft' end) returning id",
        )
        .bind(project)
        .bind(v)
        .bind(format!("// {name} v{v}\nint OnInit() {{ return 0; }}"))
        .fetch_one(&srv.db.pool)
        .await
        .unwrap();
        versions.push(id);
    }
    (project, versions)
}
