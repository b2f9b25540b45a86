//! The single-pass parse against the two-pass parse it stands in for: on every document of a
//! corpus of valid claim sets, proofs and their mutations (wrong types, `null`s, duplicates,
//! escaped names, nesting at every cap), the single pass either gives up or returns exactly
//! what the two passes return; and on well-formed documents it does not give up.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::json::check_object;
use crate::policy::Policy;
use crate::strict::{self, Bail};
use crate::{claims, dangerous, proof};

const HASH: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const JKT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

fn claims_doc() -> Value {
    json!({
        "iss": "https://issuer.example",
        "sub": "spiffe://issuer.example/model/m1",
        "aud": "https://tools.example",
        "iat": 1_790_000_000_u64,
        "exp": 1_790_000_300_u64,
        "nbf": 1_790_000_000_u64,
        "jti": "6f1c2d1e-8f0a-4b7e-9c35-0d5f1e2a3b4c",
        "agent_identity": {
            "model_family": "claude", "model_version": "sonnet-4", "provider": "anthropic",
            "deployment_id": "dep-1", "region": "eu"
        },
        "agent_integrity": {"config_hash": HASH, "system_prompt_hash": HASH, "x": [1, {"y": null}]},
        "attestation_metadata": {
            "attestation_version": "0.1.0", "attestation_type": "provider",
            "safety_level": "standard", "capabilities_declared": ["a", "b"], "more": {"k": 1.5}
        },
        "cnf": {
            "jwk": {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                    "kid": "k", "use": "sig", "alg": "EdDSA", "key_ops": ["verify"], "ext": true},
            "jkt": JKT,
            "extra": -3
        },
        "custom": {"deep": [[["ok"]]]},
        "n": -1,
        "f": 0.5,
        "t": false
    })
}

fn proof_claims_doc() -> Value {
    json!({
        "aud": "https://tools.example", "iat": 1_790_000_000_u64, "jti": "j-1",
        "mth": "tools/call", "nam": "get_weather", "ph": JKT, "ath": JKT, "nonce": "n",
        "unknown": {"a": [1, 2]}
    })
}

/// Every JSON value a member could be replaced by.
fn replacements() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(1.0),
        json!(18_446_744_073_709_551_615_u64),
        json!(""),
        json!("x"),
        json!(HASH),
        json!("provider"),
        json!("enterprise"),
        json!("minimal"),
        json!("0.1.0"),
        json!([]),
        json!(["a"]),
        json!([1]),
        json!([["a"]]),
        json!({}),
        json!({"provider": null}),
        json!({"a": {"b": {"c": {"d": {}}}}}),
        json!({"kty": "OKP"}),
    ]
}

/// The document with the member at `path` replaced by each replacement, and removed.
fn mutations(doc: &Value) -> Vec<String> {
    let mut out = vec![doc.to_string()];
    let mut paths = Vec::new();
    collect_paths(doc, &mut Vec::new(), &mut paths);
    for path in paths {
        for replacement in replacements() {
            let mut changed = doc.clone();
            if let Some(slot) = pointer(&mut changed, &path) {
                *slot = replacement;
            }
            out.push(changed.to_string());
        }
        let mut removed = doc.clone();
        if let Some((last, parent)) = path.split_last()
            && let Some(Value::Object(map)) = pointer(&mut removed, parent)
        {
            map.remove(last);
        }
        out.push(removed.to_string());
    }
    // Text-level: duplicates at each level, escaped names, trailing bytes, broken syntax.
    let text = doc.to_string();
    for (from, to) in [
        ("{\"iss\":", "{\"iss\":\"a\",\"iss\":"),
        ("\"aud\":", "\"aud\":\"a\",\"\\u0061ud\":"),
        (
            "\"model_family\":",
            "\"model_family\":\"a\",\"model_family\":",
        ),
        ("\"region\":", "\"region\":1,\"region\":"),
        ("\"config_hash\":", "\"config_hash\":null,\"config_hash\":"),
        (
            "\"safety_level\":",
            "\"safety_level\":\"minimal\",\"safety_level\":",
        ),
        ("\"kty\":", "\"kty\":\"OKP\",\"kty\":"),
        ("\"jkt\":", "\"jkt\":\"a\",\"jkt\":"),
        ("{\"d\":", "{\"d\":1,\"d\":"),
        ("{\"k\":", "{\"k\":1,\"k\":"),
        ("\"jti\":", "\"j\\u0074i\":"),
        ("\"mth\":", "\"mth\":\"a\",\"mth\":"),
        ("\"unknown\":", "\"unknown\":1,\"unknown\":"),
        ("\"a\":", "\"a\":0,\"a\":"),
    ] {
        if text.contains(from) {
            out.push(text.replacen(from, to, 1));
        }
    }
    out.push(format!("{text} "));
    out.push(format!("{text}x"));
    out.push(format!("{text}{{}}"));
    out.push(text.replacen('}', "},", 1));
    out.push(format!("[{text}]"));
    out
}

