//! Properties, with proptest:
//! - any single-byte change to a valid token is rejected;
//! - random bytes and random base64url-and-dots strings never panic and are rejected;
//! - validly signed headers with a random `alg` are refused unless the alg is allowed;
//! - public-key import agrees with an independent check on random 32-byte strings;
//! - signing and strict verification agree with ed25519-dalek's own `sign` and `verify_strict`
//!   on random keys, messages and altered signatures;
//! - random claim values round-trip through sign and verify.

use std::sync::LazyLock;

use attest_core::{
    AgentIdentity, AttestationMetadata, AttestationType, JwksLimits, KeySet, Policy, PublicKey,
    Reason, SafetyLevel, TokenBuilder, TrustStore, UnixTime, VerifyError, dangerous, verify,
};
use curve25519_dalek::edwards::CompressedEdwardsY;
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::json;

use crate::common::{
    AUDIENCE, ISSUER, KID, L, NOW, SUBJECT, add_le, issuer_key, policy, sign_raw, trust,
    valid_claims_json, valid_token,
};

static TOKEN: LazyLock<String> = LazyLock::new(valid_token);
static TRUST: LazyLock<TrustStore> = LazyLock::new(trust);
static POLICY: LazyLock<Policy> = LazyLock::new(policy);
static CLAIMS: LazyLock<Vec<u8>> = LazyLock::new(|| valid_claims_json().to_string().into_bytes());

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Strings over the base64url alphabet and `.`.
const B64URL_DOTS: &str = "[A-Za-z0-9_.-]{0,600}";
/// Three base64url segments: more likely to get past the structural checks.
const THREE_SEGMENTS: &str = "[A-Za-z0-9_-]{0,120}\\.[A-Za-z0-9_-]{0,600}\\.[A-Za-z0-9_-]{0,100}";

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn any_single_byte_change_is_rejected(
        position in any::<prop::sample::Index>(),
        // XOR with a non-zero delta: the replacement always differs from the original, and every
        // other byte value is reachable.
        delta in 1u8..=255,
    ) {
        let token: &str = &TOKEN;
        prop_assert!(verify(token, &*TRUST, &POLICY, NOW).is_ok());
        let mut bytes = token.as_bytes().to_vec();
        let i = position.index(bytes.len());
        bytes[i] ^= delta;
        // A non-ASCII byte makes invalid UTF-8; verify takes &str, so it arrives as U+FFFD.
        let mutated = String::from_utf8_lossy(&bytes).into_owned();
        prop_assert_ne!(&mutated, token);
        let result = verify(&mutated, &*TRUST, &POLICY, NOW);
        prop_assert!(result.is_err(), "byte {} ^ {:#04x} accepted: {}", i, delta, mutated);
    }

    #[test]
    fn random_bytes_never_panic_and_are_rejected(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        let input = String::from_utf8_lossy(&bytes);
        prop_assert!(verify(&input, &*TRUST, &POLICY, NOW).is_err());
        prop_assert!(dangerous::decode_unverified(&input, &POLICY).is_err());
        // The other parsers of untrusted input must not panic either.
        let _ = dangerous::decode_json(&input);
        let _ = KeySet::parse(&bytes, JwksLimits::default());
        let _ = attest_core::Jwk::from_json(&input);
    }

    #[test]
    fn random_base64url_and_dots_never_panic_and_are_rejected(s in B64URL_DOTS) {
        prop_assert!(verify(&s, &*TRUST, &POLICY, NOW).is_err());
        let _ = dangerous::decode_json(&s);
    }

    #[test]
    fn random_three_segment_strings_are_rejected(s in THREE_SEGMENTS) {
        prop_assert!(verify(&s, &*TRUST, &POLICY, NOW).is_err());
    }

    #[test]
    fn random_segments_after_a_valid_header_are_rejected(
        payload in "[A-Za-z0-9_-]{0,400}",
        signature in "[A-Za-z0-9_-]{0,100}",
    ) {
        let (header, _) = TOKEN.split_once('.').unwrap();
        let token = format!("{header}.{payload}.{signature}");
        prop_assert!(verify(&token, &*TRUST, &POLICY, NOW).is_err());
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn validly_signed_random_alg_is_refused_unless_allowed(alg in "\\PC{0,40}") {
        let header = json!({ "alg": alg, "typ": "agent-attestation+jwt", "kid": KID }).to_string();
        let token = sign_raw(&issuer_key(), header.as_bytes(), &CLAIMS);
        let result = verify(&token, &*TRUST, &POLICY, NOW);
        if alg == "EdDSA" || alg == "Ed25519" {
            prop_assert!(result.is_ok());
        } else {
            let err = result.unwrap_err();
            prop_assert_eq!(&err, &VerifyError::AlgorithmNotAllowed(alg.chars().take(32).collect()));
            prop_assert_eq!(err.reason(), Reason::HeaderRejected);
        }
    }

}

