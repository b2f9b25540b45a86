//! The security bar (BRIEF §4), one test per row that concerns tokens, keys and JWKS.
//!
//! Every hostile input is real. Most are *validly signed* by the issuer's own key
//! (`common::sign_raw`), so the check under test is the only thing that stops them. Each test
//! asserts the precise variant (`VerifyError`, `KeyError`, `JwksError`) and the coarse
//! [`Reason`] a peer would be told. Where a boundary matters, the accepted twin is asserted too,
//! so a test cannot pass because something unrelated rejects everything.
//!
//! The replay rows belong to the replay-store crate, not here.

use attest_core::{
    Algorithm, JwksError, JwksLimits, KeyError, KeyResolver, KeySet, Part, Policy, PublicKey,
    Reason, RejectedKey, SigningKey, TokenType, TrustStore, UnixTime, Verified, VerifyError,
    dangerous, verify,
};
use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD_NO_PAD};
use base64::engine::{
    DecodePaddingMode, general_purpose::URL_SAFE, general_purpose::URL_SAFE_NO_PAD,
};
use curve25519_dalek::Scalar;
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::CompressedEdwardsY;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256, Sha512};

use crate::common::{
    AUDIENCE, ISSUER, KID, L, NOW, add_le, attacker_key, b64, builder, header_json, issuer_key,
    policy, rng, sign_claims, sign_raw, trust, valid_claims_json, valid_token,
};

const TYP: &str = "agent-attestation+jwt";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Asserts that `token` is rejected with exactly `expected`, whose coarse reason is `reason`.
#[track_caller]
fn rejected_with(
    token: &str,
    keys: &impl KeyResolver,
    policy: &Policy,
    now: UnixTime,
    expected: VerifyError,
    reason: Reason,
) {
    assert_eq!(expected.reason(), reason, "coarse reason of {expected:?}");
    match verify(token, keys, policy, now) {
        Ok(v) => panic!(
            "accepted a hostile token, expected {expected:?}: {:?}",
            v.claims()
        ),
        Err(e) => assert_eq!(e, expected, "token: {token}"),
    }
}

/// Rejected under the default trust store, policy and clock.
#[track_caller]
fn rejected(token: &str, expected: VerifyError, reason: Reason) {
    rejected_with(token, &trust(), &policy(), NOW, expected, reason);
}

#[track_caller]
fn accepted_with(token: &str, keys: &impl KeyResolver, policy: &Policy, now: UnixTime) -> Verified {
    verify(token, keys, policy, now)
        .unwrap_or_else(|e| panic!("rejected a valid token with {e:?}: {token}"))
}

#[track_caller]
fn accepted(token: &str) -> Verified {
    accepted_with(token, &trust(), &policy(), NOW)
}

fn header(alg: &str, typ: &str, kid: &str) -> String {
    json!({ "alg": alg, "typ": typ, "kid": kid }).to_string()
}

fn claims_bytes() -> Vec<u8> {
    valid_claims_json().to_string().into_bytes()
}

/// The valid claims under `header`, validly signed by the issuer key.
fn with_header(header: &str) -> String {
    sign_raw(&issuer_key(), header.as_bytes(), &claims_bytes())
}

/// `payload` under the default header, validly signed by the issuer key.
fn with_payload(payload: &str) -> String {
    sign_raw(&issuer_key(), header_json().as_bytes(), payload.as_bytes())
}

fn edited(edit: impl FnOnce(&mut Map<String, Value>)) -> Value {
    let mut claims = valid_claims_json();
    edit(claims.as_object_mut().unwrap());
    claims
}

/// The valid claims with `edit` applied, validly signed by the issuer key.
fn with_claims(edit: impl FnOnce(&mut Map<String, Value>)) -> String {
    sign_claims(&edited(edit))
}

/// Valid claims whose top-level `name` holds the raw JSON text `raw`: literals serde_json never
/// writes itself, such as `1.7e9`.
fn with_raw_claim(name: &str, raw: &str) -> String {
    const MARK: &str = "__raw_value__";
    let text = edited(|c| {
        c.insert(name.into(), json!(MARK));
    })
    .to_string();
    assert!(text.contains("\"__raw_value__\""));
    with_payload(&text.replace("\"__raw_value__\"", raw))
}

/// Signs `header_segment.payload_segment` exactly as given (already encoded, possibly badly).
fn sign_segments(header_segment: &str, payload_segment: &str) -> String {
    let input = format!("{header_segment}.{payload_segment}");
    let signature = issuer_key().sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

fn segments(token: &str) -> (String, String, String) {
    let mut it = token.split('.');
    let (h, p, s) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    assert_eq!(it.next(), None);
    (h.into(), p.into(), s.into())
}

fn signature_of(token: &str) -> [u8; 64] {
    let (_, _, s) = segments(token);
    URL_SAFE_NO_PAD.decode(s).unwrap().try_into().unwrap()
}

fn with_signature(token: &str, signature: &[u8]) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    format!("{input}.{}", b64(signature))
}

fn policy_builder() -> attest_core::PolicyBuilder {
    Policy::builder().trusted_issuer(ISSUER).audience(AUDIENCE)
}

fn store(issuer: &str, keys: &[(&str, PublicKey)]) -> TrustStore {
    let mut trust = TrustStore::new();
    trust.insert(
        issuer,
        KeySet::from_keys(keys.iter().map(|(k, p)| (*k, p.clone()))).unwrap(),
    );
    trust
}

/// HMAC (RFC 2104) over any of the SHA-2 hashes, computed by hand from `sha2`.
fn hmac<D: Digest>(block: usize, key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut k = if key.len() > block {
        D::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(block, 0);
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let mut inner = D::new();
    inner.update(&ipad);
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = D::new();
    outer.update(&opad);
    outer.update(&inner);
    outer.finalize().to_vec()
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::<Sha256>(64, key, message)
}

fn hmac_sha512(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::<Sha512>(128, key, message)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The field prime p = 2^255 - 19 plus a small `y`: a non-canonical encoding of `y`.
fn p_plus(y: u8) -> [u8; 32] {
    assert!(y <= 18);
    let mut bytes = [0xff; 32];
    bytes[31] = 0x7f;
    bytes[0] = 0xed + y;
    bytes
}

fn small_y(y: u8) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[0] = y;
    bytes
}

/// The canonical encoding of the identity point.
const IDENTITY: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
};

// ---------------------------------------------------------------------------------------------
// Baseline: the fixtures are valid, so every rejection below is caused by the hostile change.
// ---------------------------------------------------------------------------------------------

#[test]
fn baseline_fixtures_are_accepted() {
    let verified = accepted(&valid_token());
    assert_eq!(verified.issuer(), ISSUER);
    assert_eq!(verified.header().kid, KID);
    // The hand-signed path used throughout this file also produces accepted tokens.
    accepted(&sign_claims(&valid_claims_json()));
    accepted(&with_header(&header("EdDSA", TYP, KID)));
}

// ---------------------------------------------------------------------------------------------
// Algorithm
// ---------------------------------------------------------------------------------------------

#[test]
fn alg_outside_the_exact_case_sensitive_allowlist_is_refused() {
    for alg in [
        "none",
        "None",
        "NONE",
        "nOnE",
        "HS256",
        "HS384",
        "HS512",
        "RS256",
        "PS256",
        "ES256",
        "ES256K",
        "ES512",
        "eddsa",
        "EDDSA",
        "Eddsa",
        "ed25519",
        "ED25519",
        "Ed448",
        "EdDSA ",
        " EdDSA",
        "EdDSA\u{0}",
        "",
    ] {
        rejected(
            &with_header(&header(alg, TYP, KID)),
            VerifyError::AlgorithmNotAllowed(alg.into()),
            Reason::HeaderRejected,
        );
    }
}

#[test]
fn alg_none_with_an_empty_signature_is_refused() {
    // The classic unsecured JWT: `header.payload.` with no signature at all.
    let header = header("none", TYP, KID);
    let token = format!("{}.{}.", b64(header.as_bytes()), b64(&claims_bytes()));
    rejected(
        &token,
        VerifyError::AlgorithmNotAllowed("none".into()),
        Reason::HeaderRejected,
    );
    // The same refusal from the unverified decoder: nothing in the crate reads an alg-none token.
    assert_eq!(
        dangerous::decode_unverified(&token, &policy()).unwrap_err(),
        VerifyError::AlgorithmNotAllowed("none".into())
    );
}

#[test]
fn alg_missing_or_not_a_string_is_refused() {
    let no_alg = json!({ "typ": TYP, "kid": KID }).to_string();
    rejected(
        &with_header(&no_alg),
        VerifyError::MissingHeader("alg"),
        Reason::HeaderRejected,
    );
    for alg in [
        json!(null),
        json!(1),
        json!(["EdDSA"]),
        json!({ "name": "EdDSA" }),
        json!(true),
    ] {
        let h = json!({ "alg": alg, "typ": TYP, "kid": KID }).to_string();
        rejected(
            &with_header(&h),
            VerifyError::AlgorithmNotAllowed("<not a string>".into()),
            Reason::HeaderRejected,
        );
    }
}

#[test]
fn alg_in_errors_is_truncated() {
    // An attacker-chosen alg goes into logs only up to a bounded length.
    let long = "A".repeat(500);
    rejected(
        &with_header(&header(&long, TYP, KID)),
        VerifyError::AlgorithmNotAllowed("A".repeat(32)),
        Reason::HeaderRejected,
    );
}

#[test]
fn alg_ed25519_per_rfc9864_is_accepted_and_can_be_turned_off() {
    let token = with_header(&header("Ed25519", TYP, KID));
    assert_eq!(accepted(&token).header().alg, "Ed25519");
    let eddsa_only = policy_builder()
        .algorithms(&[Algorithm::EdDSA])
        .build()
        .unwrap();
    rejected_with(
        &token,
        &trust(),
        &eddsa_only,
        NOW,
        VerifyError::AlgorithmNotAllowed("Ed25519".into()),
        Reason::HeaderRejected,
    );
}

