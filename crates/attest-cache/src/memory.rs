//! `MemoryReplayStore`: a bounded, in-process replay store that never evicts a live record.
//!
//! Records live in 64 shards, each a hash map from the key digest to the record's expiry behind
//! its own lock, with a min-heap of expiries beside it. A check locks one shard for a few hundred
//! nanoseconds, so checks on different cores rarely meet; the capacity bound is one atomic
//! counter shared by all shards.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::collections::hash_map::{Entry, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use attest_core::UnixTime;

use crate::capacity::CapacityGate;
use crate::clock::{Clock, SystemClock, unix_millis};
use crate::error::CacheError;
use crate::key::{KeyDigest, KeyScheme};
use crate::metrics::{BACKEND_MEMORY, BackendMetrics, ReplayMetrics};
use crate::store::{CheckFuture, Freshness, Health, ReplayStore};

/// The default capacity of a memory store: one million records (about 200 MB at most).
pub const DEFAULT_CAPACITY: u64 = 1_000_000;

/// Shards of a store: a power of two, enough that two cores rarely want the same lock.
const SHARDS: usize = 64;

/// Expired records a check reclaims from its own shard on the way, at most: enough to keep
/// pace with inserts (each insert adds one record), without making any check slow.
const RECLAIM_PER_CHECK: usize = 2;

/// A record's key in a shard's map. Equality is the whole digest; the hash is 16 of its bytes
/// through the map's keyed SipHash, which is as collision-resistant as hashing all 64 (they
/// are SHA-256 output) and cheaper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot(KeyDigest);

impl Hash for Slot {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (issuer, jti) = self.0.words();
        state.write_u64(jti);
        state.write_u64(issuer);
    }
}

/// A record's expiry, in a shard's heap. Ordered by time only.
#[derive(Debug, Clone, Copy)]
struct Expiry {
    until_ms: u64,
    digest: KeyDigest,
}

impl PartialEq for Expiry {
    fn eq(&self, other: &Self) -> bool {
        self.until_ms == other.until_ms
    }
}

impl Eq for Expiry {}

impl PartialOrd for Expiry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Expiry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.until_ms.cmp(&other.until_ms)
    }
}

/// One shard: the records (digest → when the record stops counting, in milliseconds since the
/// epoch) and their expiries, soonest first.
///
/// Every record has an entry in `expiries` with its current `until_ms`. A record replaced after
/// it expired leaves its old entry behind; that entry is recognised (its time no longer matches
/// the record's) and dropped when it comes up.
#[derive(Debug, Default)]
struct Shard {
    records: HashMap<Slot, u64>,
    expiries: BinaryHeap<Reverse<Expiry>>,
}

impl Shard {
    /// Removes up to `budget` records that have expired by `now`, soonest first, giving their
    /// slots back to `gate`. Work in proportion to what has expired, never to the size.
    fn reclaim(&mut self, now_ms: u64, budget: usize, gate: &CapacityGate) {
        for _ in 0..budget {
            match self.expiries.peek() {
                Some(Reverse(next)) if next.until_ms <= now_ms => {}
                _ => return,
            }
            let Some(Reverse(expired)) = self.expiries.pop() else {
                return;
            };
            if let Entry::Occupied(record) = self.records.entry(Slot(expired.digest))
                && *record.get() == expired.until_ms
            {
                record.remove();
                gate.release();
            }
        }
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
        Ok(MemoryReplayStore {
            shards: Box::new(std::array::from_fn(|_| Mutex::default())),
            gate: CapacityGate::new(self.capacity),
            clock: self.clock,
            keys: self.keys,
            metrics: self.metrics.map(|m| m.for_backend(BACKEND_MEMORY)),
        })
    }
}

/// An in-process replay store: bounded, atomic per `(issuer, jti)`, and fail-closed when full.
///
/// - **It never evicts an unexpired record.** Its bound is enforced by the store itself: at
///   capacity a new `jti` is refused with [`CacheError::Capacity`], and records already held
///   stay replays.
/// - Each record expires at its own `record_until`, by the store's clock, and its slot is given
///   back when it is reclaimed: a few at a time by the checks that pass through its shard, all
///   at once by a full store before it refuses, or by [`run_maintenance`](Self::run_maintenance).
///   Reclaiming costs in proportion to what has expired, never to the size.
/// - Insert-if-absent is one step under the lock of the record's shard: of concurrent checks of
///   one `jti`, exactly one is [`Freshness::Fresh`].
///
/// Protection covers this process only. Replicas behind a load balancer need a shared store
/// (`RedisReplayStore`).
#[derive(Debug)]
pub struct MemoryReplayStore {
    shards: Box<[Mutex<Shard>; SHARDS]>,
    gate: CapacityGate,
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
        let started = self.metrics.as_ref().map(|_| Instant::now());
        let result = self
            .keys
            .digest(issuer, jti)
            .and_then(|digest| self.check_digest(&digest, unix_millis(record_until)));
        if let (Some(metrics), Some(started)) = (&self.metrics, started) {
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
        if let Some(freshness) = self.record(digest, until_ms, now) {
            return Ok(freshness);
        }
        // Full, and the jti is new. Reclaim expired records (in every shard, in proportion to
        // what has expired), once, then decide. A replay was answered above, full or not.
        self.reclaim(now, usize::MAX);
        self.record(digest, until_ms, now)
            .ok_or(CacheError::Capacity {
                capacity: self.gate.capacity(),
            })
    }

    /// Insert if absent, in one step under the shard's lock; `None` when a new record is needed
    /// and the store is full.
    fn record(&self, digest: &KeyDigest, until_ms: u64, now_ms: u64) -> Option<Freshness> {
        let mut shard = self.shard(digest);
        shard.reclaim(now_ms, RECLAIM_PER_CHECK, &self.gate);
        match shard.records.entry(Slot(*digest)) {
            Entry::Occupied(record) if *record.get() > now_ms => return Some(Freshness::Replayed),
            // Expired by the store's clock but not reclaimed yet: replaced in place, keeping
            // its slot. Its old expiry entry is dropped when it comes up.
            Entry::Occupied(mut record) => {
                record.insert(until_ms);
            }
            Entry::Vacant(vacant) => {
                if !self.gate.try_reserve() {
                    return None;
                }
                vacant.insert(until_ms);
            }
        }
        shard.expiries.push(Reverse(Expiry {
            until_ms,
            digest: *digest,
        }));
        Some(Freshness::Fresh)
    }

    /// The shard of `digest`, locked. A poisoned lock is taken over: no code under it can leave
    /// a shard half-updated (a panic there could only be an allocation failure, which aborts).
    fn shard(&self, digest: &KeyDigest) -> MutexGuard<'_, Shard> {
        let (_, jti) = digest.words();
        // The top bits of the jti hash; the maps hash other bits, with a key.
        let index = usize::try_from(jti >> 58).unwrap_or(0);
        let [first, ..] = &*self.shards;
        self.shards
            .get(index)
            .unwrap_or(first)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Reclaims up to `budget` expired records from every shard.
    fn reclaim(&self, now_ms: u64, budget: usize) {
        for shard in self.shards.iter() {
            shard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .reclaim(now_ms, budget, &self.gate);
        }
    }

    /// Whether a live record exists for `digest` (no insert).
    pub(crate) fn contains_live(&self, digest: &KeyDigest, now_ms: u64) -> bool {
        self.shard(digest)
            .records
            .get(&Slot(*digest))
            .is_some_and(|until_ms| *until_ms > now_ms)
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
        self.reclaim(self.clock.now_millis(), usize::MAX);
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
