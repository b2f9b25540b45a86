//! The single-pass parse: the typed parse of a header or claim set with the strictness checks of
//! [`crate::json`] done inline (no member name twice in one object, at any depth; the nesting
//! cap), so that a valid token's JSON is read once instead of twice, by a small reader that
//! borrows its names and strings from the text.
//!
//! It is a fast path, not a second definition of validity. It accepts only the shapes a
//! well-formed token has (a string where a string is expected, no `null` for an absent member,
//! enums as strings, strings without escapes), and on anything else — a strictness violation, a
//! syntax error, a type or shape it does not handle, an absent claim — it gives up with [`Bail`].
//! The caller then runs the two-pass parse (strictness pass, then typed parse), which decides
//! and names the fault. So this path accepts a document only when the two-pass parse accepts it
//! too, with the same value, and every error a caller sees still comes from the two-pass parse.
//! The unit tests check both halves.
//!
//! Strings with a backslash escape leave the fast path: the token writer escapes only quotes,
//! backslashes and control characters, so they are rare, and without them every name compares
//! as the bytes it is. Numbers other than unsigned integers are read by serde_json itself, so
//! that an extension claim's value is exactly the one the two-pass parse gives.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::claims::{
    AgentIdentity, AgentIntegrity, AttestationMetadata, AttestationType, Audience, Claims,
    Confirmation, IntegrityHash, SafetyLevel,
};
use crate::jwk::Jwk;

/// The single-pass parse gave up: run the two-pass parse, which decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bail;

/// Reads `text`, which must hold exactly one JSON object (and whitespace), with the members
/// `M`. The object and what it contains nest at most `max_depth` levels deep.
pub(crate) fn parse<M: Members>(text: &str, max_depth: usize) -> Result<M::Out, Bail> {
    let mut json = Reader { text, pos: 0 };
    let value = json.object::<M>(max_depth)?;
    match json.peek() {
        Err(Bail) => Ok(value), // nothing but whitespace is left
        Ok(_) => Err(Bail),
    }
}

/// The claims of an attestation token, as one object nested at most `max_depth` levels deep.
pub(crate) fn claims(text: &str, max_depth: usize) -> Result<Claims, Bail> {
    parse::<ClaimsMembers>(text, max_depth)
}

/// An object's members, read one at a time by [`Reader::object`].
pub(crate) trait Members: Default {
    /// What the whole object becomes.
    type Out;

    /// Reads the value of member `name` from `json`. Containers in it may nest `depth_left`
    /// more levels. A name seen before must make this fail.
    fn member(&mut self, name: &str, json: &mut Reader<'_>, depth_left: usize) -> Result<(), Bail>;

    /// The object, or `None` when a required member is absent.
    fn finish(self) -> Option<Self::Out>;
}

/// A cursor over one JSON text. Every method skips the whitespace before what it reads, and
/// fails with [`Bail`] on anything it does not expect.
pub(crate) struct Reader<'a> {
    text: &'a str,
    /// Always at a character boundary of `text`: it only moves past ASCII bytes and whole
    /// strings.
    pos: usize,
}

