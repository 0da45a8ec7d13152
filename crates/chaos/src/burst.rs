//! The candle-close burst (issue #18, item 4): many strategies' alerts fire at the
//! same bar close. `provision` creates `agents` agents (one broker connection each,
//! spread over users of `agents_per_user`) and `strategies` strategies spread evenly
//! over those connections; `run` sends one alert per strategy over real HTTP, the
//! sends spread evenly over `spread`, each from its own task (many concurrent senders),
//! and reports when the last alert was accepted (TradingView gives up on a webhook
//! after 3 s) and each alert's send → accepted time: a 200 from the webhook means its
//! signal row and `trade` job are committed, i.e. the job is claimable. With several
//! servers (replicas on one database) the alerts go to them in turn.

use std::time::{Duration, Instant};

use companion_server::admin;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::stats;

/// What the burst needs: one webhook secret per strategy.
pub struct Fleet {
    pub users: usize,
    pub agents: usize,
    pub secrets: Vec<String>,
}

/// A webhook secret of the server's format (40 base62 characters).
fn secret() -> String {
    let a = Uuid::new_v4().simple().to_string();
    let b = Uuid::new_v4().simple().to_string();
    format!("{a}{}", &b[..8])
}

/// Creates the users, broker connections, agents (bcrypt `cost`) and strategies.
pub async fn provision(
    db: &PgPool,
    agents: usize,
    agents_per_user: usize,
    strategies: usize,
    cost: u32,
) -> anyhow::Result<Fleet> {
    let users = agents.div_ceil(agents_per_user.max(1));
    let user_ids: Vec<Uuid> = stream::iter(0..users)
        .map(|u| async move {
            anyhow::Ok(admin::create_user(db, &format!("burst{u}@companion.local"), None).await?)
        })
        .buffered(4)
        .try_collect()
        .await?;
    let user_ids = &user_ids;
    let conns: Vec<(Uuid, Uuid)> = stream::iter(0..agents)
        .map(|i| async move {
            let user = user_ids[i / agents_per_user.max(1)];
            let conn = admin::create_broker_connection(db, user, &format!("burst {i}")).await?;
            admin::create_agent(db, user, Some(conn), &format!("burst {i}"), cost).await?;
            anyhow::Ok((user, conn))
        })
        .buffered(4)
        .try_collect()
        .await?;
    let mut s_user = Vec::with_capacity(strategies);
    let mut s_conn = Vec::with_capacity(strategies);
    let mut secrets = Vec::with_capacity(strategies);
    for i in 0..strategies {
        let (user, conn) = conns[i % conns.len().max(1)];
        s_user.push(user);
        s_conn.push(conn);
        secrets.push(secret());
    }
    sqlx::query(
        "insert into tv_strategies (user_id, broker_connection_id, name, webhook_secret)
         select u, c, 'burst ' || n, s
         from unnest($1::uuid[], $2::uuid[], $3::text[]) with ordinality as t(u, c, s, n)",
    )
    .bind(&s_user)
    .bind(&s_conn)
    .bind(&secrets)
    .execute(db)
    .await?;
    Ok(Fleet {
        users,
        agents,
        secrets,
    })
}

/// Sends one alert per secret to `servers` (in turn), spread over `spread`; returns
/// the report.
pub async fn run(
    db: &PgPool,
    servers: &[String],
    fleet: &Fleet,
    spread: Duration,
) -> anyhow::Result<serde_json::Value> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .timeout(Duration::from_secs(30))
        .build()?;
    let n = fleet.secrets.len();
    // A moment to spawn every sender before the first send.
    let start = Instant::now() + Duration::from_millis(200);
    let tasks: Vec<_> = fleet
        .secrets
        .iter()
        .enumerate()
        .map(|(i, secret)| {
            let client = client.clone();
            let server = &servers[i % servers.len().max(1)];
            let url = format!("{server}/api/v1/webhooks/tv/{secret}");
            let at = start + spread.mul_f64(i as f64 / n.max(1) as f64);
            tokio::spawn(async move {
                tokio::time::sleep_until(at.into()).await;
                let sent = Instant::now();
                let body = json!({"id": format!("burst-{i}"), "action": "buy",
                                  "ticker": "OANDA:EURUSD", "price": "1.08512", "qty": "0.01"});
                let r = client.post(&url).json(&body).send().await;
                let done = Instant::now();
                let ok = match r {
                    Ok(r) if r.status().is_success() => r
                        .json::<serde_json::Value>()
                        .await
                        .map(|v| v["status"] == "pending")
                        .unwrap_or(false),
                    _ => false,
                };
                (sent, done, ok)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(n);
    let (mut first_sent, mut last_sent, mut last_done) = (None::<Instant>, start, start);
    let mut failed = 0usize;
    for t in tasks {
        let (sent, done, ok) = t.await?;
        first_sent = Some(first_sent.map_or(sent, |f| f.min(sent)));
        last_sent = last_sent.max(sent);
        last_done = last_done.max(done);
        if ok {
            latencies.push(done - sent);
        } else {
            failed += 1;
        }
    }
    let first_sent = first_sent.unwrap_or(start);
    let accept_last = last_done - first_sent;
    let summary = stats::summarize(&mut latencies);
    let (signals, jobs): (i64, i64) = sqlx::query_as(
        "select (select count(*) from tv_signals s join tv_strategies t on t.id = s.strategy_id
                 where t.name like 'burst %'),
                (select count(*) from jobs j join tv_signals s on s.job_id = j.id
                 join tv_strategies t on t.id = s.strategy_id
                 where t.name like 'burst %' and j.job_type = 'trade')",
    )
    .fetch_one(db)
    .await?;
    Ok(json!({
        "alerts": n,
        "servers": servers.len(),
        "users": fleet.users,
        "agents": fleet.agents,
        "spread_secs": spread.as_secs_f64(),
        "sends_spanned_secs": (last_sent - first_sent).as_secs_f64(),
        "accept_last_secs": accept_last.as_secs_f64(),
        "accept_rate_per_sec": n as f64 / accept_last.as_secs_f64().max(1e-9),
        "accepted": latencies.len(),
        "failed": failed,
        "latency": summary,
        "signals": signals,
        "trade_jobs": jobs,
        "load1": std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_string)),
    }))
}
