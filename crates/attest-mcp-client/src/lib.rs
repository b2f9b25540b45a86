//! attest-mcp-client: the client side of agent attestation for MCP, on rmcp.
//!
//! An agent proves which model it is by carrying an attestation token, signed by its issuer,
//! to every MCP server it talks to. This crate supplies the tokens and puts them where servers
//! look for them, in both MCP generations (SPEC.md §9).
//!
//! # The pieces
//! - [`TokenSource`]: where tokens come from, with three implementations:
//!   - [`StaticToken`]: a fixed token, never refreshed;
//!   - [`LocalSigner`]: mints tokens with a local key from a `TokenBuilder` template;
//!   - [`RemoteIssuer`]: asks an issuer's token endpoint over HTTPS.
//!
//!   The last two cache one token per audience and refresh it before it expires
//!   ([`is_fresh`]: when less than `max(20% of the lifetime, 30 s)` remains), or, with
//!   [`Freshness::PerRequest`], mint a token with a fresh `jti` for every request, as
//!   stateless 2026-07-28 servers that record `jti`s require.
//! - [`AttestingTransport`] (or [`attesting`]): wraps any rmcp client transport so that every
//!   request carries a fresh attestation, with no change to the code that makes the requests.
//!   This is the recommended way: it covers `initialize`, `server/discover` and every request
//!   after them.
//! - Helpers for doing it by hand: [`attest_capabilities`] (the `initialize` capabilities,
//!   both carriers), [`attest_request_meta`] (a request's `_meta`), and
//!   [`attested_client_config`] (a ready `ClientConfig`, rmcp's `initialize` parameters).
//! - Key-bound attestation (SPEC.md §17): [`LocalSigner::with_agent_key`] binds the agent's
//!   own key into its tokens (`cnf`), and [`AttestingTransport::with_proof_key`] signs a proof
//!   of possession with that key for every outgoing request, so a stolen token is worthless.
//!   It signs the server's latest proof nonce into each proof (SPEC.md §17.9), and signs a
//!   request refused for its nonce again, once, without the caller seeing the refusal.
//! - [`AttestationRejection`]: reads a server's refusal out of rmcp's errors, as a typed
//!   [`ClientError::Rejected`] with the stable [`attest_core::Reason`].
//!
//! # Example
//! ```no_run
//! use std::sync::Arc;
//! use attest_core::{AgentIdentity, AttestationMetadata, SigningKey, TokenBuilder};
//! use attest_mcp_client::{AttestationRejection, Freshness, LocalSigner, TokenSource, attesting};
//! use rmcp::ServiceExt;
//! # async fn run(key: SigningKey, transport: tokio::io::DuplexStream) -> Result<(), Box<dyn std::error::Error>> {
//! let template = TokenBuilder::new("https://issuer.example", "spiffe://issuer.example/agent/a1")
//!     .identity(AgentIdentity::new("claude", "sonnet-4", "anthropic"))
//!     .metadata(AttestationMetadata::provider());
//! let source: Arc<dyn TokenSource> =
//!     Arc::new(LocalSigner::new(key, template)?.with_freshness(Freshness::PerRequest));
//!
//! // Every request sent through this transport carries a fresh token for the server.
//! let client = ().serve(attesting(transport, source, "https://tools.example")).await?;
//! match client.list_all_tools().await {
//!     Ok(tools) => println!("{} tools", tools.len()),
//!     Err(e) => match e.rejection_reason() {
//!         Some(reason) => eprintln!("refused: {reason}"),
//!         None => return Err(e.into()),
//!     },
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod carriers;
mod error;
mod local;
mod nonce;
mod refresh;
mod rejection;
mod remote;
mod source;
mod transport;

pub use carriers::{
    attest_capabilities, attest_client_config, attest_request_meta, attested_client_config,
};
pub use error::ClientError;
pub use local::LocalSigner;
pub use refresh::{MIN_REFRESH_MARGIN_SECS, is_fresh, refresh_margin_secs};
pub use rejection::{AttestationRejection, rejection_reason, token_failure};
pub use remote::{RemoteIssuer, RemoteIssuerBuilder};
pub use source::{BoxFuture, Clock, Freshness, StaticToken, SystemClock, TokenSource};
pub use transport::{AttestingTransport, attesting};

// Re-exported so that users need not depend on attest-protocol for the common cases.
pub use attest_protocol::{Carriers, ClientAttestation, EXTENSION_ID, LEGACY_KEY, Token};

#[cfg(test)]
mod tests;
