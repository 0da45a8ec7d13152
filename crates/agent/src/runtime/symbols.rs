//! The symbol-override loop: loads the trader's symbol overrides of this agent's
//! broker connection (user API, with the agent key) at start and every
//! [`OVERRIDES_EVERY`], into the executor's [`crate::symbols::SymbolBook`]. The
//! terminal watch forgets the book's symbol list when the terminal reconnects.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::Shared;

/// How often the overrides are loaded again (a change in the app applies within this).
pub const OVERRIDES_EVERY: Duration = Duration::from_secs(30);

pub(super) async fn overrides_loop<T, C>(shared: Arc<Shared<T, C>>) {
    let mut connection: Option<Uuid> = None;
    let mut tick = tokio::time::interval(OVERRIDES_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if connection.is_none() {
            connection = match shared.client.me().await {
                Ok(me) => me.broker_connection_id,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read this agent's broker connection");
                    None
                }
            };
        }
        let Some(id) = connection else { continue };
        match shared.client.symbol_overrides(id).await {
            Ok(list) => {
                tracing::debug!(count = list.len(), "symbol overrides loaded");
                shared
                    .executor
                    .symbols()
                    .set_overrides(list.into_iter().map(|o| (o.canonical, o.broker_symbol)));
            }
            Err(e) => tracing::debug!(error = %e, "cannot load the symbol overrides"),
        }
    }
}
