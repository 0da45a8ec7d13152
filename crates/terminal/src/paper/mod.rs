//! The paper terminal: a simulator that speaks the bridge protocol exactly as the
//! bridge EA does, over a real TCP connection to the agent, with a deterministic
//! market and switches to inject faults. Binary: `companion-paper-terminal`.

pub mod client;
pub mod engine;
pub mod market;
pub mod symbols;

pub use client::{run, ClientConfig, ClientError, ConnectionFaults};
pub use engine::{paper_login, Engine, EngineConfig, ForeignPosition, OrderLogLine, RejectRule};
pub use symbols::{
    load_symbols_file, parse_symbols, profile, Profile, SymbolsError, PROFILE_NAMES,
};
