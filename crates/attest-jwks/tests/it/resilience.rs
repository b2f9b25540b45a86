//! Surviving a failing issuer: the circuit breaker, stale keys within a bound, and refresh
//! ahead of expiry that never blocks a lookup.

use std::sync::Arc;
use std::time::Duration;

use attest_jwks::breaker::BreakerState;
use attest_jwks::cache::Freshness;
use attest_jwks::{JwksError, UnavailableCause};
use tokio::sync::Notify;

use crate::common::*;

fn opens(obs: &attest_observe::Observer, iss: &str) -> f64 {
    metric(
        obs,
        &format!(r#"attest_circuit_breaker_opens_total{{issuer="{iss}"}}"#),
    )
}

#[tokio::test]
async fn the_breaker_opens_after_five_failures_and_closes_after_a_good_probe() {
    let k1 = key(1, "k1");
    let issuer = Issuer::start(Reply::status(500)).await;
    let iss = issuer.url();
    let obs = observer(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &obs, &clock).build().unwrap();

    // First fetch: 1 attempt + 3 retries, all 500.
    assert_eq!(
        resolver.resolve(&iss, "k1").await,
        Err(JwksError::Unavailable(UnavailableCause::Status(500)))
    );
    assert_eq!(issuer.hits(), 4);
    assert_eq!(opens(&obs, &iss), 0.0);
    // Second fetch: the 5th consecutive failure opens the breaker, and the retry it would have
    // made is not sent (the fetch reports the failure that opened it).
    assert_eq!(
        resolver.resolve(&iss, "k1").await,
        Err(JwksError::Unavailable(UnavailableCause::Status(500)))
    );
    assert_eq!(issuer.hits(), 5);
    assert_eq!(opens(&obs, &iss), 1.0);
    assert!(matches!(
        resolver.status(&iss).unwrap().breaker,
        BreakerState::Open { .. }
    ));
    // While open, nothing reaches the server.
    for _ in 0..20 {
        assert_eq!(
            resolver.resolve(&iss, "k1").await,
            Err(JwksError::Unavailable(UnavailableCause::CircuitOpen))
        );
    }
    assert_eq!(
        resolver.refresh(&iss).await,
        Err(JwksError::Unavailable(UnavailableCause::CircuitOpen))
    );
    assert_eq!(issuer.hits(), 5);

    // 30 s later one probe goes; the issuer has recovered; the breaker closes.
    issuer.set_fallback(Reply::json(jwks(&[&k1])));
    clock.advance(Duration::from_secs(29));
    assert!(resolver.resolve(&iss, "k1").await.is_err());
    assert_eq!(issuer.hits(), 5);
    clock.advance(Duration::from_secs(1));
    assert_eq!(resolver.resolve(&iss, "k1").await.unwrap(), k1.public_key());
    assert_eq!(issuer.hits(), 6, "exactly one probe");
    assert_eq!(
        resolver.status(&iss).unwrap().breaker,
        BreakerState::Closed {
            consecutive_failures: 0
        }
    );
    assert_eq!(opens(&obs, &iss), 1.0);
}

#[tokio::test]
async fn a_failed_probe_reopens_the_breaker() {
    let issuer = Issuer::start(Reply::status(500)).await;
    let iss = issuer.url();
    let obs = observer(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &obs, &clock)
        .retry_policy(no_retries())
        .build()
        .unwrap();
    for _ in 0..5 {
        assert_eq!(
            resolver.resolve(&iss, "k1").await,
            Err(JwksError::Unavailable(UnavailableCause::Status(500)))
        );
    }
    assert_eq!(issuer.hits(), 5);
    assert_eq!(opens(&obs, &iss), 1.0);
    clock.advance(Duration::from_secs(30));
    assert_eq!(
        resolver.resolve(&iss, "k1").await,
        Err(JwksError::Unavailable(UnavailableCause::Status(500)))
    );
    assert_eq!(issuer.hits(), 6, "one probe");
    assert_eq!(opens(&obs, &iss), 2.0, "the failed probe re-opened it");
    assert_eq!(
        resolver.resolve(&iss, "k1").await,
        Err(JwksError::Unavailable(UnavailableCause::CircuitOpen))
    );
    assert_eq!(issuer.hits(), 6);
}

#[tokio::test]
async fn stale_keys_are_served_while_the_issuer_fails_then_it_fails_closed() {
    let k1 = key(1, "k1");
    let issuer = Issuer::start(Reply::json_with(
        jwks(&[&k1]),
        &[("Cache-Control", "max-age=100")],
    ))
    .await;
    let iss = issuer.url();
    let obs = observer(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &obs, &clock)
        .retry_policy(no_retries())
        .cache_policy(cache_policy(
            Duration::from_secs(10),
            Duration::from_secs(200),
        ))
        .build()
        .unwrap();
    resolver.resolve(&iss, "k1").await.unwrap();
    assert_eq!(issuer.hits(), 1);

    // The issuer goes down. Past the TTL (100 s) the key is served stale at once, and a
    // background revalidation fails.
    issuer.set_fallback(Reply::status(500));
    clock.advance(Duration::from_secs(101));
    assert_eq!(resolver.resolve(&iss, "k1").await.unwrap(), k1.public_key());
    assert_eq!(lookups(&obs, &iss, "stale"), 1.0);
    issuer.wait_for_hits(2).await;
    settle(&resolver, &iss).await;
    let status = resolver.status(&iss).unwrap();
    assert_eq!(status.freshness, Some(Freshness::Stale));
    assert_eq!(status.last_error, Some(UnavailableCause::Status(500)));
    assert_eq!(
        status.kids,
        ["k1"],
        "a failed refresh never evicts good keys"
    );

    // Still within the bound (100 s TTL + 200 s max stale).
    clock.advance(Duration::from_secs(198));
    assert_eq!(resolver.resolve(&iss, "k1").await.unwrap(), k1.public_key());
    settle(&resolver, &iss).await;
    assert_eq!(lookups(&obs, &iss, "stale"), 2.0);

    // Past it: fail closed, whatever is held.
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        resolver.resolve(&iss, "k1").await,
        Err(JwksError::Unavailable(UnavailableCause::Status(500)))
    );
    assert_eq!(resolver.cached(&iss, "k1"), None);
    assert_eq!(
        resolver.status(&iss).unwrap().freshness,
        Some(Freshness::Unusable)
    );
    // The issuer comes back: the next lookup fetches and succeeds.
    issuer.set_fallback(Reply::json(jwks(&[&k1])));
    assert_eq!(resolver.resolve(&iss, "k1").await.unwrap(), k1.public_key());
}