fn collect_paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(map) = value {
        for (name, member) in map {
            prefix.push(name.clone());
            out.push(prefix.clone());
            collect_paths(member, prefix, out);
            prefix.pop();
        }
    }
}

fn pointer<'v>(value: &'v mut Value, path: &[String]) -> Option<&'v mut Value> {
    path.iter()
        .try_fold(value, |value, name| value.as_object_mut()?.get_mut(name))
}

/// Asserts that the single pass, if it takes `text`, returns what the two passes return, and
/// says whether it took it and whether the two passes accept it.
fn compare(text: &str, depth: usize) -> (bool, bool) {
    let two_pass = check_object(text, depth)
        .ok()
        .and_then(|()| claims::parse(text).ok());
    match strict::claims(text, depth) {
        Ok(single) => {
            assert_eq!(Some(&single), two_pass.as_ref(), "{text} at depth {depth}");
            (true, true)
        }
        Err(Bail) => (false, two_pass.is_some()),
    }
}

#[test]
fn claims_single_pass_agrees_with_the_two_passes() {
    let (mut agreed, mut bailed) = (0, 0);
    for text in mutations(&claims_doc()) {
        for depth in 0..=8 {
            let (taken, _) = compare(&text, depth);
            if taken {
                agreed += 1;
            } else {
                bailed += 1;
            }
        }
    }
    assert!(
        agreed > 500 && bailed > 500,
        "{agreed} agreed, {bailed} bailed"
    );
}

#[test]
fn claims_single_pass_takes_every_well_formed_claim_set() {
    let text = claims_doc().to_string();
    // The document nests 5 levels (`custom.deep`): from that cap on, one pass decides.
    for depth in 5..=8 {
        let single = strict::claims(&text, depth);
        assert_eq!(single.ok(), claims::parse(&text).ok(), "depth {depth}");
    }
    assert_eq!(strict::claims(&text, 4), Err(Bail));
    assert!(check_object(&text, 4).is_err());
}

