//! Interop both ways with josekit (OpenSSL-backed): tokens and keys.
//!
//! - Our tokens verify in josekit, with our public key as JWK or PEM, and josekit reads our
//!   header and claims.
//! - josekit-signed EdDSA JWTs with our claims verify in ours, and the claims come back equal.
//! - A josekit token signed by another key, or with another algorithm, is refused by ours.
//! - Keys exported by either side (JWK, PEM) import in the other.

use std::collections::BTreeMap;
use std::time::SystemTime;

use attest_core::{
    AgentIdentity, AgentIntegrity, AttestationMetadata, AttestationType, Claims, Confirmation,
    IntegrityHash, Jwk, JwksLimits, KeySet, Policy, PublicKey, Reason, SafetyLevel, SigningKey,
    TrustStore, VerifyError, verify,
};
use josekit::jwk::KeyPair;
use josekit::jwk::alg::ed::{EdCurve, EdKeyPair};
use josekit::jws::{EdDSA, JwsHeader, JwsSigner};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Value, json};

use crate::common::{
    AUDIENCE, ISSUER, KID, NOW, SUBJECT, attacker_key, builder, issuer_key, policy, rng, trust,
    valid_claims_json, valid_token,
};

const TYP: &str = "agent-attestation+jwt";

/// The claims `valid_token()` carries.
fn valid_claims() -> Claims {
    builder().build_claims(NOW, &mut rng()).unwrap()
}

/// A claim set using every optional member, to check nothing is lost either way.
fn rich_claims() -> Claims {
    let agent = SigningKey::from_seed(&[0x33; 32], "agent-1").unwrap();
    let mut identity = AgentIdentity::new("claude", "sonnet-4", "anthropic");
    identity.deployment_id = Some("dep-42".into());
    let mut metadata = AttestationMetadata::provider();
    metadata.attestation_type = AttestationType::Enterprise;
    metadata.safety_level = SafetyLevel::Enhanced;
    metadata.capabilities_declared = vec!["tools.call".into(), "résumé ✓".into()];
    attest_core::TokenBuilder::new(ISSUER, SUBJECT)
        .audience(AUDIENCE)
        .audience("https://other-tools.example")
        .identity(identity)
        .integrity(AgentIntegrity {
            config_hash: Some(IntegrityHash::of(b"config")),
            system_prompt_hash: Some(IntegrityHash::of(b"You are a helpful agent.")),
            extra: BTreeMap::new(),
        })
        .metadata(metadata)
        .confirmation(Confirmation {
            jwk: Some(agent.to_public_jwk()),
            jkt: Some(agent.public_key().thumbprint()),
            extra: BTreeMap::new(),
        })
        .not_before(NOW)
        .lifetime_secs(600)
        .extra_claim("tenant", json!({ "id": 7, "tags": ["a", "b"] }))
        .build_claims(NOW, &mut rng())
        .unwrap()
}

/// Our public JWK, read by josekit.
fn josekit_jwk(jwk: &Jwk) -> josekit::jwk::Jwk {
    josekit::jwk::Jwk::from_bytes(jwk.to_json()).unwrap()
}

/// Our `Jwk`, from josekit's.
fn our_jwk(jwk: &josekit::jwk::Jwk) -> Jwk {
    Jwk::from_json(&jwk.to_string()).unwrap()
}

fn claims_value(claims: &Claims) -> Value {
    serde_json::to_value(claims).unwrap()
}

/// A JWT signed by josekit with `claims` and header `typ`/`kid` (each optional).
fn josekit_token(
    claims: &Value,
    typ: Option<&str>,
    kid: Option<&str>,
    signer: &dyn JwsSigner,
) -> String {
    let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
    let mut header = JwsHeader::new();
    if let Some(typ) = typ {
        header.set_token_type(typ);
    }
    if let Some(kid) = kid {
        header.set_key_id(kid);
    }
    jwt::encode_with_signer(&payload, &header, signer).unwrap()
}

/// A josekit signer holding our private key, imported from our private JWK. (It takes the
/// `kid` from the JWK and writes it into every header it signs.)
fn josekit_signer(key: &SigningKey) -> josekit::jws::alg::eddsa::EddsaJwsSigner {
    EdDSA
        .signer_from_jwk(&josekit_jwk(&key.to_private_jwk()))
        .unwrap()
}

