//! Shared helpers: loading the fixtures of testvectors/protocol, and the fixture token.

use std::path::PathBuf;

use attest_core::{
    AgentIdentity, AttestationMetadata, KeySet, Policy, SigningKey, TokenBuilder, TrustStore,
    UnixTime,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::Value;

pub(crate) const ISSUER: &str = "https://issuer.example";
pub(crate) const AUDIENCE: &str = "https://tools.example";
pub(crate) const NOW: UnixTime = UnixTime::from_secs(1_790_000_000);

/// The folder of the protocol fixtures.
pub(crate) fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testvectors/protocol")
}

/// One fixture file, parsed.
pub(crate) fn load(name: &str) -> Value {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every positive fixture file (all but errors.json and negative.json), by name.
pub(crate) fn message_fixtures() -> Vec<(String, Value)> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json") && n != "errors.json" && n != "negative.json")
        .collect();
    names.sort();
    names.into_iter().map(|n| (n.clone(), load(&n))).collect()
}

/// The fixture key.
pub(crate) fn key() -> SigningKey {
    SigningKey::from_seed(&[0x11; 32], "fixture-key-1").unwrap()
}

/// The token the fixtures carry, minted again from the fixed inputs.
pub(crate) fn fixture_token() -> String {
    TokenBuilder::new(ISSUER, "spiffe://issuer.example/model/claude-sonnet-4")
        .audience(AUDIENCE)
        .identity(AgentIdentity::new("claude", "sonnet-4", "anthropic"))
        .metadata(AttestationMetadata::provider())
        .sign(&key(), NOW, &mut ChaCha20Rng::from_seed([0x42; 32]))
        .unwrap()
}

/// A trust store and policy under which the fixture token verifies.
pub(crate) fn verifier() -> (TrustStore, Policy) {
    let key = key();
    let mut trust = TrustStore::new();
    trust.insert(
        ISSUER,
        KeySet::from_keys([(key.kid(), key.public_key())]).unwrap(),
    );
    let policy = Policy::builder()
        .trusted_issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    (trust, policy)
}

/// The value at a JSON Pointer, or a panic naming the fixture.
pub(crate) fn at<'v>(value: &'v Value, pointer: &str, fixture: &str) -> &'v Value {
    value
        .pointer(pointer)
        .unwrap_or_else(|| panic!("{fixture}: nothing at {pointer}"))
}
