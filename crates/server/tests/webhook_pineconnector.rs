//! PineConnector alerts and the de-duplication window through the real webhook and
//! database: the licence is never a signal id, closes keep their side, what Companion
//! cannot execute is refused with its reason, eaoff / eaon pause and resume the
//! strategy, an explicit id is a duplicate (naming the earlier signal) only within
//! the strategy's window, and the strategy settings round-trip through the user API.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod webhook_support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;
use webhook_support::Srv;

const TEXT: &str = "text/plain";

async fn job_input(srv: &Srv, answer: &Value) -> (String, Value) {
    let id: Uuid = answer["signal_id"].as_str().unwrap().parse().unwrap();
    sqlx::query_as(
        "select j.job_type, j.input_data from tv_signals s join jobs j on j.id = s.job_id where s.id = $1",
    )
    .bind(id)
    .fetch_one(&srv.db.pool)
    .await
    .unwrap()
}

async fn row(
    srv: &Srv,
    answer: &Value,
) -> (String, String, String, Option<String>, Option<String>) {
    let id: Uuid = answer["signal_id"].as_str().unwrap().parse().unwrap();
    sqlx::query_as(
        "select status, action, symbol, error_message, dedup_key from tv_signals where id = $1",
    )
    .bind(id)
    .fetch_one(&srv.db.pool)
    .await
    .unwrap()
}

async fn understood(srv: &Srv, answer: &Value) -> Option<String> {
    let id: Uuid = answer["signal_id"].as_str().unwrap().parse().unwrap();
    sqlx::query_scalar("select understood from tv_signals where id = $1")
        .bind(id)
        .fetch_one(&srv.db.pool)
        .await
        .unwrap()
}