impl<'a> Reader<'a> {
    /// The bytes not read yet.
    fn rest(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.pos..).unwrap_or_default()
    }

    /// Moves past `n` bytes of [`Self::rest`].
    fn advance(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n);
    }

    /// Skips whitespace and returns the next byte without reading it; fails at the end.
    fn peek(&mut self) -> Result<u8, Bail> {
        let rest = self.rest();
        let blank = rest
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            .count();
        self.advance(blank);
        rest.get(blank).copied().ok_or(Bail)
    }

    /// Reads `byte`, after whitespace.
    fn eat(&mut self, byte: u8) -> Result<(), Bail> {
        if self.peek()? != byte {
            return Err(Bail);
        }
        self.advance(1);
        Ok(())
    }

    /// Reads the items of an array or the members of an object between `open` and `close`,
    /// separated by commas, with `item` reading each.
    fn delimited(
        &mut self,
        (open, close): (u8, u8),
        mut item: impl FnMut(&mut Self) -> Result<(), Bail>,
    ) -> Result<(), Bail> {
        self.eat(open)?;
        if self.peek()? == close {
            self.advance(1);
            return Ok(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.advance(1),
                byte if byte == close => {
                    self.advance(1);
                    return Ok(());
                }
                _ => return Err(Bail),
            }
        }
    }

    /// Reads an object with the members `M`; it and what it contains nest at most
    /// `depth_left` levels deep.
    fn object<M: Members>(&mut self, depth_left: usize) -> Result<M::Out, Bail> {
        let inner = depth_left.checked_sub(1).ok_or(Bail)?;
        let mut members = M::default();
        self.delimited((b'{', b'}'), |json| {
            let name = json.string()?;
            json.eat(b':')?;
            members.member(name, json, inner)
        })?;
        members.finish().ok_or(Bail)
    }

    /// Reads a string without escapes or control characters, borrowed from the text.
    fn string(&mut self) -> Result<&'a str, Bail> {
        self.eat(b'"')?;
        let rest = self.rest();
        let len = plain_run(rest);
        if rest.get(len) != Some(&b'"') {
            return Err(Bail); // an escape, a control character, or the end of the text
        }
        let start = self.pos;
        self.advance(len.saturating_add(1));
        // Both ends are next to a `"`, so both are character boundaries.
        self.text.get(start..start.saturating_add(len)).ok_or(Bail)
    }

    /// Reads an array of strings, one level of nesting.
    fn strings(&mut self, depth_left: usize) -> Result<Vec<String>, Bail> {
        depth_left.checked_sub(1).ok_or(Bail)?;
        let mut items = Vec::new();
        self.delimited((b'[', b']'), |json| {
            items.push(json.string()?.to_owned());
            Ok(())
        })?;
        Ok(items)
    }

    /// Reads an unsigned integer that fits in 64 bits, written without a fraction, exponent or
    /// sign, as serde_json reads a `u64`.
    fn integer(&mut self) -> Result<u64, Bail> {
        self.peek()?;
        let rest = self.rest();
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let text = rest.get(..digits).ok_or(Bail)?;
        let leading_zero = text.len() > 1 && text.first() == Some(&b'0');
        if text.is_empty() || leading_zero || matches!(rest.get(digits), Some(b'.' | b'e' | b'E')) {
            return Err(Bail);
        }
        let value = std::str::from_utf8(text)
            .ok()
            .and_then(|digits| digits.parse().ok())
            .ok_or(Bail)?;
        self.advance(digits);
        Ok(value)
    }

    /// Reads any JSON value strictly: no name twice in one of its objects, and its containers
    /// within `depth_left` levels.
    fn value(&mut self, depth_left: usize) -> Result<Value, Bail> {
        match self.peek()? {
            b'"' => Ok(Value::String(self.string()?.to_owned())),
            b'{' => self.object::<AnyMembers>(depth_left).map(Value::Object),
            b'[' => {
                let inner = depth_left.checked_sub(1).ok_or(Bail)?;
                let mut items = Vec::new();
                self.delimited((b'[', b']'), |json| {
                    items.push(json.value(inner)?);
                    Ok(())
                })?;
                Ok(Value::Array(items))
            }
            b't' => self.literal("true", Value::Bool(true)),
            b'f' => self.literal("false", Value::Bool(false)),
            b'n' => self.literal("null", Value::Null),
            _ => self.number(),
        }
    }

    /// Reads the literal `word`, which stands for `value`.
    fn literal(&mut self, word: &str, value: Value) -> Result<Value, Bail> {
        if !self.rest().starts_with(word.as_bytes()) {
            return Err(Bail);
        }
        self.advance(word.len());
        Ok(value)
    }

    /// Reads a number of any form, with serde_json's own number parse.
    fn number(&mut self) -> Result<Value, Bail> {
        let rest = self.rest();
        let len = rest
            .iter()
            .take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .count();
        let text = std::str::from_utf8(rest.get(..len).ok_or(Bail)?).map_err(|_| Bail)?;
        match serde_json::from_str(text) {
            Ok(number @ Value::Number(_)) => {
                self.advance(len);
                Ok(number)
            }
            _ => Err(Bail),
        }
    }
}

