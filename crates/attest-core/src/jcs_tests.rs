//! The direct JCS writer against serde_jcs, byte for byte: on every value it covers it writes
//! exactly serde_jcs's bytes, and `params_hash` gives serde_jcs's hash on every value.

use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};

use crate::jcs::{self, Uncovered};
use crate::proof::{canonical_params, params_hash};

fn reference(value: &Value) -> Vec<u8> {
    serde_jcs::to_vec(value).unwrap()
}

fn direct(value: &Value) -> Result<Vec<u8>, Uncovered> {
    let mut out = Vec::new();
    jcs::write_value(value, &mut out).map(|()| out)
}

/// Strings that stress escaping and UTF-16 ordering: controls, quotes, backslashes, DEL,
/// U+2028, characters on both sides of U+E000 and outside the BMP.
pub(crate) fn text() -> impl Strategy<Value = String> {
    let chars = prop_oneof![
        Just('a'),
        Just('b'),
        Just('_'),
        Just('"'),
        Just('\\'),
        Just('/'),
        Just('\u{7f}'),
        Just('\u{2028}'),
        Just('\u{e000}'),
        Just('\u{ffff}'),
        Just('\u{fb33}'),
        Just('\u{10000}'),
        Just('\u{1f600}'),
        (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap()),
        any::<char>(),
    ];
    proptest::collection::vec(chars, 0..6).prop_map(|c| c.into_iter().collect())
}

fn number() -> impl Strategy<Value = Value> {
    // Around ±2^53, the largest exact integers.
    const EXACT: i64 = 1 << 53;
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-EXACT - 2..=-EXACT + 2).prop_map(Value::from),
        (EXACT - 2..=EXACT + 2).prop_map(Value::from),
        (-1000_i64..1000).prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        Just(json!(0.5)),
        Just(json!(1e21)),
        Just(json!(-0.0)),
    ]
}

pub(crate) fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((text(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn direct_writer_is_serde_jcs_where_it_writes(value in value()) {
        match direct(&value) {
            Ok(bytes) => prop_assert_eq!(bytes, reference(&value)),
            // Only numbers outside the exact integers are left to serde_jcs.
            Err(Uncovered) => prop_assert!(value.to_string().contains(['.', 'e', 'E'])
                || has_big_integer(&value)),
        }
    }

    #[test]
    fn params_hash_is_the_hash_of_serde_jcs(value in value(), meta in value()) {
        let mut with_meta = value.clone();
        if let Value::Object(map) = &mut with_meta {
            map.insert("_meta".into(), meta);
        }
        let expected = {
            use sha2::Digest as _;
            crate::b64::encode(&sha2::Sha256::digest(canonical_params(Some(&with_meta)).unwrap()))
        };
        prop_assert_eq!(params_hash(Some(&with_meta)).unwrap(), expected);
    }
}

fn has_big_integer(value: &Value) -> bool {
    match value {
        Value::Number(n) => n
            .as_u64()
            .map(|u| u > 1 << 53)
            .or(n.as_i64().map(|i| i.unsigned_abs() > 1 << 53))
            .unwrap_or(false),
        Value::Array(items) => items.iter().any(has_big_integer),
        Value::Object(map) => map.values().any(has_big_integer),
        _ => false,
    }
}

#[test]
fn covered_values_match_serde_jcs() {
    let cases = [
        json!({}),
        json!([]),
        json!({"name": "get_weather", "arguments": {"city": "Paris", "days": 3, "units": "metric"}}),
        json!({"b": 1, "a": [true, false, null, -9007199254740992_i64, 9007199254740992_u64]}),
        json!({"\u{e000}": 1, "\u{1f600}": 2, "z": 3, "": 4, "\u{10000}": 5, "\u{ffff}": 6}),
        json!({"s": "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f} \"\\/\u{7f}\u{2028}\u{2029}é😀"}),
        json!("top-level string"),
        json!(42),
    ];
    for value in cases {
        assert_eq!(direct(&value).unwrap(), reference(&value), "{value}");
    }
    for value in [
        json!(0.5),
        json!([1, 2.5]),
        json!({"a": 9007199254740993_u64}),
    ] {
        assert_eq!(direct(&value), Err(Uncovered), "{value}");
    }
}

#[test]
fn params_hash_leaves_out_meta_and_hashes_absent_params_as_an_empty_object() {
    let empty = params_hash(Some(&json!({}))).unwrap();
    assert_eq!(params_hash(None).unwrap(), empty);
    assert_eq!(params_hash(Some(&Value::Null)).unwrap(), empty);
    assert_eq!(
        params_hash(Some(&json!({"_meta": {"x": 1}}))).unwrap(),
        empty
    );
    assert_ne!(params_hash(Some(&json!([]))).unwrap(), empty);
    // A fraction goes through serde_jcs.
    let fraction = json!({"t": 0.1, "_meta": 1});
    let expected = {
        use sha2::Digest as _;
        crate::b64::encode(&sha2::Sha256::digest(br#"{"t":0.1}"#))
    };
    assert_eq!(params_hash(Some(&fraction)).unwrap(), expected);
}

#[test]
fn deep_values_are_left_to_serde_jcs() {
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    assert_eq!(direct(&deep), Err(Uncovered));
    assert!(params_hash(Some(&deep)).is_ok());
}
