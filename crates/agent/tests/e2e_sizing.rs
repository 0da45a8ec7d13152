//! Sizing, stop units, filters, the position cap and slippage end to end (real
//! server, agent and paper terminal with frozen prices): PineConnector's sample
//! alerts under every Volume Type and Target Type open the volume and SL their
//! documentation describes; a wide spread, a second entry past `max_positions`
//! and a strategy's slippage reach the terminal as they should.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use chrono::Timelike;
use common::Stack;
use serde_json::{json, Value};
use uuid::Uuid;

/// The broker's symbols: AUDUSD and GBPJPY as PineConnector's samples trade them,
/// EURUSD with an 8-pip spread, USDJPY for GBPJPY's conversion to USD.
const SYMBOLS: &str = r#"[
  {"name":"AUDUSD","digits":5,"price":0.65500,"contract_size":100000,"spread_points":14,"currency_profit":"USD"},
  {"name":"GBPJPY","digits":3,"price":190.000,"contract_size":100000,"spread_points":25,"currency_profit":"JPY"},
  {"name":"USDJPY","digits":3,"price":150.000,"contract_size":100000,"spread_points":14,"currency_profit":"JPY"},
  {"name":"EURUSD","digits":5,"price":1.08500,"contract_size":100000,"spread_points":80,"currency_profit":"USD"}
]"#;

const LIC: &str = "60123456789";

/// A strategy with these settings, set through the user API (`PATCH
/// /api/v1/strategies/{id}`, as the app does); its webhook URL.
async fn strategy(s: &Stack, patch: Value) -> String {
    let (id, secret) = s.insert_strategy().await;
    let resp = s
        .http
        .patch(format!("{}/api/v1/strategies/{id}", s.server_url()))
        .bearer_auth(&s.jwt)
        .json(&patch)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert!(status.is_success(), "{patch}: {status} {body}");
    format!("{}/api/v1/webhooks/tv/{secret}", s.server_url())
}

/// An `execution` group: the defaults with `over` applied.
fn execution(over: Value) -> Value {
    let mut e = json!({"slippage_points": 20, "max_positions": null, "max_spread_points": null,
        "sessions": [], "session_days": [], "session_tz": "UTC", "min_equity": null,
        "min_free_margin": null, "pc_account_filter": "equity"});
    for (k, v) in over.as_object().unwrap() {
        e[k] = v.clone();
    }
    json!({ "execution": e })
}

/// Sends a text alert and waits for its signal: (status, error, job output).
async fn alert(s: &Stack, url: &str, body: &str) -> (String, Option<String>, Option<Value>) {
    let resp = s
        .http
        .post(url)
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{body}: {}", resp.status());
    let v: Value = resp.json().await.unwrap();
    let id: Uuid = v["signal_id"].as_str().unwrap().parse().unwrap();
    assert_ne!(v["status"], "discarded", "{body}: {v}");
    let (status, error, job) = s.wait_signal(id).await;
    let out = match job {
        Some(j) => s.job_row(j).await.1,
        None => None,
    };
    (status, error, out)
}

/// Sends an alert the webhook refuses; its reason.
async fn discarded(s: &Stack, url: &str, body: &str) -> String {
    let resp = s
        .http
        .post(url)
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "discarded", "{body}: {v}");
    v["reason"].as_str().unwrap().to_string()
}

async fn executed(s: &Stack, url: &str, body: &str) -> Value {
    let (status, error, out) = alert(s, url, body).await;
    assert_eq!(status, "executed", "{body}: {error:?}");
    out.unwrap()
}

async fn failed(s: &Stack, url: &str, body: &str) -> String {
    let (status, error, _) = alert(s, url, body).await;
    assert_eq!(status, "failed", "{body}: {error:?}");
    error.unwrap()
}

