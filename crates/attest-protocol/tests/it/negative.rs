//! The negative fixtures: every malformed carrier is refused with its specific typed error.

use attest_protocol::{
    AttestationError, JsonRpcError, ProtocolError, ServerAdvertisement, VerificationResult,
    find_in_capabilities, find_in_meta, find_in_params,
};
use serde_json::Value;

use crate::common;

/// Runs the reader named by `find` on `input`, keeping only the error.
fn read(find: &str, input: &Value) -> Result<(), ProtocolError> {
    let object = || {
        input
            .as_object()
            .expect("input must be an object for this reader")
    };
    match find {
        "params" => find_in_params(Some(input)).map(drop),
        "capabilities" => find_in_capabilities(object()).map(drop),
        "meta" => find_in_meta(object()).map(drop),
        "server_capabilities" => ServerAdvertisement::find_in_capabilities(object()).map(drop),
        "response_meta" => VerificationResult::find_in_meta(object()).map(drop),
        "error" => {
            let error: JsonRpcError = serde_json::from_value(input.clone()).unwrap();
            AttestationError::from_json_rpc(&error).map(drop)
        }
        other => panic!("unknown reader {other}"),
    }
}

#[test]
fn every_negative_fixture_is_refused_with_its_error() {
    let fixture = common::load("negative.json");
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 40, "negative fixtures went missing");
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let expect = &case["error"];
        let error = match read(case["find"].as_str().unwrap(), &case["input"]) {
            Ok(()) => panic!("{name}: accepted"),
            Err(error) => error,
        };
        assert_eq!(error.code(), expect["code"], "{name}: {error}");
        if let Some(pointer) = expect.get("pointer") {
            assert_eq!(error.pointer(), pointer.as_str(), "{name}: {error}");
        }
        match (&error, expect.get("member"), expect.get("first")) {
            (ProtocolError::MissingMember { member, .. }, Some(want), _) => {
                assert_eq!(*member, want.as_str().unwrap(), "{name}")
            }
            (ProtocolError::Conflict { first, .. }, _, Some(want)) => {
                assert_eq!(first, want.as_str().unwrap(), "{name}")
            }
            (ProtocolError::MissingMember { .. } | ProtocolError::Conflict { .. }, _, _) => {
                panic!("{name}: the fixture must name the member or the first carrier")
            }
            _ => {}
        }
        assert_eq!(error.reason(), attest_core::Reason::Malformed);
    }
}

#[test]
fn absent_and_null_containers_are_absent_not_errors() {
    use serde_json::json;
    for params in [
        json!({}),
        json!({"_meta": null, "capabilities": null}),
        json!({"capabilities": {"experimental": null, "extensions": null}}),
        json!({"_meta": {"io.modelcontextprotocol/clientCapabilities": null}}),
        json!({"capabilities": {"experimental": {"other": {}}, "extensions": {"x.y/z": {}}}}),
    ] {
        assert_eq!(
            find_in_params(Some(&params)),
            Ok(attest_protocol::Presented::Absent),
            "{params}"
        );
    }
    assert_eq!(find_in_params(None), Ok(attest_protocol::Presented::Absent));
    assert_eq!(
        find_in_params(Some(&Value::Null)),
        Ok(attest_protocol::Presented::Absent)
    );
}

#[test]
fn hostile_values_are_clipped_in_errors() {
    let version = "9".repeat(10_000);
    let params = serde_json::json!({"capabilities": {"experimental": {"security.attestation": {"version": version, "token": "t"}}}});
    match find_in_params(Some(&params)) {
        Err(ProtocolError::UnknownVersion { version, .. }) => assert!(version.len() < 100),
        other => panic!("{other:?}"),
    }
}

#[test]
fn arbitrary_json_never_panics() {
    // A small deterministic walk over shapes: every reader must answer, never panic.
    let leaves = [
        Value::Null,
        Value::Bool(true),
        serde_json::json!(0),
        serde_json::json!("s"),
        serde_json::json!([]),
        serde_json::json!({}),
        serde_json::json!({"version": "0.1.0", "token": "t"}),
        serde_json::json!({"version": "0.1.0", "policy": "required"}),
    ];
    let keys = [
        attest_protocol::EXTENSION_ID,
        attest_protocol::LEGACY_KEY,
        attest_protocol::CLIENT_CAPABILITIES_META_KEY,
        "extensions",
        "experimental",
        "capabilities",
        "_meta",
        "verification_status",
    ];
    let mut shapes: Vec<Value> = leaves.to_vec();
    for _ in 0..2 {
        let mut next = Vec::new();
        for key in keys {
            for shape in &shapes {
                next.push(serde_json::json!({ key: shape }));
            }
        }
        shapes.extend(next);
    }
    for shape in &shapes {
        let _ = find_in_params(Some(shape));
        if let Some(object) = shape.as_object() {
            let _ = find_in_capabilities(object);
            let _ = find_in_meta(object);
            let _ = ServerAdvertisement::find_in_capabilities(object);
            let _ = VerificationResult::find_in_meta(object);
        }
        let _ = VerificationResult::from_value(shape);
        let _ = ServerAdvertisement::from_value(shape);
        let _ = attest_protocol::ClientAttestation::from_value(shape);
    }
}
