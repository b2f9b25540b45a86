//! `AttestingTransport` around rmcp's streamable-HTTP client, against a plain rmcp
//! streamable-HTTP server on 127.0.0.1 whose tool echoes the `_meta` it received.

use std::collections::HashSet;
use std::sync::Arc;

use attest_mcp_client::attesting;
use attest_protocol::{Carrier, find_in_meta};
use rmcp::model::ProtocolVersion;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ClientLifecycleMode, ClientServiceExt, ServiceExt};

use crate::common::{AUDIENCE, system_now, verify_at};
use crate::transport::{EchoServer, echoed_meta, per_request_signer, token_in};

/// Serves `EchoServer` on 127.0.0.1; returns its MCP URL.
async fn start_http_server() -> (String, tokio::task::JoinHandle<()>) {
    let service = StreamableHttpService::new(
        || Ok(EchoServer::default()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, task)
}

async fn fresh_tokens_per_request(lifecycle: ClientLifecycleMode) {
    let (url, server) = start_http_server().await;
    let transport = attesting(
        StreamableHttpClientTransport::from_uri(url.as_str()),
        per_request_signer(),
        AUDIENCE,
    );
    let client = ().serve_with_lifecycle(transport, lifecycle).await.unwrap();
    let now = system_now();
    let mut jtis = HashSet::new();
    for _ in 0..3 {
        let meta = echoed_meta(&client).await;
        let (token, carrier) = token_in(find_in_meta(&meta).unwrap());
        assert_eq!(carrier, Carrier::Meta);
        assert!(jtis.insert(verify_at(&token, AUDIENCE, now).jti().to_owned()));
    }
    client.cancel().await.unwrap();
    server.abort();
}

#[tokio::test]
async fn over_streamable_http_with_initialize() {
    fresh_tokens_per_request(ClientLifecycleMode::Initialize).await;
}

#[tokio::test]
async fn over_streamable_http_with_discover() {
    fresh_tokens_per_request(ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    })
    .await;
}

#[tokio::test]
async fn serve_without_lifecycle_works_too() {
    let (url, server) = start_http_server().await;
    let transport = attesting(
        StreamableHttpClientTransport::from_uri(url.as_str()),
        per_request_signer(),
        AUDIENCE,
    );
    let client = ().serve(transport).await.unwrap();
    assert_eq!(client.list_all_tools().await.unwrap().len(), 1);
    client.cancel().await.unwrap();
    server.abort();
}
