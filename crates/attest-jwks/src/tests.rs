//! Unit tests of the sans-IO state machines (fake clock: an `Instant` plus offsets, no sleeps,
//! no sockets) and of the header parsers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use attest_core::{KeySet, SigningKey, UnixTime};
use attest_observe::CacheLookup;
use http::HeaderMap;
use http::header::{AGE, CACHE_CONTROL, RETRY_AFTER};

use crate::breaker::{BreakerConfig, BreakerState, CircuitBreaker, Permit};
use crate::cache::{CachePolicy, Decision, FetchReason, Freshness, IssuerCache};
use crate::error::{JwksError, UnavailableCause};
use crate::http::{max_age, retry_after};
use crate::publish::{KeyRing, KeyRingConfig, etag_matches};
use crate::retry::{RetryClass, RetryDecision, RetryPolicy};
use crate::url::JwksUrl;

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn key(seed: u8, kid: &str) -> SigningKey {
    SigningKey::from_seed(&[seed; 32], kid).unwrap()
}

fn set(kids: &[&str]) -> Arc<KeySet> {
    let keys: Vec<SigningKey> = kids
        .iter()
        .enumerate()
        .map(|(i, kid)| key(u8::try_from(i).unwrap().wrapping_add(1), kid))
        .collect();
    Arc::new(KeySet::from_keys(keys.iter().map(|k| (k.kid(), k.public_key()))).unwrap())
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker

#[test]
fn breaker_opens_after_threshold_consecutive_failures() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(BreakerConfig::default());
    for i in 0..4 {
        assert_eq!(b.try_acquire(t0), Ok(Permit::Closed));
        assert!(!b.on_failure(t0), "failure {i} must not open");
    }
    assert_eq!(b.try_acquire(t0), Ok(Permit::Closed));
    assert!(b.on_failure(t0), "the 5th consecutive failure opens");
    assert_eq!(b.state(), BreakerState::Open { since: t0 });
    assert!(!b.would_allow(t0 + secs(29)));
    assert_eq!(b.try_acquire(t0 + secs(29)), Err(t0 + secs(30)));
}

#[test]
fn breaker_success_resets_the_failure_count() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(BreakerConfig::default());
    for _ in 0..4 {
        b.on_failure(t0);
    }
    b.on_success();
    for _ in 0..4 {
        assert!(!b.on_failure(t0));
    }
    assert_eq!(
        b.state(),
        BreakerState::Closed {
            consecutive_failures: 4
        }
    );
}

#[test]
fn breaker_half_opens_after_open_for_with_exactly_one_probe() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(BreakerConfig::default());
    for _ in 0..5 {
        b.on_failure(t0);
    }
    let t30 = t0 + secs(30);
    assert!(b.would_allow(t30));
    assert_eq!(b.try_acquire(t30), Ok(Permit::Probe));
    // While the probe is out, nothing else goes.
    assert!(!b.would_allow(t30 + secs(1)));
    assert_eq!(b.try_acquire(t30 + secs(1)), Err(t30 + secs(30)));
    // The probe succeeds: closed.
    b.on_success();
    assert_eq!(
        b.state(),
        BreakerState::Closed {
            consecutive_failures: 0
        }
    );
    assert_eq!(b.try_acquire(t30 + secs(2)), Ok(Permit::Closed));
}

#[test]
fn breaker_failed_probe_reopens_and_counts_an_opening() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(BreakerConfig::default());
    for _ in 0..5 {
        b.on_failure(t0);
    }
    let t30 = t0 + secs(30);
    assert_eq!(b.try_acquire(t30), Ok(Permit::Probe));
    assert!(b.on_failure(t30), "a failed probe re-opens");
    assert_eq!(b.state(), BreakerState::Open { since: t30 });
    assert_eq!(b.try_acquire(t30 + secs(29)), Err(t30 + secs(30)));
    assert_eq!(b.try_acquire(t30 + secs(30)), Ok(Permit::Probe));
}

#[test]
fn breaker_lost_probe_is_replaced_after_open_for() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(BreakerConfig::default());
    for _ in 0..5 {
        b.on_failure(t0);
    }
    assert_eq!(b.try_acquire(t0 + secs(30)), Ok(Permit::Probe));
    // Its result never comes back (task cancelled): another probe after open_for.
    assert!(b.try_acquire(t0 + secs(59)).is_err());
    assert_eq!(b.try_acquire(t0 + secs(60)), Ok(Permit::Probe));
}

