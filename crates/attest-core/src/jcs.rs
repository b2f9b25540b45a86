//! RFC 8785 (JCS) canonical JSON of a `serde_json::Value`, written directly for the values
//! requests carry: strings, booleans, `null`, integers of at most 2^53 in magnitude, arrays and
//! objects.
//!
//! JCS writes every number as ECMAScript writes a double. For the integers above that is their
//! decimal digits, so they are written here as such; any other number (a fraction, an exponent,
//! an integer a double cannot hold exactly) is left to `serde_jcs`, which formats doubles, for
//! the whole value ([`Uncovered`]). Strings are escaped as `JSON.stringify` escapes them (which
//! is serde_json's escaping), and object members are sorted by the UTF-16 code units of their
//! names. serde_jcs is the oracle: the unit tests compare the two byte for byte.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::write::{integer, string};

/// The value holds something this writer leaves to serde_jcs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Uncovered;

/// The largest integer magnitude whose double is exact and written as plain digits: 2^53.
const MAX_EXACT: u64 = 1 << 53;

/// Nesting beyond which the value is left to serde_jcs (this writer recurses).
const MAX_DEPTH: usize = 128;

/// Appends the canonical form of the object `map`, without its member `skip`, to `out`.
pub(crate) fn write_object(
    map: &Map<String, Value>,
    skip: Option<&str>,
    out: &mut Vec<u8>,
) -> Result<(), Uncovered> {
    object(map, skip, out, MAX_DEPTH)
}

/// Appends the canonical form of `value` to `out`.
pub(crate) fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), Uncovered> {
    self::value(value, out, MAX_DEPTH)
}

fn value(value: &Value, out: &mut Vec<u8>, depth_left: usize) -> Result<(), Uncovered> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64().filter(|u| *u <= MAX_EXACT) {
                integer(u, out);
            } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= MAX_EXACT) {
                // Negative here: non-negative integers were taken as u64 above.
                out.push(b'-');
                integer(i.unsigned_abs(), out);
            } else {
                return Err(Uncovered);
            }
        }
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            let depth_left = depth_left.checked_sub(1).ok_or(Uncovered)?;
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                self::value(item, out, depth_left)?;
            }
            out.push(b']');
        }
        Value::Object(map) => object(map, None, out, depth_left)?,
    }
    Ok(())
}

fn object(
    map: &Map<String, Value>,
    skip: Option<&str>,
    out: &mut Vec<u8>,
    depth_left: usize,
) -> Result<(), Uncovered> {
    let depth_left = depth_left.checked_sub(1).ok_or(Uncovered)?;
    let kept = |(name, _): &(&String, &Value)| Some(name.as_str()) != skip;
    // A map in code-point order (serde_json's default) is already in UTF-16 order unless a name
    // holds a character from U+E000 up; sort only when the order is not already right.
    let in_order = map
        .keys()
        .zip(map.keys().skip(1))
        .all(|(a, b)| utf16_cmp(a, b) == Ordering::Less);
    out.push(b'{');
    let mut first = true;
    let mut member = |(name, item): (&String, &Value), out: &mut Vec<u8>| {
        if !first {
            out.push(b',');
        }
        first = false;
        string(name, out);
        out.push(b':');
        value(item, out, depth_left)
    };
    if in_order {
        for entry in map.iter().filter(kept) {
            member(entry, out)?;
        }
    } else {
        let mut entries: Vec<_> = map.iter().filter(kept).collect();
        entries.sort_unstable_by(|a, b| utf16_cmp(a.0, b.0));
        for entry in entries {
            member(entry, out)?;
        }
    }
    out.push(b'}');
    Ok(())
}

/// Compares two strings by their UTF-16 code units (RFC 8785 §3.2.3).
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    // UTF-8 byte order is code-point order, which is UTF-16 order as long as neither string
    // holds a character from U+E000 up (encoded from the byte 0xEE).
    let high = |s: &str| s.bytes().any(|b| b >= 0xEE);
    if high(a) || high(b) {
        a.encode_utf16().cmp(b.encode_utf16())
    } else {
        a.as_bytes().cmp(b.as_bytes())
    }
}
