//! Key-bound attestation (SPEC.md §17): the committed proof vectors
//! (`testvectors/attest/proofs.json`), and the proof API around them.

use std::collections::HashSet;

use attest_core::proof::{
    ConfirmationKey, ExpectedRequest, ProofClaims, ProofHeader, ProofLimits, RequestBinding,
    TYP_PROOF, params_hash, request_name, token_hash, token_hash_of_digest, verify_proof,
};
use attest_core::{
    Confirmation, JwksLimits, KeySet, Policy, ProofError, Reason, SigningKey, TrustStore, UnixTime,
    verify,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::{NOW, b64, rng};

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testvectors/attest/proofs.json"
));

struct Vectors {
    doc: Value,
    trust: TrustStore,
    policy: Policy,
    limits: ProofLimits,
    now: UnixTime,
}

fn load() -> Vectors {
    let doc: Value = serde_json::from_str(VECTORS).unwrap();
    let p = &doc["policy"];
    let issuer = p["trusted_issuers"][0].as_str().unwrap();
    let policy = Policy::builder()
        .trusted_issuer(issuer)
        .audience(p["audiences"][0].as_str().unwrap())
        .leeway_secs(p["leeway_secs"].as_u64().unwrap())
        .build()
        .unwrap();
    let mut trust = TrustStore::new();
    trust.insert(
        issuer,
        KeySet::parse(doc["jwks"].to_string().as_bytes(), JwksLimits::default()).unwrap(),
    );
    let l = &doc["limits"];
    let limits = ProofLimits {
        window_secs: l["window_secs"].as_u64().unwrap(),
        leeway_secs: l["leeway_secs"].as_u64().unwrap(),
        max_bytes: l["max_bytes"].as_u64().unwrap() as usize,
        max_jti_bytes: l["max_jti_bytes"].as_u64().unwrap() as usize,
        max_json_depth: l["max_json_depth"].as_u64().unwrap() as usize,
    };
    let now = UnixTime::from_secs(doc["now"].as_u64().unwrap());
    Vectors {
        doc,
        trust,
        policy,
        limits,
        now,
    }
}

/// Checks one case as a server does: attestation, cnf key, proof, replay set. The error is
/// `(reason, precise code)`.
fn check(
    v: &Vectors,
    case: &Value,
    seen: &mut HashSet<(String, String)>,
) -> Result<Value, (String, String)> {
    let name = case["name"].as_str().unwrap();
    let token = v.doc["attestations"][case["attestation"].as_str().unwrap()]
        .as_str()
        .unwrap();
    let verified = verify(token, &v.trust, &v.policy, v.now)
        .unwrap_or_else(|e| panic!("{name}: the attestation itself was refused: {e}"));
    let fail = |e: ProofError| (e.reason().as_str().to_owned(), e.code().to_owned());
    let Some(proof) = case["proof"].as_str() else {
        return Err(fail(ProofError::Missing));
    };
    let key = ConfirmationKey::from_claims(verified.claims()).map_err(fail)?;
    let request = &case["request"];
    let binding =
        RequestBinding::of_request(request["method"].as_str().unwrap(), request.get("params"))
            .unwrap();
    let ath = token_hash(token);
    let audiences: Vec<String> = v.doc["policy"]["audiences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let expected = ExpectedRequest {
        audiences: &audiences,
        token_hash: &ath,
        binding: &binding,
        nonce: request["expected_nonce"].as_str(),
    };
    let proven = verify_proof(proof, &key, &expected, &v.limits, v.now).map_err(fail)?;
    if !seen.insert((proven.replay_issuer().to_owned(), proven.jti().to_owned())) {
        return Err((
            Reason::ProofReplay.as_str().to_owned(),
            "proof_replayed".to_owned(),
        ));
    }
    Ok(json!({
        "claims": proven.claims(),
        "ph": binding.params_hash(),
        "ath": ath,
        "replay_issuer": proven.replay_issuer(),
        "record_until": proven.record_until().as_secs(),
    }))
}