#[test]
fn breaker_late_failure_while_open_does_not_count_again() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(BreakerConfig::default());
    for _ in 0..5 {
        b.on_failure(t0);
    }
    assert!(!b.on_failure(t0 + secs(1)));
    assert_eq!(b.state(), BreakerState::Open { since: t0 });
}

// ---------------------------------------------------------------------------------------------
// Retry policy

#[test]
fn backoff_doubles_from_half_a_second_and_is_capped() {
    let p = RetryPolicy::default();
    // unit 0.5 → jitter factor 1.0.
    assert_eq!(p.backoff(0, 0.5), Duration::from_millis(500));
    assert_eq!(p.backoff(1, 0.5), secs(1));
    assert_eq!(p.backoff(2, 0.5), secs(2));
    assert_eq!(p.backoff(4, 0.5), secs(8));
    assert_eq!(p.backoff(5, 0.5), secs(10), "16 s is capped at 10 s");
    assert_eq!(p.backoff(40, 0.5), secs(10), "2^40 overflows into the cap");
    assert_eq!(p.backoff(u32::MAX, 0.5), secs(10));
}

#[test]
fn backoff_jitter_spans_half_to_one_and_a_half() {
    let p = RetryPolicy::default();
    assert_eq!(p.backoff(1, 0.0), Duration::from_millis(500));
    assert_eq!(p.backoff(1, 0.25), Duration::from_millis(750));
    let top = p.backoff(1, 0.999_999);
    assert!(top < Duration::from_millis(1500) && top > Duration::from_millis(1499));
    // After jitter, the cap still holds.
    assert_eq!(p.backoff(5, 0.999), secs(10));
    // Out-of-range or non-finite randomness cannot break it.
    assert_eq!(p.backoff(1, f64::NAN), secs(1));
    assert_eq!(p.backoff(1, -3.0), Duration::from_millis(500));
    assert_eq!(p.backoff(1, 7.0), Duration::from_millis(1500));
}

#[test]
fn retries_transient_failures_three_times_then_gives_up() {
    let p = RetryPolicy::default();
    let t = RetryClass::Transient;
    assert_eq!(
        p.decide(0, t, Duration::ZERO, 0.5),
        RetryDecision::RetryAfter(Duration::from_millis(500))
    );
    assert_eq!(
        p.decide(1, t, Duration::ZERO, 0.5),
        RetryDecision::RetryAfter(secs(1))
    );
    assert_eq!(
        p.decide(2, t, Duration::ZERO, 0.5),
        RetryDecision::RetryAfter(secs(2))
    );
    assert_eq!(p.decide(3, t, Duration::ZERO, 0.5), RetryDecision::GiveUp);
}

#[test]
fn permanent_failures_are_never_retried() {
    let p = RetryPolicy::default();
    assert_eq!(
        p.decide(0, RetryClass::Permanent, Duration::ZERO, 0.5),
        RetryDecision::GiveUp
    );
}

#[test]
fn retry_after_is_honoured_exactly_and_capped() {
    let p = RetryPolicy::default();
    let limited = |s| RetryClass::RateLimited {
        retry_after: Some(secs(s)),
    };
    assert_eq!(
        p.decide(0, limited(1), Duration::ZERO, 0.9),
        RetryDecision::RetryAfter(secs(1)),
        "no jitter on Retry-After"
    );
    assert_eq!(
        p.decide(0, limited(3600), Duration::ZERO, 0.5),
        RetryDecision::RetryAfter(secs(10))
    );
    // Without a Retry-After, the backoff applies.
    assert_eq!(
        p.decide(
            1,
            RetryClass::RateLimited { retry_after: None },
            Duration::ZERO,
            0.5
        ),
        RetryDecision::RetryAfter(secs(1))
    );
}

#[test]
fn no_retry_starts_past_the_time_budget() {
    let p = RetryPolicy::default();
    assert_eq!(
        p.decide(0, RetryClass::Transient, Duration::from_millis(29_600), 0.5),
        RetryDecision::GiveUp,
        "29.6 s + 0.5 s > 30 s"
    );
    assert_eq!(
        p.decide(
            0,
            RetryClass::Transient,
            secs(29) + Duration::from_millis(500),
            0.0
        ),
        RetryDecision::RetryAfter(Duration::from_millis(250))
    );
}

