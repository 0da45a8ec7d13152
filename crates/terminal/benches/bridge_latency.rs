//! Bridge round trips against the real paper terminal process over loopback:
//! `ping` and `order_send` latency percentiles (prints figures; no assertions).
//! Run: `cargo bench -p companion-terminal --bench bridge_latency`.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

use std::time::{Duration, Instant};

use companion_protocol::Side;
use companion_terminal::bridge::job_comment;
use companion_terminal::{BridgeServer, OrderRequest, Terminal};

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{name}: n={} p50={:.3} ms p95={:.3} ms p99={:.3} ms max={:.3} ms",
        v.len(),
        pct(&v, 0.50),
        pct(&v, 0.95),
        pct(&v, 0.99),
        pct(&v, 1.0)
    );
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BRIDGE_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let srv = BridgeServer::bind("127.0.0.1:0", "bench-token")
        .await
        .expect("bind");
    let t = srv.terminal();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_companion-paper-terminal"))
        .args([
            "--agent",
            &srv.local_addr().to_string(),
            "--token",
            "bench-token",
            "--balance",
            "100000000",
        ])
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("spawn paper terminal");
    assert!(
        t.wait_connected(Duration::from_secs(60)).await,
        "paper terminal did not connect"
    );

    let mut pings = Vec::with_capacity(n);
    for _ in 0..n {
        let s = Instant::now();
        t.ping().await.expect("ping");
        pings.push(s.elapsed());
    }
    report("ping round trip", pings);

    let mut orders = Vec::with_capacity(n);
    for i in 0..n {
        let o = OrderRequest {
            deviation: None,
            symbol: "EURUSD".into(),
            side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
            volume: 0.01,
            sl: None,
            tp: None,
            comment: job_comment(uuid::Uuid::new_v4()),
            magic: 1,
            filling: None,
        };
        let s = Instant::now();
        t.send_order(&o).await.expect("order");
        orders.push(s.elapsed());
    }
    report("order_send round trip", orders);
    let _ = child.kill().await;
}
