//! The MT5 side of Companion: the `Terminal` trait the agent's executor drives,
//! the bridge protocol spoken with the bridge EA inside MT5 (and by the paper
//! terminal), the MetaEditor / tester toolchain, terminal discovery, and the MT5
//! names the agent shares with the terminal: return codes ([`retcode`]), order
//! comments ([`bridge::job_comment`]) and EA names ([`toolchain::expert_name`]).

pub mod bridge;
pub mod discovery;
pub mod ea;
pub mod paper;
pub mod retcode;
pub mod startup;
pub mod terminal;
pub mod toolchain;

pub use bridge::{BridgeConfig, BridgeServer, BridgeTerminal};
pub use terminal::*;