// ---------------------------------------------------------------------------------------------
// Cache

fn policy() -> CachePolicy {
    CachePolicy::default()
}

fn fresh_cache(t0: Instant, kids: &[&str], max_age: Option<Duration>) -> IssuerCache {
    let mut c = IssuerCache::new(policy(), BreakerConfig::default());
    assert_eq!(c.lookup(t0, "any"), Decision::Fetch(FetchReason::Cold));
    c.fetch_succeeded(t0, set(kids), max_age, Some("\"v1\"".into()));
    c
}

fn served(d: &Decision) -> Option<(CacheLookup, bool)> {
    match d {
        Decision::Serve {
            lookup, refresh, ..
        } => Some((*lookup, *refresh)),
        _ => None,
    }
}

#[test]
fn ttl_is_clamped_and_defaults_to_an_hour() {
    let p = policy();
    assert_eq!(p.ttl(None), secs(3600));
    assert_eq!(p.ttl(Some(secs(0))), secs(60));
    assert_eq!(p.ttl(Some(secs(600))), secs(600));
    assert_eq!(p.ttl(Some(secs(10_000_000))), secs(24 * 3600));
}

#[test]
fn cold_lookups_fetch_once_and_the_others_wait() {
    let t0 = Instant::now();
    let mut c = IssuerCache::new(policy(), BreakerConfig::default());
    assert_eq!(c.lookup(t0, "k1"), Decision::Fetch(FetchReason::Cold));
    assert!(c.is_fetching());
    for _ in 0..1000 {
        assert_eq!(c.lookup(t0, "k1"), Decision::Wait);
    }
    c.fetch_succeeded(t0, set(&["k1"]), None, None);
    assert!(!c.is_fetching());
    assert!(matches!(
        c.after_fetch(t0, "k1", &Ok(()), true),
        Decision::Serve { .. }
    ));
    assert_eq!(served(&c.lookup(t0, "k1")), Some((CacheLookup::Hit, false)));
}

#[test]
fn fresh_then_refresh_ahead_then_stale_then_unusable() {
    let t0 = Instant::now();
    // TTL 600 s, refresh-ahead 300 s (≤ ttl/2), max stale 6 h.
    let mut c = fresh_cache(t0, &["k1"], Some(secs(600)));
    assert_eq!(c.freshness(t0 + secs(299)), Some(Freshness::Fresh));
    assert_eq!(
        served(&c.lookup(t0 + secs(299), "k1")),
        Some((CacheLookup::Hit, false))
    );
    // In the window: served, and a refresh is asked for exactly once.
    assert_eq!(
        served(&c.lookup(t0 + secs(300), "k1")),
        Some((CacheLookup::Hit, true))
    );
    assert_eq!(
        served(&c.lookup(t0 + secs(301), "k1")),
        Some((CacheLookup::Hit, false))
    );
    // The refresh fails: the keys stay, and are served stale past the TTL.
    c.fetch_failed(UnavailableCause::Status(500));
    assert_eq!(c.freshness(t0 + secs(600)), Some(Freshness::Stale));
    assert_eq!(
        served(&c.lookup(t0 + secs(600), "k1")),
        Some((CacheLookup::Stale, true))
    );
    c.fetch_failed(UnavailableCause::Timeout);
    let limit = t0 + secs(600) + secs(6 * 3600);
    assert_eq!(
        served(&c.lookup(limit - secs(1), "k1")),
        Some((CacheLookup::Stale, true))
    );
    c.fetch_failed(UnavailableCause::Timeout);
    // Past the maximum staleness: never served; a (blocking) fetch is asked for.
    assert_eq!(c.freshness(limit), Some(Freshness::Unusable));
    assert_eq!(c.peek(limit, "k1"), None);
    assert_eq!(c.lookup(limit, "k1"), Decision::Fetch(FetchReason::Cold));
    c.fetch_failed(UnavailableCause::Timeout);
    assert_eq!(
        c.after_fetch(limit, "k1", &Err(UnavailableCause::Timeout), true),
        Decision::Unavailable(UnavailableCause::Timeout),
        "fails closed"
    );
    // The keys are still held (a failure evicts nothing) but never served.
    assert_eq!(c.keys().map(|k| k.len()), Some(1));
}

