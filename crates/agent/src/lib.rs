//! companion-agent (skeleton; filled by its issue).
