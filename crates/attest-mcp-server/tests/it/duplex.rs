//! Protocol versions with `initialize`, over an in-process duplex: a real rmcp client presents
//! the attestation in its capabilities, and a real rmcp server wrapped in `AttestingServer`
//! decides.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use attest_mcp_server::Enforcement;
use attest_protocol::{Carriers, ClientAttestation};
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{ClientInitializeError, RoleClient, RunningService};
use rmcp::{ServiceExt, model::ErrorData};
use serde_json::{Map, Value, json};

use crate::common::{self, Whoami};

/// Client capabilities carrying `token` in the given carriers.
fn capabilities(token: &str, carriers: Carriers) -> ClientCapabilities {
    let mut caps = Map::new();
    ClientAttestation::new(token)
        .unwrap()
        .insert_into_capabilities(&mut caps, carriers)
        .unwrap();
    serde_json::from_value(Value::Object(caps)).unwrap()
}

/// Connects a client with `capabilities` to a fresh session of `gate`'s server.
async fn connect(
    gate: &attest_mcp_server::AttestationGate,
    handler: Whoami,
    capabilities: ClientCapabilities,
) -> Result<RunningService<RoleClient, ClientConfig>, ClientInitializeError> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = gate.wrap(handler);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    ClientConfig::new(capabilities, Implementation::default())
        .serve(client_io)
        .await
}

async fn whoami(client: &RunningService<RoleClient, ClientConfig>) -> String {
    let result = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap();
    common::text(&result)
}

fn refusal_reason(error: ClientInitializeError) -> String {
    match error {
        ClientInitializeError::JsonRpcError(ErrorData { data, code, .. }) => {
            let data = data.unwrap_or(Value::Null);
            let reason = data["reason"].as_str().unwrap_or_default().to_owned();
            // One code per reason, outside the reserved JSON-RPC range (SPEC.md §11).
            assert_eq!(
                code.0,
                attest_protocol::error_code(attest_core::Reason::from_wire(&reason).unwrap())
            );
            reason
        }
        other => panic!("expected a JSON-RPC refusal, got {other}"),
    }
}

