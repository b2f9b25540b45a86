//! A server written with the official Python SDK (PyPI `mcp`), as a streamable-HTTP upstream
//! behind the gateway: what an attested agent gets through, what never crosses the gateway (the
//! token, a forged identity), and what is refused before the upstream sees anything, proven by
//! the upstream's own counter of `tools/call` requests and its log of every message received.

use std::net::SocketAddr;

use attest_gateway::{IDENTITY_META_KEY, POLICY_DENIED_CODE, Upstream};
use attest_protocol::{Carriers, ClientAttestation, EXTENSION_ID, LEGACY_KEY};
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, ClientRequest, RequestMetaObject, ServerResult,
};
use rmcp::service::ClientInitializeError;
use rmcp::service::{PeerRequestOptions, RoleClient, RunningService, ServiceError};
use serde_json::{Map, Value, json};

use crate::fixtures::{self, Agent, PythonServer, text};

const SUBJECT: &str = "spiffe://issuer.example/model/claude-sonnet-4";

type Client = RunningService<RoleClient, Agent>;

/// A tool call's params with JSON arguments.
fn call(tool: &'static str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool).with_arguments(arguments.as_object().unwrap().clone())
}

/// The upstream's `meta` tool: the `_meta` its `tools/call` arrived with, and the raw text.
async fn upstream_meta(client: &Client) -> (Map<String, Value>, String) {
    let result = client
        .call_tool(CallToolRequestParams::new("meta"))
        .await
        .unwrap();
    parse_meta(&text(&result))
}

/// The upstream's `meta` tool called with `meta` in the agent's own request `_meta`.
async fn upstream_meta_with(
    client: &Client,
    meta: Map<String, Value>,
) -> (Map<String, Value>, String) {
    let mut object = RequestMetaObject::new();
    object.0.0 = meta;
    let request =
        ClientRequest::CallToolRequest(CallToolRequest::new(CallToolRequestParams::new("meta")));
    let options = PeerRequestOptions::no_options().with_meta(object);
    let answer = client
        .send_request_with_option(request, options)
        .await
        .unwrap()
        .await_response()
        .await
        .unwrap();
    let ServerResult::CallToolResult(result) = answer else {
        panic!("not a tool result: {answer:?}");
    };
    parse_meta(&text(&result))
}

fn parse_meta(raw: &str) -> (Map<String, Value>, String) {
    let meta: Map<String, Value> =
        serde_json::from_str(raw).unwrap_or_else(|e| panic!("`meta` answered {raw:?}: {e}"));
    (meta, raw.to_owned())
}

/// Asserts that no attestation crossed the gateway in what the upstream's `meta` tool saw.
#[track_caller]
fn assert_no_attestation(meta: &Map<String, Value>, raw: &str, token: &str) {
    assert!(
        !meta.contains_key(EXTENSION_ID),
        "the attestation carrier was forwarded: {raw}"
    );
    assert!(
        !meta.contains_key(LEGACY_KEY),
        "the legacy carrier was forwarded: {raw}"
    );
    assert!(!raw.contains(token), "the token was forwarded: {raw}");
    assert!(
        !raw.contains(&token[..token.find('.').unwrap()]),
        "part of the token was forwarded: {raw}"
    );
}

/// The `data.reason` of a JSON-RPC error.
fn reason(error: &Value) -> &str {
    error["data"]["reason"].as_str().unwrap_or("<no reason>")
}

/// The refusal of an `initialize`: its JSON-RPC error code and `data.reason`.
fn init_refusal(error: ClientInitializeError) -> (i32, String) {
    match error {
        ClientInitializeError::JsonRpcError(e) => {
            let reason = e
                .data
                .as_ref()
                .and_then(|d| d["reason"].as_str())
                .unwrap_or("<no reason>")
                .to_owned();
            (e.code.0, reason)
        }
        other => panic!("expected a JSON-RPC refusal of initialize, got {other}"),
    }
}

/// POSTs one stateless 2026-07-28 `tools/call` of `count` to `url`, with no `initialize` and
/// no session, and returns the JSON-RPC answer.
async fn stateless_count(url: &str, meta: Value) -> Value {
    fixtures::stateless_call(url, "count", json!({}), meta).await
}

