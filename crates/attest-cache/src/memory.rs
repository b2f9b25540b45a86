//! `MemoryReplayStore`: a bounded, in-process replay store on moka that never evicts a live
//! record.

use std::sync::Arc;
use std::time::{Duration, Instant};

use attest_core::UnixTime;
use moka::Expiry;
use moka::sync::Cache;

use crate::capacity::CapacityGate;
use crate::clock::{Clock, SystemClock, unix_millis};
use crate::error::CacheError;
use crate::key::{KeyDigest, KeyScheme};
use crate::metrics::{BACKEND_MEMORY, BackendMetrics, ReplayMetrics};
use crate::store::{CheckFuture, Freshness, Health, ReplayStore};

/// The default capacity of a memory store: one million records (about 200 MB at most).
pub const DEFAULT_CAPACITY: u64 = 1_000_000;

/// One record: when it stops counting, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy)]
struct Record {
    until_ms: u64,
}

/// Expires each record at its own `until_ms`, read against the store's clock.
#[derive(Debug)]
struct RecordExpiry {
    clock: Arc<dyn Clock>,
}

impl RecordExpiry {
    fn remaining(&self, record: &Record) -> Option<Duration> {
        Some(Duration::from_millis(
            record.until_ms.saturating_sub(self.clock.now_millis()),
        ))
    }
}

impl Expiry<KeyDigest, Record> for RecordExpiry {
    fn expire_after_create(
        &self,
        _key: &KeyDigest,
        value: &Record,
        _created_at: Instant,
    ) -> Option<Duration> {
        self.remaining(value)
    }

    fn expire_after_update(
        &self,
        _key: &KeyDigest,
        value: &Record,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        // A replaced record (its predecessor had expired by the store's clock) lives until its
        // own expiry, not the predecessor's.
        self.remaining(value)
    }
}

/// Builds a [`MemoryReplayStore`].
#[derive(Debug, Clone)]
pub struct MemoryStoreBuilder {
    capacity: u64,
    keys: KeyScheme,
    clock: Arc<dyn Clock>,
    metrics: Option<ReplayMetrics>,
}

impl Default for MemoryStoreBuilder {
    fn default() -> Self {
        MemoryStoreBuilder {
            capacity: DEFAULT_CAPACITY,
            keys: KeyScheme::default(),
            clock: Arc::new(SystemClock),
            metrics: None,
        }
    }
}

impl MemoryStoreBuilder {
    /// The most unexpired records held at once (default [`DEFAULT_CAPACITY`]). At this bound
    /// new `jti`s are refused with [`CacheError::Capacity`]; nothing is evicted.
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = capacity;
        self
    }

    /// The key scheme (for the memory store only its `jti` cap matters: records are keyed by
    /// the hashes, and no prefix is needed).
    pub fn key_scheme(mut self, keys: KeyScheme) -> Self {
        self.keys = keys;
        self
    }

    /// The clock records are expired against (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Report into these metrics (`backend="memory"`).
    pub fn metrics(mut self, metrics: &ReplayMetrics) -> Self {
        self.metrics = Some(metrics.clone());
        self
    }

    /// Builds the store.
    ///
    /// # Errors
    /// [`CacheError::Config`] for a capacity of 0.
    pub fn build(self) -> Result<MemoryReplayStore, CacheError> {
        if self.capacity == 0 {
            return Err(CacheError::Config(
                "the memory store capacity must be at least 1".into(),
            ));
        }
        let gate = Arc::new(CapacityGate::new(self.capacity));
        let listener_gate = Arc::clone(&gate);
        // No max_capacity: moka must never evict by size. The gate bounds the store instead.
        let cache = Cache::builder()
            .initial_capacity(usize::try_from(self.capacity.min(4096)).unwrap_or(4096))
            .expire_after(RecordExpiry {
                clock: Arc::clone(&self.clock),
            })
            // Every record leaves exactly once (expired, or replaced after it expired by the
            // store's clock), and gives its slot back then.
            .eviction_listener(move |_key, _record, _cause| listener_gate.release())
            .build();
        Ok(MemoryReplayStore {
            cache,
            gate,
            clock: self.clock,
            keys: self.keys,
            metrics: self.metrics.map(|m| m.for_backend(BACKEND_MEMORY)),
        })
    }
}

