//! The TypeScript declarations of every Rust type the desktop UI uses — the app's
//! IPC shapes and the `companion_protocol` wire types — rendered with `ts-rs` into
//! one file, `ui/src/lib/generated/types.ts`. `ui/src/lib/api.ts` imports them; a
//! test in `src-tauri` fails when the committed file differs from [`render`]
//! (`scripts/gen-types` rewrites it).

use ts_rs::{Config, TS};

use crate::app::dto::{
    AccountDto, CurrentPairing, PairOffer, ServerEvent, ServerEventKind, SettingsDto, SignalFilter,
    StatusDto, StrategyInput, SymbolRow, TerminalDto, UpdateInfo, UpdateProgress,
};
use crate::app::error::{AppError, AppErrorCode};
use crate::terminal_setup::doctor::{Check, CheckId, CheckStatus};
use crate::terminal_setup::{InstallationView, SetupReport};
use companion_protocol as p;

/// The committed file, relative to the workspace root.
pub const GENERATED_PATH: &str = "ui/src/lib/generated/types.ts";

fn decl<T: TS>(cfg: &Config) -> String {
    format!("export {}", T::decl(cfg))
}

/// The whole generated file.
pub fn render() -> String {
    // JSON numbers: the UI never sees integers beyond 2^53.
    let cfg = Config::new().with_large_int("number");
    let decls = [
        // IPC (src-tauri commands and events)
        decl::<StatusDto>(&cfg),
        decl::<TerminalDto>(&cfg),
        decl::<AccountDto>(&cfg),
        decl::<SettingsDto>(&cfg),
        decl::<UpdateInfo>(&cfg),
        decl::<UpdateProgress>(&cfg),
        decl::<ServerEventKind>(&cfg),
        decl::<ServerEvent>(&cfg),
        decl::<StrategyInput>(&cfg),
        decl::<SymbolRow>(&cfg),
        decl::<SignalFilter>(&cfg),
        decl::<PairOffer>(&cfg),
        decl::<CurrentPairing>(&cfg),
        decl::<AppErrorCode>(&cfg),
        decl::<AppError>(&cfg),
        // Terminal setup and the Doctor
        decl::<InstallationView>(&cfg),
        decl::<SetupReport>(&cfg),
        decl::<CheckId>(&cfg),
        decl::<CheckStatus>(&cfg),
        decl::<Check>(&cfg),
        // companion_protocol: jobs
        decl::<p::JobType>(&cfg),
        decl::<p::JobStatus>(&cfg),
        decl::<p::JobView>(&cfg),
        decl::<p::Side>(&cfg),
        decl::<p::Timeframe>(&cfg),
        decl::<p::AccountOutput>(&cfg),
        decl::<p::Position>(&cfg),
        decl::<p::StopRuleState>(&cfg),
        decl::<p::StopRulePhase>(&cfg),
        decl::<p::BreakevenRule>(&cfg),
        decl::<p::TrailingRule>(&cfg),
        decl::<p::AtrTrailing>(&cfg),
        decl::<p::ClosedPosition>(&cfg),
        decl::<p::ClosePositionOutput>(&cfg),
        decl::<p::PositionEffect>(&cfg),
        decl::<p::TradeOutput>(&cfg),
        decl::<p::OrderType>(&cfg),
        decl::<p::PendingOrder>(&cfg),
        decl::<p::ModifiedPosition>(&cfg),
        decl::<p::ModifyPositionOutput>(&cfg),
        decl::<p::CancelOrdersOutput>(&cfg),
        decl::<p::OppositeEntry>(&cfg),
        decl::<p::CloseScope>(&cfg),
        decl::<p::MarginMode>(&cfg),
        decl::<p::AccountKind>(&cfg),
        decl::<p::Candle>(&cfg),
        decl::<p::Diagnostic>(&cfg),
        decl::<p::CompileOutput>(&cfg),
        decl::<p::TestReport>(&cfg),
        // companion_protocol: user API
        decl::<p::AlertDialect>(&cfg),
        decl::<p::PcVolumeType>(&cfg),
        decl::<p::PcTargetType>(&cfg),
        decl::<p::PcPendingEntry>(&cfg),
        decl::<p::PcAccountFilter>(&cfg),
        decl::<p::StrategyExecution>(&cfg),
        decl::<p::Strategy>(&cfg),
        decl::<p::AgentStatus>(&cfg),
        decl::<p::AgentSummary>(&cfg),
        decl::<p::BrokerConnection>(&cfg),
        decl::<p::symbols::SymbolDecision>(&cfg),
        decl::<p::TradingDay>(&cfg),
        decl::<p::TradingDayTimeZone>(&cfg),
        decl::<p::SignalStatus>(&cfg),
        decl::<p::SignalAction>(&cfg),
        decl::<p::Signal>(&cfg),
        decl::<p::SignalPage>(&cfg),
        decl::<p::SignalDetail>(&cfg),
        decl::<p::EaVersionStatus>(&cfg),
        decl::<p::EaProject>(&cfg),
        decl::<p::EaVersion>(&cfg),
        decl::<p::EaVersionSource>(&cfg),
        decl::<p::QueueDeployRequest>(&cfg),
        decl::<p::QueueTestRequest>(&cfg),
        decl::<p::QueuedJob>(&cfg),
    ];
    let mut out = String::from(
        "// Generated from the Rust types by `scripts/gen-types` (crates/agent/src/app/typescript.rs).\n\
         // Do not edit: change the Rust type and regenerate; `make test` fails when this file is stale.\n\n",
    );
    out.push_str(&decls.join("\n\n"));
    out.push('\n');
    out
}