#[test]
fn valid_proof_vectors_are_accepted_with_their_claims() {
    let v = load();
    let mut seen = HashSet::new();
    let cases = v.doc["valid"].as_array().unwrap();
    assert!(
        cases.len() >= 10,
        "only {} valid proof vectors",
        cases.len()
    );
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let outcome = check(&v, case, &mut seen)
            .unwrap_or_else(|(reason, code)| panic!("{name}: refused with {reason} ({code})"));
        let expect = &case["expect"];
        for member in ["claims", "ph", "ath", "replay_issuer", "record_until"] {
            assert_eq!(outcome[member], expect[member], "{name}: {member}");
        }
        // The canonical form is given for implementers: its hash is `ph`.
        let canonical = expect["canonical_params"].as_str().unwrap();
        assert_eq!(
            b64(&Sha256::digest(canonical.as_bytes())),
            expect["ph"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn invalid_proof_vectors_are_refused_for_their_reason() {
    let v = load();
    let mut seen = HashSet::new();
    let valid: Vec<&Value> = v.doc["valid"].as_array().unwrap().iter().collect();
    let cases = v.doc["invalid"].as_array().unwrap();
    assert!(
        cases.len() >= 40,
        "only {} invalid proof vectors",
        cases.len()
    );
    for case in cases {
        let name = case["name"].as_str().unwrap();
        if let Some(after) = case.get("after").and_then(Value::as_str) {
            let earlier = valid
                .iter()
                .find(|c| c["name"] == after)
                .unwrap_or_else(|| panic!("{name}: no valid case {after}"));
            // Accepted once (or already, in this run), so its jti is recorded.
            let _ = check(&v, earlier, &mut seen);
        }
        let (reason, code) = match check(&v, case, &mut seen) {
            Ok(_) => panic!("{name}: accepted"),
            Err(outcome) => outcome,
        };
        assert_eq!(reason, case["reason"].as_str().unwrap(), "{name}: {code}");
        assert_eq!(code, case["error"].as_str().unwrap(), "{name}");
    }
}

#[test]
fn proof_vectors_cover_every_proof_reason() {
    let v = load();
    let seen: HashSet<&str> = v.doc["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap())
        .collect();
    for reason in [
        Reason::ProofRequired,
        Reason::ProofInvalid,
        Reason::ProofMismatch,
        Reason::ProofStale,
        Reason::ProofReplay,
    ] {
        assert!(seen.contains(reason.as_str()), "no vector for {reason}");
    }
}

fn agent() -> SigningKey {
    SigningKey::from_seed(&[0x77; 32], "agent").unwrap()
}

fn audiences() -> Vec<String> {
    vec!["https://tools.example/mcp".to_owned()]
}

fn weather() -> Value {
    json!({"name": "get_weather", "arguments": {"city": "Paris"}})
}

/// A proof for `tools/call` of `params` under `token`, made at `iat`.
fn proof_for(params: &Value, token: &str, iat: UnixTime, header: ProofHeader) -> String {
    let binding = RequestBinding::of_request("tools/call", Some(params)).unwrap();
    ProofClaims::new(
        "https://tools.example/mcp",
        &binding,
        &token_hash(token),
        iat,
        &mut rng(),
    )
    .sign(&agent(), header)
    .unwrap()
}

fn check_proof(
    proof: &str,
    key: &ConfirmationKey,
    params: &Value,
    token: &str,
) -> Result<(), ProofError> {
    let binding = RequestBinding::of_request("tools/call", Some(params)).unwrap();
    let ath = token_hash(token);
    let audiences = audiences();
    let expected = ExpectedRequest {
        audiences: &audiences,
        token_hash: &ath,
        binding: &binding,
        nonce: None,
    };
    verify_proof(proof, key, &expected, &ProofLimits::default(), NOW).map(drop)
}

#[test]
fn a_proof_round_trips_in_both_header_forms() {
    let token = "header.payload.signature";
    let plain = proof_for(&weather(), token, NOW, ProofHeader::Plain);
    let with_jwk = proof_for(&weather(), token, NOW, ProofHeader::WithJwk);
    let by_key = ConfirmationKey::from_key(agent().public_key());
    let by_thumbprint =
        ConfirmationKey::from_thumbprint(&agent().public_key().thumbprint()).unwrap();
    assert_eq!(check_proof(&plain, &by_key, &weather(), token), Ok(()));
    assert_eq!(
        check_proof(&with_jwk, &by_thumbprint, &weather(), token),
        Ok(())
    );
    // Each form only for its own kind of cnf.
    assert_eq!(
        check_proof(&with_jwk, &by_key, &weather(), token),
        Err(ProofError::JwkNotAllowed)
    );
    assert_eq!(
        check_proof(&plain, &by_thumbprint, &weather(), token),
        Err(ProofError::JwkMissing)
    );
    // The header is exactly {alg, typ} (plus jwk with only kty, crv, x).
    let header: Value =
        serde_json::from_slice(&base64_decode(plain.split('.').next().unwrap())).unwrap();
    assert_eq!(header, json!({"alg": "EdDSA", "typ": TYP_PROOF}));
    let header: Value =
        serde_json::from_slice(&base64_decode(with_jwk.split('.').next().unwrap())).unwrap();
    let mut members: Vec<&String> = header["jwk"].as_object().unwrap().keys().collect();
    members.sort();
    assert_eq!(members, ["crv", "kty", "x"]);
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

#[test]
fn params_hash_is_over_the_jcs_form_without_meta() {
    // Member order, `_meta` and number spelling do not change ph.
    let a = json!({"name": "t", "arguments": {"b": 1, "a": [1.0, 2]}});
    let b =
        json!({"arguments": {"a": [1, 2.0], "b": 1e0}, "_meta": {"progressToken": 3}, "name": "t"});
    assert_eq!(
        params_hash(Some(&a)).unwrap(),
        params_hash(Some(&b)).unwrap()
    );
    // A value does.
    let c = json!({"name": "t", "arguments": {"b": 2, "a": [1, 2]}});
    assert_ne!(
        params_hash(Some(&a)).unwrap(),
        params_hash(Some(&c)).unwrap()
    );
    // Absent, null and {} params are the same request.
    let empty = b64(&Sha256::digest(b"{}"));
    assert_eq!(params_hash(None).unwrap(), empty);
    assert_eq!(params_hash(Some(&Value::Null)).unwrap(), empty);
    assert_eq!(
        params_hash(Some(&json!({"_meta": {"x": 1}}))).unwrap(),
        empty
    );
}

#[test]
fn params_hash_matches_the_rfc_8785_example() {
    // RFC 8785 §3.2.2 and §3.2.3: input and its canonical form.
    let input: Value = serde_json::from_str(
        r#"{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]}"#,
    )
    .unwrap();
    let canonical = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;
    assert_eq!(
        params_hash(Some(&input)).unwrap(),
        b64(&Sha256::digest(canonical.as_bytes()))
    );
}

#[test]
fn request_names_come_from_the_method_s_member() {
    let call = json!({"name": "get_weather", "uri": "file:///x"});
    assert_eq!(request_name("tools/call", Some(&call)), Some("get_weather"));
    assert_eq!(
        request_name("prompts/get", Some(&call)),
        Some("get_weather")
    );
    assert_eq!(
        request_name("resources/read", Some(&call)),
        Some("file:///x")
    );
    assert_eq!(request_name("tools/list", Some(&call)), None);
    assert_eq!(request_name("tools/call", None), None);
    assert_eq!(request_name("tools/call", Some(&json!({"name": 7}))), None);
}

#[test]
fn the_token_hash_is_sha256_of_the_token() {
    let token = "eyJhbGciOiJFZERTQSJ9.e30.sig";
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    assert_eq!(token_hash(token), b64(&digest));
    assert_eq!(token_hash_of_digest(&digest), token_hash(token));
}

#[test]
fn confirmation_keys_are_imported_strictly() {
    let agent = agent();
    let jkt = agent.public_key().thumbprint();
    let jwk = agent.to_public_jwk();
    let both = Confirmation {
        jwk: Some(jwk.clone()),
        jkt: Some(jkt.clone()),
        ..Confirmation::default()
    };
    let key = ConfirmationKey::from_confirmation(&both).unwrap();
    assert_eq!(key.thumbprint(), jkt);
    assert_eq!(key.replay_issuer(), format!("proof:{jkt}"));
    assert!(key.key().is_some());
    for bad in [
        Confirmation::default(),
        Confirmation {
            jwk: Some(agent.to_private_jwk()),
            ..Confirmation::default()
        },
        Confirmation {
            jwk: Some(jwk),
            jkt: Some(b64(&[0; 32])),
            ..Confirmation::default()
        },
        Confirmation {
            jkt: Some("short".into()),
            ..Confirmation::default()
        },
    ] {
        assert_eq!(
            ConfirmationKey::from_confirmation(&bad),
            Err(ProofError::ConfirmationKeyInvalid),
            "{bad:?}"
        );
    }
}

#[test]
fn the_window_and_the_record_agree() {
    let token = "t.t.t";
    let key = ConfirmationKey::from_key(agent().public_key());
    let iat = UnixTime::from_secs(NOW.as_secs() - 60);
    let proof = proof_for(&weather(), token, iat, ProofHeader::Plain);
    let binding = RequestBinding::of_request("tools/call", Some(&weather())).unwrap();
    let ath = token_hash(token);
    let audiences = audiences();
    let expected = ExpectedRequest {
        audiences: &audiences,
        token_hash: &ath,
        binding: &binding,
        nonce: None,
    };
    let limits = ProofLimits::default();
    let proven = verify_proof(&proof, &key, &expected, &limits, NOW).unwrap();
    // Accepted at iat + 60, refused at iat + 61: the record must live until then.
    assert_eq!(proven.record_until().as_secs(), iat.as_secs() + 61);
    let later = UnixTime::from_secs(NOW.as_secs() + 1);
    assert_eq!(
        verify_proof(&proof, &key, &expected, &limits, later),
        Err(ProofError::TooOld)
    );
}

#[test]
fn every_proof_error_has_a_distinct_code_and_a_proof_reason() {
    let errors = [
        ProofError::Missing,
        ProofError::NoConfirmationKey,
        ProofError::SignatureMismatch,
        ProofError::TokenHashMismatch,
        ProofError::NameMismatch,
        ProofError::TooOld,
        ProofError::IssuedInFuture,
    ];
    let codes: HashSet<&str> = errors.iter().map(ProofError::code).collect();
    assert_eq!(codes.len(), errors.len());
    for error in errors {
        assert!(
            error.reason().as_str().starts_with("attestation_proof_"),
            "{error}"
        );
    }
}

#[test]
fn random_bytes_never_panic_the_verifier() {
    let token = "t.t.t";
    let key = ConfirmationKey::from_thumbprint(&agent().public_key().thumbprint()).unwrap();
    let proof = proof_for(&weather(), token, NOW, ProofHeader::WithJwk);
    let binding = RequestBinding::of_request("tools/call", Some(&weather())).unwrap();
    let ath = token_hash(token);
    let audiences = audiences();
    let expected = ExpectedRequest {
        audiences: &audiences,
        token_hash: &ath,
        binding: &binding,
        nonce: None,
    };
    let bytes = proof.as_bytes();
    // Every single-byte change of a valid proof is refused, and nothing panics.
    for i in 0..bytes.len() {
        let mut mutated = bytes.to_vec();
        mutated[i] ^= 1;
        let mutated = String::from_utf8_lossy(&mutated);
        assert!(
            verify_proof(&mutated, &key, &expected, &ProofLimits::default(), NOW).is_err(),
            "byte {i} ^ 1 accepted"
        );
    }
}

#[test]
fn digests_must_be_strict_base64url_of_32_bytes() {
    let token = "t.t.t";
    let key = ConfirmationKey::from_key(agent().public_key());
    let binding = RequestBinding::of_request("tools/call", Some(&weather())).unwrap();
    let ath = token_hash(token);
    let audiences = audiences();
    let expected = ExpectedRequest {
        audiences: &audiences,
        token_hash: &ath,
        binding: &binding,
        nonce: None,
    };
    let claims = ProofClaims::new(audiences[0].clone(), &binding, &ath, NOW, &mut rng());
    // The same digest with non-zero unused bits, padding, the +/ alphabet, or one short.
    let ph = binding.params_hash().to_owned();
    // A valid last character has value 0 mod 4; 'B' (1) sets an unused bit.
    let mut nonzero = ph.clone();
    nonzero.pop();
    nonzero.push('B');
    for bad in [
        nonzero,
        format!("{}=", &ph[..42]),
        ph.replace('-', "+").replace('_', "/"),
        ph[..42].to_owned(),
    ] {
        if bad == ph {
            continue;
        }
        let forged = ProofClaims {
            ph: bad.clone(),
            ..claims.clone()
        }
        .sign(&agent(), ProofHeader::Plain)
        .unwrap();
        assert_eq!(
            verify_proof(&forged, &key, &expected, &ProofLimits::default(), NOW),
            Err(ProofError::InvalidClaim("ph")),
            "{bad}"
        );
    }
}
