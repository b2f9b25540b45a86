//! Key-bound attestation: the proof of possession each request carries (SPEC.md §17).
//!
//! An attestation whose `cnf` names the agent's own Ed25519 key is worthless without that key:
//! every request carries a short **proof**, a compact JWS signed by the agent, that binds
//!
//! - the server (`aud`), the time (`iat`) and a fresh id (`jti`);
//! - the MCP method (`mth`) and the tool, resource or prompt name (`nam`, see
//!   [`request_name`]);
//! - the SHA-256 of the RFC 8785 (JCS) canonical form of the request's `params` without
//!   `_meta` (`ph`, see [`params_hash`]);
//! - the SHA-256 of the attestation token (`ath`, see [`token_hash`]);
//! - optionally a server-issued `nonce`.
//!
//! A stolen attestation cannot be replayed without the agent's key, and a stolen proof is good
//! for one request: its own method, name and arguments, at one server, for one attestation,
//! within the proof window, once.
//!
//! Like the rest of attest-core this module is pure: `now` and randomness are parameters.
//! [`verify_proof`] does not record the proof's `jti`; the caller records it in a replay store
//! after `Ok`, under [`VerifiedProof::replay_issuer`] until [`VerifiedProof::record_until`].
//!
//! ```
//! use attest_core::proof::{
//!     ConfirmationKey, ExpectedRequest, ProofClaims, ProofHeader, ProofLimits, RequestBinding,
//!     token_hash, verify_proof,
//! };
//! use attest_core::{SigningKey, UnixTime};
//! use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let agent = SigningKey::from_seed(&[9; 32], "agent")?;
//! let now = UnixTime::from_secs(1_790_000_000);
//! let token = "eyJ...the attestation...";
//! let params = serde_json::json!({"name": "get_weather", "arguments": {"city": "Paris"}});
//!
//! // Agent: sign a proof for this request.
//! let binding = RequestBinding::of_request("tools/call", Some(&params))?;
//! let proof = ProofClaims::new("https://tools.example", &binding, &token_hash(token), now,
//!     &mut ChaCha20Rng::from_seed([3; 32]))
//!     .sign(&agent, ProofHeader::Plain)?;
//!
//! // Server: check it against the attestation's cnf key and the request it arrived with.
//! let key = ConfirmationKey::from_key(agent.public_key());
//! let audiences = vec!["https://tools.example".to_owned()];
//! let ath = token_hash(token);
//! let expected = ExpectedRequest { audiences: &audiences, token_hash: &ath, binding: &binding, nonce: None };
//! let verified = verify_proof(&proof, &key, &expected, &ProofLimits::default(), now)?;
//! assert_eq!(verified.claims().mth, "tools/call");
//! # Ok(()) }
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

use rand_core::CryptoRng;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::b64;
use crate::claims::{Claims, Confirmation};
use crate::error::{BuildError, Part, ProofError, VerifyError};
use crate::jcs;
use crate::json::{self, JsonViolation};
use crate::jwk::Jwk;
use crate::key::{PublicKey, SigningKey};
use crate::strict::{self, Bail};
use crate::time::UnixTime;

/// The explicit `typ` of a proof (RFC 8725 §3.11).
pub const TYP_PROOF: &str = "agent-proof+jwt";

/// The one `alg` a proof may carry.
pub const PROOF_ALG: &str = "EdDSA";

/// The prefix of the replay-store namespace of proof `jti`s: `proof:` + the `cnf` thumbprint.
/// It keeps proof records apart from attestation records, which are keyed by issuer URL.
pub const REPLAY_NAMESPACE: &str = "proof:";

/// The MCP methods whose requests name a tool, resource or prompt, with the `params` member
/// that holds the name (`nam`).
pub const NAMED_METHODS: [(&str, &str); 3] = [
    ("tools/call", "name"),
    ("resources/read", "uri"),
    ("prompts/get", "name"),
];

/// Length of a base64url SHA-256 digest (`ph`, `ath`, `jkt`).
const DIGEST_B64_LEN: usize = 43;

