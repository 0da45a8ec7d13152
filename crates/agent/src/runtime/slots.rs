//! The terminals one agent serves (one per account) and the routing of a job to the
//! terminal of its broker connection (`ClaimedJob::broker_connection_id`).
//!
//! Rules: a job naming no connection runs on the first terminal; a job naming a
//! connection runs on the terminal bound to it (bound by the server's answer to
//! `POST /agents/{id}/accounts`, remembered in `config.json`); an agent with a
//! single terminal runs every job there (as before several terminals existed). When
//! no terminal is bound to the job's connection, a trading job waits for one as it
//! waits for a disconnected terminal (until `expires_at`, else the executor's
//! trading wait) and every other job fails at once, with the reason.

use std::time::Duration;

use chrono::Utc;
use companion_protocol::{ClaimedJob, TerminalInfo};
use serde::Serialize;
use uuid::Uuid;

use super::Shared;
use crate::executor::Executor;

/// A terminal to serve, as given to [`super::start_terminals`].
pub struct TerminalSlot<T, C> {
    /// A label for logs and the UI.
    pub name: String,
    /// Its bridge port.
    pub port: u16,
    pub executor: Executor<T, C>,
    /// The broker connection its account was last bound to, if known.
    pub connection: Option<Uuid>,
}

/// One served terminal while the runtime runs.
pub(super) struct Slot<T, C> {
    pub name: String,
    pub port: u16,
    pub executor: Executor<T, C>,
    pub connection: std::sync::Mutex<Option<Uuid>>,
}

impl<T, C> Slot<T, C> {
    pub fn connection(&self) -> Option<Uuid> {
        self.connection.lock().map(|c| *c).unwrap_or(None)
    }
    pub fn bind(&self, connection: Uuid) {
        if let Ok(mut c) = self.connection.lock() {
            *c = Some(connection);
        }
    }
}

impl<T, C> From<TerminalSlot<T, C>> for Slot<T, C> {
    fn from(t: TerminalSlot<T, C>) -> Self {
        Slot {
            name: t.name,
            port: t.port,
            executor: t.executor,
            connection: std::sync::Mutex::new(t.connection),
        }
    }
}

/// One terminal as the status view shows it (the dashboard's account list).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct TerminalView {
    pub name: String,
    pub port: u16,
    /// The broker connection the account is bound to (None until the server answered).
    pub broker_connection_id: Option<Uuid>,
    pub info: TerminalInfo,
    pub balance: Option<f64>,
    pub equity: Option<f64>,
    pub currency: Option<String>,
}

impl<T, C> Shared<T, C> {
    /// The executor of the terminal serving `connection`, if one is bound to it.
    pub(super) fn route(&self, connection: Option<Uuid>) -> Option<Executor<T, C>>
    where
        Executor<T, C>: Clone,
    {
        let first = self.slots.first()?;
        let Some(c) = connection else {
            return Some(first.executor.clone());
        };
        if let Some(s) = self.slots.iter().find(|s| s.connection() == Some(c)) {
            return Some(s.executor.clone());
        }
        (self.slots.len() == 1).then(|| first.executor.clone())
    }

    /// Why no terminal serves `connection`, in words.
    pub(super) fn unrouted_reason(&self, connection: Uuid) -> String {
        let status = self.status.borrow();
        let accounts: Vec<String> = status
            .terminals
            .iter()
            .map(|t| match (&t.info.login, &t.info.server) {
                (Some(l), Some(s)) if t.info.connected => format!("{} ({l} @ {s})", t.name),
                _ => format!("{} (not connected)", t.name),
            })
            .collect();
        format!(
            "no terminal of this agent is logged into the account of broker connection {connection} \
             (its terminals: {}); start that account's terminal with the Companion bridge EA — \
             the job was not executed",
            accounts.join(", ")
        )
    }

    /// The executor for `job`: routed by its connection, waiting for a trading job's
    /// terminal to report that account (see the module doc). Err: the reason.
    pub(super) async fn executor_for(&self, job: &ClaimedJob) -> Result<Executor<T, C>, String>
    where
        Executor<T, C>: Clone,
    {
        if let Some(e) = self.route(job.broker_connection_id) {
            return Ok(e);
        }
        let Some(connection) = job.broker_connection_id else {
            return Err("this agent serves no terminal".into());
        };
        if job.job_type.is_trading() {
            let deadline = job
                .expires_at
                .map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(self.trading_wait);
            tracing::warn!(job_id = %job.job_id, %connection, wait_ms = deadline.as_millis() as u64, "no terminal serves this job's account yet; waiting for it");
            let waited = tokio::time::timeout(deadline, async {
                loop {
                    if let Some(e) = self.route(Some(connection)) {
                        return e;
                    }
                    tokio::select! {
                        _ = self.accounts_changed.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    }
                }
            })
            .await;
            if let Ok(e) = waited {
                return Ok(e);
            }
        }
        Err(self.unrouted_reason(connection))
    }
}
