//! Agent authentication by `X-Agent-Key`: prefix lookup, bcrypt verification of every
//! candidate, a verification cache keyed by the key's SHA-256 (short TTL, dropped at
//! once on rotation/revocation through this server, and re-checked against the stored
//! hash at most every [`RECHECK_AFTER`], so a rotation or deletion made by any other
//! writer takes effect within that), and failure limiting per client address and key
//! prefix (counted before bcrypt runs; a key verified before is never limited, so one
//! client's bad keys never lock out another's valid key). A stored hash whose bcrypt
//! cost is above the server's own is refused without being verified (a user must not
//! choose what a key check costs). Its database reads queue behind the [`AgentGate`]
//! (bcrypt runs outside it).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use companion_protocol::{AGENT_ID_HEADER, AGENT_KEY_HEADER};
use moka::sync::Cache;
use sqlx::PgPool;
use uuid::Uuid;

use super::client_ip;
use super::keys;
use super::rate_limit::FailureLimiter;
use crate::admission::AgentGate;
use crate::error::ApiError;
use crate::state::AppState;
use tokio::sync::OwnedSemaphorePermit;

/// An authenticated agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentAuth {
    pub agent_id: Uuid,
    /// The agent's owner.
    pub user_id: Uuid,
}

impl AgentAuth {
    /// Refuses a request whose path names another agent than the key's.
    pub fn require(&self, agent_id: Uuid) -> Result<(), ApiError> {
        if self.agent_id == agent_id {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this key belongs to another agent".into(),
            ))
        }
    }
}

/// How long a cached verification is trusted before the stored hash is re-read.
pub const RECHECK_AFTER: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct Verified {
    agent_id: Uuid,
    user_id: Uuid,
    /// The bcrypt hash the key verified against; a changed hash means a new key.
    hash: String,
    /// When the stored hash was last seen equal to `hash` (ms since [`epoch`]).
    checked_ms: Arc<AtomicU64>,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64
}

/// Verifies pairing keys; shared by every request through `AppState`.
#[derive(Clone)]
pub struct KeyVerifier {
    cache: Cache<[u8; 32], Verified>,
    limiter: FailureLimiter,
    /// Admission for the database reads (none: straight to the pool).
    gate: Option<AgentGate>,
    /// Highest bcrypt cost a stored hash may have to be verified.
    max_cost: u32,
    /// Agents whose keys were rotated or that were deleted through this server.
    revoked: tokio::sync::broadcast::Sender<Uuid>,
}

impl KeyVerifier {
    /// `cache_idle`: a verified key not used for this long must be verified again.
    pub fn new(cache_idle: Duration, limiter: FailureLimiter) -> Self {
        KeyVerifier {
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(cache_idle)
                .support_invalidation_closures()
                .build(),
            limiter,
            gate: None,
            max_cost: bcrypt::DEFAULT_COST,
            revoked: tokio::sync::broadcast::channel(256).0,
        }
    }

    /// Refuses stored hashes whose bcrypt cost is above `cost` (the server's own).
    pub fn with_max_cost(mut self, cost: u32) -> Self {
        self.max_cost = cost;
        self
    }

    /// Agent ids whose keys stop working (rotation, deletion through this server).
    pub fn revocations(&self) -> tokio::sync::broadcast::Receiver<Uuid> {
        self.revoked.subscribe()
    }

    /// Queues this verifier's database reads behind `gate`.
    pub fn with_gate(mut self, gate: AgentGate) -> Self {
        self.gate = Some(gate);
        self
    }

    async fn admit(&self) -> Result<Option<OwnedSemaphorePermit>, ApiError> {
        match &self.gate {
            Some(g) => g.enter().await.map(Some),
            None => Ok(None),
        }
    }

    /// Drops every cached verification of `agent_id` (rotation, revocation).
    pub fn forget_agent(&self, agent_id: Uuid) {
        // Only fails when closures are not supported, which they are.
        let _ = self
            .cache
            .invalidate_entries_if(move |_, v| v.agent_id == agent_id);
        // No receiver (no open stream) is fine.
        let _ = self.revoked.send(agent_id);
    }

    /// True while `key` is still `agent_id`'s key (a long-lived stream re-checks with
    /// this): a cached verification whose stored hash is unchanged, else a bcrypt check
    /// against the stored hash (with the cost limit).
    pub async fn still_valid(
        &self,
        db: &PgPool,
        agent_id: Uuid,
        key: &str,
    ) -> Result<bool, ApiError> {
        if !keys::looks_valid(key) {
            return Ok(false);
        }
        let stored: Option<String> =
            sqlx::query_scalar("select pairing_key_hash from mt5_agents where id = $1")
                .bind(agent_id)
                .fetch_optional(db)
                .await?;
        let Some(hash) = stored else {
            return Ok(false);
        };
        if let Some(hit) = self.cache.get(&keys::digest(key)) {
            return Ok(hit.agent_id == agent_id && hit.hash == hash);
        }
        if keys::cost_of(&hash).is_none_or(|c| c > self.max_cost) {
            return Ok(false);
        }
        let key = key.to_string();
        tokio::task::spawn_blocking(move || keys::verify(&key, &hash))
            .await
            .map_err(ApiError::internal)
    }

