//! attest-observe: Prometheus metrics and tracing spans for agent attestation.
//!
//! Metrics only count if the real code path moves them. This crate owns the metric families and
//! the span names; the crates that do the work (the verifier, the token issuer, the JWKS cache)
//! take an [`Observer`] and call it on their real path. It depends on attest-core only (for
//! [`attest_core::Reason`]), so any crate can report into it without a dependency cycle.
//!
//! # Reporting
//! - A verification: [`Observer::start_verification`] returns a [`VerificationGuard`]; set the
//!   issuer and `kid` when known, then [`finish`](VerificationGuard::finish) with the decision.
//!   [`Observer::verify`] does all of it around [`attest_core::verify`].
//! - A token creation: [`Observer::start_token_creation`] and [`CreationGuard::finish`].
//! - Key discovery: [`Observer::start_jwks_fetch`] and [`FetchGuard::finish`];
//!   [`Observer::record_jwks_cache`], [`Observer::record_circuit_open`],
//!   [`Observer::set_cached_keys`].
//!
//! No function here accepts a token, so a token cannot reach a span or a label through it.
//!
//! # The families
//! All names are in [`names`]. Counters carry `outcome` (`success`, `failure`, `cancelled`) and
//! `reason` (`none`, or a stable reason string); latency is a histogram per `outcome`, with
//! [`LATENCY_BUCKETS`] from 10 µs to 10 s. The `issuer` label is bounded: issuers outside the
//! configured trusted set share the value [`ISSUER_UNTRUSTED`].
//!
//! # Serving `/metrics`
//! [`Observer::metrics_response`] returns status, content type and body; no server framework
//! is needed. With axum:
//!
//! ```text
//! let observer = observer.clone();
//! let app = axum::Router::new().route("/metrics", axum::routing::get(move || async move {
//!     let r = observer.metrics_response();
//!     let status = axum::http::StatusCode::from_u16(r.status).unwrap_or_default();
//!     (status, [(axum::http::header::CONTENT_TYPE, r.content_type)], r.body)
//! }));
//! ```
//!
//! With hyper 1.x, inside `service_fn`:
//!
//! ```text
//! let r = observer.metrics_response();
//! hyper::Response::builder()
//!     .status(r.status)
//!     .header(hyper::header::CONTENT_TYPE, r.content_type)
//!     .body(http_body_util::Full::new(bytes::Bytes::from(r.body)))
//! ```
//!
//! # Example
//! ```
//! use attest_observe::Observer;
//! use attest_core::Reason;
//! use std::time::Duration;
//! # fn main() -> Result<(), attest_observe::ObserveError> {
//! let observer = Observer::builder().trusted_issuer("https://issuer.example").build()?;
//!
//! let mut guard = observer.start_verification();
//! guard.set_issuer("https://issuer.example");
//! guard.finish(Err(Reason::Expired));
//!
//! let text = observer.encode_text()?;
//! assert!(text.contains(r#"attest_verifications_total{issuer="https://issuer.example",outcome="failure",reason="attestation_expired"} 1"#));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod exposition;
mod guard;
mod labels;
mod observer;

pub use error::ObserveError;
pub use exposition::{CONTENT_TYPE, MetricsResponse, encode_text, metrics_response};
pub use guard::{CreationGuard, FetchGuard, VerificationGuard};
pub use labels::{
    CacheLookup, CreateFailure, FetchFailure, ISSUER_NONE, ISSUER_UNTRUSTED, OUTCOME_CANCELLED,
    OUTCOME_FAILURE, OUTCOME_SUCCESS, REASON_NONE,
};
pub use observer::{LATENCY_BUCKETS, Observer, ObserverBuilder};
/// The prometheus crate this one is built on, so that your metrics can share its registry.
pub use prometheus;

/// The metric family names (SPEC.md, "Metrics").
pub mod names {
    /// Counter `{issuer, outcome, reason}`: verifications decided or cancelled.
    pub const VERIFICATIONS: &str = "attest_verifications_total";
    /// Histogram `{outcome}`: seconds to decide a verification.
    pub const VERIFY_SECONDS: &str = "attest_verification_duration_seconds";
    /// Gauge: verifications in flight.
    pub const ACTIVE_VERIFICATIONS: &str = "attest_active_verifications";
    /// Counter `{issuer}`: replayed `jti`s detected.
    pub const REPLAYS: &str = "attest_replays_detected_total";
    /// Counter `{outcome, reason}`: tokens created.
    pub const TOKEN_CREATIONS: &str = "attest_token_creations_total";
    /// Histogram `{outcome}`: seconds to create a token.
    pub const CREATE_SECONDS: &str = "attest_token_creation_duration_seconds";
    /// Counter `{issuer, result}`: JWKS cache lookups (`hit`, `miss`, `stale`).
    pub const JWKS_CACHE_LOOKUPS: &str = "attest_jwks_cache_lookups_total";
    /// Counter `{issuer, outcome, reason}`: JWKS fetches; failures are `outcome="failure"`.
    pub const JWKS_FETCHES: &str = "attest_jwks_fetches_total";
    /// Histogram `{outcome}`: seconds per JWKS fetch.
    pub const JWKS_FETCH_SECONDS: &str = "attest_jwks_fetch_duration_seconds";
    /// Gauge: public keys in the JWKS cache.
    pub const CACHED_KEYS: &str = "attest_jwks_cached_keys";
    /// Counter `{issuer}`: circuit-breaker openings.
    pub const CIRCUIT_OPENS: &str = "attest_circuit_breaker_opens_total";

    /// Every family name.
    pub const ALL: [&str; 11] = [
        VERIFICATIONS,
        VERIFY_SECONDS,
        ACTIVE_VERIFICATIONS,
        REPLAYS,
        TOKEN_CREATIONS,
        CREATE_SECONDS,
        JWKS_CACHE_LOOKUPS,
        JWKS_FETCHES,
        JWKS_FETCH_SECONDS,
        CACHED_KEYS,
        CIRCUIT_OPENS,
    ];
}

/// The span names.
pub mod spans {
    /// One verification: fields `issuer`, `kid`, `outcome`, `reason`, `detail`.
    pub const VERIFY: &str = "attestation.verify";
    /// One token creation: fields `issuer`, `kid`, `outcome`, `reason`.
    pub const CREATE_TOKEN: &str = "attestation.create_token";
    /// One JWKS fetch: fields `issuer`, `outcome`, `reason`, `keys`.
    pub const JWKS_FETCH: &str = "attestation.jwks_fetch";
}

#[cfg(test)]
mod tests;
