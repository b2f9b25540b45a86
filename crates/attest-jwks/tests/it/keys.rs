//! What is published: refused keys and sets, key rotation, unknown-kid storms, and static and
//! file sources.

use std::sync::Arc;
use std::time::Duration;

use attest_core::{KeyResolver, KeySet};
use attest_jwks::{IssuerSource, JwksError, JwksResolver, UnavailableCause};

use crate::common::*;

/// The identity point: a small-order public key that accepts `(R = identity, S = 0)` for any
/// message under non-strict verification.
const SMALL_ORDER_X: &str = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn rejected(obs: &attest_observe::Observer, iss: &str, error: &str) -> f64 {
    metric(
        obs,
        &format!(r#"attest_jwks_keys_rejected_total{{error="{error}",issuer="{iss}"}}"#),
    )
}

#[tokio::test]
async fn a_duplicate_kid_is_unusable_and_counted() {
    let good = key(1, "good");
    let body = format!(
        r#"{{"keys":[{},{},{}]}}"#,
        jwk_json(&key(2, "dup")),
        jwk_json(&good),
        jwk_json(&key(3, "dup"))
    );
    let issuer = Issuer::start(Reply::json(body)).await;
    let iss = issuer.url();
    let obs = observer(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &obs, &clock).build().unwrap();
    assert_eq!(
        resolver.resolve(&iss, "dup").await,
        Err(JwksError::KeyUnknown)
    );
    assert_eq!(
        resolver.resolve(&iss, "good").await.unwrap(),
        good.public_key()
    );
    // The cold fetch was made on behalf of "dup": it is negative-cached, no second fetch.
    assert_eq!(
        resolver.resolve(&iss, "dup").await,
        Err(JwksError::KeyUnknown)
    );
    assert_eq!(issuer.hits(), 1);
    assert_eq!(rejected(&obs, &iss, "duplicate_kid"), 1.0);
    assert_eq!(
        JwksError::KeyUnknown.reason(),
        attest_core::Reason::KeyUnknown
    );
}

#[tokio::test]
async fn a_small_order_key_is_unusable_and_counted() {
    let good = key(1, "good");
    let body = format!(
        r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{SMALL_ORDER_X}","kid":"weak"}},{}]}}"#,
        jwk_json(&good)
    );
    let issuer = Issuer::start(Reply::json(body)).await;
    let iss = issuer.url();
    let obs = observer(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &obs, &clock).build().unwrap();
    assert_eq!(
        resolver.resolve(&iss, "good").await.unwrap(),
        good.public_key()
    );
    assert_eq!(rejected(&obs, &iss, "small_order"), 1.0);
    assert_eq!(
        resolver.resolve(&iss, "weak").await,
        Err(JwksError::KeyUnknown)
    );
    assert_eq!(resolver.status(&iss).unwrap().kids, ["good"]);
    // One fetch for the cold lookup, one unknown-kid refetch for "weak".
    assert_eq!(issuer.hits(), 2);
    assert_eq!(
        rejected(&obs, &iss, "small_order"),
        2.0,
        "counted at each ingest"
    );
}

#[tokio::test]
async fn sets_refused_whole_are_fetch_failures() {
    let good = key(1, "good");
    let private = good.to_private_jwk();
    let with_private = format!(
        r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{}","d":"{}","kid":"leak"}}]}}"#,
        private.x.unwrap(),
        private.d.unwrap()
    );
    let many: Vec<String> = (0..33u8)
        .map(|i| jwk_json(&key(i.wrapping_add(1), &format!("k{i}"))))
        .collect();
    let too_many = format!(r#"{{"keys":[{}]}}"#, many.join(","));
    let only_weak = format!(
        r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{SMALL_ORDER_X}","kid":"weak"}}]}}"#
    );
    let only_rsa = r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"rsa"}]}"#.to_owned();
    for body in [with_private, too_many, only_weak, only_rsa] {
        let issuer = Issuer::start(Reply::json(body.clone())).await;
        let iss = issuer.url();
        let obs = observer(&iss);
        let clock = ManualClock::new();
        let resolver = builder(&iss, &obs, &clock).build().unwrap();
        let result = resolver.resolve(&iss, "good").await;
        assert!(
            matches!(
                result,
                Err(JwksError::Unavailable(UnavailableCause::InvalidJwks(_)))
            ),
            "{result:?} for {}",
            &body[..60]
        );
        assert_eq!(issuer.hits(), 1, "not retried");
        assert_eq!(fetches(&obs, &iss, "failure", "invalid_jwks"), 1.0);
        assert_eq!(resolver.status(&iss).unwrap().kids, Vec::<String>::new());
    }
}

