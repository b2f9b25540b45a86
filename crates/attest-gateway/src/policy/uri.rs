//! Is a resource URI in the one spelling that policy globs can judge safely?
//!
//! A glob sees text; the server behind the gateway resolves the URI. Any URI that the server
//! may resolve to the same resource as a differently spelled one is refused, so that neither
//! an allow rule nor a deny rule can be dodged by spelling: see the module documentation of
//! [`crate::policy`] for the list.

/// True if `uri` is in normal form: no control characters or backslashes, a lowercase scheme,
/// no `.`/`..` segments, and `%` escapes only of characters that must be escaped.
pub(super) fn is_normalized(uri: &str) -> bool {
    !uri.bytes().any(|b| b.is_ascii_control() || b == b'\\')
        && scheme_is_lowercase(uri)
        && escapes_are_needed(uri)
        && !has_dot_segment(uri)
}

/// A scheme (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` before the first `:`) has no
/// uppercase letter. Text that has no scheme passes.
fn scheme_is_lowercase(uri: &str) -> bool {
    let Some((scheme, _)) = uri.split_once(':') else {
        return true;
    };
    let is_scheme = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    !is_scheme || !scheme.bytes().any(|b| b.is_ascii_uppercase())
}

/// Every `%` starts a well-formed `%HH` escape of a byte that has to be escaped: not an
/// unreserved character (RFC 3986 §2.3), nor `/` or `\`.
fn escapes_are_needed(uri: &str) -> bool {
    let mut bytes = uri.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            continue;
        }
        let (Some(hi), Some(lo)) = (
            bytes.next().and_then(hex_value),
            bytes.next().and_then(hex_value),
        ) else {
            return false;
        };
        let decoded = hi.wrapping_shl(4) | lo;
        let unreserved =
            decoded.is_ascii_alphanumeric() || matches!(decoded, b'-' | b'.' | b'_' | b'~');
        if unreserved || decoded == b'/' || decoded == b'\\' {
            return false;
        }
    }
    true
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// A `.` or `..` segment anywhere, with `/`, `?` and `#` all taken as separators (stricter than
/// RFC 3986, which would stop at the query: a dot segment in a query is refused too).
fn has_dot_segment(uri: &str) -> bool {
    uri.split(['/', '?', '#'])
        .any(|segment| segment == "." || segment == "..")
}
