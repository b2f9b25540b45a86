//! Criterion benchmarks: attest-core's create, verify and full flow against the raw Ed25519
//! floor and against jsonwebtoken, then throughput on 1 and 2 threads. One process, one run:
//! every ratio in docs/PERFORMANCE.md is between benchmarks of this run.
//!
//! - `flow/floor_*`: ed25519-dalek `sign` and `verify_strict` over the very signing input
//!   (`header.payload`) of the token attest-core creates; where the other side makes a new token
//!   each time (`floor_sign_verify`, the paired floors), over 64 such inputs in turn, since
//!   `verify_strict`'s cost varies a little with the input.
//! - `flow/full_flow`: create + verify + record the `jti` in a `MemoryReplayStore` (`check`).
//! - `flow/jwt_*`: jsonwebtoken 11 (`rust_crypto`) on the same claims, header and key. Its
//!   decode uses non-strict `verify` and does not check `typ`.
//! - `throughput/*_{1,2}t`: N operations split over T threads that live for the whole benchmark
//!   (`attest_bench::Workers`), wall time from the first thread's start to the last one's finish.
//! - with `ATTEST_BENCH_PAIRED=1` (`cargo xtask bench`), the target ratios again, measured by
//!   alternating short blocks of both sides (`attest_bench::paired`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup is a broken benchmark
#![allow(clippy::arithmetic_side_effects)] // seed counters that never come near overflow
#![allow(missing_docs)] // criterion_main! generates main

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use attest_bench::{
    AUDIENCE, ISSUER, Scaling, Workers, builder, jwt, paired, paired_scaling, record_paired,
    scalings,
};
use attest_cache::{ManualClock, MemoryReplayStore};
use attest_core::{Policy, SigningKey, TokenBuilder, TrustStore, UnixTime, verify};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::Signer;
use rand_chacha::ChaCha20Rng;

/// Everything a flow needs, shared by all threads.
struct Fixture {
    key: SigningKey,
    trust: TrustStore,
    policy: Policy,
    template: TokenBuilder,
    now: UnixTime,
}

impl Fixture {
    fn new() -> Fixture {
        let key = attest_bench::signing_key().unwrap();
        Fixture {
            trust: attest_bench::trust(ISSUER, &key).unwrap(),
            key,
            policy: attest_bench::policy(ISSUER, AUDIENCE).unwrap(),
            template: builder(ISSUER, AUDIENCE),
            now: attest_bench::now(),
        }
    }

    /// A replay store whose clock stands at the fixture's `now`, large enough never to fill
    /// during a run (a fresh one per benchmark).
    fn store(&self) -> Arc<MemoryReplayStore> {
        Arc::new(
            MemoryReplayStore::builder()
                .capacity(50_000_000)
                .clock(Arc::new(ManualClock::new(self.now)))
                .build()
                .unwrap(),
        )
    }

    /// The floor's signing inputs (`attest_bench::floor_inputs`).
    fn floor_inputs(&self) -> Vec<Vec<u8>> {
        attest_bench::floor_inputs(&self.template, &self.key, self.now).unwrap()
    }

    /// One full flow: create a token, verify it, record its `jti`.
    fn full_flow(&self, store: &MemoryReplayStore, rng: &mut ChaCha20Rng) {
        let token = self.template.sign(&self.key, self.now, rng).unwrap();
        let verified = verify(&token, &self.trust, &self.policy, self.now).unwrap();
        let fresh = store
            .check(
                verified.issuer(),
                verified.jti(),
                verified.replay_record_until(),
            )
            .unwrap();
        assert!(fresh.is_fresh());
    }
}

