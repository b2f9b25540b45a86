//! Unit tests of attest-mcp-client: the refresh decision, endpoint checks, response parsing
//! and carrier detection.

use attest_core::UnixTime;
use serde_json::json;

use crate::Carriers;
use crate::carriers::carriers_present_in;
use crate::error::ClientError;
use crate::refresh::{is_fresh, refresh_margin_secs};
use crate::remote::{check_endpoint, clip, default_endpoint, is_loopback, parse_token_response};

fn t(secs: u64) -> UnixTime {
    UnixTime::from_secs(secs)
}

#[test]
fn margin_is_a_fifth_of_the_lifetime_but_at_least_30_s() {
    assert_eq!(refresh_margin_secs(t(1000), t(1300)), 60); // 300 s lifetime
    assert_eq!(refresh_margin_secs(t(1000), t(4600)), 720); // 3600 s lifetime
    assert_eq!(refresh_margin_secs(t(1000), t(1100)), 30); // 100 s: 20 s < 30 s
    assert_eq!(refresh_margin_secs(t(1000), t(1000)), 30);
    // Inverted times do not underflow.
    assert_eq!(refresh_margin_secs(t(2000), t(1000)), 30);
}

#[test]
fn a_300_s_token_is_fresh_until_60_s_remain() {
    let (iat, exp) = (t(1000), t(1300));
    assert!(is_fresh(iat, exp, t(1000)));
    assert!(is_fresh(iat, exp, t(1239)));
    assert!(
        is_fresh(iat, exp, t(1240)),
        "exactly the margin left is still fresh"
    );
    assert!(!is_fresh(iat, exp, t(1241)));
    assert!(!is_fresh(iat, exp, t(1300)));
    assert!(!is_fresh(iat, exp, t(5000)), "long expired");
}

#[test]
fn short_tokens_use_the_30_s_floor() {
    let (iat, exp) = (t(1000), t(1100));
    assert!(is_fresh(iat, exp, t(1070)));
    assert!(!is_fresh(iat, exp, t(1071)));
}

#[test]
fn tokens_under_30_s_are_never_reused() {
    assert!(!is_fresh(t(1000), t(1029), t(1000)));
    assert!(!is_fresh(t(1000), t(1010), t(1000)));
    assert!(
        is_fresh(t(1000), t(1030), t(1000)),
        "30 s: reused within its first second"
    );
    assert!(!is_fresh(t(1000), t(1030), t(1001)));
}

#[test]
fn a_clock_that_went_back_does_not_make_a_token_stale() {
    assert!(is_fresh(t(1000), t(1300), t(900)));
}

#[test]
fn extreme_times_do_not_overflow() {
    assert!(is_fresh(t(0), t(u64::MAX), t(0)));
    assert!(!is_fresh(t(u64::MAX), t(u64::MAX), t(u64::MAX)));
}

#[test]
fn default_endpoint_appends_token_once() {
    assert_eq!(
        default_endpoint("https://issuer.example"),
        "https://issuer.example/token"
    );
    assert_eq!(
        default_endpoint("https://issuer.example/"),
        "https://issuer.example/token"
    );
    assert_eq!(
        default_endpoint("https://issuer.example/tenant/a"),
        "https://issuer.example/tenant/a/token"
    );
}

#[test]
fn endpoints_must_be_https() {
    assert!(check_endpoint("https://issuer.example/token", false).is_ok());
    assert!(check_endpoint("https://127.0.0.1:8443/token", false).is_ok());
    for plain in ["http://issuer.example/token", "http://127.0.0.1/token"] {
        assert!(
            matches!(
                check_endpoint(plain, false),
                Err(ClientError::InsecureEndpoint { .. })
            ),
            "{plain}"
        );
    }
}

#[test]
fn plain_http_only_to_loopback_and_only_when_allowed() {
    for ok in [
        "http://127.0.0.1:8080/token",
        "http://127.8.9.10/token",
        "http://[::1]:9000/token",
        "http://localhost:1/token",
        "http://LOCALHOST/token",
    ] {
        assert!(check_endpoint(ok, true).is_ok(), "{ok}");
    }
    for refused in [
        "http://issuer.example/token",
        "http://10.0.0.1/token",
        "http://127.0.0.1.nip.io/token",
        "http://localhost.issuer.example/token",
        "http://[::2]/token",
    ] {
        assert!(
            matches!(
                check_endpoint(refused, true),
                Err(ClientError::InsecureEndpoint { .. })
            ),
            "{refused}"
        );
    }
}

