//! `POST /api/v1/agents/{id}/deals` over real HTTP: the agent key is checked, deals are
//! filed under the agent's own broker connection once per deal ticket (a repeat counts
//! once), times are converted from the trade server's clock to UTC, and the owner
//! (only) may read them under RLS.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn deal(ticket: u64, profit: f64, server_time: i64) -> Value {
    json!({"deal": ticket, "order": ticket + 1, "position": 77, "symbol": "EURUSD", "side": "sell",
           "entry": "out", "volume": 0.1, "price": 1.08, "profit": profit, "swap": -0.5,
           "commission": -0.7, "magic": 0, "comment": "[sl 1.08]", "time": server_time})
}

#[tokio::test]
async fn deals_are_stored_once_per_ticket_in_utc_and_visible_to_their_owner_only() {
    let s = TestServer::start().await;
    let alice = s.user("alice-deals@example.com").await;
    let bob = s.user("bob-deals@example.com").await;
    let a = s.agent(alice, "alice mt5").await;
    let b = s.agent(bob, "bob mt5").await;
    let path = format!("/api/v1/agents/{}/deals", a.agent_id);
    let t = 1_790_000_000;
    let body = json!({"gmt_offset_secs": 7200, "deals": [deal(1, -12.0, t), deal(2, 5.0, t + 60)]});

    // Another agent's key, or none: refused, nothing stored.
    let r = s.agent_post(&b.pairing_key, &path, &body).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = s.http.post(s.url(&path)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let r = s.agent_post(&a.pairing_key, &path, &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"stored": 2}));
    // Reported again (an agent restart re-reads two days): nothing counts twice.
    let again =
        json!({"gmt_offset_secs": 7200, "deals": [deal(2, 5.0, t + 60), deal(3, -1.0, t + 90)]});
    let r = s.agent_post(&a.pairing_key, &path, &again).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"stored": 1}));

    let (count, net, connection, first_utc): (i64, f64, uuid::Uuid, i64) = sqlx::query_as(
        "select count(*), sum(net), min(broker_connection_id::text)::uuid,
                min(extract(epoch from deal_time))::int8
           from broker_deals where user_id = $1",
    )
    .bind(alice)
    .fetch_one(&s.pool)
    .await
    .unwrap();
    assert_eq!(count, 3);
    assert!(
        (net - (-12.0 + 5.0 - 1.0 - 3.0 * 1.2)).abs() < 1e-9,
        "{net}"
    );
    assert_eq!(Some(connection), a.broker_connection_id);
    assert_eq!(first_utc, t - 7200, "server time minus the GMT offset");

    // RLS: the owner reads them, another user sees none, and users cannot write.
    let mut tx = companion_testkit::as_user(&s.pool, alice).await.unwrap();
    let mine: i64 = sqlx::query_scalar("select count(*) from broker_deals")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(mine, 3);
    let insert = sqlx::query(
        "insert into broker_deals (broker_connection_id, deal, user_id, symbol, side, entry, volume,
                                   price, profit, net, server_time, deal_time)
         values ($1, 99, $2, 'EURUSD', 'buy', 'out', 1, 1, 1000, 1000, 0, now())",
    )
    .bind(a.broker_connection_id)
    .bind(alice)
    .execute(&mut *tx)
    .await;
    assert!(insert.is_err(), "users cannot forge deals");
    tx.rollback().await.unwrap();
    let mut tx = companion_testkit::as_user(&s.pool, bob).await.unwrap();
    let theirs: i64 = sqlx::query_scalar("select count(*) from broker_deals")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(theirs, 0);
    tx.rollback().await.unwrap();

    // Too many deals in one request: 400.
    let many: Vec<Value> = (0..1001).map(|i| deal(10_000 + i, 0.0, t)).collect();
    let r = s
        .agent_post(&a.pairing_key, &path, &json!({"deals": many}))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_invalid_trading_day_time_zone_is_refused_by_the_database() {
    let s = TestServer::start().await;
    let u = s.user("tz@example.com").await;
    let bad =
        sqlx::query("update user_settings set trading_day_tz = 'Mars/Olympus' where user_id = $1")
            .bind(u)
            .execute(&s.pool)
            .await;
    assert!(bad.is_err());
    let default: String =
        sqlx::query_scalar("select trading_day_tz from user_settings where user_id = $1")
            .bind(u)
            .fetch_one(&s.pool)
            .await
            .unwrap();
    assert_eq!(default, "UTC");
    let done =
        sqlx::query("update user_settings set trading_day_tz = 'Europe/Berlin' where user_id = $1")
            .bind(u)
            .execute(&s.pool)
            .await
            .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

#[tokio::test]
async fn the_trading_day_sums_todays_deals_in_the_traders_time_zone() {
    let s = TestServer::start().await;
    let u = s.user("day@example.com").await;
    let a = s.agent(u, "day mt5").await;
    let now = chrono::Utc::now().timestamp();
    // Today's loss and one deal from three days ago (not today in any time zone).
    let body = json!({"gmt_offset_secs": 0, "deals": [deal(1, -40.0, now - 5), deal(2, -500.0, now - 3 * 86_400)]});
    let r = s
        .agent_post(
            &a.pairing_key,
            &format!("/api/v1/agents/{}/deals", a.agent_id),
            &body,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let put = |tz: &str| {
        s.http
            .put(s.url("/api/v1/trading-day/time-zone"))
            .bearer_auth(s.jwt(u))
            .json(&json!({"trading_day_tz": tz}))
            .send()
    };
    let r = put("Mars/Olympus").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = put("Asia/Tokyo").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let days: Value = s
        .user_get(u, "/api/v1/trading-day")
        .await
        .json()
        .await
        .unwrap();
    let day = &days[0];
    assert_eq!(day["broker_connection_id"], json!(a.broker_connection_id));
    assert_eq!(day["trading_day_tz"], "Asia/Tokyo");
    assert_eq!(day["from_terminal"], true);
    assert_eq!(day["deals"], 1);
    assert!(
        (day["realised_pnl"].as_f64().unwrap() - (-40.0 - 1.2)).abs() < 1e-9,
        "{day}"
    );
    // No balance known yet: no limit figure.
    assert_eq!(day["loss_limit"], Value::Null);
    assert_eq!(day["daily_loss_limit_pct"], json!(5.0));
    // Another user sees only their own connections.
    let other = s.user("day-other@example.com").await;
    let theirs: Value = s
        .user_get(other, "/api/v1/trading-day")
        .await
        .json()
        .await
        .unwrap();
    assert!(theirs
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["broker_connection_id"] != json!(a.broker_connection_id)));
}
