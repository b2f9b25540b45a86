//! Generates `testvectors/attest/proofs.json`, the conformance vectors of key-bound attestation
//! (SPEC.md §17): proofs of possession with the request and attestation each is checked
//! against.
//!
//! `cargo run -p attest-core --example proof_vectors` rewrites the file;
//! `... -- --check` fails if the committed file differs from what this generator writes.
//!
//! Every case is built from fixed keys, a fixed clock and a fixed RNG, so the output is
//! byte-identical on every run. Most negative proofs carry a **valid signature** by the agent's
//! key over a hostile header or claims, or over a request other than the one they arrive with:
//! a verifier must refuse them for the stated reason, not merely for a bad signature.

// A generator over fixed data: `serde_json::Value` indexing returns Null instead of panicking,
// and the byte arithmetic below works on values known to fit.
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::collections::HashSet;
use std::process::ExitCode;

use attest_core::proof::{
    ConfirmationKey, ExpectedRequest, ProofClaims, ProofHeader, ProofLimits, RequestBinding,
    params_hash, token_hash, verify_proof,
};
use attest_core::{
    AgentIdentity, AttestationMetadata, Confirmation, KeySet, Policy, ProofError, SigningKey,
    TokenBuilder, TrustStore, UnixTime, verify,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::{Value, json};

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "https://tools.example/mcp";
const OTHER_AUDIENCE: &str = "https://other-server.example/mcp";
const SUBJECT: &str = "spiffe://issuer.example/model/claude-sonnet-4";
const ISSUER_KID: &str = "proof-vectors-issuer-1";
const NOW: u64 = 1_790_000_000;
const NONCE: &str = "n-4f6c2a";
const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testvectors/attest/proofs.json"
);