/// How many bytes at the start of `bytes` a string can hold as they are: up to the first `"`,
/// `\` or control character. Eight bytes at a time: a byte's high bit is set in `hits` when it
/// is one of those, and below the first such byte no bit is set.
fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    let is_zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let mut chunks = bytes.chunks_exact(8);
    let mut run = 0usize;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let quote = is_zero(x ^ (ONES.wrapping_mul(u64::from(b'"'))));
        let backslash = is_zero(x ^ (ONES.wrapping_mul(u64::from(b'\\'))));
        let control = x.wrapping_sub(ONES.wrapping_mul(0x20)) & !x;
        let hits = (quote | backslash | control) & HIGH;
        if hits != 0 {
            return run.saturating_add(hits.trailing_zeros() as usize / 8);
        }
        run = run.saturating_add(8);
    }
    let tail = chunks.remainder();
    let plain = tail
        .iter()
        .take_while(|&&b| b != b'"' && b != b'\\' && b >= 0x20)
        .count();
    run.saturating_add(plain)
}

/// Fills `slot` once; a second value for it (a duplicate member) fails.
fn once<T>(slot: &mut Option<T>, value: T) -> Result<(), Bail> {
    if slot.is_some() {
        return Err(Bail);
    }
    *slot = Some(value);
    Ok(())
}

/// Reads a string member into `slot`, once.
pub(crate) fn string(slot: &mut Option<String>, json: &mut Reader<'_>) -> Result<(), Bail> {
    let value = json.string()?;
    once(slot, value.to_owned())
}

/// Reads an object member into `slot`, once, with the members `M` and the nesting left.
pub(crate) fn object<M: Members>(
    slot: &mut Option<M::Out>,
    json: &mut Reader<'_>,
    depth_left: usize,
) -> Result<(), Bail> {
    let value = json.object::<M>(depth_left)?;
    once(slot, value)
}

/// Reads an unsigned integer member into `slot`, once.
pub(crate) fn integer(slot: &mut Option<u64>, json: &mut Reader<'_>) -> Result<(), Bail> {
    let value = json.integer()?;
    once(slot, value)
}

/// Reads a member this parse does not name into `extra`, strictly; a name already there (a
/// duplicate member) fails.
pub(crate) fn extra(
    extra: &mut BTreeMap<String, Value>,
    name: &str,
    json: &mut Reader<'_>,
    depth_left: usize,
) -> Result<(), Bail> {
    let value = json.value(depth_left)?;
    match extra.insert(name.to_owned(), value) {
        None => Ok(()),
        Some(_) => Err(Bail),
    }
}

/// The members of an object inside any JSON value, every one kept.
#[derive(Default)]
struct AnyMembers(BTreeMap<String, Value>);

impl Members for AnyMembers {
    type Out = Map<String, Value>;

    fn member(&mut self, name: &str, json: &mut Reader<'_>, depth_left: usize) -> Result<(), Bail> {
        extra(&mut self.0, name, json, depth_left)
    }

    fn finish(self) -> Option<Map<String, Value>> {
        Some(self.0.into_iter().collect())
    }
}

/// `aud`: a string, or an array of strings.
fn audience(json: &mut Reader<'_>, depth_left: usize) -> Result<Audience, Bail> {
    if json.peek()? == b'[' {
        json.strings(depth_left).map(Audience::Many)
    } else {
        Ok(Audience::One(json.string()?.to_owned()))
    }
}

