//! The official reference server `@modelcontextprotocol/server-everything` (npm, TypeScript),
//! as a stdio upstream behind the gateway: what an attested agent gets through, what is refused
//! before the upstream sees anything, and what never crosses the gateway (the token).

use std::time::Duration;

use attest_gateway::{POLICY_DENIED_CODE, UPSTREAM_UNAVAILABLE_CODE};
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, ClientRequest, ProgressToken,
    ReadResourceRequestParams, ResourceContents, ServerResult,
};
use rmcp::service::{PeerRequestOptions, ServiceError};
use serde_json::json;

use crate::fixtures::{self, Agent, text};

/// A tool call's params with JSON arguments.
fn call(tool: &'static str, arguments: serde_json::Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool).with_arguments(arguments.as_object().unwrap().clone())
}

#[tokio::test]
async fn tools_list_call_and_resource_read_reach_the_real_upstream() {
    let dir = fixtures::scratch("everything-basic");
    let upstream = fixtures::everything(&dir);
    let (addr, _gateway) = fixtures::serve(upstream.upstream.clone(), None, |_| {}).await;
    let token = fixtures::token();
    let client = Agent::new(Some(&token)).connect(addr).await.unwrap();

    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(
        names.contains(&"echo") && names.contains(&"get-sum"),
        "{names:?}"
    );

    let echoed = client
        .call_tool(call("echo", json!({"message": "through the gateway"})))
        .await
        .unwrap();
    assert_eq!(text(&echoed), "Echo: through the gateway");
    let sum = client
        .call_tool(call("get-sum", json!({"a": 2, "b": 3})))
        .await
        .unwrap();
    assert!(text(&sum).contains('5'), "{}", text(&sum));

    let read = client
        .read_resource(ReadResourceRequestParams::new(
            "demo://resource/dynamic/text/1",
        ))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &read.contents[0] else {
        panic!("not text: {read:?}");
    };
    assert!(text.starts_with("Resource 1:"), "{text}");

    // The token never crossed: neither the token, nor either carrier's key, reached the upstream.
    let received = upstream.received();
    assert!(
        received.contains("\"echo\""),
        "the recorder saw the traffic: {received}"
    );
    assert!(
        !received.contains(&token),
        "the token was forwarded upstream"
    );
    assert!(!received.contains(attest_protocol::EXTENSION_ID));
    assert!(!received.contains(attest_protocol::LEGACY_KEY));
    client.cancel().await.unwrap();
}

/// The progress token the rmcp client put on a request, as JSON.
fn token_json(token: &ProgressToken) -> serde_json::Value {
    serde_json::to_value(token).unwrap()
}