/// What a verifier accepts in a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofLimits {
    /// How old a proof may be: it is refused once `now > iat + window_secs`. Default 60 s.
    pub window_secs: u64,
    /// How far in the future `iat` may be. Default 30 s, the attestation leeway.
    pub leeway_secs: u64,
    /// Size cap of the compact proof. Default 8 KiB.
    pub max_bytes: usize,
    /// `jti` length cap. Default 128 bytes.
    pub max_jti_bytes: usize,
    /// JSON nesting cap (the top object is level 1). Default 4.
    pub max_json_depth: usize,
}

impl ProofLimits {
    /// Default proof window: 60 seconds.
    pub const DEFAULT_WINDOW_SECS: u64 = 60;
    /// Default leeway on a future `iat`: 30 seconds.
    pub const DEFAULT_LEEWAY_SECS: u64 = 30;
    /// Default size cap: 8 KiB.
    pub const DEFAULT_MAX_BYTES: usize = 8 * 1024;
    /// Default `jti` cap: 128 bytes.
    pub const DEFAULT_MAX_JTI_BYTES: usize = 128;
    /// Default JSON nesting cap: 4 (a header with `jwk` nests 2 deep).
    pub const DEFAULT_MAX_JSON_DEPTH: usize = 4;
}

impl Default for ProofLimits {
    fn default() -> Self {
        ProofLimits {
            window_secs: Self::DEFAULT_WINDOW_SECS,
            leeway_secs: Self::DEFAULT_LEEWAY_SECS,
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_jti_bytes: Self::DEFAULT_MAX_JTI_BYTES,
            max_json_depth: Self::DEFAULT_MAX_JSON_DEPTH,
        }
    }
}

/// `ath`: base64url(SHA-256(the ASCII of the attestation token)).
pub fn token_hash(token: &str) -> String {
    b64::encode(&Sha256::digest(token.as_bytes()))
}

/// `ath` from a SHA-256 digest of the token the caller already holds (e.g. the key of a
/// verified-token cache).
pub fn token_hash_of_digest(digest: &[u8; 32]) -> String {
    b64::encode(digest)
}

/// `ph`: base64url(SHA-256(JCS(params without `_meta`))), per RFC 8785.
///
/// Absent (or `null`) params hash as `{}`. When `params` is an object its `_meta` member is
/// left out (the proof itself travels in `_meta`); other JSON values are hashed as they are.
pub fn params_hash(params: Option<&Value>) -> Result<String, ProofError> {
    let mut canonical = Vec::with_capacity(256);
    let written = match params {
        None | Some(Value::Null) => {
            canonical.extend_from_slice(b"{}");
            Ok(())
        }
        Some(Value::Object(map)) => jcs::write_object(map, Some("_meta"), &mut canonical),
        Some(other) => jcs::write_value(other, &mut canonical),
    };
    let canonical = match written {
        Ok(()) => canonical,
        // A number JCS writes as a double other than plain digits: serde_jcs formats it.
        Err(jcs::Uncovered) => canonical_params(params)?,
    };
    Ok(b64::encode(&Sha256::digest(&canonical)))
}

/// The JCS form of the params without `_meta`, by serde_jcs: the reference [`params_hash`]
/// falls back on, and its tests' oracle.
pub(crate) fn canonical_params(params: Option<&Value>) -> Result<Vec<u8>, ProofError> {
    match params {
        None | Some(Value::Null) => serde_jcs::to_vec(&WithoutMeta(&Map::new())),
        Some(Value::Object(map)) => serde_jcs::to_vec(&WithoutMeta(map)),
        Some(other) => serde_jcs::to_vec(other),
    }
    .map_err(|e| ProofError::Canonicalization(e.to_string()))
}

/// An object's members other than `_meta`, serialized without copying the object.
struct WithoutMeta<'a>(&'a Map<String, Value>);

impl Serialize for WithoutMeta<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (name, value) in self.0.iter().filter(|(name, _)| name.as_str() != "_meta") {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// `nam`: the tool, resource or prompt a request names, if its method has one
/// ([`NAMED_METHODS`]: `tools/call` → `params.name`, `resources/read` → `params.uri`,
/// `prompts/get` → `params.name`).
pub fn request_name<'v>(method: &str, params: Option<&'v Value>) -> Option<&'v str> {
    let (_, member) = NAMED_METHODS.iter().find(|(m, _)| *m == method)?;
    params?.get(member)?.as_str()
}

