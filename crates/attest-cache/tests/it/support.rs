//! Helpers shared by the integration tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use attest_cache::{CacheError, Freshness, ReplayStore};
use attest_core::UnixTime;
use tokio::sync::Barrier;

pub(crate) const ISS: &str = "https://issuer.example";

/// `now + secs`, as a token's `exp + leeway` would be.
pub(crate) fn until(secs: u64) -> UnixTime {
    UnixTime::from(SystemTime::now()).saturating_add(secs)
}

/// Milliseconds since the epoch for a `UnixTime`.
pub(crate) fn millis(t: UnixTime) -> u64 {
    t.as_secs() * 1000
}

/// Sleeps until the wall clock has passed `t` (plus a margin for Redis' own expiry cycle).
pub(crate) async fn sleep_past(t: UnixTime) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let target = Duration::from_secs(t.as_secs()) + Duration::from_millis(50);
    if let Some(wait) = target.checked_sub(now) {
        tokio::time::sleep(wait).await;
    }
}

/// A key prefix no other test (or run, on a shared `REDIS_URL`) uses.
pub(crate) fn unique_prefix(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "attest-test:{test}:{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `n` concurrent checks of one `(issuer, jti)`, released together by a barrier.
pub(crate) async fn race(
    store: Arc<dyn ReplayStore>,
    n: usize,
    jti: &str,
    record_until: UnixTime,
) -> Vec<Result<Freshness, CacheError>> {
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            let jti = jti.to_owned();
            tokio::spawn(async move {
                barrier.wait().await;
                store.check_and_record(ISS, &jti, record_until).await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

/// Counts of (fresh, replayed, errors).
pub(crate) fn tally(results: &[Result<Freshness, CacheError>]) -> (usize, usize, usize) {
    let fresh = results
        .iter()
        .filter(|r| matches!(r, Ok(Freshness::Fresh)))
        .count();
    let replayed = results
        .iter()
        .filter(|r| matches!(r, Ok(Freshness::Replayed)))
        .count();
    (fresh, replayed, results.len() - fresh - replayed)
}
