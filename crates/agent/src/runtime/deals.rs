//! The deals loop: every `deals_every` (and soon after each finished job) reads the
//! terminal's closed deals (`Terminal::closed_deals`) and reports the new ones to the
//! server (`POST /agents/{id}/deals`), which files each once per deal ticket. The
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
    let terminal = shared.executor.terminal().clone();
    let mut tick = tokio::time::interval(shared.opts.deals_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cursor: Option<i64> = None;
    let mut unsupported_logged = false;
    loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = tick.tick() => {}
            _ = shared.deals_wake.notified() => {}
        }
        let info = match terminal.info().await {
            Ok(i) if i.connected => i,
            _ => continue,
        };
        let offset = info.gmt_offset_secs.unwrap_or(0);
        let from = cursor.unwrap_or_else(|| Utc::now().timestamp() + offset - FIRST_LOOKBACK_SECS);
        let deals = match terminal.closed_deals(from).await {
            Ok(d) => d,
            Err(e) => {
                if !unsupported_logged {
                    tracing::warn!(error = %e, "cannot read closed deals from the terminal; the daily loss limit counts Companion's own closes only");
                    unsupported_logged = true;
                }
                continue;
            }
        };
        if deals.is_empty() {
            cursor.get_or_insert(from);
            continue;
        }
        let newest = deals.iter().map(|d| d.time).max().unwrap_or(from);
        for chunk in deals.chunks(500) {
            let report = DealsReport {
                gmt_offset_secs: offset,
                deals: chunk.to_vec(),
            };
            match shared.client.post_deals(&report).await {
                Ok(a) => {
                    if a.stored > 0 {
                        tracing::info!(stored = a.stored, "closed deals reported");
                    }
                }
                Err(e @ ClientError::BadKey { .. }) => {
                    shared.fatal(e).await;
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "reporting closed deals failed; retrying later");
                    // Keep the cursor: everything is sent again next time.
                    break;
                }
            }
        }
        // Deals at the cursor's second are read again next time (the server ignores
        // repeats): a deal in the same second as the newest is never skipped.
        cursor = Some(newest);
    }
}
