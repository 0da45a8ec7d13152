//! The terminal watch: reads the terminal's state every `prices_every` for the
//! status view and, while it is connected, pushes prices to the server.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use companion_protocol::{PriceTick, PricesRequest, TerminalInfo};
use companion_terminal::Terminal;

use super::Shared;
use crate::toolchain::Toolchain;

/// Watches the terminal every `prices_every` and pushes prices of open positions'
/// symbols (and the configured ones) while it is connected.
pub(super) async fn terminal_loop<T, C>(shared: Arc<Shared<T, C>>)
where
    T: Terminal + 'static,
    C: Toolchain + 'static,
{
    let terminal = shared.executor.terminal().clone();
    let mut tick = tokio::time::interval(shared.opts.prices_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let info = match terminal.info().await {
            Ok(i) => i,
            Err(_) => TerminalInfo {
                connected: false,
                ..Default::default()
            },
        };
        let connected = info.connected;
        shared.status.send_if_modified(|s| {
            let changed = s.terminal != info;
            if changed {
                if info.connected {
                    // Perhaps another account or broker: list its symbols afresh.
                    shared.executor.symbols().invalidate();
                    tracing::info!(
                        paper = info.paper,
                        login = info.login.as_deref().unwrap_or(""),
                        "terminal connected"
                    );
                } else {
                    tracing::warn!("terminal disconnected");
                }
                s.terminal = info;
            }
            changed
        });
        if !connected {
            continue;
        }
        let mut symbols: BTreeMap<String, ()> = shared
            .opts
            .price_symbols
            .iter()
            .map(|s| (s.clone(), ()))
            .collect();
        if let Ok(ps) = terminal.positions().await {
            symbols.extend(ps.into_iter().map(|p| (p.symbol, ())));
        }
        if symbols.is_empty() {
            continue;
        }
        let mut prices = Vec::with_capacity(symbols.len());
        for sym in symbols.keys() {
            if let Ok(si) = terminal.symbol_info(sym).await {
                prices.push(PriceTick {
                    symbol: si.symbol,
                    bid: si.bid,
                    ask: si.ask,
                    time: Utc::now(),
                });
            }
        }
        if prices.is_empty() {
            continue;
        }
        if let Err(e) = shared.client.push_prices(&PricesRequest { prices }).await {
            tracing::debug!(error = %e, "price push failed");
        }
    }
}
