#!/usr/bin/env python3
"""Desktop app figures for `make bench` (driven by scripts/bench-app).

`measure`: launches the release `companion` binary RUNS times, already paired
(COMPANION_AGENT_KEY / COMPANION_SERVER from the environment, fresh data dirs each
time), under the display and D-Bus session it is started in, and records for each
start, from the moment the process is spawned:
  - "connected" = the server recorded the app's agent online: `mt5_agents.last_heartbeat`
    of the first heartbeat, written by the server with now() (the runtime heartbeats as
    soon as it has verified its key with GET /agents/me);
  - the app's own "Connected" = its event stream to GET /api/v1/events opened (what the
    header's Server dot shows), from the timestamp of the app's log line
    "event stream connected".
Then, with the last start left running (window on the Dashboard, terminal attached),
idle CPU (% of one core, from /proc utime+stime) and memory (RSS and PSS, summed over
`companion` and every descendant: WebKitWebProcess, WebKitNetworkProcess, ...).
Writes JSON to --out.

`section`: renders the `<!-- bench:app -->` section of docs/benchmarks.md from that
JSON (and the sizes) and replaces it in DOC.

usage: bench-app.py measure --app BIN --agent-id UUID --db URL --out FILE [--runs N] [--idle-secs S]
       bench-app.py section RESULT_JSON DOC
"""
import argparse
import datetime
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def psql(db, q):
    return subprocess.run(["psql", db, "-tAc", q], check=True, capture_output=True, text=True).stdout.strip()


def loadavg():
    return open("/proc/loadavg").read().split()[:3]


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pid):
    """pid and all its descendants."""
    kids, out, todo = children_map(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def proc_name(pid):
    """The executable's name (comm is cut at 15 characters: WebKitWebProces)."""
    try:
        argv0 = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].decode(errors="replace")
        if argv0:
            return os.path.basename(argv0)
        return open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        return "?"


def cpu_ticks(pid):
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    f = stat[stat.rindex(")") + 2:].split()
    return int(f[11]) + int(f[12])  # utime + stime


def mem(pid):
    """(rss, pss) bytes."""
    rss = pss = 0
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, pss


def log_time(path, needle):
    """Wall-clock time of the first log line containing `needle` (tracing's RFC 3339 UTC stamp)."""
    try:
        for line in open(path, errors="replace"):
            if needle in line:
                m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z", line.strip())
                if m:
                    stamp = m.group(1)
                    if "." in stamp:
                        head, frac = stamp.split(".")
                        stamp = f"{head}.{frac[:6]}"
                    dt = datetime.datetime.fromisoformat(stamp).replace(tzinfo=datetime.timezone.utc)
                    return dt.timestamp()
    except OSError:
        pass
    return None


