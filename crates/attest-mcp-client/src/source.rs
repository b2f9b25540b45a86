//! The `TokenSource` trait, the clock it reads, freshness modes, and `StaticToken`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use attest_core::UnixTime;
use attest_protocol::Token;

use crate::error::ClientError;

/// A boxed, `Send` future: what [`TokenSource::token`] returns, so the trait stays
/// dyn-compatible (`Arc<dyn TokenSource>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Supplies attestation tokens for a server, identified by its audience.
///
/// Implementations: [`StaticToken`] (a fixed token), [`crate::LocalSigner`] (mints with a
/// local key) and [`crate::RemoteIssuer`] (asks an issuer's token endpoint). Those that mint
/// cache one token per audience and refresh it before it expires
/// ([`crate::is_fresh`]), or mint a new one for every call under
/// [`Freshness::PerRequest`].
///
/// The trait is dyn-compatible: share one source as `Arc<dyn TokenSource>`.
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// A token for `audience`: the server's identifier, which the token's `aud` must name.
    fn token<'a>(&'a self, audience: &'a str) -> BoxFuture<'a, Result<Token, ClientError>>;

    /// Whether every call returns a token with a fresh `jti`.
    fn freshness(&self) -> Freshness;
}

impl<S: TokenSource + ?Sized> TokenSource for Arc<S> {
    fn token<'a>(&'a self, audience: &'a str) -> BoxFuture<'a, Result<Token, ClientError>> {
        (**self).token(audience)
    }

    fn freshness(&self) -> Freshness {
        (**self).freshness()
    }
}

/// When a token source hands out a new token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Freshness {
    /// A cached token is reused until it enters its refresh window. Right for servers that bind
    /// the attestation to a session (`initialize`), or that do not record `jti`s. The default.
    #[default]
    PerSession,
    /// Every call returns a new token with a fresh `jti`. Required by stateless servers
    /// (protocol 2026-07-28) whose replay store records every `jti` they accept: a second use
    /// of one token is refused there as `attestation_replay` (SPEC.md §9.4).
    PerRequest,
}

/// Where a token source reads the time. The default is [`SystemClock`]; tests pass a clock
/// they move by hand, so refresh is tested without sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, in whole seconds since the epoch.
    fn now(&self) -> UnixTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        UnixTime::from(SystemTime::now())
    }
}

/// A fixed token, handed out as it is for every audience and every request. It is never
/// refreshed: when it expires, the server refuses it.
///
/// It supports [`Freshness::PerSession`] only; [`StaticToken::with_freshness`] refuses
/// [`Freshness::PerRequest`] with [`ClientError::FreshnessUnsupported`].
#[derive(Clone)]
pub struct StaticToken {
    token: Token,
}

impl StaticToken {
    /// A fixed token. An empty string is refused.
    pub fn new(token: impl Into<String>) -> Result<StaticToken, ClientError> {
        Ok(StaticToken {
            token: Token::new(token)?,
        })
    }

    /// A fixed token, checked against the freshness the caller needs: a fixed token cannot
    /// have a fresh `jti` per request, so [`Freshness::PerRequest`] is refused.
    pub fn with_freshness(
        token: impl Into<String>,
        freshness: Freshness,
    ) -> Result<StaticToken, ClientError> {
        match freshness {
            Freshness::PerSession => StaticToken::new(token),
            Freshness::PerRequest => Err(ClientError::FreshnessUnsupported),
        }
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticToken")
            .field("token", &self.token)
            .finish()
    }
}

impl TokenSource for StaticToken {
    fn token<'a>(&'a self, _audience: &'a str) -> BoxFuture<'a, Result<Token, ClientError>> {
        let token = self.token.clone();
        Box::pin(std::future::ready(Ok(token)))
    }

    fn freshness(&self) -> Freshness {
        Freshness::PerSession
    }
}
