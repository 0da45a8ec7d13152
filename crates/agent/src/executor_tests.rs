//! Unit tests of the executor against a scripted in-memory terminal (the
//! vendor edge); end-to-end behaviour is tested with the paper terminal in tests/.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{Duration as ChronoDuration, Utc};
use companion_protocol::*;
use companion_terminal::*;
use serde_json::json;
use uuid::Uuid;

use crate::executor::{job_comment, Executor, ExecutorOptions};
use crate::journal::{Journal, JournalState};
use crate::symbols;
use crate::toolchain::{ToolchainError, Unconfigured};

#[derive(Default)]
struct Scripted {
    connected: AtomicBool,
    orders: Mutex<Vec<OrderRequest>>,
    reject: Mutex<Option<u32>>,
    timeout_once: AtomicBool,
    /// Orders that the terminal executed but whose reply was lost.
    history: Mutex<Vec<DealRecord>>,
    info_calls: AtomicU32,
    /// Connect after this many `info` calls (0 = never changes).
    connect_after: AtomicU32,
    /// The symbol list (`None`: the terminal cannot list its symbols).
    symbols: Mutex<Option<Vec<BrokerSymbol>>>,
    symbols_calls: AtomicU32,
    /// Reply as the EA does when the deal is not in the history yet (unknowns).
    late_deals: AtomicBool,
    /// With `late_deals`: the deals never show up in the history either.
    no_history: AtomicBool,
}

impl Scripted {
    fn connected() -> Arc<Self> {
        let s = Scripted::default();
        s.connected.store(true, Ordering::SeqCst);
        Arc::new(s)
    }
    fn check(&self) -> Result<(), TerminalError> {
        if self.connected.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(TerminalError::NotConnected("no bridge connection".into()))
        }
    }
    fn deal(order: &OrderRequest, n: u64) -> DealRecord {
        DealRecord {
            order_id: 1000 + n,
            ticket: 5000 + n,
            symbol: order.symbol.clone(),
            side: order.side,
            volume: order.volume,
            price: 1.1001,
            comment: order.comment.clone(),
            time: 0,
            profit: None,
        }
    }
}