fn decoded_header(token: &str) -> Value {
    dangerous_json(token).0
}

fn dangerous_json(token: &str) -> (Value, Value) {
    attest_core::dangerous::decode_json(token).unwrap()
}

// ---------------------------------------------------------------------------------------------
// (a) Our tokens in josekit
// ---------------------------------------------------------------------------------------------

#[test]
fn our_token_verifies_in_josekit_with_our_public_jwk() {
    let token = valid_token();
    let verifier = EdDSA
        .verifier_from_jwk(&josekit_jwk(&issuer_key().to_public_jwk()))
        .unwrap();
    let (payload, header) = jwt::decode_with_verifier(&token, &verifier).unwrap();

    assert_eq!(header.algorithm(), Some("EdDSA"));
    assert_eq!(header.token_type(), Some(TYP));
    assert_eq!(header.key_id(), Some(KID));
    assert_eq!(
        header.claims_set().len(),
        3,
        "exactly alg, typ, kid: {:?}",
        header.claims_set()
    );

    let claims = valid_claims();
    assert_eq!(payload.issuer(), Some(ISSUER));
    assert_eq!(payload.subject(), Some(SUBJECT));
    assert_eq!(payload.audience(), Some(vec![AUDIENCE]));
    assert_eq!(payload.jwt_id(), Some(claims.jti.as_str()));
    assert_eq!(payload.issued_at(), Some(SystemTime::from(NOW)));
    assert_eq!(
        payload.expires_at(),
        Some(SystemTime::from(NOW.saturating_add(300)))
    );
    assert_eq!(
        Value::Object(payload.claims_set().clone()),
        claims_value(&claims)
    );
}

#[test]
fn our_token_verifies_in_josekit_with_our_public_pem() {
    let pem = issuer_key().public_key().to_public_key_pem().unwrap();
    let verifier = EdDSA.verifier_from_pem(pem.as_bytes()).unwrap();
    let claims = rich_claims();
    let token =
        attest_core::encode(&issuer_key(), &claims, attest_core::TokenType::Attestation).unwrap();
    let (payload, header) = jwt::decode_with_verifier(&token, &verifier).unwrap();
    assert_eq!(header.token_type(), Some(TYP));
    assert_eq!(
        payload.audience(),
        Some(vec![AUDIENCE, "https://other-tools.example"])
    );
    assert_eq!(payload.not_before(), Some(SystemTime::from(NOW)));
    assert_eq!(
        Value::Object(payload.claims_set().clone()),
        claims_value(&claims)
    );
    // ... and ours accepts it too.
    assert_eq!(
        verify(&token, &trust(), &policy(), NOW).unwrap().claims(),
        &claims
    );
}

#[test]
fn josekit_refuses_our_token_under_another_key_or_tampered() {
    // Control for the test above: josekit does check something.
    let token = valid_token();
    let other = EdDSA
        .verifier_from_jwk(&josekit_jwk(&attacker_key().to_public_jwk()))
        .unwrap();
    assert!(jwt::decode_with_verifier(&token, &other).is_err());

    let ours = EdDSA
        .verifier_from_jwk(&josekit_jwk(&issuer_key().to_public_jwk()))
        .unwrap();
    let (h, rest) = token.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let mut claims = valid_claims_json();
    claims["attestation_metadata"]["safety_level"] = json!("minimal");
    let tampered = format!(
        "{h}.{}.{s}",
        crate::common::b64(claims.to_string().as_bytes())
    );
    assert_ne!(p, tampered.split('.').nth(1).unwrap());
    assert!(jwt::decode_with_verifier(&tampered, &ours).is_err());
    assert!(jwt::decode_with_verifier(&token, &ours).is_ok());
}

#[test]
fn josekit_signature_equals_ours_for_the_same_input() {
    // Ed25519 is deterministic: the two implementations must agree byte for byte.
    let token = valid_token();
    let (input, signature) = token.rsplit_once('.').unwrap();
    let theirs = josekit_signer(&issuer_key())
        .sign(input.as_bytes())
        .unwrap();
    assert_eq!(crate::common::b64(&theirs), signature);
    assert_eq!(theirs, issuer_key().sign(input.as_bytes()));
}