#[derive(Default)]
struct ClaimsMembers {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    iat: Option<u64>,
    exp: Option<u64>,
    nbf: Option<u64>,
    jti: Option<String>,
    agent_identity: Option<AgentIdentity>,
    agent_integrity: Option<AgentIntegrity>,
    attestation_metadata: Option<AttestationMetadata>,
    cnf: Option<Confirmation>,
    extra: BTreeMap<String, Value>,
}

impl Members for ClaimsMembers {
    type Out = Claims;

    fn member(&mut self, name: &str, json: &mut Reader<'_>, depth_left: usize) -> Result<(), Bail> {
        match name {
            "iss" => string(&mut self.iss, json),
            "sub" => string(&mut self.sub, json),
            "jti" => string(&mut self.jti, json),
            "aud" => {
                let aud = audience(json, depth_left)?;
                once(&mut self.aud, aud)
            }
            "iat" => integer(&mut self.iat, json),
            "exp" => integer(&mut self.exp, json),
            "nbf" => integer(&mut self.nbf, json),
            "agent_identity" => {
                object::<IdentityMembers>(&mut self.agent_identity, json, depth_left)
            }
            "agent_integrity" => {
                object::<IntegrityMembers>(&mut self.agent_integrity, json, depth_left)
            }
            "attestation_metadata" => {
                object::<MetadataMembers>(&mut self.attestation_metadata, json, depth_left)
            }
            "cnf" => object::<ConfirmationMembers>(&mut self.cnf, json, depth_left),
            _ => extra(&mut self.extra, name, json, depth_left),
        }
    }

    fn finish(self) -> Option<Claims> {
        Some(Claims {
            iss: self.iss?,
            sub: self.sub?,
            aud: self.aud?,
            iat: self.iat?,
            exp: self.exp?,
            nbf: self.nbf,
            jti: self.jti?,
            agent_identity: self.agent_identity?,
            agent_integrity: self.agent_integrity,
            attestation_metadata: self.attestation_metadata?,
            cnf: self.cnf,
            extra: self.extra,
        })
    }
}

#[derive(Default)]
struct IdentityMembers {
    model_family: Option<String>,
    model_version: Option<String>,
    provider: Option<String>,
    deployment_id: Option<String>,
    extra: BTreeMap<String, Value>,
}

impl Members for IdentityMembers {
    type Out = AgentIdentity;

    fn member(&mut self, name: &str, json: &mut Reader<'_>, depth_left: usize) -> Result<(), Bail> {
        match name {
            "model_family" => string(&mut self.model_family, json),
            "model_version" => string(&mut self.model_version, json),
            "provider" => string(&mut self.provider, json),
            "deployment_id" => string(&mut self.deployment_id, json),
            _ => extra(&mut self.extra, name, json, depth_left),
        }
    }

    fn finish(self) -> Option<AgentIdentity> {
        Some(AgentIdentity {
            model_family: self.model_family?,
            model_version: self.model_version?,
            provider: self.provider?,
            deployment_id: self.deployment_id,
            extra: self.extra,
        })
    }
}

#[derive(Default)]
struct IntegrityMembers {
    config_hash: Option<IntegrityHash>,
    system_prompt_hash: Option<IntegrityHash>,
    extra: BTreeMap<String, Value>,
}

fn integrity_hash(slot: &mut Option<IntegrityHash>, json: &mut Reader<'_>) -> Result<(), Bail> {
    let value = json.string()?;
    once(
        slot,
        IntegrityHash::parse_owned(value.to_owned()).ok_or(Bail)?,
    )
}

impl Members for IntegrityMembers {
    type Out = AgentIntegrity;

    fn member(&mut self, name: &str, json: &mut Reader<'_>, depth_left: usize) -> Result<(), Bail> {
        match name {
            "config_hash" => integrity_hash(&mut self.config_hash, json),
            "system_prompt_hash" => integrity_hash(&mut self.system_prompt_hash, json),
            _ => extra(&mut self.extra, name, json, depth_left),
        }
    }

