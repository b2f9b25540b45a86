//! Streamable HTTP on 127.0.0.1: the `initialize` generation through rmcp's HTTP client, and
//! protocol 2026-07-28 as raw POSTs without any `initialize`, the way a stateless client (or an
//! attacker) sends them.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use attest_mcp_server::{AttestationGate, Enforcement};
use attest_protocol::{Carriers, ClientAttestation, EXTENSION_ID};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Map, Value, json};

use crate::common::{self, Whoami};

/// Serves `gate` over HTTP on a free loopback port.
async fn serve(gate: AttestationGate, handler: Whoami) -> SocketAddr {
    let app = attest_mcp_server::http::router(move || handler.clone(), gate);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// `_meta` of a 2026-07-28 request, with `attestation` placed directly when given.
fn meta(attestation: Option<Value>) -> Value {
    let mut meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw-client", "version": "1.0.0"},
    });
    if let Some(attestation) = attestation {
        meta[EXTENSION_ID] = attestation;
    }
    meta
}

/// POSTs one stateless `tools/call` of `whoami` with `meta`, and returns the JSON-RPC message.
async fn call(addr: SocketAddr, meta: Value) -> Value {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}, "_meta": meta},
    });
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        // SEP-2243: a 2026-07-28 request names its method and tool in headers too.
        .header("mcp-method", "tools/call")
        .header("mcp-name", "whoami")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    // The answer may come as JSON or as one SSE event.
    let json = text
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .unwrap_or(&text)
        .trim();
    serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {text}"))
}

fn tool_text(message: &Value) -> String {
    let content = message["result"]["content"]
        .as_array()
        .unwrap_or_else(|| panic!("not a result: {message}"));
    content.iter().filter_map(|c| c["text"].as_str()).collect()
}

fn compact(token: &str) -> Value {
    ClientAttestation::compact(token).unwrap().to_value()
}

#[tokio::test]
async fn regression_stateless_tools_call_without_attestation_is_refused() {
    // One POST of tools/call, protocol 2026-07-28, no attestation, no initialize: rmcp serves
    // such requests statelessly, so a server that checked only `initialize` would run the tool.
    let handler = Whoami::default();
    let addr = serve(common::gate(Enforcement::Required, None), handler.clone()).await;
    let message = call(addr, meta(None)).await;
    assert_eq!(
        common::reason_of(&message["error"]),
        "attestation_required",
        "{message}"
    );
    assert_eq!(message["error"]["code"], -31001);
    assert_eq!(
        message["error"]["data"]["trusted_issuers"],
        json!([common::ISSUER])
    );
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        0,
        "the tool must not run"
    );
}

#[tokio::test]
async fn stateless_requests_with_attestation_in_meta_are_verified() {
    let addr = serve(common::gate(Enforcement::Required, None), Whoami::default()).await;
    let token = common::token();
    let message = call(addr, meta(Some(compact(&token)))).await;
    assert_eq!(
        tool_text(&message),
        "verified claude sonnet-4 https://issuer.example trust=provider"
    );
    // The same token on a later request: the verified-token cache gives the same identity
    // (SPEC.md §13.4) rather than a replay.
    let again = call(addr, meta(Some(compact(&token)))).await;
    assert_eq!(tool_text(&again), tool_text(&message));
}

#[tokio::test]
async fn stateless_attestation_inside_client_capabilities_in_meta_is_verified() {
    for carriers in [Carriers::Extensions, Carriers::Experimental] {
        let addr = serve(common::gate(Enforcement::Required, None), Whoami::default()).await;
        let mut capabilities = Map::new();
        ClientAttestation::new(common::token())
            .unwrap()
            .insert_into_capabilities(&mut capabilities, carriers)
            .unwrap();
        let mut meta = meta(None);
        meta["io.modelcontextprotocol/clientCapabilities"] = Value::Object(capabilities);
        assert!(
            tool_text(&call(addr, meta).await).starts_with("verified"),
            "{carriers:?}"
        );
    }
}

