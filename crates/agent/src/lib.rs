//! companion-agent: the agent runtime Companion runs beside MetaTrader 5.
//!
//! It pairs with the server from a key kept in the OS keychain ([`secret`]),
//! long-polls the agent API for jobs ([`client`]), executes them against the
//! terminal ([`executor`]) while journaling every step in SQLite ([`journal`])
//! so a trade is never sent twice and a result is never lost, and reports back.
//! [`runtime`] ties it together for the headless binary and the desktop app.
//! [`app`] is the desktop app's core (pairing, session, user-API client, status,
//! settings), free of Tauri.

pub mod app;
pub mod client;
pub mod config;
pub mod executor;
pub mod filters;
pub mod journal;
pub mod launch;
pub mod runtime;
pub mod secret;
pub mod sizing;
pub mod symbols;
pub mod terminal_setup;
pub mod toolchain;
pub mod update;
#[cfg(windows)]
pub mod winservice;

pub use client::{ApiClient, ClientError};
pub use config::AgentConfig;
pub use executor::{job_comment, Executor, ExecutorOptions};
pub use journal::{Journal, JournalCounts, JournalState};
pub use launch::{launch, LaunchError, LaunchOptions, Launched};
pub use runtime::{AgentHandle, AgentStatusView, RunState, RuntimeOptions};
pub use secret::{AgentKey, KeyringStore, MemoryStore, SecretError, SecretStore};
pub use toolchain::{Toolchain, ToolchainError, Unconfigured};

#[cfg(test)]
mod executor_tests;
