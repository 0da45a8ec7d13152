//! The app's commands as plain async functions on [`Core`] (what the Tauri shell's
//! one-line command adapters call): user-API calls for the paired agent's owner, and
//! terminal reads run as jobs targeted at this agent through the server.

use std::time::Duration;

use companion_protocol::{
    AccountOutput, BrokerConnection, Candle, CandlesOutput, ClosePositionOutput, CreateJobRequest,
    EaProject, EaVersion, EaVersionSource, JobStatus, JobType, JobView, PendingOrder, Position,
    PositionsOutput, QueuedJob, SignalDetail, SignalPage, Strategy, Timeframe, TradingDay,
    TradingDayTimeZone,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::app::dto::{SignalFilter, StrategyInput, SymbolRow};
use crate::app::error::{AppError, AppErrorCode, AppResult};
use crate::app::session::Core;

/// How long a terminal read (account, positions, candles, close) may take.
pub const TERMINAL_JOB_TIMEOUT: Duration = Duration::from_secs(45);

impl Core {
    /// Runs a terminal job on this agent through the server and returns its output.
    pub async fn terminal_job<T: DeserializeOwned>(
        &self,
        job_type: JobType,
        input: Value,
    ) -> AppResult<T> {
        let s = self.session().await?;
        if !self.status().terminal.connected {
            return Err(AppError::new(
                AppErrorCode::TerminalOffline,
                "The MetaTrader terminal is not connected. See Settings › Terminal.",
            ));
        }
        let job = s
            .api
            .create_job(&CreateJobRequest {
                job_type,
                agent_id: s.agent_id,
                input_data: input,
            })
            .await?;
        let deadline = tokio::time::Instant::now() + TERMINAL_JOB_TIMEOUT;
        let mut every = Duration::from_millis(100);
        loop {
            let j = s.api.job(job.id).await?;
            match j.status {
                JobStatus::Completed => {
                    let out = j.output_data.unwrap_or(Value::Null);
                    return serde_json::from_value(out).map_err(|e| {
                        AppError::internal(format!("unexpected {job_type} output: {e}"))
                    });
                }
                JobStatus::Failed | JobStatus::Cancelled => {
                    return Err(AppError::new(
                        AppErrorCode::JobFailed,
                        j.error_message
                            .unwrap_or_else(|| format!("The {job_type} job failed.")),
                    ))
                }
                JobStatus::Pending | JobStatus::Running => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(AppError::new(
                    AppErrorCode::Timeout,
                    "The terminal did not answer in time. Is Companion's agent running and the terminal connected?",
                ));
            }
            tokio::time::sleep(every).await;
            every = (every * 2).min(Duration::from_millis(1000));
        }
    }

    pub async fn account(&self) -> AppResult<AccountOutput> {
        self.terminal_job(JobType::GetAccount, json!({})).await
    }

    pub async fn positions(&self) -> AppResult<Vec<Position>> {
        let out: PositionsOutput = self.terminal_job(JobType::GetPositions, json!({})).await?;
        Ok(out.positions)
    }

    /// The terminal's pending orders (the dashboard's table), from the same
    /// `get_positions` reading.
    pub async fn pending_orders(&self) -> AppResult<Vec<PendingOrder>> {
        let out: PositionsOutput = self.terminal_job(JobType::GetPositions, json!({})).await?;
        Ok(out.orders)
    }

    pub async fn close_position(&self, ticket: u64) -> AppResult<ClosePositionOutput> {
        self.terminal_job(JobType::ClosePosition, json!({ "ticket": ticket }))
            .await
    }

    pub async fn candles(
        &self,
        symbol: String,
        timeframe: Timeframe,
        count: u32,
    ) -> AppResult<Vec<Candle>> {
        let out: CandlesOutput = self
            .terminal_job(
                JobType::GetCandles,
                json!({ "symbol": symbol, "timeframe": timeframe, "count": count.clamp(1, 5000) }),
            )
            .await?;
        Ok(out.candles)
    }

    /// The 20 newest jobs of this agent.
    pub async fn recent_jobs(&self) -> AppResult<Vec<JobView>> {
        let s = self.session().await?;
        s.api.recent_jobs(s.agent_id).await
    }

    pub async fn get_job(&self, id: Uuid) -> AppResult<JobView> {
        self.session().await?.api.job(id).await
    }

    pub async fn list_strategies(&self) -> AppResult<Vec<Strategy>> {
        self.session().await?.api.strategies().await
    }

    pub async fn create_strategy(&self, input: &StrategyInput) -> AppResult<Strategy> {
        self.session().await?.api.create_strategy(input).await
    }

    pub async fn update_strategy(&self, id: Uuid, input: &StrategyInput) -> AppResult<Strategy> {
        self.session().await?.api.update_strategy(id, input).await
    }

    pub async fn delete_strategy(&self, id: Uuid) -> AppResult<()> {
        self.session().await?.api.delete_strategy(id).await
    }

    pub async fn rotate_strategy_secret(&self, id: Uuid) -> AppResult<Strategy> {
        self.session().await?.api.rotate_strategy_secret(id).await
    }

    /// Today's realised P&L against the daily loss limit for this agent's broker
    /// connection (`None` when the server lists none for it).
    pub async fn trading_day(&self) -> AppResult<Option<TradingDay>> {
        let s = self.session().await?;
        let days = s.api.trading_day().await?;
        let mine = s.api.me().await.ok().and_then(|m| m.broker_connection_id);
        Ok(match mine {
            Some(bc) => days.into_iter().find(|d| d.broker_connection_id == bc),
            None => days.into_iter().next(),
        })
    }

    pub async fn set_trading_day_tz(&self, tz: &str) -> AppResult<TradingDayTimeZone> {
        self.session().await?.api.set_trading_day_tz(tz).await
    }

    pub async fn list_broker_connections(&self) -> AppResult<Vec<BrokerConnection>> {
        self.session().await?.api.broker_connections().await
    }

    /// The Symbols view: every instrument with an override or resolved since the
    /// embedded runtime started, by canonical name.
    pub async fn list_symbols(&self) -> AppResult<Vec<SymbolRow>> {
        let s = self.session().await?;
        let connection = self.own_connection(&s.api).await?;
        let overrides = s.api.symbol_overrides(connection).await?;
        let resolved = s.symbol_book().map(|b| b.resolutions()).unwrap_or_default();
        Ok(symbol_rows(
            overrides
                .into_iter()
                .map(|o| (o.canonical, o.broker_symbol)),
            resolved,
        ))
    }

    /// Sets the broker symbol for `canonical` (any spelling: `OANDA:XAUUSD`, `gold`)
    /// on this agent's broker connection; the embedded runtime applies it at once.
    pub async fn set_symbol_override(
        &self,
        canonical: &str,
        broker_symbol: &str,
    ) -> AppResult<Vec<SymbolRow>> {
        let s = self.session().await?;
        let connection = self.own_connection(&s.api).await?;
        s.api
            .set_symbol_override(connection, &path_symbol(canonical)?, broker_symbol)
            .await?;
        self.reload_overrides(&s, connection).await?;
        self.list_symbols().await
    }

    /// Clears the override for `canonical`: the agent resolves it itself again.
    pub async fn clear_symbol_override(&self, canonical: &str) -> AppResult<Vec<SymbolRow>> {
        let s = self.session().await?;
        let connection = self.own_connection(&s.api).await?;
        s.api
            .delete_symbol_override(connection, &path_symbol(canonical)?)
            .await?;
        self.reload_overrides(&s, connection).await?;
        self.list_symbols().await
    }

    async fn own_connection(&self, api: &crate::app::UserApi) -> AppResult<Uuid> {
        api.me().await?.broker_connection_id.ok_or_else(|| {
            AppError::invalid("this agent serves no broker connection; pair it again")
        })
    }

    async fn reload_overrides(
        &self,
        s: &crate::app::session::Session,
        connection: Uuid,
    ) -> AppResult<()> {
        if let Some(book) = s.symbol_book() {
            let list = s.api.symbol_overrides(connection).await?;
            book.set_overrides(list.into_iter().map(|o| (o.canonical, o.broker_symbol)));
        }
        Ok(())
    }

    pub async fn list_signals(
        &self,
        filter: &SignalFilter,
        cursor: Option<&str>,
    ) -> AppResult<SignalPage> {
        self.session().await?.api.signals(filter, cursor).await
    }

    pub async fn get_signal(&self, id: Uuid) -> AppResult<SignalDetail> {
        self.session().await?.api.signal(id).await
    }

    pub async fn list_ea_projects(&self) -> AppResult<Vec<EaProject>> {
        self.session().await?.api.ea_projects().await
    }

    pub async fn list_ea_versions(&self, project_id: Uuid) -> AppResult<Vec<EaVersion>> {
        self.session().await?.api.ea_versions(project_id).await
    }

    pub async fn get_ea_version_source(&self, version_id: Uuid) -> AppResult<EaVersionSource> {
        self.session()
            .await?
            .api
            .ea_version_source(version_id)
            .await
    }

    pub async fn set_current_version(
        &self,
        project_id: Uuid,
        version_id: Uuid,
    ) -> AppResult<EaProject> {
        self.session()
            .await?
            .api
            .set_current_version(project_id, version_id)
            .await
    }

    /// Queues `compile`, `deploy` or `test` of an EA version on this agent; `params` are
    /// the route's other fields (symbol, timeframe, dates...).
    pub async fn queue_ea_job(
        &self,
        version_id: Uuid,
        job_type: &str,
        params: Value,
    ) -> AppResult<QueuedJob> {
        let s = self.session().await?;
        let mut body = match params {
            Value::Object(m) => m,
            Value::Null => Default::default(),
            _ => return Err(AppError::invalid("params must be an object")),
        };
        body.insert("agent_id".into(), json!(s.agent_id));
        s.api
            .queue_ea_job(version_id, job_type, &Value::Object(body))
            .await
    }
}

/// A symbol as typed in the Symbols view, safe as one URL path segment: the part
/// after an exchange prefix, letters, digits and `. _ -` only (the server
/// normalises it to the canonical name).
pub fn path_symbol(raw: &str) -> AppResult<String> {
    let s = raw.trim();
    let s = s.rsplit(':').next().unwrap_or(s).trim();
    if s.is_empty()
        || s.len() > 32
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(AppError::invalid(format!("{raw:?} is not a symbol")));
    }
    Ok(s.to_string())
}

