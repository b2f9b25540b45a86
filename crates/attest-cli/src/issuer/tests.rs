//! Unit tests: token-request parsing, the bearer header and the secret comparison.

use super::*;

#[test]
fn token_requests_are_parsed_strictly() {
    assert_eq!(
        parse_request(br#"{"audience": ["https://a.example"], "lifetime_secs": 60}"#),
        Ok((vec!["https://a.example".to_owned()], Some(60)))
    );
    // Identity members are ignored: the issuer decides them.
    assert_eq!(
        parse_request(br#"{"audience": ["a"], "sub": "spiffe://evil", "agent_identity": {}}"#),
        Ok((vec!["a".to_owned()], None))
    );
    for bad in [
        &b""[..],
        b"[]",
        b"null",
        b"{}",
        br#"{"audience": []}"#,
        br#"{"audience": "a"}"#,
        br#"{"audience": [""]}"#,
        br#"{"audience": [1]}"#,
        br#"{"audience": ["a"], "lifetime_secs": 0}"#,
        br#"{"audience": ["a"], "lifetime_secs": -5}"#,
        br#"{"audience": ["a"], "lifetime_secs": 1.5}"#,
        br#"{"audience": ["a"], "lifetime_secs": "60"}"#,
        br#"{"audience": ["a"], "lifetime_secs": null}"#,
        b"\xff\xfe",
    ] {
        assert!(
            parse_request(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let many: Vec<String> = (0..=MAX_AUDIENCES).map(|i| format!("\"a{i}\"")).collect();
    let body = format!("{{\"audience\": [{}]}}", many.join(","));
    assert!(parse_request(body.as_bytes()).is_err());
}

#[test]
fn bearer_scheme_is_case_insensitive() {
    let mut headers = HeaderMap::new();
    assert_eq!(bearer(&headers), None);
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("bearer s3cret"),
    );
    assert_eq!(bearer(&headers), Some("s3cret"));
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Basic s3cret"),
    );
    assert_eq!(bearer(&headers), None);
}

#[test]
fn secrets_compare_exactly() {
    assert!(constant_time_eq(b"s3cret", b"s3cret"));
    assert!(!constant_time_eq(b"s3cret", b"s3creT"));
    assert!(!constant_time_eq(b"s3cret", b"s3cre"));
    assert!(!constant_time_eq(b"", b"x"));
}

#[test]
fn without_a_secret_only_loopback_peers_may_call() {
    let headers = HeaderMap::new();
    for peer in [
        "127.0.0.1:1",
        "127.8.9.10:1",
        "[::1]:1",
        "[::ffff:127.0.0.1]:1",
    ] {
        assert_eq!(
            authorize(None, peer.parse().unwrap(), &headers),
            Ok(()),
            "{peer}"
        );
    }
    for peer in [
        "10.0.0.1:1",
        "192.168.1.2:1",
        "[2001:db8::1]:1",
        "[::ffff:10.0.0.1]:1",
    ] {
        assert!(
            authorize(None, peer.parse().unwrap(), &headers).is_err(),
            "{peer}"
        );
    }
}

#[test]
fn with_a_secret_every_peer_must_send_it() {
    let loopback: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let remote: SocketAddr = "10.0.0.1:1".parse().unwrap();
    let mut headers = HeaderMap::new();
    assert!(authorize(Some("s3cret"), loopback, &headers).is_err());
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer wrong"),
    );
    assert!(authorize(Some("s3cret"), loopback, &headers).is_err());
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer s3cret"),
    );
    assert_eq!(authorize(Some("s3cret"), loopback, &headers), Ok(()));
    assert_eq!(authorize(Some("s3cret"), remote, &headers), Ok(()));
}
