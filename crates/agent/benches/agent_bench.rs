//! Agent benchmark (issue #5 "Measure"), real processes throughout:
//! - signal → order latency: webhook accepted (`tv_signals.received_at`) → order
//!   received by the paper terminal (its orders log), p50/p95/p99, with the
//!   long-poll and with a 30 s short poll as the baseline;
//! - the agent's idle footprint while paired and long-polling: CPU % and RSS.
//!
//! Prints the figures and rewrites the `<!-- bench:agent -->` section of
//! docs/benchmarks.md. Quick by default; sizes via environment:
//! `BENCH_SIGNALS` (default 200; use ≥1000 for the published figures),
//! `BENCH_BASELINE_SIGNALS` (default 6; each takes ~15 s on average),
//! `BENCH_BASELINE_POLL_SECS` (default 30), `BENCH_IDLE_SECS` (default 20).
//! Run: `cargo bench -p companion-agent --bench agent_bench`.

#![allow(
    clippy::unwrap_used,
    reason = "benchmark harness: a failed setup step should abort the run"
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{eventually, read_orders, Stack};
use serde_json::json;
use uuid::Uuid;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Latencies {
    ms: Vec<f64>,
    via: &'static str,
}

impl Latencies {
    fn pct(&self, p: f64) -> f64 {
        let mut v = self.ms.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        if v.is_empty() {
            return f64::NAN;
        }
        let idx = ((p / 100.0) * (v.len() as f64 - 1.0)).round() as usize;
        v[idx.min(v.len() - 1)]
    }
    fn mean(&self) -> f64 {
        self.ms.iter().sum::<f64>() / self.ms.len().max(1) as f64
    }
}

/// Sends `n` signals one after another and measures each to its order.
async fn measure(s: &Stack, secret: &str, strategy: Uuid, n: u64, spacing: Duration) -> Latencies {
    let url = format!("{}/api/v1/webhooks/tv/{secret}", s.server_url());
    let mut ms = Vec::with_capacity(n as usize);
    let mut via = "webhook";
    for i in 0..n {
        let before = read_orders(&s.orders_log).len();
        let id = Uuid::new_v4();
        let body = json!({"action": if i % 2 == 0 { "buy" } else { "sell" }, "symbol": "EURUSD", "volume": 0.01, "id": id.to_string()});
        let resp = s.http.post(&url).json(&body).send().await;
        let accepted: DateTime<Utc> = match resp {
            Ok(r) if r.status().is_success() => {
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                let signal: Uuid = v["signal_id"]
                    .as_str()
                    .and_then(|x| x.parse().ok())
                    .expect("webhook answers signal_id");
                assert_eq!(v["status"], "pending", "signal not queued: {v}");
                sqlx::query_scalar("SELECT received_at FROM tv_signals WHERE id = $1")
                    .bind(signal)
                    .fetch_one(&s.db.pool)
                    .await
                    .unwrap()
            }
            Ok(r) if r.status() != reqwest::StatusCode::NOT_FOUND => {
                panic!("webhook refused signal {i}: {}", r.status())
            }
            _ => {
                // No webhook endpoint on this server: queue signal + job as it would.
                via = "sql (webhook endpoint unavailable)";
                let _ = strategy;
                let (_, signal) = s
                    .insert_signal_trade("EURUSD", if i % 2 == 0 { "buy" } else { "sell" }, 0.01)
                    .await;
                sqlx::query_scalar("SELECT received_at FROM tv_signals WHERE id = $1")
                    .bind(signal)
                    .fetch_one(&s.db.pool)
                    .await
                    .unwrap()
            }
        };
        let line = eventually(
            Duration::from_secs(120),
            "order in the paper terminal",
            || async { read_orders(&s.orders_log).get(before).cloned() },
        )
        .await;
        let order_us = line["time_us"].as_i64().unwrap();
        ms.push((order_us - accepted.timestamp_micros()) as f64 / 1000.0);
        if !spacing.is_zero() {
            tokio::time::sleep(spacing).await;
        }
    }
    Latencies { ms, via }
}

async fn stack(test: &str, extra_agent_args: &[&str]) -> (Stack, Uuid, String) {
    let mut s = Stack::new(test).await;
    let mut cmd = s.agent_command();
    cmd.args([
        "run",
        "--bridge-port",
        &s.bridge_port.to_string(),
        "--bridge-token",
        &s.bridge_token,
    ])
    .args(extra_agent_args);
    cmd.env("RUST_LOG", "warn");
    s.agent = Some(common::spawn_named(&s.test, "agent", cmd));
    s.start_paper(&[]);
    s.wait_terminal_ready().await;
    let (strategy, secret) = s.insert_strategy().await;
    (s, strategy, secret)
}

/// CPU % (of one core) and RSS of a process over `secs` seconds of idleness.
fn idle_footprint(pid: u32, secs: u64) -> (f64, f64) {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
    let pid = Pid::from_u32(pid);
    let mut sys = System::new();
    let refresh = |sys: &mut System| {
        sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            true,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
    };
    refresh(&mut sys);
    let start = Instant::now();
    let cpu0 = proc_cpu_ticks(pid.as_u32());
    std::thread::sleep(Duration::from_secs(secs));
    refresh(&mut sys);
    let cpu1 = proc_cpu_ticks(pid.as_u32());
    let elapsed = start.elapsed().as_secs_f64();
    let rss_mb = sys
        .process(pid)
        .map(|p| p.memory() as f64 / 1_048_576.0)
        .unwrap_or(f64::NAN);
    let cpu_pct = match (cpu0, cpu1) {
        (Some(a), Some(b)) => (b - a) as f64 / clk_tck() / elapsed * 100.0,
        _ => sys
            .process(pid)
            .map(|p| p.cpu_usage() as f64)
            .unwrap_or(f64::NAN),
    };
    (cpu_pct, rss_mb)
}