/// The open position with `ticket`.
async fn position(s: &Stack, ticket: u64) -> Value {
    let id = s.insert_job("get_positions", json!({}), None).await;
    let (status, out, err) = s.wait_job(id).await;
    assert_eq!(status, "completed", "{err:?}");
    out.unwrap()["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["ticket"].as_u64() == Some(ticket))
        .cloned()
        .unwrap_or_else(|| panic!("no position {ticket}"))
}

async fn equity(s: &Stack) -> f64 {
    let id = s.insert_job("get_account", json!({}), None).await;
    let (status, out, err) = s.wait_job(id).await;
    assert_eq!(status, "completed", "{err:?}");
    out.unwrap()["equity"].as_f64().unwrap()
}

fn lots_down(x: f64) -> f64 {
    ((x / 0.01) + 1e-6).floor() / 100.0
}

fn symbols_file(s: &Stack) -> String {
    let path = s.data_dir.path().join("symbols.json");
    std::fs::write(&path, SYMBOLS).unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn pineconnector_samples_under_every_volume_and_target_type() {
    let mut s = Stack::new("sizing_types").await;
    s.start_agent(&[]);
    let file = symbols_file(&s);
    s.start_paper(&[
        "--symbols",
        &file,
        "--tick-ms",
        "0",
        "--balance",
        "100000",
        "--leverage",
        "500",
    ]);
    s.wait_terminal_ready().await;
    let sample = format!("{LIC},buy,AUDUSD,risk=0.1");

    // Lots: 0.1 lot.
    let url = strategy(&s, json!({"pc_volume_type": "lots"})).await;
    let out = executed(&s, &url, &sample).await;
    assert_eq!(out["volume"], json!(0.1), "{out}");
    let p = position(&s, out["ticket"].as_u64().unwrap()).await;
    assert_eq!(p["volume"], json!(0.1));

    // % of balance as lots: 0.1 % of 100,000 → 0.1 lot per 1,000 × 0.1 = 1 lot.
    let url = strategy(&s, json!({"pc_volume_type": "percent_balance_lots"})).await;
    let out = executed(&s, &url, &sample).await;
    assert_eq!(out["volume"], json!(1.0), "{out}");

    // % of balance as margin: 100 of margin at 100,000 × ask / 500 per lot.
    let url = strategy(&s, json!({"pc_volume_type": "percent_balance_margin"})).await;
    let out = executed(&s, &url, &sample).await;
    let fill = out["fill_price"].as_f64().unwrap();
    let want = lots_down(100.0 / (100_000.0 * fill / 500.0));
    assert!(want > 0.5, "{want}");
    assert_eq!(out["volume"].as_f64(), Some(want), "{out}");

    // Money at the stop: no stop → refused with the reason; 100 over 20 pips
    // (200 points × 1 USD per lot) = 0.5 lots.
    let url = strategy(&s, json!({"pc_volume_type": "dollar_risk"})).await;
    let e = discarded(&s, &url, &sample).await;
    assert!(e.starts_with("missing_stop:"), "{e}");
    let out = executed(&s, &url, &format!("{LIC},buy,AUDUSD,risk=100,sl=20")).await;
    assert_eq!(out["volume"], json!(0.5), "{out}");
    // 0.1 USD at that stop is 0.0005 lots: below the minimum, refused.
    let e = failed(&s, &url, &format!("{LIC},buy,AUDUSD,risk=0.1,sl=20")).await;
    assert!(e.contains("volume_below_minimum"), "{e}");

    // % of balance at the stop: 0.1 % of 100,000 = 100 → 0.5 lots.
    let url = strategy(&s, json!({"pc_volume_type": "percent_balance_risk"})).await;
    let e = discarded(&s, &url, &sample).await;
    assert!(e.starts_with("missing_stop:"), "{e}");
    let out = executed(&s, &url, &format!("{LIC},buy,AUDUSD,risk=0.1,sl=20")).await;
    assert_eq!(out["volume"], json!(0.5), "{out}");

    // % of equity at the stop: the open positions' spread costs put the equity
    // below the balance, so fewer lots than the balance's 0.5.
    let url = strategy(&s, json!({"pc_volume_type": "percent_equity_risk"})).await;
    let e = discarded(&s, &url, &sample).await;
    assert!(e.starts_with("missing_stop:"), "{e}");
    let eq = equity(&s).await;
    assert!(eq < 100_000.0, "{eq}");
    let out = executed(&s, &url, &format!("{LIC},buy,AUDUSD,risk=0.1,sl=20")).await;
    assert_eq!(out["volume"].as_f64(), Some(lots_down(eq * 0.001 / 200.0)));
    assert_eq!(out["volume"], json!(0.49), "{out}");

    // Target types, `60123456789,sell,GBPJPY,sl=50,risk=1` (1 lot): the SL above
    // the sell's fill in pips (0.01), points (0.001) and percent of the price.
    let sample = format!("{LIC},sell,GBPJPY,sl=50,risk=1");
    for (target, distance) in [
        ("pips", Box::new(|_: f64| 0.50) as Box<dyn Fn(f64) -> f64>),
        ("points", Box::new(|_| 0.050)),
        ("percentage", Box::new(|fill| fill * 0.50)),
    ] {
        let url = strategy(&s, json!({"pc_target_type": target})).await;
        let out = executed(&s, &url, &sample).await;
        assert_eq!(out["volume"], json!(1.0), "{out}");
        let fill = out["fill_price"].as_f64().unwrap();
        let p = position(&s, out["ticket"].as_u64().unwrap()).await;
        let sl = p["sl"].as_f64().unwrap();
        let want = ((fill + distance(fill)) * 1000.0).round() / 1000.0;
        assert!((sl - want).abs() < 1e-9, "{target}: sl {sl}, want {want}");
    }
    // Price: sl=50 is a level below a sell at 190 — the broker refuses it; a level
    // above the price is set as given.
    let url = strategy(&s, json!({"pc_target_type": "price"})).await;
    let e = failed(&s, &url, &sample).await;
    assert!(e.contains("10016") || e.contains("stops"), "{e}");
    let out = executed(&s, &url, &format!("{LIC},sell,GBPJPY,sl=195.5,risk=1")).await;
    let p = position(&s, out["ticket"].as_u64().unwrap()).await;
    assert_eq!(p["sl"], json!(195.5));
}

#[tokio::test(flavor = "multi_thread")]
async fn spread_filter_position_cap_and_slippage_at_the_terminal() {
    let mut s = Stack::new("sizing_filters").await;
    s.start_agent(&[]);
    let file = symbols_file(&s);
    s.start_paper(&["--symbols", &file, "--tick-ms", "0"]);
    s.wait_terminal_ready().await;

    // EURUSD's spread is 80 points: a 50-point limit refuses it, AUDUSD's 14 pass.
    let url = strategy(&s, execution(json!({"max_spread_points": 50}))).await;
    let e = failed(&s, &url, &format!("{LIC},buy,EURUSD,risk=0.1")).await;
    assert!(
        e.starts_with("filter_spread:") && e.contains("80.0 points") && e.contains("limit 50"),
        "{e}"
    );
    executed(&s, &url, &format!("{LIC},buy,AUDUSD,risk=0.1")).await;
    // The alert's own spread= (pips) replaces the strategy's limit.
    let e = failed(&s, &url, &format!("{LIC},buy,AUDUSD,risk=0.1,spread=1")).await;
    assert!(e.contains("1.4 pips") && e.contains("limit 1 pips"), "{e}");

    // Cap 1 per symbol and direction: the second buy fails, a sell still opens.
    let url = strategy(
        &s,
        execution(json!({"max_positions": 1, "slippage_points": 7})),
    )
    .await;
    let first = executed(&s, &url, &format!("{LIC},buy,AUDUSD,risk=0.1")).await;
    // (Another comment: the same body within 30 s would be a duplicate delivery.)
    let e = failed(
        &s,
        &url,
        &format!("{LIC},buy,AUDUSD,risk=0.1,comment=second"),
    )
    .await;
    assert!(
        e.starts_with("max_positions:") && e.contains("1 buy position(s)"),
        "{e}"
    );
    // (A sell on this strategy would reverse the buy; another symbol is separate.)
    executed(&s, &url, &format!("{LIC},buy,EURUSD,risk=0.1")).await;

    // The strategy's slippage reached the order (the paper terminal logs it).
    let orders = common::read_orders(&s.orders_log);
    let order = orders
        .iter()
        .find(|o| o["ticket"].as_u64() == first["ticket"].as_u64() && o["retcode"] == 10009)
        .unwrap_or_else(|| panic!("no order for {first}"));
    assert_eq!(order["deviation"], json!(7), "{order}");
    // Strategies that do not set it keep 20.
    assert!(orders
        .iter()
        .any(|o| o["deviation"] == json!(20) && o["symbol"] == "AUDUSD"));

    // Sessions: the hour two to three hours from now (Tokyo time, no DST) excludes
    // now; the one that started an hour ago and ends in an hour includes it.
    let tokyo = (chrono::Utc::now() + chrono::Duration::hours(9)).hour();
    let window = |from: u32, to: u32| format!("{:02}:00-{:02}:00", from % 24, to % 24);
    let closed = window(tokyo + 2, tokyo + 3);
    let url = strategy(
        &s,
        execution(json!({"sessions": [closed], "session_tz": "Asia/Tokyo"})),
    )
    .await;
    let e = failed(&s, &url, &format!("{LIC},buy,AUDUSD,risk=0.1")).await;
    assert!(
        e.starts_with("filter_session:") && e.contains("(Asia/Tokyo) is outside"),
        "{e}"
    );
    let open = window(tokyo + 23, tokyo + 1);
    let url = strategy(
        &s,
        execution(json!({"sessions": [open], "session_tz": "Asia/Tokyo"})),
    )
    .await;
    executed(&s, &url, &format!("{LIC},buy,AUDUSD,risk=0.1")).await;
    // Equity minimum above the account's.
    let url = strategy(&s, execution(json!({"min_equity": 1_000_000}))).await;
    let e = failed(&s, &url, &format!("{LIC},buy,AUDUSD,risk=0.1")).await;
    assert!(e.starts_with("filter_equity:"), "{e}");
}
