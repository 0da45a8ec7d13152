//! HTTP client for the agent API (`/api/v1/agents/...`, DESIGN section 4):
//! who-am-I, long-poll claim, result, heartbeat, prices. Every request carries
//! `X-Agent-Key`; errors are typed so the runtime knows whether to retry,
//! drop, or stop and ask the user to re-pair. The key only travels over https (plain
//! http is accepted for loopback servers only), and no redirect is ever followed:
//! every request of this client carries the key, and a redirect could carry it to
//! another host.

use std::time::Duration;

use companion_protocol::{
    AgentMe, ApiErrorBody, ClaimedJob, DealsAccepted, DealsReport, HeartbeatRequest,
    JobResultRequest, PricesRequest, ResultAck, AGENT_ID_HEADER, AGENT_KEY_HEADER,
};
use reqwest::StatusCode;
use uuid::Uuid;

use crate::secret::AgentKey;

/// Why an API call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// 401/403: the key is wrong, revoked, or belongs to another agent. Stop and re-pair.
    #[error(
        "the server refused the pairing key ({message}); pair again with `companion-agent pair`"
    )]
    BadKey { status: u16, message: String },
    /// The server could not be reached or answered 5xx/timeout: retry with backoff.
    #[error("server unreachable: {0}")]
    Unreachable(String),
    /// 409: a conflicting result, or a job that is not (or no longer) ours.
    #[error("server refused with 409 {code}: {message}")]
    Conflict { code: String, message: String },
    /// The server URL would send the key in clear (http to a non-loopback host), or is
    /// not an http(s) URL at all.
    #[error("{0}")]
    InsecureServer(String),
    /// Any other refusal (4xx) or an answer we cannot read.
    #[error("server error {status} {code}: {message}")]
    Other {
        status: u16,
        code: String,
        message: String,
    },
}

impl ClientError {
    /// Worth retrying later (network, 5xx, 429).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ClientError::Unreachable(_))
    }
}

/// Agent API client. Cheap to clone.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    key: AgentKey,
    agent_id: Option<Uuid>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .field("key", &self.key)
            .field("agent_id", &self.agent_id)
            .finish()
    }
}

/// Normalises a server URL to its API root: `http://h:p` → `http://h:p/api/v1`.
pub fn api_root(server: &str) -> String {
    let s = server.trim().trim_end_matches('/');
    if s.ends_with("/api/v1") {
        s.to_string()
    } else {
        format!("{s}/api/v1")
    }
}