#[test]
fn a_failed_refresh_never_evicts_good_keys() {
    let t0 = Instant::now();
    let mut c = fresh_cache(t0, &["k1", "k2"], Some(secs(600)));
    assert!(served(&c.lookup(t0 + secs(400), "k1")).is_some_and(|(_, refresh)| refresh));
    c.fetch_failed(UnavailableCause::InvalidJwks("garbage".into()));
    assert_eq!(c.keys().map(|k| k.kids().len()), Some(2));
    assert_eq!(
        c.last_error(),
        Some(&UnavailableCause::InvalidJwks("garbage".into()))
    );
    assert!(c.peek(t0 + secs(401), "k2").is_some());
}

#[test]
fn refresh_ahead_window_is_at_most_half_the_ttl() {
    let t0 = Instant::now();
    // TTL 60 s (the minimum): the window is 30 s, not 5 min.
    let mut c = fresh_cache(t0, &["k1"], Some(secs(60)));
    assert_eq!(
        served(&c.lookup(t0 + secs(29), "k1")),
        Some((CacheLookup::Hit, false))
    );
    assert_eq!(
        served(&c.lookup(t0 + secs(30), "k1")),
        Some((CacheLookup::Hit, true))
    );
}

#[test]
fn not_modified_renews_the_held_set() {
    let t0 = Instant::now();
    let mut c = fresh_cache(t0, &["k1"], Some(secs(600)));
    assert_eq!(c.etag(), Some("\"v1\""));
    let t1 = t0 + secs(599);
    assert!(served(&c.lookup(t1, "k1")).is_some_and(|(_, refresh)| refresh));
    c.fetch_not_modified(t1, Some(secs(600)));
    assert_eq!(c.freshness(t1 + secs(299)), Some(Freshness::Fresh));
    assert_eq!(c.etag(), Some("\"v1\""));
}

#[test]
fn unknown_kid_refetches_once_per_cooldown_and_then_is_negative() {
    let t0 = Instant::now();
    let mut c = fresh_cache(t0, &["k1"], None);
    assert_eq!(
        c.lookup(t0, "new"),
        Decision::Fetch(FetchReason::UnknownKid)
    );
    // Concurrent lookups of any missing kid wait for that one fetch.
    assert_eq!(c.lookup(t0, "new"), Decision::Wait);
    assert_eq!(c.lookup(t0, "other"), Decision::Wait);
    c.fetch_succeeded(t0, set(&["k1"]), None, None);
    assert_eq!(c.after_fetch(t0, "new", &Ok(()), true), Decision::Unknown);
    assert_eq!(
        c.after_fetch(t0, "other", &Ok(()), false),
        Decision::Unknown
    );
    // Cooldown: no refetch for 30 s, whatever the kid.
    assert_eq!(c.lookup(t0 + secs(1), "third"), Decision::Unknown);
    assert_eq!(c.lookup(t0 + secs(29), "third"), Decision::Unknown);
    // After it, a different kid may refetch; the negative one may not.
    assert_eq!(
        c.lookup(t0 + secs(30), "new"),
        Decision::Unknown,
        "negative"
    );
    assert_eq!(
        c.lookup(t0 + secs(30), "third"),
        Decision::Fetch(FetchReason::UnknownKid)
    );
    c.fetch_succeeded(t0 + secs(30), set(&["k1"]), None, None);
    assert_eq!(
        c.after_fetch(t0 + secs(30), "third", &Ok(()), true),
        Decision::Unknown
    );
    // Same kids as before: the negative entries stay, so neither refetches after the cooldown.
    assert_eq!(c.lookup(t0 + secs(60), "new"), Decision::Unknown);
    assert_eq!(c.lookup(t0 + secs(60), "third"), Decision::Unknown);
    // A set with other kids clears them.
    assert_eq!(
        c.lookup(t0 + secs(60), "fourth"),
        Decision::Fetch(FetchReason::UnknownKid)
    );
    c.fetch_succeeded(t0 + secs(60), set(&["k1", "k9"]), None, None);
    assert_eq!(
        c.after_fetch(t0 + secs(60), "fourth", &Ok(()), true),
        Decision::Unknown
    );
    assert_eq!(
        c.lookup(t0 + secs(90), "new"),
        Decision::Fetch(FetchReason::UnknownKid)
    );
}

