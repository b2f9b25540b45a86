//! The bounded label vocabularies: every label value a metric can take is listed here.

/// The `outcome` label of a decided operation that succeeded.
pub const OUTCOME_SUCCESS: &str = "success";
/// The `outcome` label of a decided operation that failed.
pub const OUTCOME_FAILURE: &str = "failure";
/// The `outcome` label of an operation whose guard was dropped before it was finished (its
/// future was cancelled, or a bug forgot to finish it).
pub const OUTCOME_CANCELLED: &str = "cancelled";
/// The `reason` label when there is no failure.
pub const REASON_NONE: &str = "none";
/// The `issuer` label shared by every issuer outside the configured trusted set, so that an
/// attacker who mints tokens for random issuers cannot create new series.
pub const ISSUER_UNTRUSTED: &str = "untrusted";
/// The `issuer` label when no issuer could be read (no attestation, or a malformed token).
pub const ISSUER_NONE: &str = "none";

/// The result of a JWKS cache lookup: the `result` label of `attest_jwks_cache_lookups_total`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheLookup {
    /// Fresh keys were in the cache.
    Hit,
    /// The cache had nothing usable; a fetch follows.
    Miss,
    /// Expired keys were served because the issuer could not be reached.
    Stale,
}

impl CacheLookup {
    /// Every value.
    pub const ALL: [CacheLookup; 3] = [CacheLookup::Hit, CacheLookup::Miss, CacheLookup::Stale];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            CacheLookup::Hit => "hit",
            CacheLookup::Miss => "miss",
            CacheLookup::Stale => "stale",
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            CacheLookup::Hit => 0,
            CacheLookup::Miss => 1,
            CacheLookup::Stale => 2,
        }
    }
}

/// Why a JWKS fetch failed: the `reason` label of a failed `attest_jwks_fetches_total`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FetchFailure {
    /// The request timed out.
    Timeout,
    /// The connection failed (DNS, TCP, TLS).
    Network,
    /// The issuer answered with a non-success HTTP status.
    HttpStatus,
    /// The issuer redirected, or the URL was not HTTPS: refused by policy.
    Refused,
    /// The body was over the size cap.
    TooLarge,
    /// The body was not an acceptable JWKS.
    InvalidJwks,
    /// Anything else.
    Other,
}

impl FetchFailure {
    /// Every value.
    pub const ALL: [FetchFailure; 7] = [
        FetchFailure::Timeout,
        FetchFailure::Network,
        FetchFailure::HttpStatus,
        FetchFailure::Refused,
        FetchFailure::TooLarge,
        FetchFailure::InvalidJwks,
        FetchFailure::Other,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            FetchFailure::Timeout => "timeout",
            FetchFailure::Network => "network",
            FetchFailure::HttpStatus => "http_status",
            FetchFailure::Refused => "refused",
            FetchFailure::TooLarge => "too_large",
            FetchFailure::InvalidJwks => "invalid_jwks",
            FetchFailure::Other => "other",
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            FetchFailure::Timeout => 0,
            FetchFailure::Network => 1,
            FetchFailure::HttpStatus => 2,
            FetchFailure::Refused => 3,
            FetchFailure::TooLarge => 4,
            FetchFailure::InvalidJwks => 5,
            FetchFailure::Other => 6,
        }
    }
}

/// Why a token could not be created: the `reason` label of a failed
/// `attest_token_creations_total`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreateFailure {
    /// The builder refused its input (a missing field, a bad lifetime, a reserved claim name).
    InvalidInput,
    /// The signing key could not be loaded or used.
    KeyUnavailable,
    /// Anything else.
    Other,
}

impl CreateFailure {
    /// Every value.
    pub const ALL: [CreateFailure; 3] = [
        CreateFailure::InvalidInput,
        CreateFailure::KeyUnavailable,
        CreateFailure::Other,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            CreateFailure::InvalidInput => "invalid_input",
            CreateFailure::KeyUnavailable => "key_unavailable",
            CreateFailure::Other => "other",
        }
    }
}

impl From<&attest_core::BuildError> for CreateFailure {
    fn from(error: &attest_core::BuildError) -> Self {
        match error {
            attest_core::BuildError::Serialize(_) => CreateFailure::Other,
            _ => CreateFailure::InvalidInput,
        }
    }
}
