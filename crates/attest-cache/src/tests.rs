//! Unit tests of the pure parts: key derivation, capacity accounting, the health machine, URL
//! redaction and configuration checks. No Redis, no sleeping.

use std::sync::Arc;
use std::time::Duration;

use attest_core::UnixTime;

use crate::capacity::CapacityGate;
use crate::health::{Fallback, HealthMachine, Route, Transition};
use crate::redis_store::redact_url;
use crate::{
    CacheError, Clock, Freshness, Health, ISSUER_HASH_CHARS, JTI_HASH_CHARS, KeyScheme,
    ManualClock, MemoryReplayStore, RedisConfig, RedisReplayStore,
};

const ISS: &str = "https://issuer.example";

/// The key grammar every derived key must match: `{prefix}:{22 b64url}:{43 b64url}`.
fn assert_key_shape(key: &str, prefix: &str) {
    let rest = key
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix(':'))
        .unwrap_or_else(|| panic!("{key} lacks the prefix {prefix}"));
    let parts: Vec<&str> = rest.split(':').collect();
    assert_eq!(parts.len(), 2, "{key}");
    assert_eq!(parts[0].len(), ISSUER_HASH_CHARS, "{key}");
    assert_eq!(parts[1].len(), JTI_HASH_CHARS, "{key}");
    let b64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    assert!(b64url(parts[0]) && b64url(parts[1]), "{key}");
}

#[test]
fn key_derivation_is_fixed() {
    // Frozen vector: sha256 + base64url, issuer truncated to 22 characters. Changing this
    // changes every key in every deployed Redis, so it must be deliberate.
    let keys = KeyScheme::default();
    assert_eq!(
        keys.key(ISS, "jti-1").unwrap(),
        "attest:jti:_7Vaz_8cvBt4rbdVZbs_9u:WWTaBVrjHPjrcjDhkKUEiZxvYPB_nxzTyt6fvyJujCg"
    );
    assert_eq!(keys.digest(ISS, "jti-1").unwrap().log_label(), "WWTaBVrj");
}

#[test]
fn key_separates_issuers_and_jtis() {
    let keys = KeyScheme::default();
    let a = keys.key("https://a.example", "same").unwrap();
    let b = keys.key("https://b.example", "same").unwrap();
    assert_ne!(a, b, "two issuers, one jti: two keys");
    assert_eq!(a.rsplit(':').next(), b.rsplit(':').next(), "same jti part");
    assert_ne!(
        keys.key(ISS, "x").unwrap(),
        keys.key(ISS, "y").unwrap(),
        "two jtis, one issuer: two keys"
    );
    // Moving a ':' between issuer and jti cannot make the same key (no concatenation).
    assert_ne!(
        keys.key("https://a.example:x", "y").unwrap(),
        keys.key("https://a.example", "x:y").unwrap()
    );
}

#[test]
fn hostile_jtis_never_reach_key_syntax() {
    let keys = KeyScheme::default();
    let long = "j".repeat(256);
    let hostile = [
        "*",
        "attest:jti:*",
        "attest:jti",
        "attest:jti:_7Vaz_8cvBt4rbdVZbs_9u:WWTaBVrjHPjrcjDhkKUEiZxvYPB_nxzTyt6fvyJujCg",
        "a:b:c",
        "{tag}",
        "\r\nFLUSHALL\r\n",
        "\0\u{1}\u{7f}",
        "\u{fffd}\u{fffe}é漢🦀",
        " ",
        long.as_str(),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for jti in hostile {
        let key = keys.key(ISS, jti).unwrap();
        assert_key_shape(&key, "attest:jti");
        assert!(seen.insert(key), "two hostile jtis made one key");
    }
}

#[test]
fn input_is_checked_before_hashing() {
    let keys = KeyScheme::default();
    assert_eq!(keys.digest("", "j"), Err(CacheError::EmptyIssuer));
    assert_eq!(keys.digest(ISS, ""), Err(CacheError::EmptyJti));
    assert_eq!(
        keys.digest(ISS, &"j".repeat(257)),
        Err(CacheError::JtiTooLong { len: 257, max: 256 })
    );
    assert!(
        keys.digest(ISS, &"j".repeat(256)).is_ok(),
        "the cap itself is allowed"
    );
    let tight = KeyScheme::default().with_max_jti_bytes(4).unwrap();
    // The cap counts bytes, not characters.
    assert_eq!(
        tight.digest(ISS, "ééé"),
        Err(CacheError::JtiTooLong { len: 6, max: 4 })
    );
    assert!(KeyScheme::default().with_max_jti_bytes(0).is_err());
}

#[test]
fn prefixes_are_validated() {
    for good in ["attest:jti", "a", "svc-1.replay:jti_v2"] {
        let scheme = KeyScheme::new(good).unwrap();
        assert_key_shape(&scheme.key(ISS, "j").unwrap(), good);
    }
    let too_long = "p".repeat(65);
    for bad in [
        "",
        ":a",
        "a:",
        "a b",
        "a{b}",
        "a*",
        "a\nb",
        "é",
        too_long.as_str(),
    ] {
        assert!(
            matches!(KeyScheme::new(bad), Err(CacheError::Config(_))),
            "{bad:?} accepted"
        );
    }
}

#[test]
fn capacity_gate_never_passes_its_bound() {
    let gate = Arc::new(CapacityGate::new(100));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let gate = Arc::clone(&gate);
            std::thread::spawn(move || (0..50).filter(|_| gate.try_reserve()).count())
        })
        .collect();
    let granted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(granted, 100);
    assert_eq!(gate.used(), 100);
    assert!(!gate.try_reserve());
    gate.release();
    assert_eq!(gate.used(), 99);
    assert!(gate.try_reserve());
    for _ in 0..200 {
        gate.release();
    }
    assert_eq!(gate.used(), 0, "release saturates at zero");
}

