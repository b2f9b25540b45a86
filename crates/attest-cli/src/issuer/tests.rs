//! Unit tests: token-request parsing (`cnf_jwk` included), the bearer header and the secret
//! comparison.

use super::*;

#[test]
fn token_requests_are_parsed_strictly() {
    assert_eq!(
        parse_request(br#"{"audience": ["https://a.example"], "lifetime_secs": 60}"#),
        Ok(TokenRequest {
            audiences: vec!["https://a.example".to_owned()],
            lifetime: Some(60),
            cnf: None,
        })
    );
    // Identity members, `cnf` included, are ignored: the issuer decides them.
    assert_eq!(
        parse_request(
            br#"{"audience": ["a"], "sub": "spiffe://evil", "agent_identity": {},
                 "cnf": {"jkt": "abc"}}"#
        ),
        Ok(TokenRequest {
            audiences: vec!["a".to_owned()],
            lifetime: None,
            cnf: None,
        })
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
    assert_eq!(
        parse_request(body.as_bytes()),
        Err(RequestError::TooManyAudiences)
    );
}

fn agent() -> SigningKey {
    SigningKey::from_seed(&[0x77; 32], "agent-1").unwrap()
}

fn with_cnf(cnf: &Value) -> Vec<u8> {
    json!({"audience": ["a"], "cnf_jwk": cnf})
        .to_string()
        .into_bytes()
}

#[test]
fn cnf_jwk_is_bound_as_the_checked_public_key_only() {
    let key = agent().public_key();
    let mut sent = serde_json::to_value(agent().to_public_jwk()).unwrap();
    sent["x5u"] = json!("https://evil.example/cert");
    let request = parse_request(&with_cnf(&sent)).unwrap();
    let bound = request.cnf.unwrap();
    // Rebuilt from the key: kty, crv, x and the agent's kid, nothing else it sent.
    assert_eq!(
        serde_json::to_value(&bound).unwrap(),
        json!({"kty": "OKP", "crv": "Ed25519", "kid": "agent-1", "x": sent["x"]})
    );
    assert_eq!(PublicKey::from_jwk(&bound).unwrap(), key);
    // The bare RFC 7638 members are enough, and no kid is invented.
    let bare = json!({"kty": "OKP", "crv": "Ed25519", "x": sent["x"]});
    let bound = parse_request(&with_cnf(&bare)).unwrap().cnf.unwrap();
    assert_eq!(serde_json::to_value(&bound).unwrap(), bare);
}

#[test]
fn cnf_jwk_that_is_private_or_not_ed25519_is_refused() {
    let private = serde_json::to_value(agent().to_private_jwk()).unwrap();
    assert_eq!(
        parse_request(&with_cnf(&private)),
        Err(RequestError::CnfPrivate("d"))
    );
    let x = private["x"].clone();
    let cases = [
        (
            json!({"kty": "OKP", "crv": "Ed25519", "x": x, "d": null}),
            "d",
        ),
        (json!({"kty": "oct", "k": "c2VjcmV0"}), "k"),
        (
            json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "p": "AQ"}),
            "p",
        ),
    ];
    for (cnf, member) in cases {
        assert_eq!(
            parse_request(&with_cnf(&cnf)),
            Err(RequestError::CnfPrivate(member)),
            "{cnf}"
        );
    }
    for (cnf, expected) in [
        (
            json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
            KeyError::WrongKty("RSA".to_owned()),
        ),
        (
            json!({"kty": "OKP", "crv": "X25519", "x": x}),
            KeyError::WrongCurve("X25519".to_owned()),
        ),
        (
            json!({"kty": "OKP", "crv": "Ed25519"}),
            KeyError::Missing("x"),
        ),
        (
            json!({"kty": "OKP", "crv": "Ed25519", "x": "not base64url!"}),
            KeyError::Base64("x"),
        ),
        (
            json!({"kty": "OKP", "crv": "Ed25519", "x": x, "use": "enc"}),
            KeyError::WrongUse("enc".to_owned()),
        ),
        // The identity point: a weak key that would verify forged proofs.
        (
            json!({"kty": "OKP", "crv": "Ed25519",
                   "x": "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
            KeyError::SmallOrder,
        ),
    ] {
        assert_eq!(
            parse_request(&with_cnf(&cnf)),
            Err(RequestError::CnfInvalid(expected)),
            "{cnf}"
        );
    }
    for garbage in [json!("a key"), json!(42), json!(null), json!([1, 2])] {
        assert_eq!(
            parse_request(&with_cnf(&garbage)),
            Err(RequestError::CnfNotObject),
            "{garbage}"
        );
    }
    assert!(matches!(
        parse_request(&with_cnf(&json!({"crv": "Ed25519"}))),
        Err(RequestError::CnfInvalid(KeyError::Json(_)))
    ));
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
