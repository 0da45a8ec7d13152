//! Alert command words end to end (real server, agent and paper terminal, prices
//! moved with the paper terminal's `--price-file`): PineConnector's
//! `selllimit ... price=15` places a sell limit 15 pips above the bid that fills
//! when the price crosses it (the position carries the SL/TP), `newsltpshort`
//! moves the SL of the open short, `cancelshort` deletes a pending sell, the same
//! buy alert sent a minute apart opens two positions, `closelongbuy` closes the
//! strategy's buys and opens one fresh buy, and the alert's `comment=` reaches the
//! MT5 order comment after the job's tag. A pending-order trade whose agent dies
//! between the send and the result is reconciled from the terminal's open orders.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{eventually, Stack};
use serde_json::{json, Value};
use uuid::Uuid;

const LIC: &str = "60123456789";

/// Posts a webhook body; returns the signal id and its job (must be queued).
async fn alert(s: &Stack, secret: &str, body: &str) -> (Uuid, Uuid) {
    let url = format!("{}/api/v1/webhooks/tv/{secret}", s.server_url());
    let v: Value = s
        .http
        .post(&url)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "pending", "{body}: {v}");
    let signal: Uuid = v["signal_id"].as_str().unwrap().parse().unwrap();
    let job: Option<Uuid> = sqlx::query_scalar("SELECT job_id FROM tv_signals WHERE id = $1")
        .bind(signal)
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    (signal, job.expect("a queued signal has its job"))
}

async fn completed(s: &Stack, job: Uuid) -> Value {
    let (status, out, err) = s.wait_job(job).await;
    assert_eq!(status, "completed", "{err:?}");
    out.unwrap()
}

async fn understood(s: &Stack, signal: Uuid) -> String {
    sqlx::query_scalar::<_, Option<String>>("SELECT understood FROM tv_signals WHERE id = $1")
        .bind(signal)
        .fetch_one(&s.db.pool)
        .await
        .unwrap()
        .unwrap_or_default()
}

async fn positions(s: &Stack) -> Vec<Value> {
    let id = s.insert_job("get_positions", json!({}), None).await;
    completed(s, id).await["positions"]
        .as_array()
        .unwrap()
        .clone()
}

fn set_bid(path: &Path, symbol: &str, bid: f64) {
    std::fs::write(path, format!("{}\n", json!({"symbol": symbol, "bid": bid}))).unwrap();
}