/// Refuses a server URL the key must not be sent to: anything but `https://`, except
/// `http://` to a loopback host (`127.0.0.0/8`, `::1`, `localhost`).
pub fn check_server_url(server: &str) -> Result<(), ClientError> {
    let url = reqwest::Url::parse(&api_root(server)).map_err(|e| {
        ClientError::InsecureServer(format!(
            "the server URL {server:?} is not a valid URL ({e}); use https://host[:port]"
        ))
    })?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(ClientError::InsecureServer(format!(
            "refusing to send the pairing key to {} over plain http: anyone on the network could read it. Use https:// (plain http is accepted for loopback servers only)",
            url.host_str().unwrap_or("?")
        ))),
        other => Err(ClientError::InsecureServer(format!(
            "unsupported server URL scheme {other:?}: use https://host[:port]"
        ))),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

impl ApiClient {
    /// A client for `server`; refused when the key would travel in clear
    /// ([`check_server_url`]). Redirects are never followed.
    pub fn new(server: &str, key: AgentKey) -> Result<Self, ClientError> {
        check_server_url(server)?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("companion-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Other {
                status: 0,
                code: "client".into(),
                message: e.to_string(),
            })?;
        Ok(ApiClient {
            http,
            base: api_root(server),
            key,
            agent_id: None,
        })
    }

    /// Sets the agent id used in paths and `X-Agent-Id`.
    pub fn with_agent_id(mut self, id: Uuid) -> Self {
        self.agent_id = Some(id);
        self
    }

    pub fn agent_id(&self) -> Option<Uuid> {
        self.agent_id
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn id(&self) -> Result<Uuid, ClientError> {
        self.agent_id.ok_or_else(|| ClientError::Other {
            status: 0,
            code: "not_paired".into(),
            message: "no agent id: call /agents/me first (pair)".into(),
        })
    }

    pub(crate) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header(AGENT_KEY_HEADER, self.key.expose());
        if let Some(id) = self.agent_id {
            rb = rb.header(AGENT_ID_HEADER, id.to_string());
        }
        rb
    }

    /// `GET /agents/me`: checks the key and tells who we are.
    pub async fn me(&self) -> Result<AgentMe, ClientError> {
        let resp = send(
            self.request(reqwest::Method::GET, "/agents/me")
                .timeout(Duration::from_secs(15)),
        )
        .await?;
        decode(resp).await
    }

    /// `GET /agents/{id}/jobs/next?wait=N`: a claimed job, or `None` when the
    /// queue stayed empty (204, or the older 200 `{"no_jobs": true}`).
    pub async fn next_job(&self, wait_secs: u64) -> Result<Option<ClaimedJob>, ClientError> {
        let path = format!("/agents/{}/jobs/next?wait={wait_secs}", self.id()?);
        let resp = send(
            self.request(reqwest::Method::GET, &path)
                .timeout(Duration::from_secs(wait_secs + 15)),
        )
        .await?;
        if resp.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let value: serde_json::Value = decode(resp).await?;
        parse_next_job(value)
    }

    /// `GET /agents/{id}/jobs/held`: the running jobs the server believes this agent
    /// holds (claimed by it, no result yet), oldest claim first.
    pub async fn held_jobs(&self) -> Result<Vec<ClaimedJob>, ClientError> {
        let path = format!("/agents/{}/jobs/held", self.id()?);
        let resp = send(
            self.request(reqwest::Method::GET, &path)
                .timeout(Duration::from_secs(20)),
        )
        .await?;
        decode(resp).await
    }

    /// `POST /agents/{id}/jobs/{job}/result`. 200 (including a duplicate) is an acknowledgement.
    pub async fn post_result(
        &self,
        job_id: Uuid,
        result: &JobResultRequest,
    ) -> Result<ResultAck, ClientError> {
        let path = format!("/agents/{}/jobs/{job_id}/result", self.id()?);
        let resp = send(
            self.request(reqwest::Method::POST, &path)
                .timeout(Duration::from_secs(20))
                .json(result),
        )
        .await?;
        decode(resp).await
    }

    /// `POST /agents/{id}/heartbeat`.
    pub async fn heartbeat(&self, hb: &HeartbeatRequest) -> Result<(), ClientError> {
        let path = format!("/agents/{}/heartbeat", self.id()?);
        let resp = send(
            self.request(reqwest::Method::POST, &path)
                .timeout(Duration::from_secs(10))
                .json(hb),
        )
        .await?;
        check(resp).await.map(|_| ())
    }

    /// `POST /agents/{id}/accounts`: a terminal's account (login @ server); the
    /// answer names the broker connection its jobs carry.
    pub async fn report_account(
        &self,
        report: &companion_protocol::AccountReport,
    ) -> Result<companion_protocol::AccountBinding, ClientError> {
        let path = format!("/agents/{}/accounts", self.id()?);
        let resp = send(
            self.request(reqwest::Method::POST, &path)
                .timeout(Duration::from_secs(15))
                .json(report),
        )
        .await?;
        decode(resp).await
    }

    /// `GET /broker-connections/{id}/symbol-overrides` (user API, with the agent
    /// key): the trader's broker symbols for canonical instruments.
    pub async fn symbol_overrides(
        &self,
        connection: Uuid,
    ) -> Result<Vec<companion_protocol::symbols::SymbolOverride>, ClientError> {
        let path = format!("/broker-connections/{connection}/symbol-overrides");
        let resp = send(
            self.request(reqwest::Method::GET, &path)
                .timeout(Duration::from_secs(15)),
        )
        .await?;
        decode(resp).await
    }

    /// `POST /agents/{id}/deals`: closed deals read from the terminal.
    pub async fn post_deals(&self, report: &DealsReport) -> Result<DealsAccepted, ClientError> {
        let path = format!("/agents/{}/deals", self.id()?);
        let resp = send(
            self.request(reqwest::Method::POST, &path)
                .timeout(Duration::from_secs(15))
                .json(report),
        )
        .await?;
        decode(resp).await
    }

    /// `POST /agents/{id}/prices`.
    pub async fn push_prices(&self, prices: &PricesRequest) -> Result<(), ClientError> {
        let path = format!("/agents/{}/prices", self.id()?);
        let resp = send(
            self.request(reqwest::Method::POST, &path)
                .timeout(Duration::from_secs(5))
                .json(prices),
        )
        .await?;
        check(resp).await.map(|_| ())
    }
}