// Curve arithmetic is slow in debug builds: fewer cases for the key properties.
proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn public_key_import_agrees_with_an_independent_check(bytes in any::<[u8; 32]>()) {
        let expected = CompressedEdwardsY(bytes).decompress().is_some_and(|point| {
            point.compress().to_bytes() == bytes && !point.is_small_order() && point.is_torsion_free()
        });
        let imported = PublicKey::from_bytes(&bytes);
        prop_assert_eq!(imported.is_ok(), expected, "{:?}", imported);
        if let Ok(key) = imported {
            prop_assert_eq!(key.as_bytes(), &bytes);
            // An accepted key survives a JWK round trip unchanged.
            prop_assert_eq!(PublicKey::from_jwk(&key.to_jwk("k")).unwrap(), key);
        }
    }

    #[test]
    fn random_torsion_free_keys_from_seeds_are_accepted(seed in any::<[u8; 32]>()) {
        let key = attest_core::SigningKey::from_seed(&seed, "k").unwrap().public_key();
        prop_assert_eq!(PublicKey::from_bytes(key.as_bytes()).unwrap(), key);
    }

    /// `SigningKey::sign` and `PublicKey::verify` do their own Ed25519 bookkeeping (an expanded
    /// key kept between signatures; small-order R found by its encoding): they must give what
    /// ed25519-dalek's `sign` and `verify_strict` give, on valid and on altered signatures.
    #[test]
    fn signing_and_verifying_agree_with_ed25519_dalek(
        seed in any::<[u8; 32]>(),
        message in prop::collection::vec(any::<u8>(), 0..300),
        bit in 0..512_usize,
        small_order in 0..14_usize,
        random_r in any::<[u8; 32]>(),
    ) {
        use ed25519_dalek::Signer;
        let ours = attest_core::SigningKey::from_seed(&seed, "k").unwrap();
        let theirs = ed25519_dalek::SigningKey::from_bytes(&seed);
        let signature = ours.sign(&message);
        prop_assert_eq!(signature, theirs.sign(&message).to_bytes());

        let flipped = with(signature, |s| s[bit / 8] ^= 1 << (bit % 8));
        let small_order_r = with(signature, |s| s[..32].copy_from_slice(&SMALL_ORDER[small_order]));
        let random_r = with(signature, |s| s[..32].copy_from_slice(&random_r));
        let s_plus_l = with(signature, |s| {
            let sum = add_le(&s[32..].try_into().unwrap(), &L);
            s[32..].copy_from_slice(&sum);
        });
        let public = ours.public_key();
        let dalek = theirs.verifying_key();
        let mut other_message = message.clone();
        other_message.push(0);
        for (message, signature, valid) in [
            (&message, signature, true),
            (&message, flipped, false),
            (&message, small_order_r, false),
            (&message, random_r, false),
            (&message, s_plus_l, false),
            (&other_message, signature, false),
        ] {
            let ours = public.verify(message, &signature);
            let theirs = dalek.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature));
            prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?} / {:?}", ours, theirs);
            prop_assert_eq!(ours.is_ok(), valid, "{:?}", ours);
        }
    }
}

