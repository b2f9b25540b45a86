//! Reading a token **without verifying it**.
//!
//! Nothing here checks a signature. What these functions return is attacker-controlled until
//! [`UnverifiedToken::verify`] succeeds. They exist for two honest needs: picking the key to
//! verify with (the issuer and `kid`, before an asynchronous key fetch), and showing a token to
//! a human for debugging.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde_json::Value;

use crate::b64;
use crate::claims::{self, Claims, ClaimsError};
use crate::error::{Part, VerifyError};
use crate::json::{self, JsonViolation};
use crate::key::{PublicKey, kid_is_valid};
use crate::policy::Policy;
use crate::strict::{self, Bail};
use crate::time::UnixTime;
use crate::token::Header;
use crate::verify::Verified;

/// A token whose structure, header and claim types passed the policy's checks, and whose
/// signature and claim values have **not** been checked.
#[derive(Debug, Clone)]
pub struct UnverifiedToken<'t> {
    signing_input: &'t str,
    header: Header,
    claims: Claims,
    signature: [u8; 64],
}

impl<'t> UnverifiedToken<'t> {
    /// The header. Unverified.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The claims. Unverified.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The claimed issuer. Unverified: use it only to pick the key.
    pub fn issuer(&self) -> &str {
        &self.claims.iss
    }

    /// The claimed key id. Unverified: use it only to pick the key.
    pub fn kid(&self) -> &str {
        &self.header.kid
    }

    /// Finishes verification with the key published under `(issuer(), kid())`: the issuer
    /// against the trusted set, the signature, then the claim values.
    pub fn verify(
        self,
        key: &PublicKey,
        policy: &Policy,
        now: UnixTime,
    ) -> Result<Verified, VerifyError> {
        crate::verify::finish(self, key, policy, now)
    }

    pub(crate) fn into_parts(self) -> (Header, Claims, &'t [u8], [u8; 64]) {
        (
            self.header,
            self.claims,
            self.signing_input.as_bytes(),
            self.signature,
        )
    }
}

/// Decodes a token under `policy`'s structural and header rules, without verifying it.
pub fn decode_unverified<'t>(
    token: &'t str,
    policy: &Policy,
) -> Result<UnverifiedToken<'t>, VerifyError> {
    let [header_b64, payload_b64, signature_b64] = split(token, policy.max_token_bytes)?;
    // Structure first: all three segments must be strict base64url before any is interpreted.
    let header = decode_segment(header_b64, Part::Header)?;
    let payload = decode_segment(payload_b64, Part::Payload)?;
    let signature = decode_segment(signature_b64, Part::Signature)?;
    // One pass over each JSON segment when the token is well formed; on anything else the two
    // passes below decide, exactly as they always have (see `strict`).
    let (header, claims) = match single_pass(&header, &payload, policy) {
        Ok(parsed) => parsed,
        Err(Bail) => two_pass(header, payload, policy)?,
    };
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|s: Vec<u8>| VerifyError::SignatureLength(s.len()))?;
    // The signing input is `header.payload`, exactly as received.
    let signing_input = token.rsplit_once('.').map_or("", |(input, _)| input);
    Ok(UnverifiedToken {
        signing_input,
        header,
        claims,
        signature,
    })
}

/// The header and claims by the single-pass parse, or [`Bail`] if it cannot decide alone.
pub(crate) fn single_pass(
    header: &[u8],
    payload: &[u8],
    policy: &Policy,
) -> Result<(Header, Claims), Bail> {
    let header = std::str::from_utf8(header).map_err(|_| Bail)?;
    let payload = std::str::from_utf8(payload).map_err(|_| Bail)?;
    let raw = strict::parse::<HeaderMembers>(header, policy.max_json_depth)?;
    let header = check_header(raw, policy).map_err(|_| Bail)?;
    let claims = strict::claims(payload, policy.max_json_depth)?;
    Ok((header, claims))
}

/// The header and claims by the strictness pass, then the typed parse: the reference, which
/// names the fault of any token the single-pass parse gives up on.
pub(crate) fn two_pass(
    header: Vec<u8>,
    payload: Vec<u8>,
    policy: &Policy,
) -> Result<(Header, Claims), VerifyError> {
    let header = parse_header(
        &strict_json(header, Part::Header, policy.max_json_depth)?,
        policy,
    )?;
    let payload = strict_json(payload, Part::Payload, policy.max_json_depth)?;
    let claims = claims::parse(&payload).map_err(|e| match e {
        ClaimsError::Json(detail) => VerifyError::Json {
            part: Part::Payload,
            detail,
        },
        ClaimsError::Invalid(claim) => VerifyError::InvalidClaim(claim),
        ClaimsError::Missing(claim) => VerifyError::MissingClaim(claim.to_owned()),
    })?;
    Ok((header, claims))
}

/// Decodes header and claims as plain JSON, for display. Checks structure, strict base64url,
/// duplicate names and depth with the default caps; checks nothing else.
pub fn decode_json(token: &str) -> Result<(Value, Value), VerifyError> {
    let [header_b64, payload_b64, _] = split(token, Policy::DEFAULT_MAX_TOKEN_BYTES)?;
    let depth = Policy::DEFAULT_MAX_JSON_DEPTH;
    let as_value = |text: String, part| {
        serde_json::from_str(&text).map_err(|e| VerifyError::Json {
            part,
            detail: e.to_string(),
        })
    };
    let header = decode_segment(header_b64, Part::Header)?;
    let payload = decode_segment(payload_b64, Part::Payload)?;
    let header = as_value(strict_json(header, Part::Header, depth)?, Part::Header)?;
    let claims = as_value(strict_json(payload, Part::Payload, depth)?, Part::Payload)?;
    Ok((header, claims))
}