#[test]
fn hmac_helper_matches_rfc4231() {
    // RFC 4231 test case 2, so the HS-confusion tokens below are real HMACs.
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    assert_eq!(
        hex(&mac),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let mac = hmac_sha512(b"Jefe", b"what do ya want for nothing?");
    assert_eq!(
        hex(&mac),
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
    );
}

#[test]
fn hs256_keyed_with_the_public_key_is_refused() {
    // The algorithm-confusion attack: HMAC the signing input with the published public key.
    let public = issuer_key().public_key();
    let input = format!(
        "{}.{}",
        b64(header("HS256", TYP, KID).as_bytes()),
        b64(&claims_bytes())
    );
    let mac = hmac_sha256(public.as_bytes(), input.as_bytes());
    let token = format!("{input}.{}", b64(&mac));
    rejected(
        &token,
        VerifyError::AlgorithmNotAllowed("HS256".into()),
        Reason::HeaderRejected,
    );

    // The key decides the algorithm, never the header: the same HMAC under `alg: EdDSA` is
    // judged as an Ed25519 signature (and is the wrong length for one) ...
    let input = format!("{}.{}", b64(header_json().as_bytes()), b64(&claims_bytes()));
    let mac = hmac_sha256(public.as_bytes(), input.as_bytes());
    rejected(
        &format!("{input}.{}", b64(&mac)),
        VerifyError::SignatureLength(32),
        Reason::Invalid,
    );
    // ... and a 64-byte HMAC-SHA512 under `alg: EdDSA` is not an Ed25519 signature either
    // (its second half is almost always ≥ L; if not, it simply does not verify).
    let mac = hmac_sha512(public.as_bytes(), input.as_bytes());
    let s: [u8; 32] = mac[32..].try_into().unwrap();
    let expected = if bool::from(Scalar::from_canonical_bytes(s).is_some()) {
        VerifyError::SignatureMismatch
    } else {
        VerifyError::SignatureNonCanonical
    };
    rejected(&format!("{input}.{}", b64(&mac)), expected, Reason::Invalid);
}

// ---------------------------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------------------------

#[test]
fn forbidden_header_parameters_are_refused() {
    let attacker_jwk: Value =
        serde_json::from_str(&attacker_key().to_public_jwk().to_json()).unwrap();
    let cases: [(&str, Value); 12] = [
        ("jwk", attacker_jwk),
        ("jku", json!("https://evil.example/.well-known/jwks.json")),
        ("x5u", json!("https://evil.example/cert.pem")),
        ("x5c", json!(["MIIBszCCAVmgAwIBAgIUQ"])),
        ("crit", json!(["exp"])),
        ("b64", json!(false)),
        ("cty", json!("JWT")),
        ("x5t", json!("dGh1bWI")),
        ("x5t#S256", json!("dGh1bWI")),
        ("zip", json!("DEF")),
        ("nonce", json!("abc")),
        ("extra", json!(null)),
    ];
    for (name, value) in cases {
        // After the allowed parameters ...
        let mut h = json!({ "alg": "EdDSA", "typ": TYP, "kid": KID });
        h.as_object_mut()
            .unwrap()
            .insert(name.into(), value.clone());
        let expected = VerifyError::HeaderParameterNotAllowed(name.into());
        rejected(
            &with_header(&h.to_string()),
            expected.clone(),
            Reason::HeaderRejected,
        );
        // ... and before them, and with a refused alg: the parameter is refused first.
        let h = format!(
            r#"{{{}:{},"alg":"none","typ":"{TYP}","kid":"{KID}"}}"#,
            json!(name),
            value
        );
        rejected(&with_header(&h), expected, Reason::HeaderRejected);
    }
}

#[test]
fn embedded_jwk_signed_by_the_attacker_is_refused() {
    // The attacker signs with their own key and embeds it in the header, hoping it is used.
    let attacker = attacker_key();
    let mut h = json!({ "alg": "EdDSA", "typ": TYP, "kid": KID });
    h["jwk"] = serde_json::from_str(&attacker.to_public_jwk().to_json()).unwrap();
    let token = sign_raw(&attacker, h.to_string().as_bytes(), &claims_bytes());
    rejected(
        &token,
        VerifyError::HeaderParameterNotAllowed("jwk".into()),
        Reason::HeaderRejected,
    );
}

#[test]
fn forbidden_header_parameter_spelled_with_escapes_is_refused() {
    // `\u006a\u006b\u0075` is "jku": names are compared after JSON unescaping.
    let h = format!(
        r#"{{"alg":"EdDSA","typ":"{TYP}","kid":"{KID}","\u006a\u006b\u0075":"https://evil.example"}}"#
    );
    rejected(
        &with_header(&h),
        VerifyError::HeaderParameterNotAllowed("jku".into()),
        Reason::HeaderRejected,
    );
}

#[test]
fn typ_missing_or_jwt_is_refused_by_default() {
    let no_typ = json!({ "alg": "EdDSA", "kid": KID }).to_string();
    rejected(
        &with_header(&no_typ),
        VerifyError::MissingHeader("typ"),
        Reason::HeaderRejected,
    );

    // A real token minted with the 0.1.0 original's `typ: JWT`.
    let jwt = builder()
        .typ(TokenType::Jwt)
        .sign(&issuer_key(), NOW, &mut rng())
        .unwrap();
    assert_eq!(
        segments(&jwt).0,
        b64(header("EdDSA", "JWT", KID).as_bytes())
    );
    rejected(
        &jwt,
        VerifyError::TypNotAccepted("JWT".into()),
        Reason::HeaderRejected,
    );
}

#[test]
fn typ_jwt_is_accepted_only_where_policy_allows_it() {
    let compat = policy_builder().accept_compat_typ().build().unwrap();
    let jwt = builder()
        .typ(TokenType::Jwt)
        .sign(&issuer_key(), NOW, &mut rng())
        .unwrap();
    assert_eq!(
        accepted_with(&jwt, &trust(), &compat, NOW).header().typ,
        "JWT"
    );
    // The explicit type still works under the compat policy.
    accepted_with(&valid_token(), &trust(), &compat, NOW);
    // The opt-in is exact: other spellings of JWT are still refused, and it still needs a typ.
    for typ in ["jwt", "Jwt", "JWT ", "application/jwt", "JOSE"] {
        rejected_with(
            &with_header(&header("EdDSA", typ, KID)),
            &trust(),
            &compat,
            NOW,
            VerifyError::TypNotAccepted(typ.into()),
            Reason::HeaderRejected,
        );
    }
    let no_typ = json!({ "alg": "EdDSA", "kid": KID }).to_string();
    rejected_with(
        &with_header(&no_typ),
        &trust(),
        &compat,
        NOW,
        VerifyError::MissingHeader("typ"),
        Reason::HeaderRejected,
    );
}

#[test]
fn typ_confusion_is_refused() {
    // Other JWT classes (RFC 8725 §3.11), and near-misses of the explicit type.
    for typ in [
        "at+jwt",
        "dpop+jwt",
        "secevent+jwt",
        "token-introspection+jwt",
        "agent-attestation+JWT",
        "Agent-Attestation+jwt",
        "AGENT-ATTESTATION+JWT",
        "agent-attestation",
        "agent-attestation+jwt ",
        "agent-attestation+jws",
        "application/agent-attestation+jwt",
        "",
    ] {
        // Attacker-chosen strings are truncated to 32 characters in errors.
        rejected(
            &with_header(&header("EdDSA", typ, KID)),
            VerifyError::TypNotAccepted(typ.chars().take(32).collect()),
            Reason::HeaderRejected,
        );
    }
    let h = json!({ "alg": "EdDSA", "typ": [TYP], "kid": KID }).to_string();
    rejected(
        &with_header(&h),
        VerifyError::TypNotAccepted("<not a string>".into()),
        Reason::HeaderRejected,
    );
}

// ---------------------------------------------------------------------------------------------
// Encoding: segments, JSON serialization, JWE
// ---------------------------------------------------------------------------------------------

#[test]
fn not_exactly_three_segments_is_refused() {
    let token = valid_token();
    let (h, p, s) = segments(&token);
    let cases = [
        (String::new(), 1),
        (h.clone(), 1),
        (format!("{h}.{p}"), 2),
        (format!("{h}.{p}.{s}.{s}"), 4),
        (format!("{token}."), 4),
        (format!(".{token}"), 4),
        (format!("{h}.{p}.{s}.{s}.{s}.{s}"), 6),
        (format!("{h}...{p}...{s}"), 7),
    ];
    for (bad, found) in cases {
        rejected(&bad, VerifyError::SegmentCount { found }, Reason::Malformed);
    }
}

#[test]
fn five_segments_is_a_jwe_and_refused() {
    let token = valid_token();
    let (h, p, s) = segments(&token);
    rejected(
        &format!("{h}.{p}.{s}.{s}.{s}"),
        VerifyError::Jwe,
        Reason::Malformed,
    );
    // The shape of a real compact JWE (RFC 7516 A.1): header.key.iv.ciphertext.tag.
    let jwe_header = b64(br#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#);
    let jwe = format!(
        "{jwe_header}.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGeipsEdY3mx_etLbbWSrFr05kLzcSr4qKAq7YN7e9jwQRb23nfa6c9d-StnImGyFDbSv04uVuxIp5Zms1gNxKKK2Da14B8S4rzVRltdYwam_lDp5XnZAYpQdb76FdIKLaVmqgfwX7XWRxv2322i-vDxRfqNzo_tETKzpVLzfiwQyeyPGLBIO56YJ7eObdv0je81860ppamavo35UgoRdbYaBcoh9QcfylQr66oc6vFWXRcZ_ZT2LawVCWTIy3brGPi6UklfCpIMfIjf7iGdXKHzg.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6jiSdiwkIr3ajwQzaBtQD_A.XFBoMYUZodetZdvTiFvSkQ"
    );
    rejected(&jwe, VerifyError::Jwe, Reason::Malformed);
}

#[test]
fn jws_json_serialization_is_refused() {
    let token = valid_token();
    let (h, p, s) = segments(&token);
    let general = json!({ "payload": p, "signatures": [{ "protected": h, "signature": s }] });
    let flattened = json!({ "payload": p, "protected": h, "signature": s });
    for doc in [
        general.to_string(),
        flattened.to_string(),
        format!(" \n{flattened}"),
    ] {
        rejected(&doc, VerifyError::JsonSerialization, Reason::Malformed);
    }
    // Pretty-printed, with dots inside the JSON, it is still recognised as JSON serialization.
    let pretty =
        serde_json::to_string_pretty(&json!({ "payload": "a.b", "protected": h, "signature": s }))
            .unwrap();
    rejected(&pretty, VerifyError::JsonSerialization, Reason::Malformed);
}

#[test]
fn empty_or_non_object_segments_are_refused() {
    let token = valid_token();
    let (h, p, s) = segments(&token);
    for bad in ["..".to_owned(), format!(".{p}.{s}")] {
        let err = verify(&bad, &trust(), &policy(), NOW).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::Json {
                    part: Part::Header,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.reason(), Reason::Malformed);
    }
    for json in [
        "[]",
        "null",
        "\"EdDSA\"",
        "1",
        "{\"alg\":\"EdDSA\"",
        "{}{}",
        "\u{feff}{}",
    ] {
        let bad = sign_segments(&b64(json.as_bytes()), &p);
        let err = verify(&bad, &trust(), &policy(), NOW).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::Json {
                    part: Part::Header,
                    ..
                }
            ),
            "{json}: {err:?}"
        );
        assert_eq!(err.reason(), Reason::Malformed);

        let bad = sign_segments(&h, &b64(json.as_bytes()));
        let err = verify(&bad, &trust(), &policy(), NOW).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::Json {
                    part: Part::Payload,
                    ..
                }
            ),
            "{json}: {err:?}"
        );
        assert_eq!(err.reason(), Reason::Malformed);
    }
    // Trailing data after the claims object.
    let trailing = format!("{} x", valid_claims_json());
    let err = verify(&with_payload(&trailing), &trust(), &policy(), NOW).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Json {
                part: Part::Payload,
                ..
            }
        ),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Encoding: strict base64url in each segment
