//! The `Verifier` pipeline on its own, without MCP.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use attest_core::{PublicKey, Reason, TokenType, VerifyError};
use attest_mcp_server::{KeyFuture, KeyLookupError, KeySource, Verifier, VerifierError};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::common;

/// A key source that counts lookups and can be switched to "unavailable".
struct Counting {
    lookups: Arc<AtomicUsize>,
    down: bool,
}

impl KeySource for Counting {
    fn resolve<'a>(&'a self, issuer: &'a str, kid: &'a str) -> KeyFuture<'a> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let result: Result<PublicKey, KeyLookupError> = if self.down {
            Err(KeyLookupError::Unavailable("issuer down".into()))
        } else {
            attest_core::KeyResolver::resolve(&common::trust(), issuer, kid)
                .ok_or(KeyLookupError::Unknown)
        };
        Box::pin(std::future::ready(result))
    }
}

fn counting(down: bool) -> (Verifier, Arc<AtomicUsize>) {
    let lookups = Arc::new(AtomicUsize::new(0));
    let keys = Counting {
        lookups: lookups.clone(),
        down,
    };
    (
        Verifier::builder(common::policy())
            .keys(keys)
            .build()
            .unwrap(),
        lookups,
    )
}

#[tokio::test]
async fn verifies_once_then_refuses_the_replay() {
    let verifier = Verifier::builder(common::policy())
        .keys(common::trust())
        .build()
        .unwrap();
    let token = common::token();
    let agent = verifier.verify(&token).await.unwrap();
    assert_eq!(agent.identity().model_family, "claude");
    assert_eq!(agent.trust_level(), attest_protocol::TrustLevel::Provider);
    let replay = verifier.verify(&token).await.unwrap_err();
    assert_eq!(replay, VerifierError::Replay);
    assert_eq!(replay.reason(), Reason::Replay);
}

#[tokio::test]
async fn an_untrusted_issuer_never_causes_a_key_lookup() {
    let (verifier, lookups) = counting(false);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let token = common::builder("https://rogue.example", common::AUDIENCE)
        .sign(&common::issuer_key(), common::now(), &mut rng)
        .unwrap();
    let error = verifier.verify(&token).await.unwrap_err();
    assert_eq!(error, VerifierError::Token(VerifyError::IssuerUntrusted));
    assert_eq!(lookups.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn keys_unavailable_fails_closed_as_unavailable() {
    let (verifier, lookups) = counting(true);
    let error = verifier.verify(&common::token()).await.unwrap_err();
    assert!(
        matches!(error, VerifierError::KeysUnavailable(_)),
        "{error:?}"
    );
    assert_eq!(error.reason(), Reason::Unavailable);
    assert_eq!(lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_rejected_token_does_not_burn_its_jti() {
    // The same jti, first in a token for another audience (rejected), then for this server.
    let verifier = Verifier::builder(common::policy())
        .keys(common::trust())
        .build()
        .unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut claims = common::builder("https://issuer.example", "https://other.example/mcp")
        .build_claims(common::now(), &mut rng)
        .unwrap();
    let elsewhere =
        attest_core::encode(&common::issuer_key(), &claims, TokenType::Attestation).unwrap();
    let error = verifier.verify(&elsewhere).await.unwrap_err();
    assert_eq!(error.reason(), Reason::AudienceMismatch);
    claims.aud = attest_core::Audience::One(common::AUDIENCE.into());
    let here = attest_core::encode(&common::issuer_key(), &claims, TokenType::Attestation).unwrap();
    assert!(
        verifier.verify(&here).await.is_ok(),
        "the jti was burned by a rejected token"
    );
}

#[tokio::test]
async fn an_unreachable_replay_store_fails_closed() {
    let port = attest_testkit::redis::closed_port().unwrap();
    let config = attest_cache::RedisConfig::from_url(format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .connect_timeout(std::time::Duration::from_millis(200));
    let store = Arc::new(attest_cache::RedisReplayStore::new(config).unwrap());
    let verifier = Verifier::builder(common::policy())
        .keys(common::trust())
        .replay_store(store)
        .build()
        .unwrap();
    let error = verifier.verify(&common::token()).await.unwrap_err();
    assert!(
        matches!(error, VerifierError::ReplayStoreUnavailable(_)),
        "{error:?}"
    );
    assert_eq!(error.reason(), Reason::Unavailable);
}

#[tokio::test]
async fn decisions_are_counted_by_reason() {
    let verifier = Verifier::builder(common::policy())
        .keys(common::trust())
        .build()
        .unwrap();
    let token = common::token();
    verifier.verify(&token).await.unwrap();
    verifier.verify(&token).await.unwrap_err();
    let text = verifier.observer().encode_text().unwrap();
    let series = |outcome: &str, reason: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("attest_verifications_total{")
                    && l.contains(&format!(r#"outcome="{outcome}""#))
                    && l.contains(&format!(r#"reason="{reason}""#))
            })
            .map(|l| l.rsplit(' ').next().unwrap().to_owned())
    };
    assert_eq!(series("success", "none").as_deref(), Some("1"));
    assert_eq!(
        series("failure", "attestation_replay").as_deref(),
        Some("1")
    );
    assert!(text.contains("attest_replays_detected_total"), "{text}");
    // The default replay store reports into the same registry.
    assert!(
        text.contains(r#"attest_replay_checks_total{backend="memory",outcome="fresh"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn keys_discovered_over_http_with_attest_jwks_verify_a_token() {
    // The issuer publishes its key ring; the verifier discovers it through attest-jwks.
    let ring = attest_jwks::KeyRing::new(common::issuer_key());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, attest_jwks::publish::router(ring))
            .await
            .unwrap()
    });

    let policy = attest_core::Policy::builder()
        .trusted_issuer(&issuer)
        .audience(common::AUDIENCE)
        .build()
        .unwrap();
    let observer = attest_observe::Observer::builder()
        .policy(&policy)
        .build()
        .unwrap();
    let resolver = attest_jwks::JwksResolver::builder(observer.clone())
        .issuer(&issuer)
        .danger_allow_loopback_http(true)
        .build()
        .unwrap();
    let verifier = Verifier::builder(policy)
        .keys(resolver)
        .observer(observer)
        .build()
        .unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let token = common::builder(&issuer, common::AUDIENCE)
        .sign(&common::issuer_key(), common::now(), &mut rng)
        .unwrap();
    let agent = verifier.verify(&token).await.unwrap();
    assert_eq!(agent.issuer(), issuer);
    // A kid the issuer never published is unknown, after the one refetch attest-jwks allows.
    let stranger = attest_core::SigningKey::from_seed(&[0x44; 32], "never-published").unwrap();
    let token = common::builder(&issuer, common::AUDIENCE)
        .sign(&stranger, common::now(), &mut rng)
        .unwrap();
    assert_eq!(
        verifier.verify(&token).await.unwrap_err(),
        VerifierError::Token(VerifyError::KeyUnknown)
    );
}
