//! The one error type the webview sees: `{code, message}` with stable codes
//! (mirrored by `ErrorCode` in `ui/src/lib/api.ts`).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AppError {
    pub code: &'static str,
    pub message: String,
}

impl AppError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
        }
    }
    pub fn not_paired() -> Self {
        Self::new(
            "not_paired",
            "This computer is not paired yet. Paste a pairing key first.",
        )
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("invalid_request", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new("internal", message)
    }
}

pub type AppResult<T> = Result<T, AppError>;
