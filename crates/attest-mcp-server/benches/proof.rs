//! Stateless request verification with and without a proof of possession (SPEC.md §17), beside
//! one raw strict Ed25519 verification in the same run. Run with
//! `cargo bench -p attest-mcp-server --bench proof`.
//!
//! Per request, a 2026-07-28 server takes the attestation from the verified-token cache (the
//! token was verified once, on its first presentation) and, with proofs, computes the request's
//! binding from its typed params (serde_json + RFC 8785 + SHA-256), verifies the proof against
//! the `cnf` key (strict parsing and one `verify_strict`) and records its `jti` in the memory
//! replay store. Target: "cache hit + proof" at most 1.15× one raw `verify_strict` of the
//! attestation's signing input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)] // a benchmark: a panic is a failed run

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use attest_core::proof::{ProofClaims, ProofHeader, RequestBinding, token_hash};
use attest_core::{
    AgentIdentity, AttestationMetadata, Confirmation, KeySet, Policy, SigningKey, TokenBuilder,
    TrustStore, UnixTime,
};
use attest_mcp_server::Verifier;
use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "https://tools.example/mcp";

/// Runs a future that completes without waiting (memory store, static keys, cache hits).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benchmarked path waited"),
    }
}

fn now() -> UnixTime {
    UnixTime::from(std::time::SystemTime::now())
}

struct Fixture {
    verifier: Verifier,
    agent: SigningKey,
    token: String,
    issuer: SigningKey,
    params: CallToolRequestParams,
}

fn fixture() -> Fixture {
    let issuer = SigningKey::from_seed(&[0x31; 32], "issuer-1").unwrap();
    let agent = SigningKey::from_seed(&[0x77; 32], "agent").unwrap();
    let mut trust = TrustStore::new();
    trust.insert(
        ISSUER,
        KeySet::from_keys([(issuer.kid(), issuer.public_key())]).unwrap(),
    );
    let policy = Policy::builder()
        .trusted_issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let verifier = Verifier::builder(policy).keys(trust).build().unwrap();
    // A realistic key-bound attestation: deployment id, four capabilities, cnf.jwk.
    let mut identity = AgentIdentity::new("claude", "sonnet-4", "anthropic");
    identity.deployment_id = Some("prod-eu-west-1".into());
    let mut metadata = AttestationMetadata::provider();
    metadata.capabilities_declared = ["read", "write", "deploy", "search"]
        .map(str::to_owned)
        .to_vec();
    let token = TokenBuilder::new(ISSUER, "spiffe://issuer.example/model/claude-sonnet-4")
        .audience(AUDIENCE)
        .identity(identity)
        .metadata(metadata)
        .confirmation(Confirmation {
            jwk: Some(agent.to_public_jwk()),
            ..Confirmation::default()
        })
        .lifetime_secs(3000)
        .sign(&issuer, now(), &mut ChaCha20Rng::seed_from_u64(1))
        .unwrap();
    let arguments = json!({"city": "Paris", "units": "metric", "days": 3});
    let params = CallToolRequestParams::new("get_weather")
        .with_arguments(arguments.as_object().unwrap().clone());
    Fixture {
        verifier,
        agent,
        token,
        issuer,
        params,
    }
}

static SEED: AtomicU64 = AtomicU64::new(10);

/// A fresh proof for the fixture's request (not timed).
fn fresh_proof(f: &Fixture) -> String {
    let params = serde_json::to_value(&f.params).unwrap();
    let binding = RequestBinding::of_request("tools/call", Some(&params)).unwrap();
    ProofClaims::new(
        AUDIENCE,
        &binding,
        &token_hash(&f.token),
        now(),
        &mut ChaCha20Rng::seed_from_u64(SEED.fetch_add(1, Ordering::Relaxed)),
    )
    .sign(&f.agent, ProofHeader::Plain)
    .unwrap()
}

