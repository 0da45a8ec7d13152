//! Tauri commands: one-line adapters from the webview contract (`ui/src/lib/api.ts`,
//! whose types are generated from these Rust types) onto the app core
//! (`companion_agent::app::Core`). Every answer is a typed value.

use std::sync::Arc;

use companion_agent::app::{
    logs, AppResult, Core, PairOffer, SettingsDto, SignalFilter, StatusDto, StrategyInput,
    SymbolRow, UpdateInfo,
};
use companion_agent::terminal_setup::doctor::Check;
use companion_agent::terminal_setup::{InstallationView, SetupReport};
use companion_protocol::{
    AccountOutput, BrokerConnection, Candle, ClosePositionOutput, EaProject, EaVersion,
    EaVersionSource, JobView, Position, QueuedJob, SignalDetail, SignalPage, Strategy, Timeframe,
    TradingDay, TradingDayTimeZone,
};
use serde_json::Value;
use tauri::{AppHandle, State};
use uuid::Uuid;

type C<'a> = State<'a, Arc<Core>>;

#[tauri::command]
pub fn status(c: C<'_>) -> StatusDto {
    c.status()
}

#[tauri::command]
pub async fn pair(c: C<'_>, key: String, server: Option<String>) -> AppResult<StatusDto> {
    c.inner().pair(key, server).await
}

#[tauri::command]
pub async fn pending_link_pairing(c: C<'_>) -> AppResult<Option<PairOffer>> {
    Ok(c.pending_link_pairing().await)
}

#[tauri::command]
pub async fn confirm_link_pairing(c: C<'_>, offer_id: Uuid) -> AppResult<StatusDto> {
    c.inner().confirm_link_pairing(offer_id).await
}

#[tauri::command]
pub async fn dismiss_link_pairing(c: C<'_>, offer_id: Uuid) -> AppResult<()> {
    c.dismiss_link_pairing(offer_id).await
}

#[tauri::command]
pub async fn unpair(c: C<'_>) -> AppResult<StatusDto> {
    c.unpair().await
}

#[tauri::command]
pub async fn set_paused(c: C<'_>, paused: bool) -> AppResult<StatusDto> {
    c.set_paused(paused).await
}

#[tauri::command]
pub async fn account(c: C<'_>) -> AppResult<AccountOutput> {
    c.account().await
}

#[tauri::command]
pub async fn positions(c: C<'_>) -> AppResult<Vec<Position>> {
    c.positions().await
}

#[tauri::command]
pub async fn pending_orders(c: C<'_>) -> AppResult<Vec<companion_protocol::PendingOrder>> {
    c.pending_orders().await
}

#[tauri::command]
pub async fn close_position(c: C<'_>, ticket: u64) -> AppResult<ClosePositionOutput> {
    c.close_position(ticket).await
}

#[tauri::command]
pub fn terminal_list(c: C<'_>) -> AppResult<Vec<InstallationView>> {
    c.terminal_list()
}

#[tauri::command]
pub async fn terminal_setup(c: C<'_>, data_dir: String) -> AppResult<SetupReport> {
    c.terminal_setup(data_dir).await
}

#[tauri::command]
pub async fn terminal_doctor(c: C<'_>, data_dir: Option<String>) -> AppResult<Vec<Check>> {
    c.terminal_doctor(data_dir).await
}

#[tauri::command]
pub async fn candles(
    c: C<'_>,
    symbol: String,
    timeframe: Timeframe,
    count: u32,
) -> AppResult<Vec<Candle>> {
    c.candles(symbol, timeframe, count).await
}

#[tauri::command]
pub async fn recent_jobs(c: C<'_>) -> AppResult<Vec<JobView>> {
    c.recent_jobs().await
}

#[tauri::command]
pub async fn get_job(c: C<'_>, id: Uuid) -> AppResult<JobView> {
    c.get_job(id).await
}

#[tauri::command]
pub async fn trading_day(c: C<'_>) -> AppResult<Option<TradingDay>> {
    c.trading_day().await
}

#[tauri::command]
pub async fn set_trading_day_tz(c: C<'_>, tz: String) -> AppResult<TradingDayTimeZone> {
    c.set_trading_day_tz(&tz).await
}

