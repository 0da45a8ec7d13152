//! The desktop app's own update checks: when they run (a first check soon after the
//! start, then every few hours) and which results the trader is told about (a newer
//! version once, not at every check). Tauri-free; `src-tauri/src/updates.rs` runs it.

use std::time::Duration;

use super::UpdateInfo;

/// Seconds after the start before the first automatic check.
pub const DELAY_ENV: &str = "COMPANION_UPDATE_CHECK_DELAY_SECS";
/// Seconds between automatic checks; `0` turns them off.
pub const INTERVAL_ENV: &str = "COMPANION_UPDATE_CHECK_INTERVAL_SECS";

const DEFAULT_DELAY: Duration = Duration::from_secs(60);
const DEFAULT_INTERVAL: Duration = Duration::from_secs(6 * 3600);

/// When the automatic checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateSchedule {
    pub first_delay: Duration,
    /// `None`: no automatic checks (only Settings → "Check for updates").
    pub interval: Option<Duration>,
}

impl Default for UpdateSchedule {
    fn default() -> Self {
        UpdateSchedule {
            first_delay: DEFAULT_DELAY,
            interval: Some(DEFAULT_INTERVAL),
        }
    }
}

impl UpdateSchedule {
    /// The schedule from [`DELAY_ENV`] and [`INTERVAL_ENV`]; values that are not whole
    /// seconds keep the defaults (a minute, then every six hours).
    pub fn from_env() -> Self {
        Self::from_values(
            std::env::var(DELAY_ENV).ok().as_deref(),
            std::env::var(INTERVAL_ENV).ok().as_deref(),
        )
    }

    fn from_values(delay: Option<&str>, interval: Option<&str>) -> Self {
        let secs = |v: Option<&str>| v.and_then(|s| s.trim().parse::<u64>().ok());
        let mut s = UpdateSchedule::default();
        if let Some(d) = secs(delay) {
            s.first_delay = Duration::from_secs(d);
        }
        match secs(interval) {
            Some(0) => s.interval = None,
            Some(i) => s.interval = Some(Duration::from_secs(i)),
            None => {}
        }
        s
    }
}

/// The last check's result, and which version the trader was already told about.
#[derive(Debug, Default)]
pub struct UpdateWatch {
    last: Option<UpdateInfo>,
    announced: Option<String>,
}

impl UpdateWatch {
    /// Records a check's result (automatic or from Settings). True when it offers a
    /// version the trader has not been told about yet: notify once per version.
    pub fn record(&mut self, info: UpdateInfo) -> bool {
        let new = info.available
            && info.version.is_some()
            && info.version.as_deref() != self.announced.as_deref();
        if new {
            self.announced = info.version.clone();
        }
        self.last = Some(info);
        new
    }

    /// The last result, for Settings to show without checking again.
    pub fn last(&self) -> Option<UpdateInfo> {
        self.last.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(version: Option<&str>) -> UpdateInfo {
        UpdateInfo {
            available: version.is_some(),
            current_version: "0.1.0".into(),
            version: version.map(str::to_string),
            notes: version.map(|v| format!("What is new in {v}")),
            pub_date: None,
        }
    }

    #[test]
    fn a_new_version_is_announced_once() {
        let mut w = UpdateWatch::default();
        assert_eq!(w.last(), None);
        assert!(!w.record(info(None)), "nothing to announce");
        assert!(w.record(info(Some("0.2.0"))));
        assert!(!w.record(info(Some("0.2.0"))), "the same version again");
        assert_eq!(w.last().and_then(|i| i.version).as_deref(), Some("0.2.0"));
        assert!(w.record(info(Some("0.3.0"))), "a newer one");
        assert!(!w.record(info(None)));
        assert_eq!(
            w.last().map(|i| i.available),
            Some(false),
            "the last result is kept"
        );
    }

    #[test]
    fn schedule_defaults_and_overrides() {
        let d = UpdateSchedule::from_values(None, None);
        assert_eq!(d, UpdateSchedule::default());
        assert_eq!(d.first_delay, Duration::from_secs(60));
        assert_eq!(d.interval, Some(Duration::from_secs(21_600)));
        let s = UpdateSchedule::from_values(Some("2"), Some("120"));
        assert_eq!(s.first_delay, Duration::from_secs(2));
        assert_eq!(s.interval, Some(Duration::from_secs(120)));
        assert_eq!(UpdateSchedule::from_values(None, Some("0")).interval, None);
        assert_eq!(
            UpdateSchedule::from_values(Some("soon"), Some("-1")),
            UpdateSchedule::default()
        );
    }
}
