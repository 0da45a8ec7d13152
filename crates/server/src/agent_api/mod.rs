//! Agent endpoints under `/api/v1/agents` (DESIGN section 4): pairing and key
//! management (user auth), who-am-I, job long-poll, held jobs, results, heartbeat, prices,
//! closed deals, the accounts of its terminals.

mod accounts;
mod deals;
mod heartbeat;
mod held;
mod jobs;
mod keys;
mod me;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::state::AppState;

/// OpenAPI paths of the agent API.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(keys::pair, keys::rotate_key, keys::delete_agent, me::me, jobs::next_job, held::held_jobs, jobs::post_result,
          heartbeat::heartbeat, heartbeat::prices, deals::deals, accounts::report_account),
    tags((name = "agents", description = "The agent API (X-Agent-Key) and agent management (user auth)"))
)]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/agents/pair", post(keys::pair))
        .route("/api/v1/agents/me", get(me::me))
        .route("/api/v1/agents/{id}", delete(keys::delete_agent))
        .route("/api/v1/agents/{id}/rotate-key", post(keys::rotate_key))
        .route("/api/v1/agents/{id}/jobs/next", get(jobs::next_job))
        .route("/api/v1/agents/{id}/jobs/held", get(held::held_jobs))
        .route(
            "/api/v1/agents/{id}/jobs/{job_id}/result",
            post(jobs::post_result),
        )
        .route("/api/v1/agents/{id}/heartbeat", post(heartbeat::heartbeat))
        .route("/api/v1/agents/{id}/prices", post(heartbeat::prices))
        .route("/api/v1/agents/{id}/deals", post(deals::deals))
        .route(
            "/api/v1/agents/{id}/accounts",
            post(accounts::report_account),
        )
}
