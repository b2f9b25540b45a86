//! The one error type of attest-cache.

/// Why a replay check could not decide, or a store could not be built.
///
/// Every variant means the token must be **refused**: a replay store that cannot say "fresh"
/// fails closed. The variants differ in who is at fault and what an operator should do:
/// - input refused before any I/O: [`EmptyIssuer`](Self::EmptyIssuer),
///   [`EmptyJti`](Self::EmptyJti), [`JtiTooLong`](Self::JtiTooLong),
///   [`AlreadyExpired`](Self::AlreadyExpired);
/// - the memory store is full: [`Capacity`](Self::Capacity) (it never evicts to make room);
/// - the backend failed: [`Unavailable`](Self::Unavailable), [`Timeout`](Self::Timeout),
///   [`UnexpectedReply`](Self::UnexpectedReply);
/// - configuration: [`Config`](Self::Config), [`Metrics`](Self::Metrics).
///
/// No variant carries a dependency's type; backend failures are wrapped as text, which never
/// contains the `jti`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The issuer is empty.
    #[error("the issuer is empty")]
    EmptyIssuer,
    /// The `jti` is empty.
    #[error("the jti is empty")]
    EmptyJti,
    /// The `jti` is longer than the store's cap. Refused before any I/O.
    #[error("the jti is {len} bytes, over the cap of {max}")]
    JtiTooLong {
        /// Its length in bytes.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The record's expiry is not in the future: the token has already expired, and recording
    /// it would record nothing. The token must be refused.
    #[error("the record expiry is not in the future: the token has expired")]
    AlreadyExpired,
    /// The memory store holds as many unexpired records as it may. It refuses new tokens until
    /// records expire, rather than evict one (an eviction would re-open a replay window).
    #[error("the replay store is full ({capacity} unexpired records)")]
    Capacity {
        /// The configured capacity.
        capacity: u64,
    },
    /// The backend (Redis) could not be reached or failed the command.
    #[error("the replay store is unavailable: {0}")]
    Unavailable(String),
    /// The backend did not answer within the configured time.
    #[error("the replay store did not answer within {millis} ms")]
    Timeout {
        /// The timeout that elapsed, in milliseconds.
        millis: u64,
    },
    /// The backend answered something the protocol does not allow here.
    #[error("the replay store gave an unexpected reply: {0}")]
    UnexpectedReply(String),
    /// The configuration is invalid (URL, prefix, sizes, timeouts).
    #[error("invalid replay store configuration: {0}")]
    Config(String),
    /// A metric family could not be registered.
    #[error("replay metric {name} could not be registered: {detail}")]
    Metrics {
        /// The family's name.
        name: &'static str,
        /// The registry's description.
        detail: String,
    },
}

impl CacheError {
    /// Whether the failure is the backend's (unreachable, timed out, bad reply) rather than the
    /// input's or the configuration's. These are the errors a `fallback = memory` store
    /// degrades on, and the ones a server reports as `attestation_unavailable`.
    pub fn is_backend_failure(&self) -> bool {
        matches!(
            self,
            CacheError::Unavailable(_)
                | CacheError::Timeout { .. }
                | CacheError::UnexpectedReply(_)
        )
    }

    /// The `outcome` label this error is counted under in `attest_replay_checks_total`.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            CacheError::Capacity { .. } => crate::metrics::OUTCOME_CAPACITY,
            CacheError::EmptyIssuer
            | CacheError::EmptyJti
            | CacheError::JtiTooLong { .. }
            | CacheError::AlreadyExpired => crate::metrics::OUTCOME_REJECTED,
            _ => crate::metrics::OUTCOME_ERROR,
        }
    }
}
