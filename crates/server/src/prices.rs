//! Latest bid/ask per symbol per user, kept in memory only and published to the
//! owner's event stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use companion_protocol::PriceTick;
use uuid::Uuid;

use crate::hub::{EventHub, HubEvent, PriceUpdate};

/// In-memory price book.
#[derive(Clone, Default)]
pub struct PriceBook {
    by_user: Arc<Mutex<HashMap<Uuid, HashMap<String, PriceTick>>>>,
}

impl PriceBook {
    /// Records ticks (a tick older than the stored one for its symbol is ignored)
    /// and publishes the accepted ones.
    pub fn update(&self, events: &EventHub, user_id: Uuid, agent_id: Uuid, ticks: Vec<PriceTick>) {
        let accepted: Vec<PriceTick> = {
            let mut map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
            let book = map.entry(user_id).or_default();
            ticks
                .into_iter()
                .filter(|t| match book.get(&t.symbol) {
                    Some(old) if old.time > t.time => false,
                    _ => {
                        book.insert(t.symbol.clone(), t.clone());
                        true
                    }
                })
                .collect()
        };
        if !accepted.is_empty() {
            events.publish(HubEvent::Prices(PriceUpdate {
                user_id,
                agent_id,
                prices: accepted,
            }));
        }
    }

    /// Every symbol's latest tick for a user, sorted by symbol.
    pub fn snapshot(&self, user_id: Uuid) -> Vec<PriceTick> {
        let map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        let mut ticks: Vec<PriceTick> = map
            .get(&user_id)
            .map(|b| b.values().cloned().collect())
            .unwrap_or_default();
        ticks.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        ticks
    }
}
