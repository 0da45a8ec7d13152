//! User authentication: `Authorization: Bearer <Supabase JWT>` (HS256, audience
//! `authenticated`) or an agent key acting for its owner.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::{decode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::agent;
use crate::error::ApiError;
use crate::state::AppState;

/// How the user proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthVia {
    Jwt,
    /// An agent key acting for its owner.
    Agent(Uuid),
}

/// An authenticated user. Every query made for them runs under RLS (`AppState::user_tx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserAuth {
    pub user_id: Uuid,
    pub via: AuthVia,
    /// When the credential stops being valid (a JWT's `exp`, Unix seconds); `None`
    /// for agent keys (valid until rotated or deleted).
    pub expires_at: Option<i64>,
}

impl UserAuth {
    /// Refuses an agent key: `what` needs the user's own sign-in (agent-key scopes,
    /// docs/api.md "Security model").
    pub fn require_user_token(&self, what: &str) -> Result<(), ApiError> {
        match self.via {
            AuthVia::Jwt => Ok(()),
            AuthVia::Agent(_) => Err(ApiError::Forbidden(format!(
                "an agent key cannot {what}: sign in as the user"
            ))),
        }
    }

    /// Refuses an agent key acting on another agent than itself.
    pub fn require_self_or_user(&self, agent_id: Uuid, what: &str) -> Result<(), ApiError> {
        match self.via {
            AuthVia::Agent(me) if me != agent_id => Err(ApiError::Forbidden(format!(
                "an agent key can only {what} its own agent"
            ))),
            _ => Ok(()),
        }
    }
}

/// The JWT claims we read (Supabase access tokens carry more).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// Audience Supabase puts in user access tokens.
pub const AUDIENCE: &str = "authenticated";

/// The one message of every refused user token: what exactly was wrong stays in the
/// server log, never in the response.
pub const INVALID_TOKEN: &str = "invalid token";

/// Verifies a Supabase access token (signature, HS256, audience, `exp`, `nbf`) and
/// returns the user id and the token's expiry.
pub fn verify_jwt_claims(token: &str, secret: &str) -> Result<(Uuid, i64), ApiError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "sub", "aud"]);
    validation.validate_nbf = true;
    let data = decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|e| {
        tracing::info!(reason = %e, "user token refused");
        ApiError::Unauthorized(INVALID_TOKEN.into())
    })?;
    let user_id = data.claims.sub.parse().map_err(|_| {
        tracing::info!("user token refused: subject is not a user id");
        ApiError::Unauthorized(INVALID_TOKEN.into())
    })?;
    Ok((user_id, data.claims.exp))
}

/// Verifies a Supabase access token and returns the user id.
pub fn verify_jwt(token: &str, secret: &str) -> Result<Uuid, ApiError> {
    verify_jwt_claims(token, secret).map(|(user, _)| user)
}

/// Signs a user access token the way Supabase does (admin CLI, tests, demo).
pub fn sign_jwt(
    user_id: Uuid,
    secret: &str,
    ttl_secs: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let claims = Claims {
        sub: user_id.to_string(),
        aud: AUDIENCE.to_string(),
        exp: chrono::Utc::now().timestamp() + ttl_secs,
        nbf: None,
        role: Some("authenticated".into()),
        email: None,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

impl FromRequestParts<AppState> for UserAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(value) = parts.headers.get(AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim)
                .ok_or_else(|| {
                    ApiError::Unauthorized("expected Authorization: Bearer <token>".into())
                })?;
            let secret = state.config.supabase_jwt_secret.as_ref().ok_or_else(|| {
                ApiError::Unauthorized(
                    "this server accepts no user tokens (SUPABASE_JWT_SECRET unset)".into(),
                )
            })?;
            let (user_id, exp) = verify_jwt_claims(token, secret.expose())?;
            return Ok(UserAuth {
                user_id,
                via: AuthVia::Jwt,
                expires_at: Some(exp),
            });
        }
        match agent::authenticate(parts, state).await? {
            Some(a) => Ok(UserAuth {
                user_id: a.user_id,
                via: AuthVia::Agent(a.agent_id),
                expires_at: None,
            }),
            None => Err(ApiError::Unauthorized(
                "missing credentials: send Authorization: Bearer <token> or X-Agent-Key".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_wrong_secrets_fail() {
        let user = Uuid::new_v4();
        let token = sign_jwt(user, "s3cret", 60).unwrap();
        assert_eq!(verify_jwt(&token, "s3cret").unwrap(), user);
        assert!(verify_jwt(&token, "other").is_err());
        let expired = sign_jwt(user, "s3cret", -3600).unwrap();
        assert!(verify_jwt(&expired, "s3cret").is_err());
    }

    #[test]
    fn not_yet_valid_tokens_fail_and_errors_say_only_invalid_token() {
        let user = Uuid::new_v4();
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user.to_string(),
            aud: AUDIENCE.into(),
            exp: now + 3600,
            nbf: Some(now + 600),
            role: None,
            email: None,
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        let err = verify_jwt(&token, "s3cret").unwrap_err();
        assert_eq!(err.to_string(), INVALID_TOKEN);
        assert_eq!(
            verify_jwt(&token, "other").unwrap_err().to_string(),
            INVALID_TOKEN
        );
    }
}
