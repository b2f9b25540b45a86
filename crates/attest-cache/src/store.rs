//! The `ReplayStore` trait and what a check returns.

use std::future::Future;
use std::pin::Pin;

use attest_core::UnixTime;

use crate::error::CacheError;

/// What a replay check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use = "a Replayed token must be refused"]
pub enum Freshness {
    /// The `jti` was not recorded; it is now, until the given expiry. Accept the token.
    Fresh,
    /// The `jti` was already recorded and has not expired. Refuse the token
    /// (`attestation_replay`).
    Replayed,
}

impl Freshness {
    /// Whether the token may be accepted.
    pub fn is_fresh(self) -> bool {
        matches!(self, Freshness::Fresh)
    }
}

/// How a store is doing, for readiness probes and dashboards.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// Checks are answered by the configured backend.
    Healthy,
    /// Checks are answered, but with weaker guarantees than configured: a Redis store serving
    /// from its memory fallback (replays across replicas are not detected).
    Degraded {
        /// Why, for operators. Never contains a `jti`.
        reason: String,
    },
    /// Checks fail closed: every token is refused until this clears.
    Unhealthy {
        /// Why, for operators. Never contains a `jti`.
        reason: String,
    },
}

/// The future a check returns.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<Freshness, CacheError>> + Send + 'a>>;

/// A store of recently seen `(issuer, jti)` pairs.
///
/// Call it only after a token has passed every other check (attest-core's `verify` returned
/// `Ok`), with `record_until` = [`attest_core::Verified::replay_record_until`]
/// (`exp + leeway`): a rejected token must not burn its `jti`.
///
/// `check_and_record` is atomic per `(issuer, jti)`: of any number of concurrent calls with the
/// same pair, exactly one returns [`Freshness::Fresh`]. Any `Err` means the token must be
/// refused: stores fail closed.
///
/// ```
/// # async fn demo(store: &dyn attest_cache::ReplayStore, verified: &attest_core::Verified)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use attest_cache::Freshness;
/// match store
///     .check_and_record(verified.issuer(), verified.jti(), verified.replay_record_until())
///     .await?
/// {
///     Freshness::Fresh => { /* serve the request */ }
///     Freshness::Replayed => return Err("attestation_replay".into()),
/// }
/// # Ok(()) }
/// ```
pub trait ReplayStore: Send + Sync {
    /// Records `jti` for `issuer` until `record_until` unless it is already recorded, in one
    /// atomic step. Input is checked before any I/O (see [`crate::KeyScheme::digest`]).
    fn check_and_record<'a>(
        &'a self,
        issuer: &'a str,
        jti: &'a str,
        record_until: UnixTime,
    ) -> CheckFuture<'a>;

    /// The store's health as last observed. Cheap; performs no I/O.
    fn health(&self) -> Health;
}