#[tokio::test]
async fn a_refused_refresh_keeps_the_good_set() {
    let k1 = key(1, "k1");
    let issuer = Issuer::start(Reply::json(jwks(&[&k1]))).await;
    let iss = issuer.url();
    let clock = ManualClock::new();
    let resolver = builder(&iss, &observer(&iss), &clock).build().unwrap();
    resolver.resolve(&iss, "k1").await.unwrap();
    issuer.set_fallback(Reply::json(
        r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","d":"x","kid":"k1"}]}"#,
    ));
    assert_eq!(
        resolver.refresh(&iss).await.map_err(|e| e.reason()),
        Err(attest_core::Reason::Unavailable)
    );
    assert_eq!(resolver.resolve(&iss, "k1").await.unwrap(), k1.public_key());
    assert_eq!(resolver.status(&iss).unwrap().kids, ["k1"]);
}

#[tokio::test]
async fn key_rotation_verifies_after_exactly_one_refetch() {
    let k1 = key(1, "k1");
    let k2 = key(2, "k2");
    let issuer = Issuer::start(Reply::json(jwks(&[&k1]))).await;
    let iss = issuer.url();
    let policy = policy(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &observer(&iss), &clock).build().unwrap();

    let v = verify(&resolver, &policy, &token(&iss, &k1)).await.unwrap();
    assert_eq!(v.header().kid, "k1");
    assert_eq!(issuer.hits(), 1);

    // Mid-run, the issuer starts publishing k2 and signing with it.
    issuer.set_fallback(Reply::json(jwks(&[&k1, &k2])));
    let v = verify(&resolver, &policy, &token(&iss, &k2)).await.unwrap();
    assert_eq!(v.header().kid, "k2");
    assert_eq!(issuer.hits(), 2, "exactly one refetch");
    // Both keys now verify without any fetch.
    for _ in 0..5 {
        verify(&resolver, &policy, &token(&iss, &k2)).await.unwrap();
        verify(&resolver, &policy, &token(&iss, &k1)).await.unwrap();
    }
    assert_eq!(issuer.hits(), 2);
    // A key the issuer never published fails as unknown, with the stable reason.
    let forged = verify(&resolver, &policy, &token(&iss, &key(9, "k3"))).await;
    assert_eq!(forged.unwrap_err(), JwksError::KeyUnknown.to_string());
    // ...and cost no fetch: the unknown-kid cooldown (30 s) is still running.
    assert_eq!(issuer.hits(), 2);
    // After the cooldown it may refetch once more.
    clock.advance(Duration::from_secs(30));
    assert!(
        verify(&resolver, &policy, &token(&iss, &key(9, "k3")))
            .await
            .is_err()
    );
    assert_eq!(issuer.hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kid_storm_causes_exactly_one_fetch() {
    let k1 = key(1, "k1");
    let issuer = Issuer::start(Reply::Delay(
        Duration::from_millis(50),
        Box::new(Reply::json(jwks(&[&k1]))),
    ))
    .await;
    let iss = issuer.url();
    let obs = observer(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &obs, &clock).build().unwrap();
    resolver.resolve(&iss, "k1").await.unwrap();
    assert_eq!(issuer.hits(), 1);

    let storm = |kid: &'static str| {
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let resolver = resolver.clone();
                let iss = iss.clone();
                tokio::spawn(async move { resolver.resolve(&iss, kid).await })
            })
            .collect();
        async move {
            let mut results = Vec::new();
            for task in tasks {
                results.push(task.await.unwrap());
            }
            results
        }
    };
    let results = storm("nope").await;
    assert!(results.iter().all(|r| *r == Err(JwksError::KeyUnknown)));
    assert_eq!(
        issuer.hits(),
        2,
        "1,000 concurrent lookups of an unknown kid: one fetch"
    );
    // A second storm, with another kid, inside the cooldown: no fetch at all.
    let results = storm("other").await;
    assert!(results.iter().all(|r| *r == Err(JwksError::KeyUnknown)));
    assert_eq!(issuer.hits(), 2);
    assert_eq!(lookups(&obs, &iss, "miss"), 2001.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_storm_causes_exactly_one_fetch() {
    let k1 = key(1, "k1");
    let issuer = Issuer::start(Reply::Delay(
        Duration::from_millis(50),
        Box::new(Reply::json(jwks(&[&k1]))),
    ))
    .await;
    let iss = issuer.url();
    let clock = ManualClock::new();
    let resolver = builder(&iss, &observer(&iss), &clock).build().unwrap();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let resolver = resolver.clone();
            let iss = iss.clone();
            tokio::spawn(async move { resolver.resolve(&iss, "k1").await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), k1.public_key());
    }
    assert_eq!(issuer.hits(), 1);
}

