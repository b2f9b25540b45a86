//! MCP fixtures: one application handler served with and without attestation, and the
//! messages a client sends.

use std::sync::Arc;

use attest_mcp_server::AttestationGate;
use attest_mcp_server::AttestationStatus;
use attest_protocol::{Carriers, ClientAttestation, EXTENSION_ID, Enforcement};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ContentBlock, Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Map, Value, json};

use crate::BoxError;

/// The protocol generation without `initialize`.
pub const STATELESS_VERSION: &str = "2026-07-28";

/// The application: one tool, `whoami`, that reports what the gate told it (or that no gate
/// ran). The same handler is served with and without attestation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Whoami;

impl ServerHandler for Whoami {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let schema = Map::from_iter([("type".to_owned(), json!("object"))]);
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "whoami",
            "who is calling",
            schema,
        )]))
    }

    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let text = match context.extensions.get::<AttestationStatus>() {
            Some(AttestationStatus::Verified(agent)) => format!(
                "verified {} {}",
                agent.identity().model_family,
                agent.issuer()
            ),
            Some(AttestationStatus::Failed(reason)) => format!("failed {reason}"),
            Some(AttestationStatus::Absent) => "absent".into(),
            _ => "unattested".into(),
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

/// What a benchmarked session presents, and to which server.
#[derive(Clone, Copy, Debug)]
pub enum Variant {
    /// No token, to the plain handler.
    Plain,
    /// A token in these carriers, to the handler behind a gate of policy `required`.
    Attested(Carriers),
    /// A token in both carriers, to the plain handler, which ignores it: what carrying the
    /// token costs rmcp on both sides, without any attest code.
    Carried,
    /// No token, to the handler behind a gate of policy `optional`: what the gate itself costs
    /// (the wrapper, the advertisement, the admission of every request), without verifying.
    GateWithoutToken,
}

impl Variant {
    /// The carriers of the token the client presents, if it presents one.
    pub fn carriers(self) -> Option<Carriers> {
        match self {
            Variant::Attested(carriers) => Some(carriers),
            Variant::Carried => Some(Carriers::Both),
            Variant::Plain | Variant::GateWithoutToken => None,
        }
    }

    /// The policy of the gate in front of the handler, if there is one.
    pub fn enforcement(self) -> Option<Enforcement> {
        match self {
            Variant::Attested(_) => Some(Enforcement::Required),
            Variant::GateWithoutToken => Some(Enforcement::Optional),
            Variant::Plain | Variant::Carried => None,
        }
    }

    /// The client capabilities of a session of this variant, with `token` where it carries one.
    ///
    /// # Errors
    /// For a token the carrier refuses.
    pub fn capabilities(self, token: &str) -> Result<ClientCapabilities, BoxError> {
        match self.carriers() {
            Some(carriers) => capabilities(Some(token), carriers),
            None => capabilities(None, Carriers::Both),
        }
    }

    /// What `whoami` answers in a session of this variant.
    pub fn expected(self) -> &'static str {
        match self {
            Variant::Attested(_) => expected(true),
            Variant::GateWithoutToken => "absent",
            Variant::Plain | Variant::Carried => expected(false),
        }
    }
}

/// What `whoami` answers: the gate's verdict on the benchmark token, or that no gate ran.
pub fn expected(attested: bool) -> &'static str {
    if attested {
        "verified claude https://issuer.example"
    } else {
        "unattested"
    }
}

/// One client session: connect with `capabilities` (`initialize`, then
/// `notifications/initialized`), call `whoami` once, close. Returns the tool's text.
///
/// # Errors
/// When the session is refused or the call fails.
pub async fn session<T, E, A>(
    transport: T,
    capabilities: ClientCapabilities,
) -> Result<String, BoxError>
where
    T: rmcp::transport::IntoTransport<rmcp::RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let client = ClientConfig::new(capabilities, Implementation::default())
        .serve(transport)
        .await?;
    let result = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await?;
    client.cancel().await?;
    Ok(result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect())
}

