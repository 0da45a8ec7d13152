//! The bridge EA shipped with Companion (`mql5/CompanionBridge.mq5`): its source,
//! installing it into a terminal's data folder, and the chart templates
//! (`.tpl`) that deploy/run/stop apply through `ChartApplyTemplate`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::bridge::timeframe_str;
use crate::terminal::ChartDeployment;
use companion_protocol::Timeframe;

/// The complete MQL5 source of the bridge EA.
pub const BRIDGE_EA_SOURCE: &str = include_str!("../mql5/CompanionBridge.mq5");

/// File name of the bridge EA source.
pub const BRIDGE_EA_FILE: &str = "CompanionBridge.mq5";

/// Folder under `MQL5/Experts` that holds everything Companion installs.
pub const EXPERTS_SUBDIR: &str = "Companion";

/// Copies the bridge EA source into `<data_dir>/MQL5/Experts/Companion/` and
/// returns the written path (compile it with [`crate::toolchain::compile`]).
/// Rewrites the file only when its content differs.
pub fn install_bridge_ea(data_dir: &Path) -> std::io::Result<PathBuf> {
    let dir = data_dir.join("MQL5").join("Experts").join(EXPERTS_SUBDIR);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(BRIDGE_EA_FILE);
    let current = std::fs::read(&path).ok();
    if current.as_deref() != Some(BRIDGE_EA_SOURCE.as_bytes()) {
        std::fs::write(&path, BRIDGE_EA_SOURCE)?;
    }
    Ok(path)
}

/// The expert's path relative to `MQL5/Experts`, with backslashes and without the
/// extension: `MyEa` → `Companion\MyEa`; `Companion/MyEa.ex5` → `Companion\MyEa`.
pub fn expert_template_name(expert: &str) -> String {
    let mut p = expert.replace('/', "\\");
    for ext in [".ex5", ".mq5"] {
        if p.to_ascii_lowercase().ends_with(ext) {
            p.truncate(p.len() - ext.len());
        }
    }
    let p = p.trim_start_matches('\\').to_string();
    let p = p.strip_prefix("Experts\\").map(str::to_string).unwrap_or(p);
    if p.contains('\\') {
        p
    } else {
        format!("{EXPERTS_SUBDIR}\\{p}")
    }
}

/// `period_type` and `period_size` of a `.tpl`, as the MQL5 book's description of
/// template files gives them: 0 minutes, 1 hours, 2 weeks, 3 months; a day is 24
/// hours (`period_type=1`, `period_size=24`). Unverified on a real terminal: see
/// docs/mt5.md, "First run on a real terminal".
fn period(tf: Timeframe) -> (u8, u32) {
    match tf {
        Timeframe::M1 => (0, 1),
        Timeframe::M5 => (0, 5),
        Timeframe::M15 => (0, 15),
        Timeframe::M30 => (0, 30),
        Timeframe::H1 => (1, 1),
        Timeframe::H4 => (1, 4),
        Timeframe::D1 => (1, 24),
        Timeframe::W1 => (2, 1),
        Timeframe::MN1 => (3, 1),
    }
}

/// One template line value: no line breaks, JSON scalars as MT5 writes them.
fn input_value(v: &Value) -> String {
    let s = match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    s.replace(['\r', '\n'], " ")
}

