//! `RemoteIssuer` against a real token endpoint on 127.0.0.1.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use attest_core::SigningKey;
use attest_core::proof::ConfirmationKey;
use attest_mcp_client::{ClientError, Freshness, RemoteIssuer, TokenSource};
use serde_json::{Value, json};

use crate::common::{AUDIENCE, system_now, verify_at};
use crate::issuer::{Behavior, TestIssuer};

fn client(issuer: &TestIssuer) -> attest_mcp_client::RemoteIssuerBuilder {
    RemoteIssuer::builder("https://issuer.example")
        .endpoint(issuer.endpoint())
        .dangerous_allow_http_loopback()
}

#[tokio::test]
async fn gets_a_token_with_secret_and_lifetime() {
    let issuer = TestIssuer::start(Behavior::Issue {
        secret: Some("s3cret"),
    })
    .await;
    let remote = client(&issuer)
        .client_secret("s3cret")
        .lifetime_secs(120)
        .build()
        .unwrap();
    let token = remote.token(AUDIENCE).await.unwrap();

    let verified = verify_at(token.as_str(), AUDIENCE, system_now());
    assert_eq!(verified.claims().aud.as_slice(), [AUDIENCE.to_owned()]);
    assert_eq!(verified.claims().exp - verified.claims().iat, 120);

    let requests = issuer.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.request_line(), "POST /token HTTP/1.1");
    assert_eq!(
        request.header("authorization").as_deref(),
        Some("Bearer s3cret")
    );
    assert_eq!(
        request.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        request.body,
        json!({"audience": [AUDIENCE], "lifetime_secs": 120})
    );
    // The client sends no identity claims: the issuer decides them.
    assert_eq!(request.body.as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn default_endpoint_and_no_secret() {
    let issuer = TestIssuer::start(Behavior::Issue { secret: None }).await;
    let remote = RemoteIssuer::builder(format!("{}/", issuer.base))
        .dangerous_allow_http_loopback()
        .build()
        .unwrap();
    assert_eq!(remote.endpoint().path(), "/token");
    remote.token(AUDIENCE).await.unwrap();
    let request = &issuer.requests()[0];
    assert_eq!(request.request_line(), "POST /token HTTP/1.1");
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.body, json!({"audience": [AUDIENCE]}));
}

