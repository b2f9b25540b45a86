//! Connection slots over the deadpool-redis pool: the hot path never waits for a checkout.
//!
//! A deadpool checkout runs a `PING` on every `get` and lends the connection to one user at a
//! time, which would double each check's round trips and waste multiplexing. Instead, each slot
//! keeps one pooled connection checked out and hands clones of its multiplexed handle to any
//! number of concurrent checks (redis-rs pipelines them on the one socket). Checks pick slots
//! round-robin. When a command fails on a dropped connection, every slot is invalidated (a
//! dropped connection usually means Redis restarted, and then all of them are dead); the next
//! check on a slot gives its connection back and takes one from the pool again, which `PING`s
//! it and replaces it if it is broken. A slot idle for longer than [`IDLE_CHECK_MS`] goes
//! through the same check before its next use, so a Redis that restarted during a quiet period
//! costs no failed check. So deadpool still owns creation, connect timeouts, health checks and
//! the bound on connections.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A slot unused for this long is checked (the pool's `PING`) before its next use.
pub(crate) const IDLE_CHECK_MS: u64 = 1000;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ::redis::aio::MultiplexedConnection;
use deadpool_redis::{Connection, Pool};

use crate::error::CacheError;

/// A handle on one slot's connection, cloned per check.
#[derive(Clone)]
pub(crate) struct Handle {
    slot: usize,
    generation: u64,
    refilled_ms: u64,
    pub(crate) conn: MultiplexedConnection,
}

struct Slot {
    /// The handle checks clone; `None` before the first use and after a failure.
    current: Mutex<Option<Handle>>,
    /// The pooled connection behind `current`, kept checked out; the lock makes refills of
    /// one slot single-flight.
    owner: tokio::sync::Mutex<Option<Connection>>,
    /// When a check last used this slot, in ms since the epoch.
    last_used_ms: AtomicU64,
}

/// `pool_size` slots over a pool of the same size.
pub(crate) struct Slots {
    pool: Pool,
    slots: Box<[Slot]>,
    next: AtomicUsize,
    generation: AtomicU64,
}

impl fmt::Debug for Slots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slots")
            .field("slots", &self.slots.len())
            .field("open", &self.open_connections())
            .finish_non_exhaustive()
    }
}

impl Slots {
    /// One slot per connection the pool may open (`size` at least 1).
    pub(crate) fn new(pool: Pool, size: usize) -> Self {
        let slots = (0..size.max(1))
            .map(|_| Slot {
                current: Mutex::new(None),
                owner: tokio::sync::Mutex::new(None),
                last_used_ms: AtomicU64::new(0),
            })
            .collect();
        Slots {
            pool,
            slots,
            next: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
        }
    }

    /// A connection for one command: the next slot's, (re)connecting it first if it has none
    /// or has been idle for longer than [`IDLE_CHECK_MS`].
    pub(crate) async fn handle(&self, now_ms: u64) -> Result<Handle, CacheError> {
        let index = self
            .next
            .fetch_add(1, Ordering::Relaxed)
            .checked_rem(self.slots.len())
            .unwrap_or(0);
        let slot = self.slot(index)?;
        let last_used = slot.last_used_ms.swap(now_ms, Ordering::Relaxed);
        let idle = now_ms.saturating_sub(last_used) > IDLE_CHECK_MS;
        if !idle && let Some(handle) = lock(&slot.current).clone() {
            return Ok(handle);
        }
        let mut owner = slot.owner.lock().await;
        // Another check may have refilled the slot while this one waited.
        if let Some(handle) = lock(&slot.current).clone()
            && (!idle || handle.refilled_ms >= now_ms)
        {
            return Ok(handle);
        }
        // Give the old connection back; the pool PINGs it on the next checkout and replaces it
        // if it is broken.
        drop(owner.take());
        let conn = self.pool.get().await.map_err(pool_error)?;
        let handle = Handle {
            slot: index,
            generation: self.generation.fetch_add(1, Ordering::Relaxed),
            refilled_ms: now_ms,
            conn: MultiplexedConnection::clone(&conn),
        };
        *owner = Some(conn);
        *lock(&slot.current) = Some(handle.clone());
        Ok(handle)
    }

    /// The connection behind `handle` dropped: most likely Redis went away, and every slot's
    /// connection with it. Each slot is checked on its next use.
    pub(crate) fn invalidate_all(&self) {
        for slot in &*self.slots {
            *lock(&slot.current) = None;
        }
    }

    /// A command on `handle` failed: the next check on its slot reconnects (unless another
    /// check has already done so).
    pub(crate) fn invalidate(&self, handle: &Handle) {
        if let Ok(slot) = self.slot(handle.slot) {
            let mut current = lock(&slot.current);
            if current
                .as_ref()
                .is_some_and(|c| c.generation == handle.generation)
            {
                *current = None;
            }
        }
    }

    /// Connections the pool holds open.
    pub(crate) fn open_connections(&self) -> usize {
        self.pool.status().size
    }

    fn slot(&self, index: usize) -> Result<&Slot, CacheError> {
        self.slots
            .get(index)
            .ok_or_else(|| CacheError::Unavailable("no connection slot".into()))
    }
}

fn lock(m: &Mutex<Option<Handle>>) -> MutexGuard<'_, Option<Handle>> {
    // A slot holds no invariant that a panic could break halfway.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn pool_error(e: deadpool_redis::PoolError) -> CacheError {
    match e {
        deadpool_redis::PoolError::Timeout(kind) => {
            CacheError::Unavailable(format!("timed out taking a connection ({kind:?})"))
        }
        deadpool_redis::PoolError::Backend(e) => crate::redis_store::redis_error(&e),
        other => CacheError::Unavailable(other.to_string()),
    }
}
