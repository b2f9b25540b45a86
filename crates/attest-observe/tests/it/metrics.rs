//! Real verifications and creations through attest-core move the right series.

use std::collections::HashSet;

use attest_core::{Policy, Reason, SigningKey, TokenBuilder, VerifyError};
use attest_observe::{
    CONTENT_TYPE, CacheLookup, CreateFailure, FetchFailure, LATENCY_BUCKETS, Observer, names,
};

use crate::common::{self, AUDIENCE, ISSUER, NOW, sample, series_count};

const V: &str = names::VERIFICATIONS;
const V_COUNT: &str = "attest_verification_duration_seconds_count";

fn verifications(observer: &Observer, issuer: &str, outcome: &str, reason: &str) -> f64 {
    sample(
        observer,
        V,
        &[("issuer", issuer), ("outcome", outcome), ("reason", reason)],
    )
}

#[test]
fn a_real_success_moves_the_counter_and_the_histogram() {
    let observer = common::observer();
    let token = common::token(ISSUER, &common::issuer_key(), 1);
    let verified = observer
        .verify(&token, &common::trust(), &common::policy(), NOW)
        .unwrap();
    assert_eq!(verified.issuer(), ISSUER);

    assert_eq!(verifications(&observer, ISSUER, "success", "none"), 1.0);
    assert_eq!(sample(&observer, V_COUNT, &[("outcome", "success")]), 1.0);
    assert_eq!(sample(&observer, V_COUNT, &[("outcome", "failure")]), 0.0);
    assert_eq!(sample(&observer, names::ACTIVE_VERIFICATIONS, &[]), 0.0);
    let sum = sample(
        &observer,
        "attest_verification_duration_seconds_sum",
        &[("outcome", "success")],
    );
    assert!(sum > 0.0 && sum < 10.0, "{sum}");
}

#[test]
fn a_real_failure_is_labelled_with_its_reason() {
    let observer = common::observer();
    let token = common::token(ISSUER, &common::issuer_key(), 2);

    // Verified at another server: audience mismatch.
    let elsewhere = Policy::builder()
        .trusted_issuer(ISSUER)
        .audience("https://other.example")
        .build()
        .unwrap();
    let error = observer
        .verify(&token, &common::trust(), &elsewhere, NOW)
        .unwrap_err();
    assert_eq!(error.reason(), Reason::AudienceMismatch);
    assert_eq!(
        verifications(
            &observer,
            ISSUER,
            "failure",
            "attestation_audience_mismatch"
        ),
        1.0
    );

    // Verified too late: expired.
    let late = NOW.saturating_add(10_000);
    let error = observer
        .verify(&token, &common::trust(), &common::policy(), late)
        .unwrap_err();
    assert_eq!(error, VerifyError::Expired);
    assert_eq!(
        verifications(&observer, ISSUER, "failure", "attestation_expired"),
        1.0
    );

    // Tampered: the signature fails, reported as the coarse class.
    let tampered = common::tamper(&token);
    let error = observer
        .verify(&tampered, &common::trust(), &common::policy(), NOW)
        .unwrap_err();
    assert_eq!(error.reason(), Reason::Invalid);
    assert_eq!(
        verifications(&observer, ISSUER, "failure", "attestation_invalid"),
        1.0
    );

    assert_eq!(verifications(&observer, ISSUER, "success", "none"), 0.0);
    assert_eq!(sample(&observer, V_COUNT, &[("outcome", "failure")]), 3.0);
    assert_eq!(sample(&observer, V_COUNT, &[("outcome", "success")]), 0.0);
}

#[test]
fn untrusted_issuers_share_one_label() {
    let observer = common::observer();
    let before = series_count(&observer, V);
    let attacker = SigningKey::from_seed(&[0x66; 32], "evil-1").unwrap();
    for (i, issuer) in [
        "https://evil.example",
        "https://issuer.example.evil",
        "https://issuer.example/",
    ]
    .into_iter()
    .enumerate()
    {
        let token = common::token(issuer, &attacker, 10 + u8::try_from(i).unwrap());
        let error = observer
            .verify(&token, &common::trust(), &common::policy(), NOW)
            .unwrap_err();
        assert_eq!(error.reason(), Reason::IssuerUntrusted);
    }
    assert_eq!(
        verifications(
            &observer,
            "untrusted",
            "failure",
            "attestation_issuer_untrusted"
        ),
        3.0
    );
    assert_eq!(
        series_count(&observer, V),
        before,
        "an attacker created series"
    );
    let text = observer.encode_text().unwrap();
    assert!(
        !text.contains("evil"),
        "an untrusted issuer leaked into a label"
    );
}

