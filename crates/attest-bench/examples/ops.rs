//! One operation of the benchmarks, N times, for instruction counts under valgrind, which are
//! stable on a noisy machine where times are not:
//!
//! ```sh
//! cargo build --profile bench -p attest-bench --example ops
//! valgrind --tool=callgrind target/release/examples/ops create_verify 640
//! valgrind --tool=callgrind target/release/examples/ops create_verify 1280
//! ```
//!
//! Instructions per operation = (total at 1280 − total at 640) ÷ 640, which cancels the
//! setup. The floor operations sign and verify `attest_bench::FLOOR_INPUTS` (64) tokens' inputs
//! in turn, so a count over a multiple of 64 is their exact average. `cargo xtask bench` counts
//! under cachegrind, which also simulates the first-level caches.
//!
//! `ops OPERATION --seconds S` instead runs it for S seconds (after half a second of warm-up)
//! and prints `{"ops_per_sec", "us_per_op", "n"}`: `cargo xtask bench --compare` alternates
//! `ops full_flow --seconds 2` with the Python script. Operations: `floor_sign`,
//! `floor_verify_strict`, `floor` (sign + `verify_strict`),
//! `create`, `parse`, `verify`, `create_verify`, `replay` (a `MemoryReplayStore::check`),
//! `full_flow`; and whole MCP sessions (count mode only), over an in-process duplex
//! (`duplex_*`) or over streamable HTTP on 127.0.0.1 with a new connection each (`http_*`):
//! `*_plain`, `*_attested`, `*_attested_one_carrier`, `*_gate_no_token` (the gate under
//! policy `optional` and no token: what the wrapper costs without verifying) and `*_carried`
//! (the token in both carriers to the plain handler, which ignores it: what carrying it costs
//! rmcp alone). Every session mode mints the same tokens, so that the difference between two of
//! them is what attestation adds inside the session. valgrind's DHAT counts their allocations
//! the same way: `valgrind --tool=dhat target/release/examples/ops http_attested 60`, less the
//! same at 20, divided by 40.
//!
//! The proof operations (issue #10, as `attest-mcp-server`'s `proof` bench) sign their N single-use
//! proofs first, so count only the measured function (count mode only):
//!
//! ```sh
//! valgrind --tool=callgrind --toggle-collect='ops::measured*' target/release/examples/ops proof 1000
//! ```
//!
//! Instructions per operation = total ÷ N. `proof` is a stateless request's attestation work
//! with a proof: the verified-token cache hit, the binding from typed params (`to_value`, JCS,
//! SHA-256), `Verifier::verify_proof` (strict parse, `verify_strict`, memory replay record with
//! metrics); `proof_binding`, `proof_core` (`attest_core::proof::verify_proof` alone) and
//! `proof_verify_strict` (the raw `verify_strict` of the attestation, the target's floor) are
//! its parts. `ops proof_paired` times `proof` against `proof_verify_strict` by alternation
//! (`attest_bench::paired`: blocks of 50, 15 rounds of 10 blocks) and prints the ratio.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed setup is a broken run
#![allow(clippy::arithmetic_side_effects)] // an operation counter

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use attest_bench::mcp::{self, Variant};
use attest_bench::{AUDIENCE, ISSUER};
use attest_cache::{ManualClock, MemoryReplayStore};
use attest_core::{UnixTime, dangerous, verify};
use attest_mcp_server::{AttestationGate, Verifier};
use attest_protocol::Carriers;
use ed25519_dalek::Signer;