#[test]
fn fail_closed_machine() {
    let mut m = HealthMachine::new(Fallback::FailClosed, 1000);
    assert_eq!(m.health(), Health::Healthy);
    assert_eq!(m.route(0), Route::Redis);
    assert_eq!(
        m.on_failure(10, "refused".into()),
        Transition::FailingClosed
    );
    assert!(matches!(m.health(), Health::Unhealthy { reason } if reason.contains("refused")));
    // Still goes to Redis (and fails closed) on every check: no memory path exists.
    assert_eq!(m.route(20), Route::Redis);
    assert_eq!(m.on_failure(30, "timeout".into()), Transition::None);
    assert!(matches!(m.health(), Health::Unhealthy { reason } if reason.contains("timeout")));
    assert_eq!(m.on_success(), Transition::Recovered);
    assert_eq!(m.health(), Health::Healthy);
    assert_eq!(m.on_success(), Transition::None);
}

#[test]
fn memory_fallback_machine_probes_once_per_interval() {
    let mut m = HealthMachine::new(Fallback::Memory, 1000);
    assert_eq!(m.route(0), Route::Redis);
    assert_eq!(
        m.on_failure(100, "down".into()),
        Transition::FallbackActivated
    );
    assert!(matches!(m.health(), Health::Degraded { .. }));
    // Until the interval passes, checks stay on memory without touching Redis.
    assert_eq!(m.route(500), Route::Memory);
    assert_eq!(m.route(1099), Route::Memory);
    // One probe at the interval; concurrent checks keep using memory.
    assert_eq!(m.route(1100), Route::Probe);
    assert_eq!(m.route(1100), Route::Memory);
    assert_eq!(m.route(1500), Route::Memory);
    // The probe fails: still degraded, no second activation, next probe an interval later.
    assert_eq!(m.on_failure(1150, "still down".into()), Transition::None);
    assert_eq!(m.route(2149), Route::Memory);
    assert_eq!(m.route(2150), Route::Probe);
    // The probe succeeds: back on Redis.
    assert_eq!(m.on_success(), Transition::Recovered);
    assert_eq!(m.health(), Health::Healthy);
    assert_eq!(m.route(2200), Route::Redis);
    // A new outage is a new activation.
    assert_eq!(
        m.on_failure(3000, "down again".into()),
        Transition::FallbackActivated
    );
}