fn main() -> ExitCode {
    let check = std::env::args().any(|a| a == "--check");
    let generated = match generate() {
        Ok(doc) => doc,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if check {
        match std::fs::read_to_string(PATH) {
            Ok(committed) if committed == generated => {
                println!("testvectors/attest/proofs.json is up to date");
                ExitCode::SUCCESS
            }
            Ok(_) => {
                eprintln!(
                    "testvectors/attest/proofs.json is stale: run `cargo run -p attest-core --example proof_vectors`"
                );
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("error: cannot read {PATH}: {e}");
                ExitCode::FAILURE
            }
        }
    } else if let Err(e) = std::fs::write(PATH, generated) {
        eprintln!("error: cannot write {PATH}: {e}");
        ExitCode::FAILURE
    } else {
        println!("wrote testvectors/attest/proofs.json");
        ExitCode::SUCCESS
    }
}

fn unreachable<E: std::fmt::Display>(e: E) -> ! {
    eprintln!("generator bug: {e}");
    std::process::exit(2)
}

fn issuer_key() -> SigningKey {
    SigningKey::from_seed(&[0x2b; 32], ISSUER_KID).unwrap_or_else(|e| unreachable(e))
}

/// The agent's own key: `cnf` names it, and it signs every valid proof.
fn agent_key() -> SigningKey {
    SigningKey::from_seed(&[0x77; 32], "agent").unwrap_or_else(|e| unreachable(e))
}

/// A thief's key: it has the attestation, not the agent's key.
fn thief_key() -> SigningKey {
    SigningKey::from_seed(&[0x66; 32], "thief").unwrap_or_else(|e| unreachable(e))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An attestation for the agent, with `cnf` as given, signed at NOW with a seeded `jti`.
fn attestation(cnf: Option<Confirmation>, seed: u8) -> String {
    let mut builder = TokenBuilder::new(ISSUER, SUBJECT)
        .audience(AUDIENCE)
        .identity(AgentIdentity::new("claude", "sonnet-4", "anthropic"))
        .metadata(AttestationMetadata::provider());
    if let Some(cnf) = cnf {
        builder = builder.confirmation(cnf);
    }
    builder
        .sign(
            &issuer_key(),
            UnixTime::from_secs(NOW),
            &mut ChaCha20Rng::from_seed([seed; 32]),
        )
        .unwrap_or_else(|e| unreachable(e))
}

/// The attestations the cases refer to by name.
struct Attestations {
    jwk: String,
    jkt: String,
    bearer: String,
    other: String,
}

impl Attestations {
    fn new() -> Attestations {
        let agent = agent_key();
        let jwk = Confirmation {
            jwk: Some(agent.to_public_jwk()),
            ..Confirmation::default()
        };
        let jkt = Confirmation {
            jkt: Some(agent.public_key().thumbprint()),
            ..Confirmation::default()
        };
        Attestations {
            jwk: attestation(Some(jwk.clone()), 1),
            jkt: attestation(Some(jkt), 2),
            bearer: attestation(None, 3),
            other: attestation(Some(jwk), 4),
        }
    }

    fn get(&self, name: &str) -> &str {
        match name {
            "jkt" => &self.jkt,
            "bearer" => &self.bearer,
            "other" => &self.other,
            _ => &self.jwk,
        }
    }
}

/// One request: method and params (the JSON-RPC `params`, `None` when absent).
#[derive(Clone)]
struct Request {
    method: &'static str,
    params: Option<Value>,
}

impl Request {
    fn new(method: &'static str, params: Option<Value>) -> Request {
        Request { method, params }
    }

    fn binding(&self) -> RequestBinding {
        RequestBinding::of_request(self.method, self.params.as_ref())
            .unwrap_or_else(|e| unreachable(e))
    }

    fn to_json(&self) -> Value {
        match &self.params {
            Some(params) => json!({"method": self.method, "params": params}),
            None => json!({"method": self.method}),
        }
    }
}

fn weather() -> Request {
    Request::new(
        "tools/call",
        Some(json!({"name": "get_weather", "arguments": {"city": "Paris", "units": "metric"}})),
    )
}

/// Proof claims for `request` under attestation `token`, made at `iat`.
fn claims(request: &Request, token: &str, iat: u64, seed: u8) -> ProofClaims {
    ProofClaims::new(
        AUDIENCE,
        &request.binding(),
        &token_hash(token),
        UnixTime::from_secs(iat),
        &mut ChaCha20Rng::from_seed([seed; 32]),
    )
}

fn sign(claims: &ProofClaims, key: &SigningKey, header: ProofHeader) -> String {
    claims.sign(key, header).unwrap_or_else(|e| unreachable(e))
}

/// Signs arbitrary header and claims JSON with `key`.
fn sign_raw(key: &SigningKey, header: &Value, claims: &Value) -> String {
    sign_text(key, &header.to_string(), &claims.to_string())
}

fn sign_text(key: &SigningKey, header: &str, claims: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

fn plain_header() -> Value {
    json!({"alg": "EdDSA", "typ": "agent-proof+jwt"})
}

fn to_value(claims: &ProofClaims) -> Value {
    serde_json::to_value(claims).unwrap_or_else(|e| unreachable(e))
}

/// A valid proof for the weather call under the `jwk` attestation, as JSON to edit.
fn weather_claims(a: &Attestations) -> Value {
    to_value(&claims(&weather(), &a.jwk, NOW, 10))
}

fn with_claims(a: &Attestations, edit: impl FnOnce(&mut Value)) -> String {
    let mut c = weather_claims(a);
    edit(&mut c);
    sign_raw(&agent_key(), &plain_header(), &c)
}

fn with_header(a: &Attestations, edit: impl FnOnce(&mut Value)) -> String {
    let mut h = plain_header();
    edit(&mut h);
    sign_raw(&agent_key(), &h, &weather_claims(a))
}

fn resign(proof: &str, signature: &[u8]) -> String {
    let (input, _) = proof.rsplit_once('.').unwrap_or((proof, ""));
    format!("{input}.{}", b64(signature))
}

fn signature_of(proof: &str) -> [u8; 64] {
    proof
        .rsplit_once('.')
        .and_then(|(_, s)| URL_SAFE_NO_PAD.decode(s).ok())
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; 64])
}

/// S + L: the malleated twin of a signature.
fn add_order_to_s(signature: &[u8; 64]) -> [u8; 64] {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut out = *signature;
    let mut carry = 0u16;
    for (s, l) in out.iter_mut().skip(32).zip(L) {
        let sum = u16::from(*s) + u16::from(l) + carry;
        *s = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    out
}

struct Case {
    name: &'static str,
    description: &'static str,
    attestation: &'static str,
    request: Request,
    proof: Option<String>,
    nonce: Option<&'static str>,
    /// The name of an earlier valid case whose proof must have been accepted (and its `jti`
    /// recorded) before this one is checked.
    after: Option<&'static str>,
}

fn case(
    name: &'static str,
    description: &'static str,
    attestation: &'static str,
    request: Request,
    proof: String,
) -> Case {
    Case {
        name,
        description,
        attestation,
        request,
        proof: Some(proof),
        nonce: None,
        after: None,
    }
}

fn valid_cases(a: &Attestations) -> Vec<Case> {
    let agent = agent_key();
    let resource = Request::new(
        "resources/read",
        Some(json!({"uri": "file:///reports/q3.pdf"})),
    );
    let prompt = Request::new(
        "prompts/get",
        Some(json!({"name": "summarize", "arguments": {"style": "brief"}})),
    );
    let list = Request::new("tools/list", None);
    let initialize = Request::new(
        "initialize",
        Some(json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {"experimental": {"security.attestation": {"version": "0.1.0", "token": a.jwk}}},
            "clientInfo": {"name": "example-agent", "version": "1.0.0"},
        })),
    );
    // `_meta` is not covered by `ph`: the proof travels in it.
    let with_meta = Request::new(
        "tools/call",
        Some(json!({
            "_meta": {"progressToken": 7, "io.github.attest-rs/agent-attestation": {"version": "0.1.0", "token": a.jwk}},
            "name": "get_weather", "arguments": {"units": "metric", "city": "Paris"},
        })),
    );
    // RFC 8785: members sorted by UTF-16 code units, numbers in their shortest ECMAScript form,
    // strings with minimal escapes.
    let canonical = Request::new(
        "tools/call",
        Some(json!({
            "name": "compute",
            "arguments": {"z": [1.0, 100, 1e-7, -0.0, 12345678901234567u64], "é": "caf\u{e9}", "a\u{1f600}": "\u{7f}\n", "A": true, "b": null},
        })),
    );
    let nonce_claims = claims(&weather(), &a.jwk, NOW, 17).with_nonce(NONCE);
    vec![
        case(
            "valid_tools_call",
            "tools/call: nam is params.name, ph covers name and arguments",
            "jwk",
            weather(),
            sign(
                &claims(&weather(), &a.jwk, NOW, 10),
                &agent,
                ProofHeader::Plain,
            ),
        ),
        case(
            "valid_resources_read",
            "resources/read: nam is params.uri",
            "jwk",
            resource.clone(),
            sign(
                &claims(&resource, &a.jwk, NOW, 11),
                &agent,
                ProofHeader::Plain,
            ),
        ),
        case(
            "valid_prompts_get",
            "prompts/get: nam is params.name",
            "jwk",
            prompt.clone(),
            sign(
                &claims(&prompt, &a.jwk, NOW, 12),
                &agent,
                ProofHeader::Plain,
            ),
        ),
        case(
            "valid_no_params",
            "tools/list without params: no nam, and ph is the hash of {}",
            "jwk",
            list.clone(),
            sign(&claims(&list, &a.jwk, NOW, 13), &agent, ProofHeader::Plain),
        ),
        case(
            "valid_initialize",
            "initialize: the proof rides in params._meta, ph covers the capabilities that carry the token",
            "jwk",
            initialize.clone(),
            sign(
                &claims(&initialize, &a.jwk, NOW, 14),
                &agent,
                ProofHeader::Plain,
            ),
        ),
        case(
            "valid_meta_not_hashed",
            "params._meta is left out of ph: the same ph as valid_tools_call, whatever _meta holds",
            "jwk",
            with_meta.clone(),
            sign(
                &claims(&with_meta, &a.jwk, NOW, 15),
                &agent,
                ProofHeader::Plain,
            ),
        ),
        case(
            "valid_jcs_canonical_params",
            "ph is over the RFC 8785 canonical form: sorted members, ECMAScript numbers, minimal escapes",
            "jwk",
            canonical.clone(),
            sign(
                &claims(&canonical, &a.jwk, NOW, 16),
                &agent,
                ProofHeader::Plain,
            ),
        ),
        case(
            "valid_jkt_with_header_jwk",
            "cnf carries only jkt: the header carries the agent's jwk, whose thumbprint is jkt",
            "jkt",
            weather(),
            sign(
                &claims(&weather(), &a.jkt, NOW, 18),
                &agent,
                ProofHeader::WithJwk,
            ),
        ),
        Case {
            nonce: Some(NONCE),
            ..case(
                "valid_nonce",
                "a server that issued a nonce finds it in the proof",
                "jwk",
                weather(),
                sign(&nonce_claims, &agent, ProofHeader::Plain),
            )
        },
        case(
            "valid_at_window_edge",
            "iat exactly 60 s ago: still inside the 60 s window",
            "jwk",
            weather(),
            sign(
                &claims(&weather(), &a.jwk, NOW - 60, 19),
                &agent,
                ProofHeader::Plain,
            ),
        ),
        case(
            "valid_future_within_leeway",
            "iat 30 s in the future: inside the 30 s leeway",
            "jwk",
            weather(),
            sign(
                &claims(&weather(), &a.jwk, NOW + 30, 20),
                &agent,
                ProofHeader::Plain,
            ),
        ),
        case(
            "valid_unknown_claim_ignored",
            "a claim this version does not define is ignored",
            "jwk",
            weather(),
            with_claims(a, |c| {
                c["jti"] = json!("6d1c7f0e-55aa-4c8e-9b0e-1f2d3c4b5a69");
                c["ext"] = json!({"trace": "abc"});
            }),
        ),
    ]
}

