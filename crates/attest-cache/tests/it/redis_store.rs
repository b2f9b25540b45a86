//! The Redis store on a real Redis: the race, expiry, two replicas, hostile input, Redis dying
//! and coming back (fail closed and fallback), AUTH/ACL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use attest_cache::{
    BACKEND_FALLBACK, BACKEND_REDIS, CacheError, Fallback, Freshness, Health, ISSUER_HASH_CHARS,
    JTI_HASH_CHARS, OUTCOME_ERROR, OUTCOME_FRESH, OUTCOME_REJECTED, OUTCOME_REPLAYED, RedisConfig,
    RedisReplayStore, ReplayMetrics, ReplayStore,
};
use attest_testkit::redis::{TestRedis, closed_port, private_redis, private_tls_redis, redis};
use prometheus::Registry;

use crate::support::{ISS, millis, race, sleep_past, tally, unique_prefix, until};

fn config(url: &str, prefix: &str) -> RedisConfig {
    RedisConfig::from_url(url)
        .unwrap()
        .key_prefix(prefix)
        .unwrap()
}

fn store(url: &str, prefix: &str) -> RedisReplayStore {
    RedisReplayStore::new(config(url, prefix)).unwrap()
}

async fn raw(url: &str) -> ::redis::aio::MultiplexedConnection {
    ::redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn scan_keys(url: &str, prefix: &str) -> Vec<String> {
    let mut conn = raw(url).await;
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

fn test_redis() -> Option<TestRedis> {
    redis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_checks_of_one_jti_give_exactly_one_fresh() {
    let Some(redis) = test_redis() else { return };
    let registry = Registry::new();
    let metrics = ReplayMetrics::register(&registry).unwrap();
    let store: Arc<dyn ReplayStore> = Arc::new(
        RedisReplayStore::new(
            config(&redis.url(), &unique_prefix("race"))
                .pool_size(16)
                .metrics(&metrics),
        )
        .unwrap(),
    );
    let results = race(Arc::clone(&store), 1000, "race-jti", until(300)).await;
    assert_eq!(
        tally(&results),
        (1, 999, 0),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    assert_eq!(metrics.checks(BACKEND_REDIS, OUTCOME_FRESH), 1);
    assert_eq!(metrics.checks(BACKEND_REDIS, OUTCOME_REPLAYED), 999);
    assert_eq!(metrics.replays_detected(), 999);
    assert_eq!(metrics.backend_errors(BACKEND_REDIS), 0);
    assert_eq!(metrics.duration_samples(BACKEND_REDIS), 1000);
    assert_eq!(store.health(), Health::Healthy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_expires_on_time_and_the_jti_is_then_accepted_again() {
    let Some(redis) = test_redis() else { return };
    let url = redis.url();
    let store = store(&url, &unique_prefix("expiry"));
    let key = store.key_scheme().key(ISS, "expiring").unwrap();
    let mut conn = raw(&url).await;

    let record_until = until(2);
    assert_eq!(
        store.check_and_record(ISS, "expiring", record_until).await,
        Ok(Freshness::Fresh)
    );
    // One command set the value and the absolute expiry together: exp + leeway, to the ms.
    let expire_at: i64 = ::redis::cmd("PEXPIRETIME")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(expire_at, i64::try_from(millis(record_until)).unwrap());
    assert_eq!(
        store.check_and_record(ISS, "expiring", record_until).await,
        Ok(Freshness::Replayed)
    );

    sleep_past(record_until).await;
    let exists: i64 = ::redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0, "Redis dropped the record at record_until");
    // The token itself is dead now: verify() refuses it from exp + leeway on, and so does the
    // store (before any I/O). Re-acceptance of the jti is therefore safe: only a different,
    // newly signed token with a later exp can carry it again.
    assert_eq!(
        store.check_and_record(ISS, "expiring", record_until).await,
        Err(CacheError::AlreadyExpired)
    );
    assert_eq!(
        store.check_and_record(ISS, "expiring", until(300)).await,
        Ok(Freshness::Fresh)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_sharing_one_redis_see_each_others_records() {
    let Some(redis) = test_redis() else { return };
    let prefix = unique_prefix("replicas");
    let a = Arc::new(store(&redis.url(), &prefix));
    let b = Arc::new(store(&redis.url(), &prefix));
    let t = until(300);
    assert_eq!(
        a.check_and_record(ISS, "shared", t).await,
        Ok(Freshness::Fresh)
    );
    assert_eq!(
        b.check_and_record(ISS, "shared", t).await,
        Ok(Freshness::Replayed)
    );
    assert_eq!(
        b.check_and_record(ISS, "other", t).await,
        Ok(Freshness::Fresh)
    );
    assert_eq!(
        a.check_and_record(ISS, "other", t).await,
        Ok(Freshness::Replayed)
    );

    // Both replicas racing on one jti: still exactly one Fresh in total.
    let (ra, rb) = tokio::join!(
        race(a.clone(), 500, "raced", t),
        race(b.clone(), 500, "raced", t)
    );
    let all: Vec<_> = ra.into_iter().chain(rb).collect();
    assert_eq!(tally(&all), (1, 999, 0));

    // Another issuer with the same jti is another record; another prefix is another store.
    assert_eq!(
        a.check_and_record("https://other.example", "shared", t)
            .await,
        Ok(Freshness::Fresh)
    );
    let elsewhere = store(&redis.url(), &unique_prefix("replicas-elsewhere"));
    assert_eq!(
        elsewhere.check_and_record(ISS, "shared", t).await,
        Ok(Freshness::Fresh)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_jtis_are_encoded_safely_in_redis() {
    let Some(redis) = test_redis() else { return };
    let url = redis.url();
    let prefix = unique_prefix("hostile");
    let store = store(&url, &prefix);
    let t = until(300);
    let hostile = [
        "*".to_owned(),
        "?".to_owned(),
        "[a-z]".to_owned(),
        "attest:jti".to_owned(),
        "attest:jti:*".to_owned(),
        format!("{prefix}:*"),
        prefix.clone(),
        "a:b:c".to_owned(),
        "{hash-tag}".to_owned(),
        "\0\u{1}\u{7f}".to_owned(),
        "\r\nFLUSHALL\r\n".to_owned(),
        "$-1\r\n".to_owned(),
        "\u{fffd}\u{fffe}é漢🦀".to_owned(),
        " ".to_owned(),
        "j".repeat(256),
    ];
    for jti in &hostile {
        assert_eq!(
            store.check_and_record(ISS, jti, t).await,
            Ok(Freshness::Fresh),
            "{jti:?}"
        );
    }
    for jti in &hostile {
        assert_eq!(
            store.check_and_record(ISS, jti, t).await,
            Ok(Freshness::Replayed),
            "{jti:?}"
        );
    }
    // Exactly one key per jti, each of the fixed shape: nothing raw reached the key space.
    let keys = scan_keys(&url, &prefix).await;
    assert_eq!(keys.len(), hostile.len(), "{keys:?}");
    for key in &keys {
        let rest = key.strip_prefix(&format!("{prefix}:")).unwrap();
        let (issuer, jti) = rest.split_once(':').unwrap();
        assert_eq!(issuer.len(), ISSUER_HASH_CHARS, "{key}");
        assert_eq!(jti.len(), JTI_HASH_CHARS, "{key}");
        assert!(
            rest.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':')),
            "{key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_long_jti_is_refused_before_any_io() {
    // Nothing listens on this port: any I/O would fail with a backend error, not JtiTooLong.
    let url = format!("redis://127.0.0.1:{}", closed_port().unwrap());
    let registry = Registry::new();
    let metrics = ReplayMetrics::register(&registry).unwrap();
    let store = RedisReplayStore::new(
        config(&url, "attest:jti")
            .connect_timeout(Duration::from_millis(200))
            .metrics(&metrics),
    )
    .unwrap();
    let long = "x".repeat(257);
    let started = Instant::now();
    assert_eq!(
        store.check_and_record(ISS, &long, until(300)).await,
        Err(CacheError::JtiTooLong { len: 257, max: 256 })
    );
    assert_eq!(
        store.check_and_record(ISS, "", until(300)).await,
        Err(CacheError::EmptyJti)
    );
    assert_eq!(
        store
            .check_and_record(ISS, "ok", attest_core::UnixTime::from_secs(1))
            .await,
        Err(CacheError::AlreadyExpired)
    );
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(store.open_connections(), 0, "no connection was opened");
    assert_eq!(metrics.backend_errors(BACKEND_REDIS), 0);
    assert_eq!(metrics.checks(BACKEND_REDIS, OUTCOME_REJECTED), 3);
    assert_eq!(store.health(), Health::Healthy);

    // The URL really is unreachable: a valid jti fails closed, with a backend error.
    let err = store
        .check_and_record(ISS, "valid", until(300))
        .await
        .unwrap_err();
    assert!(err.is_backend_failure(), "{err:?}");
    assert_eq!(metrics.backend_errors(BACKEND_REDIS), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_dies_checks_fail_closed_then_recover_without_a_new_store() {
    let Some(mut server) = private_redis() else {
        return;
    };
    let registry = Registry::new();
    let metrics = ReplayMetrics::register(&registry).unwrap();
    let store = RedisReplayStore::new(
        config(&server.url(), "attest:jti")
            .connect_timeout(Duration::from_millis(300))
            .command_timeout(Duration::from_millis(300))
            .metrics(&metrics),
    )
    .unwrap();
    let t = until(300);
    store.ping().await.unwrap();
    assert_eq!(
        store.check_and_record(ISS, "before", t).await,
        Ok(Freshness::Fresh)
    );

    server.kill();
    for jti in ["during-1", "during-2", "before"] {
        let err = store.check_and_record(ISS, jti, t).await.unwrap_err();
        assert!(err.is_backend_failure(), "{jti}: {err:?}");
    }
    assert!(
        matches!(store.health(), Health::Unhealthy { reason } if reason.contains("failing closed"))
    );
    assert_eq!(metrics.checks(BACKEND_REDIS, OUTCOME_ERROR), 3);
    assert_eq!(metrics.backend_errors(BACKEND_REDIS), 3);
    assert_eq!(metrics.fallback_activations(), 0);
    assert!(store.ping().await.is_err());

    server.restart().unwrap();
    // Same store, same pool: broken connections fail their PING on the way out of the pool and
    // are replaced, so the very first check after the restart is answered.
    assert_eq!(
        store.check_and_record(ISS, "during-1", t).await,
        Ok(Freshness::Fresh),
        "a refused token did not burn its jti"
    );
    assert_eq!(store.health(), Health::Healthy);
    assert_eq!(
        store.check_and_record(ISS, "during-1", t).await,
        Ok(Freshness::Replayed)
    );
    // This server has no persistence, so it forgot "before": the reason SPEC.md asks for a
    // persistent Redis (AOF) where a restart must not reopen the replay window.
    assert_eq!(
        store.check_and_record(ISS, "before", t).await,
        Ok(Freshness::Fresh)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_one_dropped_connection_reconnects_every_slot() {
    let Some(mut server) = private_redis() else {
        return;
    };
    let store = RedisReplayStore::new(config(&server.url(), "attest:jti").pool_size(4)).unwrap();
    let t = until(300);
    for i in 0..4 {
        assert!(
            store
                .check_and_record(ISS, &format!("a{i}"), t)
                .await
                .unwrap()
                .is_fresh()
        );
    }
    assert_eq!(store.open_connections(), 4);
    server.restart().unwrap();
    // The first check lands on a connection that died with the old server: it fails closed
    // (whether its command reached Redis is unknowable, so it is not retried)...
    let err = store.check_and_record(ISS, "b0", t).await.unwrap_err();
    assert!(err.is_backend_failure(), "{err:?}");
    // ...and marks every slot for a check, so no other slot fails the same way.
    for i in 1..=8 {
        assert_eq!(
            store.check_and_record(ISS, &format!("b{i}"), t).await,
            Ok(Freshness::Fresh),
            "b{i}"
        );
    }
    assert_eq!(store.health(), Health::Healthy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_during_a_quiet_period_costs_no_failed_check() {
    let Some(mut server) = private_redis() else {
        return;
    };
    let store = RedisReplayStore::new(config(&server.url(), "attest:jti").pool_size(4)).unwrap();
    let t = until(300);
    for i in 0..4 {
        assert!(
            store
                .check_and_record(ISS, &format!("a{i}"), t)
                .await
                .unwrap()
                .is_fresh()
        );
    }
    server.restart().unwrap();
    // Idle slots are checked (PING through the pool) before their next use.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for i in 0..8 {
        assert_eq!(
            store.check_and_record(ISS, &format!("b{i}"), t).await,
            Ok(Freshness::Fresh),
            "b{i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_dies_with_memory_fallback_degrades_loudly_then_returns() {
    let Some(mut server) = private_redis() else {
        return;
    };
    let url = server.url();
    let registry = Registry::new();
    let metrics = ReplayMetrics::register(&registry).unwrap();
    let store = RedisReplayStore::new(
        config(&url, "attest:jti")
            .fallback(Fallback::Memory)
            .probe_interval(Duration::from_millis(100))
            .connect_timeout(Duration::from_millis(300))
            .command_timeout(Duration::from_millis(300))
            .metrics(&metrics),
    )
    .unwrap();
    let t = until(300);
    assert_eq!(
        store.check_and_record(ISS, "before", t).await,
        Ok(Freshness::Fresh)
    );
    assert_eq!(metrics.fallback_activations(), 0);

    server.kill();
    assert_eq!(
        store.check_and_record(ISS, "during", t).await,
        Ok(Freshness::Fresh),
        "served from the memory fallback"
    );
    assert!(matches!(store.health(), Health::Degraded { reason } if reason.contains("replicas")));
    assert_eq!(metrics.fallback_activations(), 1);
    assert_eq!(metrics.backend_errors(BACKEND_REDIS), 1);
    assert_eq!(metrics.checks(BACKEND_FALLBACK, OUTCOME_FRESH), 1);
    assert_eq!(metrics.checks(BACKEND_REDIS, OUTCOME_ERROR), 0);
    assert_eq!(
        store.check_and_record(ISS, "during", t).await,
        Ok(Freshness::Replayed)
    );
    // The weakening, made visible: "before" lives only in the dead Redis, so the fallback
    // accepts it again. (Across replicas, every replica would.)
    assert_eq!(
        store.check_and_record(ISS, "before", t).await,
        Ok(Freshness::Fresh)
    );
    assert_eq!(
        metrics.fallback_activations(),
        1,
        "one outage, one activation"
    );

    server.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut n = 0;
    while store.health() != Health::Healthy {
        assert!(Instant::now() < deadline, "did not return to redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
        n += 1;
        assert!(
            store
                .check_and_record(ISS, &format!("probe-{n}"), t)
                .await
                .unwrap()
                .is_fresh()
        );
    }
    // Back on Redis, without recreating the store; the record goes to Redis again.
    assert_eq!(
        store.check_and_record(ISS, "after", t).await,
        Ok(Freshness::Fresh)
    );
    let key = store.key_scheme().key(ISS, "after").unwrap();
    let exists: i64 = ::redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut raw(&url).await)
        .await
        .unwrap();
    assert_eq!(exists, 1);
    // What the fallback recorded during the outage stays a replay on this replica.
    assert_eq!(
        store.check_and_record(ISS, "during", t).await,
        Ok(Freshness::Replayed)
    );
    assert_eq!(metrics.fallback_activations(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_user_and_password_from_the_url() {
    let Some(server) = private_redis() else {
        return;
    };
    let mut admin = raw(&server.url()).await;
    // The least a replay store needs: SET on its own key prefix, and PING and UNWATCH (the
    // pool's connection check).
    let () = ::redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "replay",
            "on",
            ">s3cret:pw",
            "resetkeys",
            "~attest-acl:*",
            "resetchannels",
            "-@all",
            "+set",
            "+ping",
            "+unwatch",
        ])
        .query_async(&mut admin)
        .await
        .unwrap();
    let port = server.port();
    let good = store(
        &format!("redis://replay:s3cret%3Apw@127.0.0.1:{port}"),
        "attest-acl:jti",
    );
    let t = until(300);
    assert_eq!(
        good.check_and_record(ISS, "acl", t).await,
        Ok(Freshness::Fresh)
    );
    assert_eq!(
        good.check_and_record(ISS, "acl", t).await,
        Ok(Freshness::Replayed)
    );

    let wrong = RedisReplayStore::new(
        config(
            &format!("redis://replay:wrong@127.0.0.1:{port}"),
            "attest-acl:jti",
        )
        .connect_timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let err = wrong.check_and_record(ISS, "acl2", t).await.unwrap_err();
    assert!(err.is_backend_failure(), "{err:?}");
    assert!(
        !err.to_string().contains("wrong"),
        "no password in errors: {err}"
    );

    // A prefix outside the ACL's key pattern is refused by Redis: fail closed.
    let outside = store(
        &format!("redis://replay:s3cret%3Apw@127.0.0.1:{port}"),
        "elsewhere",
    );
    let err = outside.check_and_record(ISS, "acl3", t).await.unwrap_err();
    assert!(err.is_backend_failure(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_url_with_a_private_ca() {
    let Some(server) = private_tls_redis() else {
        return;
    };
    let url = server.url();
    assert!(url.starts_with("rediss://localhost:"), "{url}");
    let tls = RedisReplayStore::new(
        config(&url, "attest:jti").tls_root_ca_pem(server.ca_pem().unwrap().to_vec()),
    )
    .unwrap();
    let t = until(300);
    tls.ping().await.unwrap();
    assert_eq!(
        tls.check_and_record(ISS, "tls", t).await,
        Ok(Freshness::Fresh)
    );
    assert_eq!(
        tls.check_and_record(ISS, "tls", t).await,
        Ok(Freshness::Replayed)
    );

    // The same server is not trusted through the system roots: the handshake fails, closed.
    let untrusted = RedisReplayStore::new(
        config(&url, "attest:jti").connect_timeout(Duration::from_millis(500)),
    )
    .unwrap();
    let err = untrusted
        .check_and_record(ISS, "tls2", t)
        .await
        .unwrap_err();
    assert!(err.is_backend_failure(), "{err:?}");
    // And plain text to the TLS port gets no answer either.
    let plain = RedisReplayStore::new(
        config(
            &format!("redis://127.0.0.1:{}", server.port()),
            "attest:jti",
        )
        .connect_timeout(Duration::from_millis(300))
        .command_timeout(Duration::from_millis(300)),
    )
    .unwrap();
    assert!(
        plain
            .check_and_record(ISS, "tls3", t)
            .await
            .unwrap_err()
            .is_backend_failure()
    );
}

#[test]
fn a_private_server_can_be_killed_and_restarted_on_its_port() {
    let Some(mut server) = private_redis() else {
        return;
    };
    let port = server.port();
    assert!(server.is_running());
    server.kill();
    assert!(!server.is_running());
    server.restart().unwrap();
    assert_eq!(server.port(), port);
    assert!(attest_testkit::redis::url_answers(&server.url()));
}