impl Terminal for Scripted {
    async fn info(&self) -> Result<TerminalInfo, TerminalError> {
        let n = self.info_calls.fetch_add(1, Ordering::SeqCst) + 1;
        let after = self.connect_after.load(Ordering::SeqCst);
        if after > 0 && n >= after {
            self.connected.store(true, Ordering::SeqCst);
        }
        self.check()?;
        Ok(TerminalInfo {
            connected: true,
            paper: true,
            ..Default::default()
        })
    }
    async fn account(&self) -> Result<AccountOutput, TerminalError> {
        self.check()?;
        Ok(AccountOutput {
            balance: 10_000.0,
            equity: 10_000.0,
            margin_used: 0.0,
            margin_available: 10_000.0,
            currency: "USD".into(),
            leverage: 100,
        })
    }
    async fn positions(&self) -> Result<Vec<Position>, TerminalError> {
        self.check()?;
        Ok(self
            .orders
            .lock()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, o)| Position {
                id: (5000 + i as u64).to_string(),
                ticket: 5000 + i as u64,
                symbol: o.symbol.clone(),
                side: o.side,
                volume: o.volume,
                open_price: 1.1,
                current_price: 1.1,
                sl: o.sl,
                tp: o.tp,
                pnl: 0.0,
                comment: o.comment.clone(),
                magic: o.magic,
                identifier: Some(5000 + i as u64),
                stop_rule: None,
            })
            .collect())
    }
    async fn symbol_info(&self, symbol: &str) -> Result<SymbolInfo, TerminalError> {
        self.check()?;
        Ok(SymbolInfo {
            symbol: symbol.into(),
            digits: 5,
            point: 0.00001,
            contract_size: 100_000.0,
            tick_size: 0.00001,
            tick_value: 1.0,
            volume_min: 0.01,
            volume_max: 50.0,
            volume_step: 0.01,
            bid: 1.1,
            ask: 1.1001,
            ..Default::default()
        })
    }
    async fn candles(
        &self,
        _s: &str,
        tf: Timeframe,
        count: u32,
    ) -> Result<Vec<Candle>, TerminalError> {
        self.check()?;
        Ok((0..count as i64)
            .map(|i| Candle {
                time: i * tf.seconds(),
                open: 1.0,
                high: 1.1,
                low: 0.9,
                close: 1.05,
                volume: 10.0,
            })
            .collect())
    }
    async fn send_order(&self, order: &OrderRequest) -> Result<OrderFill, TerminalError> {
        self.check()?;
        if let Some(retcode) = *self.reject.lock().unwrap() {
            return Err(TerminalError::Rejected {
                retcode,
                message: "simulated".into(),
            });
        }
        let n = {
            let mut o = self.orders.lock().unwrap();
            o.push(order.clone());
            o.len() as u64 - 1
        };
        if !self.no_history.load(Ordering::SeqCst) {
            self.history.lock().unwrap().push(Scripted::deal(order, n));
        }
        if self.timeout_once.swap(false, Ordering::SeqCst) {
            return Err(TerminalError::Timeout(100));
        }
        let known = !self.late_deals.load(Ordering::SeqCst);
        Ok(OrderFill {
            order_id: 1000 + n,
            ticket: known.then_some(5000 + n),
            price: known.then_some(1.1001),
            volume: order.volume,
        })
    }
    async fn close_position(&self, ticket: u64, comment: &str) -> Result<CloseFill, TerminalError> {
        self.check()?;
        if !self.no_history.load(Ordering::SeqCst) {
            self.history.lock().unwrap().push(DealRecord {
                order_id: 9000 + ticket,
                ticket,
                symbol: "EURUSD".into(),
                side: Side::Sell,
                volume: 0.1,
                price: 1.2,
                comment: comment.into(),
                time: 0,
                profit: Some(12.5),
            });
        }
        let known = !self.late_deals.load(Ordering::SeqCst);
        Ok(CloseFill {
            ticket,
            price: known.then_some(1.2),
            pnl: known.then_some(12.5),
        })
    }
    async fn find_by_comment(&self, comment: &str) -> Result<Vec<DealRecord>, TerminalError> {
        self.check()?;
        Ok(self
            .history
            .lock()
            .unwrap()
            .iter()
            .filter(|d| companion_terminal::bridge::comment_matches(&d.comment, comment))
            .cloned()
            .collect())
    }
    async fn deploy(&self, _d: &ChartDeployment) -> Result<i64, TerminalError> {
        self.check()?;
        Ok(77)
    }
    async fn run(&self, _chart_id: i64) -> Result<(), TerminalError> {
        self.check()
    }
    async fn stop(&self, _chart_id: i64) -> Result<(), TerminalError> {
        self.check()
    }
    async fn symbols(&self) -> Result<Vec<BrokerSymbol>, TerminalError> {
        self.check()?;
        self.symbols_calls.fetch_add(1, Ordering::SeqCst);
        self.symbols
            .lock()
            .unwrap()
            .clone()
            .ok_or_else(|| TerminalError::Other("unknown command symbols".into()))
    }
}

async fn executor(t: Arc<Scripted>) -> (Executor<Scripted, Unconfigured>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("journal.db")).await.unwrap();
    let opts = ExecutorOptions {
        reconnect_poll: std::time::Duration::from_millis(5),
        trading_wait: std::time::Duration::from_millis(50),
        ..Default::default()
    };
    (Executor::new(t, Arc::new(Unconfigured), j, opts), dir)
}

fn job(t: JobType, input: serde_json::Value) -> ClaimedJob {
    ClaimedJob {
        job_id: Uuid::new_v4(),
        job_type: t,
        input_data: input,
        attempt: 1,
        expires_at: None,
        broker_connection_id: None,
    }
}

fn trade_job(expires_in_secs: i64) -> ClaimedJob {
    ClaimedJob {
        expires_at: Some(Utc::now() + ChronoDuration::seconds(expires_in_secs)),
        ..job(
            JobType::Trade,
            json!({"symbol": "EURUSD", "side": "buy", "risk_pct": 1.0, "sl_pips": 20}),
        )
    }
}

