//! Tauri commands: one-line adapters from the webview contract (`ui/src/lib/api.ts`)
//! onto [`Backend`]. User-API answers pass through as JSON (typed on both ends by
//! `companion_protocol::user` and `api.ts`).

use std::sync::Arc;

use reqwest::Method;
use serde_json::{json, Value};
use tauri::{AppHandle, State};
use uuid::Uuid;

use crate::backend::Backend;
use crate::error::{AppError, AppResult};
use crate::model::{SettingsDto, SignalFilter, StatusDto, StrategyInput, UpdateInfo};

type B<'a> = State<'a, Arc<Backend>>;

#[tauri::command]
pub fn status(b: B<'_>) -> StatusDto {
    b.status()
}

#[tauri::command]
pub async fn pair(b: B<'_>, key: String, server: Option<String>) -> AppResult<StatusDto> {
    b.inner().pair(key, server).await
}

#[tauri::command]
pub async fn unpair(b: B<'_>) -> AppResult<StatusDto> {
    b.unpair().await
}

#[tauri::command]
pub async fn set_paused(b: B<'_>, paused: bool) -> AppResult<StatusDto> {
    b.set_paused(paused).await
}

#[tauri::command]
pub async fn account(b: B<'_>) -> AppResult<Value> {
    b.terminal_job("get_account", json!({})).await
}

#[tauri::command]
pub async fn positions(b: B<'_>) -> AppResult<Value> {
    let out = b.terminal_job("get_positions", json!({})).await?;
    Ok(out.get("positions").cloned().unwrap_or_else(|| json!([])))
}

#[tauri::command]
pub async fn close_position(b: B<'_>, ticket: u64) -> AppResult<Value> {
    b.terminal_job("close_position", json!({ "ticket": ticket }))
        .await
}

#[tauri::command]
pub async fn candles(b: B<'_>, symbol: String, timeframe: String, count: u32) -> AppResult<Value> {
    let out = b
        .terminal_job(
            "get_candles",
            json!({ "symbol": symbol, "timeframe": timeframe, "count": count.clamp(1, 5000) }),
        )
        .await?;
    Ok(out.get("candles").cloned().unwrap_or_else(|| json!([])))
}

#[tauri::command]
pub async fn recent_jobs(b: B<'_>) -> AppResult<Value> {
    let id = b.agent_id().await?;
    b.get(&format!("/jobs?limit=20&agent_id={id}")).await
}

#[tauri::command]
pub async fn get_job(b: B<'_>, id: Uuid) -> AppResult<Value> {
    b.get(&format!("/jobs/{id}")).await
}

#[tauri::command]
pub async fn list_strategies(b: B<'_>) -> AppResult<Value> {
    b.get("/strategies").await
}

#[tauri::command]
pub async fn create_strategy(b: B<'_>, input: StrategyInput) -> AppResult<Value> {
    b.send(Method::POST, "/strategies", &input).await
}

#[tauri::command]
pub async fn update_strategy(b: B<'_>, id: Uuid, input: StrategyInput) -> AppResult<Value> {
    // Explicit nulls clear allowed pairs / the risk override (PATCH semantics).
    b.send(Method::PATCH, &format!("/strategies/{id}"), &input)
        .await
}

#[tauri::command]
pub async fn delete_strategy(b: B<'_>, id: Uuid) -> AppResult<()> {
    b.delete(&format!("/strategies/{id}")).await
}

#[tauri::command]
pub async fn rotate_strategy_secret(b: B<'_>, id: Uuid) -> AppResult<Value> {
    b.send(
        Method::POST,
        &format!("/strategies/{id}/rotate-secret"),
        &json!({}),
    )
    .await
}

#[tauri::command]
pub async fn list_broker_connections(b: B<'_>) -> AppResult<Value> {
    b.get("/broker-connections").await
}

#[tauri::command]
pub async fn list_signals(
    b: B<'_>,
    filter: SignalFilter,
    cursor: Option<String>,
) -> AppResult<Value> {
    let q = filter.query(cursor.as_deref());
    b.get(&if q.is_empty() {
        "/signals".to_string()
    } else {
        format!("/signals?{q}")
    })
    .await
}

#[tauri::command]
pub async fn get_signal(b: B<'_>, id: Uuid) -> AppResult<Value> {
    b.get(&format!("/signals/{id}")).await
}

#[tauri::command]
pub async fn list_ea_projects(b: B<'_>) -> AppResult<Value> {
    b.get("/ea-projects").await
}

#[tauri::command]
pub async fn list_ea_versions(b: B<'_>, project_id: Uuid) -> AppResult<Value> {
    b.get(&format!("/ea-projects/{project_id}/versions")).await
}

#[tauri::command]
pub async fn get_ea_version_source(b: B<'_>, version_id: Uuid) -> AppResult<Value> {
    b.get(&format!("/ea-versions/{version_id}/source")).await
}

#[tauri::command]
pub async fn set_current_version(b: B<'_>, project_id: Uuid, version_id: Uuid) -> AppResult<Value> {
    b.send(
        Method::PUT,
        &format!("/ea-projects/{project_id}/current-version"),
        &json!({ "current_version_id": version_id }),
    )
    .await
}

#[tauri::command]
pub async fn queue_ea_job(
    b: B<'_>,
    version_id: Uuid,
    job_type: String,
    params: Value,
) -> AppResult<Value> {
    let route = match job_type.as_str() {
        "compile" | "deploy" | "test" => job_type.as_str(),
        other => return Err(AppError::invalid(format!("unknown EA job type {other:?}"))),
    };
    let mut body = match params {
        Value::Object(m) => m,
        Value::Null => Default::default(),
        _ => return Err(AppError::invalid("params must be an object")),
    };
    body.insert("agent_id".into(), json!(b.agent_id().await?));
    b.send(
        Method::POST,
        &format!("/ea-versions/{version_id}/{route}"),
        &Value::Object(body),
    )
    .await
}

#[tauri::command]
pub async fn get_settings(app: AppHandle, b: B<'_>) -> AppResult<SettingsDto> {
    Ok(b.settings(crate::platform::autostart_enabled(&app)).await)
}

#[tauri::command]
pub async fn save_settings(
    app: AppHandle,
    b: B<'_>,
    settings: SettingsDto,
) -> AppResult<SettingsDto> {
    b.save_settings(&settings).await?;
    crate::platform::set_autostart(&app, settings.autostart)?;
    Ok(b.settings(crate::platform::autostart_enabled(&app)).await)
}

#[tauri::command]
pub async fn check_update(app: AppHandle, b: B<'_>) -> AppResult<UpdateInfo> {
    crate::updates::check(&app, &b).await
}

#[tauri::command]
pub async fn install_update(app: AppHandle, b: B<'_>) -> AppResult<()> {
    crate::updates::install(&app, &b).await
}

#[tauri::command]
pub fn read_logs(b: B<'_>) -> AppResult<String> {
    crate::logs::tail(b.data_dir(), 400)
}
