//! The single-pass parse against the two-pass parse it stands in for: on every document of a
//! corpus of valid claim sets, proofs and their mutations (wrong types, `null`s, duplicates,
//! escaped names, nesting at every cap), the single pass either gives up or returns exactly
//! what the two passes return; and on well-formed documents it does not give up.

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

#[test]
fn claims_single_pass_agrees_with_the_two_passes() {
    let (mut agreed, mut bailed) = (0, 0);
    for text in mutations(&claims_doc()) {
        for depth in 0..=8 {
            let two_pass = check_object(&text, depth)
                .ok()
                .and_then(|()| claims::parse(&text).ok());
            match strict::claims(&text, depth) {
                Ok(single) => {
                    assert_eq!(Some(&single), two_pass.as_ref(), "{text} at depth {depth}");
                    agreed += 1;
                }
                Err(Bail) => bailed += 1,
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
                Err(Bail) => assert!(
                    two.is_err() || depth < 5,
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
