//! `Clock`: where a store reads `now`. The system clock in production, a manual one in tests.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use attest_core::UnixTime;

/// A source of wall-clock time, in milliseconds since the Unix epoch.
///
/// The memory store decides "is this record still alive?" against it, and the Redis store uses
/// it only to refuse an expiry that is already past before sending anything. Redis itself
/// expires keys on its own clock (`PXAT`), so the servers' clocks must agree to within the
/// verification leeway, as they must for `exp` anyway.
pub trait Clock: Debug + Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    }
}

/// A clock that moves only when told to. Clones share the same time.
///
/// For tests: expiry can be checked without sleeping. The memory store reads it for every
/// decision, reclamation included: a record is dead as soon as this clock passes its expiry.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    millis: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: UnixTime) -> Self {
        let clock = ManualClock::default();
        clock.set(start);
        clock
    }

    /// Sets the time to `t` (whole seconds).
    pub fn set(&self, t: UnixTime) {
        self.millis
            .store(t.as_secs().saturating_mul(1000), Ordering::SeqCst);
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        // fetch_update with a closure that always returns Some never fails.
        let _ = self
            .millis
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |m| {
                Some(m.saturating_add(by))
            });
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.millis.load(Ordering::SeqCst)
    }
}

/// `t` in milliseconds since the epoch, saturating.
pub(crate) fn unix_millis(t: UnixTime) -> u64 {
    t.as_secs().saturating_mul(1000)
}
