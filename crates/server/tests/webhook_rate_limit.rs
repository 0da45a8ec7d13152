//! Per-strategy rate limit: a separate test binary, because the limit is read from
//! the environment when the router is built. Refused requests answer 429 with
//! `Retry-After` and are not logged; other strategies are unaffected.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod webhook_support;

use reqwest::StatusCode;
use serde_json::json;
use webhook_support::Srv;

#[tokio::test]
async fn a_strategy_over_its_rate_gets_429_and_others_do_not() {
    // One request per minute after a burst of two: the third request in this test
    // is refused however slowly the machine runs.
    std::env::set_var("WEBHOOK_RATE_PER_MIN", "1");
    std::env::set_var("WEBHOOK_RATE_BURST", "2");
    let srv = Srv::start().await;
    let t = srv.trader("rate@example.test").await;
    let (a, secret_a) = srv.strategy(&t, json!({})).await;
    let (b, secret_b) = srv.strategy(&t, json!({})).await;

    for body in ["buy EURUSD", "sell EURUSD"] {
        let (status, _) = srv.hook(&secret_a, body, "text/plain").await;
        assert_eq!(status, StatusCode::OK);
    }
    let resp = srv
        .http
        .post(srv.url(&format!("/api/v1/webhooks/tv/{secret_a}")))
        .body("close EURUSD")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(
        srv.signal_count(a).await,
        2,
        "refused requests are not logged"
    );

    let (status, v) = srv.hook(&secret_b, "buy EURUSD", "text/plain").await;
    assert_eq!(
        (status, v["status"].as_str()),
        (StatusCode::OK, Some("pending"))
    );
    assert_eq!(srv.signal_count(b).await, 1);
}
