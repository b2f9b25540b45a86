//! Criterion benchmarks of the server pipeline: `Verifier::verify` with a warm JWKS cache (a
//! `JwksResolver` against a `KeyRing` served on 127.0.0.1, fetched once before measuring), on
//! the memory store and on a real Redis, and the pieces it is made of.
//!
//! Every verification gets a fresh token (minted outside the timing), so every replay check
//! records a new `jti`: on Redis, a real `SET NX PXAT` round trip.
//!
//! `breakdown/*` measures each step of `Verifier::verify` alone, so that docs/PERFORMANCE.md
//! can show where the time goes: parse, key lookup, signature, claims, replay, metrics. The
//! signature steps take `attest_bench::FLOOR_INPUTS` tokens in turn, since `verify_strict` is
//! variable-time and the whole pipeline sees a new token every time; the others take one token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed setup is a broken benchmark
#![allow(missing_docs)] // criterion_main! generates main
#![allow(clippy::arithmetic_side_effects)] // seed counters that never come near overflow

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use attest_bench::{AUDIENCE, KID, SEED, builder};
use attest_cache::{MemoryReplayStore, RedisConfig, RedisReplayStore, ReplayMetrics};
use attest_core::{SigningKey, dangerous};
use attest_jwks::{JwksResolver, KeyRing, publish};
use attest_mcp_server::{KeySource, Verifier};
use attest_observe::Observer;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::Signer;
use tokio::runtime::Runtime;

/// Polls a future once: a cache hit completes on its first poll, without any executor.
fn poll_once<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a cache hit must not wait"),
    }
}

/// The loopback issuer, its warm resolver, and a token minter.
struct Issuer {
    url: String,
    key: SigningKey,
    resolver: JwksResolver,
    seed: std::cell::Cell<u64>,
}

impl Issuer {
    fn start(rt: &Runtime) -> Issuer {
        let key = SigningKey::from_seed(&SEED, KID).unwrap();
        let ring = KeyRing::new(key.clone());
        let addr = rt
            .block_on(attest_bench::serve(publish::router(ring)))
            .unwrap();
        let url = format!("http://{addr}");
        let observer = Observer::builder()
            .trusted_issuer(url.as_str())
            .build()
            .unwrap();
        let resolver = JwksResolver::builder(observer)
            .danger_allow_loopback_http(true)
            .issuer(url.as_str())
            .build()
            .unwrap();
        // Warm the cache: the one fetch happens here, never inside a measurement.
        rt.block_on(resolver.resolve(&url, KID)).unwrap();
        Issuer {
            url,
            key,
            resolver,
            seed: std::cell::Cell::new(1),
        }
    }

    /// `n` fresh tokens (new `jti`s), issued now.
    fn tokens(&self, n: u64) -> Vec<String> {
        self.seed.set(self.seed.get() + 1);
        let mut rng = attest_bench::rng(self.seed.get());
        let (template, now) = (builder(&self.url, AUDIENCE), attest_bench::now());
        (0..n)
            .map(|_| template.sign(&self.key, now, &mut rng).unwrap())
            .collect()
    }

    /// A verifier using this issuer's warm resolver; `redis` selects the replay store (memory,
    /// the default, otherwise). Metrics on, as in production.
    fn verifier(&self, redis: Option<&str>) -> Verifier {
        let policy = attest_bench::policy(&self.url, AUDIENCE).unwrap();
        let builder = Verifier::builder(policy.clone()).keys(self.resolver.clone());
        match redis {
            None => builder.build().unwrap(),
            Some(url) => {
                let observer = Observer::builder().policy(&policy).build().unwrap();
                let metrics = ReplayMetrics::register(observer.registry()).unwrap();
                let run = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos();
                let config = RedisConfig::from_url(url)
                    .unwrap()
                    .key_prefix(&format!("attest-bench:{run}"))
                    .unwrap()
                    .metrics(&metrics);
                let store = RedisReplayStore::new(config).unwrap();
                builder
                    .observer(observer)
                    .replay_store(Arc::new(store))
                    .build()
                    .unwrap()
            }
        }
    }
}

/// Times `verify` of `tokens`, one after another, on `rt`.
fn verify_all(rt: &Runtime, verifier: &Verifier, tokens: Vec<String>) -> Duration {
    rt.block_on(async {
        let started = Instant::now();
        for token in &tokens {
            verifier.verify(token).await.unwrap();
        }
        started.elapsed()
    })
}

