//! The error of attest-jwks, and the cause of an unavailable key set.
//!
//! No variant carries a dependency's type: hyper, rustls and I/O failures are kept as strings,
//! so a dependency upgrade never changes this API.

use std::fmt;

use attest_core::Reason;
use attest_observe::FetchFailure;

/// Why a key could not be resolved, or why the resolver or key ring refused a request.
///
/// For a peer, map it with [`JwksError::reason`]: a kid the issuer does not publish is
/// [`Reason::KeyUnknown`], keys that cannot be had right now are [`Reason::Unavailable`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// The issuer is not configured in this resolver. Nothing was fetched: only configured
    /// issuers are ever contacted.
    #[error("issuer is not configured for key discovery")]
    IssuerNotConfigured,
    /// The issuer's current key set has no usable key under this `kid` (after at most one
    /// refetch, rate-limited per issuer).
    #[error("the issuer publishes no usable key under this kid")]
    KeyUnknown,
    /// No usable key set can be had for the issuer right now: the decision fails closed.
    #[error("the issuer's keys are unavailable: {0}")]
    Unavailable(UnavailableCause),
    /// The configuration was refused when the resolver was built.
    #[error("invalid key-discovery configuration: {0}")]
    Config(String),
    /// A key ring refused a rotation: the new key's `kid` is already published.
    #[error("kid {0:?} is already published by this key ring")]
    KidInUse(String),
}

impl JwksError {
    /// The coarse, stable reason to report to a peer (SPEC.md §7).
    ///
    /// - [`JwksError::KeyUnknown`] → `attestation_key_unknown`;
    /// - [`JwksError::IssuerNotConfigured`] → `attestation_issuer_untrusted` (the resolver holds
    ///   no keys for that issuer, so it cannot be trusted here);
    /// - everything else → `attestation_unavailable` (fail closed).
    pub fn reason(&self) -> Reason {
        match self {
            JwksError::KeyUnknown => Reason::KeyUnknown,
            JwksError::IssuerNotConfigured => Reason::IssuerUntrusted,
            JwksError::Unavailable(_) | JwksError::Config(_) | JwksError::KidInUse(_) => {
                Reason::Unavailable
            }
        }
    }
}

/// Why an issuer's key set could not be had: the last fetch's failure, or the breaker.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnavailableCause {
    /// The issuer's circuit breaker is open: no request was sent.
    CircuitOpen,
    /// Connecting or the whole request took longer than its timeout.
    Timeout,
    /// Name resolution, TCP, TLS or HTTP framing failed.
    Network(String),
    /// The issuer answered with a status other than 200 (or 304 to a conditional request).
    Status(u16),
    /// The issuer redirected. Redirects are never followed.
    Redirect(u16),
    /// The URL is not `https://` (plain `http://` is allowed only for loopback hosts, and only
    /// with the development switch).
    InsecureUrl,
    /// The body is larger than the cap (refused from `Content-Length`, or cut off while
    /// streaming).
    TooLarge {
        /// The cap, in bytes.
        max: usize,
    },
    /// The body is not an acceptable JWKS: bad JSON, too many keys, a private key, or no
    /// usable key at all.
    InvalidJwks(String),
    /// The resolver is not running inside a tokio runtime, so it cannot fetch.
    NoRuntime,
}

impl UnavailableCause {
    /// The `reason` label of `attest_jwks_fetches_total{outcome="failure"}` for this cause.
    pub fn failure_label(&self) -> FetchFailure {
        match self {
            UnavailableCause::Timeout => FetchFailure::Timeout,
            UnavailableCause::Network(_) => FetchFailure::Network,
            UnavailableCause::Status(_) => FetchFailure::HttpStatus,
            UnavailableCause::Redirect(_) | UnavailableCause::InsecureUrl => FetchFailure::Refused,
            UnavailableCause::TooLarge { .. } => FetchFailure::TooLarge,
            UnavailableCause::InvalidJwks(_) => FetchFailure::InvalidJwks,
            UnavailableCause::CircuitOpen | UnavailableCause::NoRuntime => FetchFailure::Other,
        }
    }
}

impl fmt::Display for UnavailableCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnavailableCause::CircuitOpen => f.write_str("circuit breaker open"),
            UnavailableCause::Timeout => f.write_str("timed out"),
            UnavailableCause::Network(detail) => write!(f, "network error: {detail}"),
            UnavailableCause::Status(status) => write!(f, "HTTP status {status}"),
            UnavailableCause::Redirect(status) => {
                write!(
                    f,
                    "redirect (HTTP {status}) refused: redirects are never followed"
                )
            }
            UnavailableCause::InsecureUrl => f.write_str("URL refused: https is required"),
            UnavailableCause::TooLarge { max } => write!(f, "body over the {max}-byte cap"),
            UnavailableCause::InvalidJwks(detail) => write!(f, "invalid JWKS: {detail}"),
            UnavailableCause::NoRuntime => f.write_str("no tokio runtime to fetch with"),
        }
    }
}
