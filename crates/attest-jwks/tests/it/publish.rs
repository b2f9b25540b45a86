//! Issuer side: a `KeyRing` served by the axum router, end to end with the resolver.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use attest_core::KeySet;
use attest_jwks::cache::Freshness;
use attest_jwks::{KeyRing, KeyRingConfig, publish};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// (If-None-Match sent, status answered) per request.
type Log = Arc<Mutex<Vec<(Option<String>, u16)>>>;

async fn serve(ring: KeyRing) -> (String, Log) {
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&log);
    let app = publish::router(ring).layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let record = Arc::clone(&record);
            async move {
                let tag = request
                    .headers()
                    .get("if-none-match")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let response = next.run(request).await;
                record
                    .lock()
                    .unwrap()
                    .push((tag, response.status().as_u16()));
                response
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), log)
}

/// A plain HTTP/1.1 request; returns status, lower-cased headers and body.
async fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, String) {
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (n, v) in headers {
        text.push_str(&format!("{n}: {v}\r\n"));
    }
    text.push_str("\r\n");
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn the_ring_is_served_with_cache_control_etag_and_304() {
    let ring = KeyRing::new(key(1, "k1"));
    let (base, _) = serve(ring.clone()).await;
    let path = attest_jwks::WELL_KNOWN_JWKS_PATH;

    let (status, headers, body) = request(&base, "GET", path, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/jwk-set+json")
    );
    assert_eq!(
        header(&headers, "cache-control"),
        Some("public, max-age=300")
    );
    let etag = header(&headers, "etag").unwrap().to_owned();
    assert_eq!(etag, ring.document().etag);
    assert_eq!(
        KeySet::parse(body.as_bytes(), Default::default())
            .unwrap()
            .kids(),
        ["k1"]
    );

    for tag in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".into(),
    ] {
        let (status, headers, body) = request(&base, "GET", path, &[("If-None-Match", &tag)]).await;
        assert_eq!(status, 304, "{tag}");
        assert!(body.is_empty());
        assert_eq!(header(&headers, "etag"), Some(etag.as_str()));
        assert_eq!(header(&headers, "content-type"), None);
    }
    let (status, _, _) = request(&base, "GET", path, &[("If-None-Match", "\"old\"")]).await;
    assert_eq!(status, 200);

    let (status, headers, body) = request(&base, "HEAD", path, &[]).await;
    assert_eq!(status, 200);
    assert!(body.is_empty());
    assert_eq!(header(&headers, "etag"), Some(etag.as_str()));

    let (status, _, _) = request(&base, "GET", "/jwks.json", &[]).await;
    assert_eq!(status, 404);

    // A rotation is visible at once, with a new ETag; the old one no longer matches.
    ring.rotate(key(2, "k2"), NOW).unwrap();
    let (status, headers, body) = request(&base, "GET", path, &[("If-None-Match", &etag)]).await;
    assert_eq!(status, 200);
    assert_ne!(header(&headers, "etag"), Some(etag.as_str()));
    assert_eq!(
        KeySet::parse(body.as_bytes(), Default::default())
            .unwrap()
            .kids(),
        ["k1", "k2"]
    );
}

#[tokio::test]
async fn tokens_verify_end_to_end_across_a_rotation() {
    let ring = KeyRing::new(key(1, "k1"));
    let (iss, log) = serve(ring.clone()).await;
    let policy = policy(&iss);
    let obs = observer(&iss);
    let clock = ManualClock::new();
    let resolver = builder(&iss, &obs, &clock).build().unwrap();

    let old_token = token(&iss, &ring.current());
    let verified = verify(&resolver, &policy, &old_token).await.unwrap();
    assert_eq!(verified.header().kid, "k1");
    assert_eq!(verified.claims().agent_identity.model_family, "claude");
    assert_eq!(log.lock().unwrap().len(), 1);

    // Rotate: new tokens are signed with k2, and k1 stays published for the overlap.
    ring.rotate(key(2, "k2"), NOW).unwrap();
    let new_token = token(&iss, &ring.current());
    assert_eq!(
        verify(&resolver, &policy, &new_token)
            .await
            .unwrap()
            .header()
            .kid,
        "k2"
    );
    assert_eq!(log.lock().unwrap().len(), 2, "exactly one refetch");
    // Tokens signed before the rotation still verify, without a fetch.
    verify(&resolver, &policy, &old_token).await.unwrap();
    verify(&resolver, &policy, &new_token).await.unwrap();
    assert_eq!(log.lock().unwrap().len(), 2);
    assert_eq!(fetches(&obs, &iss, "success", "none"), 2.0);
    assert_eq!(metric(&obs, "attest_jwks_cached_keys"), 2.0);

    // After the overlap (max token lifetime 300 s + leeway 30 s) k1 is pruned.
    let overlap = KeyRingConfig::default().overlap().as_secs();
    assert_eq!(ring.prune(NOW.saturating_add(overlap)), 1);
    assert_eq!(ring.published_kids(), ["k2"]);
}

#[tokio::test]
async fn a_refresh_of_an_unchanged_ring_is_a_304() {
    let ring = KeyRing::new(key(1, "k1"));
    let (iss, log) = serve(ring.clone()).await;
    let clock = ManualClock::new();
    let resolver = builder(&iss, &observer(&iss), &clock).build().unwrap();
    resolver.resolve(&iss, "k1").await.unwrap();
    let etag = ring.document().etag.clone();

    // max-age=300 → refresh-ahead window of 150 s.
    clock.advance(Duration::from_secs(150));
    resolver.resolve(&iss, "k1").await.unwrap();
    settle(&resolver, &iss).await;
    assert_eq!(
        *log.lock().unwrap(),
        [(None, 200), (Some(etag.clone()), 304)]
    );
    assert_eq!(
        resolver.status(&iss).unwrap().freshness,
        Some(Freshness::Fresh),
        "the 304 renewed the set"
    );

    // Changed ring: the conditional refresh gets the new set.
    ring.rotate(key(2, "k2"), NOW).unwrap();
    clock.advance(Duration::from_secs(150));
    resolver.resolve(&iss, "k1").await.unwrap();
    settle(&resolver, &iss).await;
    assert_eq!(log.lock().unwrap()[2], (Some(etag), 200));
    assert_eq!(resolver.status(&iss).unwrap().kids, ["k1", "k2"]);
}