#[test]
fn single_pass_reader_on_the_edges_of_json_syntax() {
    let text = claims_doc().to_string();
    // No proper prefix is a document; the whole is.
    for end in 0..text.len() {
        if let Some(prefix) = text.get(..end) {
            assert_eq!(compare(prefix, 8), (false, false), "{prefix}");
        }
    }
    // Whitespace of every kind between tokens, and non-ASCII text, are taken.
    let pretty = serde_json::to_string_pretty(&claims_doc()).unwrap_or_default();
    // Pretty-printing puts newlines only between tokens (a string's are escaped).
    let spaced = pretty.replace('\n', " \r\n\t");
    let accented = text.replacen("\"eu\"", "\"région 🇪🇺\"", 1);
    for taken in [pretty, spaced, format!(" \n{text}\t\r"), accented] {
        assert_eq!(compare(&taken, 8), (true, true), "{taken}");
    }
    // An extension's number of any form is read as serde_json reads it, and `iat` as serde_json
    // reads a `u64`: the single pass takes each exactly when the two passes do.
    let extension_numbers = [
        "0",
        "-0",
        "-1",
        "1e2",
        "1E+2",
        "-1.5e-3",
        "0.1",
        "9007199254740993",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775809",
        "123456789012345678901234567890",
        "1e400",
        "01",
        "-01",
        "1.",
        ".5",
        "+1",
        "-",
        "1e",
        "1.e3",
        "0x10",
        "1_000",
        "Infinity",
        "NaN",
        "1 2",
    ];
    let times = [
        "0",
        "18446744073709551615",
        "18446744073709551616",
        "-1",
        "-0",
        "1.0",
        "1e3",
        "01790000000",
        "1790000000.5",
        "\"1790000000\"",
        "null",
    ];
    for (member, values) in [
        ("\"n\":-1", &extension_numbers[..]),
        ("\"iat\":1790000000", &times),
    ] {
        assert!(text.contains(member), "{member}");
        let name = member.split(':').next().unwrap_or_default();
        for value in values {
            let changed = text.replacen(member, &format!("{name}:{value}"), 1);
            let (single, two) = compare(&changed, 8);
            assert_eq!(single, two, "{changed}");
        }
    }
    // Literals, separators and strings, broken or odd: never taken unless the two passes agree.
    for (from, to) in [
        ("\"t\":false", "\"t\":fals"),
        ("\"t\":false", "\"t\":falsey"),
        ("\"t\":false", "\"t\":False"),
        ("\"y\":null", "\"y\":nul"),
        ("[1,{", "[1,,{"),
        ("[1,{", "[,1,{"),
        ("\"ok\"]", "\"ok\",]"),
        ("\"region\":\"eu\"", "\"region\":\"eu\",}"),
        ("\"region\":\"eu\"", "\"region\" \"eu\""),
        ("\"region\":\"eu\"", "\"region\":\"e\\u0075\""),
        ("\"region\":\"eu\"", "\"region\":\"e\\\"u\""),
        ("\"region\":\"eu\"", "\"region\":\"e\u{1}u\""),
        ("\"region\":\"eu\"", "\"region\":\"e\u{7f}u\""),
        ("\"region\":\"eu\"", "\"region\":\"e\\ud800u\""),
        ("\"region\":\"eu\"", "region:\"eu\""),
        ("\"region\":\"eu\"", "'region':'eu'"),
        ("\"iss\":", "\"\\u0069ss\":\"x\",\"iss\":"),
    ] {
        assert!(text.contains(from), "{from}");
        let changed = text.replacen(from, to, 1);
        let (single, two) = compare(&changed, 8);
        assert!(!single || two, "{changed}");
    }
}

#[test]
fn token_header_single_pass_agrees_with_the_two_passes() {
    let claims = claims_doc().to_string();
    let headers = [
        r#"{"alg":"EdDSA","typ":"agent-attestation+jwt","kid":"k1"}"#,
        r#"{"alg":"EdDSA","typ":"agent-attestation+jwt","kid":"k1","kid":"k2"}"#,
        r#"{"alg":"EdDSA","typ":"agent-attestation+jwt","k\u0069d":"k1"}"#,
        r#"{"alg":"EdDSA","typ":"agent-attestation+jwt"}"#,
        r#"{"alg":"EdDSA","typ":"agent-attestation+jwt","kid":"k1","jku":"x"}"#,
        r#"{"alg":"none","typ":"agent-attestation+jwt","kid":"k1"}"#,
        r#"{"alg":"EdDSA","typ":"JWT","kid":"k1"}"#,
        r#"{"alg":"EdDSA","typ":"agent-attestation+jwt","kid":null}"#,
        r#"{"alg":"EdDSA","typ":"agent-attestation+jwt","kid":"bad kid"}"#,
        r#"{"alg":"EdDSA","typ":"agent-attestation+jwt","kid":"k1"} x"#,
        r#"["alg"]"#,
    ];
    for depth in [0, 1, 8] {
        let policy = Policy::builder()
            .trusted_issuer("https://issuer.example")
            .audience("https://tools.example")
            .max_json_depth(depth)
            .build()
            .unwrap_or_else(|e| panic!("policy: {e}"));
        for header in headers {
            let single = dangerous::single_pass(header.as_bytes(), claims.as_bytes(), &policy);
            let two = dangerous::two_pass(header.into(), claims.clone().into(), &policy);
            match single {
                Ok(single) => assert_eq!(Ok(single), two, "{header} at depth {depth}"),
                // Escapes leave the single pass by design; nothing else valid may.
                Err(Bail) => assert!(
                    two.is_err() || depth < 5 || header.contains('\\'),
                    "{header}: a valid token must not leave the single pass"
                ),
            }
        }
    }
}

