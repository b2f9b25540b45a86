//! attest-protocol: the MCP wire format of agent attestation, as plain serde types.
//!
//! No MCP SDK is needed: every function takes and returns `serde_json` values, so any MCP
//! implementation can use this crate. Verification itself is attest-core's job; this crate only
//! says where the token travels and how the answer is written.
//!
//! # The pieces
//! - [`ClientAttestation`]: the object a client presents, `{version, token,
//!   supported_algorithms?, attestation_types?}`, and where it travels:
//!   - with `initialize` (protocol versions up to 2025-11-25), in `params.capabilities` under
//!     [`EXTENSION_ID`] in `extensions` (SEP-2133) and/or under [`LEGACY_KEY`] in
//!     `experimental` (the 0.1.0 original); read it with [`find_in_capabilities`];
//!   - without `initialize` (protocol 2026-07-28), on every request in `params._meta` under
//!     [`EXTENSION_ID`], and/or in the client capabilities that the request carries in
//!     `_meta` under [`CLIENT_CAPABILITIES_META_KEY`]; read it with [`find_in_meta`].
//!
//!   [`find_in_params`] reads either generation from a request's `params`.
//! - The proof of possession of key-bound attestation (SPEC.md §17): the `proof` member of the
//!   object in `_meta[EXTENSION_ID]`, or the proof-only object `{version, proof}` on the
//!   requests of an `initialize` session. [`find_with_proof_in_meta`] and
//!   [`find_with_proof_in_params`] read attestation and proof together;
//!   [`insert_proof_into_meta`] writes one.
//! - [`ServerAdvertisement`]: what a server advertises in its capabilities, `{version, policy,
//!   trusted_issuers, required_claims}`.
//! - [`VerificationResult`] and [`TrustLevel`]: what the server concluded.
//! - [`AttestationError`] and [`JsonRpcError`]: the JSON-RPC error for a refusal, one code per
//!   [`attest_core::Reason`] ([`error_code`]), with the original's code alongside
//!   ([`legacy_error_code`]).
//!
//! Parsing is strict and total: a malformed carrier is a [`ProtocolError`] naming the member
//! at fault, never a panic and never a silent accept.
//!
//! # Example
//! ```
//! use attest_protocol::{ClientAttestation, Carriers, Presented, find_in_capabilities};
//! # fn main() -> Result<(), attest_protocol::ProtocolError> {
//! // Client: put the token into the initialize capabilities, under both carriers.
//! let mut capabilities = serde_json::Map::new();
//! ClientAttestation::compact("eyJ...")?.insert_into_capabilities(&mut capabilities, Carriers::Both)?;
//!
//! // Server: find it again.
//! match find_in_capabilities(&capabilities)? {
//!     Presented::Present { attestation, .. } => assert_eq!(attestation.token().as_str(), "eyJ..."),
//!     Presented::Absent => unreachable!(),
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod error;
mod json;
mod result;
mod rpc;
mod server;
mod version;

pub use client::{
    Carrier, Carriers, ClientAttestation, DEFAULT_ATTESTATION_TYPES, DEFAULT_SUPPORTED_ALGORITHMS,
    Presented, RequestPresentation, Token, find_in_capabilities, find_in_capability_carriers,
    find_in_meta, find_in_params, find_with_proof_in_meta, find_with_proof_in_params,
    insert_proof_into_meta,
};
pub use error::ProtocolError;
pub use result::{TrustLevel, VerificationResult};
pub use rpc::{
    AttestationError, ERROR_CODE_BASE, JsonRpcError, error_code, legacy_error_code, reason_for_code,
};
pub use server::{Enforcement, ServerAdvertisement};
pub use version::Version;

/// Our SEP-2133 extension identifier: the key in `capabilities.extensions`, and in a request's
/// `_meta`. It lies outside the reserved `io.modelcontextprotocol/` prefix and the reserved
/// second labels `modelcontextprotocol` and `mcp`.
pub const EXTENSION_ID: &str = "io.github.attest-rs/agent-attestation";

/// The original's key in `capabilities.experimental`.
pub const LEGACY_KEY: &str = "security.attestation";

/// The `_meta` key under which a 2026-07-28 request carries the client's capabilities
/// (SEP-2575).
pub const CLIENT_CAPABILITIES_META_KEY: &str = "io.modelcontextprotocol/clientCapabilities";

/// The `_meta` key under which a 2026-07-28 request carries its protocol version (SEP-2575).
pub const PROTOCOL_VERSION_META_KEY: &str = "io.modelcontextprotocol/protocolVersion";

#[cfg(test)]
mod tests;