async fn enabled(srv: &Srv, strategy: Uuid) -> bool {
    sqlx::query_scalar("select is_enabled from tv_strategies where id = $1")
        .bind(strategy)
        .fetch_one(&srv.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_licence_is_not_an_id_and_units_follow_the_strategy() {
    let srv = Srv::start().await;
    let t = srv.trader("pine-lic@example.test").await;
    let (sid, secret) = srv.strategy(&t, json!({})).await;
    let alert = "60123456789,buy,EURUSD,risk=0.1";

    let (status, first) = srv.hook(&secret, alert, TEXT).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["status"], "pending", "{first}");
    let (job_type, input) = job_input(&srv, &first).await;
    assert_eq!(job_type, "trade");
    // PineConnector's default Volume Type: risk= is lots.
    assert_eq!(input["volume"], json!(0.1));
    assert!(input.get("risk_pct").is_none(), "{input}");
    assert_eq!(input["side"], "buy");
    let (_, _, _, _, key) = row(&srv, &first).await;
    let key = key.unwrap();
    assert!(
        key.starts_with("body:"),
        "the licence is not a signal id: {key}"
    );
    assert!(!key.contains("60123456789"), "{key}");

    // The same alert on the next bar is a new signal. (Identical bodies within 30 s
    // are one TradingView delivery; the earlier row is moved back past that.)
    sqlx::query(
        "update tv_signals set received_at = received_at - interval '60 seconds' where id = $1",
    )
    .bind(
        first["signal_id"]
            .as_str()
            .unwrap()
            .parse::<Uuid>()
            .unwrap(),
    )
    .execute(&srv.db.pool)
    .await
    .unwrap();
    let (_, second) = srv.hook(&secret, alert, TEXT).await;
    assert_eq!(second["status"], "pending", "{second}");
    assert_ne!(second["signal_id"], first["signal_id"]);
    let jobs: i64 = sqlx::query_scalar(
        "select count(*) from tv_signals where strategy_id = $1 and job_id is not null",
    )
    .bind(sid)
    .fetch_one(&srv.db.pool)
    .await
    .unwrap();
    assert_eq!(jobs, 2, "two alerts, two jobs");

    // Another strategy in percent-of-balance / price units.
    let (_, secret2) = srv
        .strategy(
            &t,
            json!({"pc_volume_type": "percent_balance_risk", "pc_target_type": "price"}),
        )
        .await;
    let (_, a) = srv
        .hook(&secret2, "60123456789,sell,GBPJPY,sl=195.5,risk=1", TEXT)
        .await;
    assert_eq!(a["status"], "pending", "{a}");
    let (_, input) = job_input(&srv, &a).await;
    assert_eq!(input["risk_pct"], json!(1.0));
    assert_eq!(input["sl"], json!(195.5));
    assert!(input.get("volume").is_none(), "{input}");
    assert!(input.get("sl_pips").is_none(), "{input}");
    // In pips (the default) the same sl=50 is a distance.
    let (_, b) = srv
        .hook(&secret, "60123456789,sell,GBPJPY,sl=50,risk=1", TEXT)
        .await;
    let (_, input) = job_input(&srv, &b).await;
    assert_eq!(
        (input["volume"].clone(), input["sl_pips"].clone()),
        (json!(1.0), json!(50.0))
    );
}

#[tokio::test]
async fn closes_keep_their_side_and_the_rest_is_refused_with_reasons() {
    let srv = Srv::start().await;
    let t = srv.trader("pine-close@example.test").await;
    let (_, secret) = srv.strategy(&t, json!({})).await;

    for (alert, side) in [
        ("60123456789,closelong,GBPUSD", Some("buy")),
        ("60123456789,closeshort,GBPUSD", Some("sell")),
        ("60123456789,closelongshort,GBPUSD", None),
    ] {
        let (_, v) = srv.hook(&secret, alert, TEXT).await;
        assert_eq!(v["status"], "pending", "{alert}: {v}");
        let (job_type, input) = job_input(&srv, &v).await;
        assert_eq!(job_type, "close_position");
        assert_eq!(input["symbol"], "GBPUSD");
        assert_eq!(input.get("side").and_then(Value::as_str), side, "{alert}");
        let (_, action, ..) = row(&srv, &v).await;
        assert_eq!(action, "close");
    }
    // closeall: every position of the strategy, on every symbol (helper `ownership`'s
    // strategy-wide close, limited to the strategy's magic).
    let (_, v) = srv.hook(&secret, "60123456789,closeall", TEXT).await;
    assert_eq!(v["status"], "pending", "{v}");
    let (job_type, input) = job_input(&srv, &v).await;
    assert_eq!(job_type, "close_position");
    assert_eq!(input["all_symbols"], json!(true), "{input}");
    assert!(input.get("symbol").is_none(), "{input}");

    // PineConnector's documented pending / cancel / modify samples become typed
    // jobs of the strategy's magic, logged with the command in words.
    let (_, v) = srv
        .hook(
            &secret,
            "60123456789,selllimit,GBPUSD,risk=1,sl=30,tp=60,price=15",
            TEXT,
        )
        .await;
    assert_eq!(v["status"], "pending", "{v}");
    let (job_type, input) = job_input(&srv, &v).await;
    assert_eq!(job_type, "trade");
    assert_eq!(
        (&input["side"], &input["order_type"], &input["volume"]),
        (&json!("sell"), &json!("limit"), &json!(1.0)),
        "{input}"
    );
    assert_eq!(
        input["entry_offset"],
        json!({"value": 15.0, "unit": "pips"})
    );
    assert_eq!(
        (&input["sl_pips"], &input["tp_pips"]),
        (&json!(30.0), &json!(60.0))
    );
    assert!(input["magic"].as_i64().unwrap() > 0);
    let magic = input["magic"].clone();
    let (_, action, ..) = row(&srv, &v).await;
    assert_eq!(action, "sell");
    assert_eq!(
        understood(&srv, &v).await.as_deref(),
        Some("sell limit 1 lot GBPUSD 15 pips above the bid, SL 30 pips, TP 60 pips, good till cancelled")
    );

    let (_, v) = srv
        .hook(&secret, "60123456789,cancelshort,GBPUSD", TEXT)
        .await;
    assert_eq!(v["status"], "pending", "{v}");
    let (job_type, input) = job_input(&srv, &v).await;
    assert_eq!(job_type, "cancel_orders");
    assert_eq!(
        (&input["symbol"], &input["side"], &input["magics"]),
        (&json!("GBPUSD"), &json!("sell"), &json!([magic]))
    );
    assert_eq!(row(&srv, &v).await.1, "cancel");

    let (_, v) = srv
        .hook(&secret, "60123456789,newsltpshort,GBPUSD,sl=40", TEXT)
        .await;
    assert_eq!(v["status"], "pending", "{v}");
    let (job_type, input) = job_input(&srv, &v).await;
    assert_eq!(job_type, "modify_position");
    assert_eq!(input["sl"], json!({"value": 40.0, "unit": "pips"}));
    assert_eq!(
        (&input["side"], &input["magics"]),
        (&json!("sell"), &json!([magic]))
    );
    assert!(input.get("tp").is_none(), "{input}");
    assert_eq!(row(&srv, &v).await.1, "modify");

    let (_, v) = srv
        .hook(&secret, "60123456789,closelongbuy,GBPUSD,risk=0.3", TEXT)
        .await;
    let (job_type, input) = job_input(&srv, &v).await;
    assert_eq!(job_type, "trade");
    assert_eq!(
        (&input["side"], &input["close_same_side"], &input["volume"]),
        (&json!("buy"), &json!(true), &json!(0.3))
    );

    for (alert, reason, action) in [
        (
            "60123456789,selllimit,GBPUSD,risk=1",
            "missing_param: price= is required",
            "sell",
        ),
        (
            "60123456789,newsltpshort,GBPUSD",
            "missing_param: newsltplong / newsltpshort need sl= or tp=",
            "modify",
        ),
        (
            "60123456789,buy,GBPUSD,risk=1,atrtrigger=1,atrtimeframe=60,atrperiod=14,atrmultiplier=2",
            "unsupported_param: atrtrigger=",
            "buy",
        ),
    ] {
        let (_, v) = srv.hook(&secret, alert, TEXT).await;
        assert_eq!(v["status"], "discarded", "{alert}");
        let got = v["reason"].as_str().unwrap();
        assert!(got.starts_with(reason), "{alert}: {got}");
        let (status, logged_action, symbol, message, key) = row(&srv, &v).await;
        assert_eq!(
            (status.as_str(), logged_action.as_str(), symbol.as_str()),
            ("discarded", action, "GBPUSD")
        );
        assert_eq!(message.as_deref(), Some(got));
        assert_eq!(key, None);
    }
}

#[tokio::test]
async fn breakeven_and_trailing_parameters_reach_the_trade_job() {
    let srv = Srv::start().await;
    let t = srv.trader("pine-rules@example.test").await;
    let (_, secret) = srv.strategy(&t, json!({})).await;
    let (_, v) = srv
        .hook(
            &secret,
            "60123456789,buy,GBPUSD,risk=0.1,betrigger=15,beoffset=2,trailtrig=10,traildist=5,trailstep=1",
            TEXT,
        )
        .await;
    assert_eq!(v["status"], "pending", "{v}");
    let (job_type, input) = job_input(&srv, &v).await;
    assert_eq!(job_type, "trade");
    assert_eq!(
        input["breakeven"],
        json!({"trigger": {"value": 15.0, "unit": "pips"}, "offset": {"value": 2.0, "unit": "pips"}})
    );
    assert_eq!(
        input["trailing"],
        json!({"activation": {"value": 10.0, "unit": "pips"}, "distance": {"value": 5.0, "unit": "pips"},
               "step": {"value": 1.0, "unit": "pips"}})
    );
}

#[tokio::test]
async fn closealleaoff_queues_the_closeall_and_pauses() {
    let srv = Srv::start().await;
    let t = srv.trader("pine-closealleaoff@example.test").await;
    let (sid, secret) = srv.strategy(&t, json!({})).await;
    let (_, v) = srv.hook(&secret, "60123456789,closealleaoff", TEXT).await;
    assert_eq!(v["status"], "pending", "{v}");
    let (job_type, input) = job_input(&srv, &v).await;
    assert_eq!(job_type, "close_position");
    assert_eq!(input["all_symbols"], json!(true), "{input}");
    assert!(!enabled(&srv, sid).await, "paused with the close");
    assert_eq!(
        understood(&srv, &v).await.as_deref(),
        Some("close the strategy's positions on every symbol (and nothing else), then pause the strategy")
    );
    // Paused: the next entry is discarded, eaon resumes.
    let (_, buy) = srv
        .hook(&secret, "60123456789,buy,EURUSD,risk=0.2", TEXT)
        .await;
    assert_eq!(buy["status"], "discarded", "{buy}");
}

#[tokio::test]
async fn eaoff_pauses_and_eaon_resumes_the_strategy() {
    let srv = Srv::start().await;
    let t = srv.trader("pine-ea@example.test").await;
    let (sid, secret) = srv.strategy(&t, json!({})).await;

    let (_, off) = srv.hook(&secret, "60123456789,eaoff", TEXT).await;
    assert_eq!(off["status"], "executed", "{off}");
    assert!(off["reason"]
        .as_str()
        .unwrap()
        .starts_with("strategy_paused: eaoff"));
    assert!(!enabled(&srv, sid).await);
    let (status, ..) = row(&srv, &off).await;
    assert_eq!(status, "executed");

    let (_, buy) = srv
        .hook(&secret, "60123456789,buy,EURUSD,risk=0.2", TEXT)
        .await;
    assert_eq!(buy["status"], "discarded");
    assert!(
        buy["reason"].as_str().unwrap().starts_with("disabled: "),
        "{buy}"
    );

    let (_, on) = srv.hook(&secret, "60123456789,eaon,eaon", TEXT).await;
    assert_eq!(on["status"], "executed", "{on}");
    assert!(on["reason"]
        .as_str()
        .unwrap()
        .starts_with("strategy_resumed: eaon"));
    assert!(enabled(&srv, sid).await);

    let (_, buy) = srv
        .hook(&secret, "60123456789,buy,EURUSD,risk=0.2", TEXT)
        .await;
    assert_eq!(buy["status"], "pending", "{buy}");
    // The user API shows the control rows with what was done.
    let (code, detail) = srv
        .get(
            t.user,
            &format!("/api/v1/signals/{}", off["signal_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(detail["signal"]["status"], "executed");
    assert!(detail["signal"]["error_message"]
        .as_str()
        .unwrap()
        .contains("paused"));
}

#[tokio::test]
async fn licence_and_dialect_settings_refuse_what_they_should() {
    let srv = Srv::start().await;
    let t = srv.trader("pine-mode@example.test").await;
    let (sid, secret) = srv
        .strategy(
            &t,
            json!({"alert_dialect": "pineconnector", "pineconnector_license_id": "60123456789"}),
        )
        .await;
    let (_, s) = srv.get(t.user, &format!("/api/v1/strategies/{sid}")).await;
    assert_eq!(s["alert_dialect"], "pineconnector");
    assert_eq!(s["pineconnector_license_id"], "60123456789");
    assert_eq!(s["pc_volume_type"], "lots");
    assert_eq!(s["pc_target_type"], "pips");
    assert_eq!(s["dedup_window_secs"], 300);

    let (_, v) = srv.hook(&secret, "70000000001,buy,EURUSD", TEXT).await;
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .starts_with("license_mismatch: "),
        "{v}"
    );
    let (_, v) = srv.hook(&secret, "70000000001,eaoff", TEXT).await;
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .starts_with("license_mismatch: "),
        "{v}"
    );
    assert!(
        enabled(&srv, sid).await,
        "another licence cannot pause the strategy"
    );
    let (_, v) = srv.hook(&secret, "buy EURUSD", TEXT).await;
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .starts_with("not_pineconnector: "),
        "{v}"
    );
    let (_, v) = srv.hook(&secret, "60123456789,buy,EURUSD", TEXT).await;
    assert_eq!(v["status"], "pending", "{v}");

    // Bad settings are refused by the API.
    for bad in [
        json!({"pineconnector_license_id": "abc"}),
        json!({"dedup_window_secs": -1}),
        json!({"pc_volume_type": "grams"}),
    ] {
        let (code, _) = srv
            .call(
                t.user,
                Method::PATCH,
                &format!("/api/v1/strategies/{sid}"),
                Some(&bad),
            )
            .await;
        assert!(code.is_client_error(), "{bad}: {code}");
    }
    // null clears the licence.
    let (code, s) = srv
        .call(
            t.user,
            Method::PATCH,
            &format!("/api/v1/strategies/{sid}"),
            Some(&json!({"pineconnector_license_id": null, "alert_dialect": "auto"})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{s}");
    assert_eq!(s["pineconnector_license_id"], Value::Null);
    let (_, v) = srv.hook(&secret, "70000000001,buy,EURUSD", TEXT).await;
    assert_eq!(v["status"], "pending", "{v}");
}

#[tokio::test]
async fn an_explicit_id_is_a_duplicate_only_within_the_window() {
    let srv = Srv::start().await;
    let t = srv.trader("pine-window@example.test").await;
    let (sid, secret) = srv.strategy(&t, json!({})).await;
    let (code, s) = srv
        .call(
            t.user,
            Method::PATCH,
            &format!("/api/v1/strategies/{sid}"),
            Some(&json!({"dedup_window_secs": 1})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{s}");
    assert_eq!(s["dedup_window_secs"], 1);

    let body = r#"{"id":"bar-1","action":"buy","symbol":"EURUSD","qty":0.1}"#;
    let (_, first) = srv.hook(&secret, body, "application/json").await;
    assert_eq!(first["status"], "pending", "{first}");
    let first_id = first["signal_id"].as_str().unwrap().to_string();
    let (_, dup) = srv.hook(&secret, body, "application/json").await;
    assert_eq!(dup["status"], "discarded");
    let reason = dup["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("duplicate: ") && reason.contains(&first_id),
        "{reason}"
    );
    let (code, detail) = srv
        .get(
            t.user,
            &format!("/api/v1/signals/{}", dup["signal_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(detail["signal"]["duplicate_of"], json!(first_id));
    let (_, first_detail) = srv
        .get(t.user, &format!("/api/v1/signals/{first_id}"))
        .await;
    assert!(
        first_detail["signal"].get("duplicate_of").is_none(),
        "{first_detail}"
    );

    // Past the window the same id is a new signal (ids like {{time}} repeat by design):
    // the earlier signal is moved 5 s back instead of waiting.
    sqlx::query("update tv_signals set received_at = received_at - interval '5 seconds' where strategy_id = $1")
        .bind(sid)
        .execute(&srv.db.pool)
        .await
        .unwrap();
    let (_, again) = srv.hook(&secret, body, "application/json").await;
    assert_eq!(again["status"], "pending", "{again}");

    // Window 0 = forever (the behaviour before migration 0012).
    let (code, _) = srv
        .call(
            t.user,
            Method::PATCH,
            &format!("/api/v1/strategies/{sid}"),
            Some(&json!({"dedup_window_secs": 0})),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let body = r#"{"id":"bar-2","action":"sell","symbol":"EURUSD","qty":0.1}"#;
    let (_, a) = srv.hook(&secret, body, "application/json").await;
    assert_eq!(a["status"], "pending");
    sqlx::query(
        "update tv_signals set received_at = received_at - interval '30 days' where id = $1",
    )
    .bind(a["signal_id"].as_str().unwrap().parse::<Uuid>().unwrap())
    .execute(&srv.db.pool)
    .await
    .unwrap();
    let (_, b) = srv.hook(&secret, body, "application/json").await;
    assert_eq!(b["status"], "discarded", "{b}");
    assert!(b["reason"]
        .as_str()
        .unwrap()
        .contains(a["signal_id"].as_str().unwrap()));
}

/// The strategy's execution group (migration 0015) through the API: validated with
/// clear errors, stored, and carried into every entry's job with the typed size and
/// stop units of the strategy's Volume / Target Type.
#[tokio::test]
async fn execution_settings_are_validated_and_reach_the_job() {
    let srv = Srv::start().await;
    let t = srv.trader("pine-exec@example.test").await;
    let base = json!({"slippage_points": 20, "max_positions": null, "max_spread_points": null,
        "sessions": [], "session_days": [], "session_tz": "UTC", "min_equity": null,
        "min_free_margin": null, "pc_account_filter": "equity"});
    let with = |k: &str, v: Value| {
        let mut e = base.clone();
        e[k] = v;
        json!({ "name": "x", "broker_connection_id": t.connection, "execution": e })
    };
    for (body, says) in [
        (with("max_positions", json!(0)), "max_positions"),
        (with("slippage_points", json!(100_001)), "slippage_points"),
        (with("max_spread_points", json!(-1)), "max_spread_points"),
        (with("sessions", json!(["8:00-17:00"])), "HH:MM-HH:MM"),
        (with("session_days", json!([0])), "weekday"),
        (with("session_tz", json!("Mars/Olympus")), "time zone"),
        (with("min_equity", json!(-5)), "min_equity"),
    ] {
        let (status, v) = srv.post(t.user, "/api/v1/strategies", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(v.to_string().contains(says), "{says}: {v}");
    }
    let mut e = base.clone();
    e["slippage_points"] = json!(7);
    e["max_positions"] = json!(2);
    e["max_spread_points"] = json!(30);
    e["sessions"] = json!(["08:00-17:00", " 22:00-02:00"]);
    e["session_days"] = json!([5, 1, 1]);
    e["session_tz"] = json!("Asia/Tokyo");
    e["min_free_margin"] = json!(500);
    e["pc_account_filter"] = json!("balance");
    let (id, secret) = srv
        .strategy(
            &t,
            json!({"pc_volume_type": "percent_equity_risk", "pc_target_type": "points", "execution": e}),
        )
        .await;
    let (status, got) = srv.get(t.user, &format!("/api/v1/strategies/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        got["execution"]["sessions"],
        json!(["08:00-17:00", "22:00-02:00"])
    );
    assert_eq!(got["execution"]["session_days"], json!([1, 5]));
    assert_eq!(got["pc_volume_type"], "percent_equity_risk");

    let (_, a) = srv
        .hook(
            &secret,
            "60123456789,buy,EURUSD,risk=1,sl=150,tp=300,accfilter=2000",
            TEXT,
        )
        .await;
    assert_eq!(a["status"], "pending", "{a}");
    let (_, input) = job_input(&srv, &a).await;
    assert_eq!(
        input["volume_spec"],
        json!({"type": "equity_risk", "percent": 1.0})
    );
    assert_eq!(input["sizing"], "at_agent");
    assert_eq!(
        input["sl_distance"],
        json!({"value": 150.0, "unit": "points"})
    );
    assert_eq!(
        input["tp_distance"],
        json!({"value": 300.0, "unit": "points"})
    );
    assert_eq!(
        (input["deviation"].clone(), input["max_positions"].clone()),
        (json!(7), json!(2))
    );
    let f = &input["filters"];
    assert_eq!(f["max_spread"], json!({"value": 30.0, "unit": "points"}));
    assert_eq!(
        f["sessions"]["windows"],
        json!(["08:00-17:00", "22:00-02:00"])
    );
    assert_eq!(f["sessions"]["utc_offset_minutes"], json!(540));
    assert_eq!(f["min_free_margin"], json!(500.0));
    assert_eq!(
        f["min_balance"],
        json!(2000.0),
        "accfilter= of the balance basis"
    );

    // PATCH replaces the group; the alert's spread= (pips) replaces the strategy's.
    let (status, v) = srv
        .call(
            t.user,
            Method::PATCH,
            &format!("/api/v1/strategies/{id}"),
            Some(&json!({"execution": base})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["execution"]["max_positions"], Value::Null);
    let (_, a) = srv
        .hook(
            &secret,
            "60123456789,sell,EURUSD,risk=1,sl=150,spread=2",
            TEXT,
        )
        .await;
    let (_, input) = job_input(&srv, &a).await;
    assert_eq!(
        input["filters"],
        json!({"max_spread": {"value": 2.0, "unit": "pips"}})
    );
    assert_eq!(input["deviation"], json!(20));
    assert!(input.get("max_positions").is_none(), "{input}");
    // Risk at the stop without a stop is refused up front.
    let (_, r) = srv
        .hook(&secret, "60123456789,buy,EURUSD,risk=1", TEXT)
        .await;
    assert_eq!(r["status"], "discarded", "{r}");
    assert!(
        r["reason"].as_str().unwrap().starts_with("missing_stop"),
        "{r}"
    );
}
