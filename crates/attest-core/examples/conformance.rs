//! Generates `testvectors/attest/vectors.json`, the cross-implementation conformance vectors.
//!
//! `cargo run -p attest-core --example conformance` rewrites the file;
//! `... -- --check` fails if the committed file differs from what this generator writes.
//! `cargo xtask vectors [--check]` runs the same thing.
//!
//! Every case is built from a fixed key, a fixed clock and a fixed RNG, so the output is
//! byte-identical on every run. Negative cases are mostly *validly signed* tokens with hostile
//! structure: a verifier must reject them for the stated reason, not merely for a bad signature.

// A generator over fixed data: `serde_json::Value` indexing returns Null instead of panicking,
// and the byte arithmetic below works on values known to fit.
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::process::ExitCode;

use attest_core::{
    AgentIdentity, AgentIntegrity, AttestationMetadata, Confirmation, IntegrityHash, KeySet,
    Policy, SigningKey, TokenBuilder, TrustStore, UnixTime, verify,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::{Value, json};

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "https://tools.example";
const SUBJECT: &str = "spiffe://issuer.example/model/claude-sonnet-4";
const KID: &str = "conformance-key-1";
const NOW: u64 = 1_790_000_000;
const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testvectors/attest/vectors.json"
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
                println!("testvectors/attest/vectors.json is up to date");
                ExitCode::SUCCESS
            }
            Ok(_) => {
                eprintln!("testvectors/attest/vectors.json is stale: run `cargo xtask vectors`");
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
        println!("wrote testvectors/attest/vectors.json");
        ExitCode::SUCCESS
    }
}

/// The fixture every case shares.
struct Fixture {
    key: SigningKey,
    attacker: SigningKey,
}

impl Fixture {
    /// Valid claims at NOW, as JSON to edit.
    fn claims(&self) -> Value {
        let claims = builder()
            .build_claims(UnixTime::from_secs(NOW), &mut rng())
            .unwrap_or_else(|e| unreachable(e));
        serde_json::to_value(claims).unwrap_or_else(|e| unreachable(e))
    }

    fn header(&self) -> Value {
        json!({"alg": "EdDSA", "typ": "agent-attestation+jwt", "kid": KID})
    }

    /// Signs the given header and claims JSON text with the issuer key.
    fn sign_text(&self, header: &str, claims: &str) -> String {
        sign_with(&self.key, header.as_bytes(), claims.as_bytes())
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        self.sign_text(&header.to_string(), &claims.to_string())
    }

    fn with_claims(&self, edit: impl FnOnce(&mut Value)) -> String {
        let mut claims = self.claims();
        edit(&mut claims);
        self.sign(&self.header(), &claims)
    }

    fn with_header(&self, edit: impl FnOnce(&mut Value)) -> String {
        let mut header = self.header();
        edit(&mut header);
        self.sign(&header, &self.claims())
    }

    fn valid(&self) -> String {
        self.sign(&self.header(), &self.claims())
    }
}

fn unreachable<E: std::fmt::Display>(e: E) -> ! {
    eprintln!("generator bug: {e}");
    std::process::exit(2)
}

/// The agent's own key, for `cnf`.
fn agent_key() -> SigningKey {
    SigningKey::from_seed(&[0x77; 32], "agent-key").unwrap_or_else(|e| unreachable(e))
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::from_seed([0x5a; 32])
}