/// Waits (up to a liveness bound, not a speed check) until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn progress_notifications_come_back_under_the_agents_own_token() {
    let dir = fixtures::scratch("everything-progress");
    let upstream = fixtures::everything(&dir);
    let (addr, _gateway) = fixtures::serve(upstream.upstream.clone(), None, |_| {}).await;
    let client = fixtures::attested_agent(addr).await;

    let request = ClientRequest::CallToolRequest(CallToolRequest::new(call(
        "trigger-long-running-operation",
        json!({"duration": 1, "steps": 3}),
    )));
    let handle = client
        .send_request_with_option(request, PeerRequestOptions::no_options())
        .await
        .unwrap();
    let agent_token = handle.progress_token.clone();
    let ServerResult::CallToolResult(result) = handle.await_response().await.unwrap() else {
        panic!("not a tool result");
    };
    assert!(
        text(&result).starts_with("Long running operation completed"),
        "{}",
        text(&result)
    );

    let progress = client.service().progress.clone();
    eventually("3 progress notifications", || {
        progress.lock().unwrap().len() >= 3
    })
    .await;
    let progress = progress.lock().unwrap().clone();
    assert_eq!(progress.len(), 3, "{progress:?}");
    for (step, notification) in progress.iter().enumerate() {
        assert_eq!(
            notification.progress_token, agent_token,
            "routed back under the agent's token"
        );
        assert_eq!(notification.total, Some(3.0));
        assert!(
            notification.progress >= 1.0 && notification.progress <= 3.0,
            "step {step}: {notification:?}"
        );
    }
    // Upstream, the request carried the gateway's own progress token, not the agent's meta.
    let sent = upstream
        .received()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|m| m["params"]["name"] == "trigger-long-running-operation")
        .unwrap();
    assert!(
        sent["params"]["_meta"]["progressToken"].is_number()
            || sent["params"]["_meta"]["progressToken"].is_string()
    );
    let _ = token_json(&agent_token);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_cancelled_call_is_cancelled_upstream_and_the_session_goes_on() {
    let dir = fixtures::scratch("everything-cancel");
    let upstream = fixtures::everything(&dir);
    let (addr, _gateway) = fixtures::serve(upstream.upstream.clone(), None, |_| {}).await;
    let client = fixtures::attested_agent(addr).await;

    let request = ClientRequest::CallToolRequest(CallToolRequest::new(call(
        "trigger-long-running-operation",
        json!({"duration": 30, "steps": 30}),
    )));
    let handle = client
        .send_request_with_option(request, PeerRequestOptions::no_options())
        .await
        .unwrap();
    let progress = client.service().progress.clone();
    eventually("the first progress notification", || {
        !progress.lock().unwrap().is_empty()
    })
    .await;
    handle
        .cancel(Some("the agent changed its mind".into()))
        .await
        .unwrap();

    // The upstream received `notifications/cancelled` for exactly the request it was running.
    let upstream_id = || {
        upstream
            .received()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|m| m["params"]["name"] == "trigger-long-running-operation")
            .map(|m| m["id"].clone())
    };
    let cancelled_upstream = || {
        let Some(id) = upstream_id() else {
            return false;
        };
        upstream
            .received()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|m| m["method"] == "notifications/cancelled" && m["params"]["requestId"] == id)
    };
    eventually("notifications/cancelled upstream", cancelled_upstream).await;

    let echoed = client
        .call_tool(call("echo", json!({"message": "still here"})))
        .await
        .unwrap();
    assert_eq!(text(&echoed), "Echo: still here");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn server_initiated_sampling_and_list_changed_events_reach_the_agent() {
    let dir = fixtures::scratch("everything-sampling");
    let upstream = fixtures::everything(&dir);
    let (addr, _gateway) = fixtures::serve(upstream.upstream.clone(), None, |_| {}).await;
    let client = Agent::sampling(Some(&fixtures::token()))
        .connect(addr)
        .await
        .unwrap();

    // The upstream registers its capability-dependent tools after `initialized`, announcing
    // each with tools/list_changed: relayed to the agent.
    let changes = client.service().tool_list_changes.clone();
    eventually("tools/list_changed", || {
        changes.load(std::sync::atomic::Ordering::SeqCst) > 0
    })
    .await;
    // The agent declared sampling, so the upstream saw it (without the attestation) and offers
    // its sampling tool.
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "trigger-sampling-request"));

    let result = client
        .call_tool(call(
            "trigger-sampling-request",
            json!({"prompt": "hello", "maxTokens": 10}),
        ))
        .await
        .unwrap();
    assert_eq!(
        client
            .service()
            .sampling_requests
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert!(
        text(&result).contains(fixtures::SAMPLED),
        "{}",
        text(&result)
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn server_initiated_elicitation_and_roots_reach_the_agent() {
    let dir = fixtures::scratch("everything-elicitation");
    let upstream = fixtures::everything(&dir);
    let (addr, _gateway) = fixtures::serve(upstream.upstream.clone(), None, |_| {}).await;
    let client = Agent::elicitation_and_roots(Some(&fixtures::token()))
        .connect(addr)
        .await
        .unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(
        tools
            .iter()
            .any(|t| t.name == "trigger-elicitation-request"),
        "{tools:?}"
    );
    assert!(
        tools.iter().any(|t| t.name == "get-roots-list"),
        "{tools:?}"
    );

    let elicited = client
        .call_tool(call("trigger-elicitation-request", json!({})))
        .await
        .unwrap();
    assert!(
        client
            .service()
            .elicitation_requests
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1
    );
    assert_ne!(elicited.is_error, Some(true), "{}", text(&elicited));

    let roots = client
        .call_tool(call("get-roots-list", json!({})))
        .await
        .unwrap();
    assert!(
        client
            .service()
            .roots_requests
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1
    );
    assert!(text(&roots).contains(fixtures::ROOT), "{}", text(&roots));
    client.cancel().await.unwrap();
}

/// POSTs one stateless (2026-07-28) `tools/call` of `tool` to the gateway at `addr`, with the
/// attestation `token` in `_meta` when given.
async fn stateless_call(
    addr: std::net::SocketAddr,
    tool: &str,
    arguments: serde_json::Value,
    token: Option<&str>,
) -> serde_json::Value {
    let url = format!("http://{addr}/mcp");
    fixtures::stateless_call(&url, tool, arguments, fixtures::stateless_meta(token)).await
}

/// The JSON-RPC error of a failed rmcp call.
fn rpc_error(error: ServiceError) -> rmcp::ErrorData {
    match error {
        ServiceError::McpError(error) => error,
        other => panic!("not a JSON-RPC error: {other}"),
    }
}

#[tokio::test]
async fn refused_sessions_never_start_the_upstream_and_are_audited() {
    let dir = fixtures::scratch("everything-refused-sessions");
    let upstream = fixtures::everything(&dir);
    let audit = dir.join("audit.jsonl");
    let audit_path = audit.clone();
    let (addr, _gateway) = fixtures::serve(upstream.upstream.clone(), None, move |options| {
        options.audit = attest_gateway::AuditLog::open(&audit_path).unwrap();
    })
    .await;

    assert!(
        Agent::new(None).connect(addr).await.is_err(),
        "no attestation"
    );
    assert!(
        Agent::new(Some(&fixtures::forged_token()))
            .connect(addr)
            .await
            .is_err(),
        "forged"
    );
    assert_eq!(
        upstream.count("initialize"),
        0,
        "refused before any upstream session started"
    );

    let token = fixtures::token();
    let first = Agent::new(Some(&token)).connect(addr).await.unwrap();
    assert_eq!(upstream.count("initialize"), 1);
    assert!(
        Agent::new(Some(&token)).connect(addr).await.is_err(),
        "a replayed token"
    );
    assert_eq!(
        upstream.count("initialize"),
        1,
        "the replay never reached the upstream"
    );
    first.cancel().await.unwrap();
}

#[tokio::test]
async fn stateless_bypass_is_refused_and_an_attested_stateless_call_is_relayed() {
    let dir = fixtures::scratch("everything-stateless");
    let upstream = fixtures::everything(&dir);
    let (addr, gateway) = fixtures::serve(upstream.upstream.clone(), None, |_| {}).await;
    // The shared upstream session of sessionless requests is up, so a refusal is not an accident
    // of a cold upstream.
    gateway.probe().await.unwrap();

    let refused = stateless_call(addr, "echo", json!({"message": "bypass"}), None).await;
    assert_eq!(
        refused["error"]["data"]["reason"], "attestation_required",
        "{refused}"
    );
    let forged = stateless_call(
        addr,
        "echo",
        json!({"message": "forged"}),
        Some(&fixtures::forged_token()),
    )
    .await;
    assert_eq!(
        forged["error"]["data"]["reason"], "attestation_invalid",
        "{forged}"
    );
    assert_eq!(upstream.calls_of("echo"), 0, "the upstream saw no call");

    let token = fixtures::token();
    let served = stateless_call(addr, "echo", json!({"message": "attested"}), Some(&token)).await;
    assert_eq!(
        served["result"]["content"][0]["text"], "Echo: attested",
        "{served}"
    );
    assert_eq!(upstream.calls_of("echo"), 1);
    assert!(
        !upstream.received().contains(&token),
        "the token was forwarded upstream"
    );
}

const DENY_GET_SUM: &str = r#"
default = "allow"

[[rule]]
name = "no-arithmetic"
tools = ["get-sum"]
effect = "deny"
"#;

#[tokio::test]
async fn a_policy_deny_is_refused_audited_and_counted_and_the_tool_is_hidden() {
    let dir = fixtures::scratch("everything-policy");
    let upstream = fixtures::everything(&dir);
    let audit = dir.join("audit.jsonl");
    let audit_path = audit.clone();
    let (addr, _gateway) = fixtures::serve(
        upstream.upstream.clone(),
        Some(DENY_GET_SUM),
        move |options| {
            options.audit = attest_gateway::AuditLog::open(&audit_path).unwrap();
        },
    )
    .await;
    let token = fixtures::token();
    let client = Agent::new(Some(&token)).connect(addr).await.unwrap();

    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "echo"));
    assert!(
        !tools.iter().any(|t| t.name == "get-sum"),
        "a denied tool is hidden from tools/list"
    );

    let denied = rpc_error(
        client
            .call_tool(call("get-sum", json!({"a": 2, "b": 3})))
            .await
            .unwrap_err(),
    );
    assert_eq!(denied.code.0, POLICY_DENIED_CODE);
    assert_eq!(denied.data.as_ref().unwrap()["rule"], "no-arithmetic");
    assert_eq!(
        upstream.calls_of("get-sum"),
        0,
        "the upstream never saw the denied call"
    );
    client
        .call_tool(call("echo", json!({"message": "allowed"})))
        .await
        .unwrap();

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let deny = lines.iter().find(|l| l["name"] == "get-sum").unwrap();
    assert_eq!(deny["decision"], "deny");
    assert_eq!(deny["rule"], "no-arithmetic");
    assert_eq!(deny["method"], "tools/call");
    assert_eq!(deny["issuer"], fixtures::ISSUER);
    assert!(
        lines
            .iter()
            .any(|l| l["name"] == "echo" && l["decision"] == "allow")
    );
    assert!(
        !std::fs::read_to_string(&audit).unwrap().contains(&token),
        "the audit log holds no token"
    );

    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains(r#"attest_gateway_decisions_total{outcome="deny",rule="no-arithmetic"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"attest_gateway_upstream_seconds_count{method="tools/call"} 1"#),
        "{metrics}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn an_upstream_crash_is_a_clean_error_and_the_gateway_stays_up() {
    let dir = fixtures::scratch("everything-crash");
    let upstream = fixtures::everything(&dir);
    let (addr, _gateway) = fixtures::serve(upstream.upstream.clone(), None, |_| {}).await;
    let client = fixtures::attested_agent(addr).await;
    client
        .call_tool(call("echo", json!({"message": "before"})))
        .await
        .unwrap();

    upstream.crash();

    let mut error = None;
    for _ in 0..100 {
        match client
            .call_tool(call("echo", json!({"message": "after"})))
            .await
        {
            Err(e) => {
                error = Some(rpc_error(e));
                break;
            }
            // The crash may not have been noticed yet.
            Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let error = error.expect("calls after the crash fail");
    assert_eq!(error.code.0, UPSTREAM_UNAVAILABLE_CODE, "{error:?}");
    assert_eq!(
        error.data.as_ref().unwrap()["reason"],
        "upstream_unavailable"
    );

    let health = reqwest::get(format!("http://{addr}/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    let fresh = fixtures::attested_agent(addr).await;
    let echoed = fresh
        .call_tool(call("echo", json!({"message": "new session"})))
        .await
        .unwrap();
    assert_eq!(text(&echoed), "Echo: new session");
    fresh.cancel().await.unwrap();
}
