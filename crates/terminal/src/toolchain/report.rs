//! Reading MT5 strategy tester reports into `TestReport`: the single-test `.htm`
//! report and the `.xml` (Excel SpreadsheetML) report, UTF-16 or UTF-8, with
//! English, German or Russian labels and localised numbers.
//!
//! Both formats are tables; the reader turns the document into rows of cell texts
//! and takes the cell after a known label. The deals table's balance column gives
//! the balance curve.

use std::sync::LazyLock;

use companion_protocol::TestReport;
use regex::Regex;

use super::numbers::{parse_number, parse_parenthesised};
use super::text::decode_text;

/// Why a report could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("the file is not an MT5 tester report (no {0} found)")]
    Missing(&'static str),
}

static ROW: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)<(?:tr|row)\b[^>]*>(.*?)</(?:tr|row)\s*>").expect("regex"));
static CELL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)<(td|th|cell)\b([^>]*?)(?:/>|>(.*?)</(?:td|th|cell)\s*>)").expect("regex")
});
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)<[^>]*>").expect("regex"));
static COLSPAN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?i)colspan\s*=\s*"?(\d+)"#).expect("regex"));
static MERGE_ACROSS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?i)mergeacross\s*=\s*"?(\d+)"#).expect("regex"));

fn decode_entities(s: &str) -> String {
    s.replace("&nbsp;", "\u{a0}")
        .replace("&#160;", "\u{a0}")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Rows of cell texts; a cell spanning n columns is followed by n-1 empty cells
/// so that columns line up.
fn table_rows(doc: &str) -> Vec<Vec<String>> {
    ROW.captures_iter(doc)
        .map(|row| {
            let mut cells = Vec::new();
            for c in CELL.captures_iter(&row[1]) {
                let inner = c.get(3).map(|m| m.as_str()).unwrap_or("");
                let text = decode_entities(&TAG.replace_all(inner, ""));
                cells.push(text.trim().to_string());
                let attrs = c.get(2).map(|m| m.as_str()).unwrap_or("");
                let span: usize = COLSPAN
                    .captures(attrs)
                    .and_then(|m| m[1].parse().ok())
                    .or_else(|| {
                        MERGE_ACROSS
                            .captures(attrs)
                            .and_then(|m| m[1].parse::<usize>().ok())
                            .map(|n| n + 1)
                    })
                    .unwrap_or(1);
                for _ in 1..span.min(64) {
                    cells.push(String::new());
                }
            }
            cells
        })
        .collect()
}

fn norm(label: &str) -> String {
    label.trim().trim_end_matches(':').trim().to_lowercase()
}

/// Labels per figure in English, German and Russian (lower case, no colon).
const INITIAL_DEPOSIT: &[&str] = &[
    "initial deposit",
    "ersteinzahlung",
    "anfangseinlage",
    "начальный депозит",
];
const NET_PROFIT: &[&str] = &[
    "total net profit",
    "nettogewinn gesamt",
    "gesamtnettogewinn",
    "reingewinn",
    "чистая прибыль",
    "общая чистая прибыль",
];
const GROSS_PROFIT: &[&str] = &[
    "gross profit",
    "bruttogewinn",
    "brutto gewinn",
    "общая прибыль",
    "валовая прибыль",
];
const GROSS_LOSS: &[&str] = &[
    "gross loss",
    "bruttoverlust",
    "brutto verlust",
    "общий убыток",
    "валовый убыток",
];
const PROFIT_FACTOR: &[&str] = &[
    "profit factor",
    "profitfaktor",
    "gewinnfaktor",
    "прибыльность",
    "профит фактор",
];
const EQUITY_DD_MAX: &[&str] = &[
    "equity drawdown maximal",
    "maximaler rückgang equity",
    "rückgang equity maximal",
    "equity drawdown maximal",
    "просадка по средствам максимальная",
    "максимальная просадка по средствам",
];
const BALANCE_DD_MAX: &[&str] = &[
    "balance drawdown maximal",
    "maximaler rückgang kontostand",
    "rückgang kontostand maximal",
    "kontostand drawdown maximal",
    "просадка по балансу максимальная",
    "максимальная просадка по балансу",
];
const TOTAL_TRADES: &[&str] = &[
    "total trades",
    "trades gesamt",
    "gesamtzahl trades",
    "trades insgesamt",
    "всего трейдов",
    "всего сделок",
];
const PROFIT_TRADES: &[&str] = &[
    "profit trades (% of total)",
    "gewinntrades (% von gesamt)",
    "gewinn-trades (% vom gesamt)",
    "gewinntrades (% vom gesamt)",
    "прибыльные трейды (% от всех)",
    "прибыльные сделки (% от всех)",
];
const BALANCE_COLUMN: &[&str] = &["balance", "kontostand", "saldo", "баланс"];
const DEALS_HEADER: &[&str] = &["deals", "deals", "trades", "сделки"];

/// The cell after the first cell whose label is one of `labels`.
fn value_after(rows: &[Vec<String>], labels: &[&str]) -> Option<String> {
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let n = norm(cell);
            if n.is_empty() || !labels.contains(&n.as_str()) {
                continue;
            }
            if let Some(v) = row[i + 1..].iter().find(|c| !c.trim().is_empty()) {
                return Some(v.clone());
            }
        }
    }
    None
}

