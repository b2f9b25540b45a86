//! The HTTP client against a real scripted server: statuses, retries, timeouts, caps, bad
//! bodies, redirects, the https-only rule, and configured issuers only.

use std::time::Duration;

use attest_jwks::cache::CachePolicy;
use attest_jwks::{IssuerSource, JwksError, JwksResolver, UnavailableCause};

use crate::common::*;

#[tokio::test]
async fn a_fetched_key_is_cached_and_a_hit_sends_nothing() {
    let k1 = key(1, "k1");
    let issuer = Issuer::start(Reply::json_with(
        jwks(&[&k1]),
        &[("Cache-Control", "max-age=600")],
    ))
    .await;
    let iss = issuer.url();
    let obs = observer(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &obs, &clock).build().unwrap();

    assert_eq!(resolver.resolve(&iss, "k1").await.unwrap(), k1.public_key());
    assert_eq!(issuer.hits(), 1);
    for _ in 0..10 {
        assert_eq!(resolver.resolve(&iss, "k1").await.unwrap(), k1.public_key());
    }
    assert_eq!(issuer.hits(), 1, "hits never touch the network");

    let seen = &issuer.seen()[0];
    assert_eq!(seen.request_line, "GET /.well-known/jwks.json HTTP/1.1");
    assert_eq!(
        seen.header("host"),
        Some(issuer.url().trim_start_matches("http://"))
    );
    assert!(
        seen.header("user-agent")
            .unwrap()
            .starts_with("attest-jwks/")
    );
    assert!(
        seen.header("accept")
            .unwrap()
            .contains("application/jwk-set+json")
    );
    assert_eq!(seen.header("if-none-match"), None);

    assert_eq!(lookups(&obs, &iss, "miss"), 1.0);
    assert_eq!(lookups(&obs, &iss, "hit"), 10.0);
    assert_eq!(fetches(&obs, &iss, "success", "none"), 1.0);
    assert_eq!(metric(&obs, "attest_jwks_cached_keys"), 1.0);
    assert_eq!(
        metric(
            &obs,
            r#"attest_jwks_fetch_duration_seconds_count{outcome="success"}"#
        ),
        1.0
    );
    // The TTL is the issuer's max-age: fresh at 299 s (600 - 300 refresh-ahead window).
    clock.advance(Duration::from_secs(299));
    resolver.resolve(&iss, "k1").await.unwrap();
    assert_eq!(issuer.hits(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_recover() {
    let k1 = key(1, "k1");
    let issuer = Issuer::start(Reply::json(jwks(&[&k1]))).await;
    issuer.push(Reply::status(500));
    issuer.push(Reply::status(502));
    let iss = issuer.url();
    let obs = observer(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &obs, &clock).build().unwrap();

    assert_eq!(resolver.resolve(&iss, "k1").await.unwrap(), k1.public_key());
    assert_eq!(issuer.hits(), 3, "two failures, then success");
    // Jitter fixed at factor 1.0: 0.5 s, then 1 s.
    assert_eq!(
        clock.sleeps(),
        [Duration::from_millis(500), Duration::from_secs(1)]
    );
    assert_eq!(fetches(&obs, &iss, "failure", "http_status"), 2.0);
    assert_eq!(fetches(&obs, &iss, "success", "none"), 1.0);
}

#[tokio::test]
async fn a_persistent_server_error_gives_up_after_three_retries() {
    let issuer = Issuer::start(Reply::status(503)).await;
    let iss = issuer.url();
    let obs = observer(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &obs, &clock).build().unwrap();

    assert_eq!(
        resolver.resolve(&iss, "k1").await,
        Err(JwksError::Unavailable(UnavailableCause::Status(503)))
    );
    assert_eq!(issuer.hits(), 4, "1 attempt + 3 retries");
    assert_eq!(
        clock.sleeps(),
        [
            Duration::from_millis(500),
            Duration::from_secs(1),
            Duration::from_secs(2)
        ]
    );
    assert_eq!(
        JwksError::Unavailable(UnavailableCause::Status(503)).reason(),
        attest_core::Reason::Unavailable
    );
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    for status in [400, 401, 403, 404, 410] {
        let issuer = Issuer::start(Reply::status(status)).await;
        let iss = issuer.url();
        let obs = observer(&iss);
        let clock = ManualClock::new();
        let resolver = builder(&iss, &obs, &clock).build().unwrap();
        assert_eq!(
            resolver.resolve(&iss, "k1").await,
            Err(JwksError::Unavailable(UnavailableCause::Status(status)))
        );
        assert_eq!(issuer.hits(), 1, "{status} is not retried");
        assert!(clock.sleeps().is_empty());
    }
}

#[tokio::test]
async fn retry_after_is_honoured_on_429_and_503_and_capped() {
    for (status, retry_after, slept) in [
        (429, "1", Duration::from_secs(1)),
        (503, "2", Duration::from_secs(2)),
        (429, "3600", Duration::from_secs(10)),
    ] {
        let k1 = key(1, "k1");
        let issuer = Issuer::start(Reply::json(jwks(&[&k1]))).await;
        issuer.push(Reply::status_with(status, &[("Retry-After", retry_after)]));
        let iss = issuer.url();
        let obs = observer(&iss);
        let clock = ManualClock::new();
        let resolver = builder(&iss, &obs, &clock).build().unwrap();
        assert_eq!(resolver.resolve(&iss, "k1").await.unwrap(), k1.public_key());
        assert_eq!(issuer.hits(), 2);
        assert_eq!(
            clock.sleeps(),
            [slept],
            "{status} Retry-After: {retry_after}"
        );
    }
    // A 429 without Retry-After backs off like a 5xx.
    let k1 = key(1, "k1");
    let issuer = Issuer::start(Reply::json(jwks(&[&k1]))).await;
    issuer.push(Reply::status(429));
    let iss = issuer.url();
    let clock = ManualClock::new();
    let resolver = builder(&iss, &observer(&iss), &clock).build().unwrap();
    resolver.resolve(&iss, "k1").await.unwrap();
    assert_eq!(clock.sleeps(), [Duration::from_millis(500)]);
}

#[tokio::test]
async fn a_hanging_server_times_out() {
    let issuer = Issuer::start(Reply::Hang).await;
    let iss = issuer.url();
    let obs = observer(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &obs, &clock)
        .http(short_timeouts(Duration::from_millis(200)))
        .retry_policy(no_retries())
        .build()
        .unwrap();
    assert_eq!(
        resolver.resolve(&iss, "k1").await,
        Err(JwksError::Unavailable(UnavailableCause::Timeout))
    );
    assert_eq!(issuer.hits(), 1);
    assert_eq!(fetches(&obs, &iss, "failure", "timeout"), 1.0);
    assert_eq!(
        metric(
            &obs,
            r#"attest_jwks_fetch_duration_seconds_count{outcome="failure"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn timeouts_are_retried() {
    let k1 = key(1, "k1");
    let issuer = Issuer::start(Reply::json(jwks(&[&k1]))).await;
    issuer.push(Reply::Hang);
    let iss = issuer.url();
    let clock = ManualClock::new();
    // Long enough for the second attempt to answer even on a loaded machine.
    let resolver = builder(&iss, &observer(&iss), &clock)
        .http(short_timeouts(Duration::from_millis(500)))
        .build()
        .unwrap();
    assert!(resolver.resolve(&iss, "k1").await.is_ok());
    assert_eq!(issuer.hits(), 2);
}

#[tokio::test]
async fn a_slow_drip_body_times_out() {
    let issuer = Issuer::start(Reply::Drip {
        head: "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".into(),
        interval: Duration::from_millis(20),
        count: 1000,
    })
    .await;
    let iss = issuer.url();
    let obs = observer(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &obs, &clock)
        .http(short_timeouts(Duration::from_millis(300)))
        .retry_policy(no_retries())
        .build()
        .unwrap();
    assert_eq!(
        resolver.resolve(&iss, "k1").await,
        Err(JwksError::Unavailable(UnavailableCause::Timeout)),
        "the whole-request timeout bounds a body that never ends"
    );
    assert_eq!(fetches(&obs, &iss, "failure", "timeout"), 1.0);
}

#[tokio::test]
async fn an_oversized_content_length_is_refused_before_reading() {
    // The head announces 10 MiB and no body ever comes: reading would hang until the timeout.
    let issuer = Issuer::start(Reply::Drip {
        head: "HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\n\r\n".into(),
        interval: Duration::from_secs(3600),
        count: 1,
    })
    .await;
    let iss = issuer.url();
    let obs = observer(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &obs, &clock).build().unwrap();
    assert_eq!(
        resolver.resolve(&iss, "k1").await,
        Err(JwksError::Unavailable(UnavailableCause::TooLarge {
            max: 65_536
        }))
    );
    assert_eq!(issuer.hits(), 1, "too large is not retried");
    assert_eq!(fetches(&obs, &iss, "failure", "too_large"), 1.0);
}

#[tokio::test]
async fn a_body_without_length_is_cut_off_at_the_cap() {
    const TOTAL: usize = 64 * 1024 * 1024;
    for head in [
        // Close-delimited.
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
        // Chunked, one endless chunk.
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4000000\r\n",
    ] {
        let issuer = Issuer::start(Reply::Flood {
            head: head.into(),
            total: TOTAL,
        })
        .await;
        let iss = issuer.url();
        let obs = observer(&iss);
        let clock = ManualClock::new();
        let resolver = builder(&iss, &obs, &clock).build().unwrap();
        assert_eq!(
            resolver.resolve(&iss, "k1").await,
            Err(JwksError::Unavailable(UnavailableCause::TooLarge {
                max: 65_536
            }))
        );
        // The client stopped reading at the cap and closed: the server could not write it
        // all (what it did write sits in socket buffers).
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            issuer.written() < TOTAL,
            "{head:?}: wrote {}",
            issuer.written()
        );
    }
}

#[tokio::test]
async fn a_lying_short_content_length_reads_only_what_was_announced() {
    let mut raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{\"keys\":[]".to_vec();
    raw.extend(vec![b' '; 1024 * 1024]);
    let issuer = Issuer::start(Reply::Raw(raw)).await;
    let iss = issuer.url();
    let clock = ManualClock::new();
    let resolver = builder(&iss, &observer(&iss), &clock).build().unwrap();
    assert!(matches!(
        resolver.resolve(&iss, "k1").await,
        Err(JwksError::Unavailable(UnavailableCause::InvalidJwks(_)))
    ));
}

#[tokio::test]
async fn malformed_json_is_refused_without_retry() {
    for body in [
        "{not json",
        "[]",
        r#"{"keys":{}}"#,
        r#"{"keys":[],"keys":[]}"#,
        "\u{feff}{\"keys\":[]}",
    ] {
        let issuer = Issuer::start(Reply::json(body)).await;
        let iss = issuer.url();
        let obs = observer(&iss);
        let clock = ManualClock::new();
        let resolver = builder(&iss, &obs, &clock).build().unwrap();
        assert!(
            matches!(
                resolver.resolve(&iss, "k1").await,
                Err(JwksError::Unavailable(UnavailableCause::InvalidJwks(_)))
            ),
            "{body}"
        );
        assert_eq!(issuer.hits(), 1, "{body}");
        assert_eq!(fetches(&obs, &iss, "failure", "invalid_jwks"), 1.0);
    }
}

#[tokio::test]
async fn a_redirect_is_never_followed() {
    let k1 = key(1, "k1");
    let target = Issuer::start(Reply::json(jwks(&[&k1]))).await;
    for status in [301, 302, 303, 307, 308] {
        let location = format!("{}/.well-known/jwks.json", target.url());
        let issuer = Issuer::start(Reply::status_with(
            status,
            &[("Location", location.as_str())],
        ))
        .await;
        let iss = issuer.url();
        let obs = observer(&iss);
        let clock = ManualClock::new();
        let resolver = builder(&iss, &obs, &clock).build().unwrap();
        assert_eq!(
            resolver.resolve(&iss, "k1").await,
            Err(JwksError::Unavailable(UnavailableCause::Redirect(status)))
        );
        assert_eq!(issuer.hits(), 1, "a refusal is not retried");
        assert_eq!(fetches(&obs, &iss, "failure", "refused"), 1.0);
    }
    assert_eq!(target.hits(), 0, "the redirect target is never contacted");
}

#[tokio::test]
async fn an_unsolicited_304_is_refused() {
    let issuer = Issuer::start(Reply::status(304)).await;
    let iss = issuer.url();
    let clock = ManualClock::new();
    let resolver = builder(&iss, &observer(&iss), &clock).build().unwrap();
    assert_eq!(
        resolver.resolve(&iss, "k1").await,
        Err(JwksError::Unavailable(UnavailableCause::Redirect(304)))
    );
}

#[tokio::test]
async fn connection_refused_is_a_network_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let iss = format!("http://127.0.0.1:{port}");
    let obs = observer(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &obs, &clock)
        .retry_policy(no_retries())
        .build()
        .unwrap();
    assert!(matches!(
        resolver.resolve(&iss, "k1").await,
        Err(JwksError::Unavailable(UnavailableCause::Network(_)))
    ));
    assert_eq!(fetches(&obs, &iss, "failure", "network"), 1.0);
}

#[tokio::test]
async fn https_is_required_except_loopback_with_the_dev_switch() {
    let issuer = Issuer::start(Reply::status(500)).await;
    let loopback = issuer.url();
    let obs = observer(&loopback);
    let config_error = |r: Result<JwksResolver, JwksError>| {
        assert!(matches!(r, Err(JwksError::Config(_))), "{r:?}");
    };
    // Loopback http without the switch.
    config_error(
        JwksResolver::builder(obs.clone())
            .issuer(loopback.as_str())
            .build(),
    );
    // Non-loopback http, even with the switch.
    for iss in [
        "http://issuer.example",
        "http://10.0.0.1:8080",
        "http://[2001:db8::1]",
    ] {
        config_error(
            JwksResolver::builder(obs.clone())
                .danger_allow_loopback_http(true)
                .issuer(iss)
                .build(),
        );
    }
    // A URL override is held to the same rule.
    config_error(
        JwksResolver::builder(obs.clone())
            .danger_allow_loopback_http(true)
            .issuer_source(
                "https://issuer.example",
                IssuerSource::Url("http://issuer.example/jwks".into()),
            )
            .build(),
    );
    // https anywhere, and loopback http with the switch, are accepted.
    assert!(
        JwksResolver::builder(obs.clone())
            .issuer("https://issuer.example")
            .build()
            .is_ok()
    );
    assert!(
        JwksResolver::builder(obs.clone())
            .danger_allow_loopback_http(true)
            .issuer(loopback.as_str())
            .build()
            .is_ok()
    );
    assert_eq!(issuer.hits(), 0, "building never fetches");
}

#[tokio::test]
async fn localhost_http_is_allowed_with_the_switch() {
    let k1 = key(1, "k1");
    let issuer = Issuer::start(Reply::json(jwks(&[&k1]))).await;
    let port = issuer.url().rsplit(':').next().unwrap().to_owned();
    let iss = format!("http://localhost:{port}");
    let clock = ManualClock::new();
    let resolver = builder(&iss, &observer(&iss), &clock).build().unwrap();
    // `localhost` may resolve to ::1 first, where nothing listens: the client tries each
    // (loopback) address in turn.
    assert_eq!(resolver.resolve(&iss, "k1").await.unwrap(), k1.public_key());
}

#[tokio::test]
async fn an_unconfigured_issuer_causes_no_request() {
    let k1 = key(1, "k1");
    let issuer = Issuer::start(Reply::json(jwks(&[&k1]))).await;
    let iss = issuer.url();
    let obs = observer(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &obs, &clock).build().unwrap();
    for other in [
        "https://other.example".to_owned(),
        format!("{iss}/"),
        iss.to_uppercase(),
        String::new(),
    ] {
        assert_eq!(
            resolver.resolve(&other, "k1").await,
            Err(JwksError::IssuerNotConfigured)
        );
        assert_eq!(resolver.cached(&other, "k1"), None);
        assert_eq!(
            resolver.refresh(&other).await,
            Err(JwksError::IssuerNotConfigured)
        );
    }
    assert_eq!(issuer.hits(), 0);
    assert_eq!(
        JwksError::IssuerNotConfigured.reason(),
        attest_core::Reason::IssuerUntrusted
    );
}

#[tokio::test]
async fn the_url_override_is_fetched_instead_of_the_well_known_path() {
    let k1 = key(1, "k1");
    let issuer = Issuer::start(Reply::json(jwks(&[&k1]))).await;
    let iss = "https://issuer.example";
    let clock = ManualClock::new();
    let obs = observer(iss);
    let resolver = JwksResolver::builder(obs)
        .danger_allow_loopback_http(true)
        .clock(clock)
        .issuer_source(iss, IssuerSource::Url(format!("{}/keys?v=2", issuer.url())))
        .build()
        .unwrap();
    assert_eq!(resolver.resolve(iss, "k1").await.unwrap(), k1.public_key());
    assert_eq!(issuer.seen()[0].request_line, "GET /keys?v=2 HTTP/1.1");
}

#[tokio::test]
async fn invalid_configurations_are_refused() {
    let obs = observer("https://issuer.example");
    let mut cooldown = CachePolicy::default();
    cooldown.unknown_kid_cooldown = Duration::from_secs(1);
    for builder in [
        JwksResolver::builder(obs.clone()),
        JwksResolver::builder(obs.clone())
            .issuer("https://issuer.example")
            .issuer("https://issuer.example"),
        JwksResolver::builder(obs.clone()).issuer(" https://issuer.example"),
        JwksResolver::builder(obs.clone())
            .issuer("https://issuer.example")
            .cache_policy(cooldown),
        JwksResolver::builder(obs.clone()).issuer("https://issuer.example/?tenant=1"),
    ] {
        assert!(matches!(builder.build(), Err(JwksError::Config(_))));
    }
}
