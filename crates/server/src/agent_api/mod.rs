//! placeholder
use crate::state::AppState;
use axum::Router;
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;
pub fn routes() -> Router<AppState> {
    Router::new()
}
