//! Starting MT5's Windows executables: directly on Windows, through `wine`
//! elsewhere, with paths translated for Wine (`/tmp/x` → `Z:\tmp\x`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// How to start a Windows executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launcher {
    /// The executable (`metaeditor64.exe`, `terminal64.exe`, or a fake for tests).
    pub exe: PathBuf,
    /// `Some(wine)` to run it under Wine; Windows paths are then translated.
    pub wine: Option<PathBuf>,
    /// `WINEPREFIX` to set, when the install lives in a non-default prefix.
    pub wine_prefix: Option<PathBuf>,
}

impl Launcher {
    /// Runs `exe` directly on Windows; elsewhere a `.exe` runs under `wine`.
    pub fn for_exe(exe: impl Into<PathBuf>) -> Self {
        let exe = exe.into();
        let is_exe = exe
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("exe"));
        let wine = (!cfg!(windows) && is_exe).then(|| PathBuf::from("wine"));
        Launcher {
            exe,
            wine,
            wine_prefix: None,
        }
    }

    /// Runs `exe` as a native program (no Wine), e.g. a test fake.
    pub fn native(exe: impl Into<PathBuf>) -> Self {
        Launcher {
            exe: exe.into(),
            wine: None,
            wine_prefix: None,
        }
    }

    /// A path as the program will see it.
    pub fn program_path(&self, p: &Path) -> String {
        if self.wine.is_some() {
            wine_path(p)
        } else {
            p.display().to_string()
        }
    }

    /// The command with `args` (already in program form).
    pub fn command(&self, args: &[String]) -> tokio::process::Command {
        let mut cmd = match &self.wine {
            Some(wine) => {
                let mut c = tokio::process::Command::new(wine);
                c.arg(&self.exe);
                c
            }
            None => tokio::process::Command::new(&self.exe),
        };
        if let Some(prefix) = &self.wine_prefix {
            cmd.env("WINEPREFIX", prefix);
        }
        cmd.args(args.iter().map(OsString::from));
        cmd.kill_on_drop(true);
        cmd
    }
}

/// A Unix path as Wine's default `Z:` drive shows it. Paths inside a prefix's
/// `drive_c` map to `C:`.
pub fn wine_path(p: &Path) -> String {
    let s = p.display().to_string();
    if let Some(idx) = s.find("/drive_c/") {
        return format!("C:\\{}", s[idx + "/drive_c/".len()..].replace('/', "\\"));
    }
    if s.starts_with('/') {
        format!("Z:{}", s.replace('/', "\\"))
    } else {
        s.replace('/', "\\")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wine_paths() {
        assert_eq!(
            wine_path(Path::new("/tmp/a b/x.mq5")),
            "Z:\\tmp\\a b\\x.mq5"
        );
        assert_eq!(
            wine_path(Path::new(
                "/home/u/.wine/drive_c/Program Files/MetaTrader 5/terminal64.exe"
            )),
            "C:\\Program Files\\MetaTrader 5\\terminal64.exe"
        );
    }
}
