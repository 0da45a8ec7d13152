//! The toolchain as the agent's `compile` and `test` jobs use it: EA versions
//! compiled into `<data>/MQL5/Experts/Companion/<version>.ex5`, tested from there.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use companion_protocol::{CompileOutput, TestInput, TestReport};
use uuid::Uuid;

use super::launch::Launcher;
use super::metaeditor::MetaEditor;
use super::tester::{Tester, TesterRun};
use super::ToolchainError;
use crate::ea::EXPERTS_SUBDIR;

/// How an EA version is named under `MQL5/Experts` (no extension):
/// `Companion\<version id, simple form>`. Deploy jobs refer to it the same way.
pub fn expert_name(version_id: Uuid) -> String {
    format!("{EXPERTS_SUBDIR}\\{}", version_id.simple())
}

/// MetaEditor and the tester of one installation.
#[derive(Debug, Clone)]
pub struct Mt5Toolchain {
    pub metaeditor: MetaEditor,
    pub tester: Tester,
    /// The terminal's data folder (holds `MQL5/`).
    pub data_dir: PathBuf,
}

impl Mt5Toolchain {
    /// From executable paths and the data folder. `.exe` files run under Wine off
    /// Windows; the install is portable when the data folder is the terminal's folder.
    pub fn from_paths(metaeditor: &Path, terminal64: &Path, data_dir: &Path) -> Self {
        let portable = terminal64.parent().is_some_and(|p| p == data_dir);
        Mt5Toolchain {
            metaeditor: MetaEditor::new(Launcher::for_exe(metaeditor)),
            tester: Tester::new(Launcher::for_exe(terminal64), data_dir, portable),
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// From a discovered installation.
    pub fn from_installation(i: &crate::discovery::Installation) -> Option<Self> {
        let me = i.metaeditor_exe.as_ref()?;
        let mut t = Self::from_paths(me, &i.terminal_exe, &i.data_dir);
        if let Some(prefix) = &i.wine_prefix {
            t.metaeditor.launcher.wine_prefix = Some(prefix.clone());
            t.tester.launcher.wine_prefix = Some(prefix.clone());
        }
        t.tester.portable = i.portable;
        Some(t)
    }

    fn experts_dir(&self) -> PathBuf {
        self.data_dir
            .join("MQL5")
            .join("Experts")
            .join(EXPERTS_SUBDIR)
    }

    /// Compiles `source` as EA version `version_id`; on success the `.ex5` is in
    /// `MQL5/Experts/Companion/` under [`expert_name`], the source beside it.
    pub async fn compile_version(
        &self,
        version_id: Uuid,
        source: &str,
    ) -> Result<CompileOutput, ToolchainError> {
        let dir = self.experts_dir();
        std::fs::create_dir_all(&dir).map_err(|e| ToolchainError::io(&dir, e))?;
        let stem = version_id.simple().to_string();
        let src = dir.join(format!("{stem}.mq5"));
        std::fs::write(&src, source).map_err(|e| ToolchainError::io(&src, e))?;
        let include = self.data_dir.join("MQL5");
        let c = self
            .metaeditor
            .compile_source(&stem, source, Some(&include), Some(&dir))
            .await?;
        Ok(c.output)
    }

    /// Runs a `test` job against the compiled version; the report lands in
    /// `<data>/Reports/companion_<version>_<n>.htm`.
    pub async fn test_version(&self, input: &TestInput) -> Result<TestReport, ToolchainError> {
        let date = |s: &str, what: &str| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| ToolchainError::Io {
                path: PathBuf::new(),
                message: format!("test {what} date {s:?} is not YYYY-MM-DD"),
            })
        };
        let ex5 = self
            .experts_dir()
            .join(format!("{}.ex5", input.version_id.simple()));
        if !ex5.exists() {
            return Err(ToolchainError::Io {
                path: ex5,
                message: "this EA version is not compiled on this agent; run a compile job first"
                    .into(),
            });
        }
        let run = TesterRun {
            expert: format!("{}.ex5", expert_name(input.version_id)),
            symbol: input.symbol.clone(),
            period: input.timeframe,
            model: input.model,
            from: date(&input.from, "from")?,
            to: date(&input.to, "to")?,
            deposit: input.deposit,
            currency: None,
            leverage: input.leverage,
            inputs: input.inputs.clone().unwrap_or_default(),
            report: format!(
                "Reports\\companion_{}_{}",
                input.version_id.simple(),
                Uuid::new_v4().simple()
            ),
            login: None,
            server: None,
        };
        self.tester.run(&run).await
    }
}
