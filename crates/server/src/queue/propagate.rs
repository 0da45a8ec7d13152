//! What a job's final outcome changes elsewhere: the TradingView signal (`executed` /
//! `failed`, fill price, broker order id, resolved time) plus a `trade_events` row for
//! an executed trade, the EA version's compile status, the EA deployment's status.
//! Runs inside the transaction that records the outcome.

use companion_protocol::{
    CancelOrdersOutput, ClosePositionOutput, ClosedPosition, CompileOutput, DeployOutput, JobInput,
    JobType, ModifyPositionOutput, TradeInput, TradeOutput,
};
use sqlx::PgConnection;
use uuid::Uuid;

use super::JobRow;

/// A job's final outcome.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// Completed; the output has been validated against the job type's output type.
    Completed(&'a serde_json::Value),
    Failed(&'a str),
}

/// The signal a trading job executes: the owner's signal whose `job_id` is this job.
/// Never found through `entity_id` or `input_data.signal_id` alone: a user can write
/// those (issue 17), the link `tv_signals.job_id` is written by the server only (users
/// have no UPDATE on `tv_signals`, and may only insert signals of their own jobs).
pub async fn signal_of(conn: &mut PgConnection, job: &JobRow) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from tv_signals where job_id = $1 and user_id = $2 limit 1")
        .bind(job.id)
        .bind(job.user_id)
        .fetch_optional(conn)
        .await
}

/// Applies `outcome` of `job` to the rows it concerns.
pub async fn propagate(
    conn: &mut PgConnection,
    job: &JobRow,
    outcome: Outcome<'_>,
) -> Result<(), sqlx::Error> {
    let Some(job_type) = job.job_type() else {
        return Ok(());
    };
    match job_type {
        JobType::Trade
        | JobType::ClosePosition
        | JobType::ModifyPosition
        | JobType::CancelOrders => trading(conn, job, job_type, outcome).await,
        JobType::Compile => compile(conn, job, outcome).await,
        JobType::Deploy | JobType::Run | JobType::Stop => {
            deployment(conn, job, job_type, outcome).await
        }
        _ => Ok(()),
    }
}

async fn trading(
    conn: &mut PgConnection,
    job: &JobRow,
    job_type: JobType,
    outcome: Outcome<'_>,
) -> Result<(), sqlx::Error> {
    let signal = signal_of(&mut *conn, job).await?;
    match outcome {
        Outcome::Failed(reason) => {
            if let Some(sid) = signal {
                sqlx::query(
                    "update tv_signals set status = 'failed', error_message = $2, resolved_at = now() \
                     where id = $1 and user_id = $3 and job_id = $4 and status in ('pending', 'failed')",
                )
                .bind(sid)
                .bind(reason)
                .bind(job.user_id)
                .bind(job.id)
                .execute(conn)
                .await?;
            }
            Ok(())
        }
        Outcome::Completed(output) => {
            let (fill_price, order_ref) = match job_type {
                JobType::Trade => match serde_json::from_value::<TradeOutput>(output.clone()) {
                    Ok(o) => {
                        if !o.closed.is_empty() {
                            // `reverse`: the strategy's opposite positions closed first.
                            record_closed_positions(&mut *conn, job, signal, &o.closed).await?;
                        }
                        // A pending order opened no position yet: no trade event.
                        if !o.pending {
                            record_trade_open(&mut *conn, job, signal, &o).await?;
                        }
                        (Some(o.fill_price), o.order_id.to_string())
                    }
                    Err(_) => return Ok(()),
                },
                JobType::ModifyPosition => {
                    match serde_json::from_value::<ModifyPositionOutput>(output.clone()) {
                        Ok(o) => {
                            let tickets: Vec<String> =
                                o.modified.iter().map(|m| m.ticket.to_string()).collect();
                            (None, tickets.join(","))
                        }
                        Err(_) => return Ok(()),
                    }
                }
                JobType::CancelOrders => {
                    match serde_json::from_value::<CancelOrdersOutput>(output.clone()) {
                        Ok(o) => {
                            let tickets: Vec<String> =
                                o.cancelled.iter().map(|c| c.ticket.to_string()).collect();
                            (None, tickets.join(","))
                        }
                        Err(_) => return Ok(()),
                    }
                }
                _ => match serde_json::from_value::<ClosePositionOutput>(output.clone()) {
                    Ok(o) => {
                        record_trade_close(&mut *conn, job, signal, &o).await?;
                        let tickets: Vec<String> = o.tickets.iter().map(u64::to_string).collect();
                        (Some(o.closed_price), tickets.join(","))
                    }
                    Err(_) => return Ok(()),
                },
            };
            if let Some(sid) = signal {
                sqlx::query(
                    "update tv_signals set status = 'executed', fill_price = $2, broker_order_id = $3, \
                     error_message = null, resolved_at = now() \
                     where id = $1 and user_id = $4 and job_id = $5 and status in ('pending', 'failed')",
                )
                .bind(sid)
                .bind(fill_price)
                .bind(order_ref)
                .bind(job.user_id)
                .bind(job.id)
                .execute(conn)
                .await?;
            }
            Ok(())
        }
    }
}