/// What a proof binds about one request: its method, its name (if the method has one) and the
/// hash of its params. Computed the same way by the agent that signs and by the server that
/// checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestBinding {
    method: String,
    name: Option<String>,
    params_hash: String,
}

impl RequestBinding {
    /// The binding of a request with `method` and `params` (the JSON-RPC `params`, with or
    /// without `_meta`).
    pub fn of_request(method: &str, params: Option<&Value>) -> Result<RequestBinding, ProofError> {
        Ok(RequestBinding {
            method: method.to_owned(),
            name: request_name(method, params).map(str::to_owned),
            params_hash: params_hash(params)?,
        })
    }

    /// A binding from its parts, e.g. to forge test cases.
    pub fn from_parts(
        method: impl Into<String>,
        name: Option<String>,
        params_hash: impl Into<String>,
    ) -> RequestBinding {
        RequestBinding {
            method: method.into(),
            name,
            params_hash: params_hash.into(),
        }
    }

    /// The MCP method (`mth`).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The tool, resource or prompt name (`nam`).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The params hash (`ph`).
    pub fn params_hash(&self) -> &str {
        &self.params_hash
    }
}

/// The key a proof must be signed with, from a verified attestation's `cnf`.
///
/// With `cnf.jwk` the key is known and imported once (the strict import checks are not
/// cheap, so keep this value with the verified attestation). With `cnf.jkt` alone, each proof
/// carries its key in the header `jwk`, whose RFC 7638 thumbprint must equal `jkt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmationKey {
    key: Option<PublicKey>,
    jkt: String,
}

impl ConfirmationKey {
    /// The key named by a verified attestation's claims. No `cnf` is
    /// [`ProofError::NoConfirmationKey`].
    pub fn from_claims(claims: &Claims) -> Result<ConfirmationKey, ProofError> {
        let cnf = claims.cnf.as_ref().ok_or(ProofError::NoConfirmationKey)?;
        ConfirmationKey::from_confirmation(cnf)
    }

    /// The key named by a `cnf` claim: `jwk` imported strictly (and checked against `jkt`
    /// when both are present), or `jkt` alone.
    pub fn from_confirmation(cnf: &Confirmation) -> Result<ConfirmationKey, ProofError> {
        match (&cnf.jwk, &cnf.jkt) {
            (Some(jwk), jkt) => {
                let key =
                    PublicKey::from_jwk(jwk).map_err(|_| ProofError::ConfirmationKeyInvalid)?;
                let thumbprint = key.thumbprint();
                if jkt.as_ref().is_some_and(|jkt| *jkt != thumbprint) {
                    return Err(ProofError::ConfirmationKeyInvalid);
                }
                Ok(ConfirmationKey {
                    key: Some(key),
                    jkt: thumbprint,
                })
            }
            (None, Some(jkt)) => ConfirmationKey::from_thumbprint(jkt),
            (None, None) => Err(ProofError::ConfirmationKeyInvalid),
        }
    }

    /// A known key (the `cnf.jwk` case).
    pub fn from_key(key: PublicKey) -> ConfirmationKey {
        let jkt = key.thumbprint();
        ConfirmationKey {
            key: Some(key),
            jkt,
        }
    }

    /// A thumbprint only (the `cnf.jkt` case): 43 characters of base64url.
    pub fn from_thumbprint(jkt: &str) -> Result<ConfirmationKey, ProofError> {
        if is_digest(jkt) {
            Ok(ConfirmationKey {
                key: None,
                jkt: jkt.to_owned(),
            })
        } else {
            Err(ProofError::ConfirmationKeyInvalid)
        }
    }

    /// The RFC 7638 thumbprint of the key.
    pub fn thumbprint(&self) -> &str {
        &self.jkt
    }

    /// The key, when `cnf` carried it.
    pub fn key(&self) -> Option<&PublicKey> {
        self.key.as_ref()
    }

    /// The replay-store namespace of this key's proofs: `proof:` + thumbprint.
    pub fn replay_issuer(&self) -> String {
        let mut issuer =
            String::with_capacity(REPLAY_NAMESPACE.len().saturating_add(self.jkt.len()));
        issuer.push_str(REPLAY_NAMESPACE);
        issuer.push_str(&self.jkt);
        issuer
    }
}

