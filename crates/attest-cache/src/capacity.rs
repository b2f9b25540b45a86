//! Capacity accounting for the memory store: a counter that never passes its bound.
//!
//! Pure code. A check reserves a slot *before* it inserts a new record, under the lock of the
//! record's shard; the slot is released when the record is reclaimed after its expiry (a record
//! replaced in place after it expired keeps its slot). So the count bounds the number of records
//! at every instant, and the store refuses instead of evicting.

use std::sync::atomic::{AtomicU64, Ordering};

/// A bounded counter of records held (or about to be).
#[derive(Debug)]
pub(crate) struct CapacityGate {
    used: AtomicU64,
    capacity: u64,
}

impl CapacityGate {
    /// A gate with room for `capacity` records.
    pub(crate) fn new(capacity: u64) -> Self {
        CapacityGate {
            used: AtomicU64::new(0),
            capacity,
        }
    }

    /// Takes one slot; false when all are taken. Never passes the bound, even under races.
    pub(crate) fn try_reserve(&self) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used < self.capacity).then(|| used.saturating_add(1))
            })
            .is_ok()
    }

    /// Gives one slot back. Saturates at zero (a release without a reservation is a bug, but
    /// must not wrap around into "full forever").
    pub(crate) fn release(&self) {
        // The closure always returns Some, so this cannot fail.
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(1))
            });
    }

    /// Slots taken.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// The bound.
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }
}
