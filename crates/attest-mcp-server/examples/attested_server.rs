//! An attested MCP server with three tools that read the verified agent.
//!
//! ```text
//! cargo run -p attest-mcp-server --example attested_server -- \
//!     --jwks issuer-jwks.json --issuer https://issuer.example --audience https://tools.example/mcp \
//!     (--http 127.0.0.1:8080 | --stdio) [--policy required|preferred|optional]
//! ```
//!
//! - `whoami` returns the verified identity (or, under `preferred`/`optional`, why there is
//!   none);
//! - `echo` returns its `text` argument;
//! - `deploy` shows a per-tool requirement: only agents at safety level `enhanced` that declared
//!   the capability `deploy`.
//!
//! Every request passes the attestation gate first, whichever tool it names.

use std::process::ExitCode;

use attest_core::{JwksLimits, KeySet, Policy, SafetyLevel, TrustStore};
use attest_mcp_server::{AttestationGate, AttestationStatus, Enforcement, VerifiedAgent, Verifier};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::{
    ErrorData as McpError, ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router,
};

#[derive(Clone)]
struct Tools {
    tool_router: ToolRouter<Self>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// The text to return.
    text: String,
}

#[tool_router]
impl Tools {
    fn new() -> Self {
        Tools {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Who is calling: the verified agent identity")]
    async fn whoami(
        &self,
        Extension(status): Extension<AttestationStatus>,
    ) -> Result<CallToolResult, McpError> {
        let text = match status {
            AttestationStatus::Verified(agent) => describe(&agent),
            AttestationStatus::Failed(reason) => format!("unverified agent: {reason}"),
            AttestationStatus::Absent => "unverified agent: no attestation presented".into(),
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
    }

    #[tool(description = "Echo the text back")]
    async fn echo(
        &self,
        Parameters(args): Parameters<EchoArgs>,
    ) -> Result<CallToolResult, McpError> {
        Ok(CallToolResult::success(vec![ContentBlock::text(args.text)]))
    }

    #[tool(
        description = "A privileged action: needs safety level enhanced and the `deploy` capability"
    )]
    async fn deploy(
        &self,
        Extension(status): Extension<AttestationStatus>,
    ) -> Result<CallToolResult, McpError> {
        // A per-tool requirement: levels compare by order, never as strings.
        match status.agent() {
            Some(agent)
                if agent.safety_level() >= SafetyLevel::Enhanced
                    && agent.has_capability("deploy") =>
            {
                Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                    "deployed by {}",
                    agent.subject()
                ))]))
            }
            _ => Err(McpError::invalid_request(
                "deploy requires a verified agent with safety level enhanced and capability `deploy`",
                None,
            )),
        }
    }
}

fn describe(agent: &VerifiedAgent) -> String {
    let identity = agent.identity();
    format!(
        "{} {} by {} (subject {}, issuer {}, trust {}, safety {}, capabilities [{}], expires {})",
        identity.model_family,
        identity.model_version,
        identity.provider,
        agent.subject(),
        agent.issuer(),
        agent.trust_level(),
        agent.safety_level().as_str(),
        agent.metadata().capabilities_declared.join(", "),
        agent.expires_at().as_secs(),
    )
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

struct Args {
    jwks: String,
    issuer: String,
    audience: String,
    http: Option<String>,
    policy: Enforcement,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut jwks, mut issuer, mut audience, mut http, mut stdio) = (None, None, None, None, false);
    let mut policy = Enforcement::Required;
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--jwks" => jwks = Some(value()?),
            "--issuer" => issuer = Some(value()?),
            "--audience" => audience = Some(value()?),
            "--http" => http = Some(value()?),
            "--stdio" => stdio = true,
            "--policy" => {
                let v = value()?;
                policy = Enforcement::from_wire(&v).ok_or(format!("unknown policy {v}"))?;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if stdio == http.is_some() {
        return Err("give exactly one of --stdio and --http ADDR".into());
    }
    Ok(Args {
        jwks: jwks.ok_or("--jwks FILE is required")?,
        issuer: issuer.ok_or("--issuer URL is required")?,
        audience: audience.ok_or("--audience URL is required")?,
        http,
        policy,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let body = std::fs::read(&args.jwks).map_err(|e| format!("{}: {e}", args.jwks))?;
    let mut trust = TrustStore::new();
    trust.insert(&args.issuer, KeySet::parse(&body, JwksLimits::default())?);
    let policy = Policy::builder()
        .trusted_issuer(&args.issuer)
        .audience(&args.audience)
        .build()?;
    let gate = AttestationGate::new(Verifier::builder(policy).keys(trust).build()?, args.policy);
    match args.http {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            // Tests and scripts read this line to learn the port.
            eprintln!("listening on http://{}/mcp", listener.local_addr()?);
            // TCP_NODELAY: otherwise a streamed response's last write waits for a delayed ACK.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, attest_mcp_server::http::router(Tools::new, gate)).await?;
        }
        None => {
            let running = gate
                .wrap(Tools::new())
                .serve(rmcp::transport::stdio())
                .await?;
            running.waiting().await?;
        }
    }
    Ok(())
}