fn number_after(rows: &[Vec<String>], labels: &[&str]) -> Option<f64> {
    value_after(rows, labels).and_then(|v| parse_number(&v))
}

/// Balance after each deal that changed it, from the deals table.
fn balance_curve(rows: &[Vec<String>]) -> Vec<f64> {
    // The deals header row holds a "Balance" column; rows below it with the same
    // width are deals.
    let mut start = None;
    for (ri, row) in rows.iter().enumerate() {
        let has_deals_title = rows[..ri]
            .iter()
            .any(|r| r.iter().any(|c| DEALS_HEADER.contains(&norm(c).as_str())));
        if !has_deals_title {
            continue;
        }
        if let Some(ci) = row
            .iter()
            .position(|c| BALANCE_COLUMN.contains(&norm(c).as_str()))
        {
            start = Some((ri, ci, row.len()));
            break;
        }
    }
    let Some((ri, ci, width)) = start else {
        return Vec::new();
    };
    let mut curve: Vec<f64> = Vec::new();
    for row in &rows[ri + 1..] {
        if row.len() != width {
            if row.iter().all(|c| c.is_empty()) {
                continue;
            }
            // A summary row (fewer cells) ends the table.
            if row.len() < width {
                break;
            }
            continue;
        }
        if let Some(b) = row.get(ci).and_then(|c| parse_number(c)) {
            if curve.last() != Some(&b) {
                curve.push(b);
            }
        }
    }
    // The first entry is the deposit itself.
    if curve.len() > 1 {
        curve.remove(0);
    }
    curve
}

/// Parses a tester report from its raw bytes (`.htm` or `.xml`, any encoding).
pub fn parse_report(bytes: &[u8]) -> Result<TestReport, ReportError> {
    parse_report_text(&decode_text(bytes))
}

/// Parses a decoded tester report.
pub fn parse_report_text(text: &str) -> Result<TestReport, ReportError> {
    let rows = table_rows(text);
    let net_profit = number_after(&rows, NET_PROFIT).ok_or(ReportError::Missing("net profit"))?;
    let gross_profit = number_after(&rows, GROSS_PROFIT).unwrap_or(0.0);
    let gross_loss = number_after(&rows, GROSS_LOSS).unwrap_or(0.0);
    let profit_factor = number_after(&rows, PROFIT_FACTOR).unwrap_or_else(|| {
        if gross_loss != 0.0 {
            gross_profit / gross_loss.abs()
        } else {
            0.0
        }
    });
    let dd = value_after(&rows, EQUITY_DD_MAX).or_else(|| value_after(&rows, BALANCE_DD_MAX));
    let max_drawdown = dd.as_deref().and_then(parse_number).unwrap_or(0.0);
    let max_drawdown_pct = dd.as_deref().and_then(parse_parenthesised).unwrap_or(0.0);
    let total_trades = number_after(&rows, TOTAL_TRADES).unwrap_or(0.0).max(0.0) as u32;
    let win_rate_pct = value_after(&rows, PROFIT_TRADES)
        .and_then(|v| {
            parse_parenthesised(&v).or_else(|| {
                let wins = parse_number(&v)?;
                (total_trades > 0).then(|| wins * 100.0 / total_trades as f64)
            })
        })
        .unwrap_or(0.0);
    let initial_deposit = number_after(&rows, INITIAL_DEPOSIT).unwrap_or(0.0);
    Ok(TestReport {
        net_profit,
        gross_profit,
        gross_loss,
        profit_factor,
        max_drawdown,
        max_drawdown_pct,
        total_trades,
        win_rate_pct,
        initial_deposit,
        equity_curve: balance_curve(&rows),
    })
}
