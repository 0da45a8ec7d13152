//! The chaos plan: when each signal is sent and when which fault strikes, all drawn
//! from one seed so a run can be repeated (`--seed`).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One fault the run injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// SIGKILL the agent, restart it after `down`.
    KillAgent,
    /// SIGTERM the server (graceful), restart it.
    RestartServer,
    /// SIGKILL the server, restart it.
    KillServer,
    /// SIGKILL the paper terminal (the bridge connection drops), restart it.
    DropTerminal,
    /// Restart the paper terminal so that it drops the connection after executing
    /// the next order and before replying.
    TerminalDropBeforeReply,
    /// `pg_terminate_backend` every connection of the server.
    TerminateBackends,
}

pub const FAULTS: [Fault; 6] = [
    Fault::KillAgent,
    Fault::RestartServer,
    Fault::KillServer,
    Fault::DropTerminal,
    Fault::TerminalDropBeforeReply,
    Fault::TerminateBackends,
];

/// A fault at an offset from the start of the run, and how long the victim stays down.
#[derive(Debug, Clone, Copy)]
pub struct FaultAt {
    pub at: Duration,
    pub fault: Fault,
    pub down: Duration,
}

/// A signal at an offset from the start.
#[derive(Debug, Clone)]
pub struct SignalAt {
    pub at: Duration,
    pub index: usize,
    pub body: String,
}

pub struct Plan {
    pub signals: Vec<SignalAt>,
    pub faults: Vec<FaultAt>,
}

const SYMBOLS: [&str; 3] = ["EURUSD", "GBPUSD", "XAUUSD"];

/// `signals` signals spread over `duration`, and faults every `fault_every` on average.
pub fn make(seed: u64, signals: usize, duration: Duration, fault_every: Duration) -> Plan {
    let mut rng = StdRng::seed_from_u64(seed);
    let span = duration.as_secs_f64();
    let mut sig: Vec<SignalAt> = (0..signals)
        .map(|i| {
            let at = Duration::from_secs_f64(rng.random_range(0.0..span));
            let side = if rng.random_bool(0.5) { "buy" } else { "sell" };
            let symbol = SYMBOLS[rng.random_range(0..SYMBOLS.len())];
            let body = format!(
                r#"{{"action":"{side}","ticker":"{symbol}","volume":0.01,"id":"chaos-{seed}-{i}"}}"#
            );
            SignalAt { at, index: i, body }
        })
        .collect();
    sig.sort_by_key(|s| s.at);
    let mut faults = Vec::new();
    let mut t = 0.0;
    loop {
        // Exponential gaps: faults land at random moments, sometimes back to back.
        let u: f64 = rng.random_range(0.0001..1.0);
        t += -u.ln() * fault_every.as_secs_f64();
        if t >= span {
            break;
        }
        let fault = FAULTS[rng.random_range(0..FAULTS.len())];
        let down = Duration::from_millis(rng.random_range(0..2500));
        faults.push(FaultAt {
            at: Duration::from_secs_f64(t),
            fault,
            down,
        });
    }
    Plan {
        signals: sig,
        faults,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(p: &Plan) -> Vec<String> {
        p.signals
            .iter()
            .map(|s| format!("{:?}{}", s.at, s.body))
            .chain(
                p.faults
                    .iter()
                    .map(|f| format!("{:?}{:?}{:?}", f.at, f.fault, f.down)),
            )
            .collect()
    }

    #[test]
    fn a_seed_gives_the_same_plan_and_another_seed_a_different_one() {
        let d = Duration::from_secs(60);
        let a = make(42, 100, d, Duration::from_secs(3));
        let b = make(42, 100, d, Duration::from_secs(3));
        let c = make(43, 100, d, Duration::from_secs(3));
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn every_signal_is_planned_once_in_time_order_within_the_run() {
        let d = Duration::from_secs(30);
        let p = make(7, 250, d, Duration::from_secs(2));
        assert_eq!(p.signals.len(), 250);
        let mut idx: Vec<usize> = p.signals.iter().map(|s| s.index).collect();
        idx.sort_unstable();
        assert_eq!(idx, (0..250).collect::<Vec<_>>());
        assert!(p.signals.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(p.signals.iter().all(|s| s.at < d));
        assert!(p.faults.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(p.faults.iter().all(|f| f.at < d));
        // Unique alert ids: the audit's dedup check relies on them.
        let ids: std::collections::HashSet<&str> = p
            .signals
            .iter()
            .map(|s| s.body.split("\"id\":").nth(1).unwrap_or(""))
            .collect();
        assert_eq!(ids.len(), 250);
        // Over 30 s with a fault every ~2 s, several kinds show up.
        let kinds: std::collections::BTreeSet<_> = p.faults.iter().map(|f| f.fault).collect();
        assert!(kinds.len() >= 3, "{kinds:?}");
    }
}
