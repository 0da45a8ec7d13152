//! The bridge protocol (docs/bridge-protocol.md): newline-delimited JSON over
//! loopback TCP between the agent (listening) and the bridge EA or the paper
//! terminal (connecting).

pub mod codec;
pub mod commands;
pub mod server;
pub mod tag;
pub mod wire;

pub use commands::{job_comment, parse_side, parse_timeframe, timeframe_str, MAX_COMMENT_CHARS};
pub use server::{BridgeConfig, BridgeServer, BridgeTerminal, Refusal};
pub use tag::{comment_is_job, comment_matches, job_tag, legacy_job_tag, order_comment};
pub use wire::PROTOCOL_VERSION;
