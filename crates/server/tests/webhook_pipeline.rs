//! The webhook pipeline against a real database: the job is targeted, expires and is
//! NOTIFYd on commit; duplicates (explicit id, identical body, concurrent) make one
//! job; sizing and the daily loss limit use the last known balance; unknown secrets
//! answer 404 and log nothing.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod webhook_support;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::postgres::PgListener;
use uuid::Uuid;
use webhook_support::{Srv, Trader};

async fn job_of(srv: &Srv, signal: &Value) -> Option<(Uuid, String, Value)> {
    let id: Uuid = signal["signal_id"].as_str()?.parse().ok()?;
    sqlx::query_as(
        "select j.id, j.job_type, j.input_data from tv_signals s join jobs j on j.id = s.job_id where s.id = $1",
    )
    .bind(id)
    .fetch_optional(&srv.db.pool)
    .await
    .unwrap()
}

async fn jobs_for_strategy(srv: &Srv, strategy: Uuid) -> i64 {
    sqlx::query_scalar(
        "select count(*) from jobs j join tv_signals s on s.id = j.entity_id where s.strategy_id = $1",
    )
    .bind(strategy)
    .fetch_one(&srv.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn accepted_signal_queues_a_targeted_expiring_job_and_notifies() {
    let srv = Srv::start().await;
    let t = srv.trader("pipe@example.test").await;
    let (sid, secret) = srv.strategy(&t, json!({})).await;
    let mut listener = PgListener::connect(&srv.db.url).await.unwrap();
    listener.listen("companion_jobs").await.unwrap();

    let (status, v) = srv
        .hook(
            &secret,
            r#"{"action":"buy","symbol":"EURUSD","qty":0.1}"#,
            "application/json",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["status"], "pending");
    assert!(v.get("reason").is_none());
    let signal_id: Uuid = v["signal_id"].as_str().unwrap().parse().unwrap();

    let note = listener.recv().await.unwrap();
    let payload: Value = serde_json::from_str(note.payload()).unwrap();
    let (job_id, job_type, input) = job_of(&srv, &v).await.expect("job");
    assert_eq!(job_type, "trade");
    assert_eq!(payload["job_id"], json!(job_id));
    assert_eq!(payload["user_id"], json!(t.user));
    assert_eq!(payload["agent_id"], json!(t.agent));
    assert_eq!(input["signal_id"], json!(signal_id));
    assert_eq!(input["strategy_id"], json!(sid));

    // expires_at = the signal's time + TRADE_TTL_SECS (60 by default), same transaction.
    let (ttl, same_time, owner): (f64, bool, Uuid) = sqlx::query_as(
        "select extract(epoch from j.expires_at - j.created_at)::float8,
                j.created_at = s.received_at, j.user_id
           from jobs j join tv_signals s on s.job_id = j.id where s.id = $1",
    )
    .bind(signal_id)
    .fetch_one(&srv.db.pool)
    .await
    .unwrap();
    assert_eq!(ttl, 60.0);
    assert!(same_time, "signal and job are written in one transaction");
    assert_eq!(owner, t.user);
}

#[tokio::test]
async fn duplicates_make_one_job() {
    let srv = Srv::start().await;
    let t = srv.trader("dup@example.test").await;
    let (sid, secret) = srv.strategy(&t, json!({})).await;
    let json = "application/json";

    // Explicit id: the same id (with the same action and symbol) is one signal.
    let body = r#"{"id":"sig-1","action":"buy","symbol":"EURUSD"}"#;
    let (_, first) = srv.hook(&secret, body, json).await;
    assert_eq!(first["status"], "pending");
    let resend = r#"{"id":"sig-1","action":"buy","symbol":"OANDA:EURUSD","price":1.1}"#;
    let (_, dup) = srv.hook(&secret, resend, json).await;
    assert_eq!(dup["status"], "discarded");
    let reason = dup["reason"].as_str().unwrap();
    assert!(reason.starts_with("duplicate: "), "{reason}");
    assert!(reason.contains(first["signal_id"].as_str().unwrap()));
    // Same id, another action: a different signal.
    let (_, close) = srv
        .hook(
            &secret,
            r#"{"id":"sig-1","action":"close","symbol":"EURUSD"}"#,
            json,
        )
        .await;
    assert_eq!(close["status"], "pending");

    // No id: an identical body within the window is a duplicate; another body is not.
    let (_, a) = srv.hook(&secret, "sell GBPUSD", "text/plain").await;
    let (_, b) = srv.hook(&secret, "sell GBPUSD\n", "text/plain").await;
    let (_, c) = srv.hook(&secret, "sell 0.2 GBPUSD", "text/plain").await;
    assert_eq!(a["status"], "pending");
    assert_eq!(b["status"], "discarded");
    assert_eq!(c["status"], "pending");

    assert_eq!(srv.signal_count(sid).await, 6, "every request is logged");
    assert_eq!(jobs_for_strategy(&srv, sid).await, 4);
    // Discarded duplicates carry no dedup key and no job.
    let orphans: i64 = sqlx::query_scalar(
        "select count(*) from tv_signals where strategy_id = $1 and status = 'discarded'
           and (job_id is not null or dedup_key is not null)",
    )
    .bind(sid)
    .fetch_one(&srv.db.pool)
    .await
    .unwrap();
    assert_eq!(orphans, 0);
}

#[tokio::test]
async fn concurrent_duplicates_cannot_both_create_jobs() {
    let srv = Srv::start().await;
    let t = srv.trader("race@example.test").await;
    let (sid, secret) = srv.strategy(&t, json!({})).await;
    // 2 × 12 requests stay within the default per-strategy burst (30).
    for body in [
        r#"{"id":"race-1","action":"buy","symbol":"EURUSD","qty":1}"#,
        "buy 1 USDJPY",
    ] {
        let answers = join_all((0..12).map(|_| srv.hook(&secret, body, "text/plain"))).await;
        let pending = answers
            .iter()
            .filter(|(s, v)| *s == StatusCode::OK && v["status"] == "pending")
            .count();
        let dups = answers
            .iter()
            .filter(|(_, v)| {
                v["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("duplicate"))
            })
            .count();
        assert_eq!((pending, dups), (1, 11), "{body}");
    }
    assert_eq!(srv.signal_count(sid).await, 24);
    assert_eq!(jobs_for_strategy(&srv, sid).await, 2);
}

async fn set_balance(srv: &Srv, t: &Trader, balance: f64) {
    sqlx::query(
        "insert into jobs (user_id, job_type, status, agent_id, output_data, completed_at)
         values ($1, 'get_account', 'completed', $2, $3, now())",
    )
    .bind(t.user)
    .bind(t.agent)
    .bind(
        json!({"balance": balance, "equity": balance, "margin_used": 0.0,
                 "margin_available": balance, "currency": "USD", "leverage": 100}),
    )
    .execute(&srv.db.pool)
    .await
    .unwrap();
}

/// Losses today and no known balance: the limit cannot be checked here, so the trade
/// job carries `daily_loss_check` for the agent to check against the live balance; without
/// losses, or once a balance is known, it does not; closes never do.
#[tokio::test]
async fn daily_loss_limit_is_left_to_the_agent_when_there_are_losses_but_no_balance() {
    let srv = Srv::start().await;
    let t = srv.trader("nobalance@example.test").await;
    let (_, secret) = srv.strategy(&t, json!({})).await;
    let loss_check = |v: &Value| {
        let v = v.clone();
        let srv = &srv;
        async move {
            job_of(srv, &v)
                .await
                .unwrap()
                .2
                .get("daily_loss_check")
                .cloned()
        }
    };
    // No balance, no losses: the limit cannot be reached; no check is attached.
    let (_, v) = srv.hook(&secret, "buy 0.1 EURUSD", "text/plain").await;
    assert_eq!(v["status"], "pending", "{v}");
    assert_eq!(loss_check(&v).await, None, "{v}");
    sqlx::query(
        "insert into trade_events (user_id, broker_connection_id, event_type, pair, profit_loss)
         values ($1, $2, 'close', 'EURUSD', -120.5)",
    )
    .bind(t.user)
    .bind(t.connection)
    .execute(&srv.db.pool)
    .await
    .unwrap();
    let (_, v) = srv.hook(&secret, "sell 0.1 EURUSD", "text/plain").await;
    assert_eq!(v["status"], "pending", "{v}");
    assert_eq!(
        loss_check(&v).await,
        Some(json!({"loss_today": 120.5, "limit_pct": 5.0}))
    );
    let (_, v) = srv.hook(&secret, "close EURUSD", "text/plain").await;
    assert_eq!(loss_check(&v).await, None, "{v}");
    // Once the agent has reported a balance, the server decides itself (120.5 < 500).
    set_balance(&srv, &t, 10_000.0).await;
    let (_, v) = srv.hook(&secret, "sell 0.2 EURUSD", "text/plain").await;
    assert_eq!(v["status"], "pending", "{v}");
    assert_eq!(loss_check(&v).await, None, "{v}");
}

#[tokio::test]
async fn sizing_and_daily_loss_limit_use_the_last_known_balance() {
    let srv = Srv::start().await;
    let t = srv.trader("risk@example.test").await;
    let (_, secret) = srv.strategy(&t, json!({"risk_override_pct": 2})).await;
    set_balance(&srv, &t, 10_000.0).await;
    let json = "application/json";

    // 2 % of 10 000 = 200 over 20 pips × 10 USD/pip/lot = 1.00 lot.
    let (_, v) = srv
        .hook(
            &secret,
            r#"{"action":"buy","symbol":"EURUSD","sl_pips":20}"#,
            json,
        )
        .await;
    let (_, _, input) = job_of(&srv, &v).await.unwrap();
    assert_eq!(
        (input["volume"].as_f64(), input["sizing"].as_str()),
        (Some(1.0), Some("risk"))
    );
    assert!(
        input.get("risk_pct").is_none(),
        "exactly one of volume / risk_pct"
    );

    // The message's own risk wins over the strategy's.
    let (_, v) = srv
        .hook(
            &secret,
            r#"{"action":"buy","symbol":"EURUSD","sl_pips":20,"risk":0.5}"#,
            json,
        )
        .await;
    assert_eq!(job_of(&srv, &v).await.unwrap().2["volume"], json!(0.25));

    // max_lots caps both explicit and risk-sized volumes.
    sqlx::query("update user_settings set max_lots = 0.5 where user_id = $1")
        .bind(t.user)
        .execute(&srv.db.pool)
        .await
        .unwrap();
    let (_, v) = srv.hook(&secret, "buy 3 EURUSD", "text/plain").await;
    let input = job_of(&srv, &v).await.unwrap().2;
    assert_eq!(
        (input["volume"].as_f64(), input["sizing"].as_str()),
        (Some(0.5), Some("explicit_capped_by_max_lots"))
    );
    let (_, v) = srv.hook(&secret, "buy EURUSD sl=10", "text/plain").await;
    let input = job_of(&srv, &v).await.unwrap().2;
    assert_eq!(
        (input["volume"].as_f64(), input["sizing"].as_str()),
        (Some(0.5), Some("risk_capped_by_max_lots"))
    );

    // A stop so wide that the risk buys less than the minimum lot: refused, not rounded up.
    let (_, v) = srv.hook(&secret, "buy EURUSD sl=50000", "text/plain").await;
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .starts_with("volume_below_minimum: "),
        "{v}"
    );

    // USDJPY's pip value is not in USD: the agent sizes it from the live terminal.
    let (_, v) = srv.hook(&secret, "sell USDJPY sl=30", "text/plain").await;
    let input = job_of(&srv, &v).await.unwrap().2;
    assert_eq!(input["risk_pct"], json!(2.0));
    assert_eq!(input["max_volume"], json!(0.5));
    assert!(input.get("volume").is_none());

    // Today's realised loss reaches 5 % of the balance: new entries are refused,
    // closes still go through. Yesterday's losses do not count.
    for (pnl, when) in [
        (-300.0, "now()"),
        (-250.0, "now()"),
        (-5000.0, "now() - interval '2 days'"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "insert into trade_events (user_id, broker_connection_id, event_type, pair, profit_loss, created_at)
             values ($1, $2, 'close', 'EURUSD', $3, {when})"
        )))
        .bind(t.user)
        .bind(t.connection)
        .bind(pnl)
        .execute(&srv.db.pool)
        .await
        .unwrap();
    }
    let (_, v) = srv.hook(&secret, "sell 0.1 EURUSD", "text/plain").await;
    assert_eq!(v["status"], "discarded");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .starts_with("daily_loss_limit: "),
        "{v}"
    );
    let (_, v) = srv.hook(&secret, "close EURUSD", "text/plain").await;
    assert_eq!(v["status"], "pending");
    assert_eq!(job_of(&srv, &v).await.unwrap().1, "close_position");
}

#[tokio::test]
async fn unknown_secrets_get_a_bare_404_and_nothing_is_logged() {
    let srv = Srv::start().await;
    let t = srv.trader("nobody@example.test").await;
    let (_, secret) = srv.strategy(&t, json!({})).await;
    let last = if secret.ends_with('x') { "y" } else { "x" };
    let wrong = format!("{}{last}", &secret[..secret.len() - 1]);
    assert_ne!(wrong, secret);
    for s in [wrong.as_str(), "short", "has%20space", &"a".repeat(300)] {
        let (status, v) = srv.hook(s, "buy EURUSD", "text/plain").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{s}");
        assert_eq!(v, json!({"code": "not_found", "message": "not found"}));
    }
    let n: i64 = sqlx::query_scalar("select count(*) from tv_signals")
        .fetch_one(&srv.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}
