//! Replay-check benchmarks: the memory store, and the Redis store sequentially and with 64
//! checks in flight, each beside raw redis-rs `SET NX PXAT` on one multiplexed connection (the
//! floor) in the same run. Run with `cargo bench -p attest-cache --bench replay`.
//!
//! Criterion reports means; `examples/replay_latency.rs` reports p50/p99. Redis comes from
//! `REDIS_URL` when set and answering, else a private `redis-server` (attest-testkit).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)] // a benchmark: a panic is a failed run

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use attest_cache::{MemoryReplayStore, RedisConfig, RedisReplayStore, ReplayStore};
use attest_core::UnixTime;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

const ISS: &str = "https://issuer.example";
const IN_FLIGHT: u64 = 64;

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn next_jti() -> String {
    format!("bench-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn until(secs: u64) -> UnixTime {
    UnixTime::from(SystemTime::now()).saturating_add(secs)
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn run_id() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn memory(c: &mut Criterion) {
    let store = MemoryReplayStore::builder()
        .capacity(50_000_000)
        .build()
        .unwrap();
    let mut group = c.benchmark_group("replay/memory");
    group.throughput(Throughput::Elements(1));
    group.bench_function("check_and_record_fresh", |b| {
        b.iter_custom(|iters| {
            let jtis: Vec<String> = (0..iters).map(|_| next_jti()).collect();
            // Records live 10 s, so they expire (and are reclaimed) while the bench runs.
            let t = until(10);
            let started = Instant::now();
            for jti in &jtis {
                assert!(store.check(ISS, jti, t).unwrap().is_fresh());
            }
            started.elapsed()
        });
    });
    let t = until(3600);
    assert!(store.check(ISS, "replayed", t).unwrap().is_fresh());
    group.bench_function("check_and_record_replay", |b| {
        b.iter(|| store.check(ISS, "replayed", t).unwrap());
    });
    group.finish();
}

/// Runs `iters` operations, `IN_FLIGHT` at a time, and returns the wall time.
fn concurrent<F, Fut>(rt: &Runtime, iters: u64, op: F) -> Duration
where
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let jtis: Vec<Vec<String>> = (0..IN_FLIGHT)
        .map(|w| {
            let share = iters / IN_FLIGHT + u64::from(w < iters % IN_FLIGHT);
            (0..share).map(|_| next_jti()).collect()
        })
        .collect();
    rt.block_on(async move {
        let started = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for batch in jtis {
            let op = op.clone();
            set.spawn(async move {
                for jti in batch {
                    op(jti).await;
                }
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
        started.elapsed()
    })
}

fn redis(c: &mut Criterion) {
    let Some(redis) = attest_testkit::redis::redis() else {
        return;
    };
    let url = redis.url();
    let rt = runtime();
    let id = run_id();
    let raw = rt.block_on(async {
        ::redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    });
    let store = Arc::new(
        RedisReplayStore::new(
            RedisConfig::from_url(url.as_str())
                .unwrap()
                .key_prefix(&format!("bench:{id}"))
                .unwrap(),
        )
        .unwrap(),
    );
    rt.block_on(store.ping()).unwrap();

    let raw_set = move |mut conn: ::redis::aio::MultiplexedConnection, key: String| async move {
        let at = until(60).as_secs() * 1000;
        let v: ::redis::Value = ::redis::cmd("SET")
            .arg(key)
            .arg(1)
            .arg("NX")
            .arg("PXAT")
            .arg(at)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(v, ::redis::Value::Okay);
    };

    let mut group = c.benchmark_group("replay/redis");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));

    group.bench_function("raw_set_nx_pxat_sequential", |b| {
        b.iter_custom(|iters| {
            let jtis: Vec<String> = (0..iters)
                .map(|_| format!("raw:{id}:{}", next_jti()))
                .collect();
            let raw = raw.clone();
            rt.block_on(async move {
                let started = Instant::now();
                for key in jtis {
                    raw_set(raw.clone(), key).await;
                }
                started.elapsed()
            })
        });
    });
    group.bench_function("store_sequential", |b| {
        b.iter_custom(|iters| {
            let jtis: Vec<String> = (0..iters).map(|_| next_jti()).collect();
            let store = Arc::clone(&store);
            rt.block_on(async move {
                let t = until(60);
                let started = Instant::now();
                for jti in jtis {
                    assert!(
                        store
                            .check_and_record(ISS, &jti, t)
                            .await
                            .unwrap()
                            .is_fresh()
                    );
                }
                started.elapsed()
            })
        });
    });
    group.bench_function("raw_set_nx_pxat_64_in_flight", |b| {
        b.iter_custom(|iters| {
            let raw = raw.clone();
            concurrent(&rt, iters, move |jti| {
                raw_set(raw.clone(), format!("raw:{id}:{jti}"))
            })
        });
    });
    group.bench_function("store_64_in_flight", |b| {
        b.iter_custom(|iters| {
            let store = Arc::clone(&store);
            let t = until(60);
            concurrent(&rt, iters, move |jti| {
                let store = Arc::clone(&store);
                async move {
                    assert!(
                        store
                            .check_and_record(ISS, &jti, t)
                            .await
                            .unwrap()
                            .is_fresh()
                    );
                }
            })
        });
    });
    group.finish();
}

criterion_group!(benches, memory, redis);
criterion_main!(benches);
