//! The one client of the user API (`/api/v1/strategies`, `/signals`, `/ea-projects`,
//! `/jobs`, `/agents/me`, ...) the desktop app calls with the agent key acting for its
//! owner. Bodies and answers are `companion_protocol` types; refusals become
//! [`AppError`]s through the server's own error codes. The key stays in Rust.

use std::time::Duration;

use companion_protocol::symbols::{SetSymbolOverride, SymbolOverride};
use companion_protocol::{
    AgentMe, ApiErrorBody, BrokerConnection, CreateJobRequest, EaProject, EaVersion,
    EaVersionSource, ErrorCode, JobView, QueuedJob, SetCurrentVersionRequest, SignalDetail,
    SignalPage, Strategy, TradingDay, TradingDayTimeZone, AGENT_KEY_HEADER,
};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::app::dto::{SignalFilter, StrategyInput};
use crate::app::error::{AppError, AppErrorCode, AppResult};
use crate::client::api_root;
use crate::secret::AgentKey;

/// User-API client for one server and key. Cheap to clone.
#[derive(Clone)]
pub struct UserApi {
    http: reqwest::Client,
    stream_http: reqwest::Client,
    server: String,
    base: String,
    key: AgentKey,
}

impl std::fmt::Debug for UserApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserApi")
            .field("base", &self.base)
            .field("key", &self.key)
            .finish()
    }
}

/// EA job routes the app queues (`POST /ea-versions/{id}/{route}`).
pub const EA_JOB_ROUTES: [&str; 3] = ["compile", "deploy", "test"];

