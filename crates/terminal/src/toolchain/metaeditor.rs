//! Compiling MQL5 with MetaEditor:
//! `metaeditor64.exe /compile:"file" /log:"file" [/include:"MQL5 dir"]`.
//!
//! The exit code means nothing (under Wine it is never 0), and paths with spaces
//! can fail without a log, so the source is copied into a fresh space-free work
//! directory, compiled there, and success is judged from the log (zero errors)
//! and a fresh `.ex5` (written after the compile started).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use companion_protocol::{CompileOutput, Diagnostic};
use sha2::{Digest, Sha256};

use super::compile_log::parse_compile_log;
use super::launch::Launcher;
use super::text::decode_text;
use super::ToolchainError;

/// A compile's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// What the `compile` job reports.
    pub output: CompileOutput,
    /// The produced `.ex5` (copied to `out_dir` when given), when compiled.
    pub ex5: Option<PathBuf>,
    /// The decoded log text.
    pub log: String,
}

/// MetaEditor, ready to compile.
#[derive(Debug, Clone)]
pub struct MetaEditor {
    pub launcher: Launcher,
    /// Where work directories are made; must not contain spaces (a space-free
    /// fallback is chosen when it does).
    pub work_root: PathBuf,
    pub timeout: Duration,
}

/// `base` when its path has no spaces, else a space-free fallback.
pub fn space_free_dir(base: &Path) -> PathBuf {
    if !base.display().to_string().contains(' ') {
        return base.to_path_buf();
    }
    let candidates: Vec<PathBuf> = if cfg!(windows) {
        vec![
            PathBuf::from(std::env::var("PUBLIC").unwrap_or_default()).join("Companion"),
            PathBuf::from("C:\\CompanionBuild"),
        ]
    } else {
        vec![PathBuf::from("/tmp/companion-build")]
    };
    candidates
        .into_iter()
        .find(|c| !c.as_os_str().is_empty() && !c.display().to_string().contains(' '))
        .unwrap_or_else(|| base.to_path_buf())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// File names MetaEditor accepts without quoting trouble: letters, digits, `_-.`.
fn safe_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "Expert".into()
    } else {
        s
    }
}

impl MetaEditor {
    pub fn new(launcher: Launcher) -> Self {
        MetaEditor {
            launcher,
            work_root: space_free_dir(&std::env::temp_dir()),
            timeout: Duration::from_secs(180),
        }
    }

    /// Compiles MQL5 `source` saved as `<name>.mq5`. `include` is the terminal's
    /// `MQL5` folder (for `#include <...>`); `out_dir` receives the `.ex5`.
    pub async fn compile_source(
        &self,
        name: &str,
        source: &str,
        include: Option<&Path>,
        out_dir: Option<&Path>,
    ) -> Result<Compiled, ToolchainError> {
        let work = self.work_dir()?;
        let stem = safe_stem(name);
        let src = work.path().join(format!("{stem}.mq5"));
        std::fs::write(&src, source).map_err(|e| ToolchainError::io(&src, e))?;
        self.compile_in(work.path(), &src, include, out_dir).await
    }

    /// Compiles an `.mq5` file. It is copied (with the `.mq5`/`.mqh` files beside
    /// it, for relative includes) into a space-free work directory first.
    pub async fn compile_file(
        &self,
        file: &Path,
        include: Option<&Path>,
        out_dir: Option<&Path>,
    ) -> Result<Compiled, ToolchainError> {
        let work = self.work_dir()?;
        let parent = file.parent().unwrap_or(Path::new("."));
        if let Ok(entries) = std::fs::read_dir(parent) {
            for e in entries.flatten() {
                let p = e.path();
                let ext = p
                    .extension()
                    .and_then(|x| x.to_str())
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if p.is_file() && (ext == "mqh") {
                    if let Some(n) = p.file_name() {
                        let _ = std::fs::copy(&p, work.path().join(n));
                    }
                }
            }
        }
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("Expert");
        let src = work.path().join(format!("{}.mq5", safe_stem(stem)));
        std::fs::copy(file, &src).map_err(|e| ToolchainError::io(file, e))?;
        let out = out_dir
            .map(Path::to_path_buf)
            .or_else(|| Some(parent.to_path_buf()));
        let mut compiled = self
            .compile_in(work.path(), &src, include, out.as_deref())
            .await?;
        // Name the copied .ex5 after the original file.
        if let (Some(ex5), Some(out)) = (&compiled.ex5, &out) {
            let wanted = out.join(format!("{stem}.ex5"));
            if ex5 != &wanted && std::fs::rename(ex5, &wanted).is_ok() {
                compiled.ex5 = Some(wanted);
            }
        }
        Ok(compiled)
    }

