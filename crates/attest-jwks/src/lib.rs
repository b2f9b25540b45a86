//! attest-jwks: key discovery for verifiers, and key publishing for issuers.
//!
//! This is the only attest crate that talks to issuers over the network, so it is built to stay
//! correct when they are slow, down, hostile or rotating keys.
//!
//! # Verifier side: [`JwksResolver`]
//! `resolve(issuer, kid)` returns the issuer's public key for that kid, fetching and caching the
//! issuer's JWKS:
//! - **Only configured issuers are fetched**, each from `{iss}/.well-known/jwks.json` or an
//!   override ([`IssuerSource`]); static sets and files go through the same API.
//! - **HTTPS only** ([`HttpConfig`]): plain `http://` only for a loopback host, with the
//!   development switch. Redirects are never followed. Connect and whole-request timeouts. The
//!   body is capped while it streams. Parsing is attest-core's strict [`KeySet::parse`].
//! - **Cache** ([`cache::CachePolicy`]): TTL from `Cache-Control: max-age`, clamped;
//!   background refresh ahead of expiry, so a hit never waits on the network; stale keys are
//!   served while the issuer fails, for a bounded time, then lookups fail closed; a failed
//!   refresh never evicts good keys; conditional refresh with `If-None-Match`.
//! - **Unknown kid**: one refetch, single-flight, at most once per issuer per cooldown (≥ 30 s),
//!   then a negative cache.
//! - **Retry** ([`retry::RetryPolicy`]) with exponential backoff and jitter, honouring
//!   `Retry-After`; a **circuit breaker** per issuer ([`breaker::CircuitBreaker`]).
//! - **Metrics and spans** through attest-observe on the real path.
//!
//! The decisions (cache, retry, breaker) are sans-IO state machines in [`cache`], [`retry`] and
//! [`breaker`]: they take `now` and events and do no I/O, so they are tested without sockets or
//! sleeps. The resolver is the thin async driver that carries them out.
//!
//! # Issuer side: [`KeyRing`]
//! The current signing key plus the retired public keys still inside their overlap (the maximum
//! token lifetime plus leeway), served with `Cache-Control` and a strong `ETag`, answering
//! `If-None-Match` with 304. [`KeyRing::rotate`] and [`KeyRing::prune`] rotate without a
//! restart; [`publish::router`] (feature `axum`, default) serves it.
//!
//! # Example
//! ```no_run
//! use attest_core::{Policy, UnixTime, dangerous};
//! use attest_jwks::JwksResolver;
//! use attest_observe::Observer;
//!
//! # async fn example(token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let policy = Policy::builder()
//!     .trusted_issuer("https://issuer.example")
//!     .audience("https://tools.example")
//!     .build()?;
//! let observer = Observer::builder().policy(&policy).build()?;
//! let resolver = JwksResolver::builder(observer)
//!     .issuer("https://issuer.example")
//!     .build()?;
//!
//! // Read the issuer and kid (unverified), check the issuer is trusted *before* any lookup,
//! // fetch the key, then verify.
//! let unverified = dangerous::decode_unverified(token, &policy)?;
//! if !policy.trusts(unverified.issuer()) {
//!     return Err("untrusted issuer".into());
//! }
//! let key = resolver.resolve(unverified.issuer(), unverified.kid()).await?;
//! let verified = unverified.verify(&key, &policy, UnixTime::from(std::time::SystemTime::now()))?;
//! println!("agent: {}", verified.claims().agent_identity.model_family);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod breaker;
pub mod cache;
mod clock;
mod error;
mod http;
pub mod publish;
mod resolver;
pub mod retry;
mod url;

pub use attest_core::KeySet;
pub use clock::{Clock, SystemClock};
pub use error::{JwksError, UnavailableCause};
pub use http::HttpConfig;
pub use publish::{JwksResponse, KeyRing, KeyRingConfig};
pub use resolver::{
    IssuerSource, IssuerStatus, JwksResolver, JwksResolverBuilder, KEYS_REJECTED, REJECTED_LABELS,
};
pub use url::{JwksUrl, WELL_KNOWN_JWKS_PATH};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests;
