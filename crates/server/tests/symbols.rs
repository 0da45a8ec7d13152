//! Symbol names at real brokers (migration 0010): canonical names at the webhook
//! with the alert's own spelling kept in the job, allowed pairs stored by the old
//! normaliser re-normalised, de-duplication keys stored by the old normaliser
//! still recognised, and the symbol-override routes of a broker connection.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod webhook_support;

use companion_protocol::symbols::INSTRUMENT_ALIASES;
use companion_server::webhook::parse::normalize_symbol;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;
use webhook_support::{Srv, Trader};

/// The job input of an accepted signal.
async fn job_input(srv: &Srv, signal: &Value) -> Value {
    let id: Uuid = signal["signal_id"].as_str().unwrap().parse().unwrap();
    sqlx::query_scalar(
        "select j.input_data from tv_signals s join jobs j on j.id = s.job_id where s.id = $1",
    )
    .bind(id)
    .fetch_one(&srv.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn jobs_carry_the_canonical_name_and_the_alerts_own_spelling() {
    let srv = Srv::start().await;
    let t = srv.trader("canonical@example.test").await;
    let (_, secret) = srv.strategy(&t, json!({})).await;
    let json = "application/json";
    for (symbol, canonical, raw) in [
        ("OANDA:EURUSD", "EURUSD", None),
        ("OANDA:NAS100USD", "NAS100", Some("NAS100USD")),
        ("US30.cash", "US30", Some("US30.cash")),
        ("TVC:GOLD", "XAUUSD", Some("GOLD")),
    ] {
        let body = json!({"action": "buy", "symbol": symbol, "qty": 0.1}).to_string();
        let (status, v) = srv.hook(&secret, body, json).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["status"], "pending", "{symbol}: {v}");
        let input = job_input(&srv, &v).await;
        assert_eq!(input["symbol"], canonical, "{symbol}");
        assert_eq!(input["raw_symbol"].as_str(), raw, "{symbol}");
    }
    let (_, v) = srv
        .hook(
            &secret,
            r#"{"action":"close","symbol":"PEPPERSTONE:US30.cash"}"#,
            json,
        )
        .await;
    let input = job_input(&srv, &v).await;
    assert_eq!(
        (&input["symbol"], &input["raw_symbol"]),
        (&json!("US30"), &json!("US30.cash"))
    );
}

/// The `UPDATE public.tv_strategies` statement of migration 0010, run again on
/// rows written the old way.
fn renormalise_statement() -> &'static str {
    let sql = include_str!("../../../migrations/0010_symbol_resolution.sql");
    let start = sql.find("UPDATE public.tv_strategies").unwrap();
    let end = start + sql[start..].find(';').unwrap();
    &sql[start..end]
}

async fn set_pairs(srv: &Srv, strategy: Uuid, pairs: &[&str]) {
    sqlx::query("update tv_strategies set allowed_pairs = $2 where id = $1")
        .bind(strategy)
        .bind(pairs)
        .execute(&srv.db.pool)
        .await
        .unwrap();
}

