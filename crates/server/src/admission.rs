//! Admission control for agent requests' database work: at most
//! [`AgentGate::permits`] agent-key checks and job claims use the pool at once; the
//! others queue here, in FIFO order, instead of in the pool's acquire queue, where
//! thousands of long-polls arriving together (an idle fleet reconnecting) outwaited
//! the acquire timeout, failed with 503 and retried into a storm that never settled.
//! A permit covers one database step, never bcrypt or a long-poll's wait, and the
//! connections it does not cover stay free for results, webhooks and user requests.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// Longest a request queues for admission before it is answered 503 (agents time a
/// poll out after `wait` + 15 s and a result after 20 s, and retry with jittered
/// backoff).
pub const ADMISSION_WAIT: Duration = Duration::from_secs(15);

/// The semaphore in front of agent requests' database work.
#[derive(Clone)]
pub struct AgentGate {
    sem: Arc<Semaphore>,
    permits: usize,
}

impl AgentGate {
    /// Three quarters of a pool of `pool_size` connections (at least one).
    pub fn for_pool(pool_size: u32) -> Self {
        let permits = (pool_size as usize * 3 / 4).max(1);
        AgentGate {
            sem: Arc::new(Semaphore::new(permits)),
            permits,
        }
    }

    pub fn permits(&self) -> usize {
        self.permits
    }

    /// Waits (FIFO) for a permit, at most [`ADMISSION_WAIT`].
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        match tokio::time::timeout(ADMISSION_WAIT, self.sem.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // Timed out (or, never in practice, closed): the database is saturated.
            _ => {
                tracing::warn!("agent request not admitted within {ADMISSION_WAIT:?}");
                Err(ApiError::Unavailable(sqlx::Error::PoolTimedOut))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_get_three_quarters_of_the_pool() {
        assert_eq!(AgentGate::for_pool(20).permits(), 15);
        assert_eq!(AgentGate::for_pool(1).permits(), 1);
        assert_eq!(AgentGate::for_pool(2).permits(), 1);
    }

    #[tokio::test]
    async fn requests_beyond_the_permits_queue_until_one_is_returned() {
        let gate = AgentGate::for_pool(1);
        let first = gate.enter().await.unwrap();
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter().await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(first);
        waiting.await.unwrap().unwrap();
    }
}