#[tokio::test]
async fn keys_are_bound_to_their_issuer() {
    let a_key = key(1, "shared-kid");
    let b_key = key(2, "shared-kid");
    let a = Issuer::start(Reply::json(jwks(&[&a_key]))).await;
    let b = Issuer::start(Reply::json(jwks(&[&b_key]))).await;
    let clock = ManualClock::new();
    let obs = observer(&a.url());
    let resolver = builder(&a.url(), &obs, &clock)
        .issuer(b.url())
        .build()
        .unwrap();
    assert_eq!(
        resolver.resolve(&a.url(), "shared-kid").await.unwrap(),
        a_key.public_key()
    );
    assert_eq!(
        resolver.resolve(&b.url(), "shared-kid").await.unwrap(),
        b_key.public_key()
    );
    // A token from b's key that claims issuer a does not verify.
    let policy = attest_core::Policy::builder()
        .trusted_issuer(a.url())
        .trusted_issuer(b.url())
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let claims_a_signed_by_b = token(&a.url(), &b_key);
    assert!(
        verify(&resolver, &policy, &claims_a_signed_by_b)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn static_and_file_sources_never_fetch() {
    let k1 = key(1, "k1");
    let k2 = key(2, "k2");
    let dir = std::env::temp_dir().join(format!("attest-jwks-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jwks.json");
    std::fs::write(&file, jwks(&[&k2])).unwrap();

    let obs = observer("https://static.example");
    let resolver = JwksResolver::builder(obs.clone())
        .issuer_source(
            "https://static.example",
            IssuerSource::Static(KeySet::from_keys([(k1.kid(), k1.public_key())]).unwrap()),
        )
        .issuer_source("https://file.example", IssuerSource::File(file.clone()))
        .build()
        .unwrap();
    assert_eq!(
        resolver
            .resolve("https://static.example", "k1")
            .await
            .unwrap(),
        k1.public_key()
    );
    assert_eq!(
        resolver
            .resolve("https://file.example", "k2")
            .await
            .unwrap(),
        k2.public_key()
    );
    assert_eq!(
        resolver.resolve("https://file.example", "k1").await,
        Err(JwksError::KeyUnknown),
        "keys stay bound to their issuer"
    );
    assert_eq!(resolver.refresh("https://file.example").await, Ok(1));
    assert_eq!(metric(&obs, "attest_jwks_cached_keys"), 2.0);
    // The synchronous KeyResolver view answers from the cache.
    assert_eq!(
        KeyResolver::resolve(&resolver, "https://static.example", "k1"),
        Some(k1.public_key())
    );
    // Works outside any runtime too (nothing to fetch).
    let sync = resolver.clone();
    let from_thread = std::thread::spawn(move || sync.cached("https://file.example", "k2"))
        .join()
        .unwrap();
    assert_eq!(from_thread, Some(k2.public_key()));

    // A file over the cap, malformed, or missing is refused when the resolver is built.
    let big = dir.join("big.json");
    std::fs::write(&big, vec![b' '; 65 * 1024]).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{nope").unwrap();
    for path in [big, bad, dir.join("missing.json")] {
        let r = JwksResolver::builder(obs.clone())
            .issuer_source("https://file.example", IssuerSource::File(path))
            .build();
        assert!(matches!(r, Err(JwksError::Config(_))));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_lookup_outside_a_runtime_fails_closed_instead_of_panicking() {
    let obs = observer("https://issuer.example");
    let resolver = Arc::new(
        JwksResolver::builder(obs)
            .issuer("https://issuer.example")
            .build()
            .unwrap(),
    );
    // A minimal executor that is not tokio.
    let result = block_on(resolver.resolve("https://issuer.example", "k1"));
    assert_eq!(
        result,
        Err(JwksError::Unavailable(UnavailableCause::NoRuntime))
    );
}

/// Polls a future to completion on this thread (it must not need a reactor).
fn block_on<F: Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}
