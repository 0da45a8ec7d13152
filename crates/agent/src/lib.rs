//! companion-agent: the agent runtime Companion runs beside MetaTrader 5.
//!
//! It pairs with the server from a key kept in the OS keychain ([`secret`]),
//! long-polls the agent API for jobs ([`client`]), executes them against the
//! terminal ([`executor`]) while journaling every step in SQLite ([`journal`])
//! so a trade is never sent twice and a result is never lost, and reports back.
//! [`runtime`] ties it together for the headless binary and the desktop app.

pub mod client;
pub mod config;
pub mod executor;
pub mod journal;
pub mod launch;
pub mod mt5_toolchain;
pub mod retcode;
pub mod runtime;
pub mod secret;
pub mod sizing;
pub mod toolchain;
pub mod update;
pub mod user_client;
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
pub use user_client::UserClient;

#[cfg(test)]
mod executor_tests;
