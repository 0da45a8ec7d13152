//! The one error the desktop app's webview sees: `{code, message}` with a stable
//! [`AppErrorCode`]. Server refusals map from the server's own
//! [`companion_protocol::ErrorCode`] (exhaustively); transport failures, the keychain
//! and the config map here too. The Tauri shell only serialises it.

use companion_protocol::ErrorCode;
use serde::Serialize;

use crate::config::ConfigError;
use crate::secret::SecretError;

/// Stable error codes of the app's IPC boundary. The UI matches on these, never on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum AppErrorCode {
    /// The server refused the pairing key (wrong, revoked): pair again.
    BadKey,
    /// The server cannot be reached, or it cannot reach its own dependencies (503).
    Unreachable,
    /// Too many requests or failed attempts: wait and try again.
    RateLimited,
    /// No OS keychain to keep the pairing key in.
    NoKeychain,
    NotPaired,
    TerminalOffline,
    InvalidRequest,
    NotFound,
    Forbidden,
    Conflict,
    /// The job's deadline passed before an agent ran it.
    Expired,
    Timeout,
    JobFailed,
    Update,
    /// Setting the bridge EA up in a terminal failed (no MetaEditor, compile error).
    TerminalSetup,
    Internal,
}

impl AppErrorCode {
    /// The app code for a code in the server's error body. Exhaustive: a new server code
    /// does not compile until it is mapped here.
    pub fn from_server(code: ErrorCode) -> Self {
        match code {
            ErrorCode::Unauthorized => AppErrorCode::BadKey,
            ErrorCode::Forbidden => AppErrorCode::Forbidden,
            ErrorCode::NotFound => AppErrorCode::NotFound,
            ErrorCode::InvalidRequest | ErrorCode::PayloadTooLarge => AppErrorCode::InvalidRequest,
            ErrorCode::Conflict => AppErrorCode::Conflict,
            ErrorCode::RateLimited => AppErrorCode::RateLimited,
            ErrorCode::Expired => AppErrorCode::Expired,
            ErrorCode::Unavailable => AppErrorCode::Unreachable,
            ErrorCode::Internal => AppErrorCode::Internal,
        }
    }

    /// The server's code for an HTTP status, for answers whose body is not the
    /// server's error body (a proxy's page, an empty body).
    pub fn from_status(status: u16) -> Self {
        let server = match status {
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            409 => ErrorCode::Conflict,
            410 => ErrorCode::Expired,
            413 => ErrorCode::PayloadTooLarge,
            429 => ErrorCode::RateLimited,
            400 | 422 => ErrorCode::InvalidRequest,
            502..=504 => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        };
        Self::from_server(server)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AppErrorCode::BadKey => "bad_key",
            AppErrorCode::Unreachable => "unreachable",
            AppErrorCode::RateLimited => "rate_limited",
            AppErrorCode::NoKeychain => "no_keychain",
            AppErrorCode::NotPaired => "not_paired",
            AppErrorCode::TerminalOffline => "terminal_offline",
            AppErrorCode::InvalidRequest => "invalid_request",
            AppErrorCode::NotFound => "not_found",
            AppErrorCode::Forbidden => "forbidden",
            AppErrorCode::Conflict => "conflict",
            AppErrorCode::Expired => "expired",
            AppErrorCode::Timeout => "timeout",
            AppErrorCode::JobFailed => "job_failed",
            AppErrorCode::Update => "update",
            AppErrorCode::TerminalSetup => "terminal_setup",
            AppErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for AppErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{code, message}`: what every app command fails with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[error("{code}: {message}")]
pub struct AppError {
    pub code: AppErrorCode,
    pub message: String,
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(code: AppErrorCode, message: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
        }
    }
    pub fn not_paired() -> Self {
        Self::new(
            AppErrorCode::NotPaired,
            "This computer is not paired yet. Paste a pairing key first.",
        )
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(AppErrorCode::InvalidRequest, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(AppErrorCode::Internal, message)
    }
}

impl From<SecretError> for AppError {
    fn from(e: SecretError) -> Self {
        match e {
            SecretError::Unavailable(_) => AppError::new(AppErrorCode::NoKeychain, e.to_string()),
            SecretError::Failed(_) => AppError::internal(e.to_string()),
        }
    }
}

impl From<ConfigError> for AppError {
    fn from(e: ConfigError) -> Self {
        AppError::internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_SERVER_CODES: [ErrorCode; 10] = [
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::InvalidRequest,
        ErrorCode::Conflict,
        ErrorCode::RateLimited,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Expired,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    #[test]
    fn every_server_code_has_its_app_code() {
        let mapped: Vec<_> = ALL_SERVER_CODES
            .iter()
            .map(|c| AppErrorCode::from_server(*c).as_str())
            .collect();
        assert_eq!(
            mapped,
            [
                "bad_key",
                "forbidden",
                "not_found",
                "invalid_request",
                "conflict",
                "rate_limited",
                "invalid_request",
                "expired",
                "unreachable",
                "internal"
            ]
        );
    }

    #[test]
    fn a_429_is_rate_limited_not_unreachable() {
        assert_eq!(AppErrorCode::from_status(429), AppErrorCode::RateLimited);
        assert_eq!(AppErrorCode::from_status(401), AppErrorCode::BadKey);
        assert_eq!(AppErrorCode::from_status(503), AppErrorCode::Unreachable);
        assert_eq!(AppErrorCode::from_status(500), AppErrorCode::Internal);
        assert_eq!(AppErrorCode::from_status(418), AppErrorCode::Internal);
    }

    #[test]
    fn serialises_as_code_and_message_and_the_code_as_its_string() {
        let e = AppError::new(AppErrorCode::RateLimited, "slow down");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"code": "rate_limited", "message": "slow down"})
        );
        assert_eq!(
            serde_json::to_value(AppErrorCode::BadKey).unwrap(),
            AppErrorCode::BadKey.as_str()
        );
    }

    #[test]
    fn no_keychain_maps_to_its_own_code() {
        let e = AppError::from(SecretError::Unavailable("no default store".into()));
        assert_eq!(e.code, AppErrorCode::NoKeychain);
        assert!(e.message.contains("COMPANION_AGENT_KEY"));
    }
}
