//! Shared helpers: a real issuer key and tokens from attest-core, and a reader for the text
//! exposition.

use attest_core::{
    AgentIdentity, AttestationMetadata, KeySet, Policy, SigningKey, TokenBuilder, TrustStore,
    UnixTime,
};
use attest_observe::Observer;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

pub(crate) const ISSUER: &str = "https://issuer.example";
pub(crate) const AUDIENCE: &str = "https://tools.example";
pub(crate) const KID: &str = "issuer-key-1";
pub(crate) const NOW: UnixTime = UnixTime::from_secs(1_790_000_000);

pub(crate) fn issuer_key() -> SigningKey {
    SigningKey::from_seed(&[0x11; 32], KID).unwrap()
}

/// A token from `issuer`, signed with `key`, for AUDIENCE, issued at NOW.
pub(crate) fn token(issuer: &str, key: &SigningKey, seed: u8) -> String {
    TokenBuilder::new(issuer, "spiffe://issuer.example/model/claude-sonnet-4")
        .audience(AUDIENCE)
        .identity(AgentIdentity::new("claude", "sonnet-4", "anthropic"))
        .metadata(AttestationMetadata::provider())
        .sign(key, NOW, &mut ChaCha20Rng::from_seed([seed; 32]))
        .unwrap()
}

pub(crate) fn trust() -> TrustStore {
    let key = issuer_key();
    let mut trust = TrustStore::new();
    trust.insert(
        ISSUER,
        KeySet::from_keys([(key.kid(), key.public_key())]).unwrap(),
    );
    trust
}

pub(crate) fn policy() -> Policy {
    Policy::builder()
        .trusted_issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap()
}

pub(crate) fn observer() -> Observer {
    Observer::builder().policy(&policy()).build().unwrap()
}

/// The value of the sample `name{labels}` in the observer's exposition; 0 if absent.
pub(crate) fn sample(observer: &Observer, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = observer.encode_text().unwrap();
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (series_name, label_text) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if series_name != name {
            continue;
        }
        let got: Vec<(&str, &str)> = label_text
            .split("\",")
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once("=\""))
            .map(|(k, v)| (k, v.trim_end_matches('"')))
            .collect();
        if labels.iter().all(|want| got.contains(want)) && got.len() == labels.len() {
            assert!(found.is_none(), "{name}{labels:?} matches two series");
            found = Some(value.parse::<f64>().unwrap());
        }
    }
    found.unwrap_or(0.0)
}

/// Number of series of a family in the exposition.
pub(crate) fn series_count(observer: &Observer, name: &str) -> usize {
    let text = observer.encode_text().unwrap();
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .count()
}

/// A deterministic RNG.
pub(crate) fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

/// `token` with one signature character changed (not the last, whose low bits must be zero):
/// well-formed, but the signature no longer verifies.
pub(crate) fn tamper(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let i = chars.len().checked_sub(5).unwrap();
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}
