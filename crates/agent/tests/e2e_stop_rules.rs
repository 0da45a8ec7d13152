//! Breakeven and trailing stops end to end (real server, agent and paper
//! terminal): a PineConnector buy with `betrigger=`/`beoffset=` and
//! `trailtrig=`/`traildist=`/`trailstep=` opens a position whose rules the agent
//! sets at the terminal; the agent is then killed (SIGKILL, by its PID) and, with
//! no agent running, the test moves the price several times (`paper_set_price`
//! through a bridge of its own on the agent's port): the paper terminal keeps
//! moving the SL. The agent restarts; the positions it lists carry rule state that
//! agrees with the SL, and nothing was applied twice (one order, the move count
//! unchanged, the SL where the terminal left it).

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

mod common;

use std::time::Duration;

use common::{eventually, Stack};
use companion_protocol::StopRulePhase;
use companion_terminal::{BridgeServer, BridgeTerminal, Terminal};
use serde_json::{json, Value};
use uuid::Uuid;

const PIP: f64 = 0.0001;

async fn positions_job(s: &Stack) -> Vec<Value> {
    let id = s.insert_job("get_positions", json!({}), None).await;
    let (status, out, err) = s.wait_job(id).await;
    assert_eq!(status, "completed", "{err:?}");
    out.unwrap()["positions"].as_array().unwrap().clone()
}

async fn set_bid(t: &BridgeTerminal, bid: f64) {
    t.call("paper_set_price", json!({"symbol": "EURUSD", "bid": bid}))
        .await
        .unwrap();
}

async fn sl_of(t: &BridgeTerminal, ticket: u64) -> f64 {
    t.positions()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.ticket == ticket)
        .expect("the position is open")
        .sl
        .unwrap_or(0.0)
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-7
}

#[tokio::test(flavor = "multi_thread")]
async fn breakeven_and_trailing_keep_moving_the_sl_while_the_agent_is_killed() {
    let mut s = Stack::new("stop_rules").await;
    let state = s.data_dir.path().join("paper-state.json");
    s.start_agent(&[]);
    s.start_paper(&["--tick-ms", "0", "--state-file", state.to_str().unwrap()]);
    s.wait_terminal_ready().await;

    // A PineConnector alert with breakeven and trailing parameters (pips).
    let (_strategy, secret) = s.insert_strategy().await;
    let url = format!("{}/api/v1/webhooks/tv/{secret}", s.server_url());
    let alert = "60123456789,buy,EURUSD,risk=0.1,betrigger=10,beoffset=1,trailtrig=20,traildist=10,trailstep=5";
    let resp = s
        .http
        .post(&url)
        .header("content-type", "text/plain")
        .body(alert)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "pending", "{v}");
    let signal: Uuid = v["signal_id"].as_str().unwrap().parse().unwrap();
    let job: Uuid = eventually(Duration::from_secs(60), "signal executed", || async {
        let row: (String, Option<Uuid>) =
            sqlx::query_as("SELECT status, job_id FROM tv_signals WHERE id = $1")
                .bind(signal)
                .fetch_one(&s.db.pool)
                .await
                .unwrap();
        (row.0 != "pending").then_some(row)
    })
    .await
    .1
    .expect("the signal's job");
    let (status, out, err) = s.job_row(job).await;
    assert_eq!(status, "completed", "{err:?}");
    let out = out.unwrap();
    let ticket = out["ticket"].as_u64().unwrap();
    let open = out["fill_price"].as_f64().unwrap();
    // The trade's output says which rules the terminal now runs, in price units.
    let rule = &out["stop_rule"];
    assert_eq!(rule["phase"], "armed", "{out}");
    assert!(near(
        rule["breakeven"]["trigger"].as_f64().unwrap(),
        10.0 * PIP
    ));
    assert!(near(
        rule["trailing"]["distance"].as_f64().unwrap(),
        10.0 * PIP
    ));
    assert!(out.get("stop_rule_error").is_none(), "{out}");

    // Kill the agent (SIGKILL to its PID). The paper terminal loses its connection.
    let agent_pid = s.agent.as_ref().unwrap().child.id();
    s.agent.as_mut().unwrap().kill();
    assert!(
        common::wait_exit(
            &mut s.agent.as_mut().unwrap().child,
            Duration::from_secs(30)
        )
        .is_some(),
        "agent {agent_pid} is gone"
    );
    // With no agent at all, a bridge of the test's own on the agent's port lets the
    // test move prices; the rules run in the paper terminal either way.
    let bridge = BridgeServer::bind(&format!("127.0.0.1:{}", s.bridge_port), &s.bridge_token)
        .await
        .unwrap();
    let t = bridge.terminal();
    assert!(
        t.wait_connected(Duration::from_secs(60)).await,
        "paper reconnects to the test's bridge"
    );
    set_bid(&t, open + 5.0 * PIP).await;
    assert!(
        near(sl_of(&t, ticket).await, 0.0),
        "below the breakeven trigger"
    );
    set_bid(&t, open + 12.0 * PIP).await;
    assert!(
        near(sl_of(&t, ticket).await, open + 1.0 * PIP),
        "breakeven + 1 pip"
    );
    set_bid(&t, open + 25.0 * PIP).await;
    assert!(
        near(sl_of(&t, ticket).await, open + 15.0 * PIP),
        "trailing 10 pips behind"
    );
    set_bid(&t, open + 27.0 * PIP).await;
    assert!(
        near(sl_of(&t, ticket).await, open + 15.0 * PIP),
        "less than the 5-pip step"
    );
    set_bid(&t, open + 31.0 * PIP).await;
    let sl_down = sl_of(&t, ticket).await;
    assert!(near(sl_down, open + 21.0 * PIP), "trailed again: {sl_down}");
    set_bid(&t, open + 24.0 * PIP).await;
    assert!(near(sl_of(&t, ticket).await, sl_down), "never loosens");
    let rules = t.stop_rules().await.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].moves, 3);
    bridge.shutdown().await;

    // The agent restarts; its positions carry the terminal's rule state.
    s.start_agent(&[]);
    s.wait_terminal_ready().await;
    let ps = positions_job(&s).await;
    assert_eq!(ps.len(), 1, "{ps:?}");
    let p = &ps[0];
    assert_eq!(p["ticket"].as_u64(), Some(ticket));
    let sl = p["sl"].as_f64().unwrap();
    assert!(
        near(sl, sl_down),
        "the SL the terminal set while the agent was down: {p}"
    );
    let r: companion_protocol::StopRuleState =
        serde_json::from_value(p["stop_rule"].clone()).unwrap();
    assert_eq!(r.phase, StopRulePhase::Trailing);
    assert!(
        near(r.last_sl.unwrap(), sl),
        "rule state agrees with the SL: {p}"
    );
    assert!(r.breakeven.unwrap().done);
    assert_eq!(r.moves, 3, "nothing applied twice");
    // One order for the job, ever; the signal's job is not run again.
    assert_eq!(
        s.orders_with_comment(&companion_agent::job_comment(job))
            .len(),
        1
    );
    assert_eq!(common::read_orders(&s.orders_log).len(), 1);
    let again = positions_job(&s).await;
    assert_eq!(again[0]["stop_rule"]["moves"], json!(3));
}

