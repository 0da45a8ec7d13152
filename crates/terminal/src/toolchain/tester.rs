//! Strategy tester runs: a generated ini for `terminal64.exe [/portable]
//! /config:"ini"`, refusing while that terminal is open (the tester cannot start
//! then), and reading the report it writes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::NaiveDate;
use companion_protocol::{TestReport, Timeframe};
use serde_json::Value;

use super::launch::Launcher;
use super::report::parse_report;
use super::ToolchainError;
use crate::bridge::timeframe_str;

/// One tester run.
#[derive(Debug, Clone, PartialEq)]
pub struct TesterRun {
    /// Expert path relative to `MQL5/Experts`, e.g. `Companion\TrendRider.ex5`.
    pub expert: String,
    pub symbol: String,
    pub period: Timeframe,
    /// 0 every tick, 1 1-minute OHLC, 2 open prices, 3 math, 4 real ticks.
    pub model: u8,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub deposit: f64,
    pub currency: Option<String>,
    pub leverage: i64,
    pub inputs: serde_json::Map<String, Value>,
    /// Report path relative to the data folder, without extension.
    pub report: String,
    /// Account to log in with (`[Common]`), when not the terminal's current one.
    pub login: Option<String>,
    pub server: Option<String>,
}

fn ini_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.replace(['\r', '\n'], " "),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The `.set` file (inputs) for the tester: one `name=value` per line.
pub fn tester_set_file(inputs: &serde_json::Map<String, Value>) -> String {
    let mut out = String::new();
    for (k, v) in inputs {
        let key: String = k
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !key.is_empty() {
            let _ = writeln!(out, "{key}={}", ini_value(v));
        }
    }
    out
}

/// The terminal configuration that runs one test and shuts the terminal down.
/// `set_file` names the inputs file in `MQL5\Profiles\Tester`, when there are inputs.
pub fn tester_ini(run: &TesterRun, set_file: Option<&str>) -> String {
    let mut s = String::new();
    s.push_str("[Common]\r\n");
    if let Some(login) = &run.login {
        let _ = write!(s, "Login={login}\r\n");
    }
    if let Some(server) = &run.server {
        let _ = write!(s, "Server={server}\r\n");
    }
    s.push_str("NewsEnable=0\r\n");
    s.push_str("\r\n[Experts]\r\nAllowLiveTrading=0\r\nAllowDllImport=0\r\nEnabled=1\r\nAccount=0\r\nProfile=0\r\n");
    s.push_str("\r\n[Tester]\r\n");
    let _ = write!(s, "Expert={}\r\n", run.expert.replace('/', "\\"));
    if let Some(set) = set_file {
        let _ = write!(s, "ExpertParameters={set}\r\n");
    }
    let _ = write!(s, "Symbol={}\r\n", run.symbol);
    let _ = write!(s, "Period={}\r\n", timeframe_str(run.period));
    let _ = write!(s, "Model={}\r\n", run.model.min(4));
    s.push_str("ExecutionMode=0\r\nOptimization=0\r\n");
    let _ = write!(s, "FromDate={}\r\n", run.from.format("%Y.%m.%d"));
    let _ = write!(s, "ToDate={}\r\n", run.to.format("%Y.%m.%d"));
    s.push_str("ForwardMode=0\r\n");
    let _ = write!(s, "Deposit={}\r\n", run.deposit);
    if let Some(c) = &run.currency {
        let _ = write!(s, "Currency={c}\r\n");
    }
    let _ = write!(s, "Leverage={}\r\n", run.leverage);
    let _ = write!(s, "Report={}\r\n", run.report.replace('/', "\\"));
    s.push_str("ReplaceReport=1\r\nShutdownTerminal=1\r\nVisual=0\r\n");
    s
}

/// True when a process runs `exe` (natively or under Wine).
pub fn is_running(exe: &Path) -> bool {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};
    let mut sys = System::new();
    sys.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing()
            .with_exe(UpdateKind::Always)
            .with_cmd(UpdateKind::Always),
    );
    let want = std::fs::canonicalize(exe).unwrap_or_else(|_| exe.to_path_buf());
    let want_str = want.display().to_string().to_lowercase();
    let want_win = super::launch::wine_path(&want).to_lowercase();
    let me = sysinfo::get_current_pid().ok();
    sys.processes().values().any(|p| {
        if Some(p.pid()) == me {
            return false;
        }
        if p.exe().is_some_and(|e| e == want) {
            return true;
        }
        // Under Wine the exe is wine64-preloader; the Windows path is in the args.
        p.cmd().iter().take(2).any(|a| {
            let a = a.to_string_lossy().to_lowercase();
            a == want_str || a == want_win
        })
    })
}