/// Reads a 200 body of `jobs/next`: a job, or the legacy "no jobs" marker.
pub fn parse_next_job(value: serde_json::Value) -> Result<Option<ClaimedJob>, ClientError> {
    if value.get("no_jobs").and_then(|v| v.as_bool()) == Some(true) || value.is_null() {
        return Ok(None);
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| ClientError::Other {
            status: 200,
            code: "decode".into(),
            message: format!("unreadable job from server: {e}"),
        })
}

pub(crate) async fn send(rb: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
    rb.send().await.map_err(|e| {
        // Do not echo the URL-less reqwest error chain beyond its description; it holds no secret.
        ClientError::Unreachable(e.without_url().to_string())
    })
}

/// Maps a non-success status to a `ClientError`.
pub(crate) async fn check(resp: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = resp.text().await.unwrap_or_default();
    let body: Option<ApiErrorBody> = serde_json::from_str(&text).ok();
    let (code, message) = match body {
        Some(b) => (b.code, b.message),
        None => (String::new(), text.chars().take(300).collect()),
    };
    if status.is_redirection() {
        // Not followed: it would carry X-Agent-Key wherever it points.
        return Err(ClientError::Other {
            status: status.as_u16(),
            code: "redirect".into(),
            message: format!(
                "the server answered a redirect ({status}{}); authenticated requests do not follow redirects: configure the server's final https URL",
                location.map(|l| format!(" to {l}")).unwrap_or_default()
            ),
        });
    }
    Err(match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ClientError::BadKey {
            status: status.as_u16(),
            message,
        },
        StatusCode::CONFLICT => ClientError::Conflict { code, message },
        s if s.is_server_error()
            || s == StatusCode::TOO_MANY_REQUESTS
            || s == StatusCode::REQUEST_TIMEOUT =>
        {
            ClientError::Unreachable(format!("{} {code}: {message}", s.as_u16()))
        }
        s => ClientError::Other {
            status: s.as_u16(),
            code,
            message,
        },
    })
}

