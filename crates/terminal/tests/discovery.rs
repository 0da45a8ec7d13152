//! Terminal discovery on fixture trees laid out like Windows, Wine and portable installs.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

use std::path::Path;

use companion_terminal::discovery::{discover, DiscoveryRoots};
use companion_terminal::toolchain::text::encode_utf16le_bom;

fn touch(p: &Path) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, b"MZ").unwrap();
}

#[test]
fn finds_data_folders_portable_installs_and_wine_prefixes() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();

    // Wine prefix: install in Program Files, data folder in the user's AppData.
    let prefix = r.join("wineprefix");
    let install = prefix.join("drive_c/Program Files/MetaTrader 5");
    touch(&install.join("terminal64.exe"));
    touch(&install.join("metaeditor64.exe"));
    let data = prefix.join(
        "drive_c/users/trader/AppData/Roaming/MetaQuotes/Terminal/D0E8209F77C8CF37AD8BF550E51FF075",
    );
    std::fs::create_dir_all(data.join("MQL5/Experts")).unwrap();
    std::fs::write(
        data.join("origin.txt"),
        encode_utf16le_bom("C:\\Program Files\\MetaTrader 5"),
    )
    .unwrap();
    // A stale data folder whose install is gone, and one without origin.txt.
    let stale = prefix.join(
        "drive_c/users/trader/AppData/Roaming/MetaQuotes/Terminal/0123456789ABCDEF0123456789ABCDEF",
    );
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(
        stale.join("origin.txt"),
        b"C:\\Program Files\\Gone Broker MT5\r\n",
    )
    .unwrap();
    std::fs::create_dir_all(
        prefix.join("drive_c/users/trader/AppData/Roaming/MetaQuotes/Terminal/Common"),
    )
    .unwrap();

    // Portable install inside the same prefix (data beside the exe).
    let portable = prefix.join("drive_c/Program Files/Broker Portable");
    touch(&portable.join("terminal64.exe"));
    std::fs::create_dir_all(portable.join("MQL5/Experts")).unwrap();

    // A native (Windows-layout) AppData root whose origin.txt is UTF-8 and names
    // an existing folder directly.
    let native_install = r.join("native/MT5 Broker");
    touch(&native_install.join("terminal64.exe"));
    let native_data = r.join("native/AppData/MetaQuotes/Terminal/ABCDEF");
    std::fs::create_dir_all(&native_data).unwrap();
    std::fs::write(
        native_data.join("origin.txt"),
        native_install.display().to_string(),
    )
    .unwrap();

    let found = discover(&DiscoveryRoots {
        appdata: vec![r.join("native/AppData")],
        program_dirs: vec![],
        wine_prefixes: vec![prefix.clone()],
    });
    assert_eq!(found.len(), 3, "{found:#?}");

    let native = &found[0];
    assert_eq!(native.install_dir, native_install);
    assert_eq!(native.data_dir, native_data);
    assert!(!native.portable);
    assert_eq!(native.wine_prefix, None);
    assert_eq!(native.metaeditor_exe, None);

    let wine = &found[1];
    assert_eq!(wine.install_dir, install);
    assert_eq!(wine.terminal_exe, install.join("terminal64.exe"));
    assert_eq!(wine.metaeditor_exe, Some(install.join("metaeditor64.exe")));
    assert_eq!(wine.data_dir, data);
    assert_eq!(wine.id.as_deref(), Some("D0E8209F77C8CF37AD8BF550E51FF075"));
    assert_eq!(wine.mql5_dir(), data.join("MQL5"));
    assert_eq!(wine.wine_prefix.as_deref(), Some(prefix.as_path()));

    let port = &found[2];
    assert!(port.portable);
    assert_eq!(port.data_dir, portable);
    assert_eq!(port.install_dir, portable);
}

#[test]
fn empty_or_missing_roots_find_nothing() {
    let root = tempfile::tempdir().unwrap();
    let found = discover(&DiscoveryRoots {
        appdata: vec![root.path().join("nope")],
        program_dirs: vec![root.path().to_path_buf()],
        wine_prefixes: vec![root.path().join("no-prefix")],
    });
    assert!(found.is_empty());
}
