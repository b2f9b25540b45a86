//! The in-process victim: the real attest-mcp-server HTTP router (every request through the
//! `AttestationGate`, policy `required`, with a proof-of-possession policy) on a free loopback
//! port, around a small application with one tool that counts the calls reaching it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use attest_core::{Policy, TrustStore};
use attest_mcp_server::{AttestationGate, AttestationStatus, Enforcement, ProofPolicy, Verifier};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};

use super::corpus::TOOL;

/// The application behind the gate: `whoami`, which names the verified agent.
#[derive(Clone, Default)]
struct Victim {
    calls: Arc<AtomicUsize>,
}

impl ServerHandler for Victim {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let mut schema = serde_json::Map::new();
        schema.insert("type".into(), "object".into());
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            TOOL,
            "who is calling",
            schema,
        )]))
    }

    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let text = match context.extensions.get::<AttestationStatus>() {
            Some(AttestationStatus::Verified(agent)) => {
                format!("verified {}", agent.identity().model_family)
            }
            Some(AttestationStatus::Failed(reason)) => format!("failed {reason}"),
            _ => "absent".to_owned(),
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

/// A running in-process server.
pub(crate) struct Sandbox {
    addr: SocketAddr,
    calls: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Sandbox {
    /// Serves the gate (policy `required`, `policy`, keys `trust`, an in-memory replay store,
    /// proof policy `proof`) on 127.0.0.1 at a free port.
    pub(crate) async fn start(
        policy: Policy,
        trust: TrustStore,
        proof: ProofPolicy,
    ) -> Result<Sandbox, String> {
        let verifier = Verifier::builder(policy)
            .keys(trust)
            .build()
            .map_err(|e| format!("in-process verifier: {e}"))?;
        let gate = AttestationGate::new(verifier, Enforcement::Required).proof_policy(proof);
        let victim = Victim::default();
        let calls = victim.calls.clone();
        let app = attest_mcp_server::http::router(move || victim.clone(), gate);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot bind 127.0.0.1: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("error: in-process server stopped: {e}");
            }
        });
        Ok(Sandbox { addr, calls, task })
    }

    /// The MCP endpoint.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// How many tool calls reached the application.
    pub(crate) fn tool_calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}
