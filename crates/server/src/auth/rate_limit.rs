//! Per-client-address limit on failed authentication attempts: after `max_failures`
//! failures within `window`, the address is refused (429 + Retry-After) until the
//! window that started with its first failure ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct FailureLimiter {
    max_failures: u32,
    window: Duration,
    state: Arc<Mutex<HashMap<IpAddr, Window>>>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl FailureLimiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        FailureLimiter {
            max_failures,
            window,
            state: Arc::default(),
        }
    }

    /// `Some(seconds to wait)` when `ip` is currently blocked.
    pub fn blocked(&self, ip: IpAddr) -> Option<u64> {
        let now = Instant::now();
        let map = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let w = map.get(&ip)?;
        let ends = w.started + self.window;
        (w.failures >= self.max_failures && ends > now)
            .then(|| (ends - now).as_secs_f64().ceil() as u64)
    }

    /// Records a failed attempt from `ip`.
    pub fn record_failure(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut map = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            let window = self.window;
            map.retain(|_, w| w.started + window > now);
        }
        let w = map.entry(ip).or_insert(Window {
            started: now,
            failures: 0,
        });
        if w.started + self.window <= now {
            *w = Window {
                started: now,
                failures: 0,
            };
        }
        w.failures += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_only_that_address() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..2 {
            l.record_failure(a);
        }
        assert_eq!(l.blocked(a), None);
        l.record_failure(a);
        let wait = l.blocked(a).unwrap();
        assert!((1..=60).contains(&wait));
        assert_eq!(l.blocked(b), None);
    }

    #[test]
    fn the_window_expires() {
        let l = FailureLimiter::new(1, Duration::from_millis(1));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        l.record_failure(a);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(l.blocked(a), None);
    }
}
