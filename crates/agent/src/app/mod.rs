//! The desktop app's core, free of Tauri (DESIGN §2: everything the app does is
//! testable with plain `cargo test`). `src-tauri` is a thin shell over it: its
//! commands are one-line adapters onto [`Core`]'s functions.
//!
//! - [`session`]: pairing, the session, the status `watch`, the event relay
//! - [`commands`]: the user-API and terminal-read commands
//! - [`user_api`]: the one user-API client, typed by `companion_protocol`
//! - [`events`]: the `GET /events` stream, read with `eventsource-stream`
//! - [`link`]: the agent runtime embedded in the app
//! - [`terminal`]: Terminal setup and the Doctor
//! - [`status`], [`settings`], [`dto`], [`error`], [`logs`]

pub mod commands;
pub mod dto;
pub mod error;
pub mod events;
pub mod link;
pub mod logs;
pub mod session;
pub mod settings;
pub mod status;
pub mod terminal;
#[cfg(feature = "ts")]
pub mod typescript;
pub mod update_watch;
pub mod user_api;

#[cfg(test)]
mod tests;

pub use dto::{
    CurrentPairing, PairOffer, ServerEvent, ServerEventKind, SettingsDto, SignalFilter, StatusDto,
    StrategyInput, SymbolRow, TerminalDto, UpdateInfo, UpdateProgress,
};
pub use error::{AppError, AppErrorCode, AppResult};
pub use session::{Core, CoreOptions};
pub use user_api::UserApi;
