//! Ownership by magic and close semantics, end to end (real server, agent and paper
//! terminal): a signal close only touches the strategy's positions (never manual or
//! other EAs'), `close_long` keeps the shorts, `closeall` closes the strategy on
//! every symbol; on a netting account two buys add up, a close leaves it flat, a
//! sell after a buy (default `reverse`) leaves one short, and `hedge` is refused.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::{eventually, Stack};
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

/// A strategy with `magic` and `opposite_entry`; returns its webhook URL.
async fn strategy(s: &Stack, magic: i64, opposite_entry: &str) -> String {
    let (id, secret) = s.insert_strategy().await;
    sqlx::query("UPDATE tv_strategies SET magic = $2, opposite_entry = $3 WHERE id = $1")
        .bind(id)
        .bind(magic)
        .bind(opposite_entry)
        .execute(&s.db.pool)
        .await
        .unwrap();
    format!("{}/api/v1/webhooks/tv/{secret}", s.server_url())
}

/// Sends a webhook and waits for its signal to resolve: (status, error, job output).
async fn signal(s: &Stack, url: &str, body: &str) -> (String, Option<String>, Option<Value>) {
    let body = format!("{body} id={}", Uuid::new_v4().simple());
    let resp = s
        .http
        .post(url)
        .header("content-type", "text/plain")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{body}: {}", resp.status());
    let v: Value = resp.json().await.unwrap();
    let id: Uuid = v["signal_id"].as_str().unwrap().parse().unwrap();
    if v["status"] == "discarded" {
        return (
            "discarded".into(),
            v["reason"].as_str().map(String::from),
            None,
        );
    }
    let (status, error, job) = s.wait_signal(id).await;
    let out = match job {
        Some(j) => s.job_row(j).await.1,
        None => None,
    };
    (status, error, out)
}

/// The terminal's positions as (symbol, side, volume, magic), sorted.
async fn positions(s: &Stack) -> Vec<(String, String, f64, i64)> {
    let id = s.insert_job("get_positions", json!({}), None).await;
    let (status, out, err) = s.wait_job(id).await;
    assert_eq!(status, "completed", "{err:?}");
    let mut v: Vec<(String, String, f64, i64)> = out.unwrap()["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["symbol"].as_str().unwrap().to_string(),
                p["side"].as_str().unwrap().to_string(),
                (p["volume"].as_f64().unwrap() * 100.0).round() / 100.0,
                p["magic"].as_i64().unwrap(),
            )
        })
        .collect();
    v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    v
}

fn pos(symbol: &str, side: &str, volume: f64, magic: i64) -> (String, String, f64, i64) {
    (symbol.into(), side.into(), volume, magic)
}

