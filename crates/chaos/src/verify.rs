//! The end-of-run audit: the database's signals and jobs against the paper
//! terminal's orders log. Every rule here is one of Companion's promises.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use companion_terminal::bridge::job_comment;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// One order line of the paper terminal's `--orders-log`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct OrderLine {
    pub comment: String,
    pub ticket: Option<u64>,
    pub retcode: u32,
}

pub fn read_orders(path: &Path) -> anyhow::Result<Vec<OrderLine>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?)
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Audit {
    pub signals_sent: usize,
    pub signals_logged: usize,
    pub executed: usize,
    pub failed: usize,
    pub discarded: usize,
    pub pending: usize,
    pub failed_reasons: BTreeMap<String, usize>,
    pub discarded_reasons: BTreeMap<String, usize>,
    pub orders_in_terminal: usize,
    pub orders_filled: usize,
    pub max_orders_per_signal: usize,
    /// Violations of the promises (each a readable line); empty means all held.
    pub violations: Vec<String>,
    /// Things worth knowing that are not violations.
    pub notes: Vec<String>,
}

/// The first words of a reason (`code: message` → `code`), to group by.
fn reason_key(msg: &Option<String>) -> String {
    let m = msg.as_deref().unwrap_or("").trim();
    let key: String = m.split(':').next().unwrap_or("").chars().take(60).collect();
    if key.is_empty() {
        "(none)".into()
    } else {
        key
    }
}

/// Audits the run of `strategy`; `sent` are the dedup ids the run sent.
pub async fn audit(
    db: &PgPool,
    strategy: Uuid,
    orders_log: &Path,
    sent: &[String],
) -> anyhow::Result<Audit> {
    let mut a = Audit {
        signals_sent: sent.len(),
        ..Audit::default()
    };
    type SigRow = (
        Uuid,
        String,
        Option<String>,
        Option<String>,
        Option<Uuid>,
        Option<String>,
    );
    let signals: Vec<SigRow> = sqlx::query_as(
        "select id, status, error_message, dedup_key, job_id, broker_order_id \
         from tv_signals where strategy_id = $1",
    )
    .bind(strategy)
    .fetch_all(db)
    .await?;
    type JobRow = (Uuid, Option<Uuid>, String, Option<Value>, Option<String>);
    let jobs: Vec<JobRow> = sqlx::query_as(
        "select j.id, j.entity_id, j.status, j.output_data, j.error_message from jobs j \
         join tv_signals s on s.id = j.entity_id and j.entity_type = 'tv_signal' \
         where s.strategy_id = $1",
    )
    .bind(strategy)
    .fetch_all(db)
    .await?;
    let orders = read_orders(orders_log)?;
    a.orders_in_terminal = orders.len();
    a.orders_filled = orders.iter().filter(|o| o.ticket.is_some()).count();
    let mut by_comment: HashMap<&str, Vec<&OrderLine>> = HashMap::new();
    for o in &orders {
        by_comment.entry(o.comment.as_str()).or_default().push(o);
    }
    let mut jobs_of: HashMap<Uuid, Vec<&JobRow>> = HashMap::new();
    for j in &jobs {
        if let Some(sig) = j.1 {
            jobs_of.entry(sig).or_default().push(j);
        }
    }
    let mut known_comments = 0usize;
    let mut logged_by_key: HashMap<&str, usize> = HashMap::new();
    for (id, status, err, key, _job, broker_order) in &signals {
        a.signals_logged += 1;
        let with_job = jobs_of.get(id).map_or(0, Vec::len);
        if let Some(k) = key {
            if with_job > 0 {
                *logged_by_key.entry(k.as_str()).or_default() += 1;
            }
        }
        match status.as_str() {
            "executed" => a.executed += 1,
            "failed" => {
                a.failed += 1;
                *a.failed_reasons.entry(reason_key(err)).or_default() += 1;
            }
            "discarded" => {
                a.discarded += 1;
                *a.discarded_reasons.entry(reason_key(err)).or_default() += 1;
            }
            "pending" => {
                a.pending += 1;
                a.violations.push(format!("signal {id} is still pending"));
            }
            other => a
                .violations
                .push(format!("signal {id} has an unknown status {other:?}")),
        }
        if matches!(status.as_str(), "failed" | "discarded")
            && err.as_deref().is_none_or(|e| e.trim().is_empty())
        {
            a.violations
                .push(format!("signal {id} is {status} without a reason"));
        }
        // Orders at the terminal for this signal, over every job it ever had.
        let mut n_orders = 0;
        let mut filled: Vec<u64> = Vec::new();
        for j in jobs_of.get(id).into_iter().flatten() {
            let comment = job_comment(j.0);
            if let Some(os) = by_comment.get(comment.as_str()) {
                known_comments += os.len();
                n_orders += os.len();
                filled.extend(os.iter().filter_map(|o| o.ticket));
                // A filled order's result must have reached the server.
                if os.iter().any(|o| o.ticket.is_some()) && j.2 != "completed" {
                    a.violations.push(format!(
                        "result lost: job {} has a filled order at the terminal but is {} ({})",
                        j.0,
                        j.2,
                        j.4.as_deref().unwrap_or("")
                    ));
                }
            }
        }
        a.max_orders_per_signal = a.max_orders_per_signal.max(n_orders);
        if n_orders > 1 {
            a.violations.push(format!(
                "signal {id} produced {n_orders} orders at the terminal (tickets {filled:?})"
            ));
        }
        if !filled.is_empty() && status != "executed" {
            a.violations.push(format!(
                "result lost: signal {id} has a filled order (ticket {:?}) but is {status}",
                filled
            ));
        }
        if status == "executed" && filled.is_empty() {
            a.violations.push(format!(
                "signal {id} is executed but the terminal has no filled order for it"
            ));
        }
        if let (Some(t), Some(b)) = (filled.first(), broker_order) {
            if !b.contains(&t.to_string()) {
                a.notes.push(format!(
                    "signal {id}: broker_order_id {b} differs from the terminal's ticket {t}"
                ));
            }
        }
    }
    for (k, n) in &logged_by_key {
        if *n > 1 {
            a.violations
                .push(format!("alert id {k} created {n} jobs (dedup failed)"));
        }
    }
    let missing = sent
        .iter()
        .filter(|k| {
            !signals
                .iter()
                .any(|s| s.3.as_deref().is_some_and(|d| d.contains(k.as_str())))
        })
        .count();
    if missing > 0 {
        a.notes.push(format!(
            "{missing} sent alerts have no tv_signals row (never accepted by the webhook)"
        ));
    }
    let stray = orders.len() - known_comments;
    if stray > 0 {
        a.violations.push(format!(
            "{stray} orders at the terminal match no job of this run"
        ));
    }
    Ok(a)
}
