//! Parsing MetaEditor's compile log: diagnostics like
//! `C:\...\X.mq5(12,1) : error 109: message` or `... : warning 43: ...`, and the
//! final `Result: N errors, M warnings` (newer builds: `: information: result N
//! errors, M warnings, 312 msec elapsed`).

use std::sync::LazyLock;

use companion_protocol::Diagnostic;
use regex::Regex;

/// What a log says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompileLog {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    /// `(errors, warnings)` from the result line, when the log has one.
    pub result: Option<(u32, u32)>,
}

impl CompileLog {
    /// Errors as the log counts them: the result line, else the diagnostics seen.
    pub fn error_count(&self) -> u32 {
        self.result
            .map(|r| r.0)
            .unwrap_or(self.errors.len() as u32)
            .max(self.errors.len() as u32)
    }
}

static DIAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?P<file>.*?)(?:\((?P<line>\d+),\s*(?P<col>\d+)\))?\s*:\s*(?P<kind>error|warning)\s+(?P<code>\d+)\s*:\s*(?P<msg>.*)$",
    )
    .expect("valid regex")
});

static RESULT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bresult:?\s+(?P<e>\d+)\s+errors?,\s*(?P<w>\d+)\s+warnings?")
        .expect("valid regex")
});

fn file_name(path: &str) -> String {
    let p = path.trim();
    p.rsplit(['\\', '/']).next().unwrap_or(p).to_string()
}

/// Parses the text of a MetaEditor log (already decoded, see [`super::text`]).
pub fn parse_compile_log(text: &str) -> CompileLog {
    let mut log = CompileLog::default();
    for raw in text.lines() {
        let line = raw.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        if line.is_empty() {
            continue;
        }
        if let Some(c) = RESULT.captures(line) {
            let e = c["e"].parse().unwrap_or(0);
            let w = c["w"].parse().unwrap_or(0);
            log.result = Some((e, w));
            continue;
        }
        if let Some(c) = DIAG.captures(line) {
            let d = Diagnostic {
                file: file_name(&c["file"]),
                line: c
                    .name("line")
                    .and_then(|m| m.as_str().parse().ok())
                    .unwrap_or(0),
                column: c
                    .name("col")
                    .and_then(|m| m.as_str().parse().ok())
                    .unwrap_or(0),
                code: c["code"].parse().unwrap_or(0),
                message: c["msg"].trim().to_string(),
            };
            if c["kind"].eq_ignore_ascii_case("error") {
                log.errors.push(d);
            } else {
                log.warnings.push(d);
            }
        }
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_diagnostics_and_result() {
        let text = "C:\\Users\\a\\AppData\\Roaming\\MetaQuotes\\Terminal\\D0E8\\MQL5\\Experts\\My EA.mq5 : information: compiling 'My EA.mq5'\r\n\
C:\\x\\MQL5\\Experts\\My EA.mq5(12,5) : error 256: 'foo' - undeclared identifier\r\n\
C:\\x\\MQL5\\Experts\\My EA.mq5(14,17) : warning 43: possible loss of data due to type conversion\r\n\
Result: 1 errors, 1 warnings, 123 msec elapsed\r\n";
        let log = parse_compile_log(text);
        assert_eq!(log.result, Some((1, 1)));
        assert_eq!(log.errors.len(), 1);
        assert_eq!(log.errors[0].file, "My EA.mq5");
        assert_eq!(
            (log.errors[0].line, log.errors[0].column, log.errors[0].code),
            (12, 5, 256)
        );
        assert_eq!(log.errors[0].message, "'foo' - undeclared identifier");
        assert_eq!(log.warnings[0].code, 43);
        assert_eq!(log.error_count(), 1);
    }

    #[test]
    fn newer_result_line_and_no_position() {
        let text = "x.mq5 : error 123: something global\n: information: result 2 errors, 0 warnings, 50 msec elapsed, cpu='X64 Regular'\n";
        let log = parse_compile_log(text);
        assert_eq!(log.result, Some((2, 0)));
        assert_eq!(log.errors[0].line, 0);
        assert_eq!(log.error_count(), 2);
    }
}
