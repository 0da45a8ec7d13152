//! Setting a terminal up for the bridge: the bridge EA's version string, where its
//! files go in a data folder, and the startup configuration that makes the
//! terminal run it with the agent's port and token whenever it is started with
//! `terminal64.exe /config:"<data>\Config\companion_bridge.ini"`.
//!
//! What MT5 reads (docs/mt5.md, "Terminal setup": verified vs unverified): a
//! `[StartUp]` section (`Expert`, `ExpertParameters` = a `.set` file in
//! `MQL5\Presets`, `Symbol`, `Period`) and `[Experts]` (`AllowLiveTrading`,
//! `AllowDllImport`, `Enabled`). The URL list that sockets need is not part of the
//! documented startup configuration: the user adds `127.0.0.1` by hand.
//!
//! The token is in the `.set` file only, never in a command line; both files are
//! written private to their owner (0600 on Unix).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::ea::{BRIDGE_EA_FILE, BRIDGE_EA_SOURCE, EXPERTS_SUBDIR};
use crate::toolchain::text::encode_utf16le_bom;

/// File name of the startup configuration, under `<data>/Config/`.
pub const STARTUP_INI: &str = "companion_bridge.ini";
/// File name of the bridge's inputs, under `<data>/MQL5/Presets/`.
pub const BRIDGE_SET: &str = "CompanionBridge.set";
/// `[StartUp] Expert=`: relative to `MQL5\Experts`, without extension.
pub const BRIDGE_EXPERT: &str = "Companion\\CompanionBridge";

/// The `#property version "…"` of an MQL5 source.
pub fn ea_version(source: &str) -> Option<String> {
    source.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("#property")?.trim_start();
        let rest = rest.strip_prefix("version")?.trim();
        let v = rest.strip_prefix('"')?.split('"').next()?;
        Some(v.to_string())
    })
}

/// The version string of the bridge EA bundled with this build.
pub fn bundled_bridge_version() -> String {
    ea_version(BRIDGE_EA_SOURCE).unwrap_or_else(|| "unknown".into())
}

/// Where the bridge's files are (or go) in a data folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeFiles {
    pub source: PathBuf,
    pub ex5: PathBuf,
    pub set: PathBuf,
    pub ini: PathBuf,
}

impl BridgeFiles {
    pub fn in_data_dir(data_dir: &Path) -> Self {
        let experts = data_dir.join("MQL5").join("Experts").join(EXPERTS_SUBDIR);
        BridgeFiles {
            source: experts.join(BRIDGE_EA_FILE),
            ex5: experts.join(BRIDGE_EA_FILE.replace(".mq5", ".ex5")),
            set: data_dir.join("MQL5").join("Presets").join(BRIDGE_SET),
            ini: data_dir.join("Config").join(STARTUP_INI),
        }
    }
}

/// What is installed in a data folder right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledBridge {
    /// `None`: no source file.
    pub source_version: Option<String>,
    /// The source is byte for byte the bundled one.
    pub source_current: bool,
    /// An `.ex5` exists and is not older than the source.
    pub compiled: bool,
    pub ex5_exists: bool,
    pub startup_ini: bool,
    pub set_file: bool,
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Reads what the data folder holds of the bridge.
pub fn inspect(data_dir: &Path) -> InstalledBridge {
    let f = BridgeFiles::in_data_dir(data_dir);
    let source = std::fs::read(&f.source).ok();
    let source_version = source
        .as_deref()
        .map(|b| ea_version(&String::from_utf8_lossy(b)).unwrap_or_else(|| "unknown".into()));
    let compiled = match (modified(&f.source), modified(&f.ex5)) {
        (Some(s), Some(e)) => e >= s,
        _ => false,
    };
    InstalledBridge {
        source_current: source.as_deref() == Some(BRIDGE_EA_SOURCE.as_bytes()),
        source_version,
        compiled,
        ex5_exists: f.ex5.is_file(),
        startup_ini: f.ini.is_file(),
        set_file: f.set.is_file(),
    }
}

/// The bridge's inputs (`InpHost`, `InpPort`, `InpToken`) as a `.set` file.
pub fn bridge_set_file(port: u16, token: &str) -> String {
    let token: String = token.chars().filter(|c| !c.is_control()).collect();
    format!("InpHost=127.0.0.1\r\nInpPort={port}\r\nInpToken={token}\r\nInpDeviation=20\r\n")
}

/// Reads `InpPort`/`InpToken` back from a `.set` file (UTF-16 or UTF-8).
pub fn read_bridge_set(bytes: &[u8]) -> (Option<u16>, Option<String>) {
    let text = crate::toolchain::decode_text(bytes);
    let mut port = None;
    let mut token = None;
    for line in text.lines() {
        if let Some(v) = line.trim().strip_prefix("InpPort=") {
            port = v.trim().parse().ok();
        } else if let Some(v) = line.trim().strip_prefix("InpToken=") {
            token = Some(v.trim().to_string());
        }
    }
    (port, token)
}

/// The startup configuration: live trading allowed for experts, the bridge on a
/// `symbol`/`period` chart with the inputs of [`BRIDGE_SET`].
pub fn startup_ini(symbol: &str, period: &str) -> String {
    let mut s = String::new();
    s.push_str("[Experts]\r\nAllowLiveTrading=1\r\nAllowDllImport=0\r\nEnabled=1\r\nAccount=0\r\nProfile=0\r\n");
    s.push_str("\r\n[StartUp]\r\n");
    let _ = write!(s, "Expert={BRIDGE_EXPERT}\r\n");
    let _ = write!(s, "ExpertParameters={BRIDGE_SET}\r\n");
    let _ = write!(s, "Symbol={symbol}\r\nPeriod={period}\r\n");
    s
}

/// Writes `bytes` to `path` readable by its owner only (0600 on Unix from the
/// first byte), creating the parent folders.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    {
        use std::io::Write;
        let mut f = opts.open(path)?;
        f.write_all(bytes)?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Writes the `.set` (UTF-16LE, as MT5 saves them) and the startup `.ini`.
pub fn write_startup(
    data_dir: &Path,
    port: u16,
    token: &str,
    symbol: &str,
    period: &str,
) -> std::io::Result<BridgeFiles> {
    let f = BridgeFiles::in_data_dir(data_dir);
    write_private(&f.set, &encode_utf16le_bom(&bridge_set_file(port, token)))?;
    write_private(&f.ini, &encode_utf16le_bom(&startup_ini(symbol, period)))?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_version_is_read_from_the_source() {
        assert_eq!(
            ea_version("#property copyright \"x\"\n#property version   \"2.5\"\n").as_deref(),
            Some("2.5")
        );
        assert_eq!(ea_version("int x;"), None);
        assert_ne!(bundled_bridge_version(), "unknown");
    }

    #[test]
    fn set_files_round_trip_through_utf16() {
        let bytes = encode_utf16le_bom(&bridge_set_file(17555, "tok\nen"));
        assert_eq!(read_bridge_set(&bytes), (Some(17555), Some("token".into())));
    }

    #[test]
    fn startup_ini_names_the_bridge_and_its_inputs() {
        let ini = startup_ini("EURUSD", "H1");
        assert!(ini.contains("[StartUp]\r\nExpert=Companion\\CompanionBridge\r\nExpertParameters=CompanionBridge.set\r\nSymbol=EURUSD\r\nPeriod=H1\r\n"));
        assert!(ini.contains("AllowLiveTrading=1"));
        assert!(!ini.contains("Token"), "the token is only in the .set file");
    }
}
