//! attest-core: strict Ed25519 agent-attestation tokens for MCP.
//!
//! This crate holds everything that decides whether an attestation is valid, and nothing that
//! talks to the outside world: no async, no network, no files, no clock. Time (`now`) and
//! randomness (a [`rand_core::CryptoRng`]) are parameters, so every decision is reproducible.
//!
//! # The pieces
//! - [`PublicKey`] and [`SigningKey`]: Ed25519 keys. Every public key is checked when it is
//!   imported (32 bytes, canonical, not small-order, torsion-free).
//! - [`Jwk`], [`KeySet`] and [`TrustStore`]: JWK import/export and strict JWKS parsing. Keys are
//!   looked up by `(issuer, kid)`, so a key published by one issuer never verifies a token that
//!   claims another.
//! - [`Claims`] and [`TokenBuilder`]: the typed claim set and the builder that signs it.
//! - [`verify`] with a [`Policy`]: the strict verification step. It returns a [`Verified`]
//!   token or a [`VerifyError`] whose [`VerifyError::reason`] is the stable, coarse
//!   [`Reason`] to show to a peer.
//! - [`proof`]: key-bound attestation. A request's proof of possession, signed by the key the
//!   attestation's `cnf` names, created and verified; [`ProofError`] says precisely why one was
//!   refused.
//! - [`dangerous`]: reading a token without verifying it. The name is the warning.
//!
//! # Example
//! ```
//! use attest_core::{
//!     AgentIdentity, AttestationMetadata, Policy, SigningKey, TokenBuilder, TrustStore,
//!     UnixTime, KeySet, verify,
//! };
//! use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SigningKey::from_seed(&[7; 32], "key-2026-11")?;
//! let now = UnixTime::from_secs(1_790_000_000);
//!
//! // Issuer side: mint a token.
//! let token = TokenBuilder::new("https://issuer.example", "spiffe://issuer.example/model/m1")
//!     .audience("https://tools.example")
//!     .identity(AgentIdentity::new("claude", "sonnet-4", "anthropic"))
//!     .metadata(AttestationMetadata::provider())
//!     .sign(&key, now, &mut ChaCha20Rng::from_seed([1; 32]))?;
//!
//! // Server side: trust the issuer's published keys, and verify.
//! let mut trust = TrustStore::new();
//! trust.insert("https://issuer.example", KeySet::from_keys([(key.kid(), key.public_key())])?);
//! let policy = Policy::builder()
//!     .trusted_issuer("https://issuer.example")
//!     .audience("https://tools.example")
//!     .build()?;
//! let verified = verify(&token, &trust, &policy, now)?;
//! assert_eq!(verified.claims().agent_identity.model_family, "claude");
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod b64;
mod claims;
pub mod dangerous;
mod error;
mod jcs;
mod json;
mod jwk;
mod jwks;
mod key;
mod policy;
pub mod proof;
mod reason;
mod strict;
mod time;
mod token;
mod verify;
mod write;

pub use claims::{
    ATTESTATION_VERSION, AgentIdentity, AgentIntegrity, AttestationMetadata, AttestationType,
    Audience, Claims, Confirmation, IntegrityHash, SafetyLevel,
};
pub use error::{BuildError, JwksError, KeyError, Part, PolicyError, ProofError, VerifyError};
pub use jwk::Jwk;
pub use jwks::{JwksLimits, KeyResolver, KeySet, RejectedKey, TrustStore};
pub use key::{PublicKey, SigningKey};
pub use policy::{Algorithm, Policy, PolicyBuilder};
pub use reason::Reason;
pub use time::UnixTime;
pub use token::{Header, TokenBuilder, TokenType, encode};
pub use verify::{Verified, verify};

/// The explicit `typ` of an attestation token (RFC 8725 §3.11).
pub const TYP_ATTESTATION: &str = "agent-attestation+jwt";
/// The `typ` the 0.1.0 original sends. Accepted only when a [`Policy`] opts in.
pub const TYP_JWT_COMPAT: &str = "JWT";

#[cfg(test)]
mod jcs_tests;
#[cfg(test)]
mod strict_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod write_tests;
