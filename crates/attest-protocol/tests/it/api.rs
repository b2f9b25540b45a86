//! The public API beyond the fixtures: constructors, trust-level order, redaction, and the
//! precedence between carriers.

use attest_protocol::{
    Carrier, Carriers, ClientAttestation, EXTENSION_ID, LEGACY_KEY, Presented, ProtocolError,
    TrustLevel, Version, find_in_capabilities, find_in_capability_carriers, find_in_meta,
    find_in_params,
};
use serde_json::{Map, Value, json};

#[test]
fn trust_levels_compare_by_order_not_by_string() {
    assert!(TrustLevel::None < TrustLevel::Enterprise);
    assert!(TrustLevel::Enterprise < TrustLevel::Provider);
    // The original compared strings, where "none" > "enterprise".
    assert!(TrustLevel::None.as_str() > TrustLevel::Enterprise.as_str());
    for level in TrustLevel::ALL {
        assert_eq!(TrustLevel::from_wire(level.as_str()), Some(level));
        let json = serde_json::to_value(level).unwrap();
        assert_eq!(serde_json::from_value::<TrustLevel>(json).unwrap(), level);
    }
    assert_eq!(TrustLevel::from_wire("Provider"), None);
    assert_eq!(
        TrustLevel::for_type(attest_core::AttestationType::Enterprise),
        TrustLevel::Enterprise
    );
}

#[test]
fn debug_output_never_shows_the_token() {
    let attestation = ClientAttestation::new("eyJhbGciOi.secret-claims.signature").unwrap();
    let debug = format!("{attestation:?}");
    assert!(!debug.contains("secret-claims"), "{debug}");
    assert!(debug.contains("redacted"), "{debug}");
    let presented = find_in_capabilities(&caps(json!({
        "experimental": {"security.attestation": attestation.to_value()}
    })))
    .unwrap();
    assert!(!format!("{presented:?}").contains("secret-claims"));
}

#[test]
fn empty_tokens_cannot_be_built() {
    assert!(matches!(
        ClientAttestation::new(""),
        Err(ProtocolError::EmptyToken { .. })
    ));
    assert!(ClientAttestation::compact("").is_err());
}

#[test]
fn constructors_write_the_full_and_the_compact_objects() {
    assert_eq!(
        ClientAttestation::new("t").unwrap().to_value(),
        json!({"version": "0.1.0", "token": "t", "supported_algorithms": ["EdDSA"], "attestation_types": ["provider", "enterprise"]})
    );
    let compact = ClientAttestation::compact("t").unwrap();
    assert_eq!(
        compact.to_value(),
        json!({"version": "0.1.0", "token": "t"})
    );
    assert_eq!(compact.version(), Version::V0_1_0);
    assert_eq!(compact.supported_algorithms(), ["EdDSA"]);
    assert_eq!(compact.attestation_types(), ["provider", "enterprise"]);
}

#[test]
fn unknown_members_and_list_entries_are_kept() {
    // (`proof` was the example unknown member until key-bound attestation defined it.)
    let value = json!({"version": "0.1.0", "token": "t", "attestation_types": ["provider", "delegated"], "chain": {"x": 1}});
    let attestation = ClientAttestation::from_value(&value).unwrap();
    assert_eq!(attestation.attestation_types(), ["provider", "delegated"]);
    assert_eq!(attestation.extra()["chain"], json!({"x": 1}));
    assert_eq!(attestation.to_value(), value);
}

#[test]
fn proof_is_a_typed_member_read_strictly() {
    let value = json!({"version": "0.1.0", "token": "t", "proof": "p.q.r"});
    let attestation = ClientAttestation::from_value(&value).unwrap();
    assert_eq!(attestation.proof().map(|p| p.as_str()), Some("p.q.r"));
    assert!(attestation.extra().is_empty());
    assert_eq!(attestation.to_value(), value);
    assert_eq!(
        serde_json::to_value(&attestation).unwrap(),
        value,
        "serde writes the same object"
    );
    assert_eq!(
        ClientAttestation::compact("t")
            .unwrap()
            .with_proof("p.q.r")
            .unwrap(),
        attestation
    );
    for (bad, code) in [
        (
            json!({"version": "0.1.0", "token": "t", "proof": {"x": 1}}),
            "wrong_type",
        ),
        (
            json!({"version": "0.1.0", "token": "t", "proof": ""}),
            "empty_token",
        ),
    ] {
        let error = ClientAttestation::from_value(&bad).unwrap_err();
        assert_eq!(error.code(), code, "{bad}");
        assert_eq!(error.pointer(), Some("/proof"));
    }
}

#[test]
fn a_proof_only_object_carries_the_proof_and_no_attestation() {
    use attest_protocol::{find_with_proof_in_meta, insert_proof_into_meta};
    let mut meta = Map::new();
    insert_proof_into_meta(&mut meta, "p.q.r").unwrap();
    assert_eq!(
        Value::Object(meta.clone()),
        json!({"io.github.attest-rs/agent-attestation": {"version": "0.1.0", "proof": "p.q.r"}})
    );
    let found = find_with_proof_in_meta(&meta).unwrap();
    assert_eq!(found.attestation, Presented::Absent);
    assert_eq!(found.proof.unwrap().as_str(), "p.q.r");
    assert_eq!(find_in_meta(&meta).unwrap(), Presented::Absent);

    // Beside a compact attestation, the proof joins the object.
    let mut meta = Map::new();
    ClientAttestation::compact("t")
        .unwrap()
        .insert_into_meta(&mut meta);
    insert_proof_into_meta(&mut meta, "p.q.r").unwrap();
    let found = find_with_proof_in_meta(&meta).unwrap();
    assert_eq!(
        found.attestation.attestation().unwrap().token().as_str(),
        "t"
    );
    assert_eq!(found.proof.unwrap().as_str(), "p.q.r");
    assert!(insert_proof_into_meta(&mut meta, "").is_err());
}

