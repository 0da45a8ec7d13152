//! Limit on failed authentication attempts per key (for agent keys: the client
//! address and the key's stored prefix, so one client's bad keys never lock out
//! another key). After `max_failures` failures within `window`, the key is refused
//! (429 + Retry-After) until the window that started with its first failure ends.
//!
//! An attempt counts as a failure from the moment it starts ([`FailureLimiter::begin`]),
//! before any expensive work (bcrypt), and is refunded when it succeeds: concurrent
//! bad attempts cannot all run the expensive check before the first one is recorded.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What agent-key failures are counted under: client address and key prefix.
pub type KeyBucket = (IpAddr, String);

#[derive(Clone)]
pub struct FailureLimiter<K: Hash + Eq + Clone = KeyBucket> {
    max_failures: u32,
    window: Duration,
    state: Arc<Mutex<HashMap<K, Window>>>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Most keys tracked before expired windows are swept.
const SWEEP_ABOVE: usize = 100_000;

impl<K: Hash + Eq + Clone> FailureLimiter<K> {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        FailureLimiter {
            max_failures,
            window,
            state: Arc::default(),
        }
    }

    /// `Some(seconds to wait)` when `key` is currently blocked.
    pub fn blocked(&self, key: &K) -> Option<u64> {
        let now = Instant::now();
        let map = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let w = map.get(key)?;
        self.wait(w, now)
    }

    fn wait(&self, w: &Window, now: Instant) -> Option<u64> {
        let ends = w.started + self.window;
        (w.failures >= self.max_failures && ends > now)
            .then(|| (ends - now).as_secs_f64().ceil() as u64)
    }

    /// Records a failed attempt under `key`.
    pub fn record_failure(&self, key: &K) {
        let now = Instant::now();
        let mut map = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.entry(&mut map, key, now).failures += 1;
    }

    fn entry<'m>(&self, map: &'m mut HashMap<K, Window>, key: &K, now: Instant) -> &'m mut Window {
        if map.len() > SWEEP_ABOVE {
            let window = self.window;
            map.retain(|_, w| w.started + window > now);
        }
        let w = map.entry(key.clone()).or_insert(Window {
            started: now,
            failures: 0,
        });
        if w.started + self.window <= now {
            *w = Window {
                started: now,
                failures: 0,
            };
        }
        w
    }

    /// Starts an attempt under `key`: refused with the seconds to wait when blocked,
    /// else counted as a failure right away. Call [`Attempt::succeeded`] when it succeeds.
    pub fn begin(&self, key: K) -> Result<Attempt<K>, u64> {
        let now = Instant::now();
        let mut map = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let w = self.entry(&mut map, &key, now);
        if let Some(wait) = self.wait(w, now) {
            return Err(wait);
        }
        w.failures += 1;
        let started = w.started;
        drop(map);
        Ok(Attempt {
            limiter: self.clone(),
            key,
            started,
        })
    }
}

/// An attempt counted as a failure until it [`succeeded`](Attempt::succeeded).
pub struct Attempt<K: Hash + Eq + Clone = KeyBucket> {
    limiter: FailureLimiter<K>,
    key: K,
    started: Instant,
}

impl<K: Hash + Eq + Clone> Attempt<K> {
    /// The attempt succeeded: it no longer counts as a failure.
    pub fn succeeded(self) {
        let mut map = self.limiter.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = map.get_mut(&self.key) {
            // Only refund into the window the attempt was counted in.
            if w.started == self.started {
                w.failures = w.failures.saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(ip: &str, prefix: &str) -> KeyBucket {
        (ip.parse().unwrap(), prefix.to_string())
    }

    #[test]
    fn blocks_after_the_limit_and_only_that_key() {
        let l: FailureLimiter = FailureLimiter::new(3, Duration::from_secs(60));
        let a = bucket("10.0.0.1", "pk_aaaaa");
        let b = bucket("10.0.0.2", "pk_aaaaa");
        let other_prefix = bucket("10.0.0.1", "pk_bbbbb");
        for _ in 0..2 {
            l.record_failure(&a);
        }
        assert_eq!(l.blocked(&a), None);
        l.record_failure(&a);
        let wait = l.blocked(&a).unwrap();
        assert!((1..=60).contains(&wait));
        assert_eq!(l.blocked(&b), None);
        assert_eq!(l.blocked(&other_prefix), None);
    }

    #[test]
    fn the_window_expires() {
        let l: FailureLimiter = FailureLimiter::new(1, Duration::from_millis(1));
        let a = bucket("10.0.0.1", "pk_aaaaa");
        l.record_failure(&a);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(l.blocked(&a), None);
    }

    #[test]
    fn attempts_count_before_they_finish_and_successes_are_refunded() {
        let l: FailureLimiter = FailureLimiter::new(3, Duration::from_secs(60));
        let a = bucket("10.0.0.1", "pk_aaaaa");
        // Three attempts in flight at once: the fourth is refused before any finishes.
        let in_flight: Vec<_> = (0..3).map(|_| l.begin(a.clone()).unwrap()).collect();
        assert!(l.begin(a.clone()).is_err());
        for attempt in in_flight {
            attempt.succeeded();
        }
        assert_eq!(l.blocked(&a), None);
        assert!(l.begin(a.clone()).is_ok());
    }
}
