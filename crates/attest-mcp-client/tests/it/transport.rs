//! `AttestingTransport` end to end: a real rmcp client and a plain rmcp server (no attestation
//! crate) over an in-process duplex. The server's tool echoes the `_meta` it received, so the
//! test sees exactly what went over the wire.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use attest_mcp_client::{
    AttestingTransport, ClientError, Freshness, LocalSigner, StaticToken, Token, TokenSource,
    attested_client_config, attesting, token_failure,
};
use attest_protocol::{Carrier, Presented, find_in_capabilities, find_in_meta, find_in_params};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    InitializeRequestParams, InitializeResult, ListToolsResult, PaginatedRequestParams,
    ProtocolVersion, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::{
    ClientLifecycleMode, ClientServiceExt, RoleClient, RoleServer, ServerHandler, ServiceExt,
};
use serde_json::{Map, Value};

use crate::common::{AUDIENCE, key, system_now, template, verify_at};

/// What the server saw in `initialize`: its `capabilities` and its `_meta`.
type SeenInitialize = Arc<Mutex<Option<(Map<String, Value>, Map<String, Value>)>>>;

/// A plain rmcp server: one tool, `echo_meta`, that returns the request's `_meta` as JSON text.
#[derive(Clone, Default)]
pub(crate) struct EchoServer {
    initialize: SeenInitialize,
}

impl ServerHandler for EchoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let capabilities = match serde_json::to_value(&request.capabilities).unwrap() {
            Value::Object(object) => object,
            _ => Map::new(),
        };
        *self.initialize.lock().unwrap() = Some((capabilities, context.meta.0.0.clone()));
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema: Map<String, Value> =
            serde_json::from_value(serde_json::json!({"type": "object"})).unwrap();
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "echo_meta",
            "Returns the request's _meta",
            Arc::new(schema),
        )]))
    }

    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let meta = serde_json::to_string(&context.meta).unwrap();
        Ok(CallToolResult::success(vec![ContentBlock::text(meta)]).into())
    }
}

/// Starts an `EchoServer` on one end of a duplex; returns the other end.
fn start_server(server: EchoServer) -> tokio::io::DuplexStream {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    client_io
}

/// Calls `echo_meta` and returns the `_meta` the server saw.
pub(crate) async fn echoed_meta<S: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
) -> Map<String, Value> {
    let result = client
        .call_tool(CallToolRequestParams::new("echo_meta"))
        .await
        .unwrap();
    let text = &result.content[0].as_text().unwrap().text;
    serde_json::from_str(text).unwrap()
}

pub(crate) fn token_in(presented: Presented) -> (String, Carrier) {
    match presented {
        Presented::Present {
            attestation,
            carrier,
            ..
        } => (attestation.token().as_str().to_owned(), carrier),
        Presented::Absent => panic!("no attestation"),
    }
}

pub(crate) fn per_request_signer() -> Arc<dyn TokenSource> {
    Arc::new(
        LocalSigner::new(key(), template())
            .unwrap()
            .with_freshness(Freshness::PerRequest),
    )
}