async fn pairs(srv: &Srv, strategy: Uuid) -> Vec<String> {
    sqlx::query_scalar("select allowed_pairs from tv_strategies where id = $1")
        .bind(strategy)
        .fetch_one(&srv.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn allowed_pairs_stored_the_old_way_are_renormalised_and_still_allow() {
    let srv = Srv::start().await;
    let t = srv.trader("pairs@example.test").await;
    let (sid, secret) = srv.strategy(&t, json!({})).await;
    // What the old normaliser stored for EURUSD, NAS100USD, EURUSDm, TVC:GOLD, GBPUSD.
    set_pairs(
        &srv,
        sid,
        &["EURUSD", "NAS100USD", "EURUSDM", "GOLD", "GBPUSD"],
    )
    .await;
    let done = sqlx::query(renormalise_statement())
        .execute(&srv.db.pool)
        .await
        .unwrap();
    assert!(done.rows_affected() >= 1);
    assert_eq!(
        pairs(&srv, sid).await,
        ["EURUSD", "NAS100", "EURUSDM", "XAUUSD", "GBPUSD"]
    );
    // Already canonical: untouched by a second run.
    sqlx::query(renormalise_statement())
        .execute(&srv.db.pool)
        .await
        .unwrap();
    assert_eq!(pairs(&srv, sid).await.len(), 5);

    let text = "text/plain";
    for allowed in [
        "buy OANDA:EURUSD",
        "buy EURUSD.pro",
        "buy EURUSDm",
        "buy OANDA:NAS100USD",
        "buy USTEC",
        "buy XAUUSD",
        "sell FX:GBPUSD",
    ] {
        let (_, v) = srv.hook(&secret, format!("{allowed} 0.1"), text).await;
        assert_eq!(v["status"], "pending", "{allowed}: {v}");
    }
    let (_, v) = srv.hook(&secret, "buy 0.1 USDJPY", text).await;
    assert_eq!(v["status"], "discarded", "{v}");
    assert!(v["reason"].as_str().unwrap().contains("USDJPY"), "{v}");
}

#[tokio::test]
async fn the_sql_mapping_agrees_with_the_webhook_on_every_alias() {
    let srv = Srv::start().await;
    let mut names: Vec<String> = INSTRUMENT_ALIASES
        .iter()
        .flat_map(|g| g.iter().map(|a| a.to_string()))
        .collect();
    names.extend(
        [
            "EURUSD",
            "GBPJPY",
            "EURUSDM",
            "USDJPYECN",
            "GBPUSDPRO",
            "US30",
        ]
        .map(String::from),
    );
    for name in names {
        let sql: String = sqlx::query_scalar("select public.canonical_symbol($1)")
            .bind(&name)
            .fetch_one(&srv.db.pool)
            .await
            .unwrap();
        let rust = match name.as_str() {
            // The old normaliser kept suffixes glued on: the SQL strips the common ones.
            "EURUSDM" => "EURUSD".to_string(),
            "USDJPYECN" => "USDJPY".to_string(),
            "GBPUSDPRO" => "GBPUSD".to_string(),
            _ => normalize_symbol(&name),
        };
        assert_eq!(sql, rust, "{name}");
    }
}

#[tokio::test]
async fn dedup_keys_stored_the_old_way_still_dedup() {
    let srv = Srv::start().await;
    let t = srv.trader("olddedup@example.test").await;
    let (sid, secret) = srv.strategy(&t, json!({})).await;
    // A signal logged before 0010: its explicit key spelt the symbol the old way.
    let old: Uuid = sqlx::query_scalar(
        "insert into tv_signals (strategy_id, user_id, symbol, action, raw_payload, status, dedup_key)
         values ($1, $2, 'NAS100USD', 'buy', '{}'::jsonb, 'pending', 'id:alert-7:buy:NAS100USD')
         returning id",
    )
    .bind(sid)
    .bind(t.user)
    .fetch_one(&srv.db.pool)
    .await
    .unwrap();
    let json = "application/json";
    let (_, v) = srv
        .hook(
            &secret,
            r#"{"id":"alert-7","action":"buy","symbol":"OANDA:NAS100USD","qty":1}"#,
            json,
        )
        .await;
    assert_eq!(v["status"], "discarded", "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("duplicate: ") && reason.contains(&old.to_string()),
        "{reason}"
    );
    // The new key is the canonical one, and it dedups the next re-send too.
    let (_, first) = srv
        .hook(
            &secret,
            r#"{"id":"alert-8","action":"buy","symbol":"OANDA:NAS100USD","qty":1}"#,
            json,
        )
        .await;
    assert_eq!(first["status"], "pending", "{first}");
    // Migration 0012: the base is the canonical key; a windowed key stores `base@id`.
    let key: String = sqlx::query_scalar("select dedup_base from tv_signals where id = $1")
        .bind(
            first["signal_id"]
                .as_str()
                .unwrap()
                .parse::<Uuid>()
                .unwrap(),
        )
        .fetch_one(&srv.db.pool)
        .await
        .unwrap();
    assert_eq!(key, "id:alert-8:buy:NAS100");
    let (_, again) = srv
        .hook(
            &secret,
            r#"{"id":"alert-8","action":"buy","symbol":"USTEC","qty":1}"#,
            json,
        )
        .await;
    assert_eq!(again["status"], "discarded", "{again}");
}

fn overrides_path(t: &Trader) -> String {
    format!(
        "/api/v1/broker-connections/{}/symbol-overrides",
        t.connection
    )
}

#[tokio::test]
async fn symbol_overrides_are_set_listed_and_cleared_per_connection() {
    let srv = Srv::start().await;
    let t = srv.trader("overrides@example.test").await;
    let other = srv.trader("mallory@example.test").await;
    let base = overrides_path(&t);

    let (status, v) = srv.get(t.user, &base).await;
    assert_eq!((status, v), (StatusCode::OK, json!([])));

    // Any spelling of the instrument names its canonical entry.
    let (status, v) = srv
        .call(
            t.user,
            Method::PUT,
            &format!("{base}/OANDA:XAUUSD"),
            Some(&json!({"broker_symbol": " GOLD.pro "})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["canonical"], &v["broker_symbol"]),
        (&json!("XAUUSD"), &json!("GOLD.pro"))
    );
    let (status, _) = srv
        .call(
            t.user,
            Method::PUT,
            &format!("{base}/gold"),
            Some(&json!({"broker_symbol": "XAUUSD.r"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    srv.call(
        t.user,
        Method::PUT,
        &format!("{base}/NAS100USD"),
        Some(&json!({"broker_symbol": "USTEC"})),
    )
    .await;
    let (_, v) = srv.get(t.user, &base).await;
    let listed: Vec<(String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["canonical"].as_str().unwrap().into(),
                o["broker_symbol"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("NAS100".to_string(), "USTEC".to_string()),
            ("XAUUSD".to_string(), "XAUUSD.r".to_string())
        ]
    );

    // Validation.
    for (canonical, body) in [
        ("XAUUSD", json!({"broker_symbol": ""})),
        ("XAUUSD", json!({"broker_symbol": "GOLD PRO"})),
        ("XAUUSD", json!({"broker_symbol": "X".repeat(33)})),
        ("%7B%7Bticker%7D%7D", json!({"broker_symbol": "GOLD"})),
    ] {
        let (status, v) = srv
            .call(
                t.user,
                Method::PUT,
                &format!("{base}/{canonical}"),
                Some(&body),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["code"], "invalid_request");
    }

    // Another user's connection is invisible: 404, and nothing is written.
    let (status, v) = srv.get(other.user, &base).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (status, _) = srv
        .call(
            other.user,
            Method::PUT,
            &format!("{base}/EURUSD"),
            Some(&json!({"broker_symbol": "EURUSD.x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = srv
        .call(other.user, Method::DELETE, &format!("{base}/XAUUSD"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let n: i64 = sqlx::query_scalar("select count(*) from broker_symbol_overrides")
        .fetch_one(&srv.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 2);

    // Clearing.
    let (status, _) = srv
        .call(t.user, Method::DELETE, &format!("{base}/XAUUSD"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = srv
        .call(t.user, Method::DELETE, &format!("{base}/XAUUSD"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, v) = srv.get(t.user, &base).await;
    assert_eq!(v.as_array().unwrap().len(), 1);

    // Under RLS directly, too (PostgREST users).
    let mut tx = companion_testkit::as_user(&srv.db.pool, other.user)
        .await
        .unwrap();
    let seen: i64 = sqlx::query_scalar("select count(*) from broker_symbol_overrides")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, 0);
    let denied = sqlx::query(
        "insert into broker_symbol_overrides (broker_connection_id, canonical, broker_symbol)
         values ($1, 'EURUSD', 'EURUSD.x')",
    )
    .bind(t.connection)
    .execute(&mut *tx)
    .await;
    assert!(denied.is_err(), "RLS lets only the owner write");
}