/// Refuses the command line: why, then the usage, and exit status 2.
fn usage(why: &str) -> ! {
    eprintln!(
        "ops: {why}\nusage: ops OPERATION (N | --seconds S); the operations are listed at the top of examples/ops.rs"
    );
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(op) = args.get(1) else {
        usage("no operation given")
    };
    let (n, seconds) = match (args.get(2).map(String::as_str), args.get(3)) {
        (Some("--seconds"), Some(s)) => match s.parse::<f64>() {
            Ok(s) if s > 0.0 => (u64::MAX, Some(s)),
            _ => usage(&format!("--seconds takes a positive number, not {s:?}")),
        },
        (Some(n), _) => match n.parse::<u64>() {
            Ok(n) => (n, None),
            Err(_) => usage(&format!("{n:?} is not a number of operations")),
        },
        _ => usage("no number of operations"),
    };
    let key = attest_bench::signing_key().unwrap();
    let trust = attest_bench::trust(ISSUER, &key).unwrap();
    let policy = attest_bench::policy(ISSUER, AUDIENCE).unwrap();
    let template = attest_bench::builder(ISSUER, AUDIENCE);
    let mut rng = attest_bench::rng(1);
    let now = attest_bench::now();
    let token = template.sign(&key, now, &mut rng).unwrap();
    // The floor operations take these inputs in turn, as the benchmarks' floors do; a count over
    // a multiple of `FLOOR_INPUTS` operations is their exact average.
    let inputs = attest_bench::floor_inputs(&template, &key, now).unwrap();
    let dalek = ed25519_dalek::SigningKey::from_bytes(&attest_bench::SEED);
    let public = dalek.verifying_key();
    let signatures: Vec<_> = inputs.iter().map(|input| dalek.sign(input)).collect();
    let mut floor = inputs.iter().zip(&signatures).cycle();
    let store = MemoryReplayStore::builder()
        .capacity(50_000_000)
        .clock(Arc::new(ManualClock::new(now)))
        .build()
        .unwrap();
    let until = now.saturating_add(330);

    let session = ["duplex", "http"].into_iter().find_map(|transport| {
        let kind = op.strip_prefix(transport)?.strip_prefix('_')?;
        let variant = match kind {
            "plain" => Variant::Plain,
            "attested" => Variant::Attested(Carriers::Both),
            "attested_one_carrier" => Variant::Attested(Carriers::Extensions),
            "gate_no_token" => Variant::GateWithoutToken,
            "carried" => Variant::Carried,
            _ => return None,
        };
        Some((transport == "http", variant))
    });
    if let Some((http, session)) = session {
        if seconds.is_some() {
            eprintln!(
                "ops: {op} counts instructions only: give a number of sessions, not --seconds"
            );
            std::process::exit(2);
        }
        sessions(n, http, session, &template, &key, now);
        return;
    }
    if op.starts_with("proof") {
        proofs(op, n, &key);
        return;
    }
    let (mut measuring, mut done) = (seconds.is_none(), 0_u64);
    let mut clock = Instant::now();
    while done < n {
        if let Some(seconds) = seconds
            && done % 100 == 0
        {
            let elapsed = clock.elapsed().as_secs_f64();
            if !measuring && elapsed >= 0.5 {
                // Warm-up over: measure from here.
                (measuring, done, clock) = (true, 0, Instant::now());
            } else if measuring && elapsed >= seconds {
                let us = elapsed * 1e6 / done as f64;
                println!(
                    "{{\"ops_per_sec\": {:.1}, \"us_per_op\": {us:.3}, \"n\": {done}}}",
                    1e6 / us
                );
                return;
            }
        }
        done += 1;
        match op.as_str() {
            "floor_sign" => drop(black_box(dalek.sign(black_box(floor.next().unwrap().0)))),
            "floor_verify_strict" => {
                let (input, signature) = floor.next().unwrap();
                public.verify_strict(black_box(input), signature).unwrap();
            }
            "floor" => {
                let input = floor.next().unwrap().0;
                let signature = dalek.sign(black_box(input));
                public.verify_strict(input, &signature).unwrap();
            }
            "create" => drop(black_box(template.sign(&key, now, &mut rng).unwrap())),
            "parse" => drop(black_box(
                dangerous::decode_unverified(black_box(&token), &policy).unwrap(),
            )),
            "verify" => drop(black_box(
                verify(black_box(&token), &trust, &policy, now).unwrap(),
            )),
            "create_verify" => {
                let token = template.sign(&key, now, &mut rng).unwrap();
                drop(black_box(verify(&token, &trust, &policy, now).unwrap()));
            }
            "replay" => {
                let jti = template.build_claims(now, &mut rng).unwrap().jti;
                assert!(store.check(ISSUER, &jti, until).unwrap().is_fresh());
            }
            "full_flow" => {
                let token = template.sign(&key, now, &mut rng).unwrap();
                let verified = verify(&token, &trust, &policy, now).unwrap();
                let record = verified.replay_record_until();
                let fresh = store.check(verified.issuer(), verified.jti(), record);
                assert!(fresh.unwrap().is_fresh());
            }
            other => usage(&format!("unknown operation {other}")),
        }
    }
}