#[test]
fn malformed_endpoints_are_refused() {
    for bad in [
        "",
        "issuer.example/token",
        "/token",
        "ftp://issuer.example/token",
        "https://user:pass@issuer.example/token",
        "https://issuer example/token",
    ] {
        assert!(
            matches!(
                check_endpoint(bad, true),
                Err(ClientError::InvalidEndpoint { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn loopback_detection() {
    assert!(is_loopback("127.0.0.1"));
    assert!(is_loopback("[::1]"));
    assert!(is_loopback("localhost"));
    assert!(!is_loopback("128.0.0.1"));
    assert!(!is_loopback("example.com"));
}

/// A syntactically valid compact JWS (header `{"alg":"EdDSA"}`, claims `{}`, a 64-byte
/// signature): the client only checks the shape.
const SHAPED_TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

#[test]
fn token_response_is_read() {
    let body = json!({"token": SHAPED_TOKEN, "token_type": "agent-attestation+jwt", "expires_at": 2000, "extra": 1});
    let cached = parse_token_response(body.to_string().as_bytes(), t(1700)).unwrap();
    assert_eq!(cached.token.as_str(), SHAPED_TOKEN);
    assert_eq!(cached.issued_at, t(1700));
    assert_eq!(cached.expires_at, t(2000));
    let compat = json!({"token": SHAPED_TOKEN, "token_type": "JWT", "expires_at": 2000});
    assert!(parse_token_response(compat.to_string().as_bytes(), t(1700)).is_ok());
}

#[test]
fn bad_token_responses_are_refused() {
    let cases = [
        ("not json", "{".to_owned()),
        ("no token", json!({"token_type": "agent-attestation+jwt", "expires_at": 2000}).to_string()),
        ("token not a string", json!({"token": 5, "token_type": "agent-attestation+jwt", "expires_at": 2000}).to_string()),
        ("unknown type", json!({"token": SHAPED_TOKEN, "token_type": "Bearer", "expires_at": 2000}).to_string()),
        ("no expiry", json!({"token": SHAPED_TOKEN, "token_type": "agent-attestation+jwt"}).to_string()),
        ("negative expiry", json!({"token": SHAPED_TOKEN, "token_type": "agent-attestation+jwt", "expires_at": -1}).to_string()),
        ("expired", json!({"token": SHAPED_TOKEN, "token_type": "agent-attestation+jwt", "expires_at": 1700}).to_string()),
        ("not a JWS", json!({"token": "abc", "token_type": "agent-attestation+jwt", "expires_at": 2000}).to_string()),
        ("empty token", json!({"token": "", "token_type": "agent-attestation+jwt", "expires_at": 2000}).to_string()),
    ];
    for (name, body) in cases {
        let err = parse_token_response(body.as_bytes(), t(1700)).unwrap_err();
        assert!(
            matches!(err, ClientError::InvalidResponse(_)),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn peer_text_is_clipped_on_a_char_boundary() {
    assert_eq!(clip("short"), "short");
    let long = "é".repeat(200); // 400 bytes
    let clipped = clip(&long);
    assert!(clipped.len() <= 256);
    assert!(clipped.chars().all(|c| c == 'é'));
}

#[test]
fn carriers_present_are_detected() {
    let both = json!({"extensions": {"io.github.attest-rs/agent-attestation": {}}, "experimental": {"security.attestation": {}}});
    let ext = json!({"extensions": {"io.github.attest-rs/agent-attestation": {}}, "experimental": {"other": {}}});
    let legacy = json!({"experimental": {"security.attestation": {}}});
    let none = json!({"roots": {}, "extensions": "not an object"});
    let object = |v: serde_json::Value| v.as_object().unwrap().clone();
    assert_eq!(carriers_present_in(&object(both)), Some(Carriers::Both));
    assert_eq!(
        carriers_present_in(&object(ext)),
        Some(Carriers::Extensions)
    );
    assert_eq!(
        carriers_present_in(&object(legacy)),
        Some(Carriers::Experimental)
    );
    assert_eq!(carriers_present_in(&object(none)), None);
}
