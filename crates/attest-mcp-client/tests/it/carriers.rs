//! The capability and `_meta` helpers write what attest-protocol's finders read back.

use attest_mcp_client::{
    Carriers, ClientAttestation, StaticToken, attest_capabilities, attest_client_config,
    attest_request_meta, attested_client_config,
};
use attest_protocol::{Carrier, Presented, find_in_capabilities, find_in_meta};
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, RequestMetaObject};
use serde_json::{Value, json};

const TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.e30.c2ln";

fn as_object(value: &impl serde::Serialize) -> serde_json::Map<String, Value> {
    match serde_json::to_value(value).unwrap() {
        Value::Object(object) => object,
        other => panic!("not an object: {other}"),
    }
}

fn present(presented: Presented) -> (ClientAttestation, Carrier) {
    match presented {
        Presented::Present {
            attestation,
            carrier,
            ..
        } => (attestation, carrier),
        Presented::Absent => panic!("absent"),
    }
}

#[test]
fn capabilities_carry_the_full_object_under_both_carriers() {
    let mut capabilities = ClientCapabilities::builder().enable_elicitation().build();
    let attestation = ClientAttestation::new(TOKEN).unwrap();
    attest_capabilities(&mut capabilities, &attestation, Carriers::Both).unwrap();

    let wire = as_object(&capabilities);
    let (found, carrier) = present(find_in_capabilities(&wire).unwrap());
    assert_eq!(found.token().as_str(), TOKEN);
    assert_eq!(carrier, Carrier::Extensions, "extensions takes precedence");
    let full = json!({"version": "0.1.0", "token": TOKEN, "supported_algorithms": ["EdDSA"], "attestation_types": ["provider", "enterprise"]});
    assert_eq!(
        wire["extensions"]["io.github.attest-rs/agent-attestation"],
        full
    );
    assert_eq!(wire["experimental"]["security.attestation"], full);
    assert!(
        wire.contains_key("elicitation"),
        "other capabilities are kept"
    );
}

#[test]
fn capabilities_carry_only_the_chosen_carrier() {
    let attestation = ClientAttestation::new(TOKEN).unwrap();
    let mut legacy = ClientCapabilities::default();
    attest_capabilities(&mut legacy, &attestation, Carriers::Experimental).unwrap();
    let wire = as_object(&legacy);
    assert!(!wire.contains_key("extensions"));
    assert_eq!(
        present(find_in_capabilities(&wire).unwrap()).1,
        Carrier::Experimental
    );

    let mut modern = ClientCapabilities::default();
    attest_capabilities(&mut modern, &attestation, Carriers::Extensions).unwrap();
    let wire = as_object(&modern);
    assert!(!wire.contains_key("experimental"));
    assert_eq!(
        present(find_in_capabilities(&wire).unwrap()).1,
        Carrier::Extensions
    );
}

#[test]
fn existing_experimental_entries_are_kept() {
    let mut capabilities = ClientCapabilities::default();
    let mut experimental = std::collections::BTreeMap::new();
    experimental.insert("vendor.feature".to_owned(), serde_json::Map::new());
    capabilities.experimental = Some(experimental);
    let attestation = ClientAttestation::new(TOKEN).unwrap();
    attest_capabilities(&mut capabilities, &attestation, Carriers::Both).unwrap();
    let experimental = capabilities.experimental.unwrap();
    assert!(experimental.contains_key("vendor.feature"));
    assert!(experimental.contains_key("security.attestation"));
}

#[test]
fn request_meta_carries_the_compact_object() {
    let mut meta = RequestMetaObject::new();
    meta.set_progress_token(rmcp::model::ProgressToken(
        rmcp::model::NumberOrString::Number(1),
    ));
    attest_request_meta(&mut meta, &ClientAttestation::compact(TOKEN).unwrap());

    let wire = as_object(&meta);
    assert_eq!(
        wire["io.github.attest-rs/agent-attestation"],
        json!({"version": "0.1.0", "token": TOKEN})
    );
    assert!(wire.contains_key("progressToken"));
    let (found, carrier) = present(find_in_meta(&wire).unwrap());
    assert_eq!(found.token().as_str(), TOKEN);
    assert_eq!(carrier, Carrier::Meta);

    // A plain serde_json map works too.
    let mut map = serde_json::Map::new();
    attest_request_meta(&mut map, &ClientAttestation::compact(TOKEN).unwrap());
    assert_eq!(
        present(find_in_meta(&map).unwrap()).0.token().as_str(),
        TOKEN
    );
}

#[tokio::test]
async fn attested_client_config_carries_the_source_token_compact_in_both_carriers() {
    let source = StaticToken::new(TOKEN).unwrap();
    let config = attested_client_config(&source, "https://tools.example")
        .await
        .unwrap();
    assert_eq!(config.client_info.name, "attest-mcp-client");
    let wire = as_object(&config.capabilities);
    assert_eq!(
        present(find_in_capabilities(&wire).unwrap())
            .0
            .token()
            .as_str(),
        TOKEN
    );
    let compact = json!({"version": "0.1.0", "token": TOKEN});
    assert_eq!(
        wire["extensions"]["io.github.attest-rs/agent-attestation"],
        compact
    );
    assert_eq!(wire["experimental"]["security.attestation"], compact);

    let mut own = ClientConfig::new(
        ClientCapabilities::builder().enable_elicitation().build(),
        Implementation::new("my-agent", "1.2.3"),
    );
    attest_client_config(&mut own, &source, "https://tools.example")
        .await
        .unwrap();
    assert_eq!(own.client_info.name, "my-agent");
    assert!(own.capabilities.elicitation.is_some());
    let wire = as_object(&own.capabilities);
    assert_eq!(
        present(find_in_capabilities(&wire).unwrap())
            .0
            .token()
            .as_str(),
        TOKEN
    );
}