fn builder() -> TokenBuilder {
    TokenBuilder::new(ISSUER, SUBJECT)
        .audience(AUDIENCE)
        .identity(AgentIdentity::new("claude", "sonnet-4", "anthropic"))
        .metadata(AttestationMetadata::provider())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign_with(key: &SigningKey, header: &[u8], claims: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

/// Replaces the signature segment of `token` with `signature`.
fn resign(token: &str, signature: &[u8]) -> String {
    let (input, _) = token.rsplit_once('.').unwrap_or((token, ""));
    format!("{input}.{}", b64(signature))
}

/// Adds the group order L to the scalar S of a signature (little-endian), giving its
/// malleated twin S + L, which still satisfies the verification equation.
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

/// HMAC-SHA256, for the HS256 key-confusion case.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

struct Case {
    name: &'static str,
    description: &'static str,
    token: String,
}

fn case(name: &'static str, description: &'static str, token: String) -> Case {
    Case {
        name,
        description,
        token,
    }
}

fn valid_cases(f: &Fixture) -> Vec<Case> {
    let now = UnixTime::from_secs(NOW);
    let sign = |b: TokenBuilder| {
        b.sign(&f.key, now, &mut rng())
            .unwrap_or_else(|e| unreachable(e))
    };
    let integrity = AgentIntegrity {
        config_hash: Some(IntegrityHash::of(b"{\"temperature\":0}")),
        system_prompt_hash: Some(IntegrityHash::of(b"You are a careful agent.")),
        ..AgentIntegrity::default()
    };
    vec![
        case("valid_basic", "a minimal valid attestation", f.valid()),
        case(
            "valid_full",
            "every optional claim, two audiences, declared capabilities and an extension claim",
            sign(
                builder()
                    .audience("https://other.example")
                    .integrity(integrity)
                    .not_before(now)
                    .extra_claim("org_unit", json!("research")),
            ),
        ),
        case(
            "valid_confirmation_key",
            "cnf carries the agent's public key and its RFC 7638 thumbprint",
            sign(builder().confirmation(Confirmation {
                jwk: Some(agent_key().to_public_jwk()),
                jkt: Some(agent_key().public_key().thumbprint()),
                ..Confirmation::default()
            })),
        ),
        case(
            "valid_alg_ed25519",
            "alg Ed25519 (RFC 9864 fully-specified name) is accepted",
            f.with_header(|h| h["alg"] = json!("Ed25519")),
        ),
        case(
            "valid_expired_within_leeway",
            "exp 10 s in the past is accepted under the 30 s leeway (the original rejected it)",
            f.with_claims(|c| {
                c["iat"] = json!(NOW - 310);
                c["exp"] = json!(NOW - 10);
            }),
        ),
        case(
            "valid_iat_within_leeway",
            "iat 20 s in the future is accepted under the 30 s leeway",
            f.with_claims(|c| {
                c["iat"] = json!(NOW + 20);
                c["exp"] = json!(NOW + 320);
            }),
        ),
    ]
}

fn invalid_cases(f: &Fixture) -> Vec<Case> {
    let valid = f.valid();
    let (header_b64, rest) = valid.split_once('.').unwrap_or_default();
    let (payload_b64, signature_b64) = rest.split_once('.').unwrap_or_default();
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .ok()
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; 64]);
    let public = f.key.public_key();
    let hs256_header =
        json!({"alg": "HS256", "typ": "agent-attestation+jwt", "kid": KID}).to_string();
    let hs256_input = format!("{}.{}", b64(hs256_header.as_bytes()), payload_b64);
    let claims_text = f.claims().to_string();
    let header_text = f.header().to_string();
    let mut small_order_r = [0u8; 64];
    small_order_r[0] = 1; // R = the identity point, S = 0
    let mut deep = json!("bottom");
    for _ in 0..10 {
        deep = json!({ "n": deep });
    }
    vec![
        // Algorithm
        case(
            "alg_none",
            "alg none with an empty signature",
            format!(
                "{}.{}.",
                b64(
                    json!({"alg":"none","typ":"agent-attestation+jwt","kid":KID})
                        .to_string()
                        .as_bytes()
                ),
                payload_b64
            ),
        ),
        case(
            "alg_none_capitalized",
            "alg None: the allowlist is case-sensitive",
            f.with_header(|h| h["alg"] = json!("None")),
        ),
        case(
            "alg_eddsa_lowercase",
            "alg eddsa: the allowlist is case-sensitive",
            f.with_header(|h| h["alg"] = json!("eddsa")),
        ),
        case(
            "alg_hs256_public_key",
            "HS256 keyed with the issuer's Ed25519 public key (key confusion)",
            format!(
                "{hs256_input}.{}",
                b64(&hmac_sha256(public.as_bytes(), hs256_input.as_bytes()))
            ),
        ),
        case(
            "alg_rs256",
            "alg RS256",
            f.with_header(|h| h["alg"] = json!("RS256")),
        ),
        case(
            "alg_es256",
            "alg ES256",
            f.with_header(|h| h["alg"] = json!("ES256")),
        ),
        case(
            "alg_missing",
            "no alg",
            f.with_header(|h| {
                h.as_object_mut().map(|o| o.remove("alg"));
            }),
        ),
        // Header parameters
        case(
            "header_jwk",
            "an embedded jwk (the attacker supplies the key)",
            f.with_header(|h| {
                h["jwk"] = serde_json::to_value(f.attacker.to_public_jwk()).unwrap_or_default()
            }),
        ),
        case(
            "header_jku",
            "a jku URL",
            f.with_header(|h| h["jku"] = json!("https://attacker.example/jwks.json")),
        ),
        case(
            "header_x5u",
            "an x5u URL",
            f.with_header(|h| h["x5u"] = json!("https://attacker.example/cert.pem")),
        ),
        case(
            "header_x5c",
            "an x5c chain",
            f.with_header(|h| h["x5c"] = json!([STANDARD.encode(b"not a certificate")])),
        ),
        case(
            "header_crit",
            "a crit list",
            f.with_header(|h| h["crit"] = json!(["exp"])),
        ),
        case(
            "header_b64_false",
            "b64 false (RFC 7797 unencoded payload)",
            f.with_header(|h| h["b64"] = json!(false)),
        ),
        case(
            "header_cty",
            "a cty (nested JWT)",
            f.with_header(|h| h["cty"] = json!("JWT")),
        ),
        case(
            "typ_missing",
            "no typ",
            f.with_header(|h| {
                h.as_object_mut().map(|o| o.remove("typ"));
            }),
        ),
        case(
            "typ_jwt_not_opted_in",
            "typ JWT under a policy that accepts only the explicit type",
            f.with_header(|h| h["typ"] = json!("JWT")),
        ),
        case(
            "typ_access_token",
            "typ at+jwt: another kind of JWT",
            f.with_header(|h| h["typ"] = json!("at+jwt")),
        ),
        case(
            "kid_missing",
            "no kid",
            f.with_header(|h| {
                h.as_object_mut().map(|o| o.remove("kid"));
            }),
        ),
        case(
            "kid_empty",
            "an empty kid",
            f.with_header(|h| h["kid"] = json!("")),
        ),
        case(
            "kid_too_long",
            "a 200-character kid",
            f.with_header(|h| h["kid"] = json!("k".repeat(200))),
        ),
        case(
            "kid_not_string",
            "a numeric kid",
            f.with_header(|h| h["kid"] = json!(1)),
        ),
        case(
            "kid_with_space",
            "a kid with a space",
            f.with_header(|h| h["kid"] = json!("conformance key")),
        ),
        // Encoding
        case(
            "segments_two",
            "two segments",
            format!("{header_b64}.{payload_b64}"),
        ),
        case(
            "segments_four",
            "four segments",
            format!("{valid}.{signature_b64}"),
        ),
        case(
            "jwe_five_segments",
            "a five-segment JWE",
            format!("{header_b64}.a.b.c.d"),
        ),
        case(
            "jws_json_serialization",
            "JWS JSON serialization",
            json!({"payload": payload_b64, "protected": header_b64, "signature": signature_b64})
                .to_string(),
        ),
        case(
            "base64_padding",
            "a padded header segment",
            format!("{header_b64}=.{payload_b64}.{signature_b64}").replacen(
                "=.",
                "==.",
                usize::from(header_b64.len() % 4 == 2),
            ),
        ),
        case(
            "base64_standard_alphabet",
            "a signature in the +/ alphabet",
            format!(
                "{header_b64}.{payload_b64}.{}",
                STANDARD.encode(signature).trim_end_matches('=')
            ),
        ),
        case(
            "base64_whitespace",
            "a line break inside the payload",
            format!(
                "{header_b64}.{}\n{}.{signature_b64}",
                &payload_b64[..10],
                &payload_b64[10..]
            ),
        ),
        case(
            "base64_trailing_bits",
            "non-zero trailing bits in the signature's last character",
            {
                let mut s = signature_b64.to_owned();
                let last = s.pop().unwrap_or('A');
                let flipped = if URL_SAFE_NO_PAD
                    .decode(format!("{s}{}", char::from(last as u8 ^ 1)))
                    .is_err()
                {
                    char::from(last as u8 ^ 1)
                } else {
                    char::from(last as u8 ^ 2)
                };
                format!("{header_b64}.{payload_b64}.{s}{flipped}")
            },
        ),
        case(
            "header_not_json",
            "the header is not JSON",
            format!("{}.{payload_b64}.{signature_b64}", b64(b"alg=EdDSA")),
        ),
        case(
            "payload_not_object",
            "the claims are a JSON array",
            f.sign_text(&header_text, "[1,2,3]"),
        ),
        case(
            "duplicate_header_alg",
            "alg appears twice in the header, EdDSA then none",
            f.sign_text(
                &header_text.replacen('{', "{\"alg\":\"none\",", 1),
                &claims_text,
            ),
        ),
        case(
            "duplicate_claim_exp",
            "exp appears twice in the claims",
            f.sign_text(
                &header_text,
                &claims_text.replacen('{', &format!("{{\"exp\":{},", NOW + 86_400), 1),
            ),
        ),
        case(
            "duplicate_nested_member",
            "agent_identity.provider appears twice",
            f.sign_text(
                &header_text,
                &claims_text.replacen(
                    "\"provider\":\"anthropic\"",
                    "\"provider\":\"anthropic\",\"provider\":\"other\"",
                    1,
                ),
            ),
        ),
        case(
            "duplicate_escaped_name",
            "exp and \\u0065xp name the same member",
            f.sign_text(
                &header_text,
                &claims_text.replacen('{', &format!("{{\"\\u0065xp\":{},", NOW + 86_400), 1),
            ),
        ),
        case(
            "too_large",
            "a token over the 8 KiB cap",
            f.with_claims(|c| c["padding"] = json!("x".repeat(8 * 1024))),
        ),
        case(
            "json_too_deep",
            "an extension claim nested ten levels deep",
            f.with_claims(|c| c["nested"] = deep),
        ),
        // Signature
        case(
            "signature_63_bytes",
            "a 63-byte signature",
            resign(&valid, &signature[..63]),
        ),
        case(
            "signature_65_bytes",
            "a 65-byte signature",
            resign(&valid, &[&signature[..], &[0]].concat()),
        ),
        case(
            "signature_s_plus_l",
            "the S + L malleated twin of a valid signature",
            resign(&valid, &add_order_to_s(&signature)),
        ),
        case(
            "signature_small_order_r",
            "R is the identity point and S = 0",
            resign(&valid, &small_order_r),
        ),
        case(
            "signature_tampered_exp",
            "exp extended after signing, not re-signed",
            format!(
                "{header_b64}.{}.{signature_b64}",
                b64(claims_text
                    .replacen(
                        &format!("\"exp\":{}", NOW + 300),
                        &format!("\"exp\":{}", NOW + 86_400),
                        1
                    )
                    .as_bytes())
            ),
        ),
        case(
            "signature_tampered_safety_level",
            "safety_level changed after signing, not re-signed",
            format!(
                "{header_b64}.{}.{signature_b64}",
                b64(claims_text
                    .replacen("\"standard\"", "\"enhanced\"", 1)
                    .as_bytes())
            ),
        ),
        case(
            "signature_attacker_key",
            "model spoofing: signed by the attacker's own key under the issuer's kid",
            sign_with(&f.attacker, header_text.as_bytes(), claims_text.as_bytes()),
        ),
        // Keys and issuers
        case(
            "kid_unknown",
            "a kid the issuer does not publish",
            f.with_header(|h| h["kid"] = json!("rotated-away")),
        ),
        case(
            "issuer_untrusted",
            "an issuer outside the trusted set",
            f.with_claims(|c| c["iss"] = json!("https://attacker.example")),
        ),
        case(
            "issuer_trailing_slash",
            "the trusted issuer with a trailing slash",
            f.with_claims(|c| c["iss"] = json!(format!("{ISSUER}/"))),
        ),
        case(
            "issuer_lookalike",
            "a look-alike issuer domain",
            f.with_claims(|c| c["iss"] = json!("https://issuer.example.evil.example")),
        ),
        case(
            "issuer_case",
            "the trusted issuer in upper case",
            f.with_claims(|c| c["iss"] = json!("https://ISSUER.example")),
        ),
        // Claims
        case(
            "exp_missing",
            "no exp",
            f.with_claims(|c| {
                c.as_object_mut().map(|o| o.remove("exp"));
            }),
        ),
        case(
            "iat_missing",
            "no iat",
            f.with_claims(|c| {
                c.as_object_mut().map(|o| o.remove("iat"));
            }),
        ),
        case(
            "exp_float",
            "exp as a float",
            f.with_claims(|c| c["exp"] = json!(1_790_000_300.5)),
        ),
        case(
            "exp_string",
            "exp as a string",
            f.with_claims(|c| c["exp"] = json!(format!("{}", NOW + 300))),
        ),
        case(
            "nbf_negative",
            "a negative nbf",
            f.with_claims(|c| c["nbf"] = json!(-1)),
        ),
        case(
            "expired",
            "exp 31 s in the past, beyond the 30 s leeway",
            f.with_claims(|c| {
                c["iat"] = json!(NOW - 331);
                c["exp"] = json!(NOW - 31);
            }),
        ),
        case(
            "nbf_future",
            "nbf 60 s in the future",
            f.with_claims(|c| c["nbf"] = json!(NOW + 60)),
        ),
        case(
            "iat_future",
            "iat 60 s in the future",
            f.with_claims(|c| {
                c["iat"] = json!(NOW + 60);
                c["exp"] = json!(NOW + 360);
            }),
        ),
        case(
            "exp_before_iat",
            "exp earlier than iat",
            f.with_claims(|c| c["exp"] = json!(NOW - 1)),
        ),
        case(
            "lifetime_exceeded",
            "a 2-hour lifetime under a 1-hour maximum",
            f.with_claims(|c| c["exp"] = json!(NOW + 7200)),
        ),
        case(
            "aud_missing",
            "no aud",
            f.with_claims(|c| {
                c.as_object_mut().map(|o| o.remove("aud"));
            }),
        ),
        case(
            "aud_empty_array",
            "aud is an empty array",
            f.with_claims(|c| c["aud"] = json!([])),
        ),
        case(
            "aud_mismatch",
            "a token for server A presented to server B",
            f.with_claims(|c| c["aud"] = json!("https://other-server.example")),
        ),
        case(
            "jti_missing",
            "no jti",
            f.with_claims(|c| {
                c.as_object_mut().map(|o| o.remove("jti"));
            }),
        ),
        case(
            "jti_empty",
            "an empty jti",
            f.with_claims(|c| c["jti"] = json!("")),
        ),
        case(
            "jti_too_long",
            "a 129-byte jti",
            f.with_claims(|c| c["jti"] = json!("j".repeat(129))),
        ),
        case(
            "identity_missing",
            "no agent_identity",
            f.with_claims(|c| {
                c.as_object_mut().map(|o| o.remove("agent_identity"));
            }),
        ),
        case(
            "safety_level_unknown",
            "safety_level outside the enumeration",
            f.with_claims(|c| c["attestation_metadata"]["safety_level"] = json!("maximum")),
        ),
        case("sub_empty", "an empty sub", f.with_claims(|c| c["sub"] = json!(""))),
        case("cnf_private_key", "cnf.jwk carries the agent's private key", f.with_claims(|c| c["cnf"] = json!({"jwk": agent_key().to_private_jwk()}))),
        case("cnf_jkt_mismatch", "cnf.jwk and cnf.jkt name different keys", f.with_claims(|c| c["cnf"] = json!({"jwk": agent_key().to_public_jwk(), "jkt": f.key.public_key().thumbprint()}))),
        case(
            "version_unsupported",
            "attestation_version 9.9.9",
            f.with_claims(|c| c["attestation_metadata"]["attestation_version"] = json!("9.9.9")),
        ),
        case(
            "integrity_hash_malformed",
            "config_hash not sha256:<64 hex>",
            f.with_claims(|c| c["agent_integrity"] = json!({"config_hash": "md5:abc"})),
        ),
    ]
}