#[tokio::test]
async fn refresh_ahead_runs_in_the_background_and_never_blocks_a_lookup() {
    let k1 = key(1, "k1");
    let k2 = key(2, "k2");
    let issuer = Issuer::start(Reply::json_with(
        jwks(&[&k1]),
        &[("Cache-Control", "max-age=100")],
    ))
    .await;
    let iss = issuer.url();
    let obs = observer(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &obs, &clock)
        .cache_policy(cache_policy(
            Duration::from_secs(10),
            Duration::from_secs(3600),
        ))
        .build()
        .unwrap();
    resolver.resolve(&iss, "k1").await.unwrap();

    // The refresh request will be held by the server until the gate opens.
    let gate = Arc::new(Notify::new());
    issuer.push(Reply::Gate(
        Arc::clone(&gate),
        Box::new(Reply::json_with(
            jwks(&[&k1, &k2]),
            &[("Cache-Control", "max-age=100")],
        )),
    ));
    // TTL 100 s, window min(5 min, 50 s): at 50 s a lookup starts the refresh.
    clock.advance(Duration::from_secs(49));
    resolver.resolve(&iss, "k1").await.unwrap();
    assert_eq!(issuer.hits(), 1);
    clock.advance(Duration::from_secs(1));
    // These return while the refresh is held at the server: they did not wait for it.
    for _ in 0..100 {
        assert_eq!(resolver.resolve(&iss, "k1").await.unwrap(), k1.public_key());
    }
    issuer.wait_for_hits(2).await;
    assert!(resolver.status(&iss).unwrap().fetching);
    assert_eq!(issuer.hits(), 2, "one refresh, however many lookups");
    assert_eq!(lookups(&obs, &iss, "hit"), 101.0);

    gate.notify_one();
    settle(&resolver, &iss).await;
    let status = resolver.status(&iss).unwrap();
    assert_eq!(status.kids, ["k1", "k2"]);
    assert_eq!(status.freshness, Some(Freshness::Fresh));
    // The refreshed set is used without another fetch.
    assert_eq!(resolver.resolve(&iss, "k2").await.unwrap(), k2.public_key());
    assert_eq!(issuer.hits(), 2);
}

#[tokio::test]
async fn max_age_is_clamped_to_the_configured_bounds() {
    let k1 = key(1, "k1");
    // max-age=1 is raised to min_ttl (10 s here); max-age huge is cut to max_ttl.
    let issuer = Issuer::start(Reply::json_with(
        jwks(&[&k1]),
        &[("Cache-Control", "max-age=1")],
    ))
    .await;
    let iss = issuer.url();
    let clock = ManualClock::new();
    let resolver = builder(&iss, &observer(&iss), &clock)
        .cache_policy(cache_policy(
            Duration::from_secs(10),
            Duration::from_secs(3600),
        ))
        .build()
        .unwrap();
    resolver.resolve(&iss, "k1").await.unwrap();
    clock.advance(Duration::from_secs(4));
    resolver.resolve(&iss, "k1").await.unwrap();
    assert_eq!(
        issuer.hits(),
        1,
        "fresh for 5 s (10 s TTL minus a 5 s window)"
    );
    assert_eq!(
        resolver.status(&iss).unwrap().freshness,
        Some(Freshness::Fresh)
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        resolver.status(&iss).unwrap().freshness,
        Some(Freshness::RefreshAhead)
    );
}

#[tokio::test]
async fn explicit_refresh_fetches_and_counts_keys() {
    let k1 = key(1, "k1");
    let k2 = key(2, "k2");
    let issuer = Issuer::start(Reply::json(jwks(&[&k1, &k2]))).await;
    let iss = issuer.url();
    let obs = observer(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &obs, &clock).build().unwrap();
    assert_eq!(resolver.refresh(&iss).await, Ok(2));
    assert_eq!(resolver.refresh(&iss).await, Ok(2));
    assert_eq!(issuer.hits(), 2);
    assert_eq!(metric(&obs, "attest_jwks_cached_keys"), 2.0);
    assert_eq!(resolver.issuers(), [iss.as_str()]);
}
