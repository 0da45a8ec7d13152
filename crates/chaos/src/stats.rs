//! Latency summaries: percentiles over a sample of durations.

use std::time::Duration;

/// p50 / p99 / max of a sample, in milliseconds.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Summary {
    pub n: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Summarises `samples` (sorted in place). Empty samples give zeros.
pub fn summarize(samples: &mut [Duration]) -> Summary {
    samples.sort_unstable();
    let at = |p: f64| {
        if samples.is_empty() {
            return 0.0;
        }
        let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
        samples[idx].as_secs_f64() * 1000.0
    };
    Summary {
        n: samples.len(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    }
}
