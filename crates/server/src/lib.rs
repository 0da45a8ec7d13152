//! companion-server (skeleton; filled by its issue).

pub mod webhook;