    fn work_dir(&self) -> Result<tempfile::TempDir, ToolchainError> {
        std::fs::create_dir_all(&self.work_root)
            .map_err(|e| ToolchainError::io(&self.work_root, e))?;
        tempfile::Builder::new()
            .prefix("companion-compile-")
            .tempdir_in(&self.work_root)
            .map_err(|e| ToolchainError::io(&self.work_root, e))
    }

    async fn compile_in(
        &self,
        work: &Path,
        src: &Path,
        include: Option<&Path>,
        out_dir: Option<&Path>,
    ) -> Result<Compiled, ToolchainError> {
        let log_path = work.join("compile.log");
        let ex5_path = src.with_extension("ex5");
        let mut args = vec![
            format!("/compile:{}", self.launcher.program_path(src)),
            format!("/log:{}", self.launcher.program_path(&log_path)),
        ];
        if let Some(inc) = include {
            args.push(format!("/include:{}", self.launcher.program_path(inc)));
        }
        // Coarse file-system clocks: allow a little slack before the start.
        let started = SystemTime::now() - Duration::from_secs(2);
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
        match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(_status) => {} // the exit code is not meaningful
            Err(_) => {
                let _ = child.kill().await;
                return Err(ToolchainError::TimedOut {
                    what: "MetaEditor",
                    secs: self.timeout.as_secs(),
                });
            }
        }
        let log_bytes = std::fs::read(&log_path).map_err(|_| ToolchainError::NoLog {
            log: log_path.clone(),
        })?;
        let log = decode_text(&log_bytes);
        let parsed = parse_compile_log(&log);
        let fresh = std::fs::metadata(&ex5_path)
            .and_then(|m| m.modified())
            .map(|t| t >= started)
            .unwrap_or(false);
        let compiled = parsed.error_count() == 0 && fresh;
        let mut errors = parsed.errors;
        if !compiled && errors.is_empty() {
            let message = if parsed.result.is_none() {
                "MetaEditor wrote no result line; the compile did not run".to_string()
            } else {
                "MetaEditor reported success but produced no new .ex5".to_string()
            };
            errors.push(Diagnostic {
                file: src
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                line: 0,
                column: 0,
                code: 0,
                message,
            });
        }
        let mut ex5 = None;
        let mut checksum = None;
        if compiled {
            let bytes = std::fs::read(&ex5_path).map_err(|e| ToolchainError::io(&ex5_path, e))?;
            checksum = Some(sha256_hex(&bytes));
            let dest = match out_dir {
                Some(dir) => {
                    std::fs::create_dir_all(dir).map_err(|e| ToolchainError::io(dir, e))?;
                    let d = dir.join(ex5_path.file_name().unwrap_or_default());
                    std::fs::copy(&ex5_path, &d).map_err(|e| ToolchainError::io(&d, e))?;
                    d
                }
                None => ex5_path.clone(),
            };
            ex5 = Some(dest);
        }
        Ok(Compiled {
            output: CompileOutput {
                compiled,
                errors,
                warnings: parsed.warnings,
                ex5_checksum: checksum,
            },
            ex5: if out_dir.is_some() { ex5 } else { None },
            log,
        })
    }
}
