//! companion-chaos: tools that prove Companion under load and faults — the chaos
//! driver, the idle long-poll and auth-cost benches — plus shared helpers.
//! The parser fuzz harnesses live in `tests/`.

pub mod burst;
pub mod fixtures;
pub mod plan;
pub mod procs;
pub mod procstat;
pub mod recovery;
pub mod stats;
pub mod verify;