/// `n` sessions of kind `session`, over streamable HTTP if `http`, else over a duplex; minting
/// `n` tokens in every case.
fn sessions(
    n: u64,
    http: bool,
    session: Variant,
    template: &attest_core::TokenBuilder,
    key: &attest_core::SigningKey,
    now: UnixTime,
) {
    let mut rng = attest_bench::rng(2);
    let tokens: Vec<String> = (0..n)
        .map(|_| template.sign(key, now, &mut rng).unwrap())
        .collect();
    let capabilities: Vec<_> = tokens
        .iter()
        .map(|t| session.capabilities(t).unwrap())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let verifier = Verifier::builder(attest_bench::policy(ISSUER, AUDIENCE).unwrap())
        .keys(attest_bench::trust(ISSUER, key).unwrap())
        .build()
        .unwrap();
    let gate = session
        .enforcement()
        .map(|enforcement| AttestationGate::new(verifier, enforcement));
    rt.block_on(async {
        let url = if http {
            let addr = attest_bench::serve(mcp::router(gate.as_ref()))
                .await
                .unwrap();
            Some(format!("http://{addr}/mcp"))
        } else {
            None
        };
        for capabilities in capabilities {
            let text = match &url {
                Some(url) => mcp::http_session(url, capabilities).await,
                None => mcp::duplex_session(gate.as_ref(), capabilities).await,
            };
            assert_eq!(text.unwrap(), session.expected());
        }
    });
}

/// The measured step of the proof operations, kept out of line for `--toggle-collect`.
#[inline(never)]
fn measured(step: &mut dyn FnMut()) {
    step();
}

