//! `KeySource`: where the verifier gets an issuer's key for a `kid`, possibly over the network.

use std::future::Future;
use std::pin::Pin;

use attest_core::{KeyResolver, PublicKey, TrustStore};
use attest_jwks::{JwksError, JwksResolver};

/// Why a key could not be found.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyLookupError {
    /// The issuer publishes no usable key under this `kid`.
    #[error("no usable key for this issuer and kid")]
    Unknown,
    /// The issuer's keys cannot be obtained right now.
    #[error("keys unavailable: {0}")]
    Unavailable(String),
}

/// The future returned by [`KeySource::resolve`].
pub type KeyFuture<'a> =
    Pin<Box<dyn Future<Output = Result<PublicKey, KeyLookupError>> + Send + 'a>>;

/// An asynchronous key lookup by `(issuer, kid)`.
///
/// Implementations must bind keys to their issuer: a key published by one issuer is never
/// returned for another. attest-jwks's resolver implements it for issuers discovered over
/// HTTPS; [`TrustStore`] implements it for keys known up front (static JWKS files, tests).
pub trait KeySource: Send + Sync {
    /// The usable key that `issuer` publishes under `kid`.
    fn resolve<'a>(&'a self, issuer: &'a str, kid: &'a str) -> KeyFuture<'a>;
}

impl KeySource for TrustStore {
    fn resolve<'a>(&'a self, issuer: &'a str, kid: &'a str) -> KeyFuture<'a> {
        let key = KeyResolver::resolve(self, issuer, kid).ok_or(KeyLookupError::Unknown);
        Box::pin(std::future::ready(key))
    }
}

/// Keys discovered over HTTPS (attest-jwks): cached, refreshed ahead of expiry, refetched once
/// on an unknown `kid`, served stale while the issuer is down, then failing closed.
impl KeySource for JwksResolver {
    fn resolve<'a>(&'a self, issuer: &'a str, kid: &'a str) -> KeyFuture<'a> {
        Box::pin(async move {
            JwksResolver::resolve(self, issuer, kid)
                .await
                .map_err(|e| match e {
                    // An issuer the resolver was not configured for publishes nothing we know.
                    JwksError::KeyUnknown | JwksError::IssuerNotConfigured => {
                        KeyLookupError::Unknown
                    }
                    other => KeyLookupError::Unavailable(other.to_string()),
                })
        })
    }
}