// ---------------------------------------------------------------------------------------------
// (b) josekit tokens in ours
// ---------------------------------------------------------------------------------------------

#[test]
fn josekit_token_signed_with_our_private_key_verifies_in_ours() {
    let claims = valid_claims();
    let token = josekit_token(
        &claims_value(&claims),
        Some(TYP),
        Some(KID),
        &josekit_signer(&issuer_key()),
    );
    let header = decoded_header(&token);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], TYP);
    assert_eq!(header["kid"], KID);

    let verified = verify(&token, &trust(), &policy(), NOW).unwrap();
    assert_eq!(verified.claims(), &claims);
    assert_eq!(verified.header().alg, "EdDSA");
    assert_eq!(verified.header().typ, TYP);
    assert_eq!(verified.header().kid, KID);
}

#[test]
fn josekit_token_with_every_optional_claim_verifies_in_ours() {
    // The signer takes the kid from our private JWK and writes it into the header.
    let signer = josekit_signer(&issuer_key());
    assert_eq!(signer.key_id(), Some(KID));
    let claims = rich_claims();
    let token = josekit_token(&claims_value(&claims), Some(TYP), None, &signer);
    assert_eq!(decoded_header(&token)["kid"], KID);
    assert_eq!(
        verify(&token, &trust(), &policy(), NOW)
            .unwrap()
            .into_claims(),
        claims
    );
}

#[test]
fn josekit_token_with_a_josekit_generated_key_verifies_in_ours() {
    // Keys generated by josekit, published as josekit writes a JWK Set.
    let mut pair = EdDSA.generate_key_pair(EdCurve::Ed25519).unwrap();
    pair.set_key_id(Some("josekit-1"));
    let mut set = josekit::jwk::JwkSet::new();
    set.push_key(pair.to_jwk_public_key());
    let keys = KeySet::parse(set.to_string().as_bytes(), JwksLimits::default()).unwrap();
    assert_eq!(keys.kids(), ["josekit-1"]);
    let mut store = TrustStore::new();
    store.insert(ISSUER, keys);

    let signer = EdDSA.signer_from_jwk(&pair.to_jwk_key_pair()).unwrap();
    let claims = valid_claims();
    let token = josekit_token(&claims_value(&claims), Some(TYP), None, &signer);
    assert_eq!(
        verify(&token, &store, &policy(), NOW).unwrap().claims(),
        &claims
    );
    // The same token is not accepted under the issuer's fixture key store (no such kid).
    assert_eq!(
        verify(&token, &trust(), &policy(), NOW).unwrap_err(),
        VerifyError::KeyUnknown
    );
}

#[test]
fn josekit_token_typed_like_the_original_needs_the_compat_policy() {
    let claims = claims_value(&valid_claims());
    let signer = josekit_signer(&issuer_key());
    // Without typ (josekit's default) and with the original's `JWT`.
    let untyped = josekit_token(&claims, None, Some(KID), &signer);
    assert_eq!(
        verify(&untyped, &trust(), &policy(), NOW).unwrap_err(),
        VerifyError::MissingHeader("typ")
    );
    let jwt_typed = josekit_token(&claims, Some("JWT"), Some(KID), &signer);
    let err = verify(&jwt_typed, &trust(), &policy(), NOW).unwrap_err();
    assert_eq!(err, VerifyError::TypNotAccepted("JWT".into()));
    assert_eq!(err.reason(), Reason::HeaderRejected);
    let compat = Policy::builder()
        .trusted_issuer(ISSUER)
        .audience(AUDIENCE)
        .accept_compat_typ()
        .build()
        .unwrap();
    assert_eq!(
        verify(&jwt_typed, &trust(), &compat, NOW)
            .unwrap()
            .header()
            .typ,
        "JWT"
    );
}

// ---------------------------------------------------------------------------------------------
// (c) josekit tokens that ours must refuse
// ---------------------------------------------------------------------------------------------

