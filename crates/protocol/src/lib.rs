//! Wire types shared by the Companion server, the agent runtime and the desktop app.
//!
//! Everything here is plain serde data: job types and their per-type inputs and
//! outputs (DESIGN section 5) and [`JobInput`] / [`JobOutput`], one typed value per
//! job type, the agent API bodies (section 4) and the JSON error
//! body every HTTP error uses. No I/O lives in this crate.

pub mod agents;
pub mod api;
pub mod broker;
pub mod contract;
pub mod error;
pub mod execution;
pub mod jobs;
pub mod pineconnector;
pub mod stop_rules;
pub mod symbols;
pub mod updates;
pub mod user;

pub use agents::*;
pub use api::*;
pub use broker::*;
pub use contract::{JobInput, JobOutput};
pub use error::{ApiErrorBody, ErrorCode};
pub use execution::*;
pub use jobs::*;
pub use pineconnector::{
    AlertDialect, PcAccountFilter, PcPendingEntry, PcTargetType, PcVolumeType,
};
pub use stop_rules::*;
pub use user::*;
