//! The deals loop: every `deals_every` (and soon after each finished job) reads each
//! served terminal's closed deals (`Terminal::closed_deals`) and reports the new ones to the
//! server (`POST /agents/{id}/deals`, naming the terminal's account), which files each once per deal ticket. The
//! server's daily loss limit sums them: stop-loss hits and manual closes count too.
//!
//! The cursor is the newest deal time (trade-server clock) the server accepted; it
//! starts two days back (any trader's day start is within that) and lives in memory:
//! after a restart the same deals are sent again and the server ignores them.

use std::sync::Arc;

use chrono::Utc;
use companion_protocol::DealsReport;
use companion_terminal::Terminal;

use super::Shared;
use crate::client::ClientError;
use crate::toolchain::Toolchain;

/// How far back the first read looks, seconds.
const FIRST_LOOKBACK_SECS: i64 = 2 * 86_400;

pub(super) async fn deals_loop<T, C>(shared: Arc<Shared<T, C>>)
where
    T: Terminal + 'static,
    C: Toolchain + 'static,
{
    let mut tick = tokio::time::interval(shared.opts.deals_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // One cursor per served terminal (account).
    let mut cursors: Vec<Cursor> = shared.slots.iter().map(|_| Cursor::default()).collect();
    loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = tick.tick() => {}
            _ = shared.deals_wake.notified() => {}
        }
        for (i, (slot, cursor)) in shared.slots.iter().zip(cursors.iter_mut()).enumerate() {
            // A further terminal's deals are filed only once its account is bound; the
            // first terminal's fall back to the agent's pairing connection (as before).
            let connection = slot.connection();
            if i > 0 && connection.is_none() {
                continue;
            }
            if !report_new_deals(&shared, slot.executor.terminal(), connection, cursor).await {
                return;
            }
        }
    }
}

/// Where one terminal's deal reading stands.
#[derive(Default)]
struct Cursor {
    /// The newest deal time (trade-server clock) the server accepted.
    from: Option<i64>,
    unsupported_logged: bool,
}

/// Reads `terminal`'s closed deals since the cursor and reports them for
/// `connection`. False when the server refused the key (the runtime stops).
async fn report_new_deals<T, C>(
    shared: &Shared<T, C>,
    terminal: &T,
    connection: Option<uuid::Uuid>,
    cursor: &mut Cursor,
) -> bool
where
    T: Terminal + 'static,
{
    let info = match terminal.info().await {
        Ok(i) if i.connected => i,
        _ => return true,
    };
    let offset = info.gmt_offset_secs.unwrap_or(0);
    let from = cursor
        .from
        .unwrap_or_else(|| Utc::now().timestamp() + offset - FIRST_LOOKBACK_SECS);
    let deals = match terminal.closed_deals(from).await {
        Ok(d) => d,
        Err(e) => {
            if !cursor.unsupported_logged {
                tracing::warn!(error = %e, "cannot read closed deals from the terminal; the daily loss limit counts Companion's own closes only");
                cursor.unsupported_logged = true;
            }
            return true;
        }
    };
    if deals.is_empty() {
        cursor.from.get_or_insert(from);
        return true;
    }
    let newest = deals.iter().map(|d| d.time).max().unwrap_or(from);
    for chunk in deals.chunks(500) {
        let report = DealsReport {
            gmt_offset_secs: offset,
            deals: chunk.to_vec(),
            broker_connection_id: connection,
        };
        match shared.client.post_deals(&report).await {
            Ok(a) => {
                if a.stored > 0 {
                    tracing::info!(stored = a.stored, "closed deals reported");
                }
            }
            Err(e @ ClientError::BadKey { .. }) => {
                shared.fatal(e).await;
                return false;
            }
            Err(e) => {
                tracing::debug!(error = %e, "reporting closed deals failed; retrying later");
                // Keep the cursor: everything is sent again next time.
                return true;
            }
        }
    }
    // Deals at the cursor's second are read again next time (the server ignores
    // repeats): a deal in the same second as the newest is never skipped.
    cursor.from = Some(newest);
    true
}
