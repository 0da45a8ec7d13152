//! The JSON error body of every HTTP error: a stable machine code and a human message.

use serde::{Deserialize, Serialize};

/// `{"code": "...", "message": "..."}` — the only error shape the server emits.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    pub code: String,
    pub message: String,
}

/// Stable error codes. Clients match on these, never on messages.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No credentials, or credentials that do not verify.
    Unauthorized,
    /// Valid credentials that may not act on this resource.
    Forbidden,
    NotFound,
    /// The request body or parameters are invalid.
    InvalidRequest,
    /// A conflicting state: a different result for a finished job, a duplicate.
    Conflict,
    /// Too many failed attempts or requests.
    RateLimited,
    PayloadTooLarge,
    /// The job's deadline passed; it was not executed.
    Expired,
    /// The server could not reach its database or another dependency.
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::Conflict => "conflict",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Expired => "expired",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