#[tauri::command]
pub async fn list_strategies(c: C<'_>) -> AppResult<Vec<Strategy>> {
    c.list_strategies().await
}

#[tauri::command]
pub async fn create_strategy(c: C<'_>, input: StrategyInput) -> AppResult<Strategy> {
    c.create_strategy(&input).await
}

#[tauri::command]
pub async fn update_strategy(c: C<'_>, id: Uuid, input: StrategyInput) -> AppResult<Strategy> {
    c.update_strategy(id, &input).await
}

#[tauri::command]
pub async fn delete_strategy(c: C<'_>, id: Uuid) -> AppResult<()> {
    c.delete_strategy(id).await
}

#[tauri::command]
pub async fn rotate_strategy_secret(c: C<'_>, id: Uuid) -> AppResult<Strategy> {
    c.rotate_strategy_secret(id).await
}

#[tauri::command]
pub async fn list_broker_connections(c: C<'_>) -> AppResult<Vec<BrokerConnection>> {
    c.list_broker_connections().await
}

#[tauri::command]
pub async fn list_symbols(c: C<'_>) -> AppResult<Vec<SymbolRow>> {
    c.list_symbols().await
}

#[tauri::command]
pub async fn set_symbol_override(
    c: C<'_>,
    canonical: String,
    broker_symbol: String,
) -> AppResult<Vec<SymbolRow>> {
    c.set_symbol_override(&canonical, &broker_symbol).await
}

#[tauri::command]
pub async fn clear_symbol_override(c: C<'_>, canonical: String) -> AppResult<Vec<SymbolRow>> {
    c.clear_symbol_override(&canonical).await
}

#[tauri::command]
pub async fn list_signals(
    c: C<'_>,
    filter: SignalFilter,
    cursor: Option<String>,
) -> AppResult<SignalPage> {
    c.list_signals(&filter, cursor.as_deref()).await
}

#[tauri::command]
pub async fn get_signal(c: C<'_>, id: Uuid) -> AppResult<SignalDetail> {
    c.get_signal(id).await
}

#[tauri::command]
pub async fn list_ea_projects(c: C<'_>) -> AppResult<Vec<EaProject>> {
    c.list_ea_projects().await
}

#[tauri::command]
pub async fn list_ea_versions(c: C<'_>, project_id: Uuid) -> AppResult<Vec<EaVersion>> {
    c.list_ea_versions(project_id).await
}

#[tauri::command]
pub async fn get_ea_version_source(c: C<'_>, version_id: Uuid) -> AppResult<EaVersionSource> {
    c.get_ea_version_source(version_id).await
}

#[tauri::command]
pub async fn set_current_version(
    c: C<'_>,
    project_id: Uuid,
    version_id: Uuid,
) -> AppResult<EaProject> {
    c.set_current_version(project_id, version_id).await
}

#[tauri::command]
pub async fn queue_ea_job(
    c: C<'_>,
    version_id: Uuid,
    job_type: String,
    params: Value,
) -> AppResult<QueuedJob> {
    c.queue_ea_job(version_id, &job_type, params).await
}

#[tauri::command]
pub async fn get_settings(app: AppHandle, c: C<'_>) -> AppResult<SettingsDto> {
    c.settings(crate::platform::autostart_enabled(&app)).await
}

#[tauri::command]
pub async fn save_settings(
    app: AppHandle,
    c: C<'_>,
    settings: SettingsDto,
) -> AppResult<SettingsDto> {
    c.save_settings(&settings).await?;
    crate::platform::set_autostart(&app, settings.autostart)?;
    c.settings(crate::platform::autostart_enabled(&app)).await
}

#[tauri::command]
pub async fn check_update(app: AppHandle, c: C<'_>) -> AppResult<UpdateInfo> {
    crate::updates::check(&app, &c).await
}

/// The last update check's result (automatic or manual), without checking again.
#[tauri::command]
pub fn last_update_check(app: AppHandle) -> Option<UpdateInfo> {
    crate::updates::last(&app)
}

#[tauri::command]
pub async fn install_update(app: AppHandle, c: C<'_>) -> AppResult<()> {
    crate::updates::install(&app, &c).await
}

#[tauri::command]
pub fn read_logs(c: C<'_>) -> AppResult<String> {
    logs::tail(c.data_dir(), 400)
}