// ---------------------------------------------------------------------------------------------

/// A kid whose header encodes to `+`/`/` in the standard alphabet at every alignment.
const ODD_KID: &str = "~~~???~~~";

/// A lenient decoder (padding optional, trailing bits allowed): what the bad encodings below
/// would decode to elsewhere.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

#[derive(Debug, Clone, Copy)]
enum Bad {
    Padding,
    StandardAlphabet,
    Space,
    Newline,
    Tab,
    CarriageReturn,
    TrailingBits,
}

const ALL_BAD: [Bad; 7] = [
    Bad::Padding,
    Bad::StandardAlphabet,
    Bad::Space,
    Bad::Newline,
    Bad::Tab,
    Bad::CarriageReturn,
    Bad::TrailingBits,
];

/// An encoding of `bytes` that a lenient decoder accepts and a strict base64url one refuses.
/// `bytes.len() % 3 != 0` and a standard encoding containing `+` or `/` are preconditions.
fn misencode(bytes: &[u8], bad: Bad) -> String {
    let strict = URL_SAFE_NO_PAD.encode(bytes);
    let middle = strict.len() / 2;
    let insert = |ws: &str| format!("{}{ws}{}", &strict[..middle], &strict[middle..]);
    let out = match bad {
        Bad::Padding => URL_SAFE.encode(bytes),
        Bad::StandardAlphabet => STANDARD_NO_PAD.encode(bytes),
        Bad::Space => insert(" "),
        Bad::Newline => insert("\n"),
        Bad::Tab => insert("\t"),
        Bad::CarriageReturn => insert("\r\n"),
        Bad::TrailingBits => {
            const ALPHABET: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            assert_ne!(strict.len() % 4, 0, "no trailing bits at this length");
            let last = strict.as_bytes()[strict.len() - 1];
            let index = ALPHABET.iter().position(|c| *c == last).unwrap();
            let flipped = char::from(ALPHABET[index ^ 1]);
            format!("{}{flipped}", &strict[..strict.len() - 1])
        }
    };
    assert_ne!(out, strict, "{bad:?} changed nothing");
    match bad {
        Bad::Padding => assert!(out.ends_with('='), "{bad:?}: {out}"),
        Bad::StandardAlphabet => {
            assert!(out.contains('+') || out.contains('/'), "{bad:?}: {out}");
            assert_eq!(STANDARD_NO_PAD.decode(&out).unwrap(), bytes);
        }
        _ => {}
    }
    if matches!(bad, Bad::Padding | Bad::TrailingBits) {
        // A twin: a lenient decoder reads exactly the same bytes.
        assert_eq!(LENIENT.decode(&out).unwrap(), bytes, "{bad:?}");
    }
    out
}

/// Leading JSON whitespace until the length is not a multiple of 3 (so padding and trailing
/// bits exist) and the standard alphabet differs.
fn shape(json: &str) -> Vec<u8> {
    for n in 0..6 {
        let bytes = format!("{}{json}", " ".repeat(n)).into_bytes();
        let std = STANDARD_NO_PAD.encode(&bytes);
        if bytes.len() % 3 != 0 && (std.contains('+') || std.contains('/')) {
            return bytes;
        }
    }
    panic!("no suitable shape for {json}");
}

#[test]
fn non_strict_base64url_is_refused_in_every_segment() {
    let pk = issuer_key().public_key();
    let keys = store(ISSUER, &[(KID, pk.clone()), (ODD_KID, pk)]);
    let header = shape(&header("EdDSA", TYP, ODD_KID));
    let payload = shape(
        &edited(|c| {
            c.insert("note".into(), json!(ODD_KID));
        })
        .to_string(),
    );
    let (h_ok, p_ok) = (
        URL_SAFE_NO_PAD.encode(&header),
        URL_SAFE_NO_PAD.encode(&payload),
    );
    // Control: strictly encoded, the same header and payload are accepted.
    let control = sign_segments(&h_ok, &p_ok);
    accepted_with(&control, &keys, &policy(), NOW);

    for bad in ALL_BAD {
        let token = sign_segments(&misencode(&header, bad), &p_ok);
        rejected_with(
            &token,
            &keys,
            &policy(),
            NOW,
            VerifyError::Base64(Part::Header),
            Reason::Malformed,
        );
        let token = sign_segments(&h_ok, &misencode(&payload, bad));
        rejected_with(
            &token,
            &keys,
            &policy(),
            NOW,
            VerifyError::Base64(Part::Payload),
            Reason::Malformed,
        );
    }

    // The signature: find a valid token whose signature's standard encoding differs.
    let (token, signature) = (0..200)
        .map(|n| {
            let token = with_claims(|c| {
                c.insert("n".into(), json!(n));
            });
            let signature = signature_of(&token);
            (token, signature)
        })
        .find(|(_, s)| {
            let std = STANDARD_NO_PAD.encode(s);
            std.contains('+') || std.contains('/')
        })
        .unwrap();
    accepted(&token);
    let (h, p, _) = segments(&token);
    for bad in ALL_BAD {
        let forged = format!("{h}.{p}.{}", misencode(&signature, bad));
        rejected(
            &forged,
            VerifyError::Base64(Part::Signature),
            Reason::Malformed,
        );
    }
    // Whitespace around the whole token is not trimmed either.
    rejected(
        &format!("{token}\n"),
        VerifyError::Base64(Part::Signature),
        Reason::Malformed,
    );
    rejected(
        &format!("{token} "),
        VerifyError::Base64(Part::Signature),
        Reason::Malformed,
    );
    rejected(
        &format!(" {token}"),
        VerifyError::Base64(Part::Header),
        Reason::Malformed,
    );
}

// ---------------------------------------------------------------------------------------------
// Encoding: duplicate members, size, depth
// ---------------------------------------------------------------------------------------------