fn close_to(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[tokio::test(flavor = "multi_thread")]
async fn pineconnector_pending_modify_cancel_reenter_and_comment() {
    let mut s = Stack::new("alert_commands").await;
    let prices = s.data_dir.path().join("prices.jsonl");
    s.start_agent(&[]);
    s.start_paper(&["--tick-ms", "0", "--price-file", prices.to_str().unwrap()]);
    s.wait_terminal_ready().await;
    let (strategy, secret) = s.insert_strategy().await;
    let magic: i64 = sqlx::query_scalar("SELECT magic FROM tv_strategies WHERE id = $1")
        .bind(strategy)
        .fetch_one(&s.db.pool)
        .await
        .unwrap();

    // A sell limit 15 pips above the bid (Pending Order Entry pips), 1 lot (Volume
    // Type lots), SL 30 / TP 60 pips from the order price (Target Type pips).
    let (signal, job) = alert(
        &s,
        &secret,
        &format!("{LIC},selllimit,GBPUSD,risk=1,sl=30,tp=60,price=15"),
    )
    .await;
    let out = completed(&s, job).await;
    assert_eq!(out["pending"], json!(true), "{out}");
    let limit = out["fill_price"].as_f64().unwrap();
    assert!(
        understood(&s, signal)
            .await
            .starts_with("sell limit 1 lot GBPUSD 15 pips above the bid, SL 30 pips, TP 60 pips"),
        "{}",
        understood(&s, signal).await
    );
    assert!(
        positions(&s).await.is_empty(),
        "a pending order is no position"
    );

    // The bid rises to the limit: the order fills there, the position has its stops.
    set_bid(&prices, "GBPUSD", limit);
    let short = eventually(Duration::from_secs(60), "the sell limit fills", || async {
        positions(&s)
            .await
            .into_iter()
            .find(|p| p["symbol"] == "GBPUSD" && p["side"] == "sell")
    })
    .await;
    assert_eq!(short["magic"].as_i64(), Some(magic));
    assert_eq!(short["volume"], json!(1.0));
    let open = short["open_price"].as_f64().unwrap();
    assert!(close_to(open, limit), "filled at the limit: {short}");
    assert!(
        close_to(short["sl"].as_f64().unwrap(), limit + 0.0030),
        "{short}"
    );
    assert!(
        close_to(short["tp"].as_f64().unwrap(), limit - 0.0060),
        "{short}"
    );

    // New SL 40 pips from the open price for the strategy's sells.
    let (signal, job) = alert(&s, &secret, &format!("{LIC},newsltpshort,GBPUSD,sl=40")).await;
    let out = completed(&s, job).await;
    assert_eq!(out["modified"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(
        understood(&s, signal).await,
        "modify SL 40 pips from the open price of the strategy's sell positions on GBPUSD"
    );
    let p = positions(&s)
        .await
        .into_iter()
        .find(|p| p["ticket"] == short["ticket"])
        .unwrap();
    assert!(close_to(p["sl"].as_f64().unwrap(), open + 0.0040), "{p}");
    assert!(
        close_to(p["tp"].as_f64().unwrap(), limit - 0.0060),
        "TP kept: {p}"
    );

    // A pending sell far away, then cancelshort deletes it.
    let (_, job) = alert(
        &s,
        &secret,
        &format!("{LIC},selllimit,GBPUSD,risk=0.1,price=200"),
    )
    .await;
    let placed = completed(&s, job).await;
    let (signal, job) = alert(&s, &secret, &format!("{LIC},cancelshort,GBPUSD")).await;
    let out = completed(&s, job).await;
    let cancelled = out["cancelled"].as_array().unwrap();
    assert_eq!(cancelled.len(), 1, "{out}");
    assert_eq!(cancelled[0]["ticket"], placed["order_id"]);
    assert_eq!(
        understood(&s, signal).await,
        "cancel the strategy's pending sell orders on GBPUSD"
    );

    // The same buy alert twice, a minute apart (the first signal's arrival moved back
    // 61 s: PineConnector bodies repeat within 30 s only as duplicates): two positions.
    let buy = format!("{LIC},buy,EURUSD,risk=0.1,comment=\"my note\"");
    let (first, job1) = alert(&s, &secret, &buy).await;
    let out1 = completed(&s, job1).await;
    sqlx::query(
        "UPDATE tv_signals SET received_at = received_at - interval '61 seconds' WHERE id = $1",
    )
    .bind(first)
    .execute(&s.db.pool)
    .await
    .unwrap();
    let (_, job2) = alert(&s, &secret, &buy).await;
    let out2 = completed(&s, job2).await;
    assert_ne!(out1["ticket"], out2["ticket"]);
    let buys: Vec<Value> = positions(&s)
        .await
        .into_iter()
        .filter(|p| p["symbol"] == "EURUSD" && p["side"] == "buy")
        .collect();
    assert_eq!(buys.len(), 2, "{buys:?}");
    // The alert's comment follows the job's tag in the MT5 comment (31 characters:
    // the tag's 24, a space and the first 6 of "my note").
    for (job, out) in [(job1, &out1), (job2, &out2)] {
        let p = buys.iter().find(|p| p["ticket"] == out["ticket"]).unwrap();
        let want = format!("{} my not", companion_agent::job_comment(job));
        assert_eq!(p["comment"], json!(want), "{p}");
    }

    // closelongbuy: the strategy's two buys are closed, then one buy opens.
    let (signal, job) = alert(&s, &secret, &format!("{LIC},closelongbuy,EURUSD,risk=0.2")).await;
    let out = completed(&s, job).await;
    let closed: Vec<u64> = out["closed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["ticket"].as_u64().unwrap())
        .collect();
    assert_eq!(closed.len(), 2, "{out}");
    for o in [&out1, &out2] {
        assert!(closed.contains(&o["ticket"].as_u64().unwrap()), "{out}");
    }
    assert_eq!(out["position_effect"], "opened", "{out}");
    let buys: Vec<Value> = positions(&s)
        .await
        .into_iter()
        .filter(|p| p["symbol"] == "EURUSD" && p["side"] == "buy")
        .collect();
    assert_eq!(buys.len(), 1, "{buys:?}");
    assert_eq!(buys[0]["ticket"], out["ticket"]);
    assert_eq!(buys[0]["volume"], json!(0.2));
    assert_eq!(
        understood(&s, signal).await,
        "close the strategy's buy positions on EURUSD, then buy 0.2 lots EURUSD at market"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_order_sent_before_the_agent_died_is_found_among_the_open_orders() {
    let mut s = Stack::new("pending_recovery").await;
    // The agent aborts when the terminal has answered the order, before journaling
    // the answer: its journal says only "sent to the terminal".
    s.start_agent(&[("COMPANION_AGENT_CRASH_AFTER", "terminal_replied")]);
    s.start_paper(&["--tick-ms", "0"]);
    s.wait_terminal_ready().await;
    let (_, secret) = s.insert_strategy().await;
    let url = format!("{}/api/v1/webhooks/tv/{secret}", s.server_url());
    let v: Value = s
        .http
        .post(&url)
        .json(
            &json!({"action": "buy_limit", "symbol": "EURUSD", "volume": 0.1,
                      "entry_pips": 100, "expiry_secs": 3600, "comment": "pend"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "pending", "{v}");
    let signal: Uuid = v["signal_id"].as_str().unwrap().parse().unwrap();
    let job: Uuid =
        sqlx::query_scalar::<_, Option<Uuid>>("SELECT job_id FROM tv_signals WHERE id = $1")
            .bind(signal)
            .fetch_one(&s.db.pool)
            .await
            .unwrap()
            .unwrap();
    // Give the job a deadline that outlives the restart.
    sqlx::query("UPDATE jobs SET expires_at = now() + interval '10 minutes' WHERE id = $1")
        .bind(job)
        .execute(&s.db.pool)
        .await
        .unwrap();
    let status = {
        let agent = s.agent.as_mut().unwrap();
        tokio::task::block_in_place(|| common::wait_exit(&mut agent.child, Duration::from_secs(90)))
    };
    assert!(!status
        .expect("the agent aborts at the crash hook")
        .success());
    s.agent = None;
    assert_eq!(s.job_row(job).await.0, "running");
    assert_eq!(s.agent_status()["journal"]["sent_to_terminal"], json!(1));

    // A new agent process (its own log): reconciles by the tag, sends nothing.
    let mut cmd = s.agent_command();
    cmd.args([
        "run",
        "--bridge-port",
        &s.bridge_port.to_string(),
        "--bridge-token",
        &s.bridge_token,
    ]);
    s.agent = Some(common::spawn_named("pending_recovery", "agent2", cmd));
    let (status, out, err) = s.wait_job(job).await;
    assert_eq!(status, "completed", "{err:?}");
    let out = out.unwrap();
    assert_eq!(out["pending"], json!(true), "{out}");
    let log = std::fs::read_to_string(common::log_dir("pending_recovery").join("agent2.log"))
        .unwrap_or_default();
    assert!(
        log.contains("already has this job's pending order"),
        "the restarted agent found the order instead of sending it"
    );
    // Exactly one pending order: cancelling the symbol's orders deletes that one.
    let id = s
        .insert_job("cancel_orders", json!({"symbol": "EURUSD"}), None)
        .await;
    let cancelled = completed(&s, id).await["cancelled"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    assert_eq!(cancelled[0]["ticket"], out["order_id"]);
    let comment = cancelled[0]["comment"].as_str().unwrap();
    assert_eq!(
        comment,
        format!("{} pend", companion_agent::job_comment(job))
    );
}