/// The account a job traded on (trade events are filed under it): the job's own
/// broker connection (0017: several accounts per agent), else its agent's pairing one.
async fn broker_connection_of(
    conn: &mut PgConnection,
    job: &JobRow,
) -> Result<Option<Uuid>, sqlx::Error> {
    let bc: Option<Option<Uuid>> = sqlx::query_scalar(
        "select coalesce(j.broker_connection_id, a.broker_connection_id)
           from jobs j left join mt5_agents a on a.id = j.agent_id and a.user_id = j.user_id
          where j.id = $1 and j.user_id = $2",
    )
    .bind(job.id)
    .bind(job.user_id)
    .fetch_optional(conn)
    .await?;
    Ok(bc.flatten())
}

async fn record_trade_open(
    conn: &mut PgConnection,
    job: &JobRow,
    signal: Option<Uuid>,
    out: &TradeOutput,
) -> Result<(), sqlx::Error> {
    let input: Option<TradeInput> = match job.input() {
        Some(JobInput::Trade(t)) => Some(t),
        _ => None,
    };
    let bc = broker_connection_of(&mut *conn, job).await?;
    let metadata = serde_json::json!({
        "job_id": job.id, "signal_id": signal, "ticket": out.ticket, "order_id": out.order_id,
    });
    sqlx::query(
        "insert into trade_events (user_id, broker_connection_id, event_type, pair, direction, quantity, \
         entry_price, sl, tp, external_order_id, metadata) \
         values ($1, $2, 'trade_opened', $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(job.user_id)
    .bind(bc)
    .bind(input.as_ref().map(|i| i.symbol.clone()))
    .bind(input.as_ref().map(|i| match i.side {
        companion_protocol::Side::Buy => "buy",
        companion_protocol::Side::Sell => "sell",
    }))
    .bind(out.volume)
    .bind(out.fill_price)
    .bind(input.as_ref().and_then(|i| i.sl))
    .bind(input.as_ref().and_then(|i| i.tp))
    .bind(out.ticket.to_string())
    .bind(metadata)
    .execute(conn)
    .await?;
    Ok(())
}

/// One `trade_closed` row per position closed, with its own symbol, side, volume,
/// price and P&L.
async fn record_closed_positions(
    conn: &mut PgConnection,
    job: &JobRow,
    signal: Option<Uuid>,
    closed: &[ClosedPosition],
) -> Result<(), sqlx::Error> {
    let bc = broker_connection_of(&mut *conn, job).await?;
    for c in closed {
        let metadata =
            serde_json::json!({ "job_id": job.id, "signal_id": signal, "tickets": [c.ticket] });
        sqlx::query(
            "insert into trade_events (user_id, broker_connection_id, event_type, pair, direction, quantity, \
             exit_price, profit_loss, external_order_id, metadata) \
             values ($1, $2, 'trade_closed', $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(job.user_id)
        .bind(bc)
        .bind(&c.symbol)
        .bind(match c.side {
            companion_protocol::Side::Buy => "buy",
            companion_protocol::Side::Sell => "sell",
        })
        .bind(c.volume)
        .bind(c.price)
        .bind(c.pnl)
        .bind(c.ticket.to_string())
        .bind(metadata)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn record_trade_close(
    conn: &mut PgConnection,
    job: &JobRow,
    signal: Option<Uuid>,
    out: &ClosePositionOutput,
) -> Result<(), sqlx::Error> {
    if !out.closed.is_empty() {
        return record_closed_positions(conn, job, signal, &out.closed).await;
    }
    let symbol = match job.input() {
        Some(JobInput::ClosePosition(c)) => c.symbol,
        _ => None,
    };
    let bc = broker_connection_of(&mut *conn, job).await?;
    let metadata =
        serde_json::json!({ "job_id": job.id, "signal_id": signal, "tickets": out.tickets });
    let external = out.tickets.first().map(u64::to_string);
    sqlx::query(
        "insert into trade_events (user_id, broker_connection_id, event_type, pair, exit_price, profit_loss, \
         external_order_id, metadata) values ($1, $2, 'trade_closed', $3, $4, $5, $6, $7)",
    )
    .bind(job.user_id)
    .bind(bc)
    .bind(symbol)
    .bind(out.closed_price)
    .bind(out.pnl)
    .bind(external)
    .bind(metadata)
    .execute(conn)
    .await?;
    Ok(())
}

fn entity(job: &JobRow, kind: &str) -> Option<Uuid> {
    (job.entity_type.as_deref() == Some(kind))
        .then_some(job.entity_id)
        .flatten()
}

async fn compile(
    conn: &mut PgConnection,
    job: &JobRow,
    outcome: Outcome<'_>,
) -> Result<(), sqlx::Error> {
    let Some(version) = entity(job, "ea_version") else {
        return Ok(());
    };
    let (status, error) = match outcome {
        Outcome::Failed(reason) => ("failed", Some(reason.to_string())),
        Outcome::Completed(output) => match serde_json::from_value::<CompileOutput>(output.clone())
        {
            Ok(o) if o.compiled => ("compiled", None),
            Ok(o) => {
                let lines: Vec<String> = o
                    .errors
                    .iter()
                    .map(|d| {
                        format!(
                            "{}({},{}) : error {}: {}",
                            d.file, d.line, d.column, d.code, d.message
                        )
                    })
                    .collect();
                ("failed", Some(lines.join("\n")))
            }
            Err(_) => return Ok(()),
        },
    };
    sqlx::query(
        "update ea_versions v set status = $2, compilation_error = $3, updated_at = now() \
         from ea_projects p where v.id = $1 and p.id = v.ea_project_id and p.user_id = $4",
    )
    .bind(version)
    .bind(status)
    .bind(error)
    .bind(job.user_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The deployment (`ea_deployments` row being updated) belongs to the job's owner (`$3`).
const DEPLOYMENT_OWNED: &str =
    "exists (select 1 from ea_versions v join ea_projects p on p.id = v.ea_project_id \
     where v.id = ea_deployments.ea_version_id and p.user_id = $3)";

async fn deployment(
    conn: &mut PgConnection,
    job: &JobRow,
    job_type: JobType,
    outcome: Outcome<'_>,
) -> Result<(), sqlx::Error> {
    let Some(dep) = entity(job, "ea_deployment") else {
        return Ok(());
    };
    let sql: &str = match (job_type, outcome) {
        (JobType::Stop, Outcome::Failed(_)) => {
            // The EA may still be running: keep the status, record the error.
            "update ea_deployments set error_message = $2, updated_at = now() where id = $1 and {DEPLOYMENT_OWNED}"
        }
        (_, Outcome::Failed(_)) => {
            "update ea_deployments set status = 'failed', error_message = $2, updated_at = now() where id = $1 and {DEPLOYMENT_OWNED}"
        }
        (JobType::Deploy, Outcome::Completed(out)) => {
            let deployed = serde_json::from_value::<DeployOutput>(out.clone())
                .map(|o| o.deployed)
                .unwrap_or(false);
            if deployed {
                "update ea_deployments set status = 'running', deployed_at = now(), error_message = $2, updated_at = now() where id = $1 and {DEPLOYMENT_OWNED}"
            } else {
                "update ea_deployments set status = 'failed', error_message = coalesce($2, 'the agent could not deploy the EA'), updated_at = now() where id = $1 and {DEPLOYMENT_OWNED}"
            }
        }
        (JobType::Run, Outcome::Completed(_)) => {
            "update ea_deployments set status = 'running', error_message = $2, updated_at = now() where id = $1 and {DEPLOYMENT_OWNED}"
        }
        (_, Outcome::Completed(_)) => {
            "update ea_deployments set status = 'stopped', stopped_at = now(), error_message = $2, updated_at = now() where id = $1 and {DEPLOYMENT_OWNED}"
        }
    };
    let error = match outcome {
        Outcome::Failed(r) => Some(r.to_string()),
        Outcome::Completed(_) => None,
    };
    let sql = sql.replace("{DEPLOYMENT_OWNED}", DEPLOYMENT_OWNED);
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(dep)
        .bind(error)
        .bind(job.user_id)
        .execute(conn)
        .await?;
    Ok(())
}