async fn hedging_stack(test: &str) -> Stack {
    let mut s = Stack::new(test).await;
    s.start_agent(&[]);
    s.start_paper(&[
        "--foreign-position",
        "EURUSD:sell:0.3:0",
        "--foreign-position",
        "EURUSD:buy:0.4:777",
        "--foreign-position",
        "GBPUSD:buy:0.5:0",
    ]);
    s.wait_terminal_ready().await;
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn close_long_closes_only_the_strategy_buys() {
    let s = hedging_stack("own_close_long").await;
    let url = strategy(&s, 5001, "hedge").await;
    for body in ["buy 0.1 EURUSD", "sell 0.2 EURUSD"] {
        let (status, err, out) = signal(&s, &url, body).await;
        assert_eq!(status, "executed", "{body}: {err:?}");
        assert_eq!(out.unwrap()["position_effect"], "opened", "{body}");
    }
    let (status, err, out) = signal(&s, &url, "close_long EURUSD").await;
    assert_eq!(status, "executed", "{err:?}");
    let out = out.unwrap();
    let closed = out["closed"].as_array().unwrap();
    assert_eq!(closed.len(), 1, "{out}");
    assert_eq!(closed[0]["side"], "buy");
    assert_eq!(closed[0]["symbol"], "EURUSD");
    assert_eq!(closed[0]["volume"], json!(0.1));
    assert!(closed[0]["price"].as_f64().unwrap() > 0.0);
    assert_eq!(
        positions(&s).await,
        vec![
            pos("EURUSD", "buy", 0.4, 777),
            pos("EURUSD", "sell", 0.2, 5001),
            pos("EURUSD", "sell", 0.3, 0),
            pos("GBPUSD", "buy", 0.5, 0),
        ]
    );
    // Nothing of the strategy's left on that side: the close fails, touching nothing.
    let (status, err, _) = signal(&s, &url, "exit_long EURUSD").await;
    assert_eq!(status, "failed");
    assert!(err.unwrap().contains("magic 5001"));
    assert_eq!(positions(&s).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn closeall_closes_the_strategy_on_every_symbol_and_nothing_else() {
    let s = hedging_stack("own_closeall").await;
    let url = strategy(&s, 6001, "reverse").await;
    let other = strategy(&s, 6002, "reverse").await;
    for body in ["buy 0.1 EURUSD", "sell 0.1 GBPUSD", "buy 0.2 USDJPY"] {
        let (status, err, _) = signal(&s, &url, body).await;
        assert_eq!(status, "executed", "{body}: {err:?}");
    }
    let (status, err, _) = signal(&s, &other, "buy 0.3 EURUSD").await;
    assert_eq!(status, "executed", "{err:?}");
    let (status, err, out) = signal(&s, &url, "closeall").await;
    assert_eq!(status, "executed", "{err:?}");
    let out = out.unwrap();
    let mut closed: Vec<String> = out["closed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["symbol"].as_str().unwrap(),
                c["side"].as_str().unwrap()
            )
        })
        .collect();
    closed.sort();
    assert_eq!(closed, vec!["EURUSD buy", "GBPUSD sell", "USDJPY buy"]);
    assert_eq!(out["tickets"].as_array().unwrap().len(), 3);
    assert_eq!(
        positions(&s).await,
        vec![
            pos("EURUSD", "buy", 0.3, 6002),
            pos("EURUSD", "buy", 0.4, 777),
            pos("EURUSD", "sell", 0.3, 0),
            pos("GBPUSD", "buy", 0.5, 0),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn netting_adds_reverses_closes_flat_and_refuses_hedge() {
    let mut s = Stack::new("own_netting").await;
    s.start_agent(&[]);
    s.start_paper(&["--margin-mode", "netting"]);
    s.wait_terminal_ready().await;
    let url = strategy(&s, 7001, "reverse").await;

    // Two buys: one position of their summed volume.
    let (status, err, out) = signal(&s, &url, "buy 0.1 EURUSD").await;
    assert_eq!(status, "executed", "{err:?}");
    let first = out.unwrap();
    assert_eq!(first["position_effect"], "opened");
    let (_, _, out) = signal(&s, &url, "buy 0.2 EURUSD").await;
    let second = out.unwrap();
    assert_eq!(second["position_effect"], "added");
    assert_eq!(second["ticket"], first["ticket"], "the deal's position id");
    assert_eq!(positions(&s).await, vec![pos("EURUSD", "buy", 0.3, 7001)]);

    // Default reverse: a sell of 0.1 closes the long first, then opens the short.
    let (status, err, out) = signal(&s, &url, "sell 0.1 EURUSD").await;
    assert_eq!(status, "executed", "{err:?}");
    let out = out.unwrap();
    assert_eq!(out["position_effect"], "reversed", "{out}");
    assert_eq!(out["closed"][0]["side"], "buy");
    assert_eq!(out["closed"][0]["volume"], json!(0.3));
    assert_eq!(positions(&s).await, vec![pos("EURUSD", "sell", 0.1, 7001)]);

    // A close leaves the account flat.
    let (status, err, _) = signal(&s, &url, "close EURUSD").await;
    assert_eq!(status, "executed", "{err:?}");
    assert_eq!(positions(&s).await, vec![]);

    // Hedge on netting: refused at execution (the server learns the margin mode
    // from heartbeats; a job queued anyway fails at the agent).
    let hedge = strategy(&s, 7002, "hedge").await;
    let (status, err, _) = signal(&s, &hedge, "buy 0.1 EURUSD").await;
    assert_eq!(status, "failed");
    assert!(err.unwrap().starts_with("hedge_on_netting"));
    assert_eq!(positions(&s).await, vec![]);

    // And at save time once the agent's heartbeat told the server the mode.
    eventually(
        Duration::from_secs(60),
        "heartbeat with margin_mode",
        || async {
            let m: Option<String> = sqlx::query_scalar(
                "SELECT terminal_info ->> 'margin_mode' FROM mt5_agents WHERE id = $1",
            )
            .bind(s.agent_id)
            .fetch_one(&s.db.pool)
            .await
            .unwrap();
            (m.as_deref() == Some("netting")).then_some(())
        },
    )
    .await;
    let resp = s
        .http
        .post(format!("{}/api/v1/strategies", s.server_url()))
        .bearer_auth(&s.jwt)
        .json(
            &json!({"name": "hedger", "broker_connection_id": s.broker_connection_id,
                      "opposite_entry": "hedge"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("netting"),
        "{body}"
    );
    // Reject mode: an entry against the strategy's own opposite position fails.
    let rej = strategy(&s, 7003, "reject").await;
    let (status, _, _) = signal(&s, &rej, "buy 0.1 EURUSD").await;
    assert_eq!(status, "executed");
    let (status, err, _) = signal(&s, &rej, "sell 0.1 EURUSD").await;
    assert_eq!(status, "failed");
    assert!(err.unwrap().starts_with("opposite_position"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_loss_hit_counts_toward_the_daily_loss_limit() {
    let mut s = Stack::new("own_sl_daily_loss").await;
    s.start_agent(&[]);
    // Fast prices, and a trade server two hours ahead of UTC.
    s.start_paper(&["--tick-ms", "50", "--gmt-offset-secs", "7200"]);
    s.wait_terminal_ready().await;
    // 0.1 % of the 10,000 balance: one stop-loss hit of 1 lot at 1.5 pips is over it.
    sqlx::query(
        "INSERT INTO user_settings (user_id, daily_loss_limit_pct, trading_day_tz)
         VALUES ($1, 0.1, 'America/New_York')
         ON CONFLICT (user_id) DO UPDATE SET daily_loss_limit_pct = 0.1,
                                             trading_day_tz = 'America/New_York'",
    )
    .bind(s.user_id)
    .execute(&s.db.pool)
    .await
    .unwrap();
    let url = strategy(&s, 8001, "hedge").await;
    // A buy and a sell with tight stops: whichever way prices go, one stop is hit.
    // (The buy's may be hit before the sell arrives: the sell is then refused already.)
    let (status, err, _) = signal(&s, &url, "buy 1 EURUSD sl=1.5").await;
    assert_eq!(status, "executed", "{err:?}");
    let (status, err, _) = signal(&s, &url, "sell 1 EURUSD sl=1.5").await;
    assert!(
        status == "executed"
            || (status == "discarded"
                && err
                    .as_deref()
                    .is_some_and(|e| e.starts_with("daily_loss_limit"))),
        "{status}: {err:?}"
    );
    // The terminal's stop-loss deal reaches the server through the agent.
    let (net, offset_secs): (f64, f64) = eventually(
        Duration::from_secs(120),
        "a stop-loss deal in broker_deals",
        || async {
            sqlx::query_as::<_, (f64, f64)>(
                "SELECT net, extract(epoch from now() - deal_time)::float8 FROM broker_deals
                  WHERE user_id = $1 AND entry IN ('out', 'out_by') LIMIT 1",
            )
            .bind(s.user_id)
            .fetch_optional(&s.db.pool)
            .await
            .unwrap()
        },
    )
    .await;
    assert!(net < 0.0, "a stop-loss hit loses: {net}");
    // Deal times are stored in UTC (the trade server's two hours taken off).
    assert!(
        offset_secs.abs() < 1800.0,
        "deal_time is {offset_secs} s from now"
    );
    // The next entry is refused at the webhook (the balance is known).
    let (status, reason, _) = signal(&s, &url, "buy 0.1 GBPUSD").await;
    assert_eq!(status, "discarded");
    let reason = reason.unwrap();
    assert!(reason.starts_with("daily_loss_limit"), "{reason}");
    assert!(reason.contains("America/New_York"), "{reason}");
    // Without a known balance (no account reading on the server), the webhook sends
    // the entry with today's loss and the agent refuses it against the live balance.
    sqlx::query("DELETE FROM jobs WHERE user_id = $1 AND job_type = 'get_account'")
        .bind(s.user_id)
        .execute(&s.db.pool)
        .await
        .unwrap();
    let (status, reason, _) = signal(&s, &url, "buy 0.1 GBPUSD").await;
    assert_eq!(status, "failed", "{reason:?}");
    let reason = reason.unwrap();
    assert!(reason.starts_with("daily_loss_limit"), "{reason}");
    assert!(reason.contains("balance"), "{reason}");
    // Closes are still accepted.
    let (status, _, _) = signal(&s, &url, "closeall").await;
    assert_ne!(status, "discarded");
}
