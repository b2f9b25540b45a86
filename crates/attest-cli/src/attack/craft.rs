//! Low-level crafting: strict and deliberately broken base64url, raw JWS signing, signature
//! surgery (S + L, small-order R), HMAC for the key-confusion attack, and JSON edits that never
//! panic.

use attest_core::SigningKey;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// The canonical encoding of the identity point of edwards25519 (y = 1). A small-order point:
/// as a public key it verifies `(R = identity, S = 0)` for every message under non-strict,
/// cofactorless verification.
pub(crate) const IDENTITY: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
};

/// The identity point written non-canonically: y = p + 1, where p = 2^255 - 19.
pub(crate) const IDENTITY_NON_CANONICAL: [u8; 32] = {
    let mut b = [0xff; 32];
    b[0] = 0xee;
    b[31] = 0x7f;
    b
};

/// Strict base64url without padding.
pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Standard base64 (`+` and `/`), padded.
pub(crate) fn b64_standard(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes strict base64url.
pub(crate) fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// `b64(header).b64(claims).b64(sig)`, signed by `key` over the first two segments.
pub(crate) fn sign_with(key: &SigningKey, header: &[u8], claims: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

/// The three segments of a compact token (empty strings where absent).
pub(crate) fn segments(token: &str) -> (&str, &str, &str) {
    let mut parts = token.splitn(3, '.');
    let header = parts.next().unwrap_or_default();
    let payload = parts.next().unwrap_or_default();
    let signature = parts.next().unwrap_or_default();
    (header, payload, signature)
}

/// `token` with its signature segment replaced by `signature`.
pub(crate) fn resign(token: &str, signature: &[u8]) -> String {
    let (input, _) = token.rsplit_once('.').unwrap_or((token, ""));
    format!("{input}.{}", b64(signature))
}

/// The 64-byte signature of `token` (zeros if it has none).
pub(crate) fn signature_of(token: &str) -> [u8; 64] {
    let (_, _, signature) = segments(token);
    unb64(signature)
        .and_then(|s| <[u8; 64]>::try_from(s).ok())
        .unwrap_or([0; 64])
}

/// The malleated twin of an Ed25519 signature: S + L, which still satisfies the cofactorless
/// equation, so a verifier that does not require S < L accepts a second encoding of it.
pub(crate) fn add_order_to_s(signature: &[u8; 64]) -> [u8; 64] {
    let mut out = *signature;
    let mut carry = 0u16;
    for (s, l) in out.iter_mut().skip(32).zip(L) {
        let [low, high] = u16::from(*s)
            .saturating_add(u16::from(l))
            .saturating_add(carry)
            .to_le_bytes();
        *s = low;
        carry = u16::from(high);
    }
    out
}

/// `(R = identity, S = 0)`: the signature every message has under the identity key.
pub(crate) fn identity_signature() -> [u8; 64] {
    let mut signature = [0u8; 64];
    for (s, r) in signature.iter_mut().zip(IDENTITY) {
        *s = r;
    }
    signature
}

/// HMAC-SHA256 (RFC 2104), for the HS256 key-confusion attack.
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        let digest = Sha256::digest(key);
        for (b, k) in block.iter_mut().zip(digest) {
            *b = k;
        }
    } else {
        for (b, k) in block.iter_mut().zip(key) {
            *b = *k;
        }
    }
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

/// The last character of a canonical base64url encoding with non-zero unused bits, so that a
/// lenient decoder reads the same bytes from a second spelling.
pub(crate) fn with_trailing_bits(segment: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = segment.to_owned();
    let Some(last) = out.pop() else {
        return out;
    };
    let index = ALPHABET
        .iter()
        .position(|c| char::from(*c) == last)
        .unwrap_or(0);
    // Flipping the lowest bit of the last sextet touches only padding bits when the encoded
    // length is not a multiple of 3 (a 64-byte signature leaves 4 such bits).
    let flipped = ALPHABET.get(index ^ 1).copied().unwrap_or(b'B');
    out.push(char::from(flipped));
    out
}

/// Sets `object[name] = value` if `object` is an object.
pub(crate) fn set(object: &mut Value, name: &str, value: Value) {
    if let Some(map) = object.as_object_mut() {
        map.insert(name.to_owned(), value);
    }
}

/// Sets `object[outer][name] = value` if both are objects.
pub(crate) fn set_in(object: &mut Value, outer: &str, name: &str, value: Value) {
    if let Some(inner) = object.get_mut(outer) {
        set(inner, name, value);
    }
}

/// Removes `object[name]`.
pub(crate) fn remove(object: &mut Value, name: &str) {
    if let Some(map) = object.as_object_mut() {
        map.remove(name);
    }
}

/// A JSON number written exactly as `text` (e.g. `1790000300.5`), which serde_json would not
/// write itself for an integer claim.
pub(crate) fn raw_number(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// A look-alike of `issuer`: its host with `.evil.example` appended (scheme, port and path
/// kept), e.g. `https://issuer.example` → `https://issuer.example.evil.example`.
pub(crate) fn lookalike(issuer: &str) -> String {
    let (scheme, rest) = issuer.split_once("://").unwrap_or(("https", issuer));
    let host_end = rest.find([':', '/']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at_checked(host_end).unwrap_or((rest, ""));
    format!("{scheme}://{host}.evil.example{tail}")
}

/// A second issuer next to `issuer` (for the cross-issuer attack): `issuer-b.` before its host.
pub(crate) fn sibling_issuer(issuer: &str) -> String {
    let (scheme, rest) = issuer.split_once("://").unwrap_or(("https", issuer));
    format!("{scheme}://issuer-b.{rest}")
}

/// `value` as compact JSON text with object members sorted by name, at every depth.
///
/// Tokens and vectors must be byte-identical on every build, and `serde_json::Value` keeps
/// either sorted or insertion order depending on a cargo feature that any dependency may turn
/// on; this writer does not depend on it.
pub(crate) fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (name, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(name.as_str()).to_string());
                out.push(':');
                write_canonical(member, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}