#[test]
fn urls_are_redacted() {
    assert_eq!(
        redact_url("redis://user:s3cret@host:6379/0"),
        "redis://user:***@host:6379/0"
    );
    assert_eq!(redact_url("rediss://:s3cret@host"), "rediss://:***@host");
    assert_eq!(
        redact_url("redis://127.0.0.1:6379"),
        "redis://127.0.0.1:6379"
    );
    assert_eq!(redact_url("rediss://u:p@a@host/1"), "rediss://u:***@host/1");
    let config = RedisConfig::from_url("redis://app:hunter2@127.0.0.1:6379").unwrap();
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[test]
fn redis_config_is_validated_without_io() {
    for bad in ["http://x", "127.0.0.1:6379", "redis+unix:///tmp/r.sock", ""] {
        assert!(
            matches!(RedisConfig::from_url(bad), Err(CacheError::Config(_))),
            "{bad:?}"
        );
    }
    let ok = || RedisConfig::from_url("redis://127.0.0.1:1").unwrap();
    assert!(ok().key_prefix("bad prefix").is_err());
    assert!(RedisReplayStore::new(ok().pool_size(0)).is_err());
    assert!(RedisReplayStore::new(ok().command_timeout(Duration::ZERO)).is_err());
    assert!(RedisReplayStore::new(ok().tls_root_ca_pem(b"pem".to_vec())).is_err());
    assert!(
        RedisReplayStore::new(ok()).is_ok(),
        "no I/O at construction"
    );
    assert!(
        RedisReplayStore::new(RedisConfig::from_url("rediss://user:pw@localhost:6380/2").unwrap())
            .is_ok()
    );
}

#[test]
fn memory_store_expiry_by_manual_clock() {
    let clock = ManualClock::new(UnixTime::from_secs(1_790_000_000));
    let store = MemoryReplayStore::builder()
        .capacity(10)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let until = UnixTime::from_secs(1_790_000_330);
    assert_eq!(store.check(ISS, "j", until), Ok(Freshness::Fresh));
    clock.advance(Duration::from_secs(329));
    assert_eq!(store.check(ISS, "j", until), Ok(Freshness::Replayed));
    clock.advance(Duration::from_millis(999));
    assert_eq!(
        store.check(ISS, "j", until),
        Ok(Freshness::Replayed),
        "1 ms before record_until"
    );
    clock.advance(Duration::from_millis(1));
    // At record_until the token itself is refused by verify; the store refuses it too.
    assert_eq!(
        store.check(ISS, "j", until),
        Err(CacheError::AlreadyExpired)
    );
    // A later token (new exp) reusing the jti is fresh again: the old record is replaced.
    let later = UnixTime::from_secs(1_790_000_700);
    assert_eq!(store.check(ISS, "j", later), Ok(Freshness::Fresh));
    assert_eq!(store.check(ISS, "j", later), Ok(Freshness::Replayed));
    store.run_maintenance();
    assert_eq!(store.len(), 1, "the replaced record gave its slot back");
    assert_eq!(clock.now_millis(), 1_790_000_330_000);
}

#[test]
fn memory_store_rejects_bad_input_without_recording() {
    let store = MemoryReplayStore::with_capacity(10).unwrap();
    let until = UnixTime::from(std::time::SystemTime::now()).saturating_add(60);
    assert_eq!(store.check(ISS, "", until), Err(CacheError::EmptyJti));
    assert_eq!(store.check("", "j", until), Err(CacheError::EmptyIssuer));
    assert!(matches!(
        store.check(ISS, &"x".repeat(300), until),
        Err(CacheError::JtiTooLong { len: 300, .. })
    ));
    assert_eq!(
        store.check(ISS, "j", UnixTime::from_secs(1)),
        Err(CacheError::AlreadyExpired)
    );
    assert!(store.is_empty());
    assert!(MemoryReplayStore::with_capacity(0).is_err());
}

#[test]
fn memory_store_stale_expiry_of_a_replaced_record_leaves_it_alone() {
    let clock = ManualClock::new(UnixTime::from_secs(1_790_000_000));
    let store = MemoryReplayStore::builder()
        .capacity(10)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let first = UnixTime::from_secs(1_790_000_010);
    let second = UnixTime::from_secs(1_790_000_100);
    assert_eq!(store.check(ISS, "j", first), Ok(Freshness::Fresh));
    clock.advance(Duration::from_secs(20));
    // Replaced in place after it expired: its first expiry is still queued.
    assert_eq!(store.check(ISS, "j", second), Ok(Freshness::Fresh));
    store.run_maintenance();
    assert_eq!(store.len(), 1);
    assert_eq!(store.check(ISS, "j", second), Ok(Freshness::Replayed));
    clock.advance(Duration::from_secs(80));
    store.run_maintenance();
    assert_eq!(store.len(), 0, "reclaimed at its second expiry");
}

#[test]
fn memory_store_checks_reclaim_expired_records_on_their_way() {
    let clock = ManualClock::new(UnixTime::from_secs(1_790_000_000));
    let store = MemoryReplayStore::builder()
        .capacity(100_000)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    for round in 0..20 {
        let until = UnixTime::from_secs(1_790_000_000 + round * 10 + 5);
        for i in 0..1000 {
            assert_eq!(
                store.check(ISS, &format!("{round}-{i}"), until),
                Ok(Freshness::Fresh)
            );
        }
        clock.advance(Duration::from_secs(10));
    }
    // Every record but the last round's has expired; the checks reclaimed them as they passed
    // (up to two per check, in their shard), without maintenance and without being full.
    assert!(store.len() < 3000, "{} records held", store.len());
}

#[test]
fn memory_store_capacity_holds_across_shards_and_threads() {
    let store = Arc::new(MemoryReplayStore::with_capacity(1000).unwrap());
    let until = UnixTime::from(std::time::SystemTime::now()).saturating_add(300);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut fresh = 0;
                for i in 0..1000 {
                    match store.check(ISS, &format!("{t}-{i}"), until) {
                        Ok(Freshness::Fresh) => fresh += 1,
                        Err(CacheError::Capacity { capacity: 1000 }) => {}
                        other => panic!("{other:?}"),
                    }
                }
                fresh
            })
        })
        .collect();
    let fresh: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(fresh, 1000);
    assert_eq!(store.len(), 1000);
}
