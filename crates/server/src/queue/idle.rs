//! Empty-claim memory for idle long-polls: an agent whose last claim found nothing,
//! with no job notice for its owner and no LISTEN outage since (an unchanged
//! [`WakeMark`]), would find nothing again, so its poll waits without running
//! `claim_next_job`. When unsure the poll claims: no record (first poll, server
//! restart), a record older than [`TRUST_EMPTY_FOR`] (bounds the cases no local
//! notice can reveal: a claim through another server instance that locked a job and
//! rolled back), or a mark voided by a failed claim of the same user through this
//! server (`UserWake::void_marks`).

use std::time::Duration;

use moka::sync::Cache;
use uuid::Uuid;

use crate::hub::WakeMark;

/// How long an empty claim is trusted (two full long-polls).
pub const TRUST_EMPTY_FOR: Duration = Duration::from_secs(60);

#[derive(Clone, Copy)]
struct Empty {
    user_id: Uuid,
    mark: WakeMark,
}

/// Agent id → the mark its last trusted empty claim was made under.
#[derive(Clone)]
pub struct EmptyClaims {
    by_agent: Cache<Uuid, Empty>,
}

impl Default for EmptyClaims {
    fn default() -> Self {
        EmptyClaims {
            by_agent: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(TRUST_EMPTY_FOR)
                .build(),
        }
    }
}

impl EmptyClaims {
    /// The agent's claim (for jobs of `user_id`) found nothing under `mark`.
    pub fn record(&self, agent_id: Uuid, user_id: Uuid, mark: WakeMark) {
        self.by_agent.insert(agent_id, Empty { user_id, mark });
    }

    /// Nothing can be concluded about the agent's queue any more.
    pub fn forget(&self, agent_id: Uuid) {
        self.by_agent.invalidate(&agent_id);
    }

    /// True when a claim now would find nothing: the last one was empty under this very mark.
    pub fn still_empty(&self, agent_id: Uuid, user_id: Uuid, mark: WakeMark) -> bool {
        self.by_agent
            .get(&agent_id)
            .is_some_and(|e| e.user_id == user_id && e.mark == mark)
    }
}
