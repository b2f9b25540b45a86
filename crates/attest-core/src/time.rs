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

    /// This time as RFC 3339 in UTC, to the second, e.g. `2026-09-21T14:13:20Z`.
    pub fn to_rfc3339(self) -> String {
        let days = self.0 / 86_400;
        let rem = self.0 % 86_400;
        let (year, month, day) = civil_from_days(days);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
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

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm, for
/// non-negative day counts). Years beyond `u64` range cannot occur: `days <= u64::MAX / 86400`.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, so that leap days fall at the end of a year.
    let z = days.saturating_add(719_468);
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, [0, 146096]
    // year of era, [0, 399]; every term is bounded by doe, so none overflows.
    let yoe = doe
        .saturating_sub(doe / 1460)
        .saturating_add(doe / 36_524)
        .saturating_sub(doe / 146_096)
        / 365;
    let doy = doe.saturating_sub(
        yoe.saturating_mul(365)
            .saturating_add(yoe / 4)
            .saturating_sub(yoe / 100),
    ); // [0, 365]
    let mp = doy.saturating_mul(5).saturating_add(2) / 153; // [0, 11]
    let day = doy
        .saturating_sub(mp.saturating_mul(153).saturating_add(2) / 5)
        .saturating_add(1);
    let month = if mp < 10 {
        mp.saturating_add(3)
    } else {
        mp.saturating_sub(9)
    };
    let year = yoe
        .saturating_add(era.saturating_mul(400))
        .saturating_add(u64::from(month <= 2));
    (year, month, day)
}