/// Overrides and resolutions merged into one row per canonical name, sorted.
pub fn symbol_rows(
    overrides: impl IntoIterator<Item = (String, String)>,
    resolved: Vec<crate::symbols::Resolution>,
) -> Vec<SymbolRow> {
    let mut rows: std::collections::BTreeMap<String, SymbolRow> = Default::default();
    let row = |c: &str| SymbolRow {
        canonical: c.to_string(),
        broker_symbol: None,
        decided: None,
        override_symbol: None,
    };
    for (canonical, symbol) in overrides {
        rows.entry(canonical.clone())
            .or_insert_with(|| row(&canonical))
            .override_symbol = Some(symbol);
    }
    for r in resolved {
        let e = rows
            .entry(r.canonical.to_ascii_uppercase())
            .or_insert_with(|| row(&r.canonical.to_ascii_uppercase()));
        e.broker_symbol = Some(r.broker_symbol);
        e.decided = Some(r.decided);
    }
    rows.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbols::{Resolution, SymbolDecision};

    #[test]
    fn path_symbols_are_one_safe_segment() {
        assert_eq!(
            path_symbol(" OANDA:NAS100USD ").ok().as_deref(),
            Some("NAS100USD")
        );
        assert_eq!(path_symbol("US30.cash").ok().as_deref(), Some("US30.cash"));
        for bad in ["", "EUR/USD", "a b", "../x", "X?y=1"] {
            assert!(path_symbol(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rows_merge_overrides_and_resolutions_by_canonical_name() {
        let rows = symbol_rows(
            [("XAUUSD".to_string(), "GOLD.pro".to_string())],
            vec![
                Resolution {
                    canonical: "XAUUSD".into(),
                    broker_symbol: "GOLD.pro".into(),
                    decided: SymbolDecision::Override,
                },
                Resolution {
                    canonical: "EURUSD".into(),
                    broker_symbol: "EURUSD.pro".into(),
                    decided: SymbolDecision::Affix,
                },
            ],
        );
        let view: Vec<(&str, Option<&str>, Option<&str>)> = rows
            .iter()
            .map(|r| {
                (
                    r.canonical.as_str(),
                    r.broker_symbol.as_deref(),
                    r.override_symbol.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            view,
            [
                ("EURUSD", Some("EURUSD.pro"), None),
                ("XAUUSD", Some("GOLD.pro"), Some("GOLD.pro"))
            ]
        );
    }
}