/// The text of a raw tool result.
fn result_text(message: &Value) -> String {
    let content = message["result"]["content"]
        .as_array()
        .unwrap_or_else(|| panic!("not a result: {message}"));
    content.iter().filter_map(|c| c["text"].as_str()).collect()
}

/// A gateway in front of `python`, allowing all, with `forward_identity`.
async fn gateway(
    python: &PythonServer,
    policy: Option<&str>,
    forward_identity: bool,
) -> SocketAddr {
    let (addr, _gateway) = fixtures::serve(Upstream::Url(python.url.clone()), policy, |o| {
        o.forward_identity = forward_identity
    })
    .await;
    addr
}

#[tokio::test]
async fn tools_list_echo_and_meta_reach_the_python_upstream_without_the_token() {
    let python = PythonServer::start(&fixtures::scratch("python-basic"));
    let addr = gateway(&python, None, false).await;
    let token = fixtures::token();
    let client = Agent::new(Some(&token)).connect(addr).await.unwrap();

    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(names, ["count", "echo", "meta"]);

    let echoed = client
        .call_tool(call("echo", json!({"text": "through the gateway ✓"})))
        .await
        .unwrap();
    assert_eq!(text(&echoed), "through the gateway ✓");
    assert_ne!(echoed.is_error, Some(true));

    let (meta, raw) = upstream_meta(&client).await;
    assert_no_attestation(&meta, &raw, &token);
    assert!(
        !meta.contains_key(IDENTITY_META_KEY),
        "identity forwarded without the option: {raw}"
    );

    // An agent that attests every request (a fresh token in the request's own `_meta`, in
    // every carrier): the gateway verifies it and forwards none of it, but keeps other keys.
    let per_request = fixtures::token();
    let mut capabilities = Map::new();
    ClientAttestation::new(per_request.clone())
        .unwrap()
        .insert_into_capabilities(&mut capabilities, Carriers::Both)
        .unwrap();
    let carried = json!({
        EXTENSION_ID: ClientAttestation::compact(&per_request).unwrap().to_value(),
        LEGACY_KEY: {"token": per_request},
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "trace": "kept",
    });
    let (meta, raw) = upstream_meta_with(&client, carried.as_object().unwrap().clone()).await;
    assert_no_attestation(&meta, &raw, &per_request);
    assert!(
        !meta.contains_key("io.modelcontextprotocol/clientCapabilities"),
        "{raw}"
    );
    assert_eq!(meta["trace"], "kept", "{raw}");

    // The upstream saw one session (one initialize, from the gateway) and both calls.
    assert_eq!(
        python.received_count("initialize"),
        1,
        "{:?}",
        python.received()
    );
    assert_eq!(python.calls().await, 3);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn verified_identity_is_forwarded_only_when_opted_in_and_cannot_be_forged() {
    let python = PythonServer::start(&fixtures::scratch("python-identity"));
    let forged: Map<String, Value> = json!({
        IDENTITY_META_KEY: {"iss": "https://evil.example", "sub": "spiffe://evil.example/admin"},
        "trace": "kept",
    })
    .as_object()
    .unwrap()
    .clone();

    // Opted in: the gateway's own claims, whatever the agent put under the key.
    let addr = gateway(&python, None, true).await;
    let token = fixtures::token();
    let client = Agent::new(Some(&token)).connect(addr).await.unwrap();
    for (meta, raw) in [
        upstream_meta(&client).await,
        upstream_meta_with(&client, forged.clone()).await,
    ] {
        let identity = &meta[IDENTITY_META_KEY];
        assert_eq!(identity["iss"], fixtures::ISSUER, "{raw}");
        assert_eq!(identity["sub"], SUBJECT, "{raw}");
        assert_eq!(
            identity["agent_identity"]["model_family"], "claude",
            "{raw}"
        );
        assert!(
            !raw.contains("evil.example"),
            "the agent's forged identity got through: {raw}"
        );
        assert_no_attestation(&meta, &raw, &token);
        assert!(identity.get("jti").is_none(), "{raw}");
    }
    // The agent's other `_meta` keys are relayed: only the hop keys are removed.
    let (meta, raw) = upstream_meta_with(&client, forged.clone()).await;
    assert_eq!(meta["trace"], "kept", "{raw}");
    client.cancel().await.unwrap();

    // Not opted in: no identity at all, and the agent's own key is removed too.
    let addr = gateway(&python, None, false).await;
    let token = fixtures::token();
    let client = Agent::new(Some(&token)).connect(addr).await.unwrap();
    for (meta, raw) in [
        upstream_meta(&client).await,
        upstream_meta_with(&client, forged.clone()).await,
    ] {
        assert!(!meta.contains_key(IDENTITY_META_KEY), "{raw}");
        assert!(
            !raw.contains("evil.example"),
            "the agent's forged identity got through: {raw}"
        );
        assert_no_attestation(&meta, &raw, &token);
    }
    client.cancel().await.unwrap();
    assert_eq!(python.calls().await, 5);
}

#[tokio::test]
async fn unattested_and_forged_sessions_are_refused_before_the_upstream_sees_anything() {
    let python = PythonServer::start(&fixtures::scratch("python-unattested"));
    let addr = gateway(&python, None, false).await;

    let refusal = init_refusal(
        Agent::new(None)
            .connect(addr)
            .await
            .err()
            .expect("initialize accepted"),
    );
    assert_eq!(refusal, (-31001, "attestation_required".to_owned()));
    let refusal = init_refusal(
        Agent::new(Some(&fixtures::forged_token()))
            .connect(addr)
            .await
            .err()
            .expect("initialize accepted"),
    );
    assert_eq!(refusal.1, "attestation_invalid");

    // Not one message reached the upstream: no initialize, no call.
    assert_eq!(python.received(), Vec::<Value>::new());
    assert_eq!(python.calls().await, 0);

    // The upstream was there all along: an attested session reaches it, and it counts.
    let client = fixtures::attested_agent(addr).await;
    let counted = client
        .call_tool(CallToolRequestParams::new("count"))
        .await
        .unwrap();
    assert_eq!(text(&counted), "1");
    assert_eq!(python.received_count("initialize"), 1);

    // Inside that attested session, a request carrying its own forged attestation in `_meta`
    // is judged on it, and refused before the upstream.
    let mut meta = RequestMetaObject::new();
    meta.0.0.insert(
        EXTENSION_ID.to_owned(),
        ClientAttestation::compact(fixtures::forged_token())
            .unwrap()
            .to_value(),
    );
    let request =
        ClientRequest::CallToolRequest(CallToolRequest::new(CallToolRequestParams::new("count")));
    let answer = client
        .send_request_with_option(request, PeerRequestOptions::no_options().with_meta(meta))
        .await
        .unwrap()
        .await_response()
        .await;
    let Err(ServiceError::McpError(error)) = answer else {
        panic!("a forged per-request attestation was accepted: {answer:?}");
    };
    assert_eq!(
        error.data.as_ref().and_then(|d| d["reason"].as_str()),
        Some("attestation_invalid")
    );
    assert_eq!(python.calls().await, 1);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn replayed_token_is_refused_before_the_upstream_sees_anything() {
    let python = PythonServer::start(&fixtures::scratch("python-replay"));
    let addr = gateway(&python, None, false).await;
    let token = fixtures::token();

    let first = Agent::new(Some(&token)).connect(addr).await.unwrap();
    let counted = first
        .call_tool(CallToolRequestParams::new("count"))
        .await
        .unwrap();
    assert_eq!(text(&counted), "1");
    assert_eq!(python.received_count("initialize"), 1);

    // A second session with the same token: a replay, refused at initialize.
    let refusal = init_refusal(
        Agent::new(Some(&token))
            .connect(addr)
            .await
            .err()
            .expect("initialize accepted"),
    );
    assert_eq!(refusal.1, "attestation_replay");
    assert_eq!(
        python.received_count("initialize"),
        1,
        "the replayed session reached the upstream: {:?}",
        python.received()
    );
    assert_eq!(python.calls().await, 1);

    // The first session is unaffected.
    let counted = first
        .call_tool(CallToolRequestParams::new("count"))
        .await
        .unwrap();
    assert_eq!(text(&counted), "2");
    first.cancel().await.unwrap();
}

#[tokio::test]
async fn policy_deny_hides_echo_and_refuses_it_before_the_upstream() {
    let python = PythonServer::start(&fixtures::scratch("python-policy"));
    let policy = r#"
        default = "allow"
        [[rule]]
        name = "no echo"
        tools = ["echo"]
        effect = "deny"
    "#;
    let addr = gateway(&python, Some(policy), false).await;
    let client = fixtures::attested_agent(addr).await;

    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["count", "meta"],
        "tools/list must hide what the agent may not call"
    );

    let error = client
        .call_tool(call("echo", json!({"text": "hi"})))
        .await
        .unwrap_err();
    let ServiceError::McpError(error) = error else {
        panic!("expected a JSON-RPC error, got {error}");
    };
    assert_eq!(error.code.0, POLICY_DENIED_CODE);
    let data = error.data.unwrap();
    assert_eq!(data["reason"], "rule_deny");
    assert_eq!(data["rule"], "no echo");

    // The upstream never received the call: its own counter, by GET and by the `count` tool.
    assert_eq!(python.calls().await, 0);
    assert!(
        python.received().iter().all(|m| m["name"] != "echo"),
        "{:?}",
        python.received()
    );
    let counted = client
        .call_tool(CallToolRequestParams::new("count"))
        .await
        .unwrap();
    assert_eq!(text(&counted), "1", "the count includes only itself");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn stateless_2026_07_28_bypass_is_refused_and_an_attested_stateless_call_is_relayed() {
    let python = PythonServer::start(&fixtures::scratch("python-stateless"));
    let addr = gateway(&python, None, false).await;
    let gateway_url = format!("http://{addr}/mcp");

    // The upstream on its own serves the bypass: a stateless call with no attestation runs.
    let direct = stateless_count(&python.url, fixtures::stateless_meta(None)).await;
    assert_eq!(
        result_text(&direct),
        "1",
        "the Python upstream itself serves stateless requests: {direct}"
    );
    assert_eq!(python.calls().await, 1);

    // Through the gateway, the same request is refused, and so is a forged attestation.
    let refused = stateless_count(&gateway_url, fixtures::stateless_meta(None)).await;
    assert_eq!(
        reason(&refused["error"]),
        "attestation_required",
        "{refused}"
    );
    assert_eq!(refused["error"]["code"], -31001);
    let forged = stateless_count(
        &gateway_url,
        fixtures::stateless_meta(Some(&fixtures::forged_token())),
    )
    .await;
    assert_eq!(reason(&forged["error"]), "attestation_invalid", "{forged}");
    assert_eq!(
        python.calls().await,
        1,
        "a refused stateless request reached the upstream"
    );
    assert_eq!(
        python.received_count("initialize"),
        0,
        "{:?}",
        python.received()
    );

    // With a valid attestation in `_meta`, the gateway relays it: the counter moves by one.
    let token = fixtures::token();
    let relayed = stateless_count(&gateway_url, fixtures::stateless_meta(Some(&token))).await;
    assert_eq!(result_text(&relayed), "2", "{relayed}");
    assert_eq!(python.calls().await, 2);

    // What a relayed stateless request carries upstream: neither the token nor the agent's
    // per-request session keys (the gateway's upstream session negotiated its own).
    let token = fixtures::token();
    let relayed = fixtures::stateless_call(
        &gateway_url,
        "meta",
        json!({}),
        fixtures::stateless_meta(Some(&token)),
    )
    .await;
    let (meta, raw) = parse_meta(&result_text(&relayed));
    assert_no_attestation(&meta, &raw, &token);
    assert!(
        !raw.contains("raw-client"),
        "the agent's clientInfo was forwarded: {raw}"
    );
    assert_eq!(python.calls().await, 3);
}