#[tokio::test]
async fn a_401_with_an_error_body_is_a_typed_refusal() {
    let issuer = TestIssuer::start(Behavior::Issue {
        secret: Some("s3cret"),
    })
    .await;
    let remote = client(&issuer).client_secret("wrong").build().unwrap();
    match remote.token(AUDIENCE).await {
        Err(ClientError::IssuerRefused {
            status,
            error,
            description,
        }) => {
            assert_eq!(status, 401);
            assert_eq!(error.as_deref(), Some("invalid_client"));
            assert_eq!(description.as_deref(), Some("unknown client or bad secret"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_error_status_without_the_json_body_is_still_a_refusal() {
    let issuer = TestIssuer::start(Behavior::PlainServerError).await;
    let remote = client(&issuer).build().unwrap();
    assert!(matches!(
        remote.token(AUDIENCE).await,
        Err(ClientError::IssuerRefused {
            status: 500,
            error: None,
            description: None
        })
    ));
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    for behavior in [
        Behavior::Oversized(8 * 1024),
        Behavior::OversizedUnannounced(8 * 1024),
    ] {
        let issuer = TestIssuer::start(behavior.clone()).await;
        let remote = client(&issuer).max_body_bytes(4096).build().unwrap();
        assert!(
            matches!(
                remote.token(AUDIENCE).await,
                Err(ClientError::BodyTooLarge { limit: 4096 })
            ),
            "{behavior:?}"
        );
    }
    // The default cap is 64 KiB.
    let issuer = TestIssuer::start(Behavior::Oversized(100 * 1024)).await;
    let remote = client(&issuer).build().unwrap();
    assert!(matches!(
        remote.token(AUDIENCE).await,
        Err(ClientError::BodyTooLarge { limit }) if limit == RemoteIssuer::DEFAULT_MAX_BODY_BYTES
    ));
}

#[tokio::test]
async fn a_slow_issuer_times_out() {
    let issuer = TestIssuer::start(Behavior::Slow(Duration::from_secs(3))).await;
    let remote = client(&issuer)
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = Instant::now();
    assert!(matches!(
        remote.token(AUDIENCE).await,
        Err(ClientError::Timeout(t)) if t == Duration::from_millis(200)
    ));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_200_that_is_not_a_token_response_is_refused() {
    let issuer = TestIssuer::start(Behavior::Garbage).await;
    let remote = client(&issuer).build().unwrap();
    assert!(matches!(
        remote.token(AUDIENCE).await,
        Err(ClientError::InvalidResponse(_))
    ));
}

#[tokio::test]
async fn plain_http_is_refused_without_the_dev_flag() {
    let issuer = TestIssuer::start(Behavior::Issue { secret: None }).await;
    let refused = RemoteIssuer::builder("https://issuer.example")
        .endpoint(issuer.endpoint())
        .build();
    assert!(matches!(refused, Err(ClientError::InsecureEndpoint { .. })));
    // The flag does not open plain http to anything but loopback.
    let refused = RemoteIssuer::builder("http://issuer.example")
        .dangerous_allow_http_loopback()
        .build();
    assert!(matches!(refused, Err(ClientError::InsecureEndpoint { .. })));
    assert!(issuer.requests().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_refused_connection_is_an_http_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let remote = RemoteIssuer::builder("https://issuer.example")
        .endpoint(format!("http://{address}/token"))
        .dangerous_allow_http_loopback()
        .build()
        .unwrap();
    assert!(matches!(
        remote.token(AUDIENCE).await,
        Err(ClientError::Http(_))
    ));
}

#[tokio::test]
async fn per_session_reuses_and_shares_one_refresh() {
    let issuer = TestIssuer::start(Behavior::Issue { secret: None }).await;
    let remote = Arc::new(client(&issuer).build().unwrap());
    let mut handles = Vec::new();
    for _ in 0..8 {
        let remote = Arc::clone(&remote);
        handles.push(tokio::spawn(async move {
            remote.token(AUDIENCE).await.unwrap()
        }));
    }
    let mut tokens = HashSet::new();
    for handle in handles {
        tokens.insert(handle.await.unwrap().as_str().to_owned());
    }
    assert_eq!(tokens.len(), 1, "concurrent callers share one token");
    assert_eq!(issuer.requests().len(), 1, "and one request");
    remote.token(AUDIENCE).await.unwrap();
    assert_eq!(issuer.requests().len(), 1);
    // Another audience is another request.
    remote.token("https://other.example").await.unwrap();
    assert_eq!(issuer.requests().len(), 2);
}

#[tokio::test]
async fn per_session_refreshes_in_the_refresh_window() {
    let issuer = TestIssuer::start(Behavior::Issue { secret: None }).await;
    let clock = crate::common::ManualClock::at(system_now().as_secs());
    let start = system_now().as_secs();
    let remote = client(&issuer).clock(clock.clone()).build().unwrap();
    let first = remote.token(AUDIENCE).await.unwrap();
    // The issuer's tokens live 300 s: fresh until 60 s remain.
    clock.set(start + 200);
    assert_eq!(remote.token(AUDIENCE).await.unwrap(), first);
    clock.set(start + 260);
    let _second = remote.token(AUDIENCE).await.unwrap();
    assert_eq!(issuer.requests().len(), 2);
}

#[tokio::test]
async fn per_request_asks_every_time() {
    let issuer = TestIssuer::start(Behavior::Issue { secret: None }).await;
    let remote = client(&issuer)
        .freshness(Freshness::PerRequest)
        .build()
        .unwrap();
    assert_eq!(remote.freshness(), Freshness::PerRequest);
    let now = system_now();
    let mut jtis = HashSet::new();
    for _ in 0..3 {
        let token = remote.token(AUDIENCE).await.unwrap();
        assert!(jtis.insert(verify_at(token.as_str(), AUDIENCE, now).jti().to_owned()));
    }
    assert_eq!(issuer.requests().len(), 3);
}

/// The agent's own key: what a key-bound client asks its issuer to bind.
fn agent() -> SigningKey {
    SigningKey::from_seed(&[0x77; 32], "agent").unwrap()
}

#[tokio::test]
async fn an_agent_key_is_sent_as_cnf_jwk_and_bound_into_the_token() {
    let issuer = TestIssuer::start(Behavior::Issue { secret: None }).await;
    let agent = agent().public_key();
    let remote = client(&issuer).agent_key(&agent).build().unwrap();
    let token = remote.token(AUDIENCE).await.unwrap();

    // The request carries the public key, under its thumbprint, and nothing private.
    let request = &issuer.requests()[0];
    let thumbprint = agent.thumbprint();
    assert_eq!(
        request.body,
        json!({"audience": [AUDIENCE], "cnf_jwk": serde_json::to_value(agent.to_jwk(&thumbprint)).unwrap()})
    );
    assert_eq!(request.body["cnf_jwk"].get("d"), None);

    // The token the issuer minted names that key: proofs signed with it will verify.
    let verified = verify_at(token.as_str(), AUDIENCE, system_now());
    let cnf = ConfirmationKey::from_claims(verified.claims()).unwrap();
    assert_eq!(cnf.thumbprint(), thumbprint);
    assert_eq!(cnf.key(), Some(&agent));
}

#[tokio::test]
async fn a_token_that_does_not_name_the_agent_key_is_refused() {
    let agent = agent().public_key();
    let other = SigningKey::from_seed(&[0x66; 32], "other")
        .unwrap()
        .public_key();
    let jwk_of = |key: &attest_core::PublicKey| serde_json::to_value(key.to_jwk("k")).unwrap();
    let refused: [(&str, Option<Value>); 4] = [
        ("no cnf: the issuer ignored cnf_jwk", None),
        ("another key", Some(json!({"jwk": jwk_of(&other)}))),
        (
            "another key's thumbprint",
            Some(json!({"jkt": other.thumbprint()})),
        ),
        (
            "the key, with another key's thumbprint",
            Some(json!({"jwk": jwk_of(&agent), "jkt": other.thumbprint()})),
        ),
    ];
    for (case, cnf) in refused {
        let issuer = TestIssuer::start(Behavior::IssueWithCnf(cnf)).await;
        let remote = client(&issuer).agent_key(&agent).build().unwrap();
        match remote.token(AUDIENCE).await {
            Err(ClientError::InvalidResponse(detail)) => {
                assert!(
                    detail.contains("did not bind the agent's key"),
                    "{case}: {detail}"
                );
            }
            other => panic!("{case}: expected a refusal, got {other:?}"),
        }
        assert_eq!(issuer.requests().len(), 1, "{case}");
    }
    // The key named by its thumbprint only, or by both members, is the agent's key.
    for cnf in [
        json!({"jkt": agent.thumbprint()}),
        json!({"jwk": jwk_of(&agent), "jkt": agent.thumbprint()}),
    ] {
        let issuer = TestIssuer::start(Behavior::IssueWithCnf(Some(cnf.clone()))).await;
        let remote = client(&issuer).agent_key(&agent).build().unwrap();
        assert!(remote.token(AUDIENCE).await.is_ok(), "{cnf}");
    }
    // Without an agent key, a bound token is a token like any other.
    let issuer =
        TestIssuer::start(Behavior::IssueWithCnf(Some(json!({"jwk": jwk_of(&other)})))).await;
    let remote = client(&issuer).build().unwrap();
    assert!(remote.token(AUDIENCE).await.is_ok());
    assert_eq!(issuer.requests()[0].body, json!({"audience": [AUDIENCE]}));
}

#[test]
fn debug_output_hides_the_secret() {
    let remote = RemoteIssuer::builder("https://issuer.example")
        .endpoint("http://127.0.0.1:1/token")
        .client_secret("hunter2")
        .dangerous_allow_http_loopback()
        .build()
        .unwrap();
    let debug = format!("{remote:?}");
    assert!(!debug.contains("hunter2"));
    assert!(debug.contains("authenticated: true"));
}
