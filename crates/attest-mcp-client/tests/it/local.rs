//! `LocalSigner`: verifiable tokens for the requested audience, freshness modes, refresh.

use std::collections::HashSet;

use attest_core::{BuildError, TokenBuilder, UnixTime};
use attest_mcp_client::{ClientError, Freshness, LocalSigner, TokenSource};

use crate::common::{AUDIENCE, ManualClock, key, system_now, template, verify_at};

#[tokio::test]
async fn mints_a_verifiable_token_for_the_requested_audience() {
    let signer = LocalSigner::new(key(), template()).unwrap();
    let token = signer.token(AUDIENCE).await.unwrap();
    let verified = verify_at(token.as_str(), AUDIENCE, system_now());
    assert_eq!(verified.claims().aud.as_slice(), [AUDIENCE.to_owned()]);
    assert_eq!(verified.claims().agent_identity.model_family, "claude");
    assert_eq!(verified.claims().exp - verified.claims().iat, 300);
    assert_eq!(verified.header().kid, "test-key-1");

    // Another audience gets its own token.
    let other = signer.token("https://other.example").await.unwrap();
    let verified = verify_at(other.as_str(), "https://other.example", system_now());
    assert_eq!(
        verified.claims().aud.as_slice(),
        ["https://other.example".to_owned()]
    );
}

#[tokio::test]
async fn per_request_gives_a_fresh_jti_every_time() {
    let signer = LocalSigner::new(key(), template())
        .unwrap()
        .with_freshness(Freshness::PerRequest);
    assert_eq!(signer.freshness(), Freshness::PerRequest);
    let now = system_now();
    let mut jtis = HashSet::new();
    for _ in 0..20 {
        let token = signer.token(AUDIENCE).await.unwrap();
        assert!(jtis.insert(verify_at(token.as_str(), AUDIENCE, now).jti().to_owned()));
    }
}

#[tokio::test]
async fn per_session_reuses_until_the_refresh_window() {
    let clock = ManualClock::at(1_790_000_000);
    let signer = LocalSigner::new(key(), template().lifetime_secs(300))
        .unwrap()
        .with_clock(clock.clone());
    assert_eq!(signer.freshness(), Freshness::PerSession);
    let first = signer.token(AUDIENCE).await.unwrap();
    let jti = |t: &attest_mcp_client::Token| {
        verify_at(t.as_str(), AUDIENCE, UnixTime::from_secs(1_790_000_241))
            .jti()
            .to_owned()
    };
    assert_eq!(signer.token(AUDIENCE).await.unwrap(), first);

    // 300 s lifetime: refreshed when less than 60 s remain, i.e. after iat + 240.
    clock.set(1_790_000_240);
    assert_eq!(
        signer.token(AUDIENCE).await.unwrap(),
        first,
        "60 s left: still fresh"
    );
    clock.set(1_790_000_241);
    let second = signer.token(AUDIENCE).await.unwrap();
    assert_ne!(second, first);
    assert_ne!(jti(&second), jti(&first));
    let verified = verify_at(
        second.as_str(),
        AUDIENCE,
        UnixTime::from_secs(1_790_000_241),
    );
    assert_eq!(verified.claims().iat, 1_790_000_241);
    // The new token is reused in turn.
    assert_eq!(signer.token(AUDIENCE).await.unwrap(), second);
}

#[tokio::test]
async fn per_session_caches_per_audience() {
    let signer = LocalSigner::new(key(), template()).unwrap();
    let a = signer.token("https://a.example").await.unwrap();
    let b = signer.token("https://b.example").await.unwrap();
    assert_ne!(a, b);
    assert_eq!(signer.token("https://a.example").await.unwrap(), a);
    assert_eq!(signer.token("https://b.example").await.unwrap(), b);
}

#[test]
fn the_template_is_checked_at_construction() {
    let with_audience = template().audience("https://preset.example");
    assert!(matches!(
        LocalSigner::new(key(), with_audience),
        Err(ClientError::TemplateHasAudience)
    ));
    let no_identity = TokenBuilder::new("https://issuer.example", "spiffe://x")
        .metadata(attest_core::AttestationMetadata::provider());
    assert!(matches!(
        LocalSigner::new(key(), no_identity),
        Err(ClientError::Mint(BuildError::Missing("agent_identity")))
    ));
    assert!(matches!(
        LocalSigner::new(key(), template().lifetime_secs(0)),
        Err(ClientError::Mint(BuildError::Lifetime))
    ));
    let signer = LocalSigner::new(key(), template().lifetime_secs(120)).unwrap();
    assert_eq!(signer.lifetime_secs(), 120);
}

#[test]
fn debug_output_shows_no_key_material() {
    let signer = LocalSigner::new(key(), template()).unwrap();
    let debug = format!("{signer:?}");
    assert!(debug.contains("test-key-1"));
    let seed_hex: String = key().seed().iter().map(|b| format!("{b:02x}")).collect();
    assert!(!debug.contains(&seed_hex));
}
