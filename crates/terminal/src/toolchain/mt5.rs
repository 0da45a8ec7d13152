//! The toolchain as the agent's `compile` and `test` jobs use it: EA versions
//! compiled into `<data>/MQL5/Experts/Companion/<version>.ex5`, tested from there
//! (a test run first checks that the version's `.ex5` is there).

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use companion_protocol::{CompileOutput, TestInput, TestReport};
use uuid::Uuid;

use super::configure::{metaeditor_missing, terminal_missing, Mt5Paths};
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

/// MetaEditor and the tester of one installation, each present when configured.
#[derive(Debug, Clone)]
pub struct Mt5Toolchain {
    pub metaeditor: Option<MetaEditor>,
    pub tester: Option<Tester>,
    /// The terminal's data folder (holds `MQL5/`).
    pub data_dir: Option<PathBuf>,
}

impl Mt5Toolchain {
    /// From executable paths and the data folder. `.exe` files run under Wine off
    /// Windows; the install is portable when the data folder is the terminal's folder.
    pub fn from_paths(metaeditor: &Path, terminal64: &Path, data_dir: &Path) -> Self {
        let portable = terminal64.parent().is_some_and(|p| p == data_dir);
        Mt5Toolchain {
            metaeditor: Some(MetaEditor::new(Launcher::for_exe(metaeditor))),
            tester: Some(Tester::new(
                Launcher::for_exe(terminal64),
                data_dir,
                portable,
            )),
            data_dir: Some(data_dir.to_path_buf()),
        }
    }

    /// From configured paths (see [`Mt5Paths::with_env_overrides`]); `None` when
    /// they name neither MetaEditor nor the terminal. The tester needs both the
    /// terminal and a data folder.
    pub fn configured(paths: &Mt5Paths) -> Option<Self> {
        if paths.metaeditor.is_none() && paths.terminal64.is_none() {
            return None;
        }
        let tester = match (&paths.terminal64, &paths.data_dir) {
            (Some(t), Some(d)) => {
                let portable = t.parent() == Some(d.as_path());
                Some(Tester::new(Launcher::for_exe(t), d, portable))
            }
            _ => None,
        };
        Some(Mt5Toolchain {
            metaeditor: paths
                .metaeditor
                .as_ref()
                .map(|m| MetaEditor::new(Launcher::for_exe(m))),
            tester,
            data_dir: paths.data_dir.clone(),
        })
    }

    /// From a discovered installation.
    pub fn from_installation(i: &crate::discovery::Installation) -> Option<Self> {
        let me = i.metaeditor_exe.as_ref()?;
        let mut t = Self::from_paths(me, &i.terminal_exe, &i.data_dir);
        if let Some(prefix) = &i.wine_prefix {
            if let Some(m) = t.metaeditor.as_mut() {
                m.launcher.wine_prefix = Some(prefix.clone());
            }
            if let Some(tester) = t.tester.as_mut() {
                tester.launcher.wine_prefix = Some(prefix.clone());
            }
        }
        if let Some(tester) = t.tester.as_mut() {
            tester.portable = i.portable;
        }
        Some(t)
    }

    fn experts_dir(&self) -> Option<PathBuf> {
        self.data_dir
            .as_ref()
            .map(|d| d.join("MQL5").join("Experts").join(EXPERTS_SUBDIR))
    }

    /// Compiles `source` as EA version `version_id`; on success the `.ex5` is in
    /// `MQL5/Experts/Companion/` under [`expert_name`], the source beside it.
    pub async fn compile_version(
        &self,
        version_id: Uuid,
        source: &str,
    ) -> Result<CompileOutput, ToolchainError> {
        let me = self
            .metaeditor
            .as_ref()
            .ok_or_else(|| ToolchainError::NotConfigured(metaeditor_missing()))?;
        let stem = version_id.simple().to_string();
        let (include, dir) = match (&self.data_dir, self.experts_dir()) {
            (Some(data), Some(dir)) => {
                std::fs::create_dir_all(&dir).map_err(|e| ToolchainError::io(&dir, e))?;
                let src = dir.join(format!("{stem}.mq5"));
                std::fs::write(&src, source).map_err(|e| ToolchainError::io(&src, e))?;
                (Some(data.join("MQL5")), Some(dir))
            }
            _ => (None, None),
        };
        let c = me
            .compile_source(&stem, source, include.as_deref(), dir.as_deref())
            .await?;
        Ok(c.output)
    }

    /// Runs a `test` job against the compiled version; the report lands in
    /// `<data>/Reports/companion_<version>_<n>.htm`.
    pub async fn test_version(&self, input: &TestInput) -> Result<TestReport, ToolchainError> {
        let tester = self
            .tester
            .as_ref()
            .ok_or_else(|| ToolchainError::NotConfigured(terminal_missing()))?;
        let date = |s: &str, what: &str| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                ToolchainError::InvalidInput(format!(
                    "invalid test input: {what} {s:?} is not a YYYY-MM-DD date"
                ))
            })
        };
        if let Some(dir) = self.experts_dir() {
            let ex5 = dir.join(format!("{}.ex5", input.version_id.simple()));
            if !ex5.exists() {
                return Err(ToolchainError::Io {
                    path: ex5,
                    message:
                        "this EA version is not compiled on this agent; run a compile job first"
                            .into(),
                });
            }
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
        tester.run(&run).await
    }
}
