//! `attest serve` with real MCP clients over streamable HTTP: an attested rmcp client (through
//! attest-mcp-client's transport) calls `whoami` and `deploy`; an unattested one is refused;
//! two servers sharing one Redis refuse a replay; SIGTERM stops the server cleanly.

use std::sync::Arc;

use attest_core::{AgentIdentity, AttestationMetadata, Reason, SafetyLevel, TokenBuilder};
use attest_mcp_client::{AttestationRejection, Freshness, LocalSigner, TokenSource, attesting};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::Value;

use crate::common::{
    AUDIENCE, ISSUER, Server, TempDir, issuer_files, issuer_key, serve_trusting_issuer,
};

fn signer(safety: SafetyLevel, capabilities: &[&str]) -> Arc<dyn TokenSource> {
    let mut metadata = AttestationMetadata::provider();
    metadata.safety_level = safety;
    metadata.capabilities_declared = capabilities.iter().map(|c| (*c).to_owned()).collect();
    let template = TokenBuilder::new(ISSUER, "spiffe://anthropic.com/model/claude-sonnet-4")
        .identity(AgentIdentity::new(
            "claude-4",
            "claude-sonnet-4",
            "anthropic",
        ))
        .metadata(metadata);
    Arc::new(
        LocalSigner::new(issuer_key(), template)
            .unwrap()
            .with_freshness(Freshness::PerRequest),
    )
}

