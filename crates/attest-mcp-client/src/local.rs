//! `LocalSigner`: mints tokens with a signing key the agent holds.

use std::fmt;
use std::sync::Arc;

use attest_core::{BuildError, Confirmation, PublicKey, SigningKey, TokenBuilder, UnixTime};
use attest_protocol::Token;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use zeroize::Zeroizing;

use crate::error::ClientError;
use crate::refresh::{Cached, TokenCache};
use crate::source::{BoxFuture, Clock, Freshness, SystemClock, TokenSource};

/// Mints attestation tokens with a local [`SigningKey`], from a [`TokenBuilder`] template.
///
/// The template holds everything but the audience: issuer, subject, identity, metadata,
/// integrity, lifetime and `typ`. Each call to [`TokenSource::token`] signs it for the requested
/// audience at the current time, with a fresh UUID v4 `jti` drawn from a ChaCha20 generator
/// seeded by the operating system.
///
/// Under [`Freshness::PerSession`] (the default) the last token per audience is reused until
/// [`crate::is_fresh`] says to refresh it; under [`Freshness::PerRequest`] every call mints.
///
/// This is the issuer's role played by the agent itself: the server must trust the key's
/// issuer, so it suits enterprises that attest their own agents, tests and demos.
pub struct LocalSigner {
    key: SigningKey,
    template: TokenBuilder,
    lifetime_secs: u64,
    freshness: Freshness,
    clock: Arc<dyn Clock>,
    cache: TokenCache,
}

impl LocalSigner {
    /// A signer for `key` and `template`.
    ///
    /// The template is checked now rather than at the first request: it must not set an
    /// audience ([`ClientError::TemplateHasAudience`]), and it must otherwise build (identity
    /// and metadata set, a valid lifetime), else [`ClientError::Mint`].
    pub fn new(key: SigningKey, template: TokenBuilder) -> Result<LocalSigner, ClientError> {
        // A dry run with a fixed generator: only the shape of the claims matters here.
        let mut probe_rng = ChaCha20Rng::from_seed([0; 32]);
        let t0 = UnixTime::from_secs(0);
        match template.build_claims(t0, &mut probe_rng) {
            Ok(_) => return Err(ClientError::TemplateHasAudience),
            Err(BuildError::Missing("audience")) => {}
            Err(other) => return Err(ClientError::Mint(other)),
        }
        let claims = template
            .clone()
            .audience("urn:attest:probe")
            .build_claims(t0, &mut probe_rng)?;
        Ok(LocalSigner {
            key,
            template,
            lifetime_secs: claims.exp.saturating_sub(claims.iat),
            freshness: Freshness::default(),
            clock: Arc::new(SystemClock),
            cache: TokenCache::default(),
        })
    }

    /// Sets the freshness mode. Default [`Freshness::PerSession`].
    #[must_use]
    pub fn with_freshness(mut self, freshness: Freshness) -> Self {
        self.freshness = freshness;
        self
    }

    /// Binds the agent's own key into every token (`cnf.jwk`, SPEC.md §17): the tokens become
    /// key-bound, worthless without the agent's private key. Pair it with
    /// [`crate::AttestingTransport::with_proof_key`] holding that private key, so that every
    /// request carries a proof.
    #[must_use]
    pub fn with_agent_key(mut self, agent: &PublicKey) -> Self {
        let cnf = Confirmation {
            jwk: Some(agent.to_jwk(&agent.thumbprint())),
            ..Confirmation::default()
        };
        self.template = self.template.confirmation(cnf);
        self
    }

    /// Reads the time from `clock` instead of the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The lifetime of the tokens this signer mints, in seconds.
    pub fn lifetime_secs(&self) -> u64 {
        self.lifetime_secs
    }

    /// Mints a new token for `audience` at `now`, bypassing the cache.
    fn mint(&self, audience: &str, now: UnixTime) -> Result<Cached, ClientError> {
        let mut rng = os_rng()?;
        let token = self
            .template
            .clone()
            .audience(audience)
            .sign(&self.key, now, &mut rng)?;
        Ok(Cached {
            token: Token::new(token)?,
            issued_at: now,
            expires_at: now.saturating_add(self.lifetime_secs),
        })
    }

    fn token_now(&self, audience: &str) -> Result<Token, ClientError> {
        let now = self.clock.now();
        if self.freshness == Freshness::PerSession
            && let Some(token) = self.cache.fresh(audience, now)
        {
            return Ok(token);
        }
        let cached = self.mint(audience, now)?;
        let token = cached.token.clone();
        if self.freshness == Freshness::PerSession {
            self.cache.put(audience, cached, now);
        }
        Ok(token)
    }
}

impl fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSigner")
            .field("kid", &self.key.kid())
            .field("lifetime_secs", &self.lifetime_secs)
            .field("freshness", &self.freshness)
            .finish_non_exhaustive()
    }
}

impl TokenSource for LocalSigner {
    fn token<'a>(&'a self, audience: &'a str) -> BoxFuture<'a, Result<Token, ClientError>> {
        // Signing is a few microseconds of CPU: done inline, no task needed.
        Box::pin(std::future::ready(self.token_now(audience)))
    }

    fn freshness(&self) -> Freshness {
        self.freshness
    }
}

/// A ChaCha20 generator seeded with 32 bytes from the operating system. A failing system RNG
/// is an error, never a panic and never a weak seed.
pub(crate) fn os_rng() -> Result<ChaCha20Rng, ClientError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| ClientError::Rng(e.to_string()))?;
    Ok(ChaCha20Rng::from_seed(*seed))
}
