//! Validation of user-created jobs against the protocol input types, and the entity
//! each job concerns. Every lookup runs in the caller's RLS transaction, so a user
//! can only name their own agents, EA versions and deployments.

use std::time::Duration;

use chrono::NaiveDate;
use companion_protocol::{
    CancelOrdersInput, CandlesInput, ClosePositionInput, CompileInput, CreateJobRequest,
    DeployInput, DeploymentRef, JobInput, JobType, ModifyPositionInput, PriceUnit, StopLevel,
    TestInput,
};
use serde::de::DeserializeOwned;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::ApiError;
use crate::queue::Entity;

/// Largest `count` of a candles request.
pub const MAX_CANDLES: u32 = 10_000;

/// A validated job, ready to enqueue.
#[derive(Debug, Clone)]
pub struct PreparedJob {
    pub agent_id: Uuid,
    pub input: JobInput,
    pub entity: Option<Entity>,
    pub expires_in: Option<Duration>,
}

fn parse<T: DeserializeOwned>(job_type: JobType, input: &serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(input.clone())
        .map_err(|e| ApiError::invalid(format!("input_data is not a valid {job_type} input: {e}")))
}

fn check_symbol(symbol: &str) -> Result<(), ApiError> {
    if symbol.trim().is_empty() || symbol.len() > 32 {
        return Err(ApiError::invalid("symbol must be 1 to 32 characters"));
    }
    Ok(())
}

/// A ticket or a symbol (the symbols checked like a close's).
fn check_target(
    t: JobType,
    ticket: Option<u64>,
    symbol: Option<&str>,
    raw: Option<&str>,
) -> Result<(), ApiError> {
    if ticket.is_none() && symbol.is_none() {
        return Err(ApiError::invalid(format!("{t} needs a ticket or a symbol")));
    }
    for s in [symbol, raw].into_iter().flatten() {
        check_symbol(s)?;
    }
    Ok(())
}

/// A partial close: `volume` (lots) or `percent` (0 < p <= 100), not both.
pub fn check_partial(volume: Option<f64>, percent: Option<f64>) -> Result<(), ApiError> {
    match (volume, percent) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "a partial close takes volume or percent, not both",
        )),
        (Some(v), None) if !(v.is_finite() && v > 0.0) => Err(ApiError::invalid(
            "volume must be a positive number of lots",
        )),
        (None, Some(p)) if !(p.is_finite() && p > 0.0 && p <= 100.0) => {
            Err(ApiError::invalid("percent must be above 0 and at most 100"))
        }
        _ => Ok(()),
    }
}

/// An SL/TP level: a finite non-negative price (0 removes), or a positive distance.
fn check_level(l: StopLevel) -> Result<(), ApiError> {
    let ok = l.value.is_finite()
        && match l.unit {
            PriceUnit::Price => l.value >= 0.0,
            _ => l.value > 0.0,
        };
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "sl/tp must be a price (0 removes it) or a positive distance",
        ))
    }
}

/// Breakeven/trailing distances: finite, a trigger and a trailing distance (or
/// ATR settings) above 0, offsets and steps at least 0, never a price.
fn check_rules(
    be: Option<&companion_protocol::BreakevenSpec>,
    tr: Option<&companion_protocol::TrailingSpec>,
) -> Result<(), ApiError> {
    let dist = |d: &companion_protocol::PriceDistance, zero_ok: bool| {
        d.unit != PriceUnit::Price
            && d.value.is_finite()
            && if zero_ok {
                d.value >= 0.0
            } else {
                d.value > 0.0
            }
    };
    if let Some(b) = be {
        if !(dist(&b.trigger, false) && dist(&b.offset, true)) {
            return Err(ApiError::invalid(
                "breakeven: trigger must be a positive distance and offset at least 0 (pips, points or percent)",
            ));
        }
    }
    if let Some(t) = tr {
        let distance_ok = match (&t.distance, &t.atr) {
            (_, Some(a)) => {
                a.period > 0 && a.period <= 1000 && a.multiplier.is_finite() && a.multiplier > 0.0
            }
            (Some(d), None) => dist(d, false),
            (None, None) => false,
        };
        if !(distance_ok
            && t.activation.as_ref().is_none_or(|a| dist(a, true))
            && dist(&t.step, true))
        {
            return Err(ApiError::invalid(
                "trailing: a positive distance (or ATR period 1-1000 and a positive multiplier), activation and step at least 0 (pips, points or percent)",
            ));
        }
    }
    Ok(())
}