/// A terminal that can run tests.
#[derive(Debug, Clone)]
pub struct Tester {
    pub launcher: Launcher,
    /// The terminal's data folder (reports and `.set` files live here).
    pub data_dir: PathBuf,
    /// Pass `/portable` (data folder beside the executable).
    pub portable: bool,
    pub timeout: Duration,
}

impl Tester {
    pub fn new(launcher: Launcher, data_dir: impl Into<PathBuf>, portable: bool) -> Self {
        Tester {
            launcher,
            data_dir: data_dir.into(),
            portable,
            timeout: Duration::from_secs(3600),
        }
    }

    /// Runs the test and returns the parsed report.
    pub async fn run(&self, run: &TesterRun) -> Result<TestReport, ToolchainError> {
        if is_running(&self.launcher.exe) {
            return Err(ToolchainError::TerminalRunning {
                exe: self.launcher.exe.clone(),
            });
        }
        let set_name =
            (!run.inputs.is_empty()).then(|| format!("companion_{}.set", safe(&run.report)));
        if let Some(name) = &set_name {
            let dir = self.data_dir.join("MQL5").join("Profiles").join("Tester");
            std::fs::create_dir_all(&dir).map_err(|e| ToolchainError::io(&dir, e))?;
            let p = dir.join(name);
            std::fs::write(&p, tester_set_file(&run.inputs))
                .map_err(|e| ToolchainError::io(&p, e))?;
        }
        let ini = tester_ini(run, set_name.as_deref());
        let ini_dir = self.data_dir.join("Config");
        std::fs::create_dir_all(&ini_dir).map_err(|e| ToolchainError::io(&ini_dir, e))?;
        let ini_path = ini_dir.join(format!("companion_{}.ini", safe(&run.report)));
        // MT5 reads ini files in UTF-16LE or ANSI; UTF-16LE keeps any symbol name intact.
        std::fs::write(&ini_path, super::text::encode_utf16le_bom(&ini))
            .map_err(|e| ToolchainError::io(&ini_path, e))?;

        let report_base = self.data_dir.join(run.report.replace('\\', "/"));
        if let Some(parent) = report_base.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ToolchainError::io(parent, e))?;
        }
        let started = SystemTime::now() - Duration::from_secs(2);
        let mut args = Vec::new();
        if self.portable {
            args.push("/portable".to_string());
        }
        args.push(format!("/config:{}", self.launcher.program_path(&ini_path)));
        let mut child = self
            .launcher
            .command(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| ToolchainError::Launch {
                exe: self.launcher.exe.clone(),
                reason: e.to_string(),
            })?;
        if tokio::time::timeout(self.timeout, child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
            return Err(ToolchainError::TimedOut {
                what: "the strategy tester",
                secs: self.timeout.as_secs(),
            });
        }
        for ext in ["htm", "html", "xml"] {
            let p = report_base.with_extension(ext);
            let fresh = std::fs::metadata(&p)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= started);
            if fresh {
                let bytes = std::fs::read(&p).map_err(|e| ToolchainError::io(&p, e))?;
                return parse_report(&bytes).map_err(|e| ToolchainError::Report {
                    path: p,
                    message: e.to_string(),
                });
            }
        }
        Err(ToolchainError::NoReport { base: report_base })
    }
}

fn safe(s: &str) -> String {
    s.rsplit(['\\', '/'])
        .next()
        .unwrap_or(s)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_has_every_tester_key() {
        let mut inputs = serde_json::Map::new();
        inputs.insert("Lots".into(), serde_json::json!(0.2));
        let run = TesterRun {
            expert: "Companion/TrendRider.ex5".into(),
            symbol: "EURUSD".into(),
            period: Timeframe::H1,
            model: 1,
            from: NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
            to: NaiveDate::from_ymd_opt(2024, 6, 30).unwrap(),
            deposit: 10000.0,
            currency: None,
            leverage: 100,
            inputs,
            report: "Reports\\companion_abc".into(),
            login: Some("51234567".into()),
            server: None,
        };
        let ini = tester_ini(&run, Some("companion_abc.set"));
        for line in [
            "[Common]",
            "Login=51234567",
            "[Experts]",
            "[Tester]",
            "Expert=Companion\\TrendRider.ex5",
            "ExpertParameters=companion_abc.set",
            "Symbol=EURUSD",
            "Period=H1",
            "Model=1",
            "FromDate=2024.01.02",
            "ToDate=2024.06.30",
            "Deposit=10000",
            "Leverage=100",
            "Report=Reports\\companion_abc",
            "ReplaceReport=1",
            "ShutdownTerminal=1",
        ] {
            assert!(ini.lines().any(|l| l == line), "missing {line}:\n{ini}");
        }
        assert_eq!(tester_set_file(&run.inputs), "Lots=0.2\n");
    }
}