#[test]
fn duplicate_member_names_in_the_header_are_refused() {
    for (h, name) in [
        (
            format!(r#"{{"alg":"EdDSA","alg":"EdDSA","typ":"{TYP}","kid":"{KID}"}}"#),
            "alg",
        ),
        (
            format!(r#"{{"alg":"none","typ":"{TYP}","kid":"{KID}","alg":"EdDSA"}}"#),
            "alg",
        ),
        (
            format!(r#"{{"alg":"EdDSA","typ":"{TYP}","kid":"{KID}","kid":"other"}}"#),
            "kid",
        ),
        (
            format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{KID}","typ":"{TYP}"}}"#),
            "typ",
        ),
        (
            format!(r#"{{"alg":"EdDSA","typ":"{TYP}","kid":"{KID}","\u006bid":"other"}}"#),
            "kid",
        ),
    ] {
        rejected(
            &with_header(&h),
            VerifyError::DuplicateMember {
                part: Part::Header,
                name: name.into(),
            },
            Reason::Malformed,
        );
    }
}

#[test]
fn duplicate_member_names_in_the_claims_are_refused() {
    let text = valid_claims_json().to_string();
    let body = text.strip_suffix('}').unwrap();
    let cases = [
        // Top level: a second exp that extends the lifetime.
        (
            format!(r#"{body},"exp":{}}}"#, NOW.as_secs() + 86_400),
            "exp",
        ),
        (format!(r#"{body},"iss":"https://evil.example"}}"#), "iss"),
        (format!(r#"{body},"aud":"https://tools.example"}}"#), "aud"),
        // Through an escape: "\u0065xp" is "exp".
        (
            format!(r#"{body},"\u0065xp":{}}}"#, NOW.as_secs() + 86_400),
            "exp",
        ),
        // Nested in agent_identity and attestation_metadata.
        (
            text.replace(
                r#""model_family":"claude""#,
                r#""model_family":"claude","model_family":"gpt""#,
            ),
            "model_family",
        ),
        (
            text.replace(
                r#""safety_level":"standard""#,
                r#""safety_level":"standard","safety_level":"minimal""#,
            ),
            "safety_level",
        ),
        // Deeper, inside an extension claim's array.
        (format!(r#"{body},"ext":[{{"a":1,"a":2}}]}}"#), "a"),
    ];
    for (payload, name) in cases {
        assert_ne!(payload, text, "the case must change the claims");
        rejected(
            &with_payload(&payload),
            VerifyError::DuplicateMember {
                part: Part::Payload,
                name: name.into(),
            },
            Reason::Malformed,
        );
    }
}

#[test]
fn token_over_the_size_cap_is_refused() {
    let big = builder()
        .extra_claim("pad", json!("a".repeat(7_000)))
        .sign(&issuer_key(), NOW, &mut rng())
        .unwrap();
    assert!(big.len() > Policy::DEFAULT_MAX_TOKEN_BYTES);
    rejected(
        &big,
        VerifyError::TooLarge {
            len: big.len(),
            max: Policy::DEFAULT_MAX_TOKEN_BYTES,
        },
        Reason::Malformed,
    );
    // The cap is exact: at the cap accepted, one byte over refused.
    let token = valid_token();
    let at_cap = policy_builder()
        .max_token_bytes(token.len())
        .build()
        .unwrap();
    accepted_with(&token, &trust(), &at_cap, NOW);
    let under = policy_builder()
        .max_token_bytes(token.len() - 1)
        .build()
        .unwrap();
    rejected_with(
        &token,
        &trust(),
        &under,
        NOW,
        VerifyError::TooLarge {
            len: token.len(),
            max: token.len() - 1,
        },
        Reason::Malformed,
    );
    // Checked before anything else: a megabyte of garbage is refused by size.
    let garbage = "A".repeat(1 << 20);
    rejected(
        &garbage,
        VerifyError::TooLarge {
            len: 1 << 20,
            max: 8 * 1024,
        },
        Reason::Malformed,
    );
}

fn nested_arrays(levels: usize) -> Value {
    let mut v = json!(1);
    for _ in 0..levels {
        v = json!([v]);
    }
    v
}

#[test]
fn json_nested_too_deep_is_refused() {
    let max = Policy::DEFAULT_MAX_JSON_DEPTH;
    // The claims object is level 1: 7 nested arrays reach level 8 (accepted), 8 reach level 9.
    let ok = with_claims(|c| {
        c.insert("deep".into(), nested_arrays(max - 1));
    });
    accepted(&ok);
    let deep = with_claims(|c| {
        c.insert("deep".into(), nested_arrays(max));
    });
    rejected(
        &deep,
        VerifyError::TooDeep {
            part: Part::Payload,
            max,
        },
        Reason::Malformed,
    );
    // Far deeper (past serde_json's own recursion limit): still the precise refusal.
    let deeper = with_payload(&format!(
        r#"{{"x":{}1{}}}"#,
        "[".repeat(2_000),
        "]".repeat(2_000)
    ));
    rejected(
        &deeper,
        VerifyError::TooDeep {
            part: Part::Payload,
            max,
        },
        Reason::Malformed,
    );
    // Objects count too, and so does the header.
    let objects = with_payload(&format!(
        r#"{{"x":{}1{}}}"#,
        r#"{"a":"#.repeat(20),
        "}".repeat(20)
    ));
    rejected(
        &objects,
        VerifyError::TooDeep {
            part: Part::Payload,
            max,
        },
        Reason::Malformed,
    );
    let h = format!(
        r#"{{"alg":"EdDSA","typ":"{TYP}","kid":"{KID}","x":{}}}"#,
        nested_arrays(20)
    );
    rejected(
        &with_header(&h),
        VerifyError::TooDeep {
            part: Part::Header,
            max,
        },
        Reason::Malformed,
    );
}

// ---------------------------------------------------------------------------------------------
// Signature
// ---------------------------------------------------------------------------------------------

#[test]
fn signature_not_exactly_64_bytes_is_refused() {
    let token = valid_token();
    let signature = signature_of(&token);
    for len in [0usize, 1, 32, 63] {
        rejected(
            &with_signature(&token, &signature[..len]),
            VerifyError::SignatureLength(len),
            Reason::Invalid,
        );
    }
    for extra in [1usize, 64] {
        let mut long = signature.to_vec();
        long.extend(std::iter::repeat_n(0u8, extra));
        rejected(
            &with_signature(&token, &long),
            VerifyError::SignatureLength(64 + extra),
            Reason::Invalid,
        );
    }
}

#[test]
fn s_not_reduced_mod_l_is_refused() {
    let token = valid_token();
    let signature = signature_of(&token);
    let s: [u8; 32] = signature[32..].try_into().unwrap();
    let s_plus_l = add_le(&s, &L);
    // Check the arithmetic: L ≡ 0 and S + L ≡ S (mod L), so this is the malleated twin.
    assert_eq!(Scalar::from_bytes_mod_order(L), Scalar::ZERO);
    let canonical = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)).unwrap();
    assert_eq!(Scalar::from_bytes_mod_order(s_plus_l), canonical);
    assert!(bool::from(Scalar::from_canonical_bytes(s_plus_l).is_none()));

    let mut twin = signature;
    twin[32..].copy_from_slice(&s_plus_l);
    rejected(
        &with_signature(&token, &twin),
        VerifyError::SignatureNonCanonical,
        Reason::Invalid,
    );

    // S = L exactly, and S with the top bits set.
    let mut at_l = signature;
    at_l[32..].copy_from_slice(&L);
    rejected(
        &with_signature(&token, &at_l),
        VerifyError::SignatureNonCanonical,
        Reason::Invalid,
    );
    let mut high = signature;
    high[63] |= 0xe0;
    rejected(
        &with_signature(&token, &high),
        VerifyError::SignatureNonCanonical,
        Reason::Invalid,
    );
}

#[test]
fn small_order_r_is_refused() {
    let token = valid_token();
    // Every point of the 8-torsion as R, with S = 0 (R = identity is the classic one).
    for t in EIGHT_TORSION {
        let mut forged = [0u8; 64];
        forged[..32].copy_from_slice(t.compress().as_bytes());
        rejected(
            &with_signature(&token, &forged),
            VerifyError::SignatureSmallOrder,
            Reason::Invalid,
        );
    }
    let mut identity = [0u8; 64];
    identity[..32].copy_from_slice(&IDENTITY);
    rejected(
        &with_signature(&token, &identity),
        VerifyError::SignatureSmallOrder,
        Reason::Invalid,
    );
    // Encodings that decode to a small-order point, each with the valid token's own S: the
    // identity, y = p and y = p + 1 (non-canonical 0 and 1), and the sign bit set where x = 0
    // (the identity and the point of order 2) or on the non-canonical ones.
    let order_2 = EIGHT_TORSION[4].compress().to_bytes();
    let with_sign_bit = |mut y: [u8; 32]| {
        y[31] |= 0x80;
        y
    };
    for r in [
        IDENTITY,
        p_plus(0),
        p_plus(1),
        with_sign_bit(IDENTITY),
        with_sign_bit(order_2),
        with_sign_bit(p_plus(0)),
        with_sign_bit(p_plus(1)),
    ] {
        assert!(
            CompressedEdwardsY(r)
                .decompress()
                .is_some_and(|p| p.is_small_order())
        );
        let mut forged = signature_of(&token);
        forged[..32].copy_from_slice(&r);
        rejected(
            &with_signature(&token, &forged),
            VerifyError::SignatureSmallOrder,
            Reason::Invalid,
        );
    }
}

#[test]
fn a_signature_that_does_not_verify_is_refused() {
    let token = valid_token();
    let mut flipped = signature_of(&token);
    flipped[0] ^= 1;
    rejected(
        &with_signature(&token, &flipped),
        VerifyError::SignatureMismatch,
        Reason::Invalid,
    );
    // All zeros: R = (x, 0) is a point of order 4, so this is a small-order R.
    rejected(
        &with_signature(&token, &[0u8; 64]),
        VerifyError::SignatureSmallOrder,
        Reason::Invalid,
    );
    // R the base point (large order), S = 0.
    let mut base_r = [0u8; 64];
    base_r[..32].copy_from_slice(ED25519_BASEPOINT_POINT.compress().as_bytes());
    rejected(
        &with_signature(&token, &base_r),
        VerifyError::SignatureMismatch,
        Reason::Invalid,
    );
    // R not a curve point at all.
    let y = (2u8..=255)
        .find(|y| CompressedEdwardsY(small_y(*y)).decompress().is_none())
        .unwrap();
    let mut not_point = signature_of(&token);
    not_point[..32].copy_from_slice(&small_y(y));
    rejected(
        &with_signature(&token, &not_point),
        VerifyError::SignatureMismatch,
        Reason::Invalid,
    );
    // A valid signature of another token, spliced on.
    let other = with_claims(|c| {
        c.insert("jti".into(), json!("7b3f1a52-2a8e-4d6c-9f13-0c6a8e1d2b44"));
    });
    rejected(
        &with_signature(&token, &signature_of(&other)),
        VerifyError::SignatureMismatch,
        Reason::Invalid,
    );
}

// ---------------------------------------------------------------------------------------------
// Keys: checks at import
// ---------------------------------------------------------------------------------------------

#[test]
fn key_of_the_wrong_length_is_refused() {
    let good = *issuer_key().public_key().as_bytes();
    assert_eq!(PublicKey::from_bytes(&good).unwrap().as_bytes(), &good);
    for len in [0usize, 1, 31, 33, 64] {
        let mut bytes = good.to_vec();
        bytes.resize(len, 0);
        assert_eq!(
            PublicKey::from_bytes(&bytes),
            Err(KeyError::WrongLength(len)),
            "{len}"
        );
    }
}

#[test]
fn key_with_a_non_canonical_encoding_is_refused() {
    // y = p + 1 is the identity, written non-canonically.
    assert_eq!(
        PublicKey::from_bytes(&p_plus(1)),
        Err(KeyError::NonCanonical)
    );
    // x = 0 with the sign bit set: the identity and the order-2 point.
    let mut signed_identity = IDENTITY;
    signed_identity[31] |= 0x80;
    assert_eq!(
        PublicKey::from_bytes(&signed_identity),
        Err(KeyError::NonCanonical)
    );
    let mut order2 = p_plus(0);
    order2[0] -= 1; // y = p - 1 = -1: the point of order 2, canonical without the sign bit
    assert_eq!(PublicKey::from_bytes(&order2), Err(KeyError::SmallOrder));
    order2[31] |= 0x80;
    assert_eq!(PublicKey::from_bytes(&order2), Err(KeyError::NonCanonical));
    // y = p + y' for a y' whose point exists and has large order: not small-order, only
    // non-canonical.
    let y = (2u8..=18)
        .find(|y| {
            CompressedEdwardsY(small_y(*y))
                .decompress()
                .is_some_and(|p| !p.is_small_order())
        })
        .expect("a large-order point with a small y");
    let point = CompressedEdwardsY(small_y(y)).decompress().unwrap();
    assert_eq!(CompressedEdwardsY(p_plus(y)).decompress(), Some(point));
    assert_eq!(
        PublicKey::from_bytes(&p_plus(y)),
        Err(KeyError::NonCanonical)
    );
}

#[test]
fn key_that_is_not_a_point_is_refused() {
    let y = (2u8..=255)
        .find(|y| CompressedEdwardsY(small_y(*y)).decompress().is_none())
        .unwrap();
    assert_eq!(PublicKey::from_bytes(&small_y(y)), Err(KeyError::NotAPoint));
}

#[test]
fn small_order_keys_are_refused() {
    assert_eq!(PublicKey::from_bytes(&IDENTITY), Err(KeyError::SmallOrder));
    for (i, t) in EIGHT_TORSION.iter().enumerate() {
        assert_eq!(
            PublicKey::from_bytes(t.compress().as_bytes()),
            Err(KeyError::SmallOrder),
            "[{i}]T"
        );
    }
}

#[test]
fn mixed_order_keys_are_refused() {
    let issuer = CompressedEdwardsY(*issuer_key().public_key().as_bytes())
        .decompress()
        .unwrap();
    for t in &EIGHT_TORSION[1..] {
        for base in [issuer, ED25519_BASEPOINT_POINT] {
            let mixed = (base + t).compress();
            assert_eq!(
                PublicKey::from_bytes(mixed.as_bytes()),
                Err(KeyError::NotTorsionFree)
            );
        }
    }
}

#[test]
fn weak_keys_are_refused_through_pem_and_jwk_too() {
    // SubjectPublicKeyInfo for Ed25519: a fixed 12-byte prefix and the 32-byte key.
    let spki_pem = |key: &[u8; 32]| {
        let mut der = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        der.extend_from_slice(key);
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n")
    };
    let good = issuer_key().public_key();
    assert_eq!(
        PublicKey::from_public_key_pem(&spki_pem(good.as_bytes())).unwrap(),
        good
    );
    assert_eq!(
        PublicKey::from_public_key_pem(&spki_pem(&IDENTITY)),
        Err(KeyError::SmallOrder)
    );
    let mixed = (ED25519_BASEPOINT_POINT + EIGHT_TORSION[1])
        .compress()
        .to_bytes();
    assert_eq!(
        PublicKey::from_public_key_pem(&spki_pem(&mixed)),
        Err(KeyError::NotTorsionFree)
    );

    let jwk = |x: &str| {
        attest_core::Jwk::from_json(
            &json!({ "kty": "OKP", "crv": "Ed25519", "kid": "k", "x": x }).to_string(),
        )
        .unwrap()
    };
    assert_eq!(
        PublicKey::from_jwk(&jwk(&b64(&IDENTITY))),
        Err(KeyError::SmallOrder)
    );
    assert_eq!(
        PublicKey::from_jwk(&jwk(&b64(&mixed))),
        Err(KeyError::NotTorsionFree)
    );
    // The jsonwebtoken gaps: a 31-byte x (it panics) and a 33-byte x (it truncates to a key
    // that would verify).
    assert_eq!(
        PublicKey::from_jwk(&jwk(&b64(&good.as_bytes()[..31]))),
        Err(KeyError::WrongLength(31))
    );
    let mut long = good.as_bytes().to_vec();
    long.push(0);
    assert_eq!(
        PublicKey::from_jwk(&jwk(&b64(&long))),
        Err(KeyError::WrongLength(33))
    );
    // A private JWK where a public one is expected.
    assert_eq!(
        PublicKey::from_jwk(&issuer_key().to_private_jwk()),
        Err(KeyError::UnexpectedPrivate)
    );
}

#[test]
fn identity_key_forgery_cannot_be_expressed() {
    // The forgery: R = identity, S = 0 verifies for ANY message under the identity key with a
    // non-strict verifier (jsonwebtoken 10.4 accepts it).
    let h = header("EdDSA", TYP, "weak");
    let input = format!("{}.{}", b64(h.as_bytes()), b64(&claims_bytes()));
    let mut forged = [0u8; 64];
    forged[..32].copy_from_slice(&IDENTITY);
    let token = format!("{input}.{}", b64(&forged));
    {
        use ed25519_dalek::Verifier;
        let lax = ed25519_dalek::VerifyingKey::from_bytes(&IDENTITY).unwrap();
        let sig = ed25519_dalek::Signature::from_bytes(&forged);
        assert!(
            lax.verify(input.as_bytes(), &sig).is_ok(),
            "the forgery is real"
        );
    }

    // The key is refused at import from bytes ...
    assert_eq!(PublicKey::from_bytes(&IDENTITY), Err(KeyError::SmallOrder));
    // ... and from a JWKS, where it is listed as rejected and never usable.
    let body = json!({ "keys": [
        { "kty": "OKP", "crv": "Ed25519", "kid": "weak", "use": "sig", "alg": "EdDSA", "x": b64(&IDENTITY) },
    ] });
    let set = KeySet::parse(body.to_string().as_bytes(), JwksLimits::default()).unwrap();
    assert_eq!(set.get("weak"), None);
    assert_eq!(
        set.rejected(),
        [RejectedKey {
            kid: Some("weak".into()),
            error: KeyError::SmallOrder
        }]
    );
    let mut keys = TrustStore::new();
    keys.insert(ISSUER, set);
    rejected_with(
        &token,
        &keys,
        &policy(),
        NOW,
        VerifyError::KeyUnknown,
        Reason::KeyUnknown,
    );
    // The same forgery aimed at a real key fails on its small-order R.
    let at_real_key = format!(
        "{}.{}.{}",
        b64(header_json().as_bytes()),
        b64(&claims_bytes()),
        b64(&forged)
    );
    rejected(
        &at_real_key,
        VerifyError::SignatureSmallOrder,
        Reason::Invalid,
    );
}

// ---------------------------------------------------------------------------------------------
// JWKS ingest
// ---------------------------------------------------------------------------------------------

fn issuer_x() -> String {
    b64(issuer_key().public_key().as_bytes())
}

fn okp(kid: &str, x: &str) -> Value {
    json!({ "kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig", "alg": "EdDSA", "x": x })
}

/// `base` with members of `changes` set; a `null` in `changes` removes the member.
fn patch(mut base: Value, changes: Value) -> Value {
    let object = base.as_object_mut().unwrap();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            object.remove(name);
        } else {
            object.insert(name.clone(), value.clone());
        }
    }
    base
}

fn parse_keys(keys: &[Value]) -> Result<KeySet, JwksError> {
    KeySet::parse(
        json!({ "keys": keys }).to_string().as_bytes(),
        JwksLimits::default(),
    )
}

fn trust_of(set: KeySet) -> TrustStore {
    let mut trust = TrustStore::new();
    trust.insert(ISSUER, set);
    trust
}

/// The valid claims, validly signed by the issuer key, under `kid`.
fn token_with_kid(kid: &str) -> String {
    with_header(&header("EdDSA", TYP, kid))
}

#[test]
fn jwks_well_formed_key_is_usable() {
    // Control for the refusals below: the same key, correctly published, verifies.
    for key in [
        okp("k", &issuer_x()),
        patch(okp("k", &issuer_x()), json!({ "alg": "Ed25519" })),
        patch(okp("k", &issuer_x()), json!({ "alg": null, "use": null })),
        patch(okp("k", &issuer_x()), json!({ "key_ops": ["verify"] })),
    ] {
        let set = parse_keys(std::slice::from_ref(&key)).unwrap();
        assert_eq!(set.kids(), ["k"], "{key}");
        assert!(set.rejected().is_empty());
        accepted_with(&token_with_kid("k"), &trust_of(set), &policy(), NOW);
    }
}

#[test]
fn jwks_wrong_kty_is_skipped_and_never_usable() {
    let x = issuer_x();
    let keys = [
        json!({ "kty": "RSA", "kid": "rsa", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB" }),
        json!({ "kty": "EC", "crv": "P-256", "kid": "ec", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }),
        // The real Ed25519 key material, under the wrong kty: still never usable.
        json!({ "kty": "EC", "crv": "Ed25519", "kid": "ec-ed", "x": x }),
        json!({ "kty": "okp", "crv": "Ed25519", "kid": "lower", "x": x }),
        json!({ "crv": "Ed25519", "kid": "no-kty", "x": x }),
    ];
    let set = parse_keys(&keys).unwrap();
    assert!(set.is_empty());
    assert_eq!(set.skipped(), keys.len());
    assert!(set.rejected().is_empty());
    let trust = trust_of(set);
    for kid in ["rsa", "ec", "ec-ed", "lower", "no-kty"] {
        rejected_with(
            &token_with_kid(kid),
            &trust,
            &policy(),
            NOW,
            VerifyError::KeyUnknown,
            Reason::KeyUnknown,
        );
    }
}

#[test]
fn jwks_okp_key_with_wrong_members_or_a_weak_key_is_refused() {
    let x = issuer_x();
    let base = okp("k", &x);
    let mut long = issuer_key().public_key().as_bytes().to_vec();
    long.push(0);
    let mixed = (CompressedEdwardsY(*issuer_key().public_key().as_bytes())
        .decompress()
        .unwrap()
        + EIGHT_TORSION[3])
        .compress()
        .to_bytes();
    let cases: Vec<(Value, KeyError)> = vec![
        // crv: the jsonwebtoken gap (P-256 taken as Ed25519), X25519 (same x length!), others.
        (
            patch(base.clone(), json!({ "crv": "P-256", "y": x })),
            KeyError::WrongCurve("P-256".into()),
        ),
        (
            patch(base.clone(), json!({ "crv": "X25519" })),
            KeyError::WrongCurve("X25519".into()),
        ),
        (
            patch(base.clone(), json!({ "crv": "Ed448" })),
            KeyError::WrongCurve("Ed448".into()),
        ),
        (
            patch(base.clone(), json!({ "crv": "ed25519" })),
            KeyError::WrongCurve("ed25519".into()),
        ),
        (
            patch(base.clone(), json!({ "crv": null })),
            KeyError::WrongCurve(String::new()),
        ),
        // alg
        (
            patch(base.clone(), json!({ "alg": "ES256" })),
            KeyError::WrongAlg("ES256".into()),
        ),
        (
            patch(base.clone(), json!({ "alg": "HS256" })),
            KeyError::WrongAlg("HS256".into()),
        ),
        (
            patch(base.clone(), json!({ "alg": "none" })),
            KeyError::WrongAlg("none".into()),
        ),
        (
            patch(base.clone(), json!({ "alg": "eddsa" })),
            KeyError::WrongAlg("eddsa".into()),
        ),
        (
            patch(base.clone(), json!({ "alg": "ECDH-ES" })),
            KeyError::WrongAlg("ECDH-ES".into()),
        ),
        // use
        (
            patch(base.clone(), json!({ "use": "enc" })),
            KeyError::WrongUse("enc".into()),
        ),
        (
            patch(base.clone(), json!({ "use": "SIG" })),
            KeyError::WrongUse("SIG".into()),
        ),
        // key_ops: a public key in a JWKS may only verify.
        (
            patch(base.clone(), json!({ "key_ops": ["sign"] })),
            KeyError::WrongKeyOps(vec!["sign".into()]),
        ),
        (
            patch(base.clone(), json!({ "key_ops": ["encrypt"] })),
            KeyError::WrongKeyOps(vec!["encrypt".into()]),
        ),
        (
            patch(base.clone(), json!({ "key_ops": ["verify", "sign"] })),
            KeyError::WrongKeyOps(vec!["verify".into(), "sign".into()]),
        ),
        (
            patch(base.clone(), json!({ "key_ops": [] })),
            KeyError::WrongKeyOps(vec![]),
        ),
        // weak or malformed x
        (okp("k", &b64(&IDENTITY)), KeyError::SmallOrder),
        (
            okp("k", &b64(EIGHT_TORSION[1].compress().as_bytes())),
            KeyError::SmallOrder,
        ),
        (okp("k", &b64(&mixed)), KeyError::NotTorsionFree),
        (okp("k", &b64(&p_plus(1))), KeyError::NonCanonical),
        (
            okp("k", &b64(&issuer_key().public_key().as_bytes()[..31])),
            KeyError::WrongLength(31),
        ),
        (okp("k", &b64(&long)), KeyError::WrongLength(33)),
        (
            okp("k", &URL_SAFE.encode(issuer_key().public_key().as_bytes())),
            KeyError::Base64("x"),
        ),
        (okp("k", &format!("{x} ")), KeyError::Base64("x")),
        (
            patch(base.clone(), json!({ "x": null })),
            KeyError::Missing("x"),
        ),
    ];
    for (key, expected) in cases {
        let set = parse_keys(std::slice::from_ref(&key)).unwrap();
        assert_eq!(set.get("k"), None, "{key}");
        assert_eq!(
            set.rejected(),
            [RejectedKey {
                kid: Some("k".into()),
                error: expected
            }],
            "{key}"
        );
        rejected_with(
            &token_with_kid("k"),
            &trust_of(set),
            &policy(),
            NOW,
            VerifyError::KeyUnknown,
            Reason::KeyUnknown,
        );
    }
}

#[test]
fn jwks_key_without_a_valid_kid_is_refused() {
    let x = issuer_x();
    let set = parse_keys(&[
        okp("has space", &x),
        okp("", &x),
        okp(&"k".repeat(200), &x),
        okp("ctl\u{7}", &x),
        patch(okp("k", &x), json!({ "kid": null })),
    ])
    .unwrap();
    assert!(set.is_empty());
    let errors: Vec<(Option<&str>, &KeyError)> = set
        .rejected()
        .iter()
        .map(|r| (r.kid.as_deref(), &r.error))
        .collect();
    let long = "k".repeat(200);
    assert_eq!(
        errors,
        [
            (Some("has space"), &KeyError::KidInvalid),
            (Some(""), &KeyError::KidInvalid),
            (Some(long.as_str()), &KeyError::KidInvalid),
            (Some("ctl\u{7}"), &KeyError::KidInvalid),
            (None, &KeyError::Missing("kid")),
        ]
    );
    // A kid that is not a string at all.
    let set = parse_keys(&[patch(okp("k", &x), json!({ "kid": 7 }))]).unwrap();
    assert!(set.is_empty());
    assert!(
        matches!(
            set.rejected(),
            [RejectedKey {
                kid: None,
                error: KeyError::Json(_)
            }]
        ),
        "{:?}",
        set.rejected()
    );
}

#[test]
fn jwks_with_a_private_key_is_refused_whole() {
    let good = okp("good", &issuer_x());
    let seed = b64(issuer_key().seed().as_ref());
    for (keys, index) in [
        (
            vec![
                good.clone(),
                patch(okp("leak", &issuer_x()), json!({ "d": seed })),
            ],
            1,
        ),
        (
            vec![
                patch(okp("leak", &issuer_x()), json!({ "d": seed })),
                good.clone(),
            ],
            0,
        ),
        // Private members of any kty, even one that would be skipped.
        (
            vec![
                good.clone(),
                json!({ "kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB", "p": "AQAB" }),
            ],
            1,
        ),
        (
            vec![
                good.clone(),
                json!({ "kty": "oct", "kid": "h", "k": "c2VjcmV0" }),
            ],
            1,
        ),
    ] {
        assert_eq!(parse_keys(&keys).unwrap_err(), JwksError::PrivateKey(index));
    }
    // The issuer's own private JWK export, published by mistake.
    let leaked: Value = serde_json::from_str(&issuer_key().to_private_jwk().to_json()).unwrap();
    assert_eq!(parse_keys(&[leaked]).unwrap_err(), JwksError::PrivateKey(0));
}

#[test]
fn jwks_duplicate_kid_makes_that_kid_unusable() {
    let x = issuer_x();
    let attacker_x = b64(attacker_key().public_key().as_bytes());
    for keys in [
        // Identical copies.
        vec![okp("dup", &x), okp("dup", &x), okp("other", &x)],
        // Two different keys: the verifier cannot know which one the issuer meant.
        vec![okp("dup", &x), okp("dup", &attacker_x), okp("other", &x)],
        // A refused copy and a good one.
        vec![
            okp("dup", &b64(&IDENTITY)),
            okp("dup", &x),
            okp("other", &x),
        ],
        // A copy of another kty.
        vec![
            json!({ "kty": "RSA", "kid": "dup", "n": "AQAB", "e": "AQAB" }),
            okp("dup", &x),
            okp("other", &x),
        ],
    ] {
        let set = parse_keys(&keys).unwrap();
        assert_eq!(set.get("dup"), None);
        assert_eq!(set.kids(), ["other"]);
        assert!(
            set.rejected().contains(&RejectedKey {
                kid: Some("dup".into()),
                error: KeyError::DuplicateKid
            }),
            "{:?}",
            set.rejected()
        );
        let trust = trust_of(set);
        rejected_with(
            &token_with_kid("dup"),
            &trust,
            &policy(),
            NOW,
            VerifyError::KeyUnknown,
            Reason::KeyUnknown,
        );
        accepted_with(&token_with_kid("other"), &trust, &policy(), NOW);
    }
    // Built from keys in hand, a repeated kid is an error.
    let pk = issuer_key().public_key();
    assert_eq!(
        KeySet::from_keys([("dup", pk.clone()), ("dup", pk)]).unwrap_err(),
        KeyError::DuplicateKid
    );
}

#[test]
fn jwks_with_too_many_keys_is_refused() {
    let x = issuer_x();
    let keys = |n: usize| {
        (0..n)
            .map(|i| okp(&format!("k{i}"), &x))
            .collect::<Vec<_>>()
    };
    let max = JwksLimits::default().max_keys;
    assert_eq!(max, 32);
    assert_eq!(parse_keys(&keys(max)).unwrap().len(), max);
    assert_eq!(
        parse_keys(&keys(max + 1)).unwrap_err(),
        JwksError::TooManyKeys {
            count: max + 1,
            max
        }
    );
    // Keys of any kty count.
    let mut mixed = keys(max);
    mixed.push(json!({ "kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB" }));
    assert_eq!(
        parse_keys(&mixed).unwrap_err(),
        JwksError::TooManyKeys {
            count: max + 1,
            max
        }
    );
    let tight = JwksLimits {
        max_keys: 2,
        ..JwksLimits::default()
    };
    let body = json!({ "keys": keys(3) }).to_string();
    assert_eq!(
        KeySet::parse(body.as_bytes(), tight).unwrap_err(),
        JwksError::TooManyKeys { count: 3, max: 2 }
    );
}

#[test]
fn jwks_body_too_large_is_refused() {
    let max = JwksLimits::default().max_body_bytes;
    assert_eq!(max, 64 * 1024);
    let body = json!({ "keys": [okp("k", &issuer_x())] }).to_string();
    // Padded with JSON whitespace to exactly the cap (accepted) and one byte over (refused).
    let at_cap = format!("{body}{}", " ".repeat(max - body.len()));
    assert_eq!(
        KeySet::parse(at_cap.as_bytes(), JwksLimits::default())
            .unwrap()
            .kids(),
        ["k"]
    );
    let over = format!("{at_cap} ");
    assert_eq!(
        KeySet::parse(over.as_bytes(), JwksLimits::default()).unwrap_err(),
        JwksError::TooLarge { len: max + 1, max }
    );
    let tight = JwksLimits {
        max_body_bytes: 16,
        ..JwksLimits::default()
    };
    assert_eq!(
        KeySet::parse(body.as_bytes(), tight).unwrap_err(),
        JwksError::TooLarge {
            len: body.len(),
            max: 16
        }
    );
}

#[test]
fn jwks_with_hostile_json_is_refused() {
    let key = okp("k", &issuer_x()).to_string();
    let limits = JwksLimits::default();
    assert_eq!(
        KeySet::parse(
            format!(r#"{{"keys":[{key}],"keys":[]}}"#).as_bytes(),
            limits
        )
        .unwrap_err(),
        JwksError::DuplicateMember("keys".into())
    );
    let dup_inside = key.replacen(r#""kid":"k""#, r#""kid":"k","kid":"other""#, 1);
    assert_ne!(dup_inside, key);
    assert_eq!(
        KeySet::parse(format!(r#"{{"keys":[{dup_inside}]}}"#).as_bytes(), limits).unwrap_err(),
        JwksError::DuplicateMember("kid".into())
    );
    assert_eq!(
        KeySet::parse(br#"{"keys":[{"kty":"OKP","x5c":[["deep"]]}]}"#, limits).unwrap_err(),
        JwksError::TooDeep
    );
    for body in [
        &b"[]"[..],
        b"{}",
        br#"{"keys":{}}"#,
        br#"{"keys":[1]}"#,
        b"not json",
        b"",
    ] {
        let err = KeySet::parse(body, limits).unwrap_err();
        assert!(
            matches!(err, JwksError::Json(_)),
            "{}: {err:?}",
            String::from_utf8_lossy(body)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Key and issuer binding
// ---------------------------------------------------------------------------------------------

#[test]
fn kid_that_is_not_a_short_string_is_refused() {
    for kid in [
        json!(""),
        json!("k".repeat(129)),
        json!("k".repeat(200)),
        json!("has space"),
        json!(" lead"),
        json!("ctl\u{1}"),
        json!("tab\t"),
        json!("nl\n"),
        json!("del\u{7f}"),
        json!("ключ"),
        json!(7),
        json!(null),
        json!(["issuer-key-1"]),
        json!({ "kid": KID }),
    ] {
        let h = json!({ "alg": "EdDSA", "typ": TYP, "kid": kid }).to_string();
        rejected(
            &with_header(&h),
            VerifyError::KidInvalid,
            Reason::HeaderRejected,
        );
    }
    let no_kid = json!({ "alg": "EdDSA", "typ": TYP }).to_string();
    rejected(
        &with_header(&no_kid),
        VerifyError::MissingHeader("kid"),
        Reason::HeaderRejected,
    );
    // 128 visible-ASCII bytes is the longest kid, and it works when published.
    let longest = "k".repeat(128);
    let keys = store(ISSUER, &[(longest.as_str(), issuer_key().public_key())]);
    accepted_with(&token_with_kid(&longest), &keys, &policy(), NOW);
}

#[test]
fn unknown_kid_is_refused() {
    for kid in [
        "issuer-key-2",
        "ISSUER-KEY-1",
        "issuer-key-0",
        "issuer-key-1x",
        "issuer-key",
    ] {
        rejected(
            &token_with_kid(kid),
            VerifyError::KeyUnknown,
            Reason::KeyUnknown,
        );
    }
    // A trusted issuer with no published keys at all.
    rejected_with(
        &valid_token(),
        &TrustStore::new(),
        &policy(),
        NOW,
        VerifyError::KeyUnknown,
        Reason::KeyUnknown,
    );
}

#[test]
fn key_from_issuer_a_does_not_verify_a_token_claiming_issuer_b() {
    const ISSUER_B: &str = "https://issuer-b.example";
    let key_a = issuer_key();
    let key_b = SigningKey::from_seed(&[0x22; 32], "b-key-1").unwrap();
    let both = Policy::builder()
        .trusted_issuer(ISSUER)
        .trusted_issuer(ISSUER_B)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let mut keys = TrustStore::new();
    keys.insert(
        ISSUER,
        KeySet::from_keys([(KID, key_a.public_key())]).unwrap(),
    );
    keys.insert(
        ISSUER_B,
        KeySet::from_keys([(key_b.kid(), key_b.public_key())]).unwrap(),
    );
    let claiming_b = edited(|c| {
        c.insert("iss".into(), json!(ISSUER_B));
    });
    let claims_b = claiming_b.to_string();

    // Controls: each issuer's own tokens verify.
    accepted_with(&valid_token(), &keys, &both, NOW);
    let from_b = sign_raw(
        &key_b,
        header("EdDSA", TYP, key_b.kid()).as_bytes(),
        claims_b.as_bytes(),
    );
    assert_eq!(accepted_with(&from_b, &keys, &both, NOW).issuer(), ISSUER_B);

    // A's key, A's kid, but iss = B: B publishes no such kid.
    let forged = sign_raw(&key_a, header_json().as_bytes(), claims_b.as_bytes());
    rejected_with(
        &forged,
        &keys,
        &both,
        NOW,
        VerifyError::KeyUnknown,
        Reason::KeyUnknown,
    );
    // A's key under B's kid.
    let forged = sign_raw(
        &key_a,
        header("EdDSA", TYP, key_b.kid()).as_bytes(),
        claims_b.as_bytes(),
    );
    rejected_with(
        &forged,
        &keys,
        &both,
        NOW,
        VerifyError::SignatureMismatch,
        Reason::Invalid,
    );
    // Both issuers use the same kid string: the lookup is by (iss, kid), so B's key is used.
    keys.insert(
        ISSUER_B,
        KeySet::from_keys([(KID, key_b.public_key())]).unwrap(),
    );
    let forged = sign_raw(&key_a, header_json().as_bytes(), claims_b.as_bytes());
    rejected_with(
        &forged,
        &keys,
        &both,
        NOW,
        VerifyError::SignatureMismatch,
        Reason::Invalid,
    );
    // And B's key cannot sign for A.
    let forged = sign_raw(&key_b, header_json().as_bytes(), &claims_bytes());
    rejected_with(
        &forged,
        &keys,
        &both,
        NOW,
        VerifyError::SignatureMismatch,
        Reason::Invalid,
    );
}

// ---------------------------------------------------------------------------------------------
// Claims: types and presence of time claims
// ---------------------------------------------------------------------------------------------

#[test]
fn time_claims_missing_are_refused() {
    for name in ["exp", "iat"] {
        let token = with_claims(|c| {
            c.remove(name);
        });
        rejected(
            &token,
            VerifyError::MissingClaim(name.into()),
            Reason::ClaimsInsufficient,
        );
    }
    // nbf is optional in the protocol, and required only where policy says so.
    let no_nbf = valid_token();
    assert!(!accepted(&no_nbf).claims().has("nbf"));
    let needs_nbf = policy_builder().require_claim("nbf").build().unwrap();
    rejected_with(
        &no_nbf,
        &trust(),
        &needs_nbf,
        NOW,
        VerifyError::MissingClaim("nbf".into()),
        Reason::ClaimsInsufficient,
    );
    let with_nbf = with_claims(|c| {
        c.insert("nbf".into(), json!(NOW.as_secs()));
    });
    accepted_with(&with_nbf, &trust(), &needs_nbf, NOW);
}

#[test]
fn time_claims_that_are_not_integers_are_refused() {
    let exp = NOW.as_secs() + 300;
    for name in ["exp", "iat", "nbf"] {
        for raw in [
            "1.7e9".to_owned(),
            "1790000000.0".to_owned(),
            format!("{exp}.0"),
            format!("{exp}e0"),
            format!("{exp}.5"),
            format!("\"{exp}\""),
            "-1".to_owned(),
            format!("-{exp}"),
            "18446744073709551616".to_owned(),
            "null".to_owned(),
            "true".to_owned(),
            format!("[{exp}]"),
            "{}".to_owned(),
        ] {
            rejected(
                &with_raw_claim(name, &raw),
                VerifyError::InvalidClaim(name),
                Reason::Malformed,
            );
        }
    }
    // Control: the same raw path with a plain integer is accepted.
    accepted(&with_raw_claim("exp", &exp.to_string()));
    accepted(&with_raw_claim("nbf", &NOW.as_secs().to_string()));
}

// ---------------------------------------------------------------------------------------------
// Claims: time windows
// ---------------------------------------------------------------------------------------------

#[test]
fn exp_past_beyond_leeway_is_refused_and_within_leeway_accepted() {
    let token = valid_token(); // iat = NOW, exp = NOW + 300; leeway 30 s.
    let exp = NOW.saturating_add(300);
    // The original's defect: 10 s after exp, with 30 s of leeway, it must be ACCEPTED.
    accepted_with(&token, &trust(), &policy(), exp.saturating_add(10));
    accepted_with(&token, &trust(), &policy(), exp);
    accepted_with(&token, &trust(), &policy(), exp.saturating_add(29));
    for late in [30, 31, 3_600, 1 << 40] {
        rejected_with(
            &token,
            &trust(),
            &policy(),
            exp.saturating_add(late),
            VerifyError::Expired,
            Reason::Expired,
        );
    }
    // Without leeway, not on or after exp (RFC 7519 §4.1.4).
    let strict = policy_builder().leeway_secs(0).build().unwrap();
    accepted_with(
        &token,
        &trust(),
        &strict,
        UnixTime::from_secs(exp.as_secs() - 1),
    );
    rejected_with(
        &token,
        &trust(),
        &strict,
        exp,
        VerifyError::Expired,
        Reason::Expired,
    );
}

#[test]
fn nbf_in_the_future_beyond_leeway_is_refused() {
    let at = |nbf: u64| {
        with_claims(|c| {
            c.insert("nbf".into(), json!(nbf));
        })
    };
    accepted(&at(NOW.as_secs() + 30));
    accepted(&at(NOW.as_secs()));
    for ahead in [31, 120, 299] {
        rejected(
            &at(NOW.as_secs() + ahead),
            VerifyError::NotYetValid,
            Reason::NotYetValid,
        );
    }
}

#[test]
fn iat_in_the_future_beyond_leeway_is_refused() {
    let issued = |iat: u64| {
        with_claims(|c| {
            c.insert("iat".into(), json!(iat));
            c.insert("exp".into(), json!(iat + 300));
        })
    };
    accepted(&issued(NOW.as_secs() + 30));
    for ahead in [31, 3_600, 1 << 40] {
        rejected(
            &issued(NOW.as_secs() + ahead),
            VerifyError::IssuedInFuture,
            Reason::NotYetValid,
        );
    }
}

#[test]
fn lifetime_over_the_policy_maximum_is_refused() {
    let lived = |lifetime: u64| {
        with_claims(|c| {
            c.insert("exp".into(), json!(NOW.as_secs() + lifetime));
        })
    };
    accepted(&lived(Policy::DEFAULT_MAX_LIFETIME_SECS));
    rejected(
        &lived(Policy::DEFAULT_MAX_LIFETIME_SECS + 1),
        VerifyError::LifetimeExceeded {
            lifetime: 3_601,
            max: 3_600,
        },
        Reason::LifetimeExceeded,
    );
    let far = with_claims(|c| {
        c.insert("exp".into(), json!(u64::MAX));
    });
    rejected(
        &far,
        VerifyError::LifetimeExceeded {
            lifetime: u64::MAX - NOW.as_secs(),
            max: 3_600,
        },
        Reason::LifetimeExceeded,
    );
    // A tighter policy, with a real minted token.
    let short = policy_builder().max_lifetime_secs(60).build().unwrap();
    let minted = builder()
        .lifetime_secs(61)
        .sign(&issuer_key(), NOW, &mut rng())
        .unwrap();
    rejected_with(
        &minted,
        &trust(),
        &short,
        NOW,
        VerifyError::LifetimeExceeded {
            lifetime: 61,
            max: 60,
        },
        Reason::LifetimeExceeded,
    );
    // exp at or before iat is not a lifetime at all.
    for exp in [NOW.as_secs(), NOW.as_secs() - 1] {
        let token = with_claims(|c| {
            c.insert("exp".into(), json!(exp));
        });
        rejected(&token, VerifyError::InvalidClaim("exp"), Reason::Malformed);
    }
}

// ---------------------------------------------------------------------------------------------
// Claims: audience, issuer, jti, version
// ---------------------------------------------------------------------------------------------

#[test]
fn aud_missing_empty_or_not_matching_is_refused() {
    let aud = |value: Value| {
        with_claims(|c| {
            c.insert("aud".into(), value);
        })
    };
    let missing = with_claims(|c| {
        c.remove("aud");
    });
    rejected(
        &missing,
        VerifyError::MissingClaim("aud".into()),
        Reason::ClaimsInsufficient,
    );
    for empty in [json!(""), json!([]), json!([""]), json!(["", ""])] {
        rejected(
            &aud(empty),
            VerifyError::AudienceEmpty,
            Reason::AudienceMismatch,
        );
    }
    for other in [
        json!("https://other.example"),
        json!("https://tools.example/"),
        json!("https://TOOLS.example"),
        json!("https://tools.example.evil.com"),
        json!("https://tools.exampl"),
        json!(" https://tools.example"),
        json!(["https://a.example", "https://b.example"]),
        json!(["", "https://other.example"]),
    ] {
        rejected(
            &aud(other),
            VerifyError::AudienceMismatch,
            Reason::AudienceMismatch,
        );
    }
    for wrong_type in [
        json!(42),
        json!([1]),
        json!(null),
        json!({ "aud": AUDIENCE }),
    ] {
        rejected(
            &aud(wrong_type),
            VerifyError::InvalidClaim("aud"),
            Reason::Malformed,
        );
    }
    // Matching one of several is enough.
    accepted(&aud(json!(["https://a.example", AUDIENCE])));
    accepted(&aud(json!([AUDIENCE])));
    // A token for server A presented to server B.
    let server_b = Policy::builder()
        .trusted_issuer(ISSUER)
        .audience("https://server-b.example")
        .build()
        .unwrap();
    rejected_with(
        &valid_token(),
        &trust(),
        &server_b,
        NOW,
        VerifyError::AudienceMismatch,
        Reason::AudienceMismatch,
    );
}

#[test]
fn iss_not_exactly_trusted_is_refused() {
    for iss in [
        "https://issuer.example/",
        "https://issuer.example//",
        "https://issuer.exampl",
        "https://issuer.example.com",
        "https://issuer.example.evil.com",
        "https://issuer-example",
        "https://issuer-example.com",
        "https://Issuer.example",
        "HTTPS://issuer.example",
        "http://issuer.example",
        "https://issuer.example:443",
        "https://issuer.example#",
        "https://issuer.example?",
        " https://issuer.example",
        "https://issuer.example ",
        "https://issuer.example\u{0}",
        "https://іssuer.example", // Cyrillic і
        "issuer.example",
        "",
    ] {
        // Signed by the issuer's real key under its real kid: only the iss check stops it.
        let token = with_claims(|c| {
            c.insert("iss".into(), json!(iss));
        });
        rejected(
            &token,
            VerifyError::IssuerUntrusted,
            Reason::IssuerUntrusted,
        );
    }
    let missing = with_claims(|c| {
        c.remove("iss");
    });
    rejected(
        &missing,
        VerifyError::MissingClaim("iss".into()),
        Reason::ClaimsInsufficient,
    );
    let number = with_claims(|c| {
        c.insert("iss".into(), json!(1));
    });
    rejected(&number, VerifyError::InvalidClaim("iss"), Reason::Malformed);
}

#[test]
fn untrusted_issuer_with_published_keys_is_refused() {
    // Provenance forgery: the attacker runs an issuer and even gets its keys into the store;
    // the policy does not trust it.
    const EVIL: &str = "https://issuer.example.evil.com";
    let attacker = attacker_key();
    let mut keys = trust();
    keys.insert(
        EVIL,
        KeySet::from_keys([(KID, attacker.public_key())]).unwrap(),
    );
    let claims = edited(|c| {
        c.insert("iss".into(), json!(EVIL));
    });
    let token = sign_raw(
        &attacker,
        header_json().as_bytes(),
        claims.to_string().as_bytes(),
    );
    rejected_with(
        &token,
        &keys,
        &policy(),
        NOW,
        VerifyError::IssuerUntrusted,
        Reason::IssuerUntrusted,
    );
    // The unverified path re-checks the issuer as well, even when handed the matching key.
    let unverified = dangerous::decode_unverified(&token, &policy()).unwrap();
    assert_eq!(unverified.issuer(), EVIL);
    assert_eq!(
        unverified
            .verify(&attacker.public_key(), &policy(), NOW)
            .unwrap_err(),
        VerifyError::IssuerUntrusted
    );
}

#[test]
fn jti_missing_empty_or_too_long_is_refused() {
    let jti = |value: Value| {
        with_claims(|c| {
            c.insert("jti".into(), value);
        })
    };
    let missing = with_claims(|c| {
        c.remove("jti");
    });
    rejected(
        &missing,
        VerifyError::MissingClaim("jti".into()),
        Reason::ClaimsInsufficient,
    );
    rejected(
        &jti(json!("")),
        VerifyError::InvalidClaim("jti"),
        Reason::Malformed,
    );
    rejected(
        &jti(json!(42)),
        VerifyError::InvalidClaim("jti"),
        Reason::Malformed,
    );
    rejected(
        &jti(json!(null)),
        VerifyError::InvalidClaim("jti"),
        Reason::Malformed,
    );
    accepted(&jti(json!("j".repeat(128))));
    rejected(
        &jti(json!("j".repeat(129))),
        VerifyError::JtiTooLong { len: 129, max: 128 },
        Reason::Malformed,
    );
    // The cap counts bytes, not characters.
    rejected(
        &jti(json!("é".repeat(65))),
        VerifyError::JtiTooLong { len: 130, max: 128 },
        Reason::Malformed,
    );
    let tight = policy_builder().max_jti_bytes(36).build().unwrap();
    accepted_with(&valid_token(), &trust(), &tight, NOW); // a UUID is 36 bytes
    rejected_with(
        &jti(json!("j".repeat(37))),
        &trust(),
        &tight,
        NOW,
        VerifyError::JtiTooLong { len: 37, max: 36 },
        Reason::Malformed,
    );
}

#[test]
fn attestation_version_other_than_0_1_0_is_refused() {
    let version = |v: Value| {
        with_claims(|c| {
            c["attestation_metadata"]["attestation_version"] = v;
        })
    };
    for v in ["0.2.0", "0.1", "0.1.0 ", "v0.1.0", "1.0.0", "0.1.1", ""] {
        rejected(
            &version(json!(v)),
            VerifyError::InvalidClaim("attestation_metadata.attestation_version"),
            Reason::Malformed,
        );
    }
    rejected(
        &version(json!(0.1)),
        VerifyError::InvalidClaim("attestation_metadata"),
        Reason::Malformed,
    );
}

#[test]
fn required_claims_missing_are_refused() {
    let missing = with_claims(|c| {
        c.remove("agent_identity");
    });
    rejected(
        &missing,
        VerifyError::MissingClaim("agent_identity".into()),
        Reason::ClaimsInsufficient,
    );
    let missing = with_claims(|c| {
        c.remove("attestation_metadata");
    });
    rejected(
        &missing,
        VerifyError::MissingClaim("attestation_metadata".into()),
        Reason::ClaimsInsufficient,
    );
    let needs_prompt_hash = policy_builder()
        .require_claim("agent_integrity.system_prompt_hash")
        .build()
        .unwrap();
    rejected_with(
        &valid_token(),
        &trust(),
        &needs_prompt_hash,
        NOW,
        VerifyError::MissingClaim("agent_integrity.system_prompt_hash".into()),
        Reason::ClaimsInsufficient,
    );
}

// ---------------------------------------------------------------------------------------------
// Tampering and spoofing (attack simulation scenarios)
// ---------------------------------------------------------------------------------------------

/// Re-encodes the payload of `token` after `edit`, keeping the original signature.
fn tamper(token: &str, edit: impl FnOnce(&mut Value)) -> String {
    let (h, p, s) = segments(token);
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    edit(&mut claims);
    format!("{h}.{}.{s}", b64(claims.to_string().as_bytes()))
}

#[test]
fn claims_tampered_after_signing_are_refused() {
    let token = valid_token();
    type Edit = (&'static str, Box<dyn Fn(&mut Value)>);
    let edits: [Edit; 6] = [
        (
            "exp extended",
            Box::new(|c| c["exp"] = json!(NOW.as_secs() + 3_000)),
        ),
        (
            "safety minimal",
            Box::new(|c| c["attestation_metadata"]["safety_level"] = json!("minimal")),
        ),
        (
            "safety enhanced",
            Box::new(|c| c["attestation_metadata"]["safety_level"] = json!("enhanced")),
        ),
        (
            "model",
            Box::new(|c| c["agent_identity"]["model_family"] = json!("gpt")),
        ),
        (
            "aud",
            Box::new(|c| c["aud"] = json!("https://other.example")),
        ),
        (
            "capabilities",
            Box::new(|c| c["attestation_metadata"]["capabilities_declared"] = json!(["admin"])),
        ),
    ];
    for (what, edit) in edits {
        let tampered = tamper(&token, |c| edit(c));
        assert_ne!(tampered, token, "{what}");
        rejected(&tampered, VerifyError::SignatureMismatch, Reason::Invalid);
    }
    // The header too: typ swapped to JWT under a policy that accepts it.
    let (_, p, s) = segments(&token);
    let swapped = format!("{}.{p}.{s}", b64(header("EdDSA", "JWT", KID).as_bytes()));
    let compat = policy_builder().accept_compat_typ().build().unwrap();
    rejected_with(
        &swapped,
        &trust(),
        &compat,
        NOW,
        VerifyError::SignatureMismatch,
        Reason::Invalid,
    );
}

#[test]
fn model_spoofing_with_the_attackers_key_is_refused() {
    // The attacker's own key, under the issuer's kid.
    let attacker = attacker_key();
    assert_eq!(attacker.kid(), KID);
    let spoof = builder().sign(&attacker, NOW, &mut rng()).unwrap();
    rejected(&spoof, VerifyError::SignatureMismatch, Reason::Invalid);
    // The attacker's own key under its own kid.
    let own = attacker.with_kid("attacker-key-1").unwrap();
    let spoof = builder().sign(&own, NOW, &mut rng()).unwrap();
    rejected(&spoof, VerifyError::KeyUnknown, Reason::KeyUnknown);
}

// ---------------------------------------------------------------------------------------------
// What a peer is told
// ---------------------------------------------------------------------------------------------

#[test]
fn every_signature_failure_looks_the_same_to_a_peer() {
    let token = valid_token();
    let signature = signature_of(&token);
    let mut mismatch = signature;
    mismatch[5] ^= 0x40;
    let mut non_canonical = signature;
    non_canonical[32..].copy_from_slice(&add_le(&signature[32..].try_into().unwrap(), &L));
    let mut small_order = [0u8; 64];
    small_order[..32].copy_from_slice(&IDENTITY);
    let failures: Vec<VerifyError> = [
        with_signature(&token, &signature[..63]),
        with_signature(&token, &non_canonical),
        with_signature(&token, &small_order),
        with_signature(&token, &mismatch),
        builder().sign(&attacker_key(), NOW, &mut rng()).unwrap(),
    ]
    .iter()
    .map(|t| verify(t, &trust(), &policy(), NOW).unwrap_err())
    .collect();
    assert_eq!(
        failures,
        [
            VerifyError::SignatureLength(63),
            VerifyError::SignatureNonCanonical,
            VerifyError::SignatureSmallOrder,
            VerifyError::SignatureMismatch,
            VerifyError::SignatureMismatch,
        ]
    );
    for failure in &failures {
        // The wire string, the Display and the message are identical for every one.
        assert_eq!(failure.reason(), Reason::Invalid);
        assert_eq!(failure.reason().as_str(), "attestation_invalid");
        assert_eq!(failure.reason().to_string(), "attestation_invalid");
        assert_eq!(failure.reason().message(), Reason::Invalid.message());
        assert_eq!(
            Reason::from_wire(failure.reason().as_str()),
            Some(Reason::Invalid)
        );
    }
    // The precise cause stays in logs: the codes differ.
    let codes: Vec<&str> = failures.iter().map(VerifyError::code).collect();
    assert_eq!(
        codes,
        [
            "signature_length",
            "signature_non_canonical",
            "signature_small_order",
            "signature_mismatch",
            "signature_mismatch"
        ]
    );
    // The coarse message never names the precise cause.
    for word in ["length", "canonical", "small", "order", "mismatch", "64"] {
        assert!(!Reason::Invalid.message().contains(word), "{word}");
        assert!(!Reason::Invalid.as_str().contains(word), "{word}");
    }
}

#[test]
fn reasons_are_stable_and_distinct() {
    let wire: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
    let mut unique = wire.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), wire.len());
    for (reason, s) in Reason::ALL.iter().zip(&wire) {
        assert!(s.starts_with("attestation_"), "{s}");
        assert_eq!(Reason::from_wire(s), Some(*reason));
    }
    assert_eq!(Reason::from_wire("attestation_bogus"), None);
}

/// Verifies `claims` (edited from the valid set) under the default fixtures.
fn verify_edited(edit: impl FnOnce(&mut Value)) -> Result<Verified, VerifyError> {
    let mut claims = valid_claims_json();
    edit(&mut claims);
    verify(&sign_claims(&claims), &trust(), &policy(), NOW)
}

#[test]
fn empty_sub_is_refused() {
    let result = verify_edited(|c| c["sub"] = json!(""));
    assert_eq!(result.unwrap_err(), VerifyError::InvalidClaim("sub"));
}

#[test]
fn cnf_must_name_a_usable_agent_key() {
    let agent = SigningKey::from_seed(&[0x77; 32], "agent").unwrap();
    let jwk = serde_json::to_value(agent.to_public_jwk()).unwrap();
    let jkt = agent.public_key().thumbprint();

    // Accepted: a public key, its thumbprint, or both when they agree.
    for cnf in [
        json!({"jwk": jwk}),
        json!({"jkt": jkt}),
        json!({"jwk": jwk, "jkt": jkt}),
    ] {
        let verified = verify_edited(|c| c["cnf"] = cnf.clone()).unwrap();
        assert!(verified.claims().cnf.is_some());
    }

    let private = serde_json::to_value(agent.to_private_jwk()).unwrap();
    let mut p256 = jwk.clone();
    p256["crv"] = json!("P-256");
    let identity = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&{
        let mut id = [0u8; 32];
        id[0] = 1;
        id
    })});
    let other_jkt = issuer_key().public_key().thumbprint();
    let refused = [
        (json!({"jwk": private}), "cnf.jwk"), // the agent's private key leaked into the token
        (json!({"jwk": p256}), "cnf.jwk"),
        (json!({"jwk": identity}), "cnf.jwk"), // a weak key proves nothing
        (json!({"jkt": "not-a-thumbprint"}), "cnf.jkt"),
        (json!({"jkt": format!("{jkt}=")}), "cnf.jkt"),
        (json!({"jwk": jwk, "jkt": other_jkt}), "cnf.jkt"), // they name different keys
        (json!({}), "cnf"),
    ];
    for (cnf, claim) in refused {
        let result = verify_edited(|c| c["cnf"] = cnf.clone());
        let error = result.unwrap_err();
        assert_eq!(error, VerifyError::InvalidClaim(claim), "{cnf}");
        assert_eq!(error.reason(), Reason::Malformed);
    }
}

#[test]
fn jwks_key_ops_with_duplicates_is_refused() {
    let key = issuer_key();
    let mut jwk = serde_json::to_value(key.to_public_jwk()).unwrap();
    jwk["key_ops"] = json!(["verify", "verify"]);
    let body = json!({ "keys": [jwk] }).to_string();
    let set = KeySet::parse(body.as_bytes(), JwksLimits::default()).unwrap();
    assert!(set.is_empty());
    assert_eq!(
        set.rejected()[0].error,
        KeyError::WrongKeyOps(vec!["verify".into(), "verify".into()])
    );
}