#[tokio::test]
async fn stateless_matrix_under_each_policy() {
    for enforcement in [
        Enforcement::Required,
        Enforcement::Preferred,
        Enforcement::Optional,
    ] {
        let handler = Whoami::default();
        let addr = serve(common::gate(enforcement, None), handler.clone()).await;
        let mut cases: Vec<(String, Value, &str)> = vec![
            ("missing".into(), meta(None), "attestation_required"),
            (
                "malformed carrier".into(),
                meta(Some(json!("not an object"))),
                "attestation_malformed",
            ),
            (
                "token not a string".into(),
                meta(Some(json!({"version": "0.1.0", "token": 7}))),
                "attestation_malformed",
            ),
        ];
        for (name, token, reason) in common::bad_tokens() {
            cases.push((name.into(), meta(Some(compact(&token))), reason));
        }
        for (name, meta, reason) in cases {
            let message = call(addr, meta).await;
            match enforcement {
                Enforcement::Required => {
                    assert_eq!(
                        common::reason_of(&message["error"]),
                        reason,
                        "{name}: {message}"
                    )
                }
                _ => {
                    let expected = if reason == "attestation_required" {
                        "absent".to_owned()
                    } else {
                        format!("failed {reason}")
                    };
                    assert_eq!(tool_text(&message), expected, "{enforcement:?} {name}");
                }
            }
        }
        if enforcement == Enforcement::Required {
            assert_eq!(
                handler.calls.load(Ordering::SeqCst),
                0,
                "a refused request reached the tool"
            );
        }
    }
}

#[tokio::test]
async fn initialize_generation_over_http_with_rmcp_client() {
    let addr = serve(common::gate(Enforcement::Required, None), Whoami::default()).await;
    let mut capabilities = Map::new();
    ClientAttestation::new(common::token())
        .unwrap()
        .insert_into_capabilities(&mut capabilities, Carriers::Both)
        .unwrap();
    let capabilities: ClientCapabilities =
        serde_json::from_value(Value::Object(capabilities)).unwrap();
    let transport = StreamableHttpClientTransport::from_uri(format!("http://{addr}/mcp"));
    let client = ClientConfig::new(capabilities, Implementation::default())
        .serve(transport)
        .await
        .unwrap();
    let result = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap();
    assert!(common::text(&result).starts_with("verified claude"));
    client.cancel().await.unwrap();

    // Without a token, the HTTP session is refused at initialize.
    let transport = StreamableHttpClientTransport::from_uri(format!("http://{addr}/mcp"));
    let refused = ClientConfig::new(ClientCapabilities::default(), Implementation::default())
        .serve(transport)
        .await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn health_and_metrics_report_the_real_path() {
    let addr = serve(common::gate(Enforcement::Required, None), Whoami::default()).await;
    call(addr, meta(Some(compact(&common::token())))).await;
    call(addr, meta(None)).await;
    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");
    let metrics = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let success = metrics
        .lines()
        .find(|l| {
            l.starts_with("attest_verifications_total{")
                && l.contains(r#"outcome="success""#)
                && l.contains(common::ISSUER)
        })
        .unwrap_or_else(|| panic!("no success series:\n{metrics}"));
    assert!(success.ends_with(" 1"), "{success}");
}

#[tokio::test]
async fn stateless_replay_is_refused_across_two_servers_sharing_one_redis() {
    let redis = attest_testkit::redis::redis().expect("Redis is required for this test");
    let prefix = format!("attest-http-test-{}", std::process::id());
    let store = || -> std::sync::Arc<dyn attest_cache::ReplayStore> {
        let config = attest_cache::RedisConfig::from_url(redis.url())
            .unwrap()
            .key_prefix(&prefix)
            .unwrap();
        std::sync::Arc::new(attest_cache::RedisReplayStore::new(config).unwrap())
    };
    let replica_a = serve(
        common::gate(Enforcement::Required, Some(store())),
        Whoami::default(),
    )
    .await;
    let replica_b = serve(
        common::gate(Enforcement::Required, Some(store())),
        Whoami::default(),
    )
    .await;
    let token = common::token();
    assert!(tool_text(&call(replica_a, meta(Some(compact(&token)))).await).starts_with("verified"));
    // Replica B never verified this token: it meets the jti replica A recorded in Redis.
    let message = call(replica_b, meta(Some(compact(&token)))).await;
    assert_eq!(
        common::reason_of(&message["error"]),
        "attestation_replay",
        "{message}"
    );
    // A fresh token per request (SPEC.md §15) is accepted by either replica.
    assert!(
        tool_text(&call(replica_b, meta(Some(compact(&common::token())))).await)
            .starts_with("verified")
    );
}