/// One [`session`] over a fresh in-process duplex, against the plain handler (`gate` `None`) or
/// the handler wrapped by `gate`.
///
/// # Errors
/// As [`session`].
pub async fn duplex_session(
    gate: Option<&AttestationGate>,
    capabilities: ClientCapabilities,
) -> Result<String, BoxError> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    match gate {
        Some(gate) => {
            let server = gate.wrap(Whoami);
            tokio::spawn(async move {
                if let Ok(running) = server.serve(server_io).await {
                    let _ = running.waiting().await;
                }
            });
        }
        None => {
            tokio::spawn(async move {
                if let Ok(running) = Whoami.serve(server_io).await {
                    let _ = running.waiting().await;
                }
            });
        }
    }
    session(client_io, capabilities).await
}

/// One [`session`] over streamable HTTP to `url`, on a new client and connection (rmcp's
/// reqwest client).
///
/// # Errors
/// As [`session`].
pub async fn http_session(url: &str, capabilities: ClientCapabilities) -> Result<String, BoxError> {
    session(StreamableHttpClientTransport::from_uri(url), capabilities).await
}

/// The streamable-HTTP router of the plain handler (`gate` `None`) or of the handler wrapped by
/// `gate`, as `attest_mcp_server::http::router` serves it.
pub fn router(gate: Option<&AttestationGate>) -> axum::Router {
    match gate {
        Some(gate) => attest_mcp_server::http::router(|| Whoami, gate.clone()),
        None => plain_router(),
    }
}

/// The plain server, without any gate: `/mcp` with rmcp's streamable-HTTP service and the same
/// configuration as `attest_mcp_server::http::router`.
pub fn plain_router() -> axum::Router {
    let mcp = StreamableHttpService::new(
        || Ok(Whoami),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    axum::Router::new().nest_service("/mcp", mcp)
}

/// Client capabilities carrying `token` in `carriers` (attest-mcp-client's default is
/// [`Carriers::Both`]) as the compact object `{version, token}`, as attest-mcp-client sends
/// it; or none.
///
/// # Errors
/// For a token the carrier refuses.
pub fn capabilities(
    token: Option<&str>,
    carriers: Carriers,
) -> Result<ClientCapabilities, BoxError> {
    let mut caps = Map::new();
    if let Some(token) = token {
        ClientAttestation::compact(token)?.insert_into_capabilities(&mut caps, carriers)?;
    }
    Ok(serde_json::from_value(Value::Object(caps))?)
}

/// The `initialize` request a client sends with `capabilities`, as JSON text.
///
/// # Errors
/// Never for capabilities that serialize.
pub fn initialize_request(capabilities: &ClientCapabilities) -> Result<String, BoxError> {
    let message = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": capabilities,
            "clientInfo": {"name": "rmcp", "version": "3.11.0"},
        },
    });
    Ok(serde_json::to_string(&message)?)
}

/// The body of one stateless 2026-07-28 `tools/call` of `whoami`, with `token` in `_meta`.
///
/// # Errors
/// For a token the carrier refuses.
pub fn stateless_call(token: Option<&str>) -> Result<String, BoxError> {
    let mut meta = json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "attest-bench", "version": "1.0.0"},
    });
    if let (Some(token), Some(object)) = (token, meta.as_object_mut()) {
        object.insert(
            EXTENSION_ID.to_owned(),
            ClientAttestation::compact(token)?.to_value(),
        );
    }
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}, "_meta": meta},
    });
    Ok(body.to_string())
}

/// The headers of a stateless 2026-07-28 `tools/call` (SEP-2243 names method and tool too).
pub const STATELESS_HEADERS: [(&str, &str); 5] = [
    ("content-type", "application/json"),
    ("accept", "application/json, text/event-stream"),
    ("mcp-protocol-version", STATELESS_VERSION),
    ("mcp-method", "tools/call"),
    ("mcp-name", "whoami"),
];

/// The text of the tool result in a JSON-RPC response (plain JSON or one SSE event), or the
/// whole response when it is not a result.
pub fn tool_text(response: &str) -> Result<String, String> {
    let json = response
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .unwrap_or(response)
        .trim();
    let message: Value = serde_json::from_str(json).map_err(|_| response.to_owned())?;
    let content = message
        .get("result")
        .and_then(|r| r.get("content"))
        .and_then(Value::as_array)
        .ok_or_else(|| response.to_owned())?;
    Ok(content
        .iter()
        .filter_map(|c| c.get("text").and_then(Value::as_str))
        .collect())
}
