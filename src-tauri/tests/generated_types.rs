//! The committed TypeScript types of the UI (`ui/src/lib/generated/types.ts`) are
//! what the Rust types render to. Fails when a Rust type changed without
//! regenerating; `COMPANION_WRITE_TYPES=1` (what `scripts/gen-types` sets) rewrites it.

#![allow(
    clippy::unwrap_used,
    reason = "integration test: a panic in a helper is a failed test"
)]

use std::path::PathBuf;

use companion_agent::app::typescript::{render, GENERATED_PATH};

#[test]
fn the_generated_typescript_types_are_up_to_date() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(GENERATED_PATH);
    let fresh = render();
    if std::env::var_os("COMPANION_WRITE_TYPES").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{GENERATED_PATH} is stale: a Rust type the UI uses changed. Run `scripts/gen-types` and commit the result."
    );
}