/// Whether the proof header carries the agent's public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProofHeader {
    /// `{alg, typ}`: for attestations whose `cnf` carries `jwk`. The default.
    #[default]
    Plain,
    /// `{alg, typ, jwk}`: for attestations whose `cnf` carries only `jkt`.
    WithJwk,
}

/// The claims of a proof, in the order they are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProofClaims {
    /// The server the request is for: one of its audiences.
    pub aud: String,
    /// When the proof was made, seconds since the epoch.
    pub iat: u64,
    /// A fresh id, recorded by the server: a UUID v4 when made by this crate.
    pub jti: String,
    /// The MCP method.
    pub mth: String,
    /// The tool, resource or prompt name, for the methods of [`NAMED_METHODS`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nam: Option<String>,
    /// [`params_hash`] of the request's params.
    pub ph: String,
    /// [`token_hash`] of the attestation the request is made under.
    pub ath: String,
    /// A nonce the server issued, for servers that want strict freshness.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

impl ProofClaims {
    /// The claims of a proof for the request `binding`, to `audience`, under the attestation
    /// whose [`token_hash`] is `ath`, made at `now` with a fresh UUID v4 `jti` from `rng`.
    pub fn new<R: CryptoRng + ?Sized>(
        audience: impl Into<String>,
        binding: &RequestBinding,
        ath: &str,
        now: UnixTime,
        rng: &mut R,
    ) -> ProofClaims {
        ProofClaims {
            aud: audience.into(),
            iat: now.as_secs(),
            jti: crate::token::uuid_v4(rng),
            mth: binding.method.clone(),
            nam: binding.name.clone(),
            ph: binding.params_hash.clone(),
            ath: ath.to_owned(),
            nonce: None,
        }
    }

    /// Adds the server's nonce.
    #[must_use]
    pub fn with_nonce(mut self, nonce: impl Into<String>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    /// Signs the claims with the agent's key as a compact JWS with header
    /// `{"alg":"EdDSA","typ":"agent-proof+jwt"}` (plus `jwk` for [`ProofHeader::WithJwk`]).
    pub fn sign(&self, key: &SigningKey, header: ProofHeader) -> Result<String, BuildError> {
        let jwk = match header {
            ProofHeader::Plain => None,
            ProofHeader::WithJwk => Some(bare_jwk(&key.public_key())),
        };
        let header = HeaderOut {
            alg: PROOF_ALG,
            typ: TYP_PROOF,
            jwk: jwk.as_ref(),
        };
        let header =
            serde_json::to_vec(&header).map_err(|e| BuildError::Serialize(e.to_string()))?;
        let claims = serde_json::to_vec(self).map_err(|e| BuildError::Serialize(e.to_string()))?;
        let capacity = header.len().saturating_add(claims.len()).saturating_mul(4) / 3;
        let mut proof = String::with_capacity(capacity.saturating_add(90));
        b64::encode_into(&header, &mut proof);
        proof.push('.');
        b64::encode_into(&claims, &mut proof);
        let signature = key.sign(proof.as_bytes());
        proof.push('.');
        b64::encode_into(&signature, &mut proof);
        Ok(proof)
    }
}

/// The public JWK a proof header carries: `kty`, `crv` and `x` only (RFC 7638's members).
fn bare_jwk(key: &PublicKey) -> Jwk {
    let mut jwk = key.to_jwk("-");
    jwk.kid = None;
    jwk.use_ = None;
    jwk.alg = None;
    jwk
}

#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'static str,
    typ: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwk: Option<&'a Jwk>,
}

/// The request a proof must match, as the server sees it.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedRequest<'a> {
    /// The server's audiences: `aud` must equal one of them.
    pub audiences: &'a [String],
    /// [`token_hash`] of the attestation the request was admitted under (presented with it, or
    /// bound to its session).
    pub token_hash: &'a str,
    /// The request's method, name and params hash.
    pub binding: &'a RequestBinding,
    /// The nonce the server issued, if it requires one.
    pub nonce: Option<&'a str>,
}

