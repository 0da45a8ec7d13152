//! The status the UI and the tray show: a `watch` of [`StatusDto`] whose `seq`
//! increases with every change, and how the runtime's own state folds into it.

use tokio::sync::watch;

use crate::app::dto::{AccountDto, StatusDto, TerminalDto};
use crate::runtime::{AgentStatusView, RunState};

/// Changes the status; `seq` increases (and watchers wake) only when something changed.
pub fn update(status: &watch::Sender<StatusDto>, f: impl FnOnce(&mut StatusDto)) {
    status.send_if_modified(|s| {
        let before = s.clone();
        f(s);
        let changed = *s != before;
        if changed {
            s.seq += 1;
        }
        changed
    });
}

/// Folds the runtime's state into the status; `prev` is the runtime state last applied,
/// so the server connection (also tracked by the event stream) is only written when
/// the runtime's view of it changes.
pub fn apply_runtime_view(s: &mut StatusDto, v: &AgentStatusView, prev: &AgentStatusView) {
    s.terminal = TerminalDto::from(&v.terminal);
    s.accounts = v.terminals.iter().map(AccountDto::from).collect();
    if v.server_connected != prev.server_connected {
        s.server_connected = v.server_connected;
    }
    s.paused = v.state == RunState::Paused;
    if v.last_error != prev.last_error {
        s.last_error = v.last_error.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_view_maps_terminal_pause_and_changes_only() {
        let mut s = StatusDto {
            server_connected: true,
            last_error: Some("from the event stream".into()),
            ..Default::default()
        };
        let prev = AgentStatusView::default();
        let mut v = AgentStatusView {
            state: RunState::Paused,
            ..Default::default()
        };
        v.terminal.connected = true;
        v.terminal.paper = true;
        apply_runtime_view(&mut s, &v, &prev);
        assert!(s.terminal.connected && s.terminal.paper);
        assert!(s.paused);
        // Unchanged runtime fields leave what the event stream wrote.
        assert!(s.server_connected);
        assert_eq!(s.last_error.as_deref(), Some("from the event stream"));

        let mut next = v.clone();
        next.state = RunState::Running;
        next.server_connected = true;
        next.last_error = Some("terminal not connected".into());
        apply_runtime_view(&mut s, &next, &v);
        assert!(!s.paused);
        assert_eq!(s.last_error.as_deref(), Some("terminal not connected"));

        let mut down = next.clone();
        down.server_connected = false;
        apply_runtime_view(&mut s, &down, &next);
        assert!(!s.server_connected);
    }

    #[test]
    fn update_counts_only_real_changes() {
        let (tx, _rx) = watch::channel(StatusDto::default());
        update(&tx, |s| s.paired = true);
        update(&tx, |s| s.paired = true);
        assert_eq!(tx.borrow().seq, 1);
    }
}
