//! Table-driven webhook tests over real alert bodies, good and bad: each gets its
//! documented outcome (docs/webhook.md) — HTTP status, a `tv_signals` row with the
//! status / reason / action / symbol, and a job where one is due.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod webhook_support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;
use webhook_support::Srv;

#[derive(Clone, Copy, Debug)]
enum Strat {
    Open,
    EurOnly,
    Disabled,
    NoAgent,
}

struct Row {
    status: &'static str,
    /// The discard code (`error_message` starts with it).
    code: Option<&'static str>,
    action: &'static str,
    symbol: &'static str,
    job: Option<&'static str>,
}

struct Case {
    name: &'static str,
    strat: Strat,
    body: Vec<u8>,
    ctype: &'static str,
    http: u16,
    row: Option<Row>,
    /// Checks on the job's input_data.
    input: Option<Value>,
}

fn pending(action: &'static str, symbol: &'static str, job: &'static str) -> Option<Row> {
    Some(Row {
        status: "pending",
        code: None,
        action,
        symbol,
        job: Some(job),
    })
}

fn discarded(code: &'static str, action: &'static str, symbol: &'static str) -> Option<Row> {
    Some(Row {
        status: "discarded",
        code: Some(code),
        action,
        symbol,
        job: None,
    })
}

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

fn case(
    name: &'static str,
    strat: Strat,
    body: impl Into<Vec<u8>>,
    ctype: &'static str,
    http: u16,
    row: Option<Row>,
    input: Option<Value>,
) -> Case {
    Case {
        name,
        strat,
        body: body.into(),
        ctype,
        http,
        row,
        input,
    }
}

