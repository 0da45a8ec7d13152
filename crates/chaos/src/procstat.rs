//! Resident memory and CPU time of a process, read from `/proc` (Linux).

use std::time::Duration;

/// Resident set size of `pid` in bytes (`VmRSS`).
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for pid {pid}"))?;
    Ok(kb * 1024)
}

/// User + system CPU time consumed so far by `pid` (all threads).
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces) start after ") ".
    let rest = stat
        .rsplit_once(") ")
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime are fields 14 and 15 of stat; index 11 and 12 after the name.
    let ticks: u64 = fields
        .get(11)
        .zip(fields.get(12))
        .and_then(|(u, s)| Some(u.parse::<u64>().ok()? + s.parse::<u64>().ok()?))
        .ok_or_else(|| anyhow::anyhow!("unreadable cpu times for pid {pid}"))?;
    Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
}

fn clock_ticks() -> u64 {
    // sysconf(_SC_CLK_TCK) is 100 on every Linux we run on.
    100
}

/// CPU share of `pid` over `window`, in percent of one core.
pub async fn cpu_percent(pid: u32, window: Duration) -> anyhow::Result<f64> {
    let before = cpu_time(pid)?;
    tokio::time::sleep(window).await;
    let after = cpu_time(pid)?;
    Ok((after - before).as_secs_f64() / window.as_secs_f64() * 100.0)
}