impl UserApi {
    /// `server` without `/api/v1` (normalised by the caller).
    pub fn new(server: &str, key: AgentKey) -> Self {
        let client = |timeout: Option<Duration>| {
            // Every request carries the key: never follow a redirect with it.
            let mut b = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(5))
                .user_agent(concat!("companion-app/", env!("CARGO_PKG_VERSION")));
            if let Some(t) = timeout {
                b = b.timeout(t);
            }
            b.build().unwrap_or_default()
        };
        UserApi {
            http: client(Some(Duration::from_secs(20))),
            stream_http: client(None),
            server: server.trim_end_matches('/').to_string(),
            base: api_root(server),
            key,
        }
    }

    /// The pairing key (handed to the in-process agent runtime; never logged).
    pub fn key(&self) -> &AgentKey {
        &self.key
    }

    /// The server URL (without `/api/v1`).
    pub fn server(&self) -> &str {
        &self.server
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base, path))
            .header(AGENT_KEY_HEADER, self.key.expose())
    }

    /// The request for the `GET /events` stream (no overall timeout).
    pub(crate) fn events_request(&self) -> reqwest::RequestBuilder {
        self.stream_http
            .get(format!("{}/events", self.base))
            .header(AGENT_KEY_HEADER, self.key.expose())
            .header(reqwest::header::ACCEPT, "text/event-stream")
    }

    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> AppResult<T> {
        let mut r = self.req(method, path);
        if let Some(b) = body {
            r = r.json(b);
        }
        let resp = r.send().await.map_err(|e| self.transport(e))?;
        let resp = check(resp).await?;
        let bytes = resp.bytes().await.map_err(|e| self.transport(e))?;
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(bytes).map_err(|e| {
            AppError::internal(format!("unexpected answer from the server for {path}: {e}"))
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> AppResult<T> {
        self.call::<(), T>(Method::GET, path, None).await
    }

    /// A transport failure (no answer) as an app error.
    pub(crate) fn transport(&self, e: reqwest::Error) -> AppError {
        if e.is_timeout() {
            AppError::new(
                AppErrorCode::Timeout,
                format!("The server at {} did not answer in time.", self.server),
            )
        } else {
            AppError::new(
                AppErrorCode::Unreachable,
                format!("Cannot reach the server at {}.", self.server),
            )
        }
    }

    // -- calls -------------------------------------------------------------------

    /// `GET /agents/me`: who the key belongs to. A refused key is `bad_key`.
    pub async fn me(&self) -> AppResult<AgentMe> {
        self.get("/agents/me").await.map_err(|e| match e.code {
            AppErrorCode::Forbidden => AppError::new(AppErrorCode::BadKey, e.message),
            _ => e,
        })
    }

    pub async fn create_job(&self, req: &CreateJobRequest) -> AppResult<JobView> {
        self.call(Method::POST, "/jobs", Some(req)).await
    }

    pub async fn job(&self, id: Uuid) -> AppResult<JobView> {
        self.get(&format!("/jobs/{id}")).await
    }

    /// The 20 newest jobs of one agent.
    pub async fn recent_jobs(&self, agent_id: Uuid) -> AppResult<Vec<JobView>> {
        self.get(&format!("/jobs?limit=20&agent_id={agent_id}"))
            .await
    }

    pub async fn strategies(&self) -> AppResult<Vec<Strategy>> {
        self.get("/strategies").await
    }

    pub async fn create_strategy(&self, input: &StrategyInput) -> AppResult<Strategy> {
        self.call(Method::POST, "/strategies", Some(input)).await
    }

    /// Sends the whole editable state: explicit nulls clear allowed pairs / the risk
    /// override (PATCH semantics).
    pub async fn update_strategy(&self, id: Uuid, input: &StrategyInput) -> AppResult<Strategy> {
        self.call(Method::PATCH, &format!("/strategies/{id}"), Some(input))
            .await
    }

    pub async fn delete_strategy(&self, id: Uuid) -> AppResult<()> {
        let resp = self
            .req(Method::DELETE, &format!("/strategies/{id}"))
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        check(resp).await.map(|_| ())
    }

    pub async fn rotate_strategy_secret(&self, id: Uuid) -> AppResult<Strategy> {
        self.call(
            Method::POST,
            &format!("/strategies/{id}/rotate-secret"),
            Some(&serde_json::json!({})),
        )
        .await
    }

    /// Realised P&L today against the daily loss limit, per broker connection.
    pub async fn trading_day(&self) -> AppResult<Vec<TradingDay>> {
        self.get("/trading-day").await
    }

    pub async fn set_trading_day_tz(&self, tz: &str) -> AppResult<TradingDayTimeZone> {
        self.call(
            Method::PUT,
            "/trading-day/time-zone",
            Some(&TradingDayTimeZone {
                trading_day_tz: tz.to_string(),
            }),
        )
        .await
    }

    pub async fn broker_connections(&self) -> AppResult<Vec<BrokerConnection>> {
        self.get("/broker-connections").await
    }

    pub async fn symbol_overrides(&self, connection: Uuid) -> AppResult<Vec<SymbolOverride>> {
        self.get(&format!(
            "/broker-connections/{connection}/symbol-overrides"
        ))
        .await
    }

    /// `canonical` must be a path-safe spelling (see `Core::set_symbol_override`).
    pub async fn set_symbol_override(
        &self,
        connection: Uuid,
        canonical: &str,
        broker_symbol: &str,
    ) -> AppResult<SymbolOverride> {
        self.call(
            Method::PUT,
            &format!("/broker-connections/{connection}/symbol-overrides/{canonical}"),
            Some(&SetSymbolOverride {
                broker_symbol: broker_symbol.to_string(),
            }),
        )
        .await
    }

    pub async fn delete_symbol_override(&self, connection: Uuid, canonical: &str) -> AppResult<()> {
        let resp = self
            .req(
                Method::DELETE,
                &format!("/broker-connections/{connection}/symbol-overrides/{canonical}"),
            )
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        check(resp).await.map(|_| ())
    }

    pub async fn signals(
        &self,
        filter: &SignalFilter,
        cursor: Option<&str>,
    ) -> AppResult<SignalPage> {
        let q = filter.query(cursor);
        self.get(&if q.is_empty() {
            "/signals".to_string()
        } else {
            format!("/signals?{q}")
        })
        .await
    }

    pub async fn signal(&self, id: Uuid) -> AppResult<SignalDetail> {
        self.get(&format!("/signals/{id}")).await
    }

    pub async fn ea_projects(&self) -> AppResult<Vec<EaProject>> {
        self.get("/ea-projects").await
    }

    pub async fn ea_versions(&self, project_id: Uuid) -> AppResult<Vec<EaVersion>> {
        self.get(&format!("/ea-projects/{project_id}/versions"))
            .await
    }

    pub async fn ea_version_source(&self, version_id: Uuid) -> AppResult<EaVersionSource> {
        self.get(&format!("/ea-versions/{version_id}/source")).await
    }

    pub async fn set_current_version(
        &self,
        project_id: Uuid,
        version_id: Uuid,
    ) -> AppResult<EaProject> {
        self.call(
            Method::PUT,
            &format!("/ea-projects/{project_id}/current-version"),
            Some(&SetCurrentVersionRequest {
                current_version_id: version_id,
            }),
        )
        .await
    }

    /// `POST /ea-versions/{id}/{route}` with the route's body (`compile`, `deploy`, `test`).
    pub async fn queue_ea_job(
        &self,
        version_id: Uuid,
        route: &str,
        body: &serde_json::Value,
    ) -> AppResult<QueuedJob> {
        if !EA_JOB_ROUTES.contains(&route) {
            return Err(AppError::invalid(format!("unknown EA job type {route:?}")));
        }
        self.call(
            Method::POST,
            &format!("/ea-versions/{version_id}/{route}"),
            Some(body),
        )
        .await
    }
}

/// Maps a non-2xx answer to an [`AppError`] through the server's error body
/// (`{code, message}`), or through the HTTP status when the body is not one.
pub(crate) async fn check(resp: reqwest::Response) -> AppResult<reqwest::Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body: Option<ApiErrorBody> = resp.json().await.ok();
    Err(error_from_answer(status.as_u16(), body))
}

/// The app error for a refusal: the server's code when its body names a known one.
pub fn error_from_answer(status: u16, body: Option<ApiErrorBody>) -> AppError {
    let server_code = body.as_ref().and_then(|b| {
        serde_json::from_value::<ErrorCode>(serde_json::Value::String(b.code.clone())).ok()
    });
    let code = match server_code {
        Some(c) => AppErrorCode::from_server(c),
        None => AppErrorCode::from_status(status),
    };
    let message = body
        .map(|b| b.message)
        .unwrap_or_else(|| format!("HTTP {status}"));
    AppError::new(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str) -> Option<ApiErrorBody> {
        Some(ApiErrorBody {
            code: code.into(),
            message: "m".into(),
        })
    }

    #[test]
    fn the_body_code_wins_over_the_status() {
        assert_eq!(
            error_from_answer(429, body("rate_limited")).code,
            AppErrorCode::RateLimited
        );
        assert_eq!(
            error_from_answer(500, body("unavailable")).code,
            AppErrorCode::Unreachable
        );
        assert_eq!(
            error_from_answer(401, body("unauthorized")).code,
            AppErrorCode::BadKey
        );
        // Unknown body codes and bodies that are not ours fall back to the status.
        assert_eq!(
            error_from_answer(429, body("something_new")).code,
            AppErrorCode::RateLimited
        );
        let e = error_from_answer(502, None);
        assert_eq!(e.code, AppErrorCode::Unreachable);
        assert_eq!(e.message, "HTTP 502");
    }
}