/// The server's per-request proof work: binding from the typed params, proof, replay record.
fn check_proof(f: &Fixture, proof: &str) {
    let agent = ready(f.verifier.verify_reusable(&f.token)).unwrap();
    let params = match serde_json::to_value(&f.params).unwrap() {
        Value::Null => None,
        params => Some(params),
    };
    let binding = RequestBinding::of_request("tools/call", params.as_ref()).unwrap();
    ready(f.verifier.verify_proof(&agent, proof, &binding, None)).unwrap();
}

fn bench(c: &mut Criterion) {
    let f = fixture();
    // Warm the verified-token cache: the first presentation verifies and records the jti.
    ready(f.verifier.verify_reusable(&f.token)).unwrap();
    let (input, signature) = f.token.rsplit_once('.').unwrap();
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .unwrap();
    let issuer_public = f.issuer.public_key();
    let proof_len = fresh_proof(&f).len();
    eprintln!(
        "attestation {} bytes (signing input {}), proof {proof_len} bytes",
        f.token.len(),
        input.len()
    );

    let mut group = c.benchmark_group("proof");
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw_verify_strict", |b| {
        b.iter(|| issuer_public.verify(input.as_bytes(), &signature).unwrap())
    });
    group.bench_function("stateless_cache_hit", |b| {
        b.iter(|| ready(f.verifier.verify_reusable(&f.token)).unwrap())
    });
    group.bench_function("stateless_cache_hit_proof", |b| {
        // Each proof is single use: sign as many as the iterations first, untimed.
        b.iter_custom(|iters| {
            let proofs: Vec<String> = (0..iters).map(|_| fresh_proof(&f)).collect();
            let start = Instant::now();
            for proof in &proofs {
                check_proof(&f, proof);
            }
            start.elapsed()
        })
    });
    group.bench_function("proof_sign_client", |b| b.iter(|| fresh_proof(&f)));
    group.finish();

    // Where the overhead goes.
    let mut parts = c.benchmark_group("proof_parts");
    let agent = ready(f.verifier.verify_reusable(&f.token)).unwrap();
    let params = serde_json::to_value(&f.params).unwrap();
    let binding = RequestBinding::of_request("tools/call", Some(&params)).unwrap();
    parts.bench_function("binding_from_typed_params", |b| {
        b.iter(|| {
            let params = serde_json::to_value(&f.params).unwrap();
            RequestBinding::of_request("tools/call", Some(&params)).unwrap()
        })
    });
    let proof = fresh_proof(&f);
    let audiences = [AUDIENCE.to_owned()];
    let expected = attest_core::proof::ExpectedRequest {
        audiences: &audiences,
        token_hash: agent.token_hash(),
        binding: &binding,
        nonce: None,
    };
    let key = agent.confirmation_key().unwrap().clone();
    let limits = *f.verifier.proof_limits();
    let (proof_input, proof_signature) = proof.rsplit_once('.').unwrap();
    let proof_signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(proof_signature)
        .unwrap();
    let agent_public = f.agent.public_key();
    parts.bench_function("raw_verify_strict_proof_input", |b| {
        b.iter(|| {
            agent_public
                .verify(proof_input.as_bytes(), &proof_signature)
                .unwrap()
        })
    });
    // Everything before the signature: a proof whose signature is one byte short.
    let short = format!(
        "{proof_input}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&proof_signature[..63])
    );
    parts.bench_function("proof_parse_only", |b| {
        b.iter(|| {
            attest_core::proof::verify_proof(&short, &key, &expected, &limits, now()).unwrap_err()
        })
    });
    parts.bench_function("verify_proof_core", |b| {
        b.iter(|| {
            attest_core::proof::verify_proof(&proof, &key, &expected, &limits, now()).unwrap()
        })
    });
    let store = attest_cache::MemoryReplayStore::builder()
        .capacity(50_000_000)
        .build()
        .unwrap();
    parts.bench_function("replay_record_memory", |b| {
        b.iter(|| {
            let jti = SEED.fetch_add(1, Ordering::Relaxed).to_string();
            ready(attest_cache::ReplayStore::check_and_record(
                &store,
                "proof:abc",
                &jti,
                now().saturating_add(61),
            ))
            .unwrap()
        })
    });
    parts.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