#[test]
fn negative_entries_expire() {
    let t0 = Instant::now();
    let mut c = fresh_cache(t0, &["k1"], Some(secs(24 * 3600)));
    assert_eq!(c.lookup(t0, "x"), Decision::Fetch(FetchReason::UnknownKid));
    c.fetch_not_modified(t0, Some(secs(24 * 3600)));
    assert_eq!(c.after_fetch(t0, "x", &Ok(()), true), Decision::Unknown);
    // Not-modified keeps the negative cache: "x" is negative for 5 min.
    assert_eq!(c.lookup(t0 + secs(299), "x"), Decision::Unknown);
    assert_eq!(
        c.lookup(t0 + secs(300), "x"),
        Decision::Fetch(FetchReason::UnknownKid)
    );
}

#[test]
fn rotation_kid_found_after_exactly_one_refetch() {
    let t0 = Instant::now();
    let mut c = fresh_cache(t0, &["k1"], None);
    assert_eq!(c.lookup(t0, "k2"), Decision::Fetch(FetchReason::UnknownKid));
    c.fetch_succeeded(t0, set(&["k1", "k2"]), None, None);
    assert!(matches!(
        c.after_fetch(t0, "k2", &Ok(()), true),
        Decision::Serve { .. }
    ));
    assert_eq!(served(&c.lookup(t0, "k2")), Some((CacheLookup::Hit, false)));
}

#[test]
fn unknown_kid_with_a_failed_refetch_is_unavailable_not_unknown() {
    let t0 = Instant::now();
    let mut c = fresh_cache(t0, &["k1"], None);
    assert_eq!(c.lookup(t0, "k2"), Decision::Fetch(FetchReason::UnknownKid));
    c.fetch_failed(UnavailableCause::Timeout);
    assert_eq!(
        c.after_fetch(t0, "k2", &Err(UnavailableCause::Timeout), true),
        Decision::Unavailable(UnavailableCause::Timeout)
    );
    // Not negative-cached: the issuer was never asked.
    assert_eq!(
        c.lookup(t0 + secs(30), "k2"),
        Decision::Fetch(FetchReason::UnknownKid)
    );
}

#[test]
fn an_open_breaker_stops_fetches_but_not_cached_keys() {
    let t0 = Instant::now();
    let long = BreakerConfig {
        open_for: secs(3600),
        ..BreakerConfig::default()
    };
    let mut c = IssuerCache::new(policy(), long);
    assert_eq!(c.lookup(t0, "k1"), Decision::Fetch(FetchReason::Cold));
    c.fetch_succeeded(t0, set(&["k1"]), Some(secs(600)), None);
    for _ in 0..5 {
        c.breaker_mut().on_failure(t0);
    }
    // Cached keys still served, without a refresh, even stale.
    assert_eq!(
        served(&c.lookup(t0 + secs(400), "k1")),
        Some((CacheLookup::Hit, false))
    );
    assert_eq!(
        served(&c.lookup(t0 + secs(700), "k1")),
        Some((CacheLookup::Stale, false))
    );
    // An unknown kid cannot be checked.
    assert_eq!(
        c.lookup(t0 + secs(10), "k2"),
        Decision::Unavailable(UnavailableCause::CircuitOpen)
    );
    // A cold issuer fails at once.
    let mut cold = IssuerCache::new(policy(), BreakerConfig::default());
    for _ in 0..5 {
        cold.breaker_mut().on_failure(t0);
    }
    assert_eq!(
        cold.lookup(t0, "k1"),
        Decision::Unavailable(UnavailableCause::CircuitOpen)
    );
    assert_eq!(
        cold.lookup(t0 + secs(30), "k1"),
        Decision::Fetch(FetchReason::Cold)
    );
}

#[test]
fn pinned_sets_never_fetch_or_expire() {
    let t0 = Instant::now();
    let mut c = IssuerCache::pinned(set(&["k1"]), t0);
    let later = t0 + secs(10 * 365 * 24 * 3600);
    assert_eq!(
        served(&c.lookup(later, "k1")),
        Some((CacheLookup::Hit, false))
    );
    assert_eq!(c.lookup(later, "k2"), Decision::Unknown);
    assert_eq!(c.force_fetch(later), Decision::Unknown);
    assert!(!c.is_fetching());
}