/// A proof that passed every check. Its `jti` is not recorded yet: record it now, under
/// [`VerifiedProof::replay_issuer`], until [`VerifiedProof::record_until`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    claims: ProofClaims,
    replay_issuer: String,
    record_until: UnixTime,
}

impl VerifiedProof {
    /// The verified claims.
    pub fn claims(&self) -> &ProofClaims {
        &self.claims
    }

    /// The proof id, to record.
    pub fn jti(&self) -> &str {
        &self.claims.jti
    }

    /// The replay-store namespace: `proof:` + the confirmation key's thumbprint.
    pub fn replay_issuer(&self) -> &str {
        &self.replay_issuer
    }

    /// Until when the record must be kept: the first second at which the proof is too old
    /// (`iat + window + 1`).
    pub fn record_until(&self) -> UnixTime {
        self.record_until
    }
}

/// Verifies a compact proof against the confirmation key of a verified attestation and the
/// request it arrived with (SPEC.md §17.5).
///
/// Checks run cheapest first, and the signature comes before any claim value is trusted:
/// size and structure, strict base64url, the header (exactly `alg` `EdDSA` and `typ`
/// `agent-proof+jwt`, plus `jwk` exactly when `cnf` has only `jkt`), the claims' JSON and
/// types, the key, the signature (strict Ed25519), then `ath`, `aud`, `mth`, `nam`, `ph`,
/// `nonce` and last `iat` against `now`. The first failure is returned.
pub fn verify_proof(
    proof: &str,
    key: &ConfirmationKey,
    expected: &ExpectedRequest<'_>,
    limits: &ProofLimits,
    now: UnixTime,
) -> Result<VerifiedProof, ProofError> {
    let [header_b64, payload_b64, signature_b64] = split(proof, limits.max_bytes)?;
    let header = decode(header_b64, Part::Header)?;
    let payload = decode(payload_b64, Part::Payload)?;
    let signature = decode(signature_b64, Part::Signature)?;
    // One pass over each JSON segment when the proof is well formed; on anything else the two
    // passes decide, exactly as they always have (see `strict`).
    let (header_jwk, claims) = match single_pass(&header, &payload, limits.max_json_depth) {
        Ok(parsed) => parsed,
        Err(Bail) => two_pass(header, payload, limits.max_json_depth)?,
    };
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|s: Vec<u8>| ProofError::SignatureLength(s.len()))?;
    let signing_input = proof.rsplit_once('.').map_or("", |(input, _)| input);
    let imported;
    let public = match (&key.key, header_jwk) {
        (Some(_), Some(_)) => return Err(ProofError::JwkNotAllowed),
        (Some(public), None) => public,
        (None, None) => return Err(ProofError::JwkMissing),
        (None, Some(jwk)) => {
            imported = PublicKey::from_jwk(&jwk).map_err(|_| ProofError::JwkInvalid)?;
            if imported.thumbprint() != key.jkt {
                return Err(ProofError::JwkThumbprintMismatch);
            }
            &imported
        }
    };
    public
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|e| match e {
            VerifyError::SignatureLength(n) => ProofError::SignatureLength(n),
            VerifyError::SignatureNonCanonical => ProofError::SignatureNonCanonical,
            VerifyError::SignatureSmallOrder => ProofError::SignatureSmallOrder,
            _ => ProofError::SignatureMismatch,
        })?;
    check_claims(&claims, expected, limits, now)?;
    Ok(VerifiedProof {
        record_until: UnixTime::from_secs(
            claims
                .iat
                .saturating_add(limits.window_secs)
                .saturating_add(1),
        ),
        claims,
        replay_issuer: key.replay_issuer(),
    })
}

/// The header's `jwk` and the claims by the single-pass parse, or [`Bail`].
pub(crate) fn single_pass(
    header: &[u8],
    payload: &[u8],
    max_depth: usize,
) -> Result<(Option<Jwk>, ProofClaims), Bail> {
    let header = std::str::from_utf8(header).map_err(|_| Bail)?;
    let payload = std::str::from_utf8(payload).map_err(|_| Bail)?;
    let raw = strict::parse::<HeaderMembers>(header, max_depth)?;
    let jwk = check_header(raw).map_err(|_| Bail)?;
    let raw = strict::parse::<ClaimsMembers>(payload, max_depth)?;
    let claims = claims_from_raw(raw).map_err(|_| Bail)?;
    Ok((jwk, claims))
}