fn flow(c: &mut Criterion) {
    let f = Fixture::new();
    let mut rng = attest_bench::rng(9);
    let token = f.template.sign(&f.key, f.now, &mut rng).unwrap();
    let signing_input = token.rsplit_once('.').unwrap().0.as_bytes().to_vec();
    let dalek = ed25519_dalek::SigningKey::from_bytes(&attest_bench::SEED);
    let dalek_public = dalek.verifying_key();
    let dalek_signature = dalek.sign(&signing_input);

    let mut group = c.benchmark_group("flow");
    group.throughput(Throughput::Elements(1));
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
    // Over many tokens' inputs, as create + verify sees many tokens: `verify_strict` is
    // variable-time, and one input's cost can sit a percent above or below the average.
    let inputs = f.floor_inputs();
    let mut next = inputs.iter().cycle();
    group.bench_function("floor_sign_verify", |b| {
        b.iter(|| {
            let input = next.next().unwrap();
            let signature = dalek.sign(black_box(input));
            dalek_public.verify_strict(input, &signature).unwrap()
        })
    });

    let claims = f.template.build_claims(f.now, &mut rng).unwrap();
    group.bench_function("encode", |b| {
        b.iter(|| {
            attest_core::encode(
                &f.key,
                black_box(&claims),
                attest_core::TokenType::Attestation,
            )
            .unwrap()
        })
    });
    group.bench_function("create", |b| {
        b.iter(|| f.template.sign(&f.key, f.now, &mut rng).unwrap())
    });
    group.bench_function("verify", |b| {
        b.iter(|| verify(black_box(&token), &f.trust, &f.policy, f.now).unwrap())
    });
    group.bench_function("create_verify", |b| {
        b.iter(|| {
            let token = f.template.sign(&f.key, f.now, &mut rng).unwrap();
            verify(&token, &f.trust, &f.policy, f.now).unwrap()
        })
    });
    let store = f.store();
    group.bench_function("replay_check", |b| {
        // A fresh jti each time (made outside the timing), recorded until the token's expiry.
        let until = f.now.saturating_add(330);
        b.iter_batched(
            || f.template.build_claims(f.now, &mut rng).unwrap().jti,
            |jti| store.check(ISSUER, &jti, until).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let store = f.store();
    group.bench_function("full_flow", |b| b.iter(|| f.full_flow(&store, &mut rng)));

    // jsonwebtoken on the same claims, header and key. It checks `exp` against its own clock,
    // so its tokens are minted with the wall clock when each sample starts.
    let (jwt_key, jwt_public, jwt_header, validation) = (
        jwt::encoding_key(),
        jwt::decoding_key(&f.key),
        jwt::header(),
        jwt::validation(),
    );
    group.bench_function("jwt_encode", |b| {
        b.iter(|| jwt::encode(&jwt_header, black_box(&claims), &jwt_key).unwrap())
    });
    group.bench_function("jwt_decode", |b| {
        let claims = f
            .template
            .build_claims(attest_bench::now(), &mut rng)
            .unwrap();
        let token = jwt::encode(&jwt_header, &claims, &jwt_key).unwrap();
        b.iter(|| {
            jwt::decode::<jwt::JwtClaims>(black_box(&token), &jwt_public, &validation).unwrap()
        })
    });
    group.bench_function("jwt_create_decode", |b| {
        let now = attest_bench::now();
        b.iter(|| {
            let claims = f.template.build_claims(now, &mut rng).unwrap();
            let token = jwt::encode(&jwt_header, &claims, &jwt_key).unwrap();
            jwt::decode::<jwt::JwtClaims>(&token, &jwt_public, &validation).unwrap()
        })
    });
    group.finish();
}

fn throughput(c: &mut Criterion) {
    let f = Fixture::new();
    let token = f
        .template
        .sign(&f.key, f.now, &mut attest_bench::rng(1))
        .unwrap();
    let signing_input = token.rsplit_once('.').unwrap().0.as_bytes().to_vec();
    let dalek = ed25519_dalek::SigningKey::from_bytes(&attest_bench::SEED);
    let (dalek_public, dalek_signature) = (dalek.verifying_key(), dalek.sign(&signing_input));

    let mut group = c.benchmark_group("throughput");
    group.throughput(Throughput::Elements(1));
    let verify_strict_work = repeat(|| {
        dalek_public
            .verify_strict(black_box(&signing_input), &dalek_signature)
            .unwrap();
    });
    let verify_work = repeat(|| {
        verify(black_box(&token), &f.trust, &f.policy, f.now).unwrap();
    });
    let seeds = AtomicU64::new(100);
    let flow_prepare = |_, n| (n, attest_bench::rng(seeds.fetch_add(1, Ordering::Relaxed)));
    for threads in [1, 2] {
        let store = f.store();
        let flow_work = |(n, mut rng): (u64, ChaCha20Rng)| {
            for _ in 0..n {
                f.full_flow(&store, &mut rng);
            }
        };
        std::thread::scope(|scope| {
            for (op, workers) in [
                (
                    "floor_verify_strict",
                    Workers::start(scope, threads, &count, &verify_strict_work),
                ),
                (
                    "verify",
                    Workers::start(scope, threads, &count, &verify_work),
                ),
                (
                    "full_flow",
                    Workers::start(scope, threads, &flow_prepare, &flow_work),
                ),
            ] {
                group.bench_function(format!("{op}_{threads}t"), |b| {
                    b.iter_custom(|iters| workers.run(iters).unwrap())
                });
            }
        });
    }
    group.finish();
}

/// The target ratios measured by alternation (`attest_bench::paired`), so that they hold even
/// when other processes load the machine in bursts. Run by `cargo xtask bench`.
fn paired_ratios(_: &mut Criterion) {
    if !attest_bench::paired_enabled() {
        return;
    }
    let fixture = Fixture::new();
    let f = &fixture;
    let token = &f
        .template
        .sign(&f.key, f.now, &mut attest_bench::rng(2))
        .unwrap();
    let inputs = &f.floor_inputs();
    let dalek = &ed25519_dalek::SigningKey::from_bytes(&attest_bench::SEED);
    let dalek_public = &dalek.verifying_key();
    let store = &*f.store();
    let seeds = &AtomicU64::new(1_000);
    let rng = &|| attest_bench::rng(seeds.fetch_add(1, Ordering::Relaxed));
    let timed = |n: u64, mut op: Box<dyn FnMut() + '_>| {
        let started = Instant::now();
        for _ in 0..n {
            op();
        }
        started.elapsed()
    };
    // The floor signs and verifies `FLOOR_INPUTS` tokens' inputs in turn.
    let floor = |n| {
        let mut next = inputs.iter().cycle();
        timed(
            n,
            Box::new(move || {
                let input = next.next().unwrap();
                let signature = dalek.sign(black_box(input));
                dalek_public.verify_strict(input, &signature).unwrap();
            }),
        )
    };
    let result = paired(50, 40, 10, floor, |n| {
        let mut rng = rng();
        timed(
            n,
            Box::new(move || {
                let token = f.template.sign(&f.key, f.now, &mut rng).unwrap();
                verify(&token, &f.trust, &f.policy, f.now).unwrap();
            }),
        )
    });
    let what = "attest-core create + verify ÷ floor sign + verify_strict";
    record_paired("create_verify_vs_floor", what, &result).unwrap();
    let result = paired(50, 40, 10, floor, |n| {
        let mut rng = rng();
        timed(n, Box::new(move || f.full_flow(store, &mut rng)))
    });
    let what = "full flow ÷ floor sign + verify_strict";
    record_paired("full_flow_vs_floor", what, &result).unwrap();

    // Scaling: the same number of operations on 1 and on 2 threads; ratio = 2-thread time ÷
    // 1-thread time, so the scaling factor is its inverse. All in the same rounds (`scalings`),
    // beside two controls of what the machine itself gives two threads at that moment: a loop
    // of shifts in registers, and a loop of multiplications in registers.
    let verify_one = repeat(|| {
        verify(black_box(token), &f.trust, &f.policy, f.now).unwrap();
    });
    // The floor's control of `verify`: `verify_strict` alone of the same token's signing input.
    let signing_input = token.rsplit_once('.').unwrap().0.as_bytes();
    let signature = &dalek.sign(signing_input);
    let verify_strict_one = repeat(|| {
        dalek_public
            .verify_strict(black_box(signing_input), signature)
            .unwrap();
    });
    let floor_work = |n: u64| {
        for input in inputs.iter().cycle().take(usize::try_from(n).unwrap()) {
            let signature = dalek.sign(black_box(input));
            dalek_public.verify_strict(input, &signature).unwrap();
        }
    };
    let flow_prepare = |_, n| (n, rng());
    let flow_work = |(n, mut rng): (u64, ChaCha20Rng)| {
        for _ in 0..n {
            f.full_flow(store, &mut rng);
        }
    };
    let registers = repeat(register_loop);
    let multiplier = repeat(multiply_loop);
    let results = std::thread::scope(|scope| {
        let workloads = [
            Scaling::start(scope, &count, &registers),
            Scaling::start(scope, &count, &multiplier),
            Scaling::start(scope, &count, &verify_one),
            Scaling::start(scope, &count, &verify_strict_one),
            Scaling::start(scope, &count, &floor_work),
            Scaling::start(scope, &flow_prepare, &flow_work),
        ];
        scalings(400, 30, 6, &workloads.each_ref()).unwrap()
    });
    let names = [
        (
            "scaling_machine",
            "the machine: a chain of shifts in registers",
        ),
        (
            "scaling_machine_multiply",
            "the machine: chains of multiplications in registers",
        ),
        ("scaling_verify", "verify"),
        ("scaling_floor_verify_strict", "floor verify_strict"),
        ("scaling_floor", "floor sign + verify_strict"),
        ("scaling_full_flow", "full flow"),
    ];
    for ((name, what), result) in names.into_iter().zip(&results) {
        let what = format!("{what}: 2 threads ÷ 1 thread, time per op, in the same rounds");
        record_paired(name, &what, result).unwrap();
    }
    // The shared memory replay store alone (fresh jtis made outside the timing).
    let jtis = AtomicU64::new(0);
    let fresh_jtis = |_, n| {
        (0..n)
            .map(|_| format!("jti-{}", jtis.fetch_add(1, Ordering::Relaxed)))
            .collect::<Vec<_>>()
    };
    let record_all = |batch: Vec<String>| {
        let until = f.now.saturating_add(330);
        for jti in batch {
            assert!(store.check(ISSUER, &jti, until).unwrap().is_fresh());
        }
    };
    let result = paired_scaling(20_000, 30, 6, &fresh_jtis, &record_all).unwrap();
    let what = "MemoryReplayStore::check alone: 2 threads ÷ 1 thread, time per op";
    record_paired("scaling_replay", what, &result).unwrap();
}

/// The `prepare` of a workload without state of its own: each thread's count of operations.
fn count(_thread: usize, n: u64) -> u64 {
    n
}

/// The `work` that performs `op` `n` times.
fn repeat(op: impl Fn() + Sync) -> impl Fn(u64) + Sync {
    move |n| {
        for _ in 0..n {
            op();
        }
    }
}

/// About as long as a verification, and nothing but arithmetic on registers (xorshift): no
/// memory, no allocation, no shared state, so its scaling is the machine's own.
fn register_loop() {
    let mut x = black_box(0x9e37_79b9_7f4a_7c15_u64);
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    black_box(x);
}

/// About as long as a verification, and nothing but 64 × 64 → 128-bit multiplications in
/// registers, eight independent chains of them: it keeps the core's multiplier as busy as field
/// arithmetic does. No memory, no allocation, no shared state, so on two cores of their own it
/// scales as `register_loop` does. Where the host lets another busy hardware thread (the guest's
/// other CPU, or another guest's) share a core, and so its multiplier, with one of the two, it
/// scales less, and `register_loop`, a single chain of shifts that leaves most of a core idle,
/// does not show it (session 11 saw rounds in which two threads of this loop did no more than
/// one).
#[allow(clippy::cast_possible_truncation)] // the two halves of each product, folded together
fn multiply_loop() {
    let mut chains: [u64; 8] = black_box([3, 5, 7, 11, 13, 17, 19, 23]);
    for _ in 0..8_000 {
        for chain in &mut chains {
            let product = u128::from(*chain) * 0x9e37_79b9_7f4a_7c15;
            *chain = (product as u64) ^ ((product >> 64) as u64);
        }
    }
    black_box(chains);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(40)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = flow, throughput, paired_ratios
}
criterion_main!(benches);