#[tokio::test]
async fn a_valid_token_in_either_carrier_is_verified_and_reaches_the_tool() {
    for carriers in [Carriers::Experimental, Carriers::Extensions, Carriers::Both] {
        let gate = common::gate(Enforcement::Required, None);
        let client = connect(
            &gate,
            Whoami::default(),
            capabilities(&common::token(), carriers),
        )
        .await
        .unwrap();
        assert_eq!(
            whoami(&client).await,
            "verified claude sonnet-4 https://issuer.example trust=provider"
        );
        // The server reports the outcome in its capabilities, in both carriers.
        let info = client.peer_info().unwrap();
        let reported = serde_json::to_value(&info.capabilities).unwrap();
        for carrier in [
            &reported["experimental"]["security.attestation"],
            &reported["extensions"][attest_protocol::EXTENSION_ID],
        ] {
            assert_eq!(carrier["verification_status"], "verified");
            assert_eq!(carrier["trust_level"], "provider");
            assert_eq!(carrier["policy"], "required");
        }
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn missing_token_is_refused_under_required_and_served_otherwise() {
    let handler = Whoami::default();
    let gate = common::gate(Enforcement::Required, None);
    let error = connect(&gate, handler.clone(), ClientCapabilities::default())
        .await
        .unwrap_err();
    assert_eq!(refusal_reason(error), "attestation_required");
    assert_eq!(handler.calls.load(Ordering::SeqCst), 0);

    for enforcement in [Enforcement::Preferred, Enforcement::Optional] {
        let gate = common::gate(enforcement, None);
        let client = connect(&gate, Whoami::default(), ClientCapabilities::default())
            .await
            .unwrap();
        assert_eq!(whoami(&client).await, "absent", "{enforcement:?}");
        let reported = serde_json::to_value(&client.peer_info().unwrap().capabilities).unwrap();
        assert_eq!(
            reported["experimental"]["security.attestation"]["verification_status"],
            "absent"
        );
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn bad_tokens_are_refused_with_their_reason_under_required() {
    for (name, token, reason) in common::bad_tokens() {
        let handler = Whoami::default();
        let gate = common::gate(Enforcement::Required, None);
        let error = connect(&gate, handler.clone(), capabilities(&token, Carriers::Both))
            .await
            .unwrap_err();
        assert_eq!(refusal_reason(error), reason, "{name}");
        assert_eq!(handler.calls.load(Ordering::SeqCst), 0, "{name}");
    }
}

#[tokio::test]
async fn bad_tokens_are_served_as_failed_under_preferred() {
    for (name, token, reason) in common::bad_tokens() {
        let gate = common::gate(Enforcement::Preferred, None);
        let client = connect(
            &gate,
            Whoami::default(),
            capabilities(&token, Carriers::Both),
        )
        .await
        .unwrap();
        assert_eq!(whoami(&client).await, format!("failed {reason}"), "{name}");
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn a_token_binds_one_session_a_second_session_is_a_replay() {
    let gate = common::gate(Enforcement::Required, None);
    let token = common::token();
    let first = connect(
        &gate,
        Whoami::default(),
        capabilities(&token, Carriers::Both),
    )
    .await
    .unwrap();
    assert!(whoami(&first).await.starts_with("verified"));
    let error = connect(
        &gate,
        Whoami::default(),
        capabilities(&token, Carriers::Both),
    )
    .await
    .unwrap_err();
    assert_eq!(refusal_reason(error), "attestation_replay");
    // The first session keeps working: its binding is its own.
    assert!(whoami(&first).await.starts_with("verified"));
    first.cancel().await.unwrap();
}

#[tokio::test]
async fn a_replay_is_refused_across_two_servers_sharing_one_redis() {
    let redis = attest_testkit::redis::redis().expect("Redis is required for this test");
    let prefix = format!("attest-test-{}", std::process::id());
    let store = || -> Arc<dyn attest_cache::ReplayStore> {
        let config = attest_cache::RedisConfig::from_url(redis.url())
            .unwrap()
            .key_prefix(&prefix)
            .unwrap();
        Arc::new(attest_cache::RedisReplayStore::new(config).unwrap())
    };
    let (replica_a, replica_b) = (
        common::gate(Enforcement::Required, Some(store())),
        common::gate(Enforcement::Required, Some(store())),
    );
    let token = common::token();
    let client = connect(
        &replica_a,
        Whoami::default(),
        capabilities(&token, Carriers::Both),
    )
    .await
    .unwrap();
    assert!(whoami(&client).await.starts_with("verified"));
    let error = connect(
        &replica_b,
        Whoami::default(),
        capabilities(&token, Carriers::Both),
    )
    .await
    .unwrap_err();
    assert_eq!(refusal_reason(error), "attestation_replay");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_malformed_carrier_is_refused_not_skipped() {
    // A token that is a number, in the legacy carrier, next to a valid extension carrier.
    let mut caps = Map::new();
    ClientAttestation::new(common::token())
        .unwrap()
        .insert_into_capabilities(&mut caps, Carriers::Extensions)
        .unwrap();
    caps.insert(
        "experimental".into(),
        json!({"security.attestation": {"version": "0.1.0", "token": 42}}),
    );
    let caps: ClientCapabilities = serde_json::from_value(Value::Object(caps)).unwrap();
    let gate = common::gate(Enforcement::Required, None);
    let error = connect(&gate, Whoami::default(), caps).await.unwrap_err();
    assert_eq!(refusal_reason(error), "attestation_malformed");
}

#[tokio::test]
async fn an_expired_session_binding_must_reinitialize() {
    use attest_cache::ManualClock;
    let clock = ManualClock::new(common::now());
    let verifier = attest_mcp_server::Verifier::builder(common::policy())
        .keys(common::trust())
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let gate = attest_mcp_server::AttestationGate::new(verifier, Enforcement::Required);
    let client = connect(
        &gate,
        Whoami::default(),
        capabilities(&common::token(), Carriers::Both),
    )
    .await
    .unwrap();
    assert!(whoami(&client).await.starts_with("verified"));
    // 300 s lifetime plus 30 s leeway later, the binding no longer admits requests.
    clock.set(attest_core::UnixTime::from_secs(
        common::now().as_secs() + 331,
    ));
    let error = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap_err();
    let rmcp::ServiceError::McpError(error) = error else {
        panic!("{error}")
    };
    assert_eq!(error.data.unwrap()["reason"], "attestation_expired");
    client.cancel().await.unwrap();
}