#[test]
fn josekit_token_signed_by_another_key_is_refused() {
    let claims = claims_value(&valid_claims());
    // The attacker's key under the issuer's kid.
    let token = josekit_token(
        &claims,
        Some(TYP),
        Some(KID),
        &josekit_signer(&attacker_key()),
    );
    let err = verify(&token, &trust(), &policy(), NOW).unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
    assert_eq!(err.reason(), Reason::Invalid);
    // A fresh josekit key under the issuer's kid.
    let pair = EdDSA.generate_key_pair(EdCurve::Ed25519).unwrap();
    let signer = EdDSA.signer_from_pem(pair.to_pem_private_key()).unwrap();
    let token = josekit_token(&claims, Some(TYP), Some(KID), &signer);
    assert_eq!(
        verify(&token, &trust(), &policy(), NOW).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn josekit_token_with_another_algorithm_is_refused() {
    let claims = valid_claims_json();
    let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
    let mut header = JwsHeader::new();
    header.set_token_type(TYP);
    header.set_key_id(KID);
    let check = |token: String, expected: VerifyError| {
        let err = verify(&token, &trust(), &policy(), NOW).unwrap_err();
        assert_eq!(err, expected, "{token}");
        assert_eq!(err.reason(), Reason::HeaderRejected);
    };

    // alg none.
    check(
        jwt::encode_unsecured(&payload, &header).unwrap(),
        VerifyError::AlgorithmNotAllowed("none".into()),
    );
    // HS256 keyed with the issuer's public key bytes (algorithm confusion).
    let hs = josekit::jws::HS256
        .signer_from_bytes(issuer_key().public_key().as_bytes())
        .unwrap();
    check(
        jwt::encode_with_signer(&payload, &header, &hs).unwrap(),
        VerifyError::AlgorithmNotAllowed("HS256".into()),
    );
    // ES256 with a P-256 key.
    let ec = josekit::jws::ES256.generate_key_pair().unwrap();
    let es = josekit::jws::ES256
        .signer_from_pem(ec.to_pem_private_key())
        .unwrap();
    check(
        jwt::encode_with_signer(&payload, &header, &es).unwrap(),
        VerifyError::AlgorithmNotAllowed("ES256".into()),
    );
    // EdDSA, but carrying the attacker's key in the header.
    let mut with_jwk = header.clone();
    with_jwk.set_jwk(josekit_jwk(&attacker_key().to_public_jwk()));
    check(
        jwt::encode_with_signer(&payload, &with_jwk, &josekit_signer(&attacker_key())).unwrap(),
        VerifyError::HeaderParameterNotAllowed("jwk".into()),
    );
    let mut with_jku = header.clone();
    with_jku.set_jwk_set_url("https://evil.example/jwks.json");
    check(
        jwt::encode_with_signer(&payload, &with_jku, &josekit_signer(&issuer_key())).unwrap(),
        VerifyError::HeaderParameterNotAllowed("jku".into()),
    );
}

// ---------------------------------------------------------------------------------------------
// Keys, both ways
// ---------------------------------------------------------------------------------------------

#[test]
fn our_keys_import_in_josekit() {
    let key = issuer_key();
    let x = key.to_public_jwk().x.unwrap();
    // Private JWK → josekit key pair: same d and x.
    let pair = EdKeyPair::from_jwk(&josekit_jwk(&key.to_private_jwk())).unwrap();
    let both = pair.to_jwk_key_pair();
    assert_eq!(both.parameter("x"), Some(&json!(x)));
    assert_eq!(
        both.parameter("d"),
        Some(&json!(key.to_private_jwk().d.unwrap()))
    );
    assert_eq!(both.curve(), Some("Ed25519"));
    // Public JWK → josekit: the same x.
    assert_eq!(
        josekit_jwk(&key.to_public_jwk()).parameter("x"),
        Some(&json!(x))
    );
    // SPKI PEM: josekit writes byte-identical PEM for the same key, and reads ours.
    let pem = key.public_key().to_public_key_pem().unwrap();
    assert_eq!(
        String::from_utf8(pair.to_pem_public_key())
            .unwrap()
            .replace("\r\n", "\n"),
        pem
    );
    let verifier = EdDSA.verifier_from_pem(pem.as_bytes()).unwrap();
    assert!(jwt::decode_with_verifier(valid_token(), &verifier).is_ok());
    // Our JWKS document → josekit JwkSet.
    let set = KeySet::from_keys([(key.kid(), key.public_key())]).unwrap();
    let theirs = josekit::jwk::JwkSet::from_bytes(set.to_jwks_json()).unwrap();
    let found = theirs.get(KID);
    assert_eq!(found.len(), 1);
    let verifier = EdDSA.verifier_from_jwk(found[0]).unwrap();
    assert!(jwt::decode_with_verifier(valid_token(), &verifier).is_ok());
}

#[test]
fn josekit_keys_import_in_ours() {
    let mut pair = EdDSA.generate_key_pair(EdCurve::Ed25519).unwrap();
    pair.set_key_id(Some("josekit-2"));

    // Public JWK and SPKI PEM give the same key.
    let from_jwk = PublicKey::from_jwk(&our_jwk(&pair.to_jwk_public_key())).unwrap();
    let pem = String::from_utf8(pair.to_pem_public_key()).unwrap();
    let from_pem = PublicKey::from_public_key_pem(&pem).unwrap();
    assert_eq!(from_jwk, from_pem);

    // The private key, as a JWK (d and x) and as PKCS#8 PEM.
    let signing = SigningKey::from_jwk(&our_jwk(&pair.to_jwk_key_pair())).unwrap();
    assert_eq!(signing.kid(), "josekit-2");
    assert_eq!(signing.public_key(), from_jwk);
    let pem_private = String::from_utf8(pair.to_pem_private_key()).unwrap();
    let from_pkcs8 = SigningKey::from_pkcs8_pem(&pem_private, "josekit-2").unwrap();
    assert_eq!(from_pkcs8.public_key(), from_jwk);
    assert_eq!(*from_pkcs8.seed(), *signing.seed());

    // A token we sign with the imported key verifies in josekit with josekit's own public key.
    let token = builder().sign(&signing, NOW, &mut rng()).unwrap();
    let verifier = EdDSA.verifier_from_pem(pem.as_bytes()).unwrap();
    let (payload, header) = jwt::decode_with_verifier(&token, &verifier).unwrap();
    assert_eq!(header.key_id(), Some("josekit-2"));
    assert_eq!(
        Value::Object(payload.claims_set().clone()),
        claims_value(&valid_claims())
    );
}

#[test]
fn josekit_private_jwk_in_a_public_set_is_refused_by_ours() {
    // josekit's key-pair JWK carries `d`: publishing it is a leak, and ours refuses the set.
    let mut pair = EdDSA.generate_key_pair(EdCurve::Ed25519).unwrap();
    pair.set_key_id(Some("leaked"));
    let mut set = josekit::jwk::JwkSet::new();
    set.push_key(pair.to_jwk_public_key());
    set.push_key(pair.to_jwk_key_pair());
    assert_eq!(
        KeySet::parse(set.to_string().as_bytes(), JwksLimits::default()).unwrap_err(),
        attest_core::JwksError::PrivateKey(1)
    );
    // And as a single JWK where a public key is expected.
    assert_eq!(
        PublicKey::from_jwk(&our_jwk(&pair.to_jwk_key_pair())).unwrap_err(),
        attest_core::KeyError::UnexpectedPrivate
    );
}

#[test]
fn our_pkcs8_private_key_imports_in_josekit() {
    // `SigningKey::to_pkcs8_pem` must be readable by OpenSSL-based tools. josekit 0.10.3 (and
    // OpenSSL 3.0's own `openssl pkey`) read only PKCS#8 v1 (version 0, no public key), the form
    // `openssl genpkey -algorithm ed25519` writes.
    let key = issuer_key();
    let pem = key.to_pkcs8_pem().unwrap();
    // Our own import round-trips in any case.
    let back = SigningKey::from_pkcs8_pem(&pem, KID).unwrap();
    assert_eq!(back.public_key(), key.public_key());
    // josekit: the same public key, and a signer that signs exactly like ours.
    let pair = EdDSA
        .key_pair_from_pem(pem.as_bytes())
        .unwrap_or_else(|e| panic!("josekit refuses our PKCS#8 PEM: {e}\n{}", *pem));
    assert_eq!(
        pair.to_jwk_public_key().parameter("x"),
        Some(&json!(key.to_public_jwk().x.unwrap()))
    );
    let signer = EdDSA.signer_from_pem(pem.as_bytes()).unwrap();
    assert_eq!(signer.sign(b"message").unwrap(), key.sign(b"message"));
}
