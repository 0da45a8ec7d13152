//! Latest bid/ask per symbol per user, kept in memory only and published to the
//! owner's event stream. Bounded: at most [`MAX_SYMBOLS_PER_USER`] symbols per user
//! (the stalest are dropped first) and a symbol not updated for [`PRICE_MAX_AGE`] is
//! dropped; a user whose book empties is forgotten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use companion_protocol::PriceTick;
use uuid::Uuid;

use crate::hub::{EventHub, HubEvent, PriceUpdate};

/// Most symbols remembered per user.
pub const MAX_SYMBOLS_PER_USER: usize = 512;
/// A symbol without a new tick for this long is forgotten.
pub const PRICE_MAX_AGE: Duration = Duration::from_secs(15 * 60);

#[derive(Clone)]
struct Entry {
    tick: PriceTick,
    /// When this server received the tick (ages out by our clock, not the agent's).
    seen: Instant,
}

/// In-memory price book.
#[derive(Clone)]
pub struct PriceBook {
    by_user: Arc<Mutex<HashMap<Uuid, HashMap<String, Entry>>>>,
    max_symbols: usize,
    max_age: Duration,
}

impl Default for PriceBook {
    fn default() -> Self {
        PriceBook::with_limits(MAX_SYMBOLS_PER_USER, PRICE_MAX_AGE)
    }
}

impl PriceBook {
    /// A book keeping at most `max_symbols` per user, each for at most `max_age`.
    pub fn with_limits(max_symbols: usize, max_age: Duration) -> Self {
        PriceBook {
            by_user: Arc::default(),
            max_symbols: max_symbols.max(1),
            max_age,
        }
    }

    /// Records ticks (a tick older than the stored one for its symbol is ignored)
    /// and publishes the accepted ones.
    pub fn update(&self, events: &EventHub, user_id: Uuid, agent_id: Uuid, ticks: Vec<PriceTick>) {
        let now = Instant::now();
        let accepted: Vec<PriceTick> = {
            let mut map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
            let book = map.entry(user_id).or_default();
            let accepted: Vec<PriceTick> = ticks
                .into_iter()
                .filter(|t| match book.get(&t.symbol) {
                    Some(old) if old.tick.time > t.time && now - old.seen < self.max_age => false,
                    _ => {
                        book.insert(
                            t.symbol.clone(),
                            Entry {
                                tick: t.clone(),
                                seen: now,
                            },
                        );
                        true
                    }
                })
                .collect();
            self.trim(book, now);
            accepted
        };
        if !accepted.is_empty() {
            events.publish(HubEvent::Prices(PriceUpdate {
                user_id,
                agent_id,
                prices: accepted,
            }));
        }
    }

    /// Drops aged-out symbols, then the stalest ones above the cap.
    fn trim(&self, book: &mut HashMap<String, Entry>, now: Instant) {
        let max_age = self.max_age;
        book.retain(|_, e| now.duration_since(e.seen) < max_age);
        if book.len() > self.max_symbols {
            let mut by_age: Vec<(Instant, String)> =
                book.iter().map(|(s, e)| (e.seen, s.clone())).collect();
            by_age.sort();
            let excess = book.len() - self.max_symbols;
            for (_, symbol) in by_age.into_iter().take(excess) {
                book.remove(&symbol);
            }
        }
    }

    /// Every symbol's latest tick for a user, sorted by symbol (aged-out ones dropped).
    pub fn snapshot(&self, user_id: Uuid) -> Vec<PriceTick> {
        let now = Instant::now();
        let mut map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        let Some(book) = map.get_mut(&user_id) else {
            return Vec::new();
        };
        self.trim(book, now);
        let mut ticks: Vec<PriceTick> = book.values().map(|e| e.tick.clone()).collect();
        if book.is_empty() {
            map.remove(&user_id);
        }
        ticks.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        ticks
    }

    /// Forgets every user whose whole book has aged out (called periodically).
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        for book in map.values_mut() {
            self.trim(book, now);
        }
        map.retain(|_, b| !b.is_empty());
    }

    /// Users with a book (tests, metrics).
    pub fn users(&self) -> usize {
        self.by_user.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(symbol: &str, time: i64) -> PriceTick {
        PriceTick {
            symbol: symbol.to_string(),
            bid: 1.0,
            ask: 1.1,
            time: chrono::DateTime::from_timestamp(time, 0).unwrap(),
        }
    }

    #[test]
    fn the_book_is_capped_per_user_keeping_the_freshest() {
        let events = EventHub::new(16);
        let book = PriceBook::with_limits(3, Duration::from_secs(60));
        let (user, agent) = (Uuid::new_v4(), Uuid::new_v4());
        for i in 0..10 {
            book.update(&events, user, agent, vec![tick(&format!("S{i}"), 1)]);
            std::thread::sleep(Duration::from_millis(2));
        }
        let symbols: Vec<String> = book.snapshot(user).into_iter().map(|t| t.symbol).collect();
        assert_eq!(symbols, vec!["S7", "S8", "S9"]);
    }

    #[test]
    fn symbols_and_users_age_out() {
        let events = EventHub::new(16);
        let book = PriceBook::with_limits(10, Duration::from_millis(20));
        let (user, agent) = (Uuid::new_v4(), Uuid::new_v4());
        book.update(&events, user, agent, vec![tick("EURUSD", 5)]);
        assert_eq!(book.snapshot(user).len(), 1);
        std::thread::sleep(Duration::from_millis(40));
        book.sweep();
        assert_eq!(book.users(), 0);
        assert!(book.snapshot(user).is_empty());
        // An old timestamp is accepted again once the stored one has aged out.
        book.update(&events, user, agent, vec![tick("EURUSD", 1)]);
        assert_eq!(book.snapshot(user).len(), 1);
    }
}
