//! The golden fixtures of testvectors/protocol: each message reads as expected, and every
//! attestation object in it round-trips (parse → write → equal JSON).

use attest_core::Reason;
use attest_protocol::{
    AttestationError, Carriers, ClientAttestation, Enforcement, JsonRpcError, Presented,
    ServerAdvertisement, TrustLevel, VerificationResult, error_code, find_in_params,
    legacy_error_code,
};
use serde_json::{Map, Value, json};

use crate::common::{self, at};

#[test]
fn fixture_token_is_what_attest_core_mints_and_it_verifies() {
    let token = common::fixture_token();
    let fixture = common::load("request-meta.json");
    assert_eq!(
        fixture["expect"]["token"],
        json!(token),
        "the fixture token has drifted"
    );
    let (trust, policy) = common::verifier();
    attest_core::verify(&token, &trust, &policy, common::NOW).unwrap();
}

#[test]
fn every_kind_of_message_has_a_fixture() {
    let kinds: Vec<String> = common::message_fixtures()
        .iter()
        .map(|(_, f)| f["kind"].as_str().unwrap().to_owned())
        .collect();
    for kind in ["client_request", "server_capabilities", "response_meta"] {
        assert!(kinds.iter().any(|k| k == kind), "no fixture of kind {kind}");
    }
    assert!(common::message_fixtures().len() >= 14);
}

#[test]
fn every_message_fixture_reads_as_expected_and_round_trips() {
    let token = common::fixture_token();
    for (name, fixture) in common::message_fixtures() {
        let message = &fixture["message"];
        let expect = &fixture["expect"];
        match fixture["kind"].as_str().unwrap() {
            "client_request" => check_client_request(&name, message, expect, &token),
            "server_capabilities" => check_server(&name, message, expect),
            "response_meta" => check_response_meta(&name, message, expect),
            other => panic!("{name}: unknown kind {other}"),
        }
        for pointer in expect["objects"].as_array().unwrap() {
            round_trip(
                &name,
                fixture["kind"].as_str().unwrap(),
                at(message, pointer.as_str().unwrap(), &name),
            );
        }
    }
}

fn check_client_request(name: &str, message: &Value, expect: &Value, token: &str) {
    let found = find_in_params(message.get("params")).unwrap_or_else(|e| panic!("{name}: {e}"));
    match (expect["presented"].as_str().unwrap(), found) {
        ("absent", Presented::Absent) => {}
        (
            "present",
            Presented::Present {
                attestation,
                carrier,
                pointer,
            },
        ) => {
            assert_eq!(carrier.as_str(), expect["carrier"], "{name}");
            assert_eq!(pointer, expect["pointer"].as_str().unwrap(), "{name}");
            assert_eq!(attestation.token().as_str(), expect["token"], "{name}");
            assert_eq!(attestation.token().as_str(), token, "{name}");
            for list in ["supported_algorithms", "attestation_types"] {
                if let Some(want) = expect.get(list) {
                    let got = match list {
                        "supported_algorithms" => attestation.supported_algorithms(),
                        _ => attestation.attestation_types(),
                    };
                    assert_eq!(json!(got), *want, "{name}: {list}");
                }
            }
        }
        (want, got) => panic!("{name}: expected {want}, got {got:?}"),
    }
}