#[test]
fn a_token_without_a_readable_issuer_is_labelled_none() {
    let observer = common::observer();
    let error = observer
        .verify("not-a-token", &common::trust(), &common::policy(), NOW)
        .unwrap_err();
    assert_eq!(error.reason(), Reason::Malformed);
    assert_eq!(
        verifications(&observer, "none", "failure", "attestation_malformed"),
        1.0
    );
}

#[test]
fn a_replay_found_after_verification_moves_the_replay_counter() {
    // The shape of a server's decision: core verification, then the replay store, observed as
    // one verification.
    let observer = common::observer();
    let token = common::token(ISSUER, &common::issuer_key(), 3);
    let mut seen = HashSet::new();
    for _ in 0..2 {
        let mut guard = observer.start_verification();
        match attest_core::verify(&token, &common::trust(), &common::policy(), NOW) {
            Ok(verified) => {
                guard.set_issuer(verified.issuer());
                guard.set_kid(&verified.header().kid);
                let fresh = seen.insert(verified.jti().to_owned());
                guard.finish(if fresh { Ok(()) } else { Err(Reason::Replay) });
            }
            Err(error) => guard.finish_error(&error),
        }
    }
    assert_eq!(verifications(&observer, ISSUER, "success", "none"), 1.0);
    assert_eq!(
        verifications(&observer, ISSUER, "failure", "attestation_replay"),
        1.0
    );
    assert_eq!(
        sample(&observer, names::REPLAYS, &[("issuer", ISSUER)]),
        1.0
    );
    assert_eq!(sample(&observer, V_COUNT, &[("outcome", "failure")]), 1.0);
}

#[test]
fn the_active_gauge_counts_verifications_in_flight() {
    let observer = common::observer();
    let first = observer.start_verification();
    let mut second = observer.start_verification();
    assert_eq!(sample(&observer, names::ACTIVE_VERIFICATIONS, &[]), 2.0);
    second.set_issuer(ISSUER);
    second.finish(Ok(()));
    assert_eq!(sample(&observer, names::ACTIVE_VERIFICATIONS, &[]), 1.0);
    drop(first); // e.g. its future was cancelled
    assert_eq!(sample(&observer, names::ACTIVE_VERIFICATIONS, &[]), 0.0);
    assert_eq!(verifications(&observer, "none", "cancelled", "none"), 1.0);
    // A cancelled verification is counted, not timed.
    assert_eq!(sample(&observer, V_COUNT, &[("outcome", "success")]), 1.0);
    assert_eq!(sample(&observer, V_COUNT, &[("outcome", "failure")]), 0.0);
}

#[test]
fn token_creation_is_counted_and_timed() {
    let observer = common::observer();
    let key = common::issuer_key();

    let guard = observer.start_token_creation(ISSUER, key.kid());
    let built = TokenBuilder::new(ISSUER, "spiffe://issuer.example/model/m")
        .audience(AUDIENCE)
        .identity(attest_core::AgentIdentity::new(
            "claude",
            "sonnet-4",
            "anthropic",
        ))
        .metadata(attest_core::AttestationMetadata::provider())
        .sign(&key, NOW, &mut common::rng(4));
    guard.finish(built.as_ref().map(drop).map_err(CreateFailure::from));
    assert!(built.is_ok());

    let guard = observer.start_token_creation(ISSUER, key.kid());
    let refused = TokenBuilder::new(ISSUER, "spiffe://issuer.example/model/m") // no audience
        .sign(&key, NOW, &mut common::rng(5));
    guard.finish(refused.as_ref().map(drop).map_err(CreateFailure::from));
    assert!(refused.is_err());

    let c = names::TOKEN_CREATIONS;
    assert_eq!(
        sample(&observer, c, &[("outcome", "success"), ("reason", "none")]),
        1.0
    );
    assert_eq!(
        sample(
            &observer,
            c,
            &[("outcome", "failure"), ("reason", "invalid_input")]
        ),
        1.0
    );
    let count = "attest_token_creation_duration_seconds_count";
    assert_eq!(sample(&observer, count, &[("outcome", "success")]), 1.0);
    assert_eq!(sample(&observer, count, &[("outcome", "failure")]), 1.0);
}