    /// Verifies `key` for a request from `ip`.
    pub async fn verify(&self, db: &PgPool, key: &str, ip: IpAddr) -> Result<AgentAuth, ApiError> {
        if !keys::looks_valid(key) {
            // Costs nothing to refuse: not counted against anyone.
            return Err(rejected(ip));
        }
        let digest = keys::digest(key);
        if let Some(hit) = self.cache.get(&digest) {
            if now_ms().saturating_sub(hit.checked_ms.load(Ordering::Relaxed))
                < RECHECK_AFTER.as_millis() as u64
            {
                return Ok(AgentAuth {
                    agent_id: hit.agent_id,
                    user_id: hit.user_id,
                });
            }
            let permit = self.admit().await?;
            let current: Option<(Uuid, String)> =
                sqlx::query_as("select user_id, pairing_key_hash from mt5_agents where id = $1")
                    .bind(hit.agent_id)
                    .fetch_optional(db)
                    .await?;
            drop(permit);
            match current {
                Some((user_id, hash)) if hash == hit.hash && user_id == hit.user_id => {
                    hit.checked_ms.store(now_ms(), Ordering::Relaxed);
                    return Ok(AgentAuth {
                        agent_id: hit.agent_id,
                        user_id,
                    });
                }
                _ => self.cache.invalidate(&digest),
            }
        }
        // Counted as a failure from here on, refunded on success: concurrent bad
        // attempts cannot all reach bcrypt.
        let prefix = keys::stored_prefix(key).to_string();
        let attempt =
            self.limiter
                .begin((ip, prefix.clone()))
                .map_err(|wait| ApiError::RateLimited {
                    retry_after_secs: wait,
                })?;
        let permit = self.admit().await?;
        let candidates: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
            "select id, user_id, pairing_key_hash from mt5_agents where pairing_key_prefix = $1",
        )
        .bind(&prefix)
        .fetch_all(db)
        .await?;
        drop(permit);
        let max_cost = self.max_cost;
        let candidates: Vec<(Uuid, Uuid, String)> = candidates
            .into_iter()
            .filter(|(agent_id, _, hash)| match keys::cost_of(hash) {
                Some(cost) if cost <= max_cost => true,
                Some(cost) => {
                    tracing::warn!(agent = %agent_id, cost, max_cost, "stored key hash has a bcrypt cost above the server's; refused without verifying");
                    false
                }
                None => false,
            })
            .collect();
        if candidates.is_empty() {
            return Err(rejected(ip));
        }
        let key_owned = key.to_string();
        let found = tokio::task::spawn_blocking(move || {
            candidates
                .into_iter()
                .find(|(_, _, hash)| keys::verify(&key_owned, hash))
        })
        .await
        .map_err(ApiError::internal)?;
        match found {
            Some((agent_id, user_id, hash)) => {
                attempt.succeeded();
                self.cache.insert(
                    digest,
                    Verified {
                        agent_id,
                        user_id,
                        hash,
                        checked_ms: Arc::new(AtomicU64::new(now_ms())),
                    },
                );
                Ok(AgentAuth { agent_id, user_id })
            }
            None => Err(rejected(ip)),
        }
    }
}

fn rejected(ip: IpAddr) -> ApiError {
    tracing::info!(client = %ip, "agent key rejected");
    ApiError::Unauthorized("invalid agent key".into())
}

/// The `X-Agent-Key` value, if the header is present.
pub fn agent_key_header(parts: &Parts) -> Option<Result<&str, ApiError>> {
    parts.headers.get(AGENT_KEY_HEADER).map(|v| {
        v.to_str()
            .map(str::trim)
            .map_err(|_| ApiError::Unauthorized("invalid agent key".into()))
    })
}

/// Authenticates the agent of a request carrying `X-Agent-Key` (and checks the optional `X-Agent-Id`).
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<AgentAuth>, ApiError> {
    let Some(key) = agent_key_header(parts) else {
        return Ok(None);
    };
    let key = key?;
    let ip = client_ip(parts, &state.config);
    let auth = state.keys.verify(&state.db, key, ip).await?;
    if let Some(id) = parts.headers.get(AGENT_ID_HEADER) {
        let claimed = id
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<Uuid>().ok())
            .ok_or_else(|| ApiError::invalid("X-Agent-Id is not a UUID"))?;
        auth.require(claimed)?;
    }
    Ok(Some(auth))
}

impl FromRequestParts<AppState> for AgentAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Boxed: axum keeps the extractors' future inside the request's future, which a
        // long-poll holds for up to 30 s; the check's state (the key cache, a database
        // read, bcrypt) is freed when the check is done instead of being held that long.
        Box::pin(authenticate(parts, state))
            .await?
            .ok_or_else(|| ApiError::Unauthorized(format!("missing {AGENT_KEY_HEADER} header")))
    }
}
