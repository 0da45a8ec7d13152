//! `companion-fake-terminal64`: stands in for `terminal64.exe` in tests. With
//! `[/portable] /config:"file.ini"` it reads the ini's `[Tester]` section and
//! writes the report named by `Report=` (relative to the data folder, taken to be
//! the ini's grandparent: `<data>/Config/x.ini`) as a real-format UTF-16LE `.htm`.
//! With `--hold SECS` it just stays alive, like an open terminal.

use std::path::PathBuf;

const REPORT: &[u8] = include_bytes!("../../tests/fixtures/reports/report_en.htm");

fn decode(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    String::from_utf8_lossy(bytes).into_owned()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--hold") {
        let secs = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
        std::thread::sleep(std::time::Duration::from_secs(secs));
        return;
    }
    let Some(config) = args.iter().find_map(|a| a.strip_prefix("/config:")) else {
        std::process::exit(2);
    };
    let ini_path = PathBuf::from(config.trim_matches('"'));
    let Ok(bytes) = std::fs::read(&ini_path) else {
        std::process::exit(3)
    };
    let ini = decode(&bytes);
    let mut in_tester = false;
    let mut report = None;
    for line in ini.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_tester = line.eq_ignore_ascii_case("[Tester]");
        } else if in_tester {
            if let Some(v) = line.strip_prefix("Report=") {
                report = Some(v.to_string());
            }
        }
    }
    let Some(report) = report else {
        std::process::exit(4)
    };
    let data_dir = ini_path
        .parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let path = data_dir
        .join(report.replace('\\', "/"))
        .with_extension("htm");
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if std::fs::write(&path, REPORT).is_err() {
        std::process::exit(5);
    }
    // Like the real terminal with ShutdownTerminal=1: exit once the report is written.
}
