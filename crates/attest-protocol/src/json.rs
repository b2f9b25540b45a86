//! Strict readers for JSON members: each returns a typed error that names the member by JSON
//! Pointer, never a panic and never a silent default for a value of the wrong type.

use serde_json::{Map, Value};

use crate::error::ProtocolError;

/// Peer-supplied values are clipped to this many bytes before they go into an error.
const CLIP_BYTES: usize = 64;

/// `base` extended by one reference token, escaped per RFC 6901 (`~` → `~0`, `/` → `~1`).
pub(crate) fn child(base: &str, token: &str) -> String {
    let mut out = String::with_capacity(base.len().saturating_add(token.len()).saturating_add(1));
    out.push_str(base);
    out.push('/');
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

/// At most [`CLIP_BYTES`] of `s`, cut on a character boundary.
pub(crate) fn clip(s: &str) -> String {
    if s.len() <= CLIP_BYTES {
        return s.to_owned();
    }
    let mut end = CLIP_BYTES;
    while !s.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    let mut out = s.get(..end).unwrap_or_default().to_owned();
    out.push('…');
    out
}

/// The value as an object, or [`ProtocolError::NotAnObject`].
pub(crate) fn object<'v>(
    value: &'v Value,
    at: &str,
) -> Result<&'v Map<String, Value>, ProtocolError> {
    value.as_object().ok_or_else(|| ProtocolError::NotAnObject {
        pointer: at.to_owned(),
    })
}

/// An optional container member: absent or `null` is `None`; otherwise it must be an object.
pub(crate) fn container<'v>(
    parent: &'v Map<String, Value>,
    at: &str,
    name: &str,
) -> Result<Option<&'v Map<String, Value>>, ProtocolError> {
    match parent.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => object(value, &child(at, name)).map(Some),
    }
}

/// A required string member.
pub(crate) fn string<'v>(
    object: &'v Map<String, Value>,
    at: &str,
    name: &'static str,
) -> Result<&'v str, ProtocolError> {
    match object.get(name) {
        None => Err(ProtocolError::MissingMember {
            pointer: at.to_owned(),
            member: name,
        }),
        Some(value) => value.as_str().ok_or_else(|| ProtocolError::WrongType {
            pointer: child(at, name),
            expected: "a string",
        }),
    }
}

/// An optional member that, when present, is an array of strings. `null` is a wrong type.
pub(crate) fn string_list(
    object: &Map<String, Value>,
    at: &str,
    name: &'static str,
) -> Result<Option<Vec<String>>, ProtocolError> {
    let Some(value) = object.get(name) else {
        return Ok(None);
    };
    let wrong = || ProtocolError::WrongType {
        pointer: child(at, name),
        expected: "an array of strings",
    };
    let items = value.as_array().ok_or_else(wrong)?;
    items
        .iter()
        .map(|item| item.as_str().map(str::to_owned).ok_or_else(wrong))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The members of `object` other than `known`, kept so that a message round-trips.
pub(crate) fn extra(
    object: &Map<String, Value>,
    known: &[&str],
) -> std::collections::BTreeMap<String, Value> {
    object
        .iter()
        .filter(|(name, _)| !known.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}
