//! The jsonwebtoken baseline: the library people use today, on the same claims and key.
//!
//! jsonwebtoken 11 with the `rust_crypto` backend (ed25519-dalek 2). Its EdDSA verification is
//! ed25519-dalek's non-strict `verify`, it does not check `typ`, and it validates `exp`, `aud`
//! and `iss` against its own clock; attest-core uses `verify_strict` and checks far more (see
//! BRIEF §4). The comparison is of cost, not of strength.

pub use jsonwebtoken::{decode, encode};

use attest_core::{AgentIdentity, AgentIntegrity, AttestationMetadata, Audience, SigningKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;

use crate::{AUDIENCE, ISSUER, KID, SEED};

/// The claims, typed, as a jsonwebtoken user would decode them (the same fields and types as
/// attest-core's `Claims`, so both sides do a typed parse).
#[derive(Debug, Deserialize)]
pub struct JwtClaims {
    /// Issuer.
    pub iss: String,
    /// Subject.
    pub sub: String,
    /// Audience.
    pub aud: Audience,
    /// Issued at.
    pub iat: u64,
    /// Expires at.
    pub exp: u64,
    /// Not before.
    pub nbf: Option<u64>,
    /// Token id.
    pub jti: String,
    /// Who the agent is.
    pub agent_identity: AgentIdentity,
    /// Configuration hashes.
    pub agent_integrity: Option<AgentIntegrity>,
    /// What kind of attestation this is.
    pub attestation_metadata: AttestationMetadata,
}

/// The PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410): the seed follows it.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The issuer key ([`SEED`]) as jsonwebtoken wants it: PKCS#8 DER.
pub fn encoding_key() -> EncodingKey {
    let mut der = PKCS8_ED25519_PREFIX.to_vec();
    der.extend_from_slice(&SEED);
    EncodingKey::from_ed_der(&der)
}

/// `key`'s public half as a jsonwebtoken decoding key.
pub fn decoding_key(key: &SigningKey) -> DecodingKey {
    DecodingKey::from_ed_der(key.public_key().as_bytes())
}

/// The same header attest-core writes: `alg`, `typ`, `kid`.
pub fn header() -> Header {
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(attest_core::TYP_ATTESTATION.into());
    header.kid = Some(KID.into());
    header
}

/// Validation as close to attest-core's default policy as jsonwebtoken allows: EdDSA only,
/// issuer and audience exact, `exp`/`iss`/`aud`/`sub` required, 30 s leeway.
pub fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 30;
    validation
}
