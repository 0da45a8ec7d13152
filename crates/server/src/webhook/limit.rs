//! Per-strategy rate limit of the webhook (a keyed GCRA limiter from `governor`).
//! Keyed by strategy id, so the key space is bounded by the number of strategies.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use uuid::Uuid;

/// Env var: sustained requests per minute per strategy (default 300).
pub const RATE_PER_MIN_ENV: &str = "WEBHOOK_RATE_PER_MIN";
/// Env var: burst size per strategy (default 30).
pub const RATE_BURST_ENV: &str = "WEBHOOK_RATE_BURST";
pub const DEFAULT_RATE_PER_MIN: u32 = 300;
pub const DEFAULT_RATE_BURST: u32 = 30;

/// Shared limiter (cheap to clone).
#[derive(Clone)]
pub struct WebhookLimiter {
    inner: Arc<DefaultKeyedRateLimiter<Uuid>>,
}

impl WebhookLimiter {
    pub fn new(per_min: u32, burst: u32) -> Self {
        let per_min = NonZeroU32::new(per_min).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        WebhookLimiter {
            inner: Arc::new(DefaultKeyedRateLimiter::keyed(
                Quota::per_minute(per_min).allow_burst(burst),
            )),
        }
    }

    /// From `WEBHOOK_RATE_PER_MIN` / `WEBHOOK_RATE_BURST`, else the defaults.
    pub fn from_env() -> Self {
        let read = |name: &str, default: u32| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default)
        };
        Self::new(
            read(RATE_PER_MIN_ENV, DEFAULT_RATE_PER_MIN),
            read(RATE_BURST_ENV, DEFAULT_RATE_BURST),
        )
    }

    /// `Ok` when the strategy may send now, else how long to wait.
    pub fn check(&self, strategy_id: Uuid) -> Result<(), Duration> {
        self.inner
            .check_key(&strategy_id)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refused_per_key() {
        let l = WebhookLimiter::new(1, 2);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(l.check(a).is_ok());
        assert!(l.check(a).is_ok());
        assert!(l.check(a).is_err());
        assert!(l.check(b).is_ok());
    }
}
