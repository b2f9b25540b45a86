//! Criterion benchmarks: attest-core's create and verify against the raw Ed25519 floor.
//!
//! The floor is ed25519-dalek `sign` + `verify_strict` over the very signing inputs (the
//! `header.payload` bytes) of tokens that attest-core creates, measured in the same run, so the
//! ratio holds on a noisy machine. `cargo xtask bench` records the ratios in
//! docs/PERFORMANCE.md.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup is a broken benchmark
#![allow(missing_docs)] // criterion_main! generates an undocumented `main`

use std::hint::black_box;
use std::time::Duration;

use attest_core::{
    AgentIdentity, AttestationMetadata, KeySet, Policy, SigningKey, TokenBuilder, TrustStore,
    UnixTime, verify,
};
use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signer, Verifier as _};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "https://tools.example";
const NOW: UnixTime = UnixTime::from_secs(1_790_000_000);

/// A realistic token: identity, integrity hashes and four declared capabilities.
fn builder() -> TokenBuilder {
    let mut metadata = AttestationMetadata::provider();
    metadata.capabilities_declared = [
        "tools:read",
        "tools:write",
        "resources:read",
        "prompts:read",
    ]
    .map(String::from)
    .to_vec();
    let mut identity = AgentIdentity::new("claude", "sonnet-4", "anthropic");
    identity.deployment_id = Some("deploy-us-east-1-prod-0042".into());
    TokenBuilder::new(ISSUER, "spiffe://issuer.example/model/claude-sonnet-4")
        .audience(AUDIENCE)
        .identity(identity)
        .integrity(attest_core::AgentIntegrity {
            config_hash: Some(attest_core::IntegrityHash::of(b"config")),
            system_prompt_hash: Some(attest_core::IntegrityHash::of(b"prompt")),
            ..Default::default()
        })
        .metadata(metadata)
}

fn core(c: &mut Criterion) {
    let key = SigningKey::from_seed(&[7; 32], "bench-key").unwrap();
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
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let token = builder().sign(&key, NOW, &mut rng).unwrap();
    let signing_input = token.rsplit_once('.').unwrap().0.as_bytes().to_vec();

    let dalek = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let dalek_public = dalek.verifying_key();
    let dalek_signature = dalek.sign(&signing_input);
    assert!(
        dalek_public
            .verify(&signing_input, &dalek_signature)
            .is_ok()
    );

    let mut group = c.benchmark_group("core");
    group.bench_function("floor_sign", |b| {
        b.iter(|| dalek.sign(black_box(&signing_input)))
    });
    group.bench_function("floor_verify_strict", |b| {
        b.iter(|| {
            dalek_public
                .verify_strict(black_box(&signing_input), &dalek_signature)
                .unwrap()
        })
    });
    // Over 64 tokens' inputs in turn, as create + verify sees a new token every time:
    // `verify_strict` is variable-time, one input's cost sitting up to a percent off the average.
    let inputs: Vec<Vec<u8>> = (0..64)
        .map(|_| {
            let token = builder().sign(&key, NOW, &mut rng).unwrap();
            token.rsplit_once('.').unwrap().0.as_bytes().to_vec()
        })
        .collect();
    let mut next_input = inputs.iter().cycle();
    group.bench_function("floor_sign_verify", |b| {
        b.iter(|| {
            let input = next_input.next().unwrap();
            let signature = dalek.sign(black_box(input));
            dalek_public.verify_strict(input, &signature).unwrap()
        })
    });
    // The pieces attest-core adds on top of the floor.
    group.bench_function("parse", |b| {
        b.iter(|| attest_core::dangerous::decode_unverified(black_box(&token), &policy).unwrap())
    });
    let claims = builder().build_claims(NOW, &mut rng).unwrap();
    group.bench_function("encode", |b| {
        b.iter(|| {
            attest_core::encode(
                &key,
                black_box(&claims),
                attest_core::TokenType::Attestation,
            )
        })
    });
    let template = builder();
    group.bench_function("create", |b| {
        b.iter(|| template.sign(&key, NOW, &mut rng).unwrap())
    });
    group.bench_function("verify", |b| {
        b.iter(|| verify(black_box(&token), &trust, &policy, NOW).unwrap())
    });
    group.bench_function("create_verify", |b| {
        b.iter(|| {
            let token = template.sign(&key, NOW, &mut rng).unwrap();
            verify(&token, &trust, &policy, NOW).unwrap()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(60)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    targets = core
}
criterion_main!(benches);