fn split(token: &str, max_bytes: usize) -> Result<[&str; 3], VerifyError> {
    if token.len() > max_bytes {
        return Err(VerifyError::TooLarge {
            len: token.len(),
            max: max_bytes,
        });
    }
    if token.trim_start().starts_with('{') {
        return Err(VerifyError::JsonSerialization);
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => Ok([h, p, s]),
        _ => match token.split('.').count() {
            5 => Err(VerifyError::Jwe),
            found => Err(VerifyError::SegmentCount { found }),
        },
    }
}

fn decode_segment(b64: &str, part: Part) -> Result<Vec<u8>, VerifyError> {
    b64::decode(b64.as_bytes()).ok_or(VerifyError::Base64(part))
}

/// Checks that a decoded segment is strict JSON. UTF-8 is validated once, here, so the parsers
/// after it read a `&str` without validating every string again.
fn strict_json(bytes: Vec<u8>, part: Part, max_depth: usize) -> Result<String, VerifyError> {
    let text = String::from_utf8(bytes).map_err(|e| VerifyError::Json {
        part,
        detail: e.to_string(),
    })?;
    json::check_object(&text, max_depth).map_err(|v| match v {
        JsonViolation::Syntax(detail) => VerifyError::Json { part, detail },
        JsonViolation::Duplicate(name) => VerifyError::DuplicateMember { part, name },
        JsonViolation::TooDeep => VerifyError::TooDeep {
            part,
            max: max_depth,
        },
    })?;
    Ok(text)
}

/// Parses the header: only `alg`, `typ` and `kid` may appear, each a string, and each must
/// satisfy the policy.
fn parse_header(text: &str, policy: &Policy) -> Result<Header, VerifyError> {
    let fault = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let raw = HeaderSeed { fault: &fault }.deserialize(&mut de);
    let (alg, typ, kid) = match (raw, fault.into_inner()) {
        (_, Some(fault)) => return Err(fault),
        (Err(e), None) => {
            return Err(VerifyError::Json {
                part: Part::Header,
                detail: e.to_string(),
            });
        }
        (Ok(raw), None) => raw,
    };
    check_header((alg, typ, kid), policy)
}

/// The header's parameters against the policy.
fn check_header((alg, typ, kid): RawHeader, policy: &Policy) -> Result<Header, VerifyError> {
    let alg = alg.ok_or(VerifyError::MissingHeader("alg"))?;
    if !policy.algorithms.iter().any(|a| a.as_str() == alg) {
        return Err(VerifyError::AlgorithmNotAllowed(truncated(&alg)));
    }
    let typ = typ.ok_or(VerifyError::MissingHeader("typ"))?;
    if !policy.accepted_typ.contains(&typ) {
        return Err(VerifyError::TypNotAccepted(truncated(&typ)));
    }
    let kid = kid.ok_or(VerifyError::MissingHeader("kid"))?;
    if !kid_is_valid(&kid) {
        return Err(VerifyError::KidInvalid);
    }
    Ok(Header { alg, typ, kid })
}

/// Attacker-chosen strings go into errors and logs only up to a bounded length.
fn truncated(s: &str) -> String {
    s.chars().take(32).collect()
}

type RawHeader = (Option<String>, Option<String>, Option<String>);

/// The header for the single-pass parse: `alg`, `typ` and `kid`, each a string, once; any other
/// parameter leaves the single pass (and is refused by the two-pass parse).
#[derive(Default)]
struct HeaderMembers {
    alg: Option<String>,
    typ: Option<String>,
    kid: Option<String>,
}

impl strict::Members for HeaderMembers {
    type Out = RawHeader;

    fn member(
        &mut self,
        name: &str,
        json: &mut strict::Reader<'_>,
        _depth_left: usize,
    ) -> Result<(), Bail> {
        match name {
            "alg" => strict::string(&mut self.alg, json),
            "typ" => strict::string(&mut self.typ, json),
            "kid" => strict::string(&mut self.kid, json),
            _ => Err(Bail),
        }
    }

    fn finish(self) -> Option<RawHeader> {
        Some((self.alg, self.typ, self.kid))
    }
}

struct HeaderSeed<'a> {
    fault: &'a RefCell<Option<VerifyError>>,
}

impl HeaderSeed<'_> {
    fn fail<E: de::Error>(&self, fault: VerifyError) -> E {
        json::record_fault(self.fault, fault)
    }
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
        let (mut alg, mut typ, mut kid) = (None, None, None);
        while let Some(name) = map.next_key_seed(json::Name)? {
            // A parameter of the wrong JSON type is refused like a wrong value.
            let fault = match &*name {
                "alg" => VerifyError::AlgorithmNotAllowed("<not a string>".into()),
                "typ" => VerifyError::TypNotAccepted("<not a string>".into()),
                "kid" => VerifyError::KidInvalid,
                // jwk, jku, x5u, x5c, crit, b64, cty and anything else: refused (SPEC.md §5).
                other => {
                    return Err(self.fail(VerifyError::HeaderParameterNotAllowed(truncated(other))));
                }
            };
            let value: String = map.next_value().map_err(|_| self.fail(fault))?;
            match &*name {
                "alg" => alg = Some(value),
                "typ" => typ = Some(value),
                _ => kid = Some(value),
            }
        }
        Ok((alg, typ, kid))
    }
}