fn text_of(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attested_mcp_client_calls_whoami_and_deploy() {
    let dir = TempDir::new();
    let server = serve_trusting_issuer(&dir, &[]);
    let url = format!("http://{}/mcp", server.addr);
    assert!(
        server.stderr_text().contains("replay store: memory"),
        "{}",
        server.stderr_text()
    );

    // An agent at safety level enhanced that declared `deploy`.
    let transport = attesting(
        StreamableHttpClientTransport::from_uri(url.as_str()),
        signer(SafetyLevel::Enhanced, &["deploy"]),
        AUDIENCE,
    );
    let client = ().serve(transport).await.unwrap();
    let tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    for tool in ["whoami", "echo", "deploy"] {
        assert!(tools.iter().any(|t| t == tool), "{tools:?}");
    }
    let whoami = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap();
    let identity: Value = serde_json::from_str(&text_of(&whoami)).unwrap();
    assert_eq!(identity["verification_status"], "verified");
    assert_eq!(identity["issuer"], ISSUER);
    assert_eq!(identity["trust_level"], "provider");
    assert_eq!(identity["agent_identity"]["model_family"], "claude-4");
    assert_eq!(identity["attestation_metadata"]["safety_level"], "enhanced");
    let deployed = client
        .call_tool(CallToolRequestParams::new("deploy"))
        .await
        .unwrap();
    assert!(text_of(&deployed).starts_with("deployed"), "{deployed:?}");
    let mut echo = CallToolRequestParams::new("echo");
    echo.arguments = serde_json::json!({"text": "hello"}).as_object().cloned();
    assert_eq!(text_of(&client.call_tool(echo).await.unwrap()), "hello");
    client.cancel().await.unwrap();

    // An agent at the standard level: served, but the per-tool requirement refuses `deploy`.
    let transport = attesting(
        StreamableHttpClientTransport::from_uri(url.as_str()),
        signer(SafetyLevel::Standard, &["deploy"]),
        AUDIENCE,
    );
    let client = ().serve(transport).await.unwrap();
    assert!(
        client
            .call_tool(CallToolRequestParams::new("whoami"))
            .await
            .is_ok()
    );
    let refused = client
        .call_tool(CallToolRequestParams::new("deploy"))
        .await
        .unwrap_err();
    assert_eq!(refused.rejection_reason(), Some(Reason::ClaimsInsufficient));
    client.cancel().await.unwrap();

    // A client without attestation is refused at `initialize`, under policy `required`.
    let refused =
        ().serve(StreamableHttpClientTransport::from_uri(url.as_str()))
            .await
            .unwrap_err();
    assert_eq!(refused.rejection_reason(), Some(Reason::Required));

    // No token reaches the log. rmcp logs each session's `initialize` parameters at INFO,
    // tokens included; `attest serve` keeps rmcp at WARN. A token starts `eyJ` (base64url of
    // `{"`), and so would any segment of its header or claims.
    let log = server.stderr_text();
    assert!(
        log.contains("replay store: memory"),
        "the log is read: {log}"
    );
    assert!(!log.contains("eyJ"), "a token reached the log: {log}");

    // /health and /metrics, with the verifications above counted.
    let health = reqwest::get(format!("http://{}/health", server.addr))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let metrics = reqwest::get(format!("http://{}/metrics", server.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("attest_verifications_total{issuer=\"https://issuer.example\",outcome=\"success\",reason=\"none\"}"),
        "{metrics}"
    );

    // SIGTERM: a clean shutdown, exit status 0.
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn preferred_policy_serves_unattested_clients_and_says_why() {
    let dir = TempDir::new();
    let server = serve_trusting_issuer(&dir, &["--policy", "preferred"]);
    let url = format!("http://{}/mcp", server.addr);
    let client = ().serve(StreamableHttpClientTransport::from_uri(url.as_str())).await.unwrap();
    let whoami = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap();
    let status: Value = serde_json::from_str(&text_of(&whoami)).unwrap();
    assert_eq!(status["verification_status"], "absent");
    let refused = client
        .call_tool(CallToolRequestParams::new("deploy"))
        .await
        .unwrap_err();
    assert_eq!(refused.rejection_reason(), Some(Reason::ClaimsInsufficient));
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_servers_sharing_redis_refuse_a_replay_and_fail_closed_without_it() {
    let Some(mut redis) = attest_testkit::redis::private_redis() else {
        return; // ATTEST_ALLOW_SKIP_REDIS=1 and no redis-server: skipped by request.
    };
    let dir = TempDir::new();
    let redis_url = redis.url();
    let a = serve_trusting_issuer(&dir, &["--redis", &redis_url]);
    let b = serve_trusting_issuer(&dir, &["--redis", &redis_url]);
    assert!(
        a.stderr_text().contains("replay store: redis"),
        "{}",
        a.stderr_text()
    );

    // One token, presented to A and then to B: B sees the jti A recorded.
    let token = crate::common::token();
    let source: Arc<dyn TokenSource> =
        Arc::new(attest_mcp_client::StaticToken::new(token).unwrap());
    let client = ()
        .serve(attesting(
            StreamableHttpClientTransport::from_uri(format!("http://{}/mcp", a.addr).as_str()),
            Arc::clone(&source),
            AUDIENCE,
        ))
        .await
        .unwrap();
    assert!(
        client
            .call_tool(CallToolRequestParams::new("whoami"))
            .await
            .is_ok()
    );
    client.cancel().await.unwrap();
    let replayed = ()
        .serve(attesting(
            StreamableHttpClientTransport::from_uri(format!("http://{}/mcp", b.addr).as_str()),
            source,
            AUDIENCE,
        ))
        .await
        .unwrap_err();
    assert_eq!(replayed.rejection_reason(), Some(Reason::Replay));

    // Redis down: fail closed.
    redis.kill();
    let down = ()
        .serve(attesting(
            StreamableHttpClientTransport::from_uri(format!("http://{}/mcp", b.addr).as_str()),
            signer(SafetyLevel::Standard, &[]),
            AUDIENCE,
        ))
        .await
        .unwrap_err();
    assert_eq!(down.rejection_reason(), Some(Reason::Unavailable));
    let health = reqwest::get(format!("http://{}/health", b.addr))
        .await
        .unwrap();
    assert_eq!(health.status(), 503);
}

#[tokio::test(flavor = "multi_thread")]
async fn issuer_server_and_client_end_to_end_with_a_rotation() {
    // `attest issuer serve` mints, `attest serve` fetches its JWKS, and attest-mcp-client's
    // RemoteIssuer asks the token endpoint for a fresh token per request.
    let dir = TempDir::new();
    let (key, _) = issuer_files(&dir);
    let secret = "e2e-secret";
    let issuer = Server::start(&[
        "issuer",
        "serve",
        "--key",
        key.to_str().unwrap(),
        "--issuer",
        "http://issuer.test",
        "--listen",
        "127.0.0.1:0",
        "--client-secret",
        secret,
        "--safety-level",
        "enhanced",
        "--capability",
        "deploy",
    ]);
    let jwks_url = format!("http://{}/.well-known/jwks.json", issuer.addr);
    let server = Server::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--issuer",
        "http://issuer.test",
        "--audience",
        AUDIENCE,
        "--jwks-url",
        &jwks_url,
        "--allow-insecure-loopback-jwks",
    ]);
    let url = format!("http://{}/mcp", server.addr);
    let source: Arc<dyn TokenSource> = Arc::new(
        attest_mcp_client::RemoteIssuer::builder("http://issuer.test")
            .endpoint(format!("http://{}/token", issuer.addr))
            .client_secret(secret)
            .dangerous_allow_http_loopback()
            .freshness(Freshness::PerRequest)
            .build()
            .unwrap(),
    );
    let client = ()
        .serve(attesting(
            StreamableHttpClientTransport::from_uri(url.as_str()),
            Arc::clone(&source),
            AUDIENCE,
        ))
        .await
        .unwrap();
    let deployed = client
        .call_tool(CallToolRequestParams::new("deploy"))
        .await
        .unwrap();
    assert!(text_of(&deployed).starts_with("deployed"), "{deployed:?}");

    // Rotate at the issuer: the server learns the new key on its first token, no restart.
    let rotated: Value = reqwest::Client::new()
        .post(format!("http://{}/rotate", issuer.addr))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    let token = source.token(AUDIENCE).await.unwrap();
    let (header, _) = attest_core::dangerous::decode_json(token.as_str()).unwrap();
    assert_eq!(header["kid"], new_kid.as_str());
    let whoami = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap();
    let identity: Value = serde_json::from_str(&text_of(&whoami)).unwrap();
    assert_eq!(identity["verification_status"], "verified", "{identity}");
    assert_eq!(identity["issuer"], "http://issuer.test");
    client.cancel().await.unwrap();
}