fn pipeline(c: &mut Criterion) {
    // One thread: sequential latency, the client and the Redis connection on the same thread.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = rt.enter();
    let issuer = Issuer::start(&rt);

    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(1));
    let memory = issuer.verifier(None);
    group.bench_function("verify_memory", |b| {
        b.iter_custom(|iters| verify_all(&rt, &memory, issuer.tokens(iters)))
    });
    let token = issuer.tokens(1).remove(0);
    rt.block_on(memory.verify_reusable(&token)).unwrap();
    group.bench_function("verify_reusable_hit", |b| {
        b.iter(|| {
            rt.block_on(memory.verify_reusable(black_box(&token)))
                .unwrap()
        })
    });
    let redis = attest_testkit::redis::redis();
    if let Some(redis) = &redis {
        let verifier = issuer.verifier(Some(&redis.url()));
        group.bench_function("verify_redis", |b| {
            b.iter_custom(|iters| verify_all(&rt, &verifier, issuer.tokens(iters)))
        });
    }
    group.finish();

    // The steps of `Verifier::verify`, each alone.
    let policy = attest_bench::policy(&issuer.url, AUDIENCE).unwrap();
    let tokens = issuer.tokens(attest_bench::FLOOR_INPUTS as u64);
    let token = tokens.first().unwrap();
    let now = attest_bench::now();
    let key = issuer.resolver.cached(&issuer.url, KID).unwrap();
    let dalek = ed25519_dalek::SigningKey::from_bytes(&SEED);
    let signed = tokens
        .iter()
        .map(|token| {
            let input = token.rsplit_once('.').unwrap().0.as_bytes();
            (input, dalek.sign(input).to_bytes())
        })
        .collect::<Vec<_>>();
    let unverified = tokens
        .iter()
        .map(|token| dangerous::decode_unverified(token, &policy).unwrap())
        .collect::<Vec<_>>();

    let mut group = c.benchmark_group("breakdown");
    group.throughput(Throughput::Elements(1));
    let parse_step = || dangerous::decode_unverified(black_box(token), &policy).unwrap();
    group.bench_function("parse", |b| b.iter(parse_step));
    let keys: &dyn KeySource = &issuer.resolver;
    let key_step = || poll_once(keys.resolve(black_box(&issuer.url), black_box(KID))).unwrap();
    group.bench_function("key_lookup", |b| b.iter(key_step));
    // attest-core's `PublicKey::verify`: ed25519-dalek `verify_strict` behind a length check.
    let mut next_signed = signed.iter().cycle();
    let mut signature_step = || {
        let (input, signature) = next_signed.next().unwrap();
        key.verify(black_box(input), signature).unwrap()
    };
    group.bench_function("signature", |b| b.iter(&mut signature_step));
    let mut next_unverified = unverified.iter().cycle();
    let mut unverified_copy = || next_unverified.next().unwrap().clone();
    group.bench_function("signature_claims", |b| {
        b.iter_batched(
            &mut unverified_copy,
            |u| u.verify(&key, &policy, now).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let observer = Observer::builder().policy(&policy).build().unwrap();
    let metrics = ReplayMetrics::register(observer.registry()).unwrap();
    let store = MemoryReplayStore::builder()
        .capacity(50_000_000)
        .metrics(&metrics)
        .build()
        .unwrap();
    let until = now.saturating_add(330);
    let mut n = 0_u64;
    group.bench_function("replay", |b| {
        b.iter_batched(
            || {
                n += 1;
                format!("0b8e6f7c-3a5d-4f21-9c1e-{n:012x}")
            },
            |jti| store.check(&issuer.url, &jti, until).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let metrics_step = || {
        let mut guard = observer.start_verification();
        guard.set_issuer(black_box(&issuer.url));
        guard.set_kid(black_box(KID));
        guard.finish(Ok(()));
    };
    group.bench_function("metrics", |b| b.iter(metrics_step));
    group.finish();

    // The same steps by alternation with the whole `verify_memory`, so that each step's share
    // of it comes from the same moments of load (`cargo xtask bench`).
    if attest_bench::paired_enabled() {
        let timed = |n: u64, step: &mut dyn FnMut()| {
            let started = Instant::now();
            for _ in 0..n {
                step();
            }
            started.elapsed()
        };
        let mut whole = |n| verify_all(&rt, &memory, issuer.tokens(n));
        let mut parse = |n| timed(n, &mut || _ = black_box(parse_step()));
        let mut key_lookup = |n| timed(n, &mut || _ = black_box(key_step()));
        let mut signature_only = |n| timed(n, &mut signature_step);
        let mut signature_claims = |n: u64| {
            let mut copies = (0..n).map(|_| unverified_copy()).collect::<Vec<_>>();
            timed(n, &mut || {
                let copy = copies.pop().unwrap();
                black_box(copy.verify(&key, &policy, now).unwrap());
            })
        };
        let fresh = std::cell::Cell::new(0_u64);
        let mut replay = |n: u64| {
            let jtis = (0..n)
                .map(|_| {
                    fresh.set(fresh.get() + 1);
                    format!("1c9e2d4a-7b3f-4e61-8a2d-{:012x}", fresh.get())
                })
                .collect::<Vec<_>>();
            let mut next = jtis.iter();
            timed(n, &mut || {
                let jti = next.next().unwrap();
                assert!(store.check(&issuer.url, jti, until).unwrap().is_fresh());
            })
        };
        let mut metrics = |n| timed(n, &mut || metrics_step());
        let results = attest_bench::alternated(
            50,
            60,
            6,
            &mut [
                &mut whole,
                &mut parse,
                &mut key_lookup,
                &mut signature_only,
                &mut signature_claims,
                &mut replay,
                &mut metrics,
            ],
        );
        let steps = [
            "parse",
            "key_lookup",
            "signature",
            "signature_claims",
            "replay",
            "metrics",
        ];
        for (step, result) in steps.iter().zip(&results) {
            let what = format!("breakdown: {step} ÷ Verifier::verify on the memory store");
            attest_bench::record_paired(&format!("breakdown_{step}"), &what, result).unwrap();
        }
    }
    drop(redis);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(40)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = pipeline
}
criterion_main!(benches);
