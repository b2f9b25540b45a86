//! Shared fixtures: a key, a token template, a hand-moved clock, and verification.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use attest_core::{
    AgentIdentity, AttestationMetadata, KeySet, Policy, SigningKey, TokenBuilder, TrustStore,
    UnixTime, Verified, verify,
};
use attest_mcp_client::Clock;

pub(crate) const ISSUER: &str = "https://issuer.example";
pub(crate) const AUDIENCE: &str = "https://tools.example/mcp";

pub(crate) fn key() -> SigningKey {
    SigningKey::from_seed(&[7; 32], "test-key-1").unwrap()
}

/// Everything but the audience.
pub(crate) fn template() -> TokenBuilder {
    TokenBuilder::new(ISSUER, "spiffe://issuer.example/model/test-agent")
        .identity(AgentIdentity::new("claude", "sonnet-4", "anthropic"))
        .metadata(AttestationMetadata::provider())
}

pub(crate) fn system_now() -> UnixTime {
    UnixTime::from(SystemTime::now())
}

/// Verifies `token` as a server for `audience` would, at `now`.
pub(crate) fn verify_at(token: &str, audience: &str, now: UnixTime) -> Verified {
    let key = key();
    let mut trust = TrustStore::new();
    trust.insert(
        ISSUER,
        KeySet::from_keys([(key.kid(), key.public_key())]).unwrap(),
    );
    let policy = Policy::builder()
        .trusted_issuer(ISSUER)
        .audience(audience)
        .build()
        .unwrap();
    verify(token, &trust, &policy, now).unwrap()
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub(crate) struct ManualClock(AtomicU64);

impl ManualClock {
    pub(crate) fn at(secs: u64) -> Arc<ManualClock> {
        Arc::new(ManualClock(AtomicU64::new(secs)))
    }

    pub(crate) fn set(&self, secs: u64) {
        self.0.store(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime::from_secs(self.0.load(Ordering::SeqCst))
    }
}
