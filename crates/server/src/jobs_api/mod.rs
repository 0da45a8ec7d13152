//! Jobs API for users (under RLS): create jobs for one of their agents, read one job
//! with its result, list recent jobs, and list their agents with status.

mod agents;
mod jobs;
pub mod validate;

use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// OpenAPI paths of the jobs API.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(jobs::create_job, jobs::get_job, jobs::list_jobs, agents::list_agents),
    tags((name = "jobs", description = "Jobs for the user's agents (user auth, RLS)"))
)]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/jobs", get(jobs::list_jobs).post(jobs::create_job))
        .route("/api/v1/jobs/{id}", get(jobs::get_job))
        .route("/api/v1/agents", get(agents::list_agents))
}
