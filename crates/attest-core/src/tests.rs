//! Unit tests for the crate-private pieces: strict base64url, the JSON strictness pass, and the
//! list of small-order point encodings.

use std::collections::BTreeSet;

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::CompressedEdwardsY;

use crate::b64;
use crate::json::{JsonViolation, check_object};
use crate::key::is_small_order_encoding;

#[test]
fn base64url_refuses_every_alternative_encoding() {
    assert_eq!(b64::decode(b"AQID"), Some(vec![1, 2, 3]));
    assert_eq!(b64::decode(b"AQI"), Some(vec![1, 2]));
    for bad in [
        &b"AQI="[..],
        b"AQ+D",
        b"AQ/D",
        b"AQ ID",
        b"AQID\n",
        b"AQJ",
        b"A",
    ] {
        assert_eq!(b64::decode(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn json_duplicates_are_found_at_any_depth_and_through_escapes() {
    assert_eq!(check_object(r#"{"a":1,"b":{"c":[1,{"d":2}]}}"#, 8), Ok(()));
    let cases: [(&str, &str); 4] = [
        (r#"{"a":1,"a":2}"#, "a"),
        (r#"{"x":{"b":1,"b":1}}"#, "b"),
        (r#"{"x":[{"c":1,"c":1}]}"#, "c"),
        (r#"{"exp":1,"\u0065xp":2}"#, "exp"),
    ];
    for (doc, name) in cases {
        assert_eq!(
            check_object(doc, 8),
            Err(JsonViolation::Duplicate(name.into()))
        );
    }
}

#[test]
fn json_duplicates_in_large_objects_are_found() {
    let mut doc = String::from("{");
    for i in 0..100 {
        doc.push_str(&format!("\"k{i}\":{i},"));
    }
    doc.push_str("\"k3\":0}");
    assert_eq!(
        check_object(&doc, 8),
        Err(JsonViolation::Duplicate("k3".into()))
    );
}

#[test]
fn json_depth_counts_objects_and_arrays() {
    assert_eq!(check_object(r#"{"a":{"b":{}}}"#, 3), Ok(()));
    assert_eq!(
        check_object(r#"{"a":{"b":{}}}"#, 2),
        Err(JsonViolation::TooDeep)
    );
    assert_eq!(
        check_object(r#"{"a":[[1]]}"#, 2),
        Err(JsonViolation::TooDeep)
    );
}

#[test]
fn json_top_level_must_be_one_object() {
    for doc in ["[]", "1", "\"s\"", "{} {}", "{", "", "{\"a\":1,}"] {
        assert!(
            matches!(check_object(doc, 8), Err(JsonViolation::Syntax(_))),
            "{doc:?}"
        );
    }
}

#[test]
fn rfc3339_known_instants() {
    use crate::UnixTime;
    let rfc3339 = |secs| UnixTime::from_secs(secs).to_rfc3339();
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_790_000_000), "2026-09-21T14:13:20Z");
    assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    // Never panics, even at the end of time.
    let _ = rfc3339(u64::MAX);
}

/// Every 32-byte string whose y (sign bit cleared) is `y` or, when `y` < 19, the non-canonical
/// `y + p`: with both sign bits, every encoding a decoder may read as a point with this y.
fn encodings_of_y(y: [u8; 32]) -> Vec<[u8; 32]> {
    let mut ys = vec![y];
    if y[0] < 19 && y[1..].iter().all(|b| *b == 0) {
        let mut plus_p = [0xff; 32];
        plus_p[0] = 0xed_u8.wrapping_add(y[0]); // y < 19: p + y < 2^255
        plus_p[31] = 0x7f;
        ys.push(plus_p);
    }
    ys.iter()
        .flat_map(|y| {
            let mut signed = *y;
            signed[31] |= 0x80;
            [*y, signed]
        })
        .collect()
}

#[test]
fn small_order_encodings_are_complete() {
    // Derived from the eight-torsion points, independently of the hand-written list: every
    // encoding that decodes to one of them is on the list.
    let mut derived = BTreeSet::new();
    for t in EIGHT_TORSION {
        let mut y = t.compress().to_bytes();
        y[31] &= 0x7f;
        for encoding in encodings_of_y(y) {
            if let Some(point) = CompressedEdwardsY(encoding).decompress() {
                assert!(point.is_small_order());
                assert!(is_small_order_encoding(&encoding), "{encoding:02x?}");
                derived.insert(encoding);
            }
        }
    }
    // Seven values of y (five canonical, two non-canonical), each with both sign bits. The list
    // holds seven values of y, so at most fourteen encodings: it is exactly this set.
    assert_eq!(derived.len(), 14);
    // Its neighbours are not on it: of the encodings one bit away from one of them, only those
    // that are themselves in the set match.
    for encoding in &derived {
        for bit in 0..256 {
            let mut flipped = *encoding;
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                is_small_order_encoding(&flipped),
                derived.contains(&flipped),
                "{flipped:02x?}"
            );
        }
    }
    // A point of large order, the base point, is not on it.
    let base = curve25519_dalek::constants::ED25519_BASEPOINT_COMPRESSED.to_bytes();
    assert!(!is_small_order_encoding(&base));
}
