//! User API: strategies, broker connections, signals, EA projects (issue #4; placeholder).

use axum::Router;

use crate::state::AppState;

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
}