def start_once(args, i, work):
    app_dir = os.path.join(work, f"run{i}", "app")
    agent_dir = os.path.join(work, f"run{i}", "agent")
    os.makedirs(app_dir)
    os.makedirs(agent_dir)
    psql(args.db, f"update mt5_agents set status = 'offline', is_connected = false, last_heartbeat = null "
                  f"where id = '{args.agent_id}'")
    env = dict(os.environ, COMPANION_APP_DATA_DIR=app_dir, COMPANION_AGENT_DATA_DIR=agent_dir,
               COMPANION_EXIT_ON_CLOSE="1", RUST_LOG="info")
    load = loadavg()
    t0 = time.time()
    proc = subprocess.Popen([args.app], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(work, f"run{i}", "stderr.log"), "w"),
                            start_new_session=True)
    hb = None
    deadline = t0 + args.timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited with {proc.returncode} before connecting (run {i}, see {work})")
        v = psql(args.db, f"select extract(epoch from last_heartbeat) from mt5_agents "
                          f"where id = '{args.agent_id}' and status = 'online' and last_heartbeat is not null")
        if v:
            hb = float(v)
            break
        # The server stamps the heartbeat itself, so polling slowly loses no precision
        # and leaves the CPU to the starting app.
        time.sleep(0.25)
    if hb is None:
        proc.kill()
        raise SystemExit(f"the app did not connect within {args.timeout} s (run {i}, see {work})")
    log = os.path.join(agent_dir, "companion.log")
    stream = None
    for _ in range(100):
        stream = log_time(log, "event stream connected")
        if stream:
            break
        time.sleep(0.05)
    return proc, {
        "run": i,
        "online_ms": (hb - t0) * 1000,
        "app_connected_ms": (stream - t0) * 1000 if stream else None,
        "load": load,
    }


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def idle(proc, args):
    time.sleep(args.settle_secs)
    pids = tree(proc.pid)
    names = {p: proc_name(p) for p in pids}
    t_start = {p: cpu_ticks(p) for p in pids}
    load0 = loadavg()
    w0 = time.monotonic()
    samples = []
    end = w0 + args.idle_secs
    while time.monotonic() < end:
        cur = tree(proc.pid)
        for p in cur:
            if p not in names:
                names[p] = proc_name(p)
                t_start[p] = cpu_ticks(p) or 0  # appeared during the window: counted from now
        samples.append(sum(mem(p)[0] for p in cur))
        time.sleep(1)
    wall = time.monotonic() - w0
    per = {}
    total_ticks = 0
    for p, t in t_start.items():
        t1 = cpu_ticks(p)
        if t is None or t1 is None:
            continue
        d = t1 - t
        total_ticks += d
        rss, pss = mem(p)
        e = per.setdefault(names[p], {"count": 0, "cpu_percent": 0.0, "rss_bytes": 0, "pss_bytes": 0})
        e["count"] += 1
        e["cpu_percent"] += d / CLK_TCK / wall * 100
        e["rss_bytes"] += rss
        e["pss_bytes"] += pss
    return {
        "secs": wall,
        "settle_secs": args.settle_secs,
        "cpu_percent": total_ticks / CLK_TCK / wall * 100,
        "rss_mean_bytes": statistics.mean(samples) if samples else 0,
        "rss_max_bytes": max(samples) if samples else 0,
        "pss_end_bytes": sum(e["pss_bytes"] for e in per.values()),
        "processes": per,
        "load_start": load0,
        "load_end": loadavg(),
    }


def measure(args):
    work = tempfile.mkdtemp(prefix="companion-bench-app-")
    runs = []
    proc = None
    try:
        for i in range(1, args.runs + 1):
            proc, r = start_once(args, i, work)
            runs.append(r)
            print(f"bench-app: start {i}: online after {r['online_ms']:.0f} ms, app connected after "
                  f"{r['app_connected_ms'] or float('nan'):.0f} ms (load {' '.join(r['load'])})", file=sys.stderr)
            if i < args.runs:
                stop(proc)
                proc = None
                time.sleep(1)
        print(f"bench-app: idle for {args.idle_secs} s after {args.settle_secs} s to settle", file=sys.stderr)
        idle_fig = idle(proc, args)
        term = psql(args.db, f"select coalesce(terminal_info->>'connected', 'false') from mt5_agents where id = '{args.agent_id}'")
        idle_fig["terminal_connected"] = term == "true"
    finally:
        if proc is not None:
            stop(proc)
    online = [r["online_ms"] for r in runs]
    app_conn = [r["app_connected_ms"] for r in runs if r["app_connected_ms"] is not None]
    out = {
        "runs": runs,
        "online_median_ms": statistics.median(online),
        "online_max_ms": max(online),
        "app_connected_median_ms": statistics.median(app_conn) if app_conn else None,
        "app_connected_max_ms": max(app_conn) if app_conn else None,
        "idle": idle_fig,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)


def mib(b):
    return f"{b / 1024 / 1024:.1f} MiB"


