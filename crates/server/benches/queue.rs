//! Queue benchmarks (issue #3 "Measure"), real HTTP against a real PostgreSQL:
//! 1. wake latency: plain-SQL job insert → the waiting long-poll's response, p50/p99;
//! 2. claim + complete throughput with 50 concurrent agents.
//!
//! Prints the figures and rewrites the `<!-- bench:server -->` section of docs/benchmarks.md.
//!
//! Run: `DATABASE_URL=postgres://... cargo bench -p companion-server --bench queue`
//! (env `BENCH_WAKE_JOBS`, `BENCH_THROUGHPUT_JOBS`, `BENCH_AGENTS` override the sizes).

#![allow(
    clippy::unwrap_used,
    reason = "benchmark harness: a failed setup step should abort the run"
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestServer;
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

struct Wake {
    jobs: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

async fn wake_latency(s: &Arc<TestServer>, jobs: usize) -> Wake {
    let user = s.user("wake@example.com").await;
    let agent = s.agent(user, "wake").await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let poller = {
        let (s, agent) = (s.clone(), agent.clone());
        tokio::spawn(async move {
            for _ in 0..jobs {
                loop {
                    if let Some(job) = s.next(&agent, 30).await {
                        tx.send((job.job_id, Instant::now())).unwrap();
                        break;
                    }
                }
            }
        })
    };
    let mut latencies = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        // Give the poller time to find the queue empty and wait on the notification.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let start = Instant::now();
        let id = s.insert_job(user, "get_account", None, json!({})).await;
        let (got, at) = rx.recv().await.unwrap();
        assert_eq!(got, id);
        latencies.push(at - start);
    }
    poller.await.unwrap();
    latencies.sort();
    Wake {
        jobs,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        max: *latencies.last().unwrap(),
    }
}

