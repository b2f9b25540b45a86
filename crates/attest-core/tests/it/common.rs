//! Shared fixtures: a fixed issuer key, a policy, a clock, and raw signing for hostile tokens.

use attest_core::{
    AgentIdentity, AttestationMetadata, KeySet, Policy, SigningKey, TokenBuilder, TrustStore,
    UnixTime,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

pub const ISSUER: &str = "https://issuer.example";
pub const AUDIENCE: &str = "https://tools.example";
pub const SUBJECT: &str = "spiffe://issuer.example/model/claude-sonnet-4";
pub const KID: &str = "issuer-key-1";
pub const NOW: UnixTime = UnixTime::from_secs(1_790_000_000);

/// The issuer's fixed signing key.
pub fn issuer_key() -> SigningKey {
    SigningKey::from_seed(&[0x11; 32], KID).unwrap()
}

/// An attacker's key, published nowhere.
pub fn attacker_key() -> SigningKey {
    SigningKey::from_seed(&[0x66; 32], KID).unwrap()
}

/// A deterministic RNG.
pub fn rng() -> ChaCha20Rng {
    ChaCha20Rng::from_seed([0x42; 32])
}

/// Keys by issuer: the issuer's key under KID.
pub fn trust() -> TrustStore {
    let key = issuer_key();
    let mut trust = TrustStore::new();
    trust.insert(
        ISSUER,
        KeySet::from_keys([(key.kid(), key.public_key())]).unwrap(),
    );
    trust
}

/// The default strict policy for ISSUER and AUDIENCE.
pub fn policy() -> Policy {
    Policy::builder()
        .trusted_issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap()
}

/// A builder for a valid token.
pub fn builder() -> TokenBuilder {
    TokenBuilder::new(ISSUER, SUBJECT)
        .audience(AUDIENCE)
        .identity(AgentIdentity::new("claude", "sonnet-4", "anthropic"))
        .metadata(AttestationMetadata::provider())
}

/// A valid token, signed at NOW.
pub fn valid_token() -> String {
    builder().sign(&issuer_key(), NOW, &mut rng()).unwrap()
}

/// Valid claims JSON at NOW, as a serde_json value, for tests that edit them.
pub fn valid_claims_json() -> serde_json::Value {
    let claims = builder().build_claims(NOW, &mut rng()).unwrap();
    serde_json::to_value(claims).unwrap()
}

/// The default header JSON.
pub fn header_json() -> String {
    format!(r#"{{"alg":"EdDSA","typ":"agent-attestation+jwt","kid":"{KID}"}}"#)
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs arbitrary header and payload bytes: a validly signed token with any structure.
pub fn sign_raw(key: &SigningKey, header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

/// Signs `claims` with the default header under the issuer key.
pub fn sign_claims(claims: &serde_json::Value) -> String {
    sign_raw(
        &issuer_key(),
        header_json().as_bytes(),
        claims.to_string().as_bytes(),
    )
}

/// The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
pub const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// Little-endian 256-bit addition; panics on overflow.
pub fn add_le(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = sum.to_le_bytes()[0];
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "overflow");
    out
}