#[tokio::test]
async fn every_request_carries_a_fresh_attestation_with_initialize() {
    let server = EchoServer::default();
    let seen = Arc::clone(&server.initialize);
    let io = start_server(server);
    let client = ().serve(attesting(io, per_request_signer(), AUDIENCE)).await.unwrap();

    // `initialize`: both capability carriers and `_meta`, all with one token, each the
    // compact object.
    let (capabilities, init_meta) = seen.lock().unwrap().clone().unwrap();
    let (init_token, _) = token_in(find_in_capabilities(&capabilities).unwrap());
    let compact = serde_json::json!({"version": "0.1.0", "token": init_token});
    assert_eq!(
        capabilities["extensions"][attest_mcp_client::EXTENSION_ID],
        compact
    );
    assert_eq!(
        capabilities["experimental"][attest_mcp_client::LEGACY_KEY],
        compact
    );
    let (meta_token, carrier) = token_in(find_in_meta(&init_meta).unwrap());
    assert_eq!(carrier, Carrier::Meta);
    assert_eq!(meta_token, init_token);
    verify_at(&init_token, AUDIENCE, system_now());

    // Every later request: its own token in `_meta`, compact form.
    let now = system_now();
    let mut jtis = HashSet::from([verify_at(&init_token, AUDIENCE, now).jti().to_owned()]);
    for _ in 0..3 {
        let meta = echoed_meta(&client).await;
        let object = meta[attest_mcp_client::EXTENSION_ID].as_object().unwrap();
        assert_eq!(object.len(), 2, "compact {{version, token}}: {object:?}");
        let (token, carrier) = token_in(find_in_meta(&meta).unwrap());
        assert_eq!(carrier, Carrier::Meta);
        let verified = verify_at(&token, AUDIENCE, now);
        assert_eq!(verified.claims().aud.as_slice(), [AUDIENCE.to_owned()]);
        assert!(
            jtis.insert(verified.jti().to_owned()),
            "a fresh jti per request"
        );
    }
    // Requests other than tools/call are attested too.
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 1);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn per_session_attests_initialize_and_leaves_the_session_alone() {
    let server = EchoServer::default();
    let seen = Arc::clone(&server.initialize);
    let io = start_server(server);
    let source: Arc<dyn TokenSource> = Arc::new(LocalSigner::new(key(), template()).unwrap());
    let client = ().serve(attesting(io, source, AUDIENCE)).await.unwrap();
    let (capabilities, _) = seen.lock().unwrap().clone().unwrap();
    let (token, _) = token_in(find_in_capabilities(&capabilities).unwrap());
    verify_at(&token, AUDIENCE, system_now());
    // The session's requests go out as they are: the server bound the attestation to the
    // session, and the same token again would be a replay to a server that records jtis.
    for _ in 0..2 {
        assert_eq!(
            find_in_meta(&echoed_meta(&client).await).unwrap(),
            Presented::Absent
        );
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn per_session_reuses_one_token_across_2026_requests() {
    let io = start_server(EchoServer::default());
    let source: Arc<dyn TokenSource> = Arc::new(LocalSigner::new(key(), template()).unwrap());
    let client = ()
        .serve_with_lifecycle(
            attesting(io, source, AUDIENCE),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .unwrap();
    let first = token_in(find_in_meta(&echoed_meta(&client).await).unwrap()).0;
    let second = token_in(find_in_meta(&echoed_meta(&client).await).unwrap()).0;
    assert_eq!(first, second);
    verify_at(&first, AUDIENCE, system_now());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn discover_lifecycle_keeps_every_carrier_in_agreement() {
    // The client config carries a stale token from when it was built; rmcp copies it into
    // `_meta["io.modelcontextprotocol/clientCapabilities"]` on every 2026-07-28 request. The
    // transport must rewrite it, or the server would see two different tokens (a conflict).
    let stale = StaticToken::new(
        LocalSigner::new(key(), template())
            .unwrap()
            .token(AUDIENCE)
            .await
            .unwrap()
            .as_str(),
    )
    .unwrap();
    let config = attested_client_config(&stale, AUDIENCE).await.unwrap();
    let io = start_server(EchoServer::default());
    let client = config
        .serve_with_lifecycle(
            attesting(io, per_request_signer(), AUDIENCE),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .unwrap();

    let now = system_now();
    let mut tokens = HashSet::new();
    for _ in 0..3 {
        let meta = echoed_meta(&client).await;
        assert_eq!(
            meta["io.modelcontextprotocol/protocolVersion"],
            Value::from("2026-07-28")
        );
        let client_capabilities = meta["io.modelcontextprotocol/clientCapabilities"]
            .as_object()
            .unwrap();
        // Both carriers inside the client capabilities were rewritten with the fresh token.
        let (inner, _) = token_in(find_in_capabilities(client_capabilities).unwrap());
        // `find_in_meta` reads every carrier and refuses a conflict; it must agree.
        let (token, carrier) = token_in(find_in_meta(&meta).unwrap());
        assert_eq!(carrier, Carrier::Meta);
        assert_eq!(inner, token);
        assert_ne!(token, stale.token(AUDIENCE).await.unwrap().as_str());
        // As a server reads a whole `params`, too.
        let params = Value::Object(Map::from_iter([("_meta".to_owned(), Value::Object(meta))]));
        assert_eq!(token_in(find_in_params(Some(&params)).unwrap()).0, token);
        verify_at(&token, AUDIENCE, now);
        assert!(tokens.insert(token));
    }
    client.cancel().await.unwrap();
}

/// Succeeds `budget` times, then fails.
#[derive(Debug)]
struct Failing {
    budget: AtomicUsize,
}

impl TokenSource for Failing {
    fn token<'a>(
        &'a self,
        _audience: &'a str,
    ) -> attest_mcp_client::BoxFuture<'a, Result<Token, ClientError>> {
        let left = self.budget.fetch_sub(1, Ordering::SeqCst);
        Box::pin(async move {
            if left > 0 && left <= 1000 {
                Ok(Token::new("eyJ.a.b").unwrap())
            } else {
                Err(ClientError::IssuerRefused {
                    status: 503,
                    error: Some("temporarily_unavailable".to_owned()),
                    description: None,
                })
            }
        })
    }

    fn freshness(&self) -> Freshness {
        Freshness::PerRequest
    }
}

#[tokio::test]
async fn a_token_failure_fails_the_request_with_a_typed_error() {
    let io = start_server(EchoServer::default());
    let source = Arc::new(Failing {
        budget: AtomicUsize::new(1),
    });
    let client = ().serve(attesting(io, source, AUDIENCE)).await.unwrap();
    let error = client
        .call_tool(CallToolRequestParams::new("echo_meta"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            token_failure(&error),
            Some(ClientError::IssuerRefused { status: 503, .. })
        ),
        "{error:?}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_token_failure_at_initialize_fails_the_connection() {
    let io = start_server(EchoServer::default());
    let source = Arc::new(Failing {
        budget: AtomicUsize::new(0),
    });
    let error = ().serve(attesting(io, source, AUDIENCE)).await.unwrap_err();
    assert!(
        matches!(
            error,
            rmcp::service::ClientInitializeError::TransportError { .. }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn wraps_a_transport_value_directly() {
    let io = start_server(EchoServer::default());
    let (read, write) = tokio::io::split(io);
    let inner = rmcp::transport::async_rw::AsyncRwTransport::new_client(read, write);
    let transport = AttestingTransport::new(inner, per_request_signer(), AUDIENCE);
    assert_eq!(transport.audience(), AUDIENCE);
    let client = ().serve(transport).await.unwrap();
    let meta = echoed_meta(&client).await;
    assert!(matches!(
        find_in_meta(&meta).unwrap(),
        Presented::Present { .. }
    ));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_client_sees_the_end_of_the_stream() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move { EchoServer::default().serve(server_io).await.unwrap() });
    let client = ().serve(attesting(client_io, per_request_signer(), AUDIENCE)).await.unwrap();
    let server = server.await.unwrap();
    server.cancel().await.unwrap();
    // The server is gone: the client's service loop ends instead of hanging.
    let quit = tokio::time::timeout(std::time::Duration::from_secs(5), client.waiting())
        .await
        .expect("client noticed the closed stream");
    assert!(quit.is_ok());
}