#[test]
fn the_tag_is_24_chars_stable_and_unique_per_job() {
    let id = Uuid::new_v4();
    let c = job_comment(id);
    assert_eq!(c.len(), 24);
    assert!(c.starts_with("c:"));
    assert_eq!(c, job_comment(id));
    assert_ne!(c, job_comment(Uuid::new_v4()));
}

#[tokio::test]
async fn the_alerts_comment_follows_the_tag_in_the_order_comment() {
    let t = Scripted::connected();
    let (ex, _d) = executor(t.clone()).await;
    let j = job(
        JobType::Trade,
        json!({"symbol": "EURUSD", "side": "buy", "volume": 0.1, "comment": "London open"}),
    );
    let r = ex.run_claimed(&j).await.unwrap();
    assert_eq!(r.status, ResultStatus::Completed, "{r:?}");
    let sent = t.orders.lock().unwrap()[0].comment.clone();
    assert_eq!(sent, format!("{} London", job_comment(j.job_id)));
    assert_eq!(sent.len(), 31);
}

#[tokio::test]
async fn take_back_recognises_old_and_new_tags_and_sends_nothing() {
    for legacy in [true, false] {
        let t = Scripted::connected();
        let (ex, _d) = executor(t.clone()).await;
        let j = job(
            JobType::Trade,
            json!({"symbol": "EURUSD", "side": "buy", "volume": 0.1}),
        );
        // The order reached the terminal before the agent lost the claim: by an
        // agent before 0.14 (`cj:` tag) or by this one (tag + the trader's note).
        let comment = if legacy {
            companion_terminal::bridge::legacy_job_tag(j.job_id)
        } else {
            companion_terminal::bridge::order_comment(j.job_id, Some("note"))
        };
        t.history.lock().unwrap().push(DealRecord {
            order_id: 42,
            ticket: 4242,
            symbol: "EURUSD".into(),
            side: Side::Buy,
            volume: 0.1,
            price: 1.1,
            comment,
            time: 0,
            profit: None,
        });
        let r = ex.take_back(&j).await.unwrap();
        assert_eq!(r.status, ResultStatus::Completed, "{r:?}");
        let out: TradeOutput = serde_json::from_value(r.output_data.unwrap()).unwrap();
        assert_eq!(out.ticket, 4242, "legacy {legacy}");
        assert!(
            t.orders.lock().unwrap().is_empty(),
            "nothing sent (legacy {legacy})"
        );
    }
}

#[tokio::test]
async fn trade_is_sized_by_risk_and_filled_once_even_when_reclaimed() {
    let t = Scripted::connected();
    let (ex, _d) = executor(t.clone()).await;
    let j = trade_job(60);
    let r = ex.run_claimed(&j).await.unwrap();
    assert_eq!(r.status, ResultStatus::Completed, "{r:?}");
    let out: TradeOutput = serde_json::from_value(r.output_data.clone().unwrap()).unwrap();
    assert_eq!(out.volume, 0.5);
    assert_eq!(out.fill_price, 1.1001);
    let sent = t.orders.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].comment, job_comment(j.job_id));
    assert_eq!(sent[0].sl, Some(1.0981));
    // The server hands the same job back: the journaled result is returned, nothing is sent.
    let again = ex
        .run_claimed(&ClaimedJob {
            attempt: 2,
            ..j.clone()
        })
        .await
        .unwrap();
    assert_eq!(again, r);
    assert_eq!(t.orders.lock().unwrap().len(), 1);
}

