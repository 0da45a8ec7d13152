//! Test harness (filled by the foundation work).
