//! The TradingView webhook: `POST /api/v1/webhooks/tv/{webhook_secret}`.
//! `parse` reads alert messages, `pineconnector` the PineConnector dialect,
//! `sizing` sizes orders, `dedup` recognises repeats,
//! `decide` turns a signal into a job input or a discard reason, `understood` says
//! it in words, `ingest` logs the
//! request and queues the job, `limit` rate-limits per strategy.
//! Formats, discard reasons and rules: docs/webhook.md.

pub mod decide;
pub mod dedup;
pub mod ingest;
pub mod limit;
pub mod parse;
pub mod pineconnector;
pub mod sizing;
pub mod stop_rules;
pub mod store;
pub mod understood;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::post;
use axum::{Extension, Json, Router};
use companion_protocol::WebhookResponse;

use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;

pub use limit::WebhookLimiter;

/// Largest accepted alert body; TradingView's own limit is far below this.
pub const MAX_WEBHOOK_BODY: usize = 64 * 1024;
/// Longest secret looked up (generated secrets are 40 characters).
const MAX_SECRET_LEN: usize = 128;

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(receive), components(schemas(WebhookResponseDoc)))]
pub struct ApiDoc;

/// `{signal_id, status, reason?}` (schema of `companion_protocol::WebhookResponse`).
#[derive(utoipa::ToSchema)]
#[schema(as = WebhookResponse)]
#[allow(dead_code)]
struct WebhookResponseDoc {
    signal_id: uuid::Uuid,
    /// `pending` (a job was queued) or `discarded`.
    #[schema(example = "pending")]
    status: String,
    /// For `discarded`: `code: message` (docs/webhook.md lists the codes).
    reason: Option<String>,
}

/// The webhook route, with its own body limit and a per-strategy rate limit
/// (`WEBHOOK_RATE_PER_MIN`, `WEBHOOK_RATE_BURST`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/webhooks/tv/{webhook_secret}", post(receive))
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
        .layer(Extension(WebhookLimiter::from_env()))
}

/// Receives a TradingView alert. Every request for a known strategy is logged in
/// `tv_signals`; the answer says whether a job was queued.
#[utoipa::path(post, path = "/api/v1/webhooks/tv/{webhook_secret}", tag = "webhook",
    params(("webhook_secret" = String, Path, description = "The strategy's secret (part of its webhook URL)")),
    request_body(content = String, description = "The alert message: JSON, `buy EURUSD`, `<id>,buy,EURUSD,risk=1,sl=20,tp=40`, ...", content_type = "text/plain"),
    responses(
        (status = 200, description = "Logged: `pending` (job queued) or `discarded` with the reason", body = WebhookResponseDoc),
        (status = 404, description = "No strategy has this secret (nothing is logged)", body = crate::user_api::ErrorDoc),
        (status = 413, description = "Body over 64 KiB (nothing is logged)"),
        (status = 429, description = "Too many requests for this strategy (nothing is logged)"),
    ))]
pub async fn receive(
    State(state): State<AppState>,
    Extension(limiter): Extension<WebhookLimiter>,
    ApiPath(secret): ApiPath<String>,
    body: Bytes,
) -> Result<Json<WebhookResponse>, ApiError> {
    let plausible = !secret.is_empty()
        && secret.len() <= MAX_SECRET_LEN
        && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    let strategy = if plausible {
        ingest::find_strategy(&state.db, &secret).await?
    } else {
        None
    };
    let Some(strategy) = strategy else {
        return Err(ApiError::NotFound("not found".into()));
    };
    if let Err(wait) = limiter.check(strategy.id) {
        return Err(ApiError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let response = ingest::ingest(
        &state.db,
        &state.publisher,
        &strategy,
        &body,
        state.config.trade_ttl_secs,
    )
    .await?;
    Ok(Json(response))
}
