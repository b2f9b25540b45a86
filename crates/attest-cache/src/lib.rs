//! attest-cache: replay protection for agent attestation, on memory or Redis.
//!
//! After attest-core's `verify` accepts a token, the server asks a [`ReplayStore`] whether the
//! token's `jti` has been seen, and records it if not, in one atomic step:
//!
//! ```
//! use attest_cache::{Freshness, MemoryReplayStore, ReplayStore};
//! use attest_core::UnixTime;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), attest_cache::CacheError> {
//! let store = MemoryReplayStore::with_capacity(100_000)?;
//! let until = UnixTime::from(std::time::SystemTime::now()).saturating_add(330); // exp + leeway
//! let first = store.check_and_record("https://issuer.example", "jti-1", until).await?;
//! let again = store.check_and_record("https://issuer.example", "jti-1", until).await?;
//! assert_eq!((first, again), (Freshness::Fresh, Freshness::Replayed));
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//! - **Atomic:** of concurrent checks of one `(issuer, jti)`, exactly one is
//!   [`Freshness::Fresh`]. Redis: one `SET key 1 NX PXAT <ms>` per check, never `SETNX` then
//!   `EXPIRE`. Memory: one insert-if-absent under the lock of the record's shard.
//! - **Kept until `exp + leeway`** (`record_until`, from attest-core's
//!   `Verified::replay_record_until`), then gone on its own. Re-acceptance after that is safe
//!   because the verifier itself refuses the token by then.
//! - **Per issuer, never raw:** keys are `{prefix}:{sha256(issuer)}:{sha256(jti)}` in
//!   base64url ([`KeyScheme`]); a hostile `jti` cannot inject key syntax or collide across
//!   issuers. An empty or over-long `jti` is refused before any I/O.
//! - **Fail closed:** any `Err` means refuse the token. A full [`MemoryReplayStore`] refuses
//!   with [`CacheError::Capacity`] and never evicts a live record; an unreachable Redis refuses
//!   with a backend error unless [`Fallback::Memory`] is configured, which degrades loudly.
//!
//! # Backends
//! - [`MemoryReplayStore`]: one process. Bounded by a capacity it enforces itself.
//! - [`RedisReplayStore`]: shared by every replica (deadpool-redis pool, `redis://` or
//!   `rediss://`, AUTH/ACL from the URL, timeouts on connect and on each command). Works with
//!   a single node; with Redis Cluster each check is a single-key command, so no hash tags are
//!   needed.
//!
//! # Metrics
//! [`ReplayMetrics::register`] adds the `attest_replay_*` families to a Prometheus registry;
//! pass it to the store builders and the real check path moves them.
//!
//! Logs never contain a raw `jti` (at most the 8-character [`KeyDigest::log_label`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod capacity;
mod clock;
mod error;
mod health;
mod key;
mod memory;
mod metrics;
mod redis_store;
mod slots;
mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::CacheError;
pub use health::Fallback;
pub use key::{
    DEFAULT_MAX_JTI_BYTES, DEFAULT_PREFIX, ISSUER_HASH_CHARS, JTI_HASH_CHARS, KeyDigest, KeyScheme,
    MAX_PREFIX_BYTES,
};
pub use memory::{DEFAULT_CAPACITY, MemoryReplayStore, MemoryStoreBuilder};
pub use metrics::{
    BACKEND_ERRORS_TOTAL, BACKEND_FALLBACK, BACKEND_MEMORY, BACKEND_REDIS, CHECK_DURATION_SECONDS,
    CHECKS_TOTAL, DURATION_BUCKETS, FALLBACK_ACTIVATIONS_TOTAL, OUTCOME_CAPACITY, OUTCOME_ERROR,
    OUTCOME_FRESH, OUTCOME_REJECTED, OUTCOME_REPLAYED, REPLAYS_DETECTED_TOTAL, ReplayMetrics,
};
pub use redis_store::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_POOL_SIZE, DEFAULT_PROBE_INTERVAL,
    RedisConfig, RedisReplayStore,
};
pub use store::{CheckFuture, Freshness, Health, ReplayStore};

#[cfg(test)]
mod tests;
