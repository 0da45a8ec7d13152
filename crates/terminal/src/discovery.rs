//! Finding MetaTrader 5 installations: data folders under
//! `%APPDATA%\MetaQuotes\Terminal\<id>\` whose `origin.txt` (often UTF-16LE)
//! names the install directory, portable installs (data beside `terminal64.exe`),
//! and the same layouts inside Wine prefixes (`~/.wine`, `$WINEPREFIX`).
//!
//! Every root is a parameter, so the search runs on fixture trees in tests;
//! [`DiscoveryRoots::from_env`] fills them from the environment.

use std::path::{Path, PathBuf};

use crate::toolchain::decode_text;

/// One MT5 terminal on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    /// Folder holding `terminal64.exe`.
    pub install_dir: PathBuf,
    pub terminal_exe: PathBuf,
    pub metaeditor_exe: Option<PathBuf>,
    /// The data folder (with `MQL5/`); equals `install_dir` for portable installs.
    pub data_dir: PathBuf,
    pub portable: bool,
    /// The Wine prefix the installation lives in, if any.
    pub wine_prefix: Option<PathBuf>,
    /// The data folder's id (`D0E8209F77C8CF37AD8BF550E51FF075`), for data-folder installs.
    pub id: Option<String>,
}

impl Installation {
    /// The `MQL5` folder (for `/include:` and installing experts).
    pub fn mql5_dir(&self) -> PathBuf {
        self.data_dir.join("MQL5")
    }
}

/// Where to look.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveryRoots {
    /// Windows `%APPDATA%` folders (holding `MetaQuotes\Terminal`), native.
    pub appdata: Vec<PathBuf>,
    /// Folders whose subfolders may hold installs (`Program Files`), native.
    pub program_dirs: Vec<PathBuf>,
    /// Wine prefixes (each with `drive_c/`).
    pub wine_prefixes: Vec<PathBuf>,
}

impl DiscoveryRoots {
    /// The usual places on this OS: `%APPDATA%` and `Program Files` on Windows;
    /// `$WINEPREFIX` and `~/.wine` elsewhere.
    pub fn from_env() -> Self {
        let mut r = DiscoveryRoots::default();
        let var = |k: &str| std::env::var_os(k).map(PathBuf::from);
        if cfg!(windows) {
            r.appdata.extend(var("APPDATA"));
            r.program_dirs.extend(var("ProgramFiles"));
            r.program_dirs.extend(var("ProgramFiles(x86)"));
        } else {
            r.wine_prefixes.extend(var("WINEPREFIX"));
            if let Some(home) = var("HOME") {
                r.wine_prefixes.push(home.join(".wine"));
                // CrossOver / PlayOnMac style bottles are given by the user.
            }
            r.wine_prefixes.dedup();
        }
        r
    }
}

fn subdirs(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Case-insensitive child lookup (Wine trees and Windows are case-insensitive).
fn child_ci(dir: &Path, name: &str) -> Option<PathBuf> {
    let exact = dir.join(name);
    if exact.exists() {
        return Some(exact);
    }
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().eq_ignore_ascii_case(name))
        .map(|e| e.path())
}

/// A Windows path from `origin.txt` as a path on this machine: inside a Wine
/// prefix `C:\x` is `<prefix>/drive_c/x` (and `Z:\x` is `/x`); natively it is
/// used as is.
fn resolve_windows_path(win: &str, prefix: Option<&Path>) -> PathBuf {
    let win = win.trim().trim_matches('"');
    let Some(prefix) = prefix else {
        return PathBuf::from(win);
    };
    let bytes = win.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' {
        let drive = (bytes[0] as char).to_ascii_lowercase();
        let rest: Vec<&str> = win[2..]
            .split(['\\', '/'])
            .filter(|s| !s.is_empty())
            .collect();
        let mut p = if drive == 'z' {
            PathBuf::from("/")
        } else {
            prefix.join(format!("drive_{drive}"))
        };
        for part in rest {
            p = child_ci(&p, part).unwrap_or_else(|| p.join(part));
        }
        return p;
    }
    PathBuf::from(win)
}

fn terminal_in(dir: &Path) -> Option<PathBuf> {
    child_ci(dir, "terminal64.exe").filter(|p| p.is_file())
}

fn scan_appdata(appdata: &Path, prefix: Option<&Path>, out: &mut Vec<Installation>) {
    let Some(mq) = child_ci(appdata, "MetaQuotes").and_then(|m| child_ci(&m, "Terminal")) else {
        return;
    };
    for data_dir in subdirs(&mq) {
        let Some(origin) = child_ci(&data_dir, "origin.txt") else {
            continue;
        };
        let Ok(bytes) = std::fs::read(&origin) else {
            continue;
        };
        let text = decode_text(&bytes);
        let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
            continue;
        };
        let install_dir = resolve_windows_path(first, prefix);
        let Some(terminal_exe) = terminal_in(&install_dir) else {
            continue;
        };
        out.push(Installation {
            metaeditor_exe: child_ci(&install_dir, "metaeditor64.exe").filter(|p| p.is_file()),
            install_dir,
            terminal_exe,
            id: data_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned()),
            data_dir,
            portable: false,
            wine_prefix: prefix.map(Path::to_path_buf),
        });
    }
}

fn scan_program_dir(dir: &Path, prefix: Option<&Path>, out: &mut Vec<Installation>) {
    for install_dir in std::iter::once(dir.to_path_buf()).chain(subdirs(dir)) {
        let Some(terminal_exe) = terminal_in(&install_dir) else {
            continue;
        };
        if out.iter().any(|i| i.install_dir == install_dir) {
            continue; // already known through its data folder
        }
        let has_data = child_ci(&install_dir, "MQL5").is_some_and(|m| m.is_dir());
        if !has_data {
            continue;
        }
        out.push(Installation {
            metaeditor_exe: child_ci(&install_dir, "metaeditor64.exe").filter(|p| p.is_file()),
            data_dir: install_dir.clone(),
            install_dir,
            terminal_exe,
            portable: true,
            wine_prefix: prefix.map(Path::to_path_buf),
            id: None,
        });
    }
}

/// Every installation found under `roots`: data-folder installs first, then
/// portable ones.
pub fn discover(roots: &DiscoveryRoots) -> Vec<Installation> {
    let mut out = Vec::new();
    for a in &roots.appdata {
        scan_appdata(a, None, &mut out);
    }
    for prefix in &roots.wine_prefixes {
        let users = prefix.join("drive_c").join("users");
        for user in subdirs(&users) {
            for rel in [
                ["AppData", "Roaming"].as_slice(),
                ["Application Data"].as_slice(),
            ] {
                let mut p = Some(user.clone());
                for part in rel {
                    p = p.and_then(|d| child_ci(&d, part));
                }
                if let Some(appdata) = p {
                    scan_appdata(&appdata, Some(prefix), &mut out);
                }
            }
        }
    }
    for d in &roots.program_dirs {
        scan_program_dir(d, None, &mut out);
    }
    for prefix in &roots.wine_prefixes {
        let drive_c = prefix.join("drive_c");
        for pf in ["Program Files", "Program Files (x86)"] {
            if let Some(d) = child_ci(&drive_c, pf) {
                scan_program_dir(&d, Some(prefix), &mut out);
            }
        }
    }
    out
}
