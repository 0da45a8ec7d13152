//! The executor against the paper terminal started with `--late-deals`: order_send
//! and position_close answer without the deal's price/position/profit (as the EA
//! does when the deal is not in the history yet), and the agent completes the jobs
//! from the history by comment instead of reporting zeros.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use companion_agent::{Executor, ExecutorOptions, Journal, Unconfigured};
use companion_protocol::{ClaimedJob, ClosePositionOutput, JobType, ResultStatus, TradeOutput};
use companion_terminal::{BridgeServer, Terminal};
use serde_json::json;

const TOKEN: &str = "late-deals-token";

fn paper_bin() -> PathBuf {
    companion_testkit::stack::ensure_built(&["companion-terminal"]);
    PathBuf::from(env!("CARGO_BIN_EXE_companion-agent"))
        .parent()
        .unwrap()
        .join("companion-paper-terminal")
}

fn job(t: JobType, input: serde_json::Value) -> ClaimedJob {
    ClaimedJob {
        job_id: uuid::Uuid::new_v4(),
        job_type: t,
        input_data: input,
        attempt: 1,
        expires_at: Some(chrono::Utc::now() + chrono::Duration::seconds(60)),
        broker_connection_id: None,
    }
}

#[tokio::test]
async fn unknown_fill_values_are_completed_from_the_history() {
    let server = BridgeServer::bind("127.0.0.1:0", TOKEN).await.unwrap();
    let port = server.local_addr().port();
    let _paper = tokio::process::Command::new(paper_bin())
        .args([
            "--agent",
            &format!("127.0.0.1:{port}"),
            "--token",
            TOKEN,
            "--tick-ms",
            "0",
            "--late-deals",
        ])
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let terminal = server.terminal();
    assert!(terminal.wait_connected(Duration::from_secs(20)).await);
    let ask = terminal.symbol_info("EURUSD").await.unwrap().ask;

    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("journal.db")).await.unwrap();
    let ex = Executor::new(
        Arc::new(terminal.clone()),
        Arc::new(Unconfigured),
        journal,
        ExecutorOptions {
            reconnect_poll: Duration::from_millis(50),
            ..Default::default()
        },
    );
    let r = ex
        .run_claimed(&job(
            JobType::Trade,
            json!({"symbol": "EURUSD", "side": "buy", "volume": 0.1}),
        ))
        .await
        .unwrap();
    assert_eq!(r.status, ResultStatus::Completed, "{r:?}");
    let out: TradeOutput = serde_json::from_value(r.output_data.unwrap()).unwrap();
    assert_eq!(out.fill_price, ask, "the deal's price, not 0");
    assert!(out.ticket > 0);
    assert_eq!(terminal.positions().await.unwrap().len(), 1, "sent once");

    let r = ex
        .run_claimed(&job(JobType::ClosePosition, json!({"ticket": out.ticket})))
        .await
        .unwrap();
    assert_eq!(r.status, ResultStatus::Completed, "{r:?}");
    let closed: ClosePositionOutput = serde_json::from_value(r.output_data.unwrap()).unwrap();
    assert_eq!(closed.tickets, vec![out.ticket]);
    assert!(closed.closed_price > 0.0);
    assert!(
        closed.pnl < 0.0,
        "the spread, from the closing deal: {closed:?}"
    );
    assert!(terminal.positions().await.unwrap().is_empty());
}
