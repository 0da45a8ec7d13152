//! `companion-fake-metaeditor`: stands in for `metaeditor64.exe` in tests. It takes
//! the real command line (`/compile:"file" /log:"file" [/include:"dir"]`), writes a
//! log in MetaEditor's format (UTF-16LE with BOM) and, when the source compiles,
//! an `.ex5` beside it. A line containing `SYNTAX_ERROR_HERE` is an error, one
//! containing `WARNING_HERE` a warning. Like MetaEditor under Wine, it always
//! exits non-zero, and a source or log path with a space makes it write nothing.

use std::path::{Path, PathBuf};

fn value(arg: &str, key: &str) -> Option<String> {
    let rest = arg.strip_prefix(key)?;
    Some(rest.trim_matches('"').to_string())
}

fn write_utf16(path: &Path, text: &str) -> std::io::Result<()> {
    let mut out = vec![0xFF, 0xFE];
    for u in text.replace('\n', "\r\n").encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    std::fs::write(path, out)
}

fn main() {
    let mut compile = None;
    let mut log = None;
    for a in std::env::args().skip(1) {
        if let Some(v) = value(&a, "/compile:") {
            compile = Some(PathBuf::from(v));
        } else if let Some(v) = value(&a, "/log:") {
            log = Some(PathBuf::from(v));
        }
    }
    let (Some(src), Some(log)) = (compile, log) else {
        eprintln!("usage: metaeditor64 /compile:\"file\" /log:\"file\" [/include:\"dir\"]");
        std::process::exit(2);
    };
    if src.display().to_string().contains(' ') || log.display().to_string().contains(' ') {
        std::process::exit(1); // the real thing fails silently on such paths
    }
    let Ok(source) = std::fs::read_to_string(&src) else {
        std::process::exit(1)
    };
    let name = src
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let full = src.display().to_string();
    let mut text = format!("{full} : information: compiling '{name}'\n");
    let (mut errors, mut warnings) = (0, 0);
    for (i, line) in source.lines().enumerate() {
        if let Some(col) = line.find("SYNTAX_ERROR_HERE") {
            errors += 1;
            text += &format!(
                "{full}({},{}) : error 149: 'SYNTAX_ERROR_HERE' - unexpected token\n",
                i + 1,
                col + 1
            );
        }
        if let Some(col) = line.find("WARNING_HERE") {
            warnings += 1;
            text += &format!(
                "{full}({},{}) : warning 43: possible loss of data due to type conversion\n",
                i + 1,
                col + 1
            );
        }
    }
    if errors == 0 {
        text += ": information: code generated\n";
        let mut ex5 = b"EX5\x00companion-fake\x00".to_vec();
        ex5.extend_from_slice(source.as_bytes());
        if std::fs::write(src.with_extension("ex5"), ex5).is_err() {
            std::process::exit(1);
        }
    }
    text += &format!(
        "Result: {errors} errors, {warnings} warnings, 42 msec elapsed, cpu='X64 Regular'\n"
    );
    let _ = write_utf16(&log, &text);
    std::process::exit(1);
}