/// The header's `jwk` and the claims by the strictness pass, then the typed parse: the
/// reference, which names the fault of any proof the single-pass parse gives up on.
pub(crate) fn two_pass(
    header: Vec<u8>,
    payload: Vec<u8>,
    max_depth: usize,
) -> Result<(Option<Jwk>, ProofClaims), ProofError> {
    let header = strict_json(header, Part::Header, max_depth)?;
    let header_jwk = parse_header(&header)?;
    let payload = strict_json(payload, Part::Payload, max_depth)?;
    let claims = parse_claims(&payload)?;
    Ok((header_jwk, claims))
}

fn check_claims(
    claims: &ProofClaims,
    expected: &ExpectedRequest<'_>,
    limits: &ProofLimits,
    now: UnixTime,
) -> Result<(), ProofError> {
    if claims.jti.len() > limits.max_jti_bytes {
        return Err(ProofError::JtiTooLong {
            len: claims.jti.len(),
            max: limits.max_jti_bytes,
        });
    }
    if claims.ath != expected.token_hash {
        return Err(ProofError::TokenHashMismatch);
    }
    if !expected.audiences.contains(&claims.aud) {
        return Err(ProofError::AudienceMismatch);
    }
    let binding = expected.binding;
    if claims.mth != binding.method {
        return Err(ProofError::MethodMismatch);
    }
    if claims.nam != binding.name {
        return Err(ProofError::NameMismatch);
    }
    if claims.ph != binding.params_hash {
        return Err(ProofError::ParamsHashMismatch);
    }
    if let Some(nonce) = expected.nonce
        && claims.nonce.as_deref() != Some(nonce)
    {
        return Err(ProofError::NonceMismatch);
    }
    let now = now.as_secs();
    if now > claims.iat.saturating_add(limits.window_secs) {
        return Err(ProofError::TooOld);
    }
    if claims.iat > now.saturating_add(limits.leeway_secs) {
        return Err(ProofError::IssuedInFuture);
    }
    Ok(())
}

/// True for the strict base64url of 32 bytes: 43 characters of the URL-safe alphabet whose
/// last one leaves its two unused low bits at zero. Checked without decoding.
fn is_digest(s: &str) -> bool {
    let url_safe = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let bytes = s.as_bytes();
    bytes.len() == DIGEST_B64_LEN
        && bytes.iter().all(|b| url_safe(*b))
        // 43 characters carry 258 bits: the last character's low 2 bits must be zero.
        && bytes
            .last()
            .and_then(|last| B64_ALPHABET.iter().position(|c| c == last))
            .is_some_and(|value| value & 0b11 == 0)
}

const B64_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn split(proof: &str, max_bytes: usize) -> Result<[&str; 3], ProofError> {
    if proof.len() > max_bytes {
        return Err(ProofError::TooLarge {
            len: proof.len(),
            max: max_bytes,
        });
    }
    if proof.trim_start().starts_with('{') {
        return Err(ProofError::JsonSerialization);
    }
    let mut parts = proof.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => Ok([h, p, s]),
        _ => Err(ProofError::SegmentCount {
            found: proof.split('.').count(),
        }),
    }
}

fn decode(segment: &str, part: Part) -> Result<Vec<u8>, ProofError> {
    b64::decode(segment.as_bytes()).ok_or(ProofError::Base64(part))
}

fn strict_json(bytes: Vec<u8>, part: Part, max_depth: usize) -> Result<String, ProofError> {
    let text = String::from_utf8(bytes).map_err(|e| ProofError::Json {
        part,
        detail: e.to_string(),
    })?;
    json::check_object(&text, max_depth).map_err(|v| match v {
        JsonViolation::Syntax(detail) => ProofError::Json { part, detail },
        JsonViolation::Duplicate(name) => ProofError::DuplicateMember { part, name },
        JsonViolation::TooDeep => ProofError::TooDeep {
            part,
            max: max_depth,
        },
    })?;
    Ok(text)
}

/// Attacker-chosen strings go into errors only up to a bounded length.
fn truncated(s: &str) -> String {
    s.chars().take(32).collect()
}