fn cases() -> Vec<Case> {
    use Strat::*;
    vec![
        case(
            "json: full TradingView strategy alert",
            Open,
            r#"{"action":"buy","ticker":"OANDA:EURUSD","price":"1.08512","contracts":"0.5","sl_pips":20,"tp_pips":"40","comment":"long entry"}"#,
            JSON,
            200,
            pending("buy", "EURUSD", "trade"),
            Some(
                json!({"symbol":"EURUSD","side":"buy","volume":0.5,"sl_pips":20.0,"tp_pips":40.0,"sizing":"explicit","comment":"long entry","signal_price":1.08512}),
            ),
        ),
        case(
            "json: placeholders replaced, numbers as strings, side/qty spellings",
            Open,
            r#"{"side":"SELL","symbol":"FX:GBPUSD","close":"1.2650","qty":"0.3","market_position":"short"}"#,
            JSON,
            200,
            pending("sell", "GBPUSD", "trade"),
            Some(json!({"side":"sell","volume":0.3})),
        ),
        case(
            "json: market_position flat closes",
            Open,
            r#"{"action":"sell","ticker":"EURUSD.m","market_position":"flat","id":"flat-1"}"#,
            JSON,
            200,
            pending("close", "EURUSD", "close_position"),
            Some(json!({"symbol":"EURUSD"})),
        ),
        case(
            "json: exit action closes",
            Open,
            r#"{"order":"exit","pair":"usdjpy"}"#,
            JSON,
            200,
            pending("close", "USDJPY", "close_position"),
            None,
        ),
        case(
            "json: sl/tp prices on the right side",
            Open,
            r#"{"action":"long","symbol":"AUDUSD","price":0.65,"sl":0.645,"tp":0.66,"lots":0.2}"#,
            JSON,
            200,
            pending("buy", "AUDUSD", "trade"),
            Some(json!({"sl":0.645,"tp":0.66,"volume":0.2})),
        ),
        case(
            "json: numeric timestamp id",
            Open,
            r#"{"action":"buy","symbol":"NZDUSD","timestamp":1732400000000}"#,
            JSON,
            200,
            pending("buy", "NZDUSD", "trade"),
            None,
        ),
        case(
            "text: buy EURUSD (no size, no stop: minimum lot)",
            Open,
            "buy EURUSD",
            TEXT,
            200,
            pending("buy", "EURUSD", "trade"),
            Some(json!({"volume":0.01,"sizing":"minimum_no_stop"})),
        ),
        case(
            "text: sell 0.5 XAUUSD sl=20 tp=40 (pips)",
            Open,
            "sell 0.5 XAUUSD sl=20 tp=40",
            TEXT,
            200,
            pending("sell", "XAUUSD", "trade"),
            Some(json!({"volume":0.5,"sl_pips":20.0,"tp_pips":40.0})),
        ),
        case(
            "comma: <id>,buy,EURUSD,risk=1,sl=20,tp=40 (balance unknown: agent sizes)",
            Open,
            "a1b2c3,buy,EURUSD,risk=1,sl=20,tp=40",
            TEXT,
            200,
            pending("buy", "EURUSD", "trade"),
            Some(json!({"risk_pct":1.0,"sl_pips":20.0,"tp_pips":40.0,"sizing":"risk_at_agent"})),
        ),
        case(
            "text: TradingView default strategy message, position 0 closes",
            Open,
            "Breakout (20): order sell @ 1 filled on OANDA:GBPUSD. New strategy position is 0",
            TEXT,
            200,
            pending("close", "GBPUSD", "close_position"),
            None,
        ),
        case(
            "json body sent as text/plain is still JSON",
            Open,
            r#"{"action":"sell","symbol":"USDCAD","volume":1}"#,
            TEXT,
            200,
            pending("sell", "USDCAD", "trade"),
            None,
        ),
        case(
            "allowed pair after normalising OANDA:EURUSD.m",
            EurOnly,
            "buy OANDA:EURUSD.m",
            TEXT,
            200,
            pending("buy", "EURUSD", "trade"),
            None,
        ),
        // ---- not acted on: logged as discarded ----
        case(
            "pair not allowed",
            EurOnly,
            "buy GBPUSD",
            TEXT,
            200,
            discarded("pair_not_allowed", "buy", "GBPUSD"),
            None,
        ),
        case(
            "strategy disabled",
            Disabled,
            "buy EURUSD now",
            TEXT,
            200,
            discarded("disabled", "buy", "EURUSD"),
            None,
        ),
        case(
            "disabled, valid message",
            Disabled,
            r#"{"action":"buy","symbol":"EURUSD"}"#,
            JSON,
            200,
            discarded("disabled", "buy", "EURUSD"),
            None,
        ),
        case(
            "no agent serves the broker connection",
            NoAgent,
            "sell EURUSD",
            TEXT,
            200,
            discarded("no_agent", "sell", "EURUSD"),
            None,
        ),
        case(
            "empty body",
            Open,
            "",
            TEXT,
            200,
            discarded("empty", "unknown", ""),
            None,
        ),
        case(
            "whitespace only",
            Open,
            " \n\t ",
            TEXT,
            200,
            discarded("empty", "unknown", ""),
            None,
        ),
        case(
            "binary, invalid UTF-8",
            Open,
            vec![0xff, 0xfe, 0x00, 0x81, 0x62, 0x75, 0x79],
            "application/octet-stream",
            200,
            discarded("not_utf8", "unknown", ""),
            None,
        ),
        case(
            "malformed JSON",
            Open,
            r#"{"action":"buy","symbol":"EURUSD""#,
            JSON,
            200,
            discarded("malformed_json", "unknown", ""),
            None,
        ),
        case(
            "JSON that is not an object",
            Open,
            "[1,2,3]",
            JSON,
            200,
            discarded("malformed_json", "unknown", ""),
            None,
        ),
        case(
            "placeholders left in",
            Open,
            r#"{"action":"{{strategy.order.action}}","ticker":"{{ticker}}","price":"{{close}}"}"#,
            JSON,
            200,
            discarded("placeholder", "unknown", ""),
            None,
        ),
        case(
            "one placeholder left in text",
            Open,
            "buy {{ticker}}",
            TEXT,
            200,
            discarded("placeholder", "buy", ""),
            None,
        ),
        case(
            "unknown action",
            Open,
            r#"{"action":"hold","symbol":"EURUSD"}"#,
            JSON,
            200,
            discarded("unknown_action", "unknown", "EURUSD"),
            None,
        ),
        case(
            "unknown action in text",
            Open,
            "hodl EURUSD",
            TEXT,
            200,
            discarded("unknown_action", "unknown", "EURUSD"),
            None,
        ),
        case(
            "no action",
            Open,
            r#"{"symbol":"EURUSD","qty":1}"#,
            JSON,
            200,
            discarded("missing_action", "unknown", "EURUSD"),
            None,
        ),
        case(
            "no symbol",
            Open,
            r#"{"action":"buy"}"#,
            JSON,
            200,
            discarded("missing_symbol", "buy", ""),
            None,
        ),
        case(
            "negative volume",
            Open,
            r#"{"action":"buy","symbol":"EURUSD","qty":-1}"#,
            JSON,
            200,
            discarded("invalid_volume", "buy", "EURUSD"),
            None,
        ),
        case(
            "zero volume",
            Open,
            "buy 0 EURUSD",
            TEXT,
            200,
            discarded("invalid_volume", "buy", "EURUSD"),
            None,
        ),
        case(
            "huge volume (units, not lots)",
            Open,
            r#"{"action":"buy","symbol":"EURUSD","contracts":100000}"#,
            JSON,
            200,
            discarded("invalid_volume", "buy", "EURUSD"),
            None,
        ),
        case(
            "huge number 1e308",
            Open,
            r#"{"action":"buy","symbol":"EURUSD","qty":1e308}"#,
            JSON,
            200,
            discarded("invalid_volume", "buy", "EURUSD"),
            None,
        ),
        case(
            "price beyond numeric(12,5)",
            Open,
            r#"{"action":"buy","symbol":"EURUSD","price":123456789012}"#,
            JSON,
            200,
            discarded("invalid_number", "buy", "EURUSD"),
            None,
        ),
        case(
            "number as a word",
            Open,
            r#"{"action":"buy","symbol":"EURUSD","qty":"lots"}"#,
            JSON,
            200,
            discarded("invalid_volume", "buy", "EURUSD"),
            None,
        ),
        case(
            "risk out of range",
            Open,
            "buy EURUSD risk=50 sl=20",
            TEXT,
            200,
            discarded("invalid_number", "buy", "EURUSD"),
            None,
        ),
        case(
            "stops on the wrong side",
            Open,
            r#"{"action":"buy","symbol":"EURUSD","price":1.1,"sl":1.2}"#,
            JSON,
            200,
            discarded("invalid_stops", "buy", "EURUSD"),
            None,
        ),
        case(
            "SQL-looking symbol",
            Open,
            r#"{"action":"buy","symbol":"EURUSD'; DROP TABLE tv_signals;--"}"#,
            JSON,
            200,
            discarded("invalid_symbol", "buy", ""),
            None,
        ),
        case(
            "SQL-looking text",
            Open,
            "sell EURUSD; DELETE FROM jobs; --",
            TEXT,
            200,
            discarded("unexpected_token", "sell", "EURUSD"),
            None,
        ),
        case(
            "NUL characters",
            Open,
            "buy\0EURUSD\0",
            TEXT,
            200,
            discarded("unexpected_token", "unknown", ""),
            None,
        ),
        // ---- refused before logging ----
        case(
            "1 MB body",
            Open,
            vec![b'a'; 1024 * 1024],
            TEXT,
            413,
            None,
            None,
        ),
        case(
            "just over 64 KiB",
            Open,
            vec![b' '; 64 * 1024 + 1],
            TEXT,
            413,
            None,
            None,
        ),
    ]
}