pub(crate) async fn decode<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
) -> Result<T, ClientError> {
    let resp = check(resp).await?;
    let status = resp.status().as_u16();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| ClientError::Unreachable(e.without_url().to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Other {
        status,
        code: "decode".into(),
        message: format!("unreadable answer from server: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_key_goes_over_https_or_to_loopback_only() {
        for ok in [
            "https://companion.example.com",
            "https://10.0.0.5:8443/api/v1",
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://[::1]:8080/",
            "http://localhost:8080",
        ] {
            assert!(check_server_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://companion.example.com",
            "http://10.0.0.5:8080",
            "http://[fe80::1]/",
            "http://localhost.evil.example",
            "ftp://companion.example.com",
            "not a url",
        ] {
            let err = check_server_url(bad).unwrap_err();
            assert!(
                matches!(err, ClientError::InsecureServer(_)),
                "{bad}: {err}"
            );
        }
        let msg = check_server_url("http://companion.example.com")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("https") && msg.contains("loopback"), "{msg}");
        assert!(ApiClient::new("http://companion.example.com", AgentKey::new("pk_x")).is_err());
    }

    /// A redirect is answered as an error, never followed (it would carry the key).
    #[tokio::test]
    async fn redirects_are_not_followed() {
        use axum::routing::get;
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = hits.clone();
        let app = axum::Router::new()
            .route(
                "/api/v1/agents/me",
                get(|| async {
                    (
                        axum::http::StatusCode::TEMPORARY_REDIRECT,
                        [(axum::http::header::LOCATION, "/elsewhere")],
                    )
                }),
            )
            .route(
                "/elsewhere",
                get(move || {
                    seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    async { "{}" }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = ApiClient::new(&format!("http://{addr}"), AgentKey::new("pk_x")).unwrap();
        let err = client.me().await.unwrap_err();
        assert!(err.to_string().contains("redirect"), "{err}");
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[test]
    fn api_root_normalises() {
        assert_eq!(api_root("http://h:1"), "http://h:1/api/v1");
        assert_eq!(api_root("http://h:1/"), "http://h:1/api/v1");
        assert_eq!(api_root("http://h:1/api/v1/"), "http://h:1/api/v1");
    }

    #[test]
    fn legacy_no_jobs_and_a_job_parse() {
        assert_eq!(parse_next_job(json!({"no_jobs": true})).unwrap(), None);
        let id = Uuid::new_v4();
        let j = parse_next_job(json!({"job_id": id, "job_type": "get_account", "input_data": {}, "attempt": 1, "expires_at": null}))
            .unwrap()
            .unwrap();
        assert_eq!(j.job_id, id);
        assert!(parse_next_job(json!({"job_type": "nope"})).is_err());
    }

    #[test]
    fn debug_of_client_redacts_the_key() {
        let c = ApiClient::new("http://127.0.0.1:1", AgentKey::new("pk_12345678SECRET")).unwrap();
        assert!(!format!("{c:?}").contains("SECRET"));
    }
}

#[cfg(test)]
mod http_tests {
    //! Status-code handling against a minimal HTTP responder (the legacy
    //! `{"no_jobs": true}` answer only exists on older servers).
    use super::*;
    use axum::http::StatusCode as S;
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde_json::json;

    async fn serve(app: Router) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn statuses_map_to_typed_errors_and_empty_queues() {
        let id = Uuid::new_v4();
        let app = Router::new()
            .route(
                &format!("/api/v1/agents/{id}/jobs/next"),
                get(|| async { Json(json!({"no_jobs": true})) }),
            )
            .route(
                "/api/v1/agents/me",
                get(|| async {
                    (
                        S::UNAUTHORIZED,
                        Json(json!({"code": "unauthorized", "message": "bad key"})),
                    )
                }),
            )
            .route(
                &format!("/api/v1/agents/{id}/jobs/{{job}}/result"),
                post(|| async {
                    (
                        S::CONFLICT,
                        Json(json!({"code": "conflict", "message": "different result"})),
                    )
                }),
            )
            .route(
                &format!("/api/v1/agents/{id}/heartbeat"),
                post(|| async { S::SERVICE_UNAVAILABLE }),
            );
        let base = serve(app).await;
        let c = ApiClient::new(&base, AgentKey::new("pk_test"))
            .unwrap()
            .with_agent_id(id);
        assert_eq!(c.next_job(0).await.unwrap(), None);
        assert!(matches!(
            c.me().await,
            Err(ClientError::BadKey { status: 401, .. })
        ));
        let r = JobResultRequest {
            status: companion_protocol::ResultStatus::Completed,
            output_data: None,
            error_message: None,
        };
        assert!(matches!(
            c.post_result(Uuid::new_v4(), &r).await,
            Err(ClientError::Conflict { .. })
        ));
        let hb = HeartbeatRequest {
            status: companion_protocol::AgentStatus::Online,
            app_version: "t".into(),
            terminal: None,
            running_jobs: vec![],
        };
        assert!(c.heartbeat(&hb).await.unwrap_err().is_retryable());
        let down = ApiClient::new("http://127.0.0.1:1", AgentKey::new("pk_test"))
            .unwrap()
            .with_agent_id(id);
        assert!(down.next_job(0).await.unwrap_err().is_retryable());
    }
}