/// An in-process replay store: bounded, atomic per `(issuer, jti)`, and fail-closed when full.
///
/// - **It never evicts an unexpired record.** Its bound is enforced by the store itself, not by
///   moka's size eviction (which is off): at capacity a new `jti` is refused with
///   [`CacheError::Capacity`], and records already held stay replays.
/// - Each record expires at its own `record_until` (moka's per-entry expiry), and its slot is
///   given back then. A full store reclaims expired records once before it refuses; otherwise
///   no check does more than O(1) work.
/// - Insert-if-absent is one atomic moka operation: of concurrent checks of one `jti`, exactly
///   one is [`Freshness::Fresh`].
///
/// Protection covers this process only. Replicas behind a load balancer need a shared store
/// (`RedisReplayStore`).
#[derive(Debug)]
pub struct MemoryReplayStore {
    cache: Cache<KeyDigest, Record>,
    gate: Arc<CapacityGate>,
    clock: Arc<dyn Clock>,
    keys: KeyScheme,
    metrics: Option<BackendMetrics>,
}

impl MemoryReplayStore {
    /// A builder with the defaults: [`DEFAULT_CAPACITY`], default key scheme, system clock, no
    /// metrics.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder::default()
    }

    /// A store with `capacity` and the other defaults.
    ///
    /// # Errors
    /// [`CacheError::Config`] for a capacity of 0.
    pub fn with_capacity(capacity: u64) -> Result<Self, CacheError> {
        Self::builder().capacity(capacity).build()
    }

    /// The synchronous check behind [`ReplayStore::check_and_record`]: the memory store never
    /// waits, so a caller without a runtime may use this directly.
    ///
    /// # Errors
    /// Input errors (before anything is touched), [`CacheError::AlreadyExpired`], and
    /// [`CacheError::Capacity`] when full.
    pub fn check(
        &self,
        issuer: &str,
        jti: &str,
        record_until: UnixTime,
    ) -> Result<Freshness, CacheError> {
        let started = Instant::now();
        let result = self
            .keys
            .digest(issuer, jti)
            .and_then(|digest| self.check_digest(&digest, unix_millis(record_until)));
        if let Some(metrics) = &self.metrics {
            metrics.record(&result, started.elapsed());
        }
        if let Err(CacheError::Capacity { capacity }) = &result {
            tracing::warn!(
                capacity,
                "replay store full: refusing a new jti rather than evicting a live one"
            );
        }
        result
    }

    /// The check on an already-validated digest (shared with the Redis store's fallback).
    pub(crate) fn check_digest(
        &self,
        digest: &KeyDigest,
        until_ms: u64,
    ) -> Result<Freshness, CacheError> {
        let now = self.clock.now_millis();
        if until_ms <= now {
            return Err(CacheError::AlreadyExpired);
        }
        if !self.gate.try_reserve() {
            // Full. A replay is still a replay, whatever the capacity.
            if self.contains_live(digest, now) {
                return Ok(Freshness::Replayed);
            }
            // Reclaim expired records (moka's timer wheel: work in proportion to what has
            // expired, not to the size), once, then decide.
            self.cache.run_pending_tasks();
            if !self.gate.try_reserve() {
                return Err(CacheError::Capacity {
                    capacity: self.gate.capacity(),
                });
            }
        }
        // Insert if absent, or replace a record that has expired by the store's clock but that
        // moka has not reclaimed yet. One atomic step per key.
        let entry = self
            .cache
            .entry(*digest)
            .or_insert_with_if(|| Record { until_ms }, |old| old.until_ms <= now);
        if entry.is_fresh() {
            Ok(Freshness::Fresh)
        } else {
            self.gate.release();
            Ok(Freshness::Replayed)
        }
    }

    /// Whether a live record exists for `digest` (no insert).
    pub(crate) fn contains_live(&self, digest: &KeyDigest, now_ms: u64) -> bool {
        self.cache
            .get(digest)
            .is_some_and(|record| record.until_ms > now_ms)
    }

    /// Records held, counting any not yet reclaimed after expiry. Never above
    /// [`capacity`](Self::capacity).
    pub fn len(&self) -> u64 {
        self.gate.used()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The configured bound.
    pub fn capacity(&self) -> u64 {
        self.gate.capacity()
    }

    /// Reclaims expired records now. Checks do this by themselves when the store is full; this
    /// is for callers that want an accurate [`len`](Self::len).
    pub fn run_maintenance(&self) {
        self.cache.run_pending_tasks();
    }

    /// The key scheme.
    pub fn key_scheme(&self) -> &KeyScheme {
        &self.keys
    }
}

impl ReplayStore for MemoryReplayStore {
    fn check_and_record<'a>(
        &'a self,
        issuer: &'a str,
        jti: &'a str,
        record_until: UnixTime,
    ) -> CheckFuture<'a> {
        Box::pin(async move { self.check(issuer, jti, record_until) })
    }

    fn health(&self) -> Health {
        if self.gate.used() >= self.gate.capacity() {
            Health::Unhealthy {
                reason: format!(
                    "full: {} records, new tokens are refused until some expire",
                    self.gate.capacity()
                ),
            }
        } else {
            Health::Healthy
        }
    }
}
