//! The `companion` desktop binary: starts the Tauri app.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    companion_app::run();
}