struct Throughput {
    jobs: usize,
    agents: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

async fn throughput(s: &Arc<TestServer>, jobs: usize, agents: usize) -> Throughput {
    // Up to 10 users, agents spread over them, untargeted jobs spread over the users.
    let mut users = Vec::new();
    for i in 0..agents.clamp(1, 10) {
        users.push(s.user(&format!("tp{i}@example.com")).await);
    }
    let mut keys = Vec::new();
    for i in 0..agents {
        keys.push(s.agent(users[i % users.len()], &format!("agent{i}")).await);
    }
    sqlx::query(
        "insert into jobs (user_id, job_type, input_data) \
         select ($2::uuid[])[1 + (g % cardinality($2::uuid[]))], 'get_account', '{}' \
         from generate_series(0, $1 - 1) g",
    )
    .bind(jobs as i32)
    .bind(&users)
    .execute(&s.pool)
    .await
    .unwrap();
    let output = common::completed(json!({"balance": 1.0, "equity": 1.0, "margin_used": 0.0,
        "margin_available": 1.0, "currency": "USD", "leverage": 100}));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for key in keys {
        let (s, output) = (s.clone(), output.clone());
        tasks.push(tokio::spawn(async move {
            let mut rtts = Vec::new();
            loop {
                let t = Instant::now();
                let Some(job) = s.next(&key, 0).await else {
                    break;
                };
                let r = s.result(&key, job.job_id, &output).await;
                assert!(r.status().is_success());
                rtts.push(t.elapsed());
            }
            rtts
        }));
    }
    let mut rtts = Vec::new();
    for t in tasks {
        rtts.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    assert_eq!(
        rtts.len(),
        jobs,
        "every job claimed and completed exactly once"
    );
    rtts.sort();
    Throughput {
        jobs,
        agents,
        elapsed,
        p50: percentile(&rtts, 0.5),
        p99: percentile(&rtts, 0.99),
    }
}

/// The database's ceiling measured by `make bench` in the same run (scripts/bench-ceiling:
/// single-row INSERT commits per second), if it was.
fn ceiling_tps() -> Option<f64> {
    std::env::var("BENCH_CEILING_TPS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|t| *t > 0.0)
}

/// A claim and its result are two commits per job, so a job rate cannot exceed half the
/// ceiling: the rate is reported against that half (issue #18's goal: ≥ 80 %).
fn ceiling_ratio(rate: f64) -> Option<(f64, f64)> {
    ceiling_tps().map(|c| (c / 2.0, rate / (c / 2.0)))
}

fn ceiling_row(rate: f64) -> String {
    match ceiling_ratio(rate) {
        Some((half, r)) => format!(
            "| claim + complete vs half the database ceiling ({half:.0} jobs/s, `bench:ceiling`, same run) | **{pct:.0} %** (goal ≥ 80 %) |\n",
            pct = r * 100.0
        ),
        None => String::new(),
    }
}

fn write_section(wake: &Wake, tp: &Throughput) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks.md");
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let section = format!(
        "<!-- bench:server -->\n## Server: job queue (`cargo bench -p companion-server --bench queue`)\n\n\
         Measured {date} on this machine ({cores} cores; load average {load} at the end of the run, \
         the bench's own processes included), release build, server in-process behind real HTTP on \
         loopback (reqwest client, axum server), PostgreSQL 15 on loopback. Wake latency: one agent \
         long-polls (`wait=30`), a job is inserted with plain SQL, the time runs from before the \
         INSERT to the poll's response (trigger → NOTIFY → the one LISTEN connection → in-memory \
         wake → `claim_next_job` → HTTP). Throughput: the queue is pre-filled, each agent loops \
         `jobs/next` + `result` (2 HTTP requests; 2 database round trips per `get_account` job since issue 18: the claim, one fenced result update — 5 before, plus a pool ping per statement).\n\n\
         | figure | value |\n|---|---|\n\
         | wake latency, plain-SQL insert → long-poll response, p50 ({wj} jobs) | {wp50} |\n\
         | wake latency p99 | {wp99} |\n\
         | wake latency max | {wmax} |\n\
         | claim + complete throughput, {agents} concurrent agents, {tj} jobs | {rate:.0} jobs/s ({el:.2} s) |\n\
         | claim + complete round trip per job (2 requests), p50 / p99 | {tp50} / {tp99} |\n\
         {ceiling}<!-- /bench:server -->\n",
        date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        wj = wake.jobs,
        wp50 = ms(wake.p50),
        wp99 = ms(wake.p99),
        wmax = ms(wake.max),
        agents = tp.agents,
        tj = tp.jobs,
        rate = tp.jobs as f64 / tp.elapsed.as_secs_f64(),
        el = tp.elapsed.as_secs_f64(),
        tp50 = ms(tp.p50),
        tp99 = ms(tp.p99),
        ceiling = ceiling_row(tp.jobs as f64 / tp.elapsed.as_secs_f64()),
    );
    let existing =
        std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n\n".to_string());
    let updated = match (
        existing.find("<!-- bench:server -->"),
        existing.find("<!-- /bench:server -->"),
    ) {
        (Some(a), Some(b)) if b > a => {
            let end = b + "<!-- /bench:server -->\n".len().min(existing.len() - b);
            format!("{}{}{}", &existing[..a], section, &existing[end..])
        }
        _ => format!("{}\n{}", existing.trim_end(), "\n") + &section,
    };
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, updated).unwrap();
    println!("wrote {}", path.display());
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let s = Arc::new(TestServer::start().await);
    let wake_jobs = env_usize("BENCH_WAKE_JOBS", 1000);
    let tp_jobs = env_usize("BENCH_THROUGHPUT_JOBS", 5000);
    let agents = env_usize("BENCH_AGENTS", 50);

    let wake = wake_latency(&s, wake_jobs).await;
    println!(
        "wake latency over {} jobs: p50 {} p99 {} max {}",
        wake.jobs,
        ms(wake.p50),
        ms(wake.p99),
        ms(wake.max)
    );
    let tp = throughput(&s, tp_jobs, agents).await;
    println!(
        "claim+complete: {} jobs by {} agents in {:.2} s = {:.0} jobs/s (round trip p50 {} p99 {})",
        tp.jobs,
        tp.agents,
        tp.elapsed.as_secs_f64(),
        tp.jobs as f64 / tp.elapsed.as_secs_f64(),
        ms(tp.p50),
        ms(tp.p99)
    );
    if let Some((half, r)) = ceiling_ratio(tp.jobs as f64 / tp.elapsed.as_secs_f64()) {
        println!(
            "claim+complete vs half the database ceiling ({half:.0} jobs/s): {:.0} %",
            r * 100.0
        );
    }
    write_section(&wake, &tp);
}