#[tokio::test]
async fn every_body_gets_its_documented_outcome() {
    // 40+ bodies go to one strategy as fast as the machine allows; the per-strategy
    // rate limit (tested in webhook_rate_limit.rs) must not decide their outcome.
    // This binary holds only this test, so setting the environment races nothing.
    std::env::set_var("WEBHOOK_RATE_PER_MIN", "100000");
    std::env::set_var("WEBHOOK_RATE_BURST", "100000");
    let srv = Srv::start().await;
    let t = srv.trader("table@example.test").await;
    let (open, open_secret) = srv.strategy(&t, json!({})).await;
    let (eur, eur_secret) = srv
        .strategy(&t, json!({"allowed_pairs": ["oanda:eurusd"]}))
        .await;
    let (disabled, disabled_secret) = srv.strategy(&t, json!({"is_enabled": false})).await;
    let bare = srv.bare_connection(t.user).await;
    let (noagent, noagent_secret) = srv
        .strategy(&t, json!({"broker_connection_id": bare}))
        .await;

    let mut failures = Vec::new();
    for c in cases() {
        let (sid, secret) = match c.strat {
            Strat::Open => (open, &open_secret),
            Strat::EurOnly => (eur, &eur_secret),
            Strat::Disabled => (disabled, &disabled_secret),
            Strat::NoAgent => (noagent, &noagent_secret),
        };
        let before = srv.signal_count(sid).await;
        let (status, v) = srv.hook(secret, c.body.clone(), c.ctype).await;
        let after = srv.signal_count(sid).await;
        if let Err(e) = check(&srv, &c, status, &v, after - before, t.agent).await {
            failures.push(format!("{}: {e}\n   response {status} {v}", c.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // The SQL-looking bodies did nothing but get logged.
    let tables: i64 = sqlx::query_scalar(
        "select count(*) from pg_tables where schemaname = 'public' and tablename in ('tv_signals','jobs')",
    )
    .fetch_one(&srv.db.pool)
    .await
    .unwrap();
    assert_eq!(tables, 2);
}

async fn check(
    srv: &Srv,
    c: &Case,
    status: StatusCode,
    v: &Value,
    new_rows: i64,
    agent: Uuid,
) -> Result<(), String> {
    if status.as_u16() != c.http {
        return Err(format!("HTTP {} expected", c.http));
    }
    let Some(want) = &c.row else {
        if new_rows != 0 {
            return Err(format!("{new_rows} rows logged, none expected"));
        }
        if v.get("code").is_none() {
            return Err("error body without code".into());
        }
        return Ok(());
    };
    if new_rows != 1 {
        return Err(format!("{new_rows} rows logged, one expected"));
    }
    let id: Uuid = v["signal_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or("no signal_id")?;
    if v["status"] != want.status {
        return Err(format!(
            "response status {} != {}",
            v["status"], want.status
        ));
    }
    let row: (String, String, String, Option<String>, Option<Uuid>, Value) = sqlx::query_as(
        "select status, action, symbol, error_message, job_id, raw_payload from tv_signals where id = $1",
    )
    .bind(id)
    .fetch_one(&srv.db.pool)
    .await
    .map_err(|e| e.to_string())?;
    let (st, action, symbol, err, job_id, raw) = row;
    if (st.as_str(), action.as_str(), symbol.as_str()) != (want.status, want.action, want.symbol) {
        return Err(format!(
            "row ({st}, {action}, {symbol:?}) != ({}, {}, {:?})",
            want.status, want.action, want.symbol
        ));
    }
    match (want.code, &err) {
        (Some(code), Some(msg)) if msg.starts_with(&format!("{code}: ")) => {
            if v["reason"].as_str() != Some(msg.as_str()) {
                return Err("response reason differs from error_message".into());
            }
        }
        (None, None) => {}
        _ => {
            return Err(format!(
                "error_message {err:?}, expected code {:?}",
                want.code
            ))
        }
    }
    // The raw payload is the body: JSON as JSON, anything else as a string.
    let text = String::from_utf8_lossy(&c.body).replace('\0', "\u{fffd}");
    let expected_raw = serde_json::from_str::<Value>(text.trim()).unwrap_or(Value::String(text));
    if raw != expected_raw {
        return Err(format!("raw_payload {raw} != {expected_raw}"));
    }
    match (want.job, job_id) {
        (None, None) => Ok(()),
        (Some(job_type), Some(job_id)) => {
            let (jt, jstatus, jagent, etype, eid, input): (
                String,
                String,
                Option<Uuid>,
                Option<String>,
                Option<Uuid>,
                Value,
            ) = sqlx::query_as(
                "select job_type, status, agent_id, entity_type, entity_id, input_data from jobs where id = $1",
            )
            .bind(job_id)
            .fetch_one(&srv.db.pool)
            .await
            .map_err(|e| e.to_string())?;
            if jt != job_type || jstatus != "pending" || jagent != Some(agent) {
                return Err(format!("job ({jt}, {jstatus}, {jagent:?})"));
            }
            if etype.as_deref() != Some("tv_signal") || eid != Some(id) {
                return Err("job entity is not the signal".into());
            }
            if input["signal_id"] != json!(id) {
                return Err(format!("input_data.signal_id missing: {input}"));
            }
            if let Some(Value::Object(want_input)) = &c.input {
                for (k, want_v) in want_input {
                    if &input[k] != want_v {
                        return Err(format!(
                            "input_data.{k} = {} != {want_v} ({input})",
                            input[k]
                        ));
                    }
                }
            }
            Ok(())
        }
        (want_job, got) => Err(format!("job {got:?}, expected {want_job:?}")),
    }
}
