//! Windows-only: MT5 discovery through the real `%APPDATA%` and `%ProgramFiles%` of the
//! running system (`DiscoveryRoots::from_env`). It writes a fixture tree there, so it only
//! runs when `COMPANION_WINE_FIXTURES=1` says the system is a throwaway Wine prefix
//! (`scripts/wine-e2e` sets it); elsewhere it is compiled out or skipped.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]
#![cfg(windows)]

use std::path::{Path, PathBuf};

use companion_terminal::discovery::{discover, DiscoveryRoots};

fn utf16le_with_bom(s: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

fn touch(p: &Path) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, b"MZ").unwrap();
}

#[test]
fn finds_data_folder_and_portable_installs_in_appdata_and_program_files() {
    if std::env::var("COMPANION_WINE_FIXTURES").as_deref() != Ok("1") {
        eprintln!("skipped: set COMPANION_WINE_FIXTURES=1 inside a throwaway Wine prefix");
        return;
    }
    let appdata = PathBuf::from(std::env::var_os("APPDATA").expect("APPDATA is set on Windows"));
    let program_files =
        PathBuf::from(std::env::var_os("ProgramFiles").expect("ProgramFiles is set on Windows"));

    // A standard install: binaries in Program Files (a path with spaces), data in %APPDATA%.
    let install = program_files.join("Companion Test MT5 Broker");
    touch(&install.join("terminal64.exe"));
    touch(&install.join("metaeditor64.exe"));
    let id = "D0E8209F77C8CF37AD8BF550E51FF075";
    let data = appdata.join("MetaQuotes").join("Terminal").join(id);
    std::fs::create_dir_all(data.join("MQL5").join("Experts")).unwrap();
    std::fs::write(
        data.join("origin.txt"),
        utf16le_with_bom(&format!("{}\r\n", install.display())),
    )
    .unwrap();

    // A portable install: data beside terminal64.exe.
    let portable = program_files.join("Companion Portable MT5");
    touch(&portable.join("terminal64.exe"));
    std::fs::create_dir_all(portable.join("MQL5")).unwrap();

    let found = discover(&DiscoveryRoots::from_env());

    let std_install = found
        .iter()
        .find(|i| i.id.as_deref() == Some(id))
        .unwrap_or_else(|| panic!("data-folder install not found in {found:#?}"));
    assert!(!std_install.portable);
    assert_eq!(std_install.data_dir, data);
    assert_eq!(std_install.install_dir, install);
    assert_eq!(std_install.terminal_exe, install.join("terminal64.exe"));
    assert_eq!(
        std_install.metaeditor_exe.as_deref(),
        Some(install.join("metaeditor64.exe").as_path())
    );
    assert_eq!(
        std_install.wine_prefix, None,
        "natively on Windows there is no prefix"
    );

    let port = found
        .iter()
        .find(|i| i.install_dir == portable)
        .unwrap_or_else(|| panic!("portable install not found in {found:#?}"));
    assert!(port.portable);
    assert_eq!(port.data_dir, portable);
    assert_eq!(port.metaeditor_exe, None);
    assert_eq!(
        found.iter().filter(|i| i.install_dir == install).count(),
        1,
        "the data-folder install must not be listed again as portable"
    );

    for p in [install, portable, data] {
        let _ = std::fs::remove_dir_all(p);
    }
}
