//! Strict base64url (RFC 4648 §5) without padding, as JWS requires, and lowercase hex.
//!
//! The decoder refuses padding, the `+` and `/` alphabet, whitespace and non-zero trailing bits,
//! so every byte string has exactly one accepted encoding.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Decodes strict base64url; `None` on any deviation.
pub(crate) fn decode(input: &[u8]) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(input).ok()
}

/// Encodes base64url without padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Appends the base64url encoding of `bytes` to `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(bytes, out);
}

/// Appends the lowercase hex encoding of `bytes` to `out`.
pub(crate) fn hex_into(bytes: &[u8], out: &mut String) {
    for byte in bytes {
        for nibble in [byte >> 4, byte & 0xf] {
            out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
}