/// The proof operations: a key-bound attestation verified once (the cache is warm), then `n`
/// requests each with a fresh proof, signed beforehand.
fn proofs(op: &str, n: u64, issuer: &attest_core::SigningKey) {
    use attest_core::proof::{ProofClaims, ProofHeader, RequestBinding, token_hash};
    use rmcp::model::CallToolRequestParams;

    let agent = attest_core::SigningKey::from_seed(&[0x77; 32], "agent").unwrap();
    let now = attest_bench::now();
    let mut identity = attest_core::AgentIdentity::new("claude", "sonnet-4", "anthropic");
    identity.deployment_id = Some("prod-eu-west-1".into());
    let mut metadata = attest_core::AttestationMetadata::provider();
    metadata.capabilities_declared = ["read", "write", "deploy", "search"]
        .map(str::to_owned)
        .to_vec();
    let token = attest_core::TokenBuilder::new(ISSUER, attest_bench::SUBJECT)
        .audience(AUDIENCE)
        .identity(identity)
        .metadata(metadata)
        .confirmation(attest_core::Confirmation {
            jwk: Some(agent.to_public_jwk()),
            ..attest_core::Confirmation::default()
        })
        .lifetime_secs(3000)
        .sign(issuer, now, &mut attest_bench::rng(1))
        .unwrap();
    let verifier = Verifier::builder(attest_bench::policy(ISSUER, AUDIENCE).unwrap())
        .keys(attest_bench::trust(ISSUER, issuer).unwrap())
        .build()
        .unwrap();
    let arguments = serde_json::json!({"city": "Paris", "units": "metric", "days": 3});
    let params = CallToolRequestParams::new("get_weather")
        .with_arguments(arguments.as_object().unwrap().clone());
    let value = serde_json::to_value(&params).unwrap();
    let binding = RequestBinding::of_request("tools/call", Some(&value)).unwrap();
    let mut rng = attest_bench::rng(3);
    // The paired mode: 15 rounds of 10 blocks of 50 requests, plus the warm-up block.
    const PAIRED: (u64, usize, usize) = (50, 15, 10);
    let n = if op == "proof_paired" {
        PAIRED.0 * (PAIRED.1 * PAIRED.2 + 1) as u64
    } else {
        n
    };
    let proofs: Vec<String> = (0..n)
        .map(|_| {
            ProofClaims::new(AUDIENCE, &binding, &token_hash(&token), now, &mut rng)
                .sign(&agent, ProofHeader::Plain)
                .unwrap()
        })
        .collect();
    let agent_key = ready(verifier.verify_reusable(&token)).unwrap();
    let input = token.rsplit_once('.').unwrap().0;
    // Ed25519 is deterministic: the token's own signature.
    let signature = issuer.sign(input.as_bytes());
    let issuer_public = issuer.public_key();
    let audiences = [AUDIENCE.to_owned()];
    if op == "proof_paired" {
        let timed = |n: u64, step: &mut dyn FnMut()| {
            let started = Instant::now();
            for _ in 0..n {
                step();
            }
            started.elapsed()
        };
        let mut unused = proofs.iter();
        let result = attest_bench::paired(
            PAIRED.0,
            PAIRED.1,
            PAIRED.2,
            |n| {
                timed(n, &mut || {
                    issuer_public.verify(input.as_bytes(), &signature).unwrap();
                })
            },
            |n| {
                timed(n, &mut || {
                    let proof = unused.next().unwrap();
                    let agent = ready(verifier.verify_reusable(&token)).unwrap();
                    let params = serde_json::to_value(&params).unwrap();
                    let binding = RequestBinding::of_request("tools/call", Some(&params)).unwrap();
                    black_box(ready(verifier.verify_proof(&agent, proof, &binding, None)).unwrap());
                })
            },
        );
        println!(
            "{{\"raw_verify_strict_us\": {:.3}, \"cache_hit_proof_us\": {:.3}, \"ratio\": {:.4}, \"low\": {:.4}, \"high\": {:.4}, \"rounds\": {}}}",
            result.base_us,
            result.other_us,
            result.ratio,
            result.ratio_low,
            result.ratio_high,
            result.rounds
        );
        return;
    }
    for proof in &proofs {
        match op {
            "proof" => measured(&mut || {
                let agent = ready(verifier.verify_reusable(&token)).unwrap();
                let params = serde_json::to_value(&params).unwrap();
                let binding = RequestBinding::of_request("tools/call", Some(&params)).unwrap();
                black_box(ready(verifier.verify_proof(&agent, proof, &binding, None)).unwrap());
            }),
            "proof_binding" => measured(&mut || {
                let params = serde_json::to_value(&params).unwrap();
                black_box(RequestBinding::of_request("tools/call", Some(&params)).unwrap());
            }),
            "proof_core" => measured(&mut || {
                let expected = attest_core::proof::ExpectedRequest {
                    audiences: &audiences,
                    token_hash: agent_key.token_hash(),
                    binding: &binding,
                    nonce: None,
                };
                let key = agent_key.confirmation_key().unwrap();
                let limits = verifier.proof_limits();
                black_box(
                    attest_core::proof::verify_proof(proof, key, &expected, limits, now).unwrap(),
                );
            }),
            "proof_verify_strict" => measured(&mut || {
                issuer_public.verify(input.as_bytes(), &signature).unwrap();
            }),
            other => usage(&format!("unknown operation {other}")),
        }
    }
}

/// Runs a future that completes without waiting (memory store, static keys, cache hits).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("the measured path waited"),
    }
}
