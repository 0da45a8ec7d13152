//! companion-server (skeleton; filled by its issue).
