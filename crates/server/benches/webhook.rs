//! Webhook ingest benchmark (issue #4 "Measure"), real HTTP against a real
//! PostgreSQL: 64 concurrent senders (one strategy each, 8 users) post distinct
//! TradingView alerts for a fixed duration; every answer must be 200 `pending` and
//! every request must be accounted for by a `tv_signals` row with its `trade` job.
//! Prints requests/s and p50/p99/max response times and rewrites the
//! `<!-- bench:webhook -->` section of docs/benchmarks.md.
//!
//! Run: `cargo bench -p companion-server --bench webhook -- --secs 30`
//! (or `BENCH_WEBHOOK_SECS=30`; default 5 s; `--senders N` / `BENCH_WEBHOOK_SENDERS`).

#![allow(
    clippy::unwrap_used,
    reason = "benchmark harness: a failed setup step should abort the run"
)]

#[path = "../tests/webhook_support/mod.rs"]
mod webhook_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use webhook_support::Srv;

fn arg_or_env(flag: &str, env: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .or_else(|| std::env::var(env).ok().and_then(|v| v.parse().ok()))
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

struct Outcome {
    /// One sender alone: response time without queueing.
    single_p50: Duration,
    single_p99: Duration,
    single_requests: usize,
    secs: u64,
    senders: usize,
    requests: usize,
    rate: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    rows: i64,
    jobs: i64,
}

#[tokio::main]
async fn main() {
    let secs = arg_or_env("--secs", "BENCH_WEBHOOK_SECS", 5);
    let senders = arg_or_env("--senders", "BENCH_WEBHOOK_SENDERS", 64) as usize;
    // The per-strategy limit protects production; here each sender is one strategy
    // sending as fast as it can.
    std::env::set_var("WEBHOOK_RATE_PER_MIN", "100000000");
    std::env::set_var("WEBHOOK_RATE_BURST", "100000000");
    let srv = Arc::new(Srv::start_with_pool(Some(20)).await);

    let mut secrets = Vec::new();
    for u in 0..8 {
        let t = srv.trader(&format!("bench{u}@example.test")).await;
        for _ in 0..senders.div_ceil(8) {
            secrets.push(srv.strategy(&t, json!({})).await.1);
        }
    }
    secrets.truncate(senders);

    // Warm-up and the unloaded figure: one sender, 2 s.
    let mut single = Vec::new();
    let solo_end = Instant::now() + Duration::from_secs(2);
    let mut n = 0;
    while Instant::now() < solo_end {
        n += 1;
        let body = format!(r#"{{"id":"solo-{n}","action":"sell","symbol":"EURUSD","qty":0.01}}"#);
        let t0 = Instant::now();
        let (status, v) = srv.hook(&secrets[0], body, "application/json").await;
        single.push(t0.elapsed());
        assert!(
            status.is_success() && v["status"] == "pending",
            "{status} {v}"
        );
    }
    single.sort();

    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let tasks: Vec<_> = secrets
        .into_iter()
        .enumerate()
        .map(|(i, secret)| {
            let srv = srv.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    let body = format!(
                        r#"{{"id":"s{i}-{n}","action":"buy","ticker":"OANDA:EURUSD","price":"1.08512","qty":"0.01","sl_pips":20}}"#
                    );
                    let t0 = Instant::now();
                    let (status, v) = srv.hook(&secret, body, "application/json").await;
                    lat.push(t0.elapsed());
                    assert!(status.is_success() && v["status"] == "pending", "{status} {v}");
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    all.sort();
    let rows: i64 = sqlx::query_scalar("select count(*) from tv_signals")
        .fetch_one(&srv.db.pool)
        .await
        .unwrap();
    let jobs: i64 = sqlx::query_scalar(
        "select count(*) from jobs j join tv_signals s on s.job_id = j.id where j.job_type = 'trade'",
    )
    .fetch_one(&srv.db.pool)
    .await
    .unwrap();
    let out = Outcome {
        single_p50: percentile(&single, 0.5),
        single_p99: percentile(&single, 0.99),
        single_requests: single.len(),
        secs,
        senders,
        requests: all.len(),
        rate: all.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        max: *all.last().unwrap(),
        rows,
        jobs,
    };
    let total = out.requests + out.single_requests;
    assert_eq!(
        out.rows as usize, total,
        "every request has its tv_signals row"
    );
    assert_eq!(
        out.jobs as usize, total,
        "every accepted signal has its job"
    );
    println!(
        "webhook ingest, one sender: {} requests, p50 {}, p99 {}",
        out.single_requests,
        ms(out.single_p50),
        ms(out.single_p99)
    );
    println!(
        "webhook ingest: {} senders × {} s: {} requests, {:.0} req/s, p50 {}, p99 {}, max {}; {} rows, {} jobs",
        out.senders, out.secs, out.requests, out.rate, ms(out.p50), ms(out.p99), ms(out.max), out.rows, out.jobs
    );
    if let Some(c) = ceiling_tps() {
        println!(
            "webhook ingest vs the database ceiling ({c:.0} commits/s): {:.0} %",
            out.rate / c * 100.0
        );
    }
    write_section(&out);
}

/// The database's ceiling measured by `make bench` in the same run (scripts/bench-ceiling:
/// single-row INSERT commits per second), if it was.
fn ceiling_tps() -> Option<f64> {
    std::env::var("BENCH_CEILING_TPS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|t| *t > 0.0)
}

fn write_section(o: &Outcome) {
    const BEGIN: &str = "<!-- bench:webhook -->";
    const END: &str = "<!-- /bench:webhook -->";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks.md");
    let section = format!(
        "{BEGIN}\n## Webhook ingest (`cargo bench -p companion-server --bench webhook -- --secs {secs}`)\n\n\
         {senders} concurrent senders (one strategy each, 8 users) post distinct JSON alerts over real HTTP \
         for {secs} s; each request parses, logs a `tv_signals` row and queues its `trade` job in one transaction \
         (3 database round trips per alert since issue 18: the strategy, the context, one `ingest_signal` call) \
         (server pool: 20 connections; PostgreSQL and the server on the same 2-core machine).\n\n\
         | figure | value |\n|---|---|\n\
         | requests | {requests} (all 200 `pending`) |\n\
         | throughput | {rate:.0} requests/s |\n\
         {ceiling}\
         | response time p50 | {p50} |\n\
         | response time p99 | {p99} |\n\
         | response time max | {max} |\n\
         | `tv_signals` rows / `trade` jobs | {rows} / {jobs} (every request of both runs accounted for) |\n\
         | one sender alone (2 s, {single_requests} requests): p50 / p99 | {single_p50} / {single_p99} |\n\n\
         Under load the response time is mostly queueing: {senders} requests in flight over a \
         {pool}-connection pool (Little's law: in-flight / throughput).\n\n\
         Measured {date}; 1-minute load average {load} at the end of the run (the bench's own processes included).\n{END}\n",
        secs = o.secs,
        senders = o.senders,
        requests = o.requests,
        rate = o.rate,
        p50 = ms(o.p50),
        p99 = ms(o.p99),
        max = ms(o.max),
        rows = o.rows,
        jobs = o.jobs,
        single_requests = o.single_requests,
        single_p50 = ms(o.single_p50),
        single_p99 = ms(o.single_p99),
        pool = 20,
        ceiling = match ceiling_tps() {
            Some(c) => format!(
                "| vs the database ceiling ({c:.0} single-row INSERT commits/s, `bench:ceiling`, same run) | **{pct:.0} %** (goal ≥ 50 %) |\n",
                pct = o.rate / c * 100.0
            ),
            None => String::new(),
        },
        load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_string))
            .unwrap_or_else(|| "?".into()),
        date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
    );
    let existing =
        std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n\n".to_string());
    let updated = match (existing.find(BEGIN), existing.find(END)) {
        (Some(b), Some(e)) if e > b => {
            let mut end = e + END.len();
            if existing[end..].starts_with('\n') {
                end += 1;
            }
            format!("{}{section}{}", &existing[..b], &existing[end..])
        }
        _ => format!(
            "{}\n{section}",
            existing.trim_end_matches('\n').to_string() + "\n"
        ),
    };
    std::fs::write(&path, updated).expect("write docs/benchmarks.md");
    println!("wrote {}", path.display());
}
