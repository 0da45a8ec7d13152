//! The Companion backend: agent API and job queue (`agent_api`, `queue`), jobs API for
//! users (`jobs_api`), TradingView webhook (`webhook`), user API (`user_api`), event
//! stream (`events`), stale-job sweeper, admin commands. `router()` assembles it all.

pub mod admin;
pub mod admission;
pub mod agent_api;
pub mod agents;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod extract;
pub mod hub;
pub mod jobs_api;
pub mod openapi;
pub mod prices;
pub mod publish;
pub mod queue;
pub mod state;
pub mod updates;
pub mod user_api;
pub mod webhook;

use std::net::SocketAddr;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

pub use config::Config;
pub use error::ApiError;
pub use state::AppState;

/// Largest request body any route accepts unless it sets its own limit.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/openapi.json", get(openapi_json))
        .merge(agent_api::routes())
        .merge(jobs_api::routes())
        .merge(updates::routes())
        .merge(webhook::routes())
        .merge(user_api::routes())
        .merge(events::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(json_errors))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(
            // Spans name the route template, never the concrete URI (which can hold secrets).
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_else(|| "<unmatched>".into());
                    tracing::info_span!("http", method = %req.method(), route = %route)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .with_state(state)
}

/// Serves `router` on `listener` with client addresses available to handlers
/// (the failed-attempt limiter keys on them).
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses((status = 200, description = "The server and its database answer"),
              (status = 503, description = "The database does not answer")))]
async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    sqlx::query("select 1")
        .execute(&state.db)
        .await
        .map_err(ApiError::Unavailable)?;
    Ok(Json(serde_json::json!({ "status": "ok" })))
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi::document())
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// Turns any error response without a JSON body (405, body-limit 413, ...) into `{code, message}`.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this route".to_string(),
        s => s.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let mut replaced = error::error_response(status, error::code_of(status), message);
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(v) = response.headers().get(&name) {
            replaced.headers_mut().insert(name, v.clone());
        }
    }
    replaced
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    let mut r = error::error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        companion_protocol::ErrorCode::Internal,
        "internal error".into(),
    )
    .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
