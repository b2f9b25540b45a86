//! One operation of the benchmarks, N times, for instruction counts under callgrind, which are
//! stable on a noisy machine where times are not:
//!
//! ```sh
//! cargo build --profile bench -p attest-bench --example ops
//! valgrind --tool=callgrind target/release/examples/ops create_verify 1000
//! valgrind --tool=callgrind target/release/examples/ops create_verify 2000
//! ```
//!
//! Instructions per operation = (total at 2000 − total at 1000) ÷ 1000, which cancels the
//! setup. `ops OPERATION --seconds S` instead runs it for S seconds (after half a second of
//! warm-up) and prints `{"ops_per_sec", "us_per_op", "n"}`: `cargo xtask bench --compare`
//! alternates `ops full_flow --seconds 2` with the Python script. Operations: `floor_sign`, `floor_verify_strict`, `floor` (sign + `verify_strict`),
//! `create`, `parse`, `verify`, `create_verify`, `replay` (a `MemoryReplayStore::check`),
//! `full_flow`; and whole MCP sessions over a duplex: `duplex_plain`, `duplex_attested`,
//! `duplex_attested_one_carrier` (every session mode mints the same tokens, so that the
//! difference between two of them is what attestation adds inside the session).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed setup is a broken run
#![allow(clippy::arithmetic_side_effects)] // an operation counter

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use attest_bench::{AUDIENCE, ISSUER, mcp};
use attest_cache::{ManualClock, MemoryReplayStore};
use attest_core::{UnixTime, dangerous, verify};
use attest_mcp_server::{AttestationGate, Enforcement, Verifier};
use attest_protocol::Carriers;
use ed25519_dalek::Signer;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let op = args.get(1).expect("usage: ops OPERATION (N | --seconds S)");
    let (n, seconds) = match (args.get(2).map(String::as_str), args.get(3)) {
        (Some("--seconds"), Some(s)) => (u64::MAX, Some(s.parse::<f64>().unwrap())),
        (Some(n), _) => (n.parse::<u64>().unwrap(), None),
        _ => panic!("usage: ops OPERATION (N | --seconds S)"),
    };
    let key = attest_bench::signing_key().unwrap();
    let trust = attest_bench::trust(ISSUER, &key).unwrap();
    let policy = attest_bench::policy(ISSUER, AUDIENCE).unwrap();
    let template = attest_bench::builder(ISSUER, AUDIENCE);
    let mut rng = attest_bench::rng(1);
    let now = attest_bench::now();
    let token = template.sign(&key, now, &mut rng).unwrap();
    let input = token.rsplit_once('.').unwrap().0.as_bytes().to_vec();
    let dalek = ed25519_dalek::SigningKey::from_bytes(&attest_bench::SEED);
    let public = dalek.verifying_key();
    let signature = dalek.sign(&input);
    let store = MemoryReplayStore::builder()
        .capacity(50_000_000)
        .clock(Arc::new(ManualClock::new(now)))
        .build()
        .unwrap();
    let until = now.saturating_add(330);

    let carriers = match op.as_str() {
        "duplex_plain" => Some(None),
        "duplex_attested" => Some(Some(Carriers::Both)),
        "duplex_attested_one_carrier" => Some(Some(Carriers::Extensions)),
        _ => None,
    };
    if let Some(carriers) = carriers {
        sessions(n, carriers, &template, &key, now);
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
            "floor_sign" => drop(black_box(dalek.sign(black_box(&input)))),
            "floor_verify_strict" => public.verify_strict(black_box(&input), &signature).unwrap(),
            "floor" => {
                let signature = dalek.sign(black_box(&input));
                public.verify_strict(&input, &signature).unwrap();
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
            other => panic!("unknown operation {other}"),
        }
    }
}

/// `n` duplex sessions, with tokens in `carriers` (or none), minting `n` tokens in every case.
fn sessions(
    n: u64,
    carriers: Option<Carriers>,
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
        .map(|t| match carriers {
            Some(carriers) => mcp::capabilities(Some(t), carriers).unwrap(),
            None => mcp::capabilities(None, Carriers::Both).unwrap(),
        })
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
    let gate = AttestationGate::new(verifier, Enforcement::Required);
    let gate = carriers.is_some().then_some(&gate);
    rt.block_on(async {
        for capabilities in capabilities {
            let text = mcp::duplex_session(gate, capabilities).await.unwrap();
            assert_eq!(text, mcp::expected(gate.is_some()));
        }
    });
}