async fn run(s: &Stack, job_type: &str, input: Value, api: bool) -> Value {
    let id = if api {
        s.create_job_api(job_type, input.clone()).await
    } else {
        s.insert_job(job_type, input.clone(), None).await
    };
    let (status, out, err) = s.wait_job(id).await;
    assert_eq!(status, "completed", "{job_type} {input}: {err:?}");
    out.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn modify_position_sets_and_cancels_rules_and_pending_orders_carry_them() {
    let mut s = Stack::new("stop_rules_modify").await;
    s.start_agent(&[]);
    s.start_paper(&["--tick-ms", "0"]);
    s.wait_terminal_ready().await;
    let out = run(
        &s,
        "trade",
        json!({"symbol": "EURUSD", "side": "buy", "volume": 0.1, "magic": 5200}),
        false,
    )
    .await;
    let ticket = out["ticket"].as_u64().unwrap();
    assert!(out.get("stop_rule").is_none(), "no rules asked: {out}");

    // A trailing stop from the open, 10 pips behind: active at once.
    let out = run(
        &s,
        "modify_position",
        json!({"ticket": ticket, "trailing": {"distance": {"value": 10.0, "unit": "pips"}}}),
        true,
    )
    .await;
    let m = &out["modified"][0];
    assert_eq!(m["stop_rule"]["phase"], "trailing", "{out}");
    let ps = positions_job(&s).await;
    let bid = ps[0]["current_price"].as_f64().unwrap();
    let sl = ps[0]["sl"].as_f64().unwrap();
    assert!(near(sl, bid - 10.0 * PIP), "sl {sl} bid {bid}");
    assert_eq!(ps[0]["stop_rule"]["moves"], json!(1));

    // Cancelled: the SL stays, the rules go.
    let out = run(
        &s,
        "modify_position",
        json!({"ticket": ticket, "cancel_rules": true}),
        true,
    )
    .await;
    assert!(out["modified"][0].get("stop_rule").is_none(), "{out}");
    let ps = positions_job(&s).await;
    assert!(ps[0].get("stop_rule").is_none(), "{ps:?}");
    assert!(near(ps[0]["sl"].as_f64().unwrap(), sl));

    // A pending order's rules sit on its ticket until it fills.
    let out = run(
        &s,
        "trade",
        json!({"symbol": "EURUSD", "side": "buy", "volume": 0.1, "magic": 5200,
               "order_type": "limit", "entry_offset": {"value": 200.0, "unit": "pips"},
               "breakeven": {"trigger": {"value": 15.0, "unit": "pips"}}}),
        false,
    )
    .await;
    assert_eq!(out["pending"], json!(true), "{out}");
    assert_eq!(out["stop_rule"]["ticket"], out["order_id"], "{out}");
    assert_eq!(out["stop_rule"]["phase"], "armed");

    // Rules the terminal cannot run are refused before anything is sent.
    let id = s
        .insert_job(
            "trade",
            json!({"symbol": "EURUSD", "side": "buy", "volume": 0.1,
                   "trailing": {"step": {"value": 1.0, "unit": "pips"}}}),
            None,
        )
        .await;
    let (status, _, err) = s.wait_job(id).await;
    assert_eq!(status, "failed");
    assert!(err.unwrap().starts_with("invalid_stop_rule"));
    assert_eq!(positions_job(&s).await.len(), 1, "no order was sent");
    // The jobs API refuses a trailing stop without a distance too.
    let resp = s
        .http
        .post(format!("{}/api/v1/jobs", s.server_url()))
        .bearer_auth(&s.jwt)
        .json(
            &json!({"job_type": "modify_position", "agent_id": s.agent_id,
                      "input_data": {"ticket": ticket, "trailing": {}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}