/// `signature` changed by `edit`.
fn with(mut signature: [u8; 64], edit: impl FnOnce(&mut [u8; 64])) -> [u8; 64] {
    edit(&mut signature);
    signature
}

/// The fourteen encodings that decode to a point of small order: the eight-torsion points'
/// encodings and the non-canonical y = p and y = p + 1, each with either sign bit.
static SMALL_ORDER: LazyLock<Vec<[u8; 32]>> = LazyLock::new(|| {
    let non_canonical = [0xed_u8, 0xee].map(|low| {
        let mut y = [0xff; 32];
        y[0] = low;
        y[31] = 0x7f;
        y
    });
    let mut all: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION
        .iter()
        .map(|t| t.compress().to_bytes())
        .chain(non_canonical)
        .flat_map(|y| {
            let mut signed = y;
            signed[31] ^= 0x80;
            [y, signed]
        })
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 14);
    all
});

fn safety() -> impl Strategy<Value = SafetyLevel> {
    prop_oneof![
        Just(SafetyLevel::Minimal),
        Just(SafetyLevel::Standard),
        Just(SafetyLevel::Enhanced),
    ]
}

/// Any Unicode string (controls, quotes, backslashes and astral characters included).
fn any_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..max).prop_map(String::from_iter)
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn random_claims_round_trip(
        model_family in any_text(40),
        model_version in "[a-z0-9.-]{1,20}",
        provider in "\\PC{1,24}",
        deployment_id in proptest::option::of("[A-Za-z0-9-]{1,36}"),
        capabilities in prop::collection::vec(any_text(24), 0..8),
        safety_level in safety(),
        enterprise in any::<bool>(),
        extra_audience in proptest::option::of("https://[a-z]{1,12}\\.example"),
        lifetime in 1u64..=Policy::DEFAULT_MAX_LIFETIME_SECS,
        seed in any::<u64>(),
        elapsed in any::<prop::sample::Index>(),
    ) {
        let mut identity = AgentIdentity::new(&model_family, &model_version, &provider);
        identity.deployment_id = deployment_id;
        let mut metadata = AttestationMetadata::provider();
        metadata.safety_level = safety_level;
        metadata.capabilities_declared = capabilities;
        if enterprise {
            metadata.attestation_type = AttestationType::Enterprise;
        }
        let mut builder = TokenBuilder::new(ISSUER, SUBJECT)
            .audience(AUDIENCE)
            .identity(identity)
            .metadata(metadata)
            .lifetime_secs(lifetime);
        if let Some(aud) = extra_audience {
            builder = builder.audience(aud);
        }
        let expected = builder.clone().build_claims(NOW, &mut ChaCha20Rng::seed_from_u64(seed)).unwrap();
        let token = builder.sign(&issuer_key(), NOW, &mut ChaCha20Rng::seed_from_u64(seed)).unwrap();

        let verified = verify(&token, &*TRUST, &POLICY, NOW).unwrap();
        prop_assert_eq!(verified.claims(), &expected);
        prop_assert_eq!(verified.expires_at(), NOW.saturating_add(lifetime));

        // Accepted at any moment before exp + leeway, refused from then on.
        let window = lifetime + POLICY.leeway_secs();
        let later = NOW.saturating_add(u64::try_from(elapsed.index(usize::try_from(window).unwrap())).unwrap());
        let verified_later = verify(&token, &*TRUST, &POLICY, later).unwrap();
        prop_assert_eq!(verified_later.claims(), &expected);
        let end = UnixTime::from_secs(NOW.as_secs() + window);
        prop_assert_eq!(verify(&token, &*TRUST, &POLICY, end).unwrap_err(), VerifyError::Expired);
        // The decoded JSON is exactly the claims' serialization.
        let (_, claims_json) = dangerous::decode_json(&token).unwrap();
        prop_assert_eq!(claims_json, serde_json::to_value(&expected).unwrap());
    }
}
