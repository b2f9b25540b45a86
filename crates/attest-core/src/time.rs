//! `UnixTime`: seconds since the Unix epoch, passed in by the caller.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, in whole seconds since the Unix epoch.
///
/// attest-core never reads the clock; callers pass `now` in. Converting from a [`SystemTime`]
/// the caller already holds is provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(u64);

impl UnixTime {
    /// A time from seconds since the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        UnixTime(secs)
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// This time plus `secs`, saturating at the end of time.
    pub const fn saturating_add(self, secs: u64) -> Self {
        UnixTime(self.0.saturating_add(secs))
    }
}

impl From<SystemTime> for UnixTime {
    /// Times before the epoch become the epoch.
    fn from(t: SystemTime) -> Self {
        UnixTime(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }
}

impl From<UnixTime> for SystemTime {
    fn from(t: UnixTime) -> Self {
        UNIX_EPOCH
            .checked_add(Duration::from_secs(t.0))
            .unwrap_or(UNIX_EPOCH)
    }
}
