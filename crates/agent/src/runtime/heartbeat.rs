//! The heartbeat loop: tells the server every `heartbeat_every` that the agent is
//! online (or paused), with its terminal and running jobs.

use std::sync::Arc;

use companion_protocol::{AgentStatus, HeartbeatRequest};

use super::Shared;
use crate::client::ClientError;

pub(super) fn heartbeat_body<T, C>(shared: &Shared<T, C>, status: AgentStatus) -> HeartbeatRequest {
    let view = shared.status.borrow().clone();
    HeartbeatRequest {
        status,
        app_version: crate::update::VERSION.to_string(),
        terminal: Some(view.terminal),
        running_jobs: view.current_jobs.iter().map(|j| j.job_id).collect(),
    }
}

pub(super) async fn heartbeat_loop<T, C>(shared: Arc<Shared<T, C>>) {
    let mut tick = tokio::time::interval(shared.opts.heartbeat_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let status = if *shared.paused.borrow() {
            AgentStatus::Paused
        } else {
            AgentStatus::Online
        };
        let hb = heartbeat_body(&shared, status);
        match shared.client.heartbeat(&hb).await {
            Ok(()) => shared.server_ok(),
            Err(e @ ClientError::BadKey { .. }) => {
                shared.fatal(e).await;
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "heartbeat failed");
                if e.is_retryable() {
                    shared.server_down(&e);
                }
            }
        }
    }
}