#[test]
fn key_discovery_is_counted_and_timed() {
    let observer = common::observer();
    observer.record_jwks_cache(ISSUER, CacheLookup::Miss);
    observer.start_jwks_fetch(ISSUER).finish(Ok(2));
    observer.set_cached_keys(2);
    observer.record_jwks_cache(ISSUER, CacheLookup::Hit);
    observer.record_jwks_cache(ISSUER, CacheLookup::Hit);
    observer
        .start_jwks_fetch(ISSUER)
        .finish(Err(FetchFailure::Timeout));
    observer.record_circuit_open(ISSUER);
    observer.record_jwks_cache("https://elsewhere.example", CacheLookup::Stale);

    let lookups = names::JWKS_CACHE_LOOKUPS;
    assert_eq!(
        sample(&observer, lookups, &[("issuer", ISSUER), ("result", "hit")]),
        2.0
    );
    assert_eq!(
        sample(
            &observer,
            lookups,
            &[("issuer", ISSUER), ("result", "miss")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &observer,
            lookups,
            &[("issuer", "untrusted"), ("result", "stale")]
        ),
        1.0
    );
    let fetches = names::JWKS_FETCHES;
    assert_eq!(
        sample(
            &observer,
            fetches,
            &[
                ("issuer", ISSUER),
                ("outcome", "success"),
                ("reason", "none")
            ]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &observer,
            fetches,
            &[
                ("issuer", ISSUER),
                ("outcome", "failure"),
                ("reason", "timeout")
            ]
        ),
        1.0
    );
    let count = "attest_jwks_fetch_duration_seconds_count";
    assert_eq!(sample(&observer, count, &[("outcome", "success")]), 1.0);
    assert_eq!(sample(&observer, count, &[("outcome", "failure")]), 1.0);
    assert_eq!(
        sample(&observer, names::CIRCUIT_OPENS, &[("issuer", ISSUER)]),
        1.0
    );
    assert_eq!(sample(&observer, names::CACHED_KEYS, &[]), 2.0);
}

#[test]
fn the_exposition_lists_every_family_from_the_start() {
    let observer = common::observer();
    let response = observer.metrics_response();
    assert_eq!(response.status, 200);
    assert_eq!(response.content_type, CONTENT_TYPE);
    for name in names::ALL {
        assert!(
            response.body.contains(&format!("# TYPE {name} ")),
            "{name} missing"
        );
        assert!(name.starts_with("attest_"));
    }
    // Every reason has its failure series at zero before any traffic, so rate() works at once.
    for reason in Reason::ALL {
        assert!(response.body.contains(&format!(
            "attest_verifications_total{{issuer=\"{ISSUER}\",outcome=\"failure\",reason=\"{}\"}} 0",
            reason.as_str()
        )));
    }
    // Buckets span 10 µs to 10 s.
    assert_eq!(LATENCY_BUCKETS.first(), Some(&0.000_01));
    assert_eq!(LATENCY_BUCKETS.last(), Some(&10.0));
    assert!(response.body.contains(
        "attest_verification_duration_seconds_bucket{outcome=\"success\",le=\"0.00001\"} 0"
    ));
}

#[test]
fn an_application_registry_can_hold_the_families() {
    use attest_observe::prometheus::{IntCounter, Registry};
    let registry = Registry::new();
    let mine = IntCounter::new("app_requests_total", "requests").unwrap();
    registry.register(Box::new(mine.clone())).unwrap();
    let observer = Observer::builder()
        .trusted_issuer(ISSUER)
        .registry(registry.clone())
        .build()
        .unwrap();
    mine.inc();
    let text = attest_observe::encode_text(&registry).unwrap();
    assert!(text.contains("app_requests_total 1"));
    assert!(text.contains(names::VERIFICATIONS));
    assert_eq!(observer.encode_text().unwrap(), text);
}