/// Validates `req` for `user_id` (inside an RLS transaction).
pub async fn prepare(
    conn: &mut PgConnection,
    req: &CreateJobRequest,
    trade_ttl: Duration,
) -> Result<PreparedJob, ApiError> {
    let agent: Option<Uuid> = sqlx::query_scalar("select id from mt5_agents where id = $1")
        .bind(req.agent_id)
        .fetch_optional(&mut *conn)
        .await?;
    let agent_id = agent.ok_or_else(|| ApiError::not_found("agent"))?;
    let input = if req.input_data.is_null() {
        serde_json::json!({})
    } else {
        req.input_data.clone()
    };
    if !input.is_object() {
        return Err(ApiError::invalid("input_data must be a JSON object"));
    }
    let t = req.job_type;
    let (input, entity, expires_in) =
        match t {
            JobType::Trade => return Err(ApiError::invalid(
                "trade jobs come from TradingView signals; use close_position to close positions",
            )),
            JobType::GetPositions | JobType::GetAccount => {
                if input.as_object().is_some_and(|o| !o.is_empty()) {
                    return Err(ApiError::invalid(format!("{t} takes no input_data")));
                }
                let none = if t == JobType::GetPositions {
                    JobInput::GetPositions
                } else {
                    JobInput::GetAccount
                };
                (none, None, None)
            }
            JobType::GetCandles => {
                let c: CandlesInput = parse(t, &input)?;
                check_symbol(&c.symbol)?;
                if c.count == 0 || c.count > MAX_CANDLES {
                    return Err(ApiError::invalid(format!(
                        "count must be 1 to {MAX_CANDLES}"
                    )));
                }
                (JobInput::GetCandles(c), None, None)
            }
            JobType::ClosePosition => {
                let mut c: ClosePositionInput = parse(t, &input)?;
                match (&c.ticket, &c.symbol) {
                    (None, None) => {
                        return Err(ApiError::invalid(
                            "close_position needs a ticket or a symbol",
                        ))
                    }
                    (_, Some(s)) => check_symbol(s)?,
                    _ => {}
                }
                if let Some(raw) = &c.raw_symbol {
                    check_symbol(raw)?;
                }
                if c.signal_id.is_some() {
                    return Err(ApiError::invalid(
                        "signal_id is set by the server, not by users",
                    ));
                }
                check_partial(c.volume, c.percent)?;
                // Set by the webhook only; a user's is dropped, as unknown fields are.
                c.strategy_id = None;
                (JobInput::ClosePosition(c), None, Some(trade_ttl))
            }
            JobType::ModifyPosition => {
                let mut c: ModifyPositionInput = parse(t, &input)?;
                check_target(t, c.ticket, c.symbol.as_deref(), c.raw_symbol.as_deref())?;
                if c.sl.is_none()
                    && c.tp.is_none()
                    && c.breakeven.is_none()
                    && c.trailing.is_none()
                    && !c.cancel_rules
                {
                    return Err(ApiError::invalid(
                        "modify_position needs sl, tp, breakeven, trailing or cancel_rules",
                    ));
                }
                check_rules(c.breakeven.as_ref(), c.trailing.as_ref())?;
                for level in [c.sl, c.tp].into_iter().flatten() {
                    check_level(level)?;
                }
                if c.signal_id.is_some() {
                    return Err(ApiError::invalid(
                        "signal_id is set by the server, not by users",
                    ));
                }
                c.strategy_id = None;
                (JobInput::ModifyPosition(c), None, Some(trade_ttl))
            }
            JobType::CancelOrders => {
                let mut c: CancelOrdersInput = parse(t, &input)?;
                check_target(t, c.ticket, c.symbol.as_deref(), c.raw_symbol.as_deref())?;
                if c.signal_id.is_some() {
                    return Err(ApiError::invalid(
                        "signal_id is set by the server, not by users",
                    ));
                }
                c.strategy_id = None;
                (JobInput::CancelOrders(c), None, Some(trade_ttl))
            }
            JobType::Compile => {
                let mut obj = input.clone();
                let version_id: Uuid = obj
                    .get("version_id")
                    .and_then(|v| v.as_str())
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| ApiError::invalid("compile needs version_id"))?;
                let source: Option<String> =
                    sqlx::query_scalar("select source_code from ea_versions where id = $1")
                        .bind(version_id)
                        .fetch_optional(&mut *conn)
                        .await?
                        .ok_or_else(|| ApiError::not_found("EA version"))?;
                if obj.get("source").is_none() {
                    obj["source"] = serde_json::Value::String(source.unwrap_or_default());
                }
                let c: CompileInput = parse(t, &obj)?;
                if c.source.trim().is_empty() {
                    return Err(ApiError::invalid("the EA version has no source code"));
                }
                (
                    JobInput::Compile(c),
                    Some(Entity::EaVersion(version_id)),
                    None,
                )
            }
            JobType::Test => {
                let c: TestInput = parse(t, &input)?;
                check_symbol(&c.symbol)?;
                let from = NaiveDate::parse_from_str(&c.from, "%Y-%m-%d")
                    .map_err(|_| ApiError::invalid("from must be YYYY-MM-DD"))?;
                let to = NaiveDate::parse_from_str(&c.to, "%Y-%m-%d")
                    .map_err(|_| ApiError::invalid("to must be YYYY-MM-DD"))?;
                if from > to {
                    return Err(ApiError::invalid("from is after to"));
                }
                if c.model > 4 || !(c.deposit.is_finite() && c.deposit > 0.0) || c.leverage <= 0 {
                    return Err(ApiError::invalid(
                        "model must be 0-4, deposit and leverage positive",
                    ));
                }
                let found: Option<Uuid> =
                    sqlx::query_scalar("select id from ea_versions where id = $1")
                        .bind(c.version_id)
                        .fetch_optional(&mut *conn)
                        .await?;
                found.ok_or_else(|| ApiError::not_found("EA version"))?;
                let entity = Entity::EaVersion(c.version_id);
                (JobInput::Test(c), Some(entity), None)
            }
            JobType::Deploy => {
                let c: DeployInput = parse(t, &input)?;
                check_symbol(&c.symbol)?;
                let version = deployment(&mut *conn, c.deployment_id, agent_id).await?;
                if version != c.version_id {
                    return Err(ApiError::invalid(
                        "version_id is not the deployment's EA version",
                    ));
                }
                let entity = Entity::EaDeployment(c.deployment_id);
                (JobInput::Deploy(c), Some(entity), None)
            }
            JobType::Run | JobType::Stop => {
                let c: DeploymentRef = parse(t, &input)?;
                deployment(&mut *conn, c.deployment_id, agent_id).await?;
                let entity = Entity::EaDeployment(c.deployment_id);
                let input = if t == JobType::Run {
                    JobInput::Run(c)
                } else {
                    JobInput::Stop(c)
                };
                (input, Some(entity), None)
            }
        };
    Ok(PreparedJob {
        agent_id,
        input,
        entity,
        expires_in,
    })
}

/// The deployment's EA version; the deployment must be visible and on `agent_id`.
async fn deployment(
    conn: &mut PgConnection,
    deployment_id: Uuid,
    agent_id: Uuid,
) -> Result<Uuid, ApiError> {
    let row: Option<(Uuid, Option<Uuid>)> =
        sqlx::query_as("select ea_version_id, mt5_agent_id from ea_deployments where id = $1")
            .bind(deployment_id)
            .fetch_optional(conn)
            .await?;
    let (version, on_agent) = row.ok_or_else(|| ApiError::not_found("EA deployment"))?;
    if on_agent.is_some_and(|a| a != agent_id) {
        return Err(ApiError::invalid("the deployment belongs to another agent"));
    }
    Ok(version)
}