def section(result_path, doc_path):
    r = json.load(open(result_path))
    m, s, i = r["measure"], r["sizes"], r["measure"]["idle"]
    loads = [float(x["load"][0]) for x in m["runs"]]
    procs = sorted(i["processes"].items(), key=lambda kv: -kv[1]["rss_bytes"])
    proc_rows = "\n".join(
        f"| `{name}`{' ×' + str(e['count']) if e['count'] > 1 else ''} | {e['cpu_percent']:.2f} % | {mib(e['rss_bytes'])} | {mib(e['pss_bytes'])} |"
        for name, e in procs)
    runs = ", ".join(f"{x['online_ms']:.0f}" for x in m["runs"])
    app_runs = ", ".join("—" if x["app_connected_ms"] is None else f"{x['app_connected_ms']:.0f}" for x in m["runs"])
    ac = ("—" if m["app_connected_median_ms"] is None
          else f"{m['app_connected_median_ms']:.0f} ms / {m['app_connected_max_ms']:.0f} ms")
    text = f"""## Desktop app (`scripts/bench-app`)

Measured {m['date']} on this machine (2 cores, shared: 1-minute load average {min(loads):.2f}–{max(loads):.2f}
during the starts; {i['load_start'][0]} at the start and {i['load_end'][0]} at the end of the idle window), **release build** of `companion`
(`tauri build --bundles deb`), under Xvfb with its own D-Bus session, against
`companion-server` ({r.get('server_build', 'release build')}), PostgreSQL on loopback and the paper terminal attached to the app's bridge.
The app is started already paired (`COMPANION_AGENT_KEY`, fresh data directories each time); the
time runs from spawning the process. Issue #6 sets no targets for these: reported only.

| figure | value |
|---|---|
| start → **connected** (the server recorded the agent online: `mt5_agents.last_heartbeat` of its first heartbeat), median / max of {len(m['runs'])} | **{m['online_median_ms']:.0f} ms** / {m['online_max_ms']:.0f} ms |
| start → the app shows "Connected" (its event stream to `/api/v1/events` open; app log timestamp), median / max | {ac} |
| each start, connected (ms) | {runs} |
| each start, app "Connected" (ms) | {app_runs} |
| idle CPU, all app processes ({i['secs']:.0f} s, after {i['settle_secs']:.0f} s to settle; resolution {100 / i['secs'] / 100:.2f} %: one 10 ms clock tick) | **{i['cpu_percent']:.2f} %** of one core |
| idle RSS, summed over the app's processes, mean / max | **{mib(i['rss_mean_bytes'])}** / {mib(i['rss_max_bytes'])} |
| idle PSS, summed (shared pages counted once) | {mib(i['pss_end_bytes'])} |
| release binary `target/release/companion` (not stripped: the release profile keeps symbols) | **{mib(s['binary_bytes'])}** ({mib(s['binary_stripped_bytes'])} stripped) |
| `.deb` bundle (`{s['deb_name']}`) | **{mib(s['deb_bytes'])}** |

Idle = paired, terminal connected ({'yes' if i.get('terminal_connected') else 'no'} at the end), window shown on the
Dashboard, no jobs: the runtime long-polls, heartbeats every 10 s and watches the terminal every 1 s.
Processes counted: `companion` and its descendants (the WebKit processes below); the accessibility
bus WebKit asks D-Bus to start is not a descendant and not counted.
The starts run with a warm page cache (the binary was just built and run); the first start after a
reboot is slower.

| process (idle) | CPU (% of one core) | RSS | PSS |
|---|---|---|---|
{proc_rows}
"""
    doc = open(doc_path).read() if os.path.exists(doc_path) else ""
    block = f"<!-- bench:app -->\n{text.rstrip()}\n<!-- /bench:app -->\n"
    pat = re.compile(r"<!-- bench:app -->\n.*?<!-- /bench:app -->\n?", re.S)
    if pat.search(doc):
        doc = pat.sub(lambda _: block, doc)
    else:
        doc = doc.rstrip("\n") + "\n\n" + block
    open(doc_path, "w").write(doc)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--app", required=True)
    m.add_argument("--agent-id", required=True)
    m.add_argument("--db", required=True)
    m.add_argument("--runs", type=int, default=5)
    m.add_argument("--idle-secs", type=float, default=20)
    m.add_argument("--settle-secs", type=float, default=10)
    m.add_argument("--timeout", type=float, default=120)
    m.add_argument("--out", required=True, help="where the JSON goes")
    s = sub.add_parser("section")
    s.add_argument("result")
    s.add_argument("doc")
    a = ap.parse_args()
    if a.cmd == "measure":
        measure(a)
    else:
        section(a.result, a.doc)


if __name__ == "__main__":
    main()