fn invalid_cases(a: &Attestations) -> Vec<Case> {
    let agent = agent_key();
    let thief = thief_key();
    let valid = sign(
        &claims(&weather(), &a.jwk, NOW, 10),
        &agent,
        ProofHeader::Plain,
    );
    let signature = signature_of(&valid);
    let (header_b64, rest) = valid.split_once('.').unwrap_or_default();
    let (payload_b64, signature_b64) = rest.split_once('.').unwrap_or_default();
    let claims_text = weather_claims(a).to_string();
    let header_text = plain_header().to_string();
    let mut small_order_r = [0u8; 64];
    small_order_r[0] = 1; // R = the identity point, S = 0
    let mut deep = json!("bottom");
    for _ in 0..4 {
        deep = json!({ "n": deep });
    }
    let other_tool = Request::new(
        "tools/call",
        Some(
            json!({"name": "delete_repository", "arguments": {"city": "Paris", "units": "metric"}}),
        ),
    );
    let changed_args = Request::new(
        "tools/call",
        Some(json!({"name": "get_weather", "arguments": {"city": "Pyongyang", "units": "metric"}})),
    );
    let prompt = Request::new(
        "prompts/get",
        Some(json!({"name": "get_weather", "arguments": {"city": "Paris", "units": "metric"}})),
    );
    let agent_bare = {
        let mut jwk = serde_json::to_value(agent.to_public_jwk()).unwrap_or_default();
        if let Some(o) = jwk.as_object_mut() {
            o.retain(|k, _| matches!(k.as_str(), "kty" | "crv" | "x"));
        }
        jwk
    };
    let jkt_claims = to_value(&claims(&weather(), &a.jkt, NOW, 21));
    vec![
        // Policy: no proof, and replay.
        Case {
            proof: None,
            ..case(
                "proof_missing",
                "a key-bound attestation without a proof, under policy required",
                "jwk",
                weather(),
                String::new(),
            )
        },
        Case {
            after: Some("valid_tools_call"),
            ..case(
                "proof_replayed",
                "the proof of valid_tools_call, presented a second time",
                "jwk",
                weather(),
                valid.clone(),
            )
        },
        // Stolen attestation: the thief lacks the agent's key.
        case(
            "stolen_attestation_thief_key",
            "a stolen attestation with a proof signed by the thief's own key",
            "jwk",
            weather(),
            sign(
                &claims(&weather(), &a.jwk, NOW, 30),
                &thief,
                ProofHeader::Plain,
            ),
        ),
        case(
            "stolen_attestation_thief_jwk_in_header",
            "the thief puts its own key in the header of a proof for a jwk attestation",
            "jwk",
            weather(),
            sign(
                &claims(&weather(), &a.jwk, NOW, 31),
                &thief,
                ProofHeader::WithJwk,
            ),
        ),
        case(
            "jkt_thief_jwk",
            "cnf.jkt attestation; the header carries the thief's key, signed by the thief",
            "jkt",
            weather(),
            sign(
                &claims(&weather(), &a.jkt, NOW, 32),
                &thief,
                ProofHeader::WithJwk,
            ),
        ),
        case(
            "jkt_jwk_missing",
            "cnf.jkt attestation; the header carries no jwk",
            "jkt",
            weather(),
            sign(
                &claims(&weather(), &a.jkt, NOW, 33),
                &agent,
                ProofHeader::Plain,
            ),
        ),
        case(
            "jkt_jwk_private",
            "cnf.jkt attestation; the header jwk carries the private key d",
            "jkt",
            weather(),
            sign_raw(
                &agent,
                &json!({"alg": "EdDSA", "typ": "agent-proof+jwt", "jwk": agent.to_private_jwk()}),
                &jkt_claims,
            ),
        ),
        case(
            "jkt_jwk_wrong_curve",
            "cnf.jkt attestation; the header jwk claims crv P-256",
            "jkt",
            weather(),
            sign_raw(
                &agent,
                &json!({"alg": "EdDSA", "typ": "agent-proof+jwt", "jwk": {"kty": "OKP", "crv": "P-256", "x": agent_bare["x"]}}),
                &jkt_claims,
            ),
        ),
        case(
            "bearer_attestation_with_proof",
            "an attestation without cnf cannot be proven: no key to check against",
            "bearer",
            weather(),
            sign(
                &claims(&weather(), &a.bearer, NOW, 34),
                &agent,
                ProofHeader::Plain,
            ),
        ),
        // Binding: another request, attestation or server.
        case(
            "tool_a_proof_on_tool_b",
            "a proof for get_weather presented with a call of delete_repository",
            "jwk",
            other_tool,
            valid.clone(),
        ),
        case(
            "arguments_changed",
            "the arguments were changed after the proof was signed",
            "jwk",
            changed_args,
            valid.clone(),
        ),
        case(
            "method_changed",
            "a tools/call proof presented with a prompts/get of the same name and arguments",
            "jwk",
            prompt,
            valid.clone(),
        ),
        case(
            "other_attestation",
            "a proof bound (ath) to another attestation of the same agent",
            "other",
            weather(),
            valid.clone(),
        ),
        case(
            "other_server",
            "a proof for another server (aud)",
            "jwk",
            weather(),
            with_claims(a, |c| c["aud"] = json!(OTHER_AUDIENCE)),
        ),
        case(
            "name_added",
            "nam on a method that names nothing",
            "jwk",
            Request::new("tools/list", None),
            {
                let list = Request::new("tools/list", None);
                let mut c = to_value(&claims(&list, &a.jwk, NOW, 35));
                c["nam"] = json!("get_weather");
                sign_raw(&agent, &plain_header(), &c)
            },
        ),
        Case {
            nonce: Some(NONCE),
            ..case(
                "nonce_missing",
                "the server issued a nonce; the proof carries none",
                "jwk",
                weather(),
                valid.clone(),
            )
        },
        Case {
            nonce: Some(NONCE),
            ..case(
                "nonce_wrong",
                "the server issued a nonce; the proof carries another",
                "jwk",
                weather(),
                with_claims(a, |c| c["nonce"] = json!("n-000000")),
            )
        },
        // Time.
        case(
            "too_old",
            "iat 61 s ago, beyond the 60 s window",
            "jwk",
            weather(),
            sign(
                &claims(&weather(), &a.jwk, NOW - 61, 36),
                &agent,
                ProofHeader::Plain,
            ),
        ),
        case(
            "from_the_future",
            "iat 31 s in the future, beyond the 30 s leeway",
            "jwk",
            weather(),
            sign(
                &claims(&weather(), &a.jwk, NOW + 31, 37),
                &agent,
                ProofHeader::Plain,
            ),
        ),
        // Header.
        case(
            "alg_ed25519",
            "alg Ed25519: a proof's alg is exactly EdDSA",
            "jwk",
            weather(),
            with_header(a, |h| h["alg"] = json!("Ed25519")),
        ),
        case(
            "alg_none",
            "alg none with an empty signature",
            "jwk",
            weather(),
            format!(
                "{}.{payload_b64}.",
                b64(json!({"alg": "none", "typ": "agent-proof+jwt"})
                    .to_string()
                    .as_bytes())
            ),
        ),
        case(
            "alg_missing",
            "no alg",
            "jwk",
            weather(),
            with_header(a, |h| {
                h.as_object_mut().map(|o| o.remove("alg"));
            }),
        ),
        case(
            "typ_attestation",
            "an attestation token's typ: a token is not a proof",
            "jwk",
            weather(),
            with_header(a, |h| h["typ"] = json!("agent-attestation+jwt")),
        ),
        case(
            "typ_dpop",
            "typ dpop+jwt: an HTTP DPoP proof is not an MCP proof",
            "jwk",
            weather(),
            with_header(a, |h| h["typ"] = json!("dpop+jwt")),
        ),
        case(
            "typ_missing",
            "no typ",
            "jwk",
            weather(),
            with_header(a, |h| {
                h.as_object_mut().map(|o| o.remove("typ"));
            }),
        ),
        case(
            "header_kid",
            "a kid in the header",
            "jwk",
            weather(),
            with_header(a, |h| h["kid"] = json!("agent")),
        ),
        case(
            "header_crit",
            "a crit list",
            "jwk",
            weather(),
            with_header(a, |h| h["crit"] = json!(["nam"])),
        ),
        case(
            "alg_not_a_string",
            "alg as a number: a parameter of the wrong JSON type is refused like a wrong value",
            "jwk",
            weather(),
            with_header(a, |h| h["alg"] = json!(1)),
        ),
        case(
            "typ_not_a_string",
            "typ as an array holding the right value",
            "jwk",
            weather(),
            with_header(a, |h| h["typ"] = json!(["agent-proof+jwt"])),
        ),
        case(
            "header_jwk_not_an_object",
            "a header jwk that is a string, not a key",
            "jwk",
            weather(),
            with_header(a, |h| h["jwk"] = json!("agent")),
        ),
        case(
            "header_jwk_with_cnf_jwk",
            "the agent's own jwk in the header of a proof for a cnf.jwk attestation",
            "jwk",
            weather(),
            with_header(a, |h| h["jwk"] = agent_bare.clone()),
        ),
        // Encoding.
        case(
            "segments_two",
            "two segments",
            "jwk",
            weather(),
            format!("{header_b64}.{payload_b64}"),
        ),
        case(
            "jws_json_serialization",
            "JWS JSON serialization",
            "jwk",
            weather(),
            json!({"payload": payload_b64, "protected": header_b64, "signature": signature_b64})
                .to_string(),
        ),
        case(
            "base64_padding",
            "a padded signature segment",
            "jwk",
            weather(),
            format!("{valid}=="),
        ),
        case(
            "duplicate_claim_nam",
            "nam twice: get_weather then delete_repository",
            "jwk",
            weather(),
            sign_text(
                &agent,
                &header_text,
                &claims_text.replacen(
                    "\"nam\":\"get_weather\"",
                    "\"nam\":\"get_weather\",\"nam\":\"delete_repository\"",
                    1,
                ),
            ),
        ),
        case(
            "duplicate_header_typ",
            "typ twice in the header",
            "jwk",
            weather(),
            sign_text(
                &agent,
                &header_text.replacen('{', "{\"typ\":\"dpop+jwt\",", 1),
                &claims_text,
            ),
        ),
        case(
            "too_large",
            "a proof over the 8 KiB cap",
            "jwk",
            weather(),
            with_claims(a, |c| c["padding"] = json!("x".repeat(8 * 1024))),
        ),
        case(
            "json_too_deep",
            "an extension claim nested five levels deep",
            "jwk",
            weather(),
            with_claims(a, |c| c["nested"] = deep),
        ),
        // Claims.
        case(
            "iat_missing",
            "no iat",
            "jwk",
            weather(),
            with_claims(a, |c| {
                c.as_object_mut().map(|o| o.remove("iat"));
            }),
        ),
        case(
            "iat_float",
            "iat as a float",
            "jwk",
            weather(),
            with_claims(a, |c| c["iat"] = json!(1_790_000_000.5)),
        ),
        case(
            "iat_string",
            "iat as a string",
            "jwk",
            weather(),
            with_claims(a, |c| c["iat"] = json!(NOW.to_string())),
        ),
        case(
            "jti_missing",
            "no jti",
            "jwk",
            weather(),
            with_claims(a, |c| {
                c.as_object_mut().map(|o| o.remove("jti"));
            }),
        ),
        case(
            "jti_empty",
            "an empty jti",
            "jwk",
            weather(),
            with_claims(a, |c| c["jti"] = json!("")),
        ),
        case(
            "jti_too_long",
            "a 129-byte jti",
            "jwk",
            weather(),
            with_claims(a, |c| c["jti"] = json!("j".repeat(129))),
        ),
        case(
            "mth_missing",
            "no mth",
            "jwk",
            weather(),
            with_claims(a, |c| {
                c.as_object_mut().map(|o| o.remove("mth"));
            }),
        ),
        case(
            "ath_missing",
            "no ath: a proof not bound to any attestation",
            "jwk",
            weather(),
            with_claims(a, |c| {
                c.as_object_mut().map(|o| o.remove("ath"));
            }),
        ),
        case(
            "ph_not_a_digest",
            "ph is not 43 characters of base64url",
            "jwk",
            weather(),
            with_claims(a, |c| c["ph"] = json!("sha256:abc")),
        ),
        case(
            "aud_array",
            "aud as an array: a proof names exactly one server",
            "jwk",
            weather(),
            with_claims(a, |c| c["aud"] = json!([AUDIENCE])),
        ),
        // Signature.
        case(
            "signature_63_bytes",
            "a 63-byte signature",
            "jwk",
            weather(),
            resign(&valid, &signature[..63]),
        ),
        case(
            "signature_s_plus_l",
            "the S + L malleated twin of a valid signature",
            "jwk",
            weather(),
            resign(&valid, &add_order_to_s(&signature)),
        ),
        case(
            "signature_small_order_r",
            "R is the identity point and S = 0",
            "jwk",
            weather(),
            resign(&valid, &small_order_r),
        ),
        case(
            "signature_tampered_nam",
            "nam changed after signing, not re-signed",
            "jwk",
            other_tool_request(),
            format!(
                "{header_b64}.{}.{signature_b64}",
                b64(claims_text
                    .replacen(
                        "\"nam\":\"get_weather\"",
                        "\"nam\":\"delete_repository\"",
                        1
                    )
                    .as_bytes())
            ),
        ),
    ]
}

