//! Symbol resolution end to end: TradingView alerts (canonical names, the
//! alert's own spelling) through the real server and agent to a paper terminal
//! set up as a real broker (`--profile`), each order on the broker's own symbol
//! (or the trader's override, loaded by the agent from the server); a symbol the
//! broker lacks fails naming what it has.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::Stack;
use serde_json::json;
use uuid::Uuid;

/// Posts a buy alert for `symbol`; returns the finished job's (status, broker
/// symbol of its order if any, error message).
async fn alert(s: &Stack, secret: &str, symbol: &str) -> (String, Option<String>, Option<String>) {
    let url = format!("{}/api/v1/webhooks/tv/{secret}", s.server_url());
    let body =
        json!({"action": "buy", "symbol": symbol, "volume": 0.1, "id": Uuid::new_v4().to_string()});
    let v: serde_json::Value = s
        .http
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "pending", "{symbol}: {v}");
    let signal: Uuid = v["signal_id"].as_str().unwrap().parse().unwrap();
    let job: Uuid = sqlx::query_scalar("SELECT job_id FROM tv_signals WHERE id = $1")
        .bind(signal)
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    let (status, _, error) = s.wait_job(job).await;
    let orders = s.orders_with_comment(&companion_agent::job_comment(job));
    assert!(orders.len() <= 1, "{symbol}: one order at most");
    let sent = orders
        .first()
        .and_then(|o| o["symbol"].as_str())
        .map(String::from);
    (status, sent, error)
}

/// `overrides` (canonical, broker symbol) are the trader's, stored before the
/// agent starts (it loads them at start).
async fn stack(test: &str, profile: &str, overrides: &[(&str, &str)]) -> (Stack, String) {
    let mut s = Stack::new(test).await;
    for (canonical, symbol) in overrides {
        sqlx::query(
            "INSERT INTO broker_symbol_overrides (broker_connection_id, canonical, broker_symbol)
             VALUES ($1, $2, $3)",
        )
        .bind(s.broker_connection_id.unwrap())
        .bind(canonical)
        .bind(symbol)
        .execute(&s.db.pool)
        .await
        .unwrap();
    }
    s.start_agent(&[]);
    s.start_paper(&["--profile", profile]);
    s.wait_terminal_ready().await;
    let (_strategy, secret) = s.insert_strategy().await;
    (s, secret)
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_fill_on_a_dotted_pro_brokers_own_symbols() {
    // This broker has no S&P 500; the trader chose to trade those alerts on the Dow.
    let (s, secret) = stack(
        "symbols_dotted_pro",
        "dotted-pro",
        &[("SPX500", "US30.cash")],
    )
    .await;
    for (symbol, at_broker) in [
        ("OANDA:EURUSD", "EURUSD.pro"),
        ("XAUUSD", "GOLD"),
        ("OANDA:NAS100USD", "US100.cash"),
        ("US30.cash", "US30.cash"),
        ("PEPPERSTONE:GER40", "GER40.cash"),
        ("OANDA:SPX500USD", "US30.cash"),
    ] {
        let (status, sent, error) = alert(&s, &secret, symbol).await;
        assert_eq!(status, "completed", "{symbol}: {error:?}");
        assert_eq!(sent.as_deref(), Some(at_broker), "{symbol}");
    }
    // Not at this broker: nothing is sent, and the message says so.
    let (status, sent, error) = alert(&s, &secret, "OANDA:BCOUSD").await;
    assert_eq!((status.as_str(), sent), ("failed", None));
    assert_eq!(
        error.as_deref(),
        Some("no symbol for UKOIL at this broker; set one in Symbols")
    );
    // Listed, but only closes: named as the candidate.
    let (status, sent, error) = alert(&s, &secret, "OANDA:US2000USD").await;
    assert_eq!((status.as_str(), sent), ("failed", None));
    assert_eq!(
        error.as_deref(),
        Some("no symbol for US2000 at this broker; candidates: US2000.cash; set one in Symbols")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_fill_on_a_suffix_m_brokers_own_symbols() {
    let (s, secret) = stack("symbols_suffix_m", "suffix-m", &[]).await;
    for (symbol, at_broker) in [
        ("FX:EURUSD", "EURUSDm"),
        ("TVC:GOLD", "XAUUSDm"),
        ("OANDA:NAS100USD", "USTECm"),
        ("OANDA:DE30EUR", "DE30m"),
        ("BINANCE:BTCUSDT", "BTCUSDm"),
    ] {
        let (status, sent, error) = alert(&s, &secret, symbol).await;
        assert_eq!(status, "completed", "{symbol}: {error:?}");
        assert_eq!(sent.as_deref(), Some(at_broker), "{symbol}");
    }
}