/// The webhook's `daily_loss_check` (losses known, balance not): checked against the
/// live balance (10,000) before anything is sent.
#[tokio::test]
async fn daily_loss_check_refuses_the_order_at_the_limit_and_allows_it_below() {
    let t = Scripted::connected();
    let (ex, _d) = executor(t.clone()).await;
    let with_check = |loss: f64| ClaimedJob {
        expires_at: Some(Utc::now() + ChronoDuration::seconds(60)),
        ..job(
            JobType::Trade,
            json!({"symbol": "EURUSD", "side": "buy", "volume": 0.1,
                   "daily_loss_check": {"loss_today": loss, "limit_pct": 5.0}}),
        )
    };
    // 5 % of 10,000 = 500: a loss of 500 reaches it.
    let r = ex.run_claimed(&with_check(500.0)).await.unwrap();
    assert_eq!(r.status, ResultStatus::Failed, "{r:?}");
    let m = r.error_message.unwrap();
    assert!(
        m.starts_with("daily_loss_limit: ") && m.contains("500.00"),
        "{m}"
    );
    assert!(t.orders.lock().unwrap().is_empty(), "nothing sent");
    // 499.99 stays below: the explicit 0.1 lot goes out.
    let r = ex.run_claimed(&with_check(499.99)).await.unwrap();
    assert_eq!(r.status, ResultStatus::Completed, "{r:?}");
    let sent = t.orders.lock().unwrap().clone();
    assert_eq!((sent.len(), sent[0].volume), (1, 0.1));
}

#[tokio::test]
async fn expired_trade_is_refused_without_touching_the_terminal() {
    let t = Scripted::connected();
    let (ex, _d) = executor(t.clone()).await;
    let r = ex.run_claimed(&trade_job(-1)).await.unwrap();
    assert_eq!(r.status, ResultStatus::Failed);
    assert!(r
        .error_message
        .unwrap()
        .starts_with("expired: not executed"));
    assert!(t.orders.lock().unwrap().is_empty());
}

#[tokio::test]
async fn rejected_trade_fails_with_the_retcode_meaning() {
    let t = Scripted::connected();
    *t.reject.lock().unwrap() = Some(10019);
    let (ex, _d) = executor(t.clone()).await;
    let r = ex.run_claimed(&trade_job(60)).await.unwrap();
    assert_eq!(r.status, ResultStatus::Failed);
    let m = r.error_message.unwrap();
    assert!(m.contains("10019") && m.contains("not enough money"), "{m}");
}

#[tokio::test]
async fn a_fill_without_price_is_completed_from_the_history_not_with_zero() {
    let t = Scripted::connected();
    t.late_deals.store(true, Ordering::SeqCst);
    let (ex, _d) = executor(t.clone()).await;
    let r = ex.run_claimed(&trade_job(60)).await.unwrap();
    assert_eq!(r.status, ResultStatus::Completed, "{r:?}");
    let out: TradeOutput = serde_json::from_value(r.output_data.unwrap()).unwrap();
    assert_eq!((out.fill_price, out.ticket), (1.1001, 5000));
    assert_eq!(t.orders.lock().unwrap().len(), 1, "never sent twice");
    // A close whose deal is late: price and profit from the closing deal.
    let c = job(JobType::ClosePosition, json!({"ticket": 5000}));
    let r = ex.run_claimed(&c).await.unwrap();
    assert_eq!(r.status, ResultStatus::Completed, "{r:?}");
    let out: ClosePositionOutput = serde_json::from_value(r.output_data.unwrap()).unwrap();
    assert_eq!((out.closed_price, out.pnl), (1.2, 12.5));
}

#[tokio::test]
async fn a_fill_that_never_reaches_the_history_is_reported_unconfirmed() {
    let t = Scripted::connected();
    t.late_deals.store(true, Ordering::SeqCst);
    t.no_history.store(true, Ordering::SeqCst);
    let (ex, _d) = executor(t.clone()).await;
    let r = ex.run_claimed(&trade_job(60)).await.unwrap();
    assert_eq!(r.status, ResultStatus::Failed, "{r:?}");
    let m = r.error_message.unwrap();
    assert!(
        m.starts_with("executed but unconfirmed") && m.contains("Do not send it again"),
        "{m}"
    );
    assert!(r.output_data.is_none(), "no made-up price");
    assert_eq!(t.orders.lock().unwrap().len(), 1);
    let c = job(JobType::ClosePosition, json!({"ticket": 5000}));
    let r = ex.run_claimed(&c).await.unwrap();
    assert_eq!(r.status, ResultStatus::Failed, "{r:?}");
    let m = r.error_message.unwrap();
    assert!(m.contains("close price and profit unknown"), "{m}");
    assert_eq!(r.output_data.unwrap()["tickets"], json!([5000]));
}