fn other_tool_request() -> Request {
    Request::new(
        "tools/call",
        Some(
            json!({"name": "delete_repository", "arguments": {"city": "Paris", "units": "metric"}}),
        ),
    )
}

/// The outcome of checking `case`, exactly as a server does it: the attestation first, then
/// the proof against its `cnf` key and the request, then the replay set.
fn check(
    case: &Case,
    a: &Attestations,
    trust: &TrustStore,
    policy: &Policy,
    seen: &mut HashSet<(String, String)>,
) -> Result<Value, (String, String)> {
    let now = UnixTime::from_secs(NOW);
    let token = a.get(case.attestation);
    let verified = verify(token, trust, policy, now)
        .map_err(|e| (format!("attestation refused: {e}"), String::new()))?;
    let fail = |e: ProofError| (e.reason().as_str().to_owned(), e.code().to_owned());
    let Some(proof) = &case.proof else {
        return Err(fail(ProofError::Missing));
    };
    let key = ConfirmationKey::from_claims(verified.claims()).map_err(fail)?;
    let binding = case.request.binding();
    let ath = token_hash(token);
    let audiences = [AUDIENCE.to_owned()];
    let expected = ExpectedRequest {
        audiences: &audiences,
        token_hash: &ath,
        binding: &binding,
        nonce: case.nonce,
    };
    let proven =
        verify_proof(proof, &key, &expected, &ProofLimits::default(), now).map_err(fail)?;
    let record = (proven.replay_issuer().to_owned(), proven.jti().to_owned());
    if !seen.insert(record) {
        return Err((
            "attestation_proof_replay".to_owned(),
            "proof_replayed".to_owned(),
        ));
    }
    let canonical = canonical_params(case.request.params.as_ref());
    Ok(json!({
        "claims": proven.claims(),
        "canonical_params": canonical,
        "ph": binding.params_hash(),
        "ath": ath,
        "replay_issuer": proven.replay_issuer(),
        "record_until": proven.record_until().as_secs(),
    }))
}

