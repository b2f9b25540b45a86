//! The conformance vectors (`testvectors/attest/vectors.json`), generated from the attack
//! corpus with a fixed key, clock and RNG, so that the output is byte-identical on every run.
//!
//! The valid cases must verify; every token attack of the corpus becomes an `invalid` case
//! under its vector name, with the reason and precise error the corpus expects. Generation
//! fails if attest-core disagrees with the corpus on any case.

use attest_core::{
    Claims, Jwk, JwksLimits, KeySet, Policy, SigningKey, TrustStore, UnixTime, verify,
};
use serde::{Deserialize, Serialize};

use super::corpus::{self, Kind, Params};

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "https://tools.example";
const KID: &str = "conformance-key-1";
const NOW: u64 = 1_790_000_000;

const DESCRIPTION: &str = "attest conformance vectors: verify each token under `policy` at `now` with the keys in `jwks` (published by `policy.trusted_issuers[0]`). Valid tokens must verify and yield `claims`; invalid ones must be rejected with `reason` (the stable wire string). `error` names attest-core's precise check, for information.";

// The document is written through these structs, so that its member order is fixed whatever
// serde_json's features (a `serde_json::Value` map is sorted, or in insertion order when any
// dependency turns on `preserve_order`).

#[derive(Serialize)]
struct Document {
    description: &'static str,
    spec: &'static str,
    now: u64,
    policy: PolicyDoc,
    jwks: JwksDoc,
    valid: Vec<ValidCase>,
    invalid: Vec<InvalidCase>,
}

#[derive(Serialize)]
struct PolicyDoc {
    trusted_issuers: [&'static str; 1],
    audiences: [&'static str; 1],
    leeway_secs: u64,
    max_lifetime_secs: u64,
    accepted_typ: [&'static str; 1],
    accepted_alg: [&'static str; 2],
    max_token_bytes: usize,
    max_jti_bytes: usize,
    max_json_depth: usize,
}

#[derive(Serialize, Deserialize)]
struct JwksDoc {
    keys: Vec<Jwk>,
}

#[derive(Serialize)]
struct ValidCase {
    name: &'static str,
    description: &'static str,
    token: String,
    claims: Claims,
}

#[derive(Serialize)]
struct InvalidCase {
    name: &'static str,
    description: &'static str,
    token: String,
    reason: &'static str,
    error: &'static str,
}

/// The fixed parameters of the vectors.
pub(crate) fn params() -> Result<Params, String> {
    let key = |seed: u8, kid: &str| {
        SigningKey::from_seed(&[seed; 32], kid).map_err(|e| format!("fixed key: {e}"))
    };
    Ok(Params {
        issuer: ISSUER.to_owned(),
        audience: AUDIENCE.to_owned(),
        issuer_key: key(0x2a, KID)?,
        attacker: key(0x66, KID)?,
        agent_key: key(0x77, "agent-key")?,
        now: NOW,
        seed: [0x5a; 32],
        jti_per_attack: false,
    })
}

/// The vectors document, as written to disk (pretty JSON and a final newline).
pub(crate) fn generate() -> Result<String, String> {
    let p = params()?;
    let policy = Policy::builder()
        .trusted_issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .map_err(|e| e.to_string())?;
    let jwks = corpus::issuer_jwks(&p);
    let mut trust = TrustStore::new();
    trust.insert(
        ISSUER,
        KeySet::parse(jwks.as_bytes(), JwksLimits::default()).map_err(|e| e.to_string())?,
    );
    let now = UnixTime::from_secs(NOW);

    let mut valid = Vec::new();
    for (name, description, token) in corpus::valid_cases(&p) {
        let verified = verify(&token, &trust, &policy, now)
            .map_err(|e| format!("valid case {name} was rejected: {e}"))?;
        valid.push(ValidCase {
            name,
            description,
            token,
            claims: verified.into_claims(),
        });
    }

    let mut invalid = Vec::new();
    for attack in corpus::attacks(&p) {
        let (Some(name), Kind::Token(token)) = (attack.vector, &attack.kind) else {
            continue;
        };
        let error = match verify(token, &trust, &policy, now) {
            Ok(_) => return Err(format!("{} ({name}) was accepted", attack.id)),
            Err(e) => e,
        };
        if error.reason() != attack.expected || Some(error.code()) != attack.error {
            return Err(format!(
                "{} ({name}): rejected as {} ({}), the corpus expects {} ({})",
                attack.id,
                error.reason(),
                error.code(),
                attack.expected,
                attack.error.unwrap_or("-"),
            ));
        }
        invalid.push(InvalidCase {
            name,
            description: attack.description,
            token: token.clone(),
            reason: error.reason().as_str(),
            error: error.code(),
        });
    }

    let doc = Document {
        description: DESCRIPTION,
        spec: "SPEC.md v0.2",
        now: NOW,
        policy: PolicyDoc {
            trusted_issuers: [ISSUER],
            audiences: [AUDIENCE],
            leeway_secs: Policy::DEFAULT_LEEWAY_SECS,
            max_lifetime_secs: Policy::DEFAULT_MAX_LIFETIME_SECS,
            accepted_typ: [attest_core::TYP_ATTESTATION],
            accepted_alg: ["EdDSA", "Ed25519"],
            max_token_bytes: Policy::DEFAULT_MAX_TOKEN_BYTES,
            max_jti_bytes: Policy::DEFAULT_MAX_JTI_BYTES,
            max_json_depth: Policy::DEFAULT_MAX_JSON_DEPTH,
        },
        jwks: serde_json::from_str::<JwksDoc>(&jwks).map_err(|e| e.to_string())?,
        valid,
        invalid,
    };
    serde_json::to_string_pretty(&doc)
        .map(|text| text + "\n")
        .map_err(|e| e.to_string())
}
