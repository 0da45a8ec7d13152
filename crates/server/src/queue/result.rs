//! Results: placeholder
