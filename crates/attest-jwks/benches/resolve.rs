//! Criterion benchmarks of key resolution: a cache hit (target well under 1 µs), and a cold
//! miss that fetches from a loopback issuer (a `KeyRing` served by the axum router).
//!
//! `cargo bench -p attest-jwks --bench resolve`; the figures go in docs/PERFORMANCE.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed setup is a broken benchmark
#![allow(missing_docs)] // criterion_main! generates an undocumented `main`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use attest_core::{KeySet, SigningKey};
use attest_jwks::{JwksResolver, KeyRing, publish};
use attest_observe::Observer;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

/// Polls a future once; a cache hit completes on its first poll, without any executor.
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

fn ring() -> KeyRing {
    let ring = KeyRing::new(SigningKey::from_seed(&[1; 32], "k1").unwrap());
    // A realistic set: the current key and two retired ones.
    let now = attest_core::UnixTime::from_secs(1_790_000_000);
    ring.rotate(SigningKey::from_seed(&[2; 32], "k2").unwrap(), now)
        .unwrap();
    ring.rotate(SigningKey::from_seed(&[3; 32], "k3").unwrap(), now)
        .unwrap();
    ring
}

fn resolver(observer: &Observer, issuer: &str) -> JwksResolver {
    JwksResolver::builder(observer.clone())
        .danger_allow_loopback_http(true)
        .issuer(issuer)
        .build()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ring = ring();
    let issuer = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = publish::router(ring.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    });
    let observer = Observer::builder()
        .trusted_issuer(issuer.as_str())
        .build()
        .unwrap();
    let _entered = rt.enter();

    let mut group = c.benchmark_group("jwks");

    // The floor: a HashMap lookup in a parsed set and a clone of the key.
    let set = ring.key_set();
    group.bench_function("floor_keyset_get", |b| {
        b.iter(|| black_box(&set).get(black_box("k2")).cloned().unwrap())
    });

    // What a fetch spends on ingest: strict parsing and the import checks of three keys.
    let body = ring.document().body.clone();
    group.bench_function("keyset_parse_3_keys", |b| {
        b.iter(|| KeySet::parse(black_box(body.as_bytes()), Default::default()).unwrap())
    });

    let warm = resolver(&observer, &issuer);
    rt.block_on(warm.resolve(&issuer, "k2")).unwrap();
    group.bench_function("resolve_hit", |b| {
        b.iter(|| poll_once(warm.resolve(black_box(&issuer), black_box("k2"))).unwrap())
    });
    group.bench_function("cached_hit", |b| {
        b.iter(|| warm.cached(black_box(&issuer), black_box("k2")).unwrap())
    });
    let unknown = resolver(&observer, &issuer);
    rt.block_on(unknown.resolve(&issuer, "k2")).unwrap();
    let _ = rt.block_on(unknown.resolve(&issuer, "nope"));
    group.bench_function("resolve_unknown_kid_negative", |b| {
        b.iter(|| poll_once(unknown.resolve(black_box(&issuer), black_box("nope"))).unwrap_err())
    });

    // A fresh resolver each time (built outside the timing): connect, GET, parse, cache.
    group.sample_size(50);
    group.bench_function("resolve_cold_miss_loopback", |b| {
        b.iter_batched(
            || resolver(&observer, &issuer),
            |cold| rt.block_on(cold.resolve(&issuer, "k2")).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
