//! The toolchain against fixtures in MT5's real formats and the fake MetaEditor /
//! terminal64 executables built from this crate.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use companion_protocol::Timeframe;
use companion_terminal::toolchain::{
    decode_text, parse_compile_log, parse_report, Launcher, MetaEditor, Tester, TesterRun,
    ToolchainError,
};

fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn compile_logs_in_utf16_and_utf8() {
    let ok = parse_compile_log(&decode_text(&fixture("logs/compile_ok.log")));
    assert_eq!(ok.result, Some((0, 1)));
    assert!(ok.errors.is_empty());
    assert_eq!(ok.warnings.len(), 1);
    assert_eq!(ok.warnings[0].file, "TrendRider.mq5");
    assert_eq!(
        (
            ok.warnings[0].line,
            ok.warnings[0].column,
            ok.warnings[0].code
        ),
        (88, 22, 43)
    );

    for f in ["logs/compile_errors.log", "logs/compile_errors_utf8.log"] {
        let log = parse_compile_log(&decode_text(&fixture(f)));
        assert_eq!(log.result, Some((2, 1)), "{f}");
        assert_eq!(log.errors.len(), 2);
        assert_eq!(log.errors[0].file, "Broken EA.mq5");
        assert_eq!(log.errors[0].line, 12);
        assert_eq!(log.errors[0].code, 109);
        assert_eq!(
            log.errors[0].message,
            "'OnTick' - function already defined and has body"
        );
        assert_eq!(log.errors[1].code, 256);
        assert_eq!(log.warnings[0].code, 31);
    }
}

fn assert_core_figures(r: &companion_protocol::TestReport) {
    assert!(close(r.initial_deposit, 10_000.0), "{r:?}");
    assert!(close(r.net_profit, 1234.56), "{r:?}");
    assert!(close(r.gross_profit, 5000.0));
    assert!(close(r.gross_loss, -3765.44));
    assert!(close(r.profit_factor, 1.33));
    assert!(
        close(r.max_drawdown, 600.10),
        "equity drawdown maximal: {r:?}"
    );
    assert!(close(r.max_drawdown_pct, 5.60));
    assert_eq!(r.total_trades, 120);
    assert!(close(r.win_rate_pct, 58.33));
    assert_eq!(r.equity_curve.len(), 3, "{:?}", r.equity_curve);
    assert!(close(r.equity_curve[0], 10_020.0));
    assert!(close(r.equity_curve[1], 10_004.5));
    assert!(close(r.equity_curve[2], 11_234.56));
}

#[test]
fn html_reports_in_english_german_and_russian() {
    for f in [
        "reports/report_en.htm",
        "reports/report_de.htm",
        "reports/report_ru.htm",
    ] {
        let r = parse_report(&fixture(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_core_figures(&r);
    }
}

#[test]
fn xml_report() {
    let r = parse_report(&fixture("reports/report_en.xml")).unwrap();
    assert!(close(r.initial_deposit, 25_000.0));
    assert!(close(r.net_profit, -812.4));
    assert!(close(r.gross_profit, 2100.5));
    assert!(close(r.gross_loss, -2912.9));
    assert!(close(r.profit_factor, 0.72));
    assert!(close(r.max_drawdown, 1612.75));
    assert!(close(r.max_drawdown_pct, 6.35));
    assert_eq!(r.total_trades, 40);
    assert!(close(r.win_rate_pct, 37.5));
}

#[test]
fn a_file_that_is_not_a_report_is_refused() {
    assert!(parse_report(b"<html><body>hello</body></html>").is_err());
    assert!(parse_report(&fixture("logs/compile_ok.log")).is_err());
}

fn fake(name: &str) -> PathBuf {
    PathBuf::from(match name {
        "metaeditor" => env!("CARGO_BIN_EXE_companion-fake-metaeditor"),
        _ => env!("CARGO_BIN_EXE_companion-fake-terminal64"),
    })
}

const GOOD: &str = "#property copyright \"x\"\nint OnInit() { return(INIT_SUCCEEDED); }\nvoid OnTick() { int x = 1.5; // WARNING_HERE\n}\n";
const BAD: &str =
    "int OnInit() { return(INIT_SUCCEEDED); }\nvoid OnTick() {\n   SYNTAX_ERROR_HERE\n}\n";

fn editor(work_root: &Path) -> MetaEditor {
    let mut me = MetaEditor::new(Launcher::native(fake("metaeditor")));
    me.work_root = companion_terminal::toolchain::metaeditor::space_free_dir(work_root);
    me
}

#[tokio::test]
async fn fake_metaeditor_compiles_a_good_source() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let c = editor(dir.path())
        .compile_source("TrendRider", GOOD, None, Some(&out))
        .await
        .unwrap();
    assert!(c.output.compiled, "{}", c.log);
    assert!(c.output.errors.is_empty());
    assert_eq!(c.output.warnings.len(), 1);
    assert_eq!(c.output.warnings[0].line, 3);
    let ex5 = c.ex5.unwrap();
    assert_eq!(ex5, out.join("TrendRider.ex5"));
    let bytes = std::fs::read(&ex5).unwrap();
    use sha2::Digest;
    assert_eq!(
        c.output.ex5_checksum.unwrap(),
        hex::encode(sha2::Sha256::digest(&bytes))
    );
}

#[tokio::test]
async fn fake_metaeditor_reports_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let c = editor(dir.path())
        .compile_source("Broken", BAD, None, Some(&out))
        .await
        .unwrap();
    assert!(!c.output.compiled);
    assert_eq!(c.output.errors.len(), 1);
    assert_eq!(
        (
            c.output.errors[0].line,
            c.output.errors[0].column,
            c.output.errors[0].code
        ),
        (3, 4, 149)
    );
    assert!(c.output.ex5_checksum.is_none());
    assert!(c.ex5.is_none());
    assert!(!out.join("Broken.ex5").exists());
}