/// The RFC 8785 form of the params without `_meta`, the input of `ph`, for implementers.
fn canonical_params(params: Option<&Value>) -> String {
    let mut params = params.cloned().unwrap_or_else(|| json!({}));
    if let Some(object) = params.as_object_mut() {
        object.remove("_meta");
    }
    serde_jcs::to_string(&params).unwrap_or_else(|e| unreachable(e))
}

fn request_json(case: &Case) -> Value {
    let mut request = case.request.to_json();
    if let Some(nonce) = case.nonce {
        request["expected_nonce"] = json!(nonce);
    }
    request
}

fn generate() -> Result<String, Box<dyn std::error::Error>> {
    let a = Attestations::new();
    let issuer = issuer_key();
    let agent = agent_key();
    let policy = Policy::builder()
        .trusted_issuer(ISSUER)
        .audience(AUDIENCE)
        .build()?;
    let mut trust = TrustStore::new();
    trust.insert(
        ISSUER,
        KeySet::from_keys([(issuer.kid(), issuer.public_key())])?,
    );
    let mut seen = HashSet::new();

    let mut valid = Vec::new();
    for c in valid_cases(&a) {
        let outcome = check(&c, &a, &trust, &policy, &mut seen).map_err(|(reason, code)| {
            format!("valid case {} was refused: {reason} {code}", c.name)
        })?;
        let mut entry = json!({
            "name": c.name, "description": c.description, "attestation": c.attestation,
            "request": request_json(&c), "proof": c.proof,
        });
        entry["expect"] = outcome;
        valid.push(entry);
    }
    let mut invalid = Vec::new();
    for c in invalid_cases(&a) {
        let (reason, error) = match check(&c, &a, &trust, &policy, &mut seen) {
            Ok(_) => return Err(format!("invalid case {} was accepted", c.name).into()),
            Err(outcome) => outcome,
        };
        let mut entry = json!({
            "name": c.name, "description": c.description, "attestation": c.attestation,
            "request": request_json(&c), "proof": c.proof,
            "reason": reason, "error": error,
        });
        if let Some(after) = c.after {
            entry["after"] = json!(after);
        }
        invalid.push(entry);
    }
    let doc = json!({
        "description": "attest key-bound attestation vectors (SPEC.md §17). For each case: verify the attestation named by `attestation` (a key of `attestations`) under `policy` at `now` with the keys in `jwks`; take its cnf key; compute the request's binding (mth = request.method, nam per §17.2, ph = base64url(SHA-256(JCS(request.params without _meta))), {} when params are absent) and ath = base64url(SHA-256(the attestation)); then verify `proof` against them with the `limits`, expecting one of `policy.audiences` as aud and, when `request.expected_nonce` is present, that nonce. Record every accepted proof's (replay_issuer, jti). Valid cases must be accepted, in order, yielding `expect`; invalid ones must be refused with `reason`. A null proof is a request without one (under proof policy required). A case with `after` is checked once the named valid case has been accepted. `error` names attest-core's precise check, for information.",
        "spec": "SPEC.md v0.2 §17",
        "now": NOW,
        "policy": {
            "trusted_issuers": [ISSUER],
            "audiences": [AUDIENCE],
            "leeway_secs": Policy::DEFAULT_LEEWAY_SECS,
        },
        "limits": {
            "window_secs": ProofLimits::DEFAULT_WINDOW_SECS,
            "leeway_secs": ProofLimits::DEFAULT_LEEWAY_SECS,
            "max_bytes": ProofLimits::DEFAULT_MAX_BYTES,
            "max_jti_bytes": ProofLimits::DEFAULT_MAX_JTI_BYTES,
            "max_json_depth": ProofLimits::DEFAULT_MAX_JSON_DEPTH,
        },
        "jwks": serde_json::from_str::<Value>(&trust.get(ISSUER).map(KeySet::to_jwks_json).unwrap_or_default())?,
        "agent": {
            "description": "the agent's key: cnf names it, and it signs the valid proofs. A test key; never use it elsewhere.",
            "private_jwk": agent.to_private_jwk(),
            "jkt": agent.public_key().thumbprint(),
        },
        "attestations": {
            "jwk": a.jwk,
            "jkt": a.jkt,
            "bearer": a.bearer,
            "other": a.other,
        },
        "params_hash_of_empty_object": params_hash(None)?,
        "valid": valid,
        "invalid": invalid,
    });
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}