#[test]
fn proof_single_pass_agrees_with_the_two_passes() {
    let jwk = r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
    let headers = [
        r#"{"alg":"EdDSA","typ":"agent-proof+jwt"}"#.to_owned(),
        format!(r#"{{"alg":"EdDSA","typ":"agent-proof+jwt","jwk":{jwk}}}"#),
        format!(r#"{{"alg":"EdDSA","typ":"agent-proof+jwt","jwk":{jwk},"jwk":{jwk}}}"#),
        r#"{"alg":"EdDSA","typ":"agent-proof+jwt","jwk":{"kty":"OKP","kty":"OKP"}}"#.to_owned(),
        r#"{"alg":"EdDSA","typ":"agent-proof+jwt","jwk":{"kty":"OKP","o":{"p":{}}}}"#.to_owned(),
        r#"{"alg":"EdDSA","typ":"agent-proof+jwt","jwk":null}"#.to_owned(),
        r#"{"alg":"EdDSA","typ":"agent-proof+jwt","kid":"k"}"#.to_owned(),
        r#"{"alg":"EdDSA","alg":"EdDSA","typ":"agent-proof+jwt"}"#.to_owned(),
        r#"{"alg":"ES256","typ":"agent-proof+jwt"}"#.to_owned(),
        r#"{"alg":"EdDSA","typ":"JWT"}"#.to_owned(),
        r#"{"typ":"agent-proof+jwt"}"#.to_owned(),
    ];
    let (mut agreed, mut bailed) = (0, 0);
    for header in &headers {
        for payload in mutations(&proof_claims_doc()) {
            for depth in [0, 1, 2, 3, 4, 8] {
                let single = proof::single_pass(header.as_bytes(), payload.as_bytes(), depth);
                let two = proof::two_pass(header.clone().into(), payload.clone().into(), depth);
                match single {
                    Ok(single) => {
                        assert_eq!(Ok(single), two, "{header} {payload} at depth {depth}");
                        agreed += 1;
                    }
                    Err(Bail) => bailed += 1,
                }
            }
        }
    }
    assert!(
        agreed > 300 && bailed > 300,
        "{agreed} agreed, {bailed} bailed"
    );
    let payload = proof_claims_doc().to_string();
    for header in &headers[..2] {
        assert!(proof::single_pass(header.as_bytes(), payload.as_bytes(), 4).is_ok());
    }
}

/// `value` with every character a JSON string must escape removed from its strings and names.
fn without_escapes(value: Value) -> Value {
    let plain = |mut s: String| {
        s.retain(|c| c >= ' ' && c != '"' && c != '\\');
        s
    };
    match value {
        Value::String(s) => Value::String(plain(s)),
        Value::Array(items) => Value::Array(items.into_iter().map(without_escapes).collect()),
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(name, member)| (plain(name), without_escapes(member)))
                .collect(),
        ),
        other => other,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Random claim sets, compact and pretty-printed: the single pass returns what the two
    /// passes return, and gives up only on a string with an escape.
    #[test]
    fn single_pass_agrees_on_random_claim_sets(claims in crate::write_tests::claims()) {
        let value = serde_json::to_value(&claims).unwrap_or_default();
        let plain = without_escapes(value.clone());
        for value in [value, plain] {
            for text in [value.to_string(), serde_json::to_string_pretty(&value).unwrap_or_default()] {
                let (single, two) = compare(&text, 64);
                prop_assert!(single || !two || text.contains('\\'), "{}", text);
            }
        }
    }
}
