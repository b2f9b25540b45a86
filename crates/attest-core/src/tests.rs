//! Unit tests for the crate-private pieces: strict base64url and the JSON strictness pass.

use crate::b64;
use crate::json::{JsonViolation, check_object};

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
