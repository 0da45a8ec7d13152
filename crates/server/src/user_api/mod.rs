//! User API (`Authorization: Bearer <JWT>` or an agent key acting for its owner),
//! every query under RLS through `AppState::user_tx`: strategies, broker
//! connections and their symbol overrides, the trading day (realised P&L vs the daily
//! loss limit), signals, EA projects and versions.

pub mod broker_connections;
pub mod ea;
pub mod signals;
pub mod strategies;
pub mod symbol_overrides;
pub mod trading_day;

use axum::Router;

use crate::state::AppState;

/// OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        strategies::list,
        strategies::get_one,
        strategies::create,
        strategies::update,
        strategies::delete,
        strategies::rotate_secret,
        broker_connections::list,
        symbol_overrides::list,
        symbol_overrides::set,
        symbol_overrides::delete,
        trading_day::list,
        trading_day::set_time_zone,
        signals::list,
        signals::get_one,
        ea::list_projects,
        ea::list_versions,
        ea::set_current_version,
        ea::version_source,
        ea::queue_compile,
        ea::queue_deploy,
        ea::queue_test,
    ),
    components(schemas(
        ErrorDoc,
        companion_protocol::Strategy,
        companion_protocol::AlertDialect,
        companion_protocol::PcVolumeType,
        companion_protocol::PcTargetType,
        companion_protocol::CreateStrategyRequest,
        companion_protocol::UpdateStrategyRequest,
        companion_protocol::BrokerConnection,
        companion_protocol::TradingDay,
        companion_protocol::TradingDayTimeZone,
        companion_protocol::AgentSummary,
        companion_protocol::symbols::SymbolOverride,
        companion_protocol::symbols::SetSymbolOverride,
        companion_protocol::Signal,
        companion_protocol::SignalAction,
        companion_protocol::SignalDetail,
        companion_protocol::SignalPage,
        companion_protocol::EaProject,
        companion_protocol::EaVersion,
        companion_protocol::EaVersionStatus,
        companion_protocol::EaVersionSource,
        companion_protocol::SetCurrentVersionRequest,
        companion_protocol::QueueCompileRequest,
        companion_protocol::QueueDeployRequest,
        companion_protocol::QueueTestRequest,
        companion_protocol::QueuedJob,
    ))
)]
pub struct ApiDoc;

/// OpenAPI schema of the JSON error body (`companion_protocol::ApiErrorBody`).
#[derive(utoipa::ToSchema)]
#[schema(as = ApiErrorBody)]
#[allow(dead_code)]
pub(crate) struct ErrorDoc {
    /// Stable machine code (`not_found`, `invalid_request`, ...).
    code: String,
    message: String,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(strategies::routes())
        .merge(broker_connections::routes())
        .merge(symbol_overrides::routes())
        .merge(trading_day::routes())
        .merge(signals::routes())
        .merge(ea::routes())
}