fn generate() -> Result<String, Box<dyn std::error::Error>> {
    let key = SigningKey::from_seed(&[0x2a; 32], KID)?;
    let attacker = SigningKey::from_seed(&[0x66; 32], KID)?;
    let f = Fixture { key, attacker };
    let policy = Policy::builder()
        .trusted_issuer(ISSUER)
        .audience(AUDIENCE)
        .build()?;
    let mut trust = TrustStore::new();
    trust.insert(ISSUER, KeySet::from_keys([(KID, f.key.public_key())])?);
    let now = UnixTime::from_secs(NOW);

    let mut valid = Vec::new();
    for c in valid_cases(&f) {
        let verified = verify(&c.token, &trust, &policy, now)
            .map_err(|e| format!("valid case {} was rejected: {e}", c.name))?;
        valid.push(json!({
            "name": c.name, "description": c.description, "token": c.token,
            "claims": verified.claims(),
        }));
    }
    let mut invalid = Vec::new();
    for c in invalid_cases(&f) {
        let error = match verify(&c.token, &trust, &policy, now) {
            Ok(_) => return Err(format!("invalid case {} was accepted", c.name).into()),
            Err(e) => e,
        };
        invalid.push(json!({
            "name": c.name, "description": c.description, "token": c.token,
            "reason": error.reason().as_str(), "error": error.code(),
        }));
    }
    let doc = json!({
        "description": "attest conformance vectors: verify each token under `policy` at `now` with the keys in `jwks` (published by `policy.trusted_issuers[0]`). Valid tokens must verify and yield `claims`; invalid ones must be rejected with `reason` (the stable wire string). `error` names attest-core's precise check, for information.",
        "spec": "SPEC.md v0.2",
        "now": NOW,
        "policy": {
            "trusted_issuers": [ISSUER],
            "audiences": [AUDIENCE],
            "leeway_secs": Policy::DEFAULT_LEEWAY_SECS,
            "max_lifetime_secs": Policy::DEFAULT_MAX_LIFETIME_SECS,
            "accepted_typ": ["agent-attestation+jwt"],
            "accepted_alg": ["EdDSA", "Ed25519"],
            "max_token_bytes": Policy::DEFAULT_MAX_TOKEN_BYTES,
            "max_jti_bytes": Policy::DEFAULT_MAX_JTI_BYTES,
            "max_json_depth": Policy::DEFAULT_MAX_JSON_DEPTH,
        },
        "jwks": serde_json::from_str::<Value>(&trust.get(ISSUER).map(KeySet::to_jwks_json).unwrap_or_default())?,
        "valid": valid,
        "invalid": invalid,
    });
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}