/// The outcome of a fault-recording visitor: the first precise fault wins over serde's own
/// message.
fn settle<T>(
    parsed: Result<T, serde_json::Error>,
    part: Part,
    fault: RefCell<Option<ProofError>>,
) -> Result<T, ProofError> {
    match (parsed, fault.into_inner()) {
        (_, Some(fault)) => Err(fault),
        (Err(e), None) => Err(ProofError::Json {
            part,
            detail: e.to_string(),
        }),
        (Ok(value), None) => Ok(value),
    }
}

/// Parses the header: `alg` exactly `EdDSA`, `typ` exactly `agent-proof+jwt`, and optionally
/// `jwk`; nothing else. Returns the `jwk`.
fn parse_header(text: &str) -> Result<Option<Jwk>, ProofError> {
    let fault = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = HeaderSeed { fault: &fault }.deserialize(&mut de);
    check_header(settle(parsed, Part::Header, fault)?)
}

/// The header's `alg` and `typ`; returns the `jwk`.
fn check_header((alg, typ, jwk): RawHeader) -> Result<Option<Jwk>, ProofError> {
    let alg = alg.ok_or(ProofError::MissingHeader("alg"))?;
    if alg != PROOF_ALG {
        return Err(ProofError::AlgorithmNotAllowed(truncated(&alg)));
    }
    let typ = typ.ok_or(ProofError::MissingHeader("typ"))?;
    if typ != TYP_PROOF {
        return Err(ProofError::TypNotAccepted(truncated(&typ)));
    }
    Ok(jwk)
}

type RawHeader = (Option<String>, Option<String>, Option<Jwk>);

struct HeaderSeed<'a> {
    fault: &'a RefCell<Option<ProofError>>,
}

fn fail<E: de::Error>(cell: &RefCell<Option<ProofError>>, fault: ProofError) -> E {
    json::record_fault(cell, fault)
}

impl<'de> DeserializeSeed<'de> for HeaderSeed<'_> {
    type Value = RawHeader;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<RawHeader, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed<'_> {
    type Value = RawHeader;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHeader, A::Error> {
        let (mut alg, mut typ, mut jwk) = (None, None, None);
        while let Some(name) = map.next_key_seed(json::Name)? {
            // A parameter of the wrong JSON type is refused like a wrong value.
            let wrong_type = match &*name {
                "alg" => ProofError::AlgorithmNotAllowed("<not a string>".into()),
                "typ" => ProofError::TypNotAccepted("<not a string>".into()),
                "jwk" => ProofError::JwkInvalid,
                // kid, jku, x5u, x5c, crit, b64, cty and anything else.
                other => {
                    let refused = ProofError::HeaderParameterNotAllowed(truncated(other));
                    return Err(fail(self.fault, refused));
                }
            };
            let wrong_type = |_| fail(self.fault, wrong_type);
            match &*name {
                "jwk" => jwk = Some(map.next_value::<Jwk>().map_err(wrong_type)?),
                "alg" => alg = Some(map.next_value::<String>().map_err(wrong_type)?),
                _ => typ = Some(map.next_value::<String>().map_err(wrong_type)?),
            }
        }
        Ok((alg, typ, jwk))
    }
}

/// Parses the claims with their types. Unknown claims are ignored.
fn parse_claims(text: &str) -> Result<ProofClaims, ProofError> {
    let fault = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = ClaimsSeed { fault: &fault }.deserialize(&mut de);
    claims_from_raw(settle(parsed, Part::Payload, fault)?)
}

/// The claims' required members and digests.
fn claims_from_raw(raw: RawClaims) -> Result<ProofClaims, ProofError> {
    let required = |value: Option<String>, name: &'static str| {
        let value = value.ok_or(ProofError::MissingClaim(name))?;
        if value.is_empty() {
            return Err(ProofError::InvalidClaim(name));
        }
        Ok(value)
    };
    let digest = |value: Option<String>, name: &'static str| {
        let value = required(value, name)?;
        if is_digest(&value) {
            Ok(value)
        } else {
            Err(ProofError::InvalidClaim(name))
        }
    };
    Ok(ProofClaims {
        aud: required(raw.aud, "aud")?,
        iat: raw.iat.ok_or(ProofError::MissingClaim("iat"))?,
        jti: required(raw.jti, "jti")?,
        mth: required(raw.mth, "mth")?,
        nam: raw.nam,
        ph: digest(raw.ph, "ph")?,
        ath: digest(raw.ath, "ath")?,
        nonce: raw.nonce,
    })
}