fn check_server(name: &str, message: &Value, expect: &Value) {
    let capabilities = at(message, expect["capabilities"].as_str().unwrap(), name);
    let (advertisement, carrier) =
        ServerAdvertisement::find_in_capabilities(capabilities.as_object().unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap_or_else(|| panic!("{name}: no advertisement"));
    assert_eq!(carrier.as_str(), expect["carrier"], "{name}");
    assert_eq!(advertisement.policy.as_str(), expect["policy"], "{name}");
    check_result(name, advertisement.result.as_ref(), expect);
}

fn check_response_meta(name: &str, message: &Value, expect: &Value) {
    let meta = at(message, expect["meta"].as_str().unwrap(), name);
    let result = VerificationResult::find_in_meta(meta.as_object().unwrap())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(result.is_some(), "{name}: no result");
    check_result(name, result.as_ref(), expect);
}

fn check_result(name: &str, result: Option<&VerificationResult>, expect: &Value) {
    let Some(status) = expect.get("verification_status") else {
        assert_eq!(result, None, "{name}");
        return;
    };
    let result = result.unwrap_or_else(|| panic!("{name}: no verification result"));
    assert_eq!(result.status(), status, "{name}");
    assert_eq!(
        result.trust_level().as_str(),
        expect["trust_level"],
        "{name}"
    );
    match (result, expect.get("reason")) {
        (VerificationResult::Failed { reason }, Some(want)) => assert_eq!(reason.as_str(), want),
        (VerificationResult::Failed { .. }, None) => panic!("{name}: unexpected reason"),
        (_, Some(_)) => panic!("{name}: reason expected"),
        (_, None) => {}
    }
}

/// Parse → write → equal JSON, through the strict reader and through serde.
fn round_trip(name: &str, kind: &str, object: &Value) {
    let (strict, via_serde) = match kind {
        "client_request" => (
            ClientAttestation::from_value(object).unwrap().to_value(),
            serde_json::to_value(
                serde_json::from_value::<ClientAttestation>(object.clone()).unwrap(),
            )
            .unwrap(),
        ),
        "server_capabilities" => (
            ServerAdvertisement::from_value(object).unwrap().to_value(),
            serde_json::to_value(
                serde_json::from_value::<ServerAdvertisement>(object.clone()).unwrap(),
            )
            .unwrap(),
        ),
        "response_meta" => (
            VerificationResult::from_value(object).unwrap().to_value(),
            serde_json::to_value(
                serde_json::from_value::<VerificationResult>(object.clone()).unwrap(),
            )
            .unwrap(),
        ),
        other => panic!("{name}: unknown kind {other}"),
    };
    assert_eq!(&strict, object, "{name}: strict round trip");
    assert_eq!(&via_serde, object, "{name}: serde round trip");
}

#[test]
fn writers_rebuild_the_fixture_messages_exactly() {
    let token = common::fixture_token();

    // initialize with both carriers: from empty capabilities.
    let fixture = common::load("initialize-request-both.json");
    let mut capabilities = Map::new();
    ClientAttestation::new(&*token)
        .unwrap()
        .insert_into_capabilities(&mut capabilities, Carriers::Both)
        .unwrap();
    assert_eq!(
        Value::Object(capabilities),
        fixture["message"]["params"]["capabilities"]
    );

    // initialize the way the original does: experimental only, on top of other capabilities.
    let fixture = common::load("initialize-request-experimental.json");
    let mut capabilities = json!({"roots": {"listChanged": true}})
        .as_object()
        .unwrap()
        .clone();
    ClientAttestation::new(&*token)
        .unwrap()
        .insert_into_capabilities(&mut capabilities, Carriers::Experimental)
        .unwrap();
    assert_eq!(
        Value::Object(capabilities),
        fixture["message"]["params"]["capabilities"]
    );

    // 2026-07-28: the compact object in _meta, beside the SDK's own keys.
    let fixture = common::load("request-meta.json");
    let mut meta = fixture["message"]["params"]["_meta"]
        .as_object()
        .unwrap()
        .clone();
    meta.remove(attest_protocol::EXTENSION_ID);
    ClientAttestation::compact(&*token)
        .unwrap()
        .insert_into_meta(&mut meta);
    assert_eq!(Value::Object(meta), fixture["message"]["params"]["_meta"]);

    // The verified initialize result.
    let fixture = common::load("initialize-result-verified.json");
    let mut capabilities = json!({"tools": {"listChanged": false}})
        .as_object()
        .unwrap()
        .clone();
    let mut advertisement = ServerAdvertisement::new(Enforcement::Required);
    advertisement.trusted_issuers = vec![common::ISSUER.into()];
    advertisement.required_claims = vec!["agent_identity".into(), "attestation_metadata".into()];
    advertisement.result = Some(VerificationResult::Verified {
        trust_level: TrustLevel::Provider,
        verified_claims: vec!["agent_identity".into(), "attestation_metadata".into()],
    });
    advertisement
        .insert_into_capabilities(&mut capabilities, Carriers::Both)
        .unwrap();
    assert_eq!(
        Value::Object(capabilities),
        fixture["message"]["result"]["capabilities"]
    );

    // The failed result in a 2026-07-28 response's _meta.
    let fixture = common::load("response-meta-failed.json");
    let mut meta = Map::new();
    VerificationResult::Failed {
        reason: Reason::Replay,
    }
    .insert_into_meta(&mut meta);
    assert_eq!(Value::Object(meta), fixture["message"]["result"]["_meta"]);
}

#[test]
fn error_fixtures_cover_every_reason_and_round_trip() {
    let fixture = common::load("errors.json");
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), Reason::ALL.len());
    for (case, reason) in cases.iter().zip(Reason::ALL) {
        assert_eq!(case["reason"], reason.as_str());
        assert_eq!(case["code"], error_code(reason));
        assert_eq!(case["legacy_code"], legacy_error_code(reason));
        let wire = &case["message"]["error"];
        let parsed: JsonRpcError = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), *wire, "{reason}");
        let error = AttestationError::from_json_rpc(&parsed).unwrap();
        assert_eq!(error.reason, reason);
        assert_eq!(error.policy, Enforcement::Required);
        let rebuilt = AttestationError::new(reason, Enforcement::Required, [common::ISSUER]);
        assert_eq!(
            serde_json::to_value(rebuilt.to_json_rpc()).unwrap(),
            *wire,
            "{reason}"
        );
    }
}