#[test]
fn precedence_is_meta_then_extensions_then_experimental() {
    let same = json!({"version": "0.1.0", "token": "same"});
    let meta = caps(json!({
        "io.github.attest-rs/agent-attestation": same,
        "io.modelcontextprotocol/clientCapabilities": {
            "extensions": {"io.github.attest-rs/agent-attestation": same},
            "experimental": {"security.attestation": same},
        },
    }));
    assert!(matches!(
        find_in_meta(&meta).unwrap(),
        Presented::Present {
            carrier: Carrier::Meta,
            ..
        }
    ));
    let capabilities = caps(json!({
        "extensions": {"io.github.attest-rs/agent-attestation": same},
        "experimental": {"security.attestation": same},
    }));
    assert!(matches!(
        find_in_capabilities(&capabilities).unwrap(),
        Presented::Present {
            carrier: Carrier::Extensions,
            ..
        }
    ));
    let capabilities = caps(json!({"experimental": {"security.attestation": same}}));
    assert!(matches!(
        find_in_capabilities(&capabilities).unwrap(),
        Presented::Present {
            carrier: Carrier::Experimental,
            ..
        }
    ));
}

#[test]
fn same_token_with_different_lists_is_not_a_conflict() {
    let capabilities = caps(json!({
        "extensions": {"io.github.attest-rs/agent-attestation": {"version": "0.1.0", "token": "t"}},
        "experimental": {"security.attestation": {"version": "0.1.0", "token": "t", "supported_algorithms": ["EdDSA", "Ed25519"]}},
    }));
    assert!(find_in_capabilities(&capabilities).is_ok());
}

#[test]
fn writing_into_a_malformed_container_fails_instead_of_overwriting() {
    let mut capabilities = caps(json!({"experimental": "oops"}));
    let error = ClientAttestation::new("t")
        .unwrap()
        .insert_into_capabilities(&mut capabilities, Carriers::Both)
        .unwrap_err();
    assert_eq!(error.pointer(), Some("/experimental"));
    // A null container is replaced, as if absent.
    let mut capabilities = caps(json!({"experimental": null}));
    ClientAttestation::new("t")
        .unwrap()
        .insert_into_capabilities(&mut capabilities, Carriers::Experimental)
        .unwrap();
    assert!(matches!(
        find_in_params(Some(&json!({"capabilities": capabilities}))).unwrap(),
        Presented::Present {
            carrier: Carrier::Experimental,
            ..
        }
    ));
}

/// `find_in_capability_carriers`, which servers use on capabilities an SDK has typed, decides
/// exactly as `find_in_capabilities` does on the same capabilities as JSON: the same carrier,
/// the same attestation, or the same error at the same pointer.
#[test]
fn typed_carriers_are_read_as_the_json_capabilities_are() {
    let object = json!({"version": "0.1.0", "token": "t"});
    let cases = [
        json!({}),
        json!({"extensions": {}, "experimental": {"other": {}}}),
        json!({"extensions": {EXTENSION_ID: object}}),
        json!({"experimental": {LEGACY_KEY: object}}),
        json!({"extensions": {EXTENSION_ID: object}, "experimental": {LEGACY_KEY: object}}),
        json!({"extensions": {EXTENSION_ID: object},
               "experimental": {LEGACY_KEY: {"version": "0.1.0", "token": "t", "attestation_types": ["provider"]}}}),
        json!({"extensions": {EXTENSION_ID: object},
               "experimental": {LEGACY_KEY: {"version": "0.1.0", "token": "other"}}}),
        json!({"extensions": {EXTENSION_ID: {"version": "0.1.0"}}, "experimental": {LEGACY_KEY: object}}),
        json!({"extensions": {EXTENSION_ID: object}, "experimental": {LEGACY_KEY: {"version": "0.1.0", "token": ""}}}),
        json!({"experimental": {LEGACY_KEY: {"version": "9.9.9", "token": "t"}}}),
        json!({"experimental": {LEGACY_KEY: {"version": 1, "token": "t"}}}),
        json!({"extensions": {EXTENSION_ID: {"version": "0.1.0", "token": "t", "supported_algorithms": "EdDSA"}}}),
        json!({"extensions": {EXTENSION_ID: {"version": "0.1.0", "token": "t", "attestation_types": [1]}}}),
        json!({"extensions": {EXTENSION_ID: {"version": "0.1.0", "token": "t", "proof": ""}}}),
        json!({"extensions": {EXTENSION_ID: {"version": "0.1.0", "token": "t", "proof": "p", "x": [1]}}}),
    ];
    let (mut present, mut refused) = (0, 0);
    for case in cases {
        let carrier = |container: &str, key: &str| case.get(container)?.get(key)?.as_object();
        let typed = find_in_capability_carriers(
            carrier("extensions", EXTENSION_ID),
            carrier("experimental", LEGACY_KEY),
        );
        let json = find_in_capabilities(case.as_object().unwrap());
        match (typed, json) {
            (Ok(typed), Ok(json)) => {
                present += usize::from(typed.attestation().is_some());
                assert_eq!(typed, json, "{case}");
            }
            (Err(typed), Err(json)) => {
                refused += 1;
                assert_eq!(typed.to_string(), json.to_string(), "{case}");
                assert_eq!(typed.pointer(), json.pointer(), "{case}");
            }
            (typed, json) => panic!("{case}: typed {typed:?}, JSON {json:?}"),
        }
    }
    assert_eq!((present, refused), (5, 8));
}

fn caps(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}