#[tokio::test]
async fn a_lost_reply_is_resolved_by_comment_not_by_resending() {
    let t = Scripted::connected();
    t.timeout_once.store(true, Ordering::SeqCst);
    let (ex, _d) = executor(t.clone()).await;
    let r = ex.run_claimed(&trade_job(60)).await.unwrap();
    assert_eq!(r.status, ResultStatus::Completed, "{r:?}");
    assert_eq!(t.orders.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn sent_but_unanswered_trade_reconciles_found_or_sends_once() {
    let t = Scripted::connected();
    let (ex, _d) = executor(t.clone()).await;
    // Case 1: the order reached the terminal before the crash.
    let j = trade_job(60);
    ex.journal().record_claim(&j).await.unwrap();
    ex.journal()
        .mark_sent(j.job_id, &job_comment(j.job_id))
        .await
        .unwrap();
    let o = OrderRequest {
        deviation: None,
        symbol: "EURUSD".into(),
        side: Side::Buy,
        volume: 0.5,
        sl: None,
        tp: None,
        comment: job_comment(j.job_id),
        magic: 1,
        filling: None,
    };
    t.orders.lock().unwrap().push(o.clone());
    t.history.lock().unwrap().push(Scripted::deal(&o, 0));
    let r = ex
        .run_claimed(&ClaimedJob {
            attempt: 2,
            ..j.clone()
        })
        .await
        .unwrap();
    assert_eq!(r.status, ResultStatus::Completed);
    assert_eq!(
        t.orders.lock().unwrap().len(),
        1,
        "found by comment: not sent again"
    );

    // Case 2: it never reached the terminal: sent exactly once now.
    let j2 = trade_job(60);
    ex.journal().record_claim(&j2).await.unwrap();
    ex.journal()
        .mark_sent(j2.job_id, &job_comment(j2.job_id))
        .await
        .unwrap();
    let r2 = ex.recover(j2.job_id).await.unwrap().unwrap();
    assert_eq!(r2.status, ResultStatus::Completed);
    assert_eq!(t.orders.lock().unwrap().len(), 2);
    assert_eq!(
        ex.journal().get(j2.job_id).await.unwrap().unwrap().state,
        JournalState::Result
    );
}

#[tokio::test]
async fn trade_waits_for_a_reconnect_within_its_deadline() {
    let t = Arc::new(Scripted::default());
    t.connect_after.store(4, Ordering::SeqCst);
    let (ex, _d) = executor(t.clone()).await;
    let r = ex.run_claimed(&trade_job(30)).await.unwrap();
    assert_eq!(r.status, ResultStatus::Completed, "{r:?}");
    assert_eq!(t.orders.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn queries_fail_fast_with_a_clear_reason_when_disconnected() {
    let t = Arc::new(Scripted::default());
    let (ex, _d) = executor(t.clone()).await;
    for jt in [JobType::GetAccount, JobType::GetPositions] {
        let r = ex.run_claimed(&job(jt, json!({}))).await.unwrap();
        assert_eq!(r.status, ResultStatus::Failed);
        assert!(r.error_message.unwrap().contains("not connected"));
    }
    assert_eq!(
        t.info_calls.load(Ordering::SeqCst),
        2,
        "no waiting loop for queries"
    );
}

#[tokio::test]
async fn queries_deploy_run_stop_and_close_produce_their_outputs() {
    let t = Scripted::connected();
    let (ex, _d) = executor(t.clone()).await;
    let acc = ex
        .run_claimed(&job(JobType::GetAccount, json!({})))
        .await
        .unwrap();
    let acc: AccountOutput = serde_json::from_value(acc.output_data.unwrap()).unwrap();
    assert_eq!(acc.currency, "USD");
    let c = ex
        .run_claimed(&job(
            JobType::GetCandles,
            json!({"symbol": "EURUSD", "timeframe": "H1", "count": 3}),
        ))
        .await
        .unwrap();
    let c: CandlesOutput = serde_json::from_value(c.output_data.unwrap()).unwrap();
    assert_eq!(c.candles.len(), 3);
    let bad = ex
        .run_claimed(&job(
            JobType::GetCandles,
            json!({"symbol": "EURUSD", "timeframe": "H2", "count": 3}),
        ))
        .await
        .unwrap();
    assert!(bad
        .error_message
        .unwrap()
        .contains("invalid get_candles input"));

    let dep = Uuid::new_v4();
    let run_unknown = ex
        .run_claimed(&job(JobType::Run, json!({"deployment_id": dep})))
        .await
        .unwrap();
    assert!(run_unknown
        .error_message
        .unwrap()
        .contains("deploy it first"));
    let d = ex
        .run_claimed(&job(JobType::Deploy, json!({"deployment_id": dep, "version_id": Uuid::new_v4(), "symbol": "EURUSD", "timeframe": "H1", "magic_number": 7})))
        .await
        .unwrap();
    assert_eq!(
        d.output_data.unwrap(),
        json!({"deployed": true, "chart_id": 77})
    );
    let run = ex
        .run_claimed(&job(JobType::Run, json!({"deployment_id": dep})))
        .await
        .unwrap();
    assert_eq!(run.output_data.unwrap(), json!({"running": true}));
    let stop = ex
        .run_claimed(&job(JobType::Stop, json!({"deployment_id": dep})))
        .await
        .unwrap();
    assert_eq!(stop.output_data.unwrap(), json!({"stopped": true}));

    ex.run_claimed(&trade_job(60)).await.unwrap();
    let close = ex
        .run_claimed(&job(
            JobType::ClosePosition,
            json!({"symbol": "eurusd", "side": "buy"}),
        ))
        .await
        .unwrap();
    let close: ClosePositionOutput = serde_json::from_value(close.output_data.unwrap()).unwrap();
    assert_eq!(close.tickets, vec![5000]);
    assert_eq!(close.pnl, 12.5);
    let none = ex
        .run_claimed(&job(JobType::ClosePosition, json!({"symbol": "GBPUSD"})))
        .await
        .unwrap();
    assert!(none
        .error_message
        .unwrap()
        .contains("no open position on GBPUSD"));
}

#[tokio::test]
async fn compile_and_test_without_toolchain_say_how_to_configure_it() {
    let (ex, _d) = executor(Scripted::connected()).await;
    let r = ex
        .run_claimed(&job(
            JobType::Compile,
            json!({"version_id": Uuid::new_v4(), "source": "void OnTick(){}"}),
        ))
        .await
        .unwrap();
    let m = r.error_message.unwrap();
    assert!(
        m.contains("metaeditor_path") && m.contains("COMPANION_METAEDITOR"),
        "{m}"
    );
    assert!(matches!(
        ToolchainError::NotConfigured(m.clone()),
        ToolchainError::NotConfigured(_)
    ));
}

fn broker_symbol(name: &str) -> BrokerSymbol {
    BrokerSymbol {
        name: name.into(),
        description: String::new(),
        path: String::new(),
        trade_mode: SymbolTradeMode::Full,
        digits: 5,
        visible: true,
    }
}

/// Trades and closes name the canonical instrument; the executor sends the
/// broker's own symbol, found in the terminal's list (fetched once, again on a miss).
#[tokio::test]
async fn trades_and_closes_use_the_brokers_symbol() {
    let t = Scripted::connected();
    *t.symbols.lock().unwrap() = Some(
        ["EURUSD.pro", "GBPUSD.pro", "GOLD", "US30.cash", "USTEC"]
            .map(broker_symbol)
            .to_vec(),
    );
    let (ex, _d) = executor(t.clone()).await;
    let trade = |input: serde_json::Value| {
        let ex = &ex;
        async move { ex.run_claimed(&job(JobType::Trade, input)).await.unwrap() }
    };
    for (input, sent) in [
        (
            json!({"symbol": "EURUSD", "side": "buy", "volume": 0.1}),
            "EURUSD.pro",
        ),
        (
            json!({"symbol": "XAUUSD", "side": "sell", "volume": 0.1}),
            "GOLD",
        ),
        (
            json!({"symbol": "US30", "raw_symbol": "US30.cash", "side": "buy", "volume": 0.1}),
            "US30.cash",
        ),
        (
            json!({"symbol": "NAS100", "raw_symbol": "NAS100USD", "side": "buy", "volume": 0.1}),
            "USTEC",
        ),
    ] {
        let r = trade(input.clone()).await;
        assert_eq!(r.status, ResultStatus::Completed, "{input}: {r:?}");
        assert_eq!(
            t.orders.lock().unwrap().last().unwrap().symbol,
            sent,
            "{input}"
        );
    }
    assert_eq!(
        t.symbols_calls.load(Ordering::SeqCst),
        1,
        "the list is cached"
    );
    let decided: Vec<(String, String, symbols::SymbolDecision)> = ex
        .symbols()
        .resolutions()
        .into_iter()
        .map(|r| (r.canonical, r.broker_symbol, r.decided))
        .collect();
    assert!(decided.contains(&(
        "XAUUSD".into(),
        "GOLD".into(),
        symbols::SymbolDecision::Alias
    )));
    assert!(decided.contains(&(
        "US30".into(),
        "US30.cash".into(),
        symbols::SymbolDecision::Raw
    )));

    // A symbol the broker lacks: not sent, the message names what exists.
    let r = trade(json!({"symbol": "UKOIL", "side": "buy", "volume": 0.1})).await;
    assert_eq!(r.status, ResultStatus::Failed);
    assert_eq!(
        r.error_message.as_deref(),
        Some("no symbol for UKOIL at this broker; set one in Symbols")
    );
    assert_eq!(
        t.symbols_calls.load(Ordering::SeqCst),
        2,
        "a miss looks again"
    );
    assert_eq!(t.orders.lock().unwrap().len(), 4);
    // ... and once the broker lists it, it is found.
    t.symbols
        .lock()
        .unwrap()
        .as_mut()
        .unwrap()
        .push(broker_symbol("UKOIL.cash"));
    let r = trade(json!({"symbol": "UKOIL", "side": "buy", "volume": 0.1})).await;
    assert_eq!(r.status, ResultStatus::Completed, "{r:?}");
    assert_eq!(
        t.orders.lock().unwrap().last().unwrap().symbol,
        "UKOIL.cash"
    );

    // Close by canonical symbol: the positions on the broker's name (GOLD) close.
    let r = ex
        .run_claimed(&job(JobType::ClosePosition, json!({"symbol": "XAUUSD"})))
        .await
        .unwrap();
    assert_eq!(r.status, ResultStatus::Completed, "{r:?}");
    let out: ClosePositionOutput = serde_json::from_value(r.output_data.unwrap()).unwrap();
    assert_eq!(
        out.tickets,
        vec![5001],
        "only the GOLD position (the second order)"
    );

    // An override wins.
    t.symbols
        .lock()
        .unwrap()
        .as_mut()
        .unwrap()
        .push(broker_symbol("XAUUSD.x"));
    ex.symbols()
        .set_overrides([("xauusd".to_string(), "XAUUSD.x".to_string())]);
    let r = trade(json!({"symbol": "XAUUSD", "side": "buy", "volume": 0.1})).await;
    assert_eq!(r.status, ResultStatus::Completed, "{r:?}");
    assert_eq!(t.orders.lock().unwrap().last().unwrap().symbol, "XAUUSD.x");
    ex.symbols().set_overrides([]);
}

/// A terminal that cannot list its symbols (an older bridge EA): names are sent as
/// the job gives them, as before.
#[tokio::test]
async fn without_a_symbol_list_the_canonical_name_is_sent() {
    let t = Scripted::connected();
    let (ex, _d) = executor(t.clone()).await;
    let r = ex
        .run_claimed(&job(
            JobType::Trade,
            json!({"symbol": "XAUUSD", "raw_symbol": "GOLD", "side": "buy", "volume": 0.1}),
        ))
        .await
        .unwrap();
    assert_eq!(r.status, ResultStatus::Completed, "{r:?}");
    assert_eq!(t.orders.lock().unwrap()[0].symbol, "XAUUSD");
}
