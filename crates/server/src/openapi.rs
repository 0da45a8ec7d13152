//! The OpenAPI document at `/api/v1/openapi.json`: the root paths plus every module's
//! own `ApiDoc`, merged.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Companion server API", description = "Agent API, job queue, user API and TradingView webhook of the Companion backend. Every error is JSON `{code, message}`."),
    paths(crate::healthz),
    modifiers(&SecuritySchemes)
)]
struct RootDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "agent_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(
                companion_protocol::AGENT_KEY_HEADER,
            ))),
        );
        components.add_security_scheme(
            "user_jwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The full document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = RootDoc::openapi();
    doc.merge(crate::agent_api::ApiDoc::openapi());
    doc.merge(crate::jobs_api::ApiDoc::openapi());
    doc.merge(crate::updates::ApiDoc::openapi());
    doc.merge(crate::webhook::ApiDoc::openapi());
    doc.merge(crate::user_api::ApiDoc::openapi());
    doc.merge(crate::events::ApiDoc::openapi());
    doc
}