fn clean_key(k: &str) -> String {
    k.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

const MAIN_WINDOW: &str = "<window>\nheight=100.000000\nobjects=0\n<indicator>\nname=Main\npath=\napply=1\nshow_data=1\nscale_inherit=0\nscale_line=0\nscale_line_percent=50\nscale_line_value=0.000000\nscale_fix_min=0\nscale_fix_min_val=0.000000\nscale_fix_max=0\nscale_fix_max_val=0.000000\nexpertmode=0\nfixed_height=-1\n</indicator>\n</window>\n";

fn chart_header(out: &mut String, symbol: &str, tf: Timeframe) {
    let (ptype, psize) = period(tf);
    let _ = write!(
        out,
        "<chart>\nsymbol={symbol}\nperiod_type={ptype}\nperiod_size={psize}\nmode=1\nscale=8\ngraph=0\nfore=0\ngrid=0\nvolume=0\nscroll=1\nshift=1\nshift_size=20.0\nohlc=1\nshow_ask=1\n"
    );
}

/// The chart template that attaches the deployment's expert with its inputs.
///
/// `expertmode=5` = enabled and allowed to trade; the terminal still caps that at
/// the bridge EA's own permissions. The magic number is written as the input
/// `MagicNumber` unless the inputs already name a magic input.
pub fn chart_template(d: &ChartDeployment) -> String {
    let expert = expert_template_name(&d.expert);
    let name = expert.rsplit('\\').next().unwrap_or(&expert).to_string();
    let mut out = String::new();
    chart_header(&mut out, &d.symbol, d.timeframe);
    let _ = write!(
        out,
        "<expert>\nname={name}\npath=Experts\\{expert}.ex5\nexpertmode=5\n<inputs>\n"
    );
    let mut has_magic = false;
    for (k, v) in &d.inputs {
        let key = clean_key(k);
        if key.is_empty() {
            continue;
        }
        has_magic |= key.to_ascii_lowercase().contains("magic");
        let _ = writeln!(out, "{key}={}", input_value(v));
    }
    if !has_magic {
        let _ = writeln!(out, "MagicNumber={}", d.magic);
    }
    out.push_str("</inputs>\n</expert>\n");
    out.push_str(MAIN_WINDOW);
    out.push_str("</chart>\n");
    out
}

/// A template with no expert: applying it removes the EA from the chart (stop).
pub fn empty_chart_template(symbol: &str, tf: Timeframe) -> String {
    let mut out = String::new();
    chart_header(&mut out, symbol, tf);
    out.push_str(MAIN_WINDOW);
    out.push_str("</chart>\n");
    out
}

/// `M1` … `MN1`, re-exported for template callers.
pub fn timeframe_name(tf: Timeframe) -> &'static str {
    timeframe_str(tf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> ChartDeployment {
        let mut inputs = serde_json::Map::new();
        inputs.insert("Lots".into(), serde_json::json!(0.1));
        inputs.insert("UseTrail".into(), serde_json::json!(true));
        inputs.insert("Note".into(), serde_json::json!("a\nb"));
        ChartDeployment {
            expert: "Trend Rider".into(),
            symbol: "EURUSD".into(),
            timeframe: Timeframe::H4,
            magic: 777,
            inputs,
        }
    }

    #[test]
    fn template_names_the_expert_and_its_inputs() {
        let t = chart_template(&deployment());
        assert!(t.starts_with("<chart>\nsymbol=EURUSD\nperiod_type=1\nperiod_size=4\n"));
        assert!(t.contains(
            "<expert>\nname=Trend Rider\npath=Experts\\Companion\\Trend Rider.ex5\nexpertmode=5\n"
        ));
        assert!(t.contains("Lots=0.1\n"));
        assert!(t.contains("UseTrail=true\n"));
        assert!(t.contains("Note=a b\n"));
        assert!(t.contains("MagicNumber=777\n"));
        assert!(t.trim_end().ends_with("</chart>"));
    }

    #[test]
    fn explicit_magic_input_wins() {
        let mut d = deployment();
        d.inputs.insert("InpMagic".into(), serde_json::json!(5));
        let t = chart_template(&d);
        assert!(t.contains("InpMagic=5\n"));
        assert!(!t.contains("MagicNumber="));
    }

    #[test]
    fn expert_names_are_normalised() {
        assert_eq!(expert_template_name("MyEa"), "Companion\\MyEa");
        assert_eq!(
            expert_template_name("Companion/MyEa.ex5"),
            "Companion\\MyEa"
        );
        assert_eq!(expert_template_name("Experts\\Other\\X.mq5"), "Other\\X");
    }

    #[test]
    fn empty_template_has_no_expert() {
        let t = empty_chart_template("GBPUSD", Timeframe::M15);
        assert!(!t.contains("<expert>"));
        assert!(t.contains("period_type=0\nperiod_size=15\n"));
    }

    #[test]
    fn periods_follow_the_book_encoding() {
        let p = |tf| empty_chart_template("EURUSD", tf);
        assert!(p(Timeframe::D1).contains("period_type=1\nperiod_size=24\n"));
        assert!(p(Timeframe::W1).contains("period_type=2\nperiod_size=1\n"));
        assert!(p(Timeframe::MN1).contains("period_type=3\nperiod_size=1\n"));
        assert!(p(Timeframe::H1).contains("period_type=1\nperiod_size=1\n"));
    }

    /// Brackets balance outside strings, character literals and comments.
    #[test]
    fn bridge_source_brackets_balance() {
        let src = BRIDGE_EA_SOURCE.as_bytes();
        let mut stack = Vec::new();
        let mut i = 0;
        while i < src.len() {
            let c = src[i];
            if c == b'/' && src.get(i + 1) == Some(&b'/') {
                while i < src.len() && src[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            if c == b'"' || c == b'\'' {
                i += 1;
                while i < src.len() && src[i] != c {
                    if src[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                continue;
            }
            match c {
                b'{' | b'(' | b'[' => stack.push(c),
                b'}' | b')' | b']' => {
                    let open = stack.pop().expect("closing bracket without an opening one");
                    let expected = match c {
                        b'}' => b'{',
                        b')' => b'(',
                        _ => b'[',
                    };
                    assert_eq!(open, expected, "mismatched brackets at byte {i}");
                }
                _ => {}
            }
            i += 1;
        }
        assert!(stack.is_empty(), "unclosed brackets: {stack:?}");
    }

    /// The EA dispatches every command of the protocol (except the paper-only one)
    /// and speaks the same protocol version.
    #[test]
    fn bridge_source_serves_every_command() {
        use crate::bridge::wire::cmd;
        for c in [
            cmd::PING,
            cmd::INFO,
            cmd::ACCOUNT,
            cmd::POSITIONS,
            cmd::SYMBOL_INFO,
            cmd::QUOTES,
            cmd::CANDLES,
            cmd::ORDER_SEND,
            cmd::POSITION_CLOSE,
            cmd::HISTORY_BY_COMMENT,
            cmd::CHART_DEPLOY,
            cmd::CHART_RUN,
            cmd::CHART_STOP,
        ] {
            assert!(
                BRIDGE_EA_SOURCE.contains(&format!("cmd == \"{c}\"")),
                "EA lacks {c}"
            );
        }
        let version = format!(
            "#define BRIDGE_PROTOCOL_VERSION {}",
            crate::bridge::PROTOCOL_VERSION
        );
        assert!(BRIDGE_EA_SOURCE.contains(&version));
        for field in [
            "\"heartbeat\"",
            "\"hello_ok\"",
            "\"hello_error\"",
            "heartbeat_ms",
        ] {
            assert!(BRIDGE_EA_SOURCE.contains(field), "{field}");
        }
    }

    #[test]
    fn install_writes_the_source_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = install_bridge_ea(dir.path()).unwrap();
        assert!(p.ends_with("MQL5/Experts/Companion/CompanionBridge.mq5"));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), BRIDGE_EA_SOURCE);
        let p2 = install_bridge_ea(dir.path()).unwrap();
        assert_eq!(p, p2);
    }
}
