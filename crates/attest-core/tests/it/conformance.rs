//! Runs the committed conformance vectors (`testvectors/attest/vectors.json`) through `verify`.

use attest_core::{Claims, JwksLimits, KeySet, Policy, Reason, TrustStore, UnixTime, verify};
use serde_json::Value;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testvectors/attest/vectors.json"
));

fn load() -> (Value, TrustStore, Policy, UnixTime) {
    let doc: Value = serde_json::from_str(VECTORS).unwrap();
    let p = &doc["policy"];
    let issuer = p["trusted_issuers"][0].as_str().unwrap();
    let policy = Policy::builder()
        .trusted_issuer(issuer)
        .audience(p["audiences"][0].as_str().unwrap())
        .leeway_secs(p["leeway_secs"].as_u64().unwrap())
        .max_lifetime_secs(p["max_lifetime_secs"].as_u64().unwrap())
        .max_token_bytes(p["max_token_bytes"].as_u64().unwrap() as usize)
        .max_jti_bytes(p["max_jti_bytes"].as_u64().unwrap() as usize)
        .max_json_depth(p["max_json_depth"].as_u64().unwrap() as usize)
        .build()
        .unwrap();
    let jwks = doc["jwks"].to_string();
    let mut trust = TrustStore::new();
    trust.insert(
        issuer,
        KeySet::parse(jwks.as_bytes(), JwksLimits::default()).unwrap(),
    );
    let now = UnixTime::from_secs(doc["now"].as_u64().unwrap());
    (doc, trust, policy, now)
}

#[test]
fn valid_vectors_verify_and_yield_their_claims() {
    let (doc, trust, policy, now) = load();
    let cases = doc["valid"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let verified = verify(case["token"].as_str().unwrap(), &trust, &policy, now)
            .unwrap_or_else(|e| panic!("{name}: rejected with {e}"));
        let expected: Claims = serde_json::from_value(case["claims"].clone()).unwrap();
        assert_eq!(verified.claims(), &expected, "{name}");
    }
}

#[test]
fn invalid_vectors_are_rejected_for_their_reason() {
    let (doc, trust, policy, now) = load();
    let cases = doc["invalid"].as_array().unwrap();
    assert!(cases.len() >= 40, "only {} negative vectors", cases.len());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let error = verify(case["token"].as_str().unwrap(), &trust, &policy, now)
            .err()
            .unwrap_or_else(|| panic!("{name}: accepted"));
        assert_eq!(
            Some(error.reason()),
            Reason::from_wire(case["reason"].as_str().unwrap()),
            "{name}"
        );
        assert_eq!(
            error.code(),
            case["error"].as_str().unwrap(),
            "{name}: {error}"
        );
    }
}

#[test]
fn negative_vectors_cover_every_token_reason() {
    let (doc, ..) = load();
    let seen: Vec<&str> = doc["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap())
        .collect();
    // Required, Replay and Unavailable are decided above attest-core (no token, replay store,
    // key discovery), so no single token can carry them. The proof reasons are about the proof
    // a request carries, not the token: testvectors/attest/proofs.json covers them.
    let token_reasons = Reason::ALL.into_iter().filter(|r| {
        !matches!(
            r,
            Reason::Required
                | Reason::Replay
                | Reason::Unavailable
                | Reason::ProofRequired
                | Reason::ProofInvalid
                | Reason::ProofMismatch
                | Reason::ProofStale
                | Reason::ProofReplay
        )
    });
    for reason in token_reasons {
        assert!(seen.contains(&reason.as_str()), "no vector for {reason}");
    }
}
