//! JSON written directly into bytes: the string and integer forms that serde_json and
//! `JSON.stringify` share, and a token's header and claims in exactly the bytes serde_json
//! writes for them, without serde's per-byte string escaping on the signing path.
//!
//! [`ClaimsRef`]'s `Serialize` stays the definition of how claims serialize; [`claims`] is a
//! faster writer of the same bytes, and a property test holds the two equal.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::claims::{
    AgentIdentity, AgentIntegrity, AttestationMetadata, AudienceRef, ClaimsRef, Confirmation,
};

/// Appends `s` as a JSON string, as `JSON.stringify` and serde_json write it: `"` and `\`
/// escaped, the controls below U+0020 as `\b \t \n \f \r` or `\u00xx` (lowercase hex),
/// everything else as it is.
pub(crate) fn string(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len().saturating_add(2));
    out.push(b'"');
    // Most strings need no escape at all; this check, without an early exit, vectorizes.
    let plain = bytes.iter().fold(true, |plain, &b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
    });
    if plain {
        out.extend_from_slice(bytes);
    } else {
        escaped(bytes, out);
    }
    out.push(b'"');
}

/// The contents of a string that holds at least one character to escape.
fn escaped(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hex = |nibble: u8| HEX.get(usize::from(nibble)).copied().unwrap_or(b'0');
    let mut start = 0;
    let mut control = *b"\\u00xx";
    for (i, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\x08' => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\x0c' => b"\\f",
            b'\r' => b"\\r",
            0..=0x1f => {
                control[4] = hex(byte >> 4);
                control[5] = hex(byte & 0xf);
                &control
            }
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        out.extend_from_slice(escape);
        start = i.saturating_add(1);
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
}

/// Appends the decimal digits of `n`.
pub(crate) fn integer(mut n: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at = at.saturating_sub(1);
        if let Some(digit) = buf.get_mut(at) {
            // n % 10 < 10: the cast cannot truncate.
            *digit = b'0'.saturating_add(u8::try_from(n % 10).unwrap_or(0));
        }
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(buf.get(at..).unwrap_or_default());
}

/// The JOSE header `{"alg":"EdDSA","typ":…,"kid":…}`, as serde_json writes `token::Header`.
pub(crate) fn header(typ: &str, kid: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"alg":"EdDSA","typ":"#);
    string(typ, out);
    out.extend_from_slice(br#","kid":"#);
    string(kid, out);
    out.push(b'}');
}

/// The claims, byte for byte as `serde_json::to_vec(claims)`.
pub(crate) fn claims(c: &ClaimsRef<'_>, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let mut o = Object::open(out);
    o.string("iss", c.iss);
    o.string("sub", c.sub);
    match c.aud {
        AudienceRef::One(one) => o.string("aud", one),
        AudienceRef::Many(many) => o.strings("aud", many),
    }
    o.integer("iat", c.iat);
    o.integer("exp", c.exp);
    if let Some(nbf) = c.nbf {
        o.integer("nbf", nbf);
    }
    o.string("jti", c.jti);
    identity(c.agent_identity, o.key("agent_identity"))?;
    if let Some(integrity) = c.agent_integrity {
        self::integrity(integrity, o.key("agent_integrity"))?;
    }
    metadata(c.attestation_metadata, o.key("attestation_metadata"))?;
    if let Some(cnf) = c.cnf {
        confirmation(cnf, o.key("cnf"))?;
    }
    o.close(c.extra)
}

fn identity(i: &AgentIdentity, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let mut o = Object::open(out);
    o.string("model_family", &i.model_family);
    o.string("model_version", &i.model_version);
    o.string("provider", &i.provider);
    if let Some(deployment_id) = &i.deployment_id {
        o.string("deployment_id", deployment_id);
    }
    o.close(&i.extra)
}

fn integrity(i: &AgentIntegrity, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let mut o = Object::open(out);
    if let Some(hash) = &i.config_hash {
        o.string("config_hash", hash.as_str());
    }
    if let Some(hash) = &i.system_prompt_hash {
        o.string("system_prompt_hash", hash.as_str());
    }
    o.close(&i.extra)
}

fn metadata(m: &AttestationMetadata, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let mut o = Object::open(out);
    o.string("attestation_version", &m.attestation_version);
    o.string("attestation_type", m.attestation_type.as_str());
    o.string("safety_level", m.safety_level.as_str());
    o.strings("capabilities_declared", &m.capabilities_declared);
    o.close(&m.extra)
}

fn confirmation(cnf: &Confirmation, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let mut o = Object::open(out);
    if let Some(jwk) = &cnf.jwk {
        serde_json::to_writer(o.key("jwk"), jwk)?;
    }
    if let Some(jkt) = &cnf.jkt {
        o.string("jkt", jkt);
    }
    o.close(&cnf.extra)
}

/// An object being written: its members, then its extension members by name, as serde's
/// `flatten` writes them.
struct Object<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> Object<'o> {
    fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Object { out, empty: true }
    }

    /// Writes `"name":` and returns the output, for the member's value.
    fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        string(name, self.out);
        self.out.push(b':');
        self.out
    }

    fn string(&mut self, name: &str, value: &str) {
        string(value, self.key(name));
    }

    fn strings(&mut self, name: &str, values: &[String]) {
        let out = self.key(name);
        out.push(b'[');
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(value, out);
        }
        out.push(b']');
    }

    fn integer(&mut self, name: &str, value: u64) {
        integer(value, self.key(name));
    }

    fn close(mut self, extra: &BTreeMap<String, Value>) -> Result<(), serde_json::Error> {
        for (name, value) in extra {
            serde_json::to_writer(self.key(name), value)?;
        }
        self.out.push(b'}');
        Ok(())
    }
}