#[derive(Default)]
struct RawClaims {
    aud: Option<String>,
    iat: Option<u64>,
    jti: Option<String>,
    mth: Option<String>,
    nam: Option<String>,
    ph: Option<String>,
    ath: Option<String>,
    nonce: Option<String>,
}

/// The header for the single-pass parse: `alg` and `typ` strings and a `jwk` object, each once;
/// any other parameter leaves the single pass (and is refused by the two-pass parse).
#[derive(Default)]
struct HeaderMembers {
    alg: Option<String>,
    typ: Option<String>,
    jwk: Option<Jwk>,
}

impl strict::Members for HeaderMembers {
    type Out = RawHeader;

    fn member(
        &mut self,
        name: &str,
        json: &mut strict::Reader<'_>,
        depth_left: usize,
    ) -> Result<(), Bail> {
        match name {
            "alg" => strict::string(&mut self.alg, json),
            "typ" => strict::string(&mut self.typ, json),
            "jwk" => strict::object::<strict::JwkMembers>(&mut self.jwk, json, depth_left),
            _ => Err(Bail),
        }
    }

    fn finish(self) -> Option<RawHeader> {
        Some((self.alg, self.typ, self.jwk))
    }
}

/// The claims for the single-pass parse: the typed members once each; unknown members are read
/// strictly (no duplicate names, within the nesting cap) and dropped.
#[derive(Default)]
struct ClaimsMembers {
    raw: RawClaims,
    unknown: BTreeMap<String, Value>,
}

impl strict::Members for ClaimsMembers {
    type Out = RawClaims;

    fn member(
        &mut self,
        name: &str,
        json: &mut strict::Reader<'_>,
        depth_left: usize,
    ) -> Result<(), Bail> {
        let raw = &mut self.raw;
        match name {
            "iat" => strict::integer(&mut raw.iat, json),
            "aud" => strict::string(&mut raw.aud, json),
            "jti" => strict::string(&mut raw.jti, json),
            "mth" => strict::string(&mut raw.mth, json),
            "nam" => strict::string(&mut raw.nam, json),
            "ph" => strict::string(&mut raw.ph, json),
            "ath" => strict::string(&mut raw.ath, json),
            "nonce" => strict::string(&mut raw.nonce, json),
            _ => strict::extra(&mut self.unknown, name, json, depth_left),
        }
    }

    fn finish(self) -> Option<RawClaims> {
        Some(self.raw)
    }
}

struct ClaimsSeed<'a> {
    fault: &'a RefCell<Option<ProofError>>,
}

impl<'de> DeserializeSeed<'de> for ClaimsSeed<'_> {
    type Value = RawClaims;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<RawClaims, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ClaimsSeed<'_> {
    type Value = RawClaims;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a proof claim set")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawClaims, A::Error> {
        let mut raw = RawClaims::default();
        while let Some(name) = map.next_key_seed(json::Name)? {
            let slot = match &*name {
                "iat" => {
                    // An integer in 0..2^64: no fraction, exponent, sign or string.
                    let iat: u64 = map
                        .next_value()
                        .map_err(|_| fail(self.fault, ProofError::InvalidClaim("iat")))?;
                    raw.iat = Some(iat);
                    continue;
                }
                "aud" => (&mut raw.aud, "aud"),
                "jti" => (&mut raw.jti, "jti"),
                "mth" => (&mut raw.mth, "mth"),
                "nam" => (&mut raw.nam, "nam"),
                "ph" => (&mut raw.ph, "ph"),
                "ath" => (&mut raw.ath, "ath"),
                "nonce" => (&mut raw.nonce, "nonce"),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            let (slot, claim) = slot;
            let value: String = map
                .next_value()
                .map_err(|_| fail(self.fault, ProofError::InvalidClaim(claim)))?;
            *slot = Some(value);
        }
        Ok(raw)
    }
}
