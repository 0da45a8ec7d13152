//! The accounts loop: every [`EVERY`] reads each served terminal's state for the
//! status view (connected, login @ server, margin mode; balance and equity every
//! [`ACCOUNT_EVERY`] ticks) and reports its account to the server when it connects,
//! changes or disconnects (and every [`REPORT_EVERY`] ticks), binding the terminal
//! to the broker connection the server names.

use std::sync::Arc;
use std::time::Duration;

use companion_protocol::{AccountReport, TerminalInfo};
use companion_terminal::Terminal;

use super::slots::TerminalView;
use super::Shared;
use crate::client::ClientError;
use crate::toolchain::Toolchain;

/// How often each terminal is looked at.
pub(super) const EVERY: Duration = Duration::from_secs(1);
/// Balance and equity are read every this many ticks, and only for an agent serving
/// several terminals (the dashboard's accounts table; with one terminal the app reads
/// the account through its own jobs). The EA serves one request at a time: a slow
/// terminal must not be kept busy with readings nobody shows.
const ACCOUNT_EVERY: u32 = 15;
/// A connected account is reported again every this many ticks (keeps `last_seen`).
const REPORT_EVERY: u32 = 60;

/// Ticks to wait after a failed report.
const RETRY_AFTER: u32 = 15;

/// What was last reported for one terminal.
#[derive(Default, Clone, PartialEq)]
struct Reported {
    login: String,
    server: String,
    connected: bool,
}

pub(super) async fn accounts_loop<T, C>(shared: Arc<Shared<T, C>>)
where
    T: Terminal + 'static,
    C: Toolchain + 'static,
{
    let n = shared.slots.len();
    let mut reported: Vec<Option<Reported>> = vec![None; n];
    // After a failed report, the tick from which to try again (a server without the
    // endpoint, or down, is not asked every second).
    let mut retry_at: Vec<u32> = vec![0; n];
    let mut ticks = 0u32;
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        for (i, slot) in shared.slots.iter().enumerate() {
            let terminal = slot.executor.terminal();
            // The first terminal's info is read by the terminal watch already (each
            // read is a round trip the EA serves between trades): reuse it.
            let info = if i == 0 {
                shared.status.borrow().terminal.clone()
            } else {
                terminal.info().await.unwrap_or_else(|_| TerminalInfo {
                    connected: false,
                    ..Default::default()
                })
            };
            let account = if n > 1 && info.connected && ticks.is_multiple_of(ACCOUNT_EVERY) {
                terminal.account().await.ok()
            } else {
                None
            };
            // Report on a change, and now and then while connected.
            let now = match (&info.login, &info.server) {
                (Some(l), Some(s)) if info.connected => Some(Reported {
                    login: l.clone(),
                    server: s.clone(),
                    connected: true,
                }),
                _ => reported[i].clone().map(|r| Reported {
                    connected: false,
                    ..r
                }),
            };
            let due = now.is_some()
                && ticks >= retry_at[i]
                && (now != reported[i] || (info.connected && ticks.is_multiple_of(REPORT_EVERY)));
            if let (true, Some(r)) = (due, &now) {
                let report = AccountReport {
                    login: r.login.clone(),
                    server: r.server.clone(),
                    terminal: TerminalInfo {
                        connected: r.connected,
                        ..info.clone()
                    },
                };
                match shared.client.report_account(&report).await {
                    Ok(b) => {
                        if slot.connection() != Some(b.broker_connection_id) {
                            tracing::info!(terminal = %slot.name, port = slot.port, login = %r.login, server = %r.server,
                                broker_connection_id = %b.broker_connection_id, created = b.created,
                                "terminal bound to its account's broker connection");
                        }
                        slot.bind(b.broker_connection_id);
                        reported[i] = now.clone();
                        shared.accounts_changed.notify_waiters();
                    }
                    Err(e @ ClientError::BadKey { .. }) => {
                        shared.fatal(e).await;
                        return;
                    }
                    Err(e) => {
                        retry_at[i] = ticks.saturating_add(RETRY_AFTER);
                        tracing::debug!(terminal = %slot.name, error = %e, "account report failed; retrying later")
                    }
                }
            }
            let connection = slot.connection();
            shared.status.send_if_modified(|s| {
                if s.terminals.len() != n {
                    s.terminals = shared
                        .slots
                        .iter()
                        .map(|sl| TerminalView {
                            name: sl.name.clone(),
                            port: sl.port,
                            ..Default::default()
                        })
                        .collect();
                }
                let Some(v) = s.terminals.get_mut(i) else {
                    return false;
                };
                let before = v.clone();
                v.broker_connection_id = connection;
                if !info.connected {
                    v.balance = None;
                    v.equity = None;
                }
                v.info = info.clone();
                if let Some(a) = &account {
                    v.balance = Some(a.balance);
                    v.equity = Some(a.equity);
                    v.currency = Some(a.currency.clone());
                }
                *v != before
            });
        }
        ticks = ticks.wrapping_add(1);
    }
}
