//! attest-gateway: attestation in front of any MCP server, in any language, without changing it.
//!
//! The agent talks to the gateway; the gateway talks to the real server. Every request passes
//! the attestation gate of attest-mcp-server (on both MCP generations), then the operator's
//! [`GatewayPolicy`] (which agent may use which tool, resource or prompt), and is recorded in
//! the [`AuditLog`]. Only then is it relayed upstream over an rmcp client session, with the
//! attestation token and proofs stripped: MCP's authorization spec forbids token passthrough.
//! The verified identity can be forwarded as plain claims under [`IDENTITY_META_KEY`], opt-in.
//!
//! Upstream traffic flows back faithfully: results and errors, progress (routed by token),
//! log messages, list-changed and resource-updated events, and server-initiated requests
//! (sampling, elicitation, roots) when the agent's client declared them. A cancelled request
//! is cancelled upstream. An upstream crash is a clean JSON-RPC error
//! ([`UPSTREAM_UNAVAILABLE_CODE`]) and the gateway stays up.
//!
//! ```no_run
//! # async fn demo(gate: attest_mcp_server::AttestationGate) -> Result<(), Box<dyn std::error::Error>> {
//! use attest_gateway::{Gateway, GatewayOptions, GatewayPolicy, PolicyHandle, Upstream};
//! let upstream = Upstream::command(["npx", "-y", "@modelcontextprotocol/server-everything"])?;
//! let mut options = GatewayOptions::default();
//! options.policy = PolicyHandle::new(GatewayPolicy::load("policy.toml".as_ref())?);
//! let gateway = Gateway::new(upstream, gate, options)?;
//! gateway.probe().await?; // start the upstream now: fail fast
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, gateway.router()).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod audit;
pub mod error;
mod gateway;
mod metrics;
pub mod policy;
mod relay;
mod strip;
mod upstream;

pub use audit::{AuditLog, AuditRecord};
pub use error::{GatewayError, RuleProblem};
pub use gateway::{DEFAULT_CONNECT_TIMEOUT, Gateway, GatewayOptions};
pub use metrics::{DECISIONS, UPSTREAM_SECONDS};
pub use policy::{Decision, DecisionReason, Effect, GatewayPolicy, PolicyHandle, Target};
pub use relay::{GatewayHandler, POLICY_DENIED_CODE, UPSTREAM_UNAVAILABLE_CODE};
pub use strip::IDENTITY_META_KEY;
pub use upstream::Upstream;