#[tokio::test]
async fn a_source_in_a_path_with_spaces_still_compiles() {
    let dir = tempfile::tempdir().unwrap();
    let spaced = dir.path().join("My Experts");
    std::fs::create_dir_all(&spaced).unwrap();
    let src = spaced.join("Trend Rider.mq5");
    std::fs::write(&src, GOOD).unwrap();
    std::fs::write(spaced.join("helpers.mqh"), "// include\n").unwrap();
    // Even a work root with spaces falls back to a space-free one.
    let c = editor(&spaced)
        .compile_file(&src, Some(&spaced), None)
        .await
        .unwrap();
    assert!(c.output.compiled, "{}", c.log);
    assert_eq!(
        c.ex5.as_deref(),
        Some(spaced.join("Trend Rider.ex5").as_path())
    );
    assert!(spaced.join("Trend Rider.ex5").exists());
}

#[tokio::test]
async fn no_log_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut me = MetaEditor::new(Launcher::native("/bin/true"));
    me.work_root = dir.path().to_path_buf();
    let err = me.compile_source("X", GOOD, None, None).await.unwrap_err();
    assert!(matches!(err, ToolchainError::NoLog { .. }), "{err:?}");
    let missing = MetaEditor::new(Launcher::native("/nonexistent/metaeditor64"));
    let err = missing
        .compile_source("X", GOOD, None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ToolchainError::Launch { .. }), "{err:?}");
    assert!(err.to_string().contains("Settings"));
}

fn run(report: &str) -> TesterRun {
    TesterRun {
        expert: "Companion\\TrendRider.ex5".into(),
        symbol: "EURUSD".into(),
        period: Timeframe::H1,
        model: 1,
        from: NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
        to: NaiveDate::from_ymd_opt(2024, 6, 28).unwrap(),
        deposit: 10_000.0,
        currency: None,
        leverage: 100,
        inputs: serde_json::json!({"Lots": 0.1})
            .as_object()
            .unwrap()
            .clone(),
        report: report.into(),
        login: None,
        server: None,
    }
}

#[tokio::test]
async fn tester_runs_through_the_ini_and_reads_the_report() {
    let data = tempfile::tempdir().unwrap();
    let tester = Tester::new(Launcher::native(fake("terminal64")), data.path(), true);
    let report = tester.run(&run("Reports\\companion_t1")).await.unwrap();
    assert_core_figures(&report);
    let ini =
        decode_text(&std::fs::read(data.path().join("Config/companion_companion_t1.ini")).unwrap());
    assert!(ini.contains("ShutdownTerminal=1"));
    assert!(ini.contains("ExpertParameters=companion_companion_t1.set"));
    let set = std::fs::read_to_string(
        data.path()
            .join("MQL5/Profiles/Tester/companion_companion_t1.set"),
    )
    .unwrap();
    assert_eq!(set, "Lots=0.1\n");
}

#[tokio::test]
async fn tester_refuses_while_the_terminal_runs() {
    let data = tempfile::tempdir().unwrap();
    // A copy of its own, so other tests running the fake in parallel are unaffected.
    let exe = data.path().join("terminal64");
    std::fs::copy(fake("terminal64"), &exe).unwrap();
    let mut open = tokio::process::Command::new(&exe)
        .args(["--hold", "120"])
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let tester = Tester::new(Launcher::native(&exe), data.path(), true);
    let err = tester.run(&run("Reports\\companion_t2")).await.unwrap_err();
    assert!(
        matches!(err, ToolchainError::TerminalRunning { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("close it"));
    open.kill().await.unwrap();
}

#[tokio::test]
async fn compile_and_test_jobs_through_mt5_toolchain() {
    use companion_protocol::TestInput;
    use companion_terminal::toolchain::{expert_name, Mt5Toolchain};
    let data = tempfile::tempdir().unwrap();
    let mut tc = Mt5Toolchain::from_paths(&fake("metaeditor"), &fake("terminal64"), data.path());
    tc.metaeditor
        .as_mut()
        .expect("from_paths sets MetaEditor")
        .work_root = data.path().join("build");
    let version = uuid::Uuid::new_v4();
    let test = TestInput {
        version_id: version,
        symbol: "EURUSD".into(),
        timeframe: Timeframe::H1,
        from: "2024-01-02".into(),
        to: "2024-06-28".into(),
        model: 0,
        deposit: 10_000.0,
        leverage: 100,
        inputs: None,
    };
    // Not compiled yet: a clear error, no tester run.
    let err = tc.test_version(&test).await.unwrap_err();
    assert!(err.to_string().contains("compile job first"), "{err}");

    let bad = tc.compile_version(version, BAD).await.unwrap();
    assert!(!bad.compiled);
    let out = tc.compile_version(version, GOOD).await.unwrap();
    assert!(out.compiled);
    assert!(out.ex5_checksum.is_some());
    let ex5 = data
        .path()
        .join("MQL5/Experts")
        .join(expert_name(version).replace('\\', "/") + ".ex5");
    assert!(ex5.exists(), "{}", ex5.display());

    let report = tc.test_version(&test).await.unwrap();
    assert_core_figures(&report);
    let bad_date = TestInput {
        from: "02.01.2024".into(),
        ..test
    };
    assert!(tc.test_version(&bad_date).await.is_err());
}