    fn finish(self) -> Option<AgentIntegrity> {
        Some(AgentIntegrity {
            config_hash: self.config_hash,
            system_prompt_hash: self.system_prompt_hash,
            extra: self.extra,
        })
    }
}

#[derive(Default)]
struct MetadataMembers {
    attestation_version: Option<String>,
    attestation_type: Option<AttestationType>,
    safety_level: Option<SafetyLevel>,
    capabilities_declared: Option<Vec<String>>,
    extra: BTreeMap<String, Value>,
}

impl Members for MetadataMembers {
    type Out = AttestationMetadata;

    fn member(&mut self, name: &str, json: &mut Reader<'_>, depth_left: usize) -> Result<(), Bail> {
        match name {
            "attestation_version" => string(&mut self.attestation_version, json),
            "attestation_type" => {
                let value = match json.string()? {
                    "provider" => AttestationType::Provider,
                    "enterprise" => AttestationType::Enterprise,
                    _ => return Err(Bail),
                };
                once(&mut self.attestation_type, value)
            }
            "safety_level" => {
                let value = match json.string()? {
                    "minimal" => SafetyLevel::Minimal,
                    "standard" => SafetyLevel::Standard,
                    "enhanced" => SafetyLevel::Enhanced,
                    _ => return Err(Bail),
                };
                once(&mut self.safety_level, value)
            }
            "capabilities_declared" => {
                let value = json.strings(depth_left)?;
                once(&mut self.capabilities_declared, value)
            }
            _ => extra(&mut self.extra, name, json, depth_left),
        }
    }

    fn finish(self) -> Option<AttestationMetadata> {
        Some(AttestationMetadata {
            attestation_version: self.attestation_version?,
            attestation_type: self.attestation_type?,
            safety_level: self.safety_level?,
            capabilities_declared: self.capabilities_declared?,
            extra: self.extra,
        })
    }
}

#[derive(Default)]
struct ConfirmationMembers {
    jwk: Option<Jwk>,
    jkt: Option<String>,
    extra: BTreeMap<String, Value>,
}

impl Members for ConfirmationMembers {
    type Out = Confirmation;

    fn member(&mut self, name: &str, json: &mut Reader<'_>, depth_left: usize) -> Result<(), Bail> {
        match name {
            "jwk" => object::<JwkMembers>(&mut self.jwk, json, depth_left),
            "jkt" => string(&mut self.jkt, json),
            _ => extra(&mut self.extra, name, json, depth_left),
        }
    }

    fn finish(self) -> Option<Confirmation> {
        Some(Confirmation {
            jwk: self.jwk,
            jkt: self.jkt,
            extra: self.extra,
        })
    }
}

/// A JWK's members, as [`Jwk`]'s derived parse reads them.
#[derive(Default)]
pub(crate) struct JwkMembers {
    kty: Option<String>,
    crv: Option<String>,
    kid: Option<String>,
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    x: Option<String>,
    d: Option<String>,
    other: BTreeMap<String, Value>,
}

impl Members for JwkMembers {
    type Out = Jwk;

    fn member(&mut self, name: &str, json: &mut Reader<'_>, depth_left: usize) -> Result<(), Bail> {
        match name {
            "kty" => string(&mut self.kty, json),
            "crv" => string(&mut self.crv, json),
            "kid" => string(&mut self.kid, json),
            "use" => string(&mut self.use_, json),
            "key_ops" => {
                let value = json.strings(depth_left)?;
                once(&mut self.key_ops, value)
            }
            "alg" => string(&mut self.alg, json),
            "x" => string(&mut self.x, json),
            "d" => string(&mut self.d, json),
            _ => extra(&mut self.other, name, json, depth_left),
        }
    }

    fn finish(self) -> Option<Jwk> {
        Some(Jwk {
            kty: self.kty?,
            crv: self.crv,
            kid: self.kid,
            use_: self.use_,
            key_ops: self.key_ops,
            alg: self.alg,
            x: self.x,
            d: self.d,
            other: self.other,
        })
    }
}
