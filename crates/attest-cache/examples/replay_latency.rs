//! Per-operation latency of replay checks: p50, p99 and throughput, which criterion's means do
//! not give. Run with `cargo run --release -p attest-cache --example replay_latency`.
//!
//! Uses `REDIS_URL` when set and answering, else a private `redis-server` (attest-testkit).
//! Prints one table row per scenario; every scenario runs in the same process, so ratios
//! between rows are meaningful. `ATTEST_BENCH_OPS` sets the operations per scenario.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)] // a measurement tool: a panic is a failed run

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use attest_cache::{MemoryReplayStore, RedisConfig, RedisReplayStore, ReplayStore};
use attest_core::UnixTime;

const ISS: &str = "https://issuer.example";

fn until(secs: u64) -> UnixTime {
    UnixTime::from(SystemTime::now()).saturating_add(secs)
}

fn unix_ms_in(secs: u64) -> u64 {
    until(secs).as_secs() * 1000
}

struct Row {
    name: &'static str,
    ops: usize,
    in_flight: usize,
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Row {
    fn print(mut self) {
        self.latencies.sort_unstable();
        let pct = |p: f64| {
            let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
            self.latencies[i].as_secs_f64() * 1e6
        };
        let mean = self
            .latencies
            .iter()
            .map(Duration::as_secs_f64)
            .sum::<f64>()
            / self.latencies.len() as f64
            * 1e6;
        println!(
            "| {:<44} | {:>4} | {:>9.2} | {:>9.2} | {:>9.2} | {:>11.0} |",
            self.name,
            self.in_flight,
            mean,
            pct(0.50),
            pct(0.99),
            self.ops as f64 / self.wall.as_secs_f64()
        );
    }
}

/// Runs `ops` operations with `in_flight` concurrent workers; each returns its latency.
async fn measure<F, Fut>(name: &'static str, ops: usize, in_flight: usize, op: F) -> Row
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let per_worker = ops / in_flight;
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for w in 0..in_flight {
        let op = Arc::clone(&op);
        set.spawn(async move {
            let mut lat = Vec::with_capacity(per_worker);
            for i in 0..per_worker {
                let t = Instant::now();
                op(w * per_worker + i).await;
                lat.push(t.elapsed());
            }
            lat
        });
    }
    let mut latencies = Vec::with_capacity(ops);
    while let Some(lat) = set.join_next().await {
        latencies.extend(lat.unwrap());
    }
    Row {
        name,
        ops: per_worker * in_flight,
        in_flight,
        latencies,
        wall: started.elapsed(),
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let ops: usize = std::env::var("ATTEST_BENCH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let redis = attest_testkit::redis::redis().expect("a Redis for the Redis rows");
    let url = redis.url();
    let run_id = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();

    println!("| scenario | in flight | mean µs | p50 µs | p99 µs | ops/s |");
    println!("|---|---|---|---|---|---|");

    // Memory: every check a fresh jti (insert-if-absent with per-entry expiry).
    let memory = Arc::new(
        MemoryReplayStore::builder()
            .capacity(10_000_000)
            .build()
            .unwrap(),
    );
    let t = until(60);
    let m = Arc::clone(&memory);
    measure("memory check_and_record (fresh)", ops * 5, 1, move |i| {
        let m = Arc::clone(&m);
        async move {
            let jti = format!("m-{i}");
            assert!(m.check(ISS, &jti, t).unwrap().is_fresh());
        }
    })
    .await
    .print();
    let m = Arc::clone(&memory);
    measure("memory check_and_record (replay)", ops * 5, 1, move |_| {
        let m = Arc::clone(&m);
        async move {
            assert!(!m.check(ISS, "m-0", t).unwrap().is_fresh());
        }
    })
    .await
    .print();

    // Raw redis-rs on one multiplexed connection: the floor (what the reference measured).
    let raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for (name, in_flight) in [
        ("raw SET NX PXAT, one multiplexed conn", 1),
        ("raw SET NX PXAT, one multiplexed conn", 64),
    ] {
        let raw = raw.clone();
        let at = unix_ms_in(60);
        measure(name, ops, in_flight, move |i| {
            let mut conn = raw.clone();
            async move {
                let key = format!("bench-raw:{run_id}:{in_flight}:{i}");
                let v: redis::Value = redis::cmd("SET")
                    .arg(key)
                    .arg(1)
                    .arg("NX")
                    .arg("PXAT")
                    .arg(at)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                assert_eq!(v, redis::Value::Okay);
            }
        })
        .await
        .print();
    }

    // The store: key derivation, pool checkout, SET NX PXAT, metrics-free.
    for (name, in_flight, pool) in [
        ("RedisReplayStore, pool 1 (default)", 1, 1),
        ("RedisReplayStore, pool 1 (default)", 64, 1),
        ("RedisReplayStore, pool 4", 64, 4),
        ("RedisReplayStore, pool 16", 64, 16),
    ] {
        let store = Arc::new(
            RedisReplayStore::new(
                RedisConfig::from_url(url.as_str())
                    .unwrap()
                    .key_prefix(&format!("bench-store:{run_id}:{in_flight}:{pool}"))
                    .unwrap()
                    .pool_size(pool),
            )
            .unwrap(),
        );
        store.ping().await.unwrap();
        let t = until(60);
        measure(name, ops, in_flight, move |i| {
            let store = Arc::clone(&store);
            async move {
                let jti = format!("r-{i}");
                assert!(
                    store
                        .check_and_record(ISS, &jti, t)
                        .await
                        .unwrap()
                        .is_fresh()
                );
            }
        })
        .await
        .print();
    }
}