#[test]
fn force_fetch_is_single_flight_and_respects_the_breaker() {
    let t0 = Instant::now();
    let mut c = fresh_cache(t0, &["k1"], None);
    assert_eq!(c.force_fetch(t0), Decision::Fetch(FetchReason::Refresh));
    assert_eq!(c.force_fetch(t0), Decision::Wait);
    c.fetch_failed(UnavailableCause::Timeout);
    for _ in 0..5 {
        c.breaker_mut().on_failure(t0);
    }
    assert_eq!(
        c.force_fetch(t0),
        Decision::Unavailable(UnavailableCause::CircuitOpen)
    );
}

#[test]
fn cache_policy_validation() {
    assert!(policy().validate().is_ok());
    let mut p = policy();
    p.unknown_kid_cooldown = secs(29);
    assert!(p.validate().is_err(), "the cooldown floor is 30 s");
    let mut p = policy();
    p.min_ttl = secs(100);
    p.max_ttl = secs(99);
    assert!(p.validate().is_err());
}

// ---------------------------------------------------------------------------------------------
// URLs

#[test]
fn the_default_url_appends_the_well_known_path_once() {
    for (iss, url) in [
        (
            "https://a.example",
            "https://a.example/.well-known/jwks.json",
        ),
        (
            "https://a.example/",
            "https://a.example/.well-known/jwks.json",
        ),
        (
            "https://a.example/tenant",
            "https://a.example/tenant/.well-known/jwks.json",
        ),
        (
            "https://a.example/tenant/",
            "https://a.example/tenant/.well-known/jwks.json",
        ),
        (
            "https://a.example:8443",
            "https://a.example:8443/.well-known/jwks.json",
        ),
    ] {
        let parsed = JwksUrl::for_issuer(iss).unwrap();
        assert_eq!(parsed.as_str(), url, "{iss}");
        assert!(parsed.is_https());
    }
    let u = JwksUrl::for_issuer("https://a.example:8443/t").unwrap();
    assert_eq!((u.host(), u.port()), ("a.example", 8443));
    assert_eq!(u.path_and_query(), "/t/.well-known/jwks.json");
    assert_eq!(u.authority(), "a.example:8443");
}

#[test]
fn bad_urls_are_refused() {
    for url in [
        "ftp://a.example/jwks",
        "a.example/jwks",
        "/jwks",
        "https://user:pw@a.example/jwks",
        "https://a.example/jwks#frag",
        "https://a.example/ jwks",
        "https:///jwks",
    ] {
        assert!(
            matches!(JwksUrl::parse(url), Err(JwksError::Config(_))),
            "{url}"
        );
    }
    assert!(JwksUrl::for_issuer("https://a.example/?q=1").is_err());
}

#[test]
fn http_is_allowed_only_for_loopback_with_the_switch() {
    for (url, loopback) in [
        ("http://127.0.0.1:8080/jwks", true),
        ("http://127.10.20.30/jwks", true),
        ("http://localhost:1/jwks", true),
        ("http://LOCALHOST/jwks", true),
        ("http://[::1]:9/jwks", true),
        ("http://[::ffff:127.0.0.1]/jwks", true),
        ("http://10.0.0.1/jwks", false),
        ("http://128.0.0.1/jwks", false),
        ("http://localhost.evil.example/jwks", false),
        ("http://127.0.0.1.evil.example/jwks", false),
        ("http://[::2]/jwks", false),
    ] {
        let u = JwksUrl::parse(url).unwrap();
        assert_eq!(u.is_loopback_host(), loopback, "{url}");
        assert!(!u.check_scheme(false), "{url}: never without the switch");
        assert_eq!(u.check_scheme(true), loopback, "{url}");
    }
    let https = JwksUrl::parse("https://10.0.0.1/jwks").unwrap();
    assert!(https.check_scheme(false));
    assert_eq!(JwksUrl::parse("http://[::1]:9/jwks").unwrap().host(), "::1");
}

// ---------------------------------------------------------------------------------------------
// Headers

