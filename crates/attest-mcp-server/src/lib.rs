//! attest-mcp-server: agent attestation enforced on every MCP request, for rmcp servers.
//!
//! Two pieces:
//! - [`Verifier`], the async pipeline usable without MCP: read the header and issuer without
//!   verifying them, resolve the key ([`KeySource`], e.g. attest-jwks), verify with
//!   attest-core, and only then record the `jti` in the replay store (attest-cache), reporting
//!   every decision through attest-observe. It returns a [`VerifiedAgent`] or a
//!   [`VerifierError`] whose [`VerifierError::reason`] is the stable reason a peer is told.
//! - [`AttestingServer`], which wraps any rmcp [`ServerHandler`](rmcp::ServerHandler) and gates
//!   **every** request, on both MCP generations: with `initialize` it verifies the attestation
//!   carried in the client's capabilities and binds it to the session; on protocol 2026-07-28,
//!   which has no `initialize`, it verifies the attestation each request carries in `_meta`.
//!   A request that reaches a tool, prompt, resource, completion or anything else has passed
//!   the gate. Handlers read the outcome from the request extensions:
//!   `Extension<VerifiedAgent>` or [`AttestationStatus`].
//!
//! Key-bound attestation (SPEC.md §17): a [`ProofPolicy`] on the gate (a default, and per tool)
//! makes requests carry a proof of possession of the key the attestation's `cnf` names, checked
//! by [`Verifier::verify_proof`] against the request's method, name and params before its `jti`
//! is recorded. Handlers read [`ProofStatus`] and [`VerifiedAgent::proof_bound`]. For strict
//! freshness, [`AttestationGate::proof_nonces`] makes every checked proof name a nonce the
//! server issued ([`ProofNonces`], stateless, shareable by replicas; SPEC.md §17.9): the
//! advertisement carries a fresh one as `proof_nonce`, and a refusal for a proof carries one
//! in `data.nonce`, which attest-mcp-client's transport signs again with, once.
//!
//! [`http::router`] builds the streamable-HTTP service and mounts `/mcp`, `/health` and
//! `/metrics`.
//!
//! Keep rmcp's logs at WARN: rmcp logs each session's `initialize` parameters at INFO (target
//! `rmcp::service`), the attestation token in the client's capabilities included.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use attest_core::{Policy, TrustStore};
//! use attest_mcp_server::{AttestationGate, Enforcement, Verifier};
//! # #[derive(Clone)] struct MyHandler;
//! # impl rmcp::ServerHandler for MyHandler {}
//! let policy = Policy::builder()
//!     .trusted_issuer("https://issuer.example")
//!     .audience("https://tools.example/mcp")
//!     .build()?;
//! let verifier = Verifier::builder(policy).keys(TrustStore::new()).build()?;
//! let gate = AttestationGate::new(verifier, Enforcement::Required);
//! let app = attest_mcp_server::http::router(|| MyHandler, gate);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! // TCP_NODELAY: otherwise a streamed response's last write waits for a delayed ACK.
//! let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
//!     let _ = tcp.set_nodelay(true);
//! });
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod agent;
mod error;
mod gate;
pub mod http;
mod keys;
mod nonce;
mod server;
mod verifier;

pub use agent::{AttestationStatus, ProofStatus, VerifiedAgent};
pub use attest_protocol::Enforcement;
pub use error::VerifierError;
pub use gate::{AttestationGate, ProofPolicy, Refusal, SessionExpiry};
pub use keys::{KeyFuture, KeyLookupError, KeySource};
pub use nonce::{NonceError, ProofNonces};
pub use server::AttestingServer;
pub use verifier::{Verifier, VerifierBuilder};

#[cfg(test)]
mod tests;
