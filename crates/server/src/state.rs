//! `AppState`: what every handler shares (pool, config, key verifier, notification
//! hub, price book).

use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::admission::AgentGate;
use crate::auth::rate_limit::FailureLimiter;
use crate::auth::KeyVerifier;
use crate::config::Config;
use crate::events::StreamSlots;
use crate::hub::{self, EventHub, JobWake};
use crate::prices::PriceBook;
use crate::publish::Publisher;
use crate::queue::idle::EmptyClaims;

/// A verified key unused this long is verified with bcrypt again (while in use, the
/// stored hash is re-read at most every second instead).
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(600);
/// Failed key attempts allowed per client address and key prefix, and window.
pub const MAX_KEY_FAILURES: u32 = 10;
pub const KEY_FAILURE_WINDOW: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<Config>,
    pub keys: KeyVerifier,
    /// Row changes and prices, for the event stream (`events.subscribe()`).
    pub events: EventHub,
    /// Wakes job long-polls (`jobs_notify.for_user(id)`).
    pub jobs_notify: JobWake,
    /// The notices of the paths that do not NOTIFY in their transaction (ingest,
    /// claim, fast results): in memory here, to the other replicas in batches.
    pub publisher: Publisher,
    pub prices: PriceBook,
    /// Admission control in front of agent-key checks and job claims.
    pub agent_gate: AgentGate,
    /// Each agent's last empty claim, to skip claims nothing can have changed.
    pub empty_claims: EmptyClaims,
    /// Open event streams per user (capped).
    pub streams: StreamSlots,
}

impl AppState {
    /// Builds the state and starts the single LISTEN connection (on
    /// `DATABASE_LISTEN_URL` when set, else `DATABASE_URL`). Returns once LISTEN is active.
    pub async fn new(config: Config, db: PgPool) -> Result<Self, sqlx::Error> {
        let listen_url = config
            .db
            .database_listen_url
            .as_ref()
            .unwrap_or(&config.db.database_url)
            .expose()
            .to_string();
        let listener = hub::connect_listener(&listen_url).await?;
        let agent_gate = AgentGate::for_pool(config.db.database_max_connections);
        let events = EventHub::new(1024);
        let jobs_notify = JobWake::default();
        let publisher = Publisher::start(
            crate::db::connect_notices(&config.db)?,
            jobs_notify.clone(),
            events.clone(),
        );
        let bcrypt_cost = config.bcrypt_cost;
        let state = AppState {
            db,
            config: Arc::new(config),
            keys: KeyVerifier::new(
                KEY_CACHE_TTL,
                FailureLimiter::new(MAX_KEY_FAILURES, KEY_FAILURE_WINDOW),
            )
            .with_gate(agent_gate.clone())
            .with_max_cost(bcrypt_cost),
            events,
            jobs_notify,
            publisher,
            prices: PriceBook::default(),
            agent_gate: agent_gate.clone(),
            empty_claims: EmptyClaims::default(),
            streams: StreamSlots::default(),
        };
        let prices = state.prices.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                prices.sweep();
            }
        });
        tokio::spawn(hub::run_listener(
            listener,
            listen_url,
            state.jobs_notify.clone(),
            state.events.clone(),
            state.publisher.origin(),
        ));
        Ok(state)
    }

    /// A transaction under RLS as `user_id` (see [`crate::db::user_tx`]).
    pub async fn user_tx(
        &self,
        user_id: Uuid,
    ) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        crate::db::user_tx(&self.db, user_id).await
    }
}
