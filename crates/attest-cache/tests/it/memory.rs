//! The memory store: the race, expiry, capacity without eviction, hostile input, metrics.

use std::sync::Arc;

use attest_cache::{
    BACKEND_MEMORY, CacheError, Freshness, Health, MemoryReplayStore, OUTCOME_CAPACITY,
    OUTCOME_FRESH, OUTCOME_REJECTED, OUTCOME_REPLAYED, ReplayMetrics, ReplayStore,
};
use prometheus::Registry;

use crate::support::{ISS, race, sleep_past, tally, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_checks_of_one_jti_give_exactly_one_fresh() {
    let registry = Registry::new();
    let metrics = ReplayMetrics::register(&registry).unwrap();
    let store: Arc<dyn ReplayStore> = Arc::new(
        MemoryReplayStore::builder()
            .capacity(10_000)
            .metrics(&metrics)
            .build()
            .unwrap(),
    );
    let results = race(Arc::clone(&store), 1000, "race-jti", until(300)).await;
    assert_eq!(tally(&results), (1, 999, 0));
    assert_eq!(metrics.checks(BACKEND_MEMORY, OUTCOME_FRESH), 1);
    assert_eq!(metrics.checks(BACKEND_MEMORY, OUTCOME_REPLAYED), 999);
    assert_eq!(metrics.replays_detected(), 999);
    assert_eq!(metrics.duration_samples(BACKEND_MEMORY), 1000);
}

#[test]
fn thousand_threads_racing_on_one_jti_give_exactly_one_fresh() {
    // The same race with OS threads, so the checks truly overlap on both cores.
    let store = Arc::new(MemoryReplayStore::with_capacity(10_000).unwrap());
    let barrier = Arc::new(std::sync::Barrier::new(1000));
    let record_until = until(300);
    let threads: Vec<_> = (0..1000)
        .map(|_| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                store.check(ISS, "thread-race", record_until)
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(tally(&results), (1, 999, 0));
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn an_entry_expires_on_time_and_the_jti_is_then_accepted_again() {
    let store = MemoryReplayStore::with_capacity(100).unwrap();
    // A token whose exp + leeway is 2 s away.
    let first_until = until(2);
    assert_eq!(
        store.check_and_record(ISS, "expiring", first_until).await,
        Ok(Freshness::Fresh)
    );
    assert_eq!(
        store.check_and_record(ISS, "expiring", first_until).await,
        Ok(Freshness::Replayed)
    );
    sleep_past(first_until).await;
    // The record is gone, and so is the token's validity: verify() refuses it from
    // exp + leeway on, and the store refuses that expiry too.
    assert_eq!(
        store.check_and_record(ISS, "expiring", first_until).await,
        Err(CacheError::AlreadyExpired)
    );
    // Only a *different*, still-valid token (a new exp) can carry the jti again. Accepting it is
    // safe: the replayed bytes of the first token can never verify again, and a new token
    // needs the issuer's signature.
    let second_until = until(300);
    assert_eq!(
        store.check_and_record(ISS, "expiring", second_until).await,
        Ok(Freshness::Fresh)
    );
    store.run_maintenance();
    assert_eq!(store.len(), 1, "the expired record gave its slot back");
}

#[tokio::test]
async fn at_capacity_it_refuses_and_never_evicts() {
    let registry = Registry::new();
    let metrics = ReplayMetrics::register(&registry).unwrap();
    let store = MemoryReplayStore::builder()
        .capacity(100)
        .metrics(&metrics)
        .build()
        .unwrap();
    let record_until = until(300);
    for i in 0..100 {
        assert_eq!(
            store
                .check_and_record(ISS, &format!("j{i}"), record_until)
                .await,
            Ok(Freshness::Fresh)
        );
    }
    assert_eq!(store.len(), 100);
    assert!(matches!(store.health(), Health::Unhealthy { .. }));
    for i in 0..10 {
        assert_eq!(
            store
                .check_and_record(ISS, &format!("new{i}"), record_until)
                .await,
            Err(CacheError::Capacity { capacity: 100 })
        );
    }
    assert_eq!(metrics.checks(BACKEND_MEMORY, OUTCOME_CAPACITY), 10);
    // Nothing was evicted: every earlier jti is still a replay, even while full.
    for i in 0..100 {
        assert_eq!(
            store
                .check_and_record(ISS, &format!("j{i}"), record_until)
                .await,
            Ok(Freshness::Replayed),
            "j{i} was evicted"
        );
    }
    // A refused jti was not recorded either.
    store.run_maintenance();
    assert_eq!(store.len(), 100);
    assert_eq!(
        store.check_and_record(ISS, "new0", record_until).await,
        Err(CacheError::Capacity { capacity: 100 })
    );
}

#[tokio::test]
async fn a_full_store_makes_room_only_as_records_expire() {
    let store = MemoryReplayStore::with_capacity(10).unwrap();
    let short = until(2);
    let long = until(300);
    for i in 0..5 {
        assert!(
            store
                .check(ISS, &format!("short{i}"), short)
                .unwrap()
                .is_fresh()
        );
        assert!(
            store
                .check(ISS, &format!("long{i}"), long)
                .unwrap()
                .is_fresh()
        );
    }
    assert_eq!(
        store.check(ISS, "late", long),
        Err(CacheError::Capacity { capacity: 10 })
    );
    sleep_past(short).await;
    // The five short records expired: a full store reclaims them (once, before refusing) and
    // accepts exactly five new ones. The five live records are untouched.
    for i in 0..5 {
        assert!(
            store
                .check(ISS, &format!("late{i}"), long)
                .unwrap()
                .is_fresh()
        );
    }
    assert_eq!(
        store.check(ISS, "late5", long),
        Err(CacheError::Capacity { capacity: 10 })
    );
    for i in 0..5 {
        assert_eq!(
            store.check(ISS, &format!("long{i}"), long),
            Ok(Freshness::Replayed)
        );
    }
}

#[tokio::test]
async fn issuers_have_separate_namespaces() {
    let store = MemoryReplayStore::with_capacity(100).unwrap();
    let t = until(300);
    assert_eq!(
        store.check("https://a.example", "same", t),
        Ok(Freshness::Fresh)
    );
    assert_eq!(
        store.check("https://b.example", "same", t),
        Ok(Freshness::Fresh)
    );
    assert_eq!(
        store.check("https://a.example", "same", t),
        Ok(Freshness::Replayed)
    );
}

#[tokio::test]
async fn hostile_jtis_are_refused_or_kept_apart() {
    let registry = Registry::new();
    let metrics = ReplayMetrics::register(&registry).unwrap();
    let store = MemoryReplayStore::builder()
        .capacity(100)
        .metrics(&metrics)
        .build()
        .unwrap();
    let t = until(300);
    let hostile = [
        "*",
        "attest:jti",
        "attest:jti:*",
        "a:b",
        "a",
        "{a}",
        "\0",
        "\r\nDEL x\r\n",
        "\u{fffd}\u{7f}🦀",
    ];
    for jti in hostile {
        assert_eq!(store.check(ISS, jti, t), Ok(Freshness::Fresh), "{jti:?}");
    }
    for jti in hostile {
        assert_eq!(store.check(ISS, jti, t), Ok(Freshness::Replayed), "{jti:?}");
    }
    let long = "x".repeat(10_000);
    assert_eq!(
        store.check(ISS, &long, t),
        Err(CacheError::JtiTooLong {
            len: 10_000,
            max: 256
        })
    );
    assert_eq!(store.check(ISS, "", t), Err(CacheError::EmptyJti));
    assert_eq!(metrics.checks(BACKEND_MEMORY, OUTCOME_REJECTED), 2);
    assert_eq!(store.len(), hostile.len() as u64);
}

#[tokio::test]
async fn the_store_is_usable_as_a_trait_object() {
    let store: Box<dyn ReplayStore> = Box::new(MemoryReplayStore::with_capacity(10).unwrap());
    assert_eq!(store.health(), Health::Healthy);
    let t = until(60);
    assert!(
        store
            .check_and_record(ISS, "dyn", t)
            .await
            .unwrap()
            .is_fresh()
    );
    assert!(
        !store
            .check_and_record(ISS, "dyn", t)
            .await
            .unwrap()
            .is_fresh()
    );
}