/// utime+stime of a process in clock ticks (Linux), for an exact average over the window.
fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn clk_tck() -> f64 {
    100.0
}

fn write_section(text: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks.md");
    let (start, end) = ("<!-- bench:agent -->", "<!-- /bench:agent -->");
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n\n".into());
    let section = format!("{start}\n{text}\n{end}");
    let new = match (old.find(start), old.find(end)) {
        (Some(a), Some(b)) if b > a => format!("{}{}{}", &old[..a], section, &old[b + end.len()..]),
        _ => format!("{}\n{section}\n", old.trim_end()),
    };
    std::fs::write(&path, new).unwrap();
    println!("wrote {}", path.display());
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` only say how to run it.
    if !std::env::args().any(|a| a == "--bench") {
        println!("agent_bench: run with `cargo bench -p companion-agent --bench agent_bench`");
        return;
    }
    // The bench sends signals faster than a TradingView strategy would: lift the
    // per-strategy webhook rate limit of the server it starts.
    std::env::set_var("WEBHOOK_RATE_PER_MIN", "1000000");
    std::env::set_var("WEBHOOK_RATE_BURST", "100000");
    let n = env_num("BENCH_SIGNALS", 200);
    let nb = env_num("BENCH_BASELINE_SIGNALS", 6);
    let poll = env_num("BENCH_BASELINE_POLL_SECS", 30);
    let idle = env_num("BENCH_IDLE_SECS", 20);

    let (s, strategy, secret) = stack("bench_longpoll", &[]).await;
    // Idle footprint first: paired, terminal connected, long-polling, no jobs.
    let pid = s.agent.as_ref().unwrap().child.id();
    let (cpu, rss) = tokio::task::spawn_blocking(move || idle_footprint(pid, idle))
        .await
        .unwrap();
    println!("agent idle: cpu {cpu:.2}% of one core, rss {rss:.1} MiB over {idle} s");
    let t0 = Instant::now();
    let lp = measure(&s, &secret, strategy, n, Duration::ZERO).await;
    let lp_secs = t0.elapsed().as_secs_f64();
    println!(
        "long-poll ({} signals via {}): p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, mean {:.1} ms ({lp_secs:.1} s)",
        lp.ms.len(), lp.via, lp.pct(50.0), lp.pct(95.0), lp.pct(99.0), lp.mean()
    );
    drop(s);

    let (s, strategy, secret) =
        stack("bench_shortpoll", &["--short-poll-secs", &poll.to_string()]).await;
    // Spread the baseline signals over the poll cycle (a signal can land anywhere in it).
    let bl = measure(
        &s,
        &secret,
        strategy,
        nb,
        Duration::from_millis(poll * 1000 / 3 + 700),
    )
    .await;
    println!(
        "{poll} s poll ({} signals via {}): p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, mean {:.0} ms",
        bl.ms.len(), bl.via, bl.pct(50.0), bl.pct(95.0), bl.pct(99.0), bl.mean()
    );
    let ratio = bl.pct(50.0) / lp.pct(50.0);
    println!("baseline / long-poll p50 ratio: {ratio:.0}x");
    drop(s);

    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let text = format!(
        "## Agent (`cargo bench -p companion-agent --bench agent_bench`)\n\n\
         Measured {date} on this machine ({cores} cores; the load average is in the header above), {profile} build, real processes: PostgreSQL, `companion-server`, \
         `companion-agent`, `companion-paper-terminal`. Latency = `tv_signals.received_at` (webhook accepted) → \
         the order's arrival in the paper terminal (its orders log), signals sent one at a time.\n\n\
         | mode | signals | p50 | p95 | p99 | mean |\n| --- | ---: | ---: | ---: | ---: | ---: |\n\
         | long-poll (`wait=25`, NOTIFY wake-up), via {via1} | {n1} | {a:.1} ms | {b:.1} ms | {c:.1} ms | {d:.1} ms |\n\
         | baseline: {poll} s poll, via {via2} | {n2} | {e:.0} ms | {f:.0} ms | {g:.0} ms | {h:.0} ms |\n\n\
         Baseline / long-poll p50: **{ratio:.0}×**. (A {poll} s poll waits {half} s on average by construction; \
         the baseline uses few signals because each costs seconds.)\n\n\
         Agent idle while paired, terminal connected and long-polling (heartbeat every 10 s, terminal watch every 1 s), \
         averaged over {idle} s: **CPU {cpu:.2} %** of one core, **RSS {rss:.1} MiB**.\n\n\
         Sizes: `BENCH_SIGNALS` (default 200, published runs ≥ 1000), `BENCH_BASELINE_SIGNALS` (6), \
         `BENCH_BASELINE_POLL_SECS` (30), `BENCH_IDLE_SECS` (20).",
        date = Utc::now().format("%Y-%m-%d %H:%M UTC"),
        profile = common::bin_dir().file_name().and_then(|n| n.to_str()).unwrap_or("?"),
        via1 = lp.via,
        n1 = lp.ms.len(),
        a = lp.pct(50.0),
        b = lp.pct(95.0),
        c = lp.pct(99.0),
        d = lp.mean(),
        via2 = bl.via,
        n2 = bl.ms.len(),
        e = bl.pct(50.0),
        f = bl.pct(95.0),
        g = bl.pct(99.0),
        h = bl.mean(),
        half = poll as f64 / 2.0,
    );
    write_section(&text);
}