fn headers(pairs: &[(http::header::HeaderName, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.append(name.clone(), value.parse().unwrap());
    }
    h
}

#[test]
fn cache_control_max_age() {
    assert_eq!(max_age(&headers(&[])), None);
    assert_eq!(
        max_age(&headers(&[(CACHE_CONTROL, "public, max-age=600")])),
        Some(secs(600))
    );
    assert_eq!(
        max_age(&headers(&[(
            CACHE_CONTROL,
            "Max-Age=\"42\", must-revalidate"
        )])),
        Some(secs(42))
    );
    assert_eq!(
        max_age(&headers(&[
            (CACHE_CONTROL, "max-age=600"),
            (CACHE_CONTROL, "max-age=300")
        ])),
        Some(secs(300)),
        "the smallest of repeated max-age"
    );
    assert_eq!(
        max_age(&headers(&[(CACHE_CONTROL, "max-age=600"), (AGE, "100")])),
        Some(secs(500))
    );
    assert_eq!(
        max_age(&headers(&[(CACHE_CONTROL, "max-age=60"), (AGE, "100")])),
        Some(secs(0))
    );
    assert_eq!(
        max_age(&headers(&[(CACHE_CONTROL, "no-store")])),
        Some(secs(0))
    );
    assert_eq!(
        max_age(&headers(&[(CACHE_CONTROL, "max-age=600, no-cache")])),
        Some(secs(0))
    );
    assert_eq!(max_age(&headers(&[(CACHE_CONTROL, "max-age=-1")])), None);
    assert_eq!(
        max_age(&headers(&[(
            CACHE_CONTROL,
            "max-age=99999999999999999999999"
        )])),
        None
    );
}

#[test]
fn retry_after_delta_seconds_only() {
    assert_eq!(retry_after(&headers(&[(RETRY_AFTER, "1")])), Some(secs(1)));
    assert_eq!(
        retry_after(&headers(&[(RETRY_AFTER, " 120 ")])),
        Some(secs(120))
    );
    assert_eq!(
        retry_after(&headers(&[(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT")])),
        None
    );
    assert_eq!(retry_after(&headers(&[])), None);
}

// ---------------------------------------------------------------------------------------------
// Publishing

#[test]
fn etag_comparison_is_weak_and_handles_lists() {
    assert!(etag_matches("\"abc\"", "\"abc\""));
    assert!(etag_matches("W/\"abc\"", "\"abc\""));
    assert!(etag_matches("\"x\", \"abc\"", "\"abc\""));
    assert!(etag_matches("*", "\"abc\""));
    assert!(!etag_matches("\"abd\"", "\"abc\""));
    assert!(!etag_matches("", "\"abc\""));
}

#[test]
fn key_ring_rotation_overlap_and_prune() {
    let now = UnixTime::from_secs(1_790_000_000);
    let ring = KeyRing::new(key(1, "k1"));
    let first = ring.document();
    ring.rotate(key(2, "k2"), now).unwrap();
    assert_eq!(ring.current().kid(), "k2");
    assert_eq!(ring.published_kids(), ["k2", "k1"]);
    assert_ne!(ring.document().etag, first.etag);
    assert_eq!(ring.key_set().kids(), ["k1", "k2"]);
    // k1 stays for the max token lifetime (300 s) plus leeway (30 s).
    let overlap = KeyRingConfig::default().overlap().as_secs();
    assert_eq!(overlap, 330);
    assert_eq!(ring.prune(now.saturating_add(overlap - 1)), 0);
    assert_eq!(ring.prune(now.saturating_add(overlap)), 1);
    assert_eq!(ring.published_kids(), ["k2"]);
    // A published kid cannot be reused.
    assert_eq!(
        ring.rotate(key(3, "k2"), now),
        Err(JwksError::KidInUse("k2".into()))
    );
}

#[test]
fn key_ring_responds_with_cache_headers_and_304() {
    let ring = KeyRing::new(key(1, "k1"));
    let ok = ring.respond(None);
    assert_eq!(ok.status, 200);
    let etag = ok
        .headers
        .iter()
        .find(|(n, _)| *n == "etag")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert_eq!(etag.len(), 66);
    assert!(
        ok.headers
            .contains(&("cache-control", "public, max-age=300".to_owned()))
    );
    assert!(
        ok.headers
            .contains(&("content-type", "application/jwk-set+json".to_owned()))
    );
    assert_eq!(
        KeySet::parse(ok.body.as_bytes(), Default::default())
            .unwrap()
            .kids(),
        ["k1"]
    );
    let not_modified = ring.respond(Some(&etag));
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    assert_eq!(ring.respond(Some("\"stale\"")).status, 200);
    // The body is deterministic: the same ring state, the same ETag.
    assert_eq!(KeyRing::new(key(1, "k1")).document().etag, etag);
}
