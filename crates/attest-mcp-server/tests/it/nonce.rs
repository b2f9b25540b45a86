//! Server-issued proof nonces (SPEC.md §17.9), end to end: real rmcp clients wrapped in
//! attest-mcp-client's `AttestingTransport` (which learns the nonces and retries once) against
//! real servers whose gate requires them, over a duplex and streamable HTTP, on both protocol
//! generations; raw stateless requests with a missing, stale or foreign nonce, each refused
//! without consuming anything; and replicas sharing the secret.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attest_cache::{Clock as _, Freshness as Seen, ManualClock, MemoryReplayStore, ReplayStore};
use attest_core::proof::{ProofClaims, ProofHeader, RequestBinding, token_hash};
use attest_core::{SigningKey, UnixTime};
use attest_mcp_client::{AttestingTransport, Freshness, LocalSigner, TokenSource};
use attest_mcp_server::{AttestationGate, Enforcement, ProofNonces, ProofPolicy, Verifier};
use attest_protocol::{EXTENSION_ID, LEGACY_KEY};
use rmcp::model::ProtocolVersion;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientLifecycleMode, ClientServiceExt, ServiceExt};
use serde_json::{Value, json};

use crate::common::{self, AUDIENCE, ISSUER};
use crate::proof::{
    Bound, Client, Stateless, agent_key, bound_token, call, object, outcome, post, seeded, serve,
    thief_key,
};

const SECRET: [u8; 32] = [0x5e; 32];
const OTHER_SECRET: [u8; 32] = [0xa1; 32];

/// One clock for the server (verifier, replay store, nonces) and the client (token `iat`,
/// proof `iat`), so that a test can move time for both without sleeping.
#[derive(Debug, Clone)]
struct SharedClock(ManualClock);

impl SharedClock {
    fn now() -> SharedClock {
        SharedClock(ManualClock::new(common::now()))
    }

    fn secs(&self) -> UnixTime {
        UnixTime::from_secs(self.0.now_millis() / 1000)
    }
}

impl attest_mcp_client::Clock for SharedClock {
    fn now(&self) -> UnixTime {
        self.secs()
    }
}

/// The reasons of the requests a gate refused, in order.
#[derive(Clone, Default)]
struct Refusals(Arc<Mutex<Vec<String>>>);

impl Refusals {
    fn seen(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A gate requiring proofs with nonces under `secret`, on `clock` and `store` if given.
fn nonce_gate(
    secret: &[u8; 32],
    clock: Option<&SharedClock>,
    store: Option<Arc<dyn ReplayStore>>,
    refusals: &Refusals,
) -> AttestationGate {
    let mut verifier = Verifier::builder(common::policy()).keys(common::trust());
    if let Some(clock) = clock {
        verifier = verifier.clock(Arc::new(clock.0.clone()));
    }
    if let Some(store) = store {
        verifier = verifier.replay_store(store);
    }
    let seen = Arc::clone(&refusals.0);
    AttestationGate::new(verifier.build().unwrap(), Enforcement::Required)
        .proof_policy(ProofPolicy::Required)
        .proof_nonces(ProofNonces::from_secret(secret))
        .on_refusal(move |refusal| {
            seen.lock()
                .unwrap()
                .push(refusal.reason.as_str().to_owned())
        })
}

/// A key-bound token source on `clock`.
fn signer(freshness: Freshness, clock: &SharedClock) -> Arc<dyn TokenSource> {
    let template =
        attest_core::TokenBuilder::new(ISSUER, "spiffe://issuer.example/model/claude-sonnet-4")
            .identity(attest_core::AgentIdentity::new(
                "claude",
                "sonnet-4",
                "anthropic",
            ))
            .metadata(attest_core::AttestationMetadata::provider());
    Arc::new(
        LocalSigner::new(common::issuer_key(), template)
            .unwrap()
            .with_agent_key(&agent_key().public_key())
            .with_freshness(freshness)
            .with_clock(Arc::new(clock.clone())),
    )
}

/// Calls `whoami` and expects it proven.
async fn proven_call(client: &Client, city: &str) {
    let text = call(client, "whoami", json!({"city": city})).await.unwrap();
    assert_eq!(
        text,
        format!("whoami verified proven bound=true {{\"city\":\"{city}\"}}")
    );
}

/// Two windows (of the default 60 s) later, for server and client alike: the nonce the client
/// learned is stale.
fn two_windows_later(clock: &SharedClock) {
    clock.0.advance(Duration::from_secs(120));
}

#[tokio::test]
async fn an_initialize_session_learns_the_nonce_and_retries_a_stale_one_over_duplex() {
    for freshness in [Freshness::PerSession, Freshness::PerRequest] {
        let clock = SharedClock::now();
        let refusals = Refusals::default();
        let gate = nonce_gate(&SECRET, Some(&clock), None, &refusals);
        let handler = Bound::default();
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let server = gate.wrap(handler.clone());
        tokio::spawn(async move {
            if let Ok(running) = server.serve(server_io).await {
                let _ = running.waiting().await;
            }
        });
        let transport =
            attest_mcp_client::attesting(client_io, signer(freshness, &clock), AUDIENCE)
                .with_proof_key(agent_key())
                .with_proof_clock(Arc::new(clock.clone()));
        let client = ().serve(transport).await.unwrap();
        // `initialize` needs no nonce; its result advertises one, which the next proofs name.
        proven_call(&client, "Paris").await;
        proven_call(&client, "Oslo").await;
        assert_eq!(refusals.seen(), Vec::<String>::new(), "{freshness:?}");
        // The learned nonce goes stale: one refusal, retried transparently with the nonce it
        // names, which the following requests use.
        two_windows_later(&clock);
        proven_call(&client, "Lima").await;
        proven_call(&client, "Rome").await;
        assert_eq!(
            refusals.seen(),
            ["attestation_proof_mismatch"],
            "{freshness:?}"
        );
        assert_eq!(handler.calls.load(std::sync::atomic::Ordering::SeqCst), 4);
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn an_initialize_session_with_nonces_over_http() {
    let clock = SharedClock::now();
    let refusals = Refusals::default();
    let addr = serve(
        nonce_gate(&SECRET, Some(&clock), None, &refusals),
        Bound::default(),
    )
    .await;
    let transport = StreamableHttpClientTransport::from_uri(format!("http://{addr}/mcp"));
    let transport =
        AttestingTransport::new(transport, signer(Freshness::PerRequest, &clock), AUDIENCE)
            .with_proof_key(agent_key())
            .with_proof_clock(Arc::new(clock.clone()));
    let client = ().serve(transport).await.unwrap();
    proven_call(&client, "Paris").await;
    assert_eq!(refusals.seen(), Vec::<String>::new());
    two_windows_later(&clock);
    proven_call(&client, "Oslo").await;
    proven_call(&client, "Lima").await;
    assert_eq!(refusals.seen(), ["attestation_proof_mismatch"]);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn stateless_2026_requests_with_nonces_over_http() {
    let clock = SharedClock::now();
    let refusals = Refusals::default();
    let handler = Bound::default();
    let addr = serve(
        nonce_gate(&SECRET, Some(&clock), None, &refusals),
        handler.clone(),
    )
    .await;
    let transport = StreamableHttpClientTransport::from_uri(format!("http://{addr}/mcp"));
    let transport =
        AttestingTransport::new(transport, signer(Freshness::PerRequest, &clock), AUDIENCE)
            .with_proof_key(agent_key())
            .with_proof_clock(Arc::new(clock.clone()));
    let client = ()
        .serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .unwrap();
    // `server/discover` advertised a nonce: the first request names it and passes.
    proven_call(&client, "Paris").await;
    assert_eq!(refusals.seen(), Vec::<String>::new());
    // Stale: refused once, signed again with the nonce the refusal named, and served.
    two_windows_later(&clock);
    proven_call(&client, "Oslo").await;
    proven_call(&client, "Lima").await;
    assert_eq!(refusals.seen(), ["attestation_proof_mismatch"]);
    // The refused attempt never reached the tool.
    assert_eq!(handler.calls.load(std::sync::atomic::Ordering::SeqCst), 3);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_refusal_names_the_nonce_to_sign_again_with() {
    // A client that learned server A's nonce and sends to server B, with another secret (as
    // after B restarted with a new random secret).
    let clock = SharedClock::now();
    let (a_refusals, b_refusals) = (Refusals::default(), Refusals::default());
    let a = serve(
        nonce_gate(&OTHER_SECRET, Some(&clock), None, &a_refusals),
        Bound::default(),
    )
    .await;
    let b_handler = Bound::default();
    let b = serve(
        nonce_gate(&SECRET, Some(&clock), None, &b_refusals),
        b_handler.clone(),
    )
    .await;
    let nonce_of_a = discover(a).await["extensions"][EXTENSION_ID]["proof_nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    // A raw request to B with A's nonce: refused, and the refusal names B's nonce.
    let token = bound_token();
    let (request, _) = signed("whoami", json!({}), &token, Some(&nonce_of_a), &clock);
    let refused = post(b, &request).await;
    assert_eq!(
        outcome(&refused),
        Err("attestation_proof_mismatch".to_owned())
    );
    let nonce_of_b = refused["error"]["data"]["nonce"].as_str().unwrap();
    assert!(ProofNonces::from_secret(&SECRET).check(nonce_of_b, clock.secs()));
    assert!(!ProofNonces::from_secret(&OTHER_SECRET).check(nonce_of_b, clock.secs()));
    // Signed again with B's nonce (a new jti), with the same token: served.
    let (request, _) = signed("whoami", json!({}), &token, Some(nonce_of_b), &clock);
    assert_eq!(
        outcome(&post(b, &request).await),
        Ok("whoami verified proven bound=true {}".to_owned())
    );
    assert_eq!(b_refusals.seen(), ["attestation_proof_mismatch"]);
    assert_eq!(b_handler.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// Raw stateless requests: each bad nonce refused, and nothing consumed.
// ---------------------------------------------------------------------------------------------

/// The capabilities a `server/discover` returns.
async fn discover(addr: SocketAddr) -> Value {
    let request = Stateless {
        method: "server/discover",
        params: json!({}),
        attestation: None,
    };
    post(addr, &request).await["result"]["capabilities"].clone()
}

/// A stateless call of `tool` under `token`, with the agent's proof naming `nonce`; and the
/// proof's claims.
fn signed(
    tool: &str,
    args: Value,
    token: &str,
    nonce: Option<&str>,
    clock: &SharedClock,
) -> (Stateless, ProofClaims) {
    signed_by(&agent_key(), tool, args, token, nonce, clock)
}

fn signed_by(
    key: &SigningKey,
    tool: &str,
    args: Value,
    token: &str,
    nonce: Option<&str>,
    clock: &SharedClock,
) -> (Stateless, ProofClaims) {
    let mut request = Stateless::tool(tool, args);
    let binding = RequestBinding::of_request(request.method, Some(&request.params)).unwrap();
    let mut claims = ProofClaims::new(
        AUDIENCE,
        &binding,
        &token_hash(token),
        clock.secs(),
        &mut seeded(),
    );
    if let Some(nonce) = nonce {
        claims = claims.with_nonce(nonce);
    }
    let proof = claims.sign(key, ProofHeader::Plain).unwrap();
    request.attestation = Some(object(token, Some(&proof)));
    (request, claims)
}

/// The `jti` of an attestation token.
fn token_jti(token: &str) -> String {
    let (_, claims) = attest_core::dangerous::decode_json(token).unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_missing_stale_or_foreign_nonce_is_refused_and_consumes_nothing() {
    let clock = SharedClock::now();
    let store: Arc<dyn ReplayStore> = Arc::new(
        MemoryReplayStore::builder()
            .clock(Arc::new(clock.0.clone()))
            .build()
            .unwrap(),
    );
    let refusals = Refusals::default();
    let handler = Bound::default();
    let addr = serve(
        nonce_gate(&SECRET, Some(&clock), Some(Arc::clone(&store)), &refusals),
        handler.clone(),
    )
    .await;
    let nonces = ProofNonces::from_secret(&SECRET);
    let stale = nonces.issue(UnixTime::from_secs(clock.secs().as_secs() - 120));
    let foreign = ProofNonces::from_secret(&OTHER_SECRET).issue(clock.secs());
    let current = nonces.issue(clock.secs());
    let mut flipped = current.clone().into_bytes();
    flipped[20] = if flipped[20] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let replay_issuer = format!("proof:{}", agent_key().public_key().thumbprint());
    let cases: [(&str, Option<&str>); 6] = [
        ("no nonce", None),
        ("stale: two windows old", Some(&stale)),
        ("another server's secret", Some(&foreign)),
        ("a flipped character", Some(&flipped)),
        ("garbage", Some("not-a-nonce")),
        ("empty", Some("")),
    ];
    for (case, nonce) in cases {
        let token = bound_token();
        let (request, claims) = signed("whoami", json!({"case": case}), &token, nonce, &clock);
        let refused = post(addr, &request).await;
        assert_eq!(
            outcome(&refused),
            Err("attestation_proof_mismatch".to_owned()),
            "{case}"
        );
        // The refusal names a fresh nonce of this server.
        let named = refused["error"]["data"]["nonce"].as_str().unwrap();
        assert!(nonces.check(named, clock.secs()), "{case}");
        // Nothing was recorded: neither the proof's jti nor the token's (a probe of the store
        // records them now, so each case uses its own token).
        let until = UnixTime::from_secs(claims.iat + 61);
        assert_eq!(
            store
                .check_and_record(&replay_issuer, &claims.jti, until)
                .await
                .unwrap(),
            Seen::Fresh,
            "{case}: the proof's jti was consumed"
        );
        let token_until = UnixTime::from_secs(clock.secs().as_secs() + 400);
        assert_eq!(
            store
                .check_and_record(ISSUER, &token_jti(&token), token_until)
                .await
                .unwrap(),
            Seen::Fresh,
            "{case}: the token's jti was consumed"
        );
    }
    assert_eq!(handler.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(refusals.seen().len(), cases.len());

    // A refused proof, corrected: the same token, a new proof naming the refusal's nonce.
    let token = bound_token();
    let (request, _) = signed("whoami", json!({}), &token, None, &clock);
    let refused = post(addr, &request).await;
    let named = refused["error"]["data"]["nonce"].as_str().unwrap();
    let (request, _) = signed("whoami", json!({}), &token, Some(named), &clock);
    assert_eq!(
        outcome(&post(addr, &request).await),
        Ok("whoami verified proven bound=true {}".to_owned())
    );
    // That proof, replayed: its jti is now recorded.
    assert_eq!(
        outcome(&post(addr, &request).await),
        Err("attestation_proof_replay".to_owned())
    );
    // The previous window's nonce is still good.
    let previous = nonces.issue(UnixTime::from_secs(clock.secs().as_secs() - 60));
    let (request, _) = signed("whoami", json!({}), &bound_token(), Some(&previous), &clock);
    assert!(outcome(&post(addr, &request).await).is_ok());
    assert_eq!(handler.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_good_nonce_does_not_excuse_a_bad_proof() {
    let clock = SharedClock::now();
    let refusals = Refusals::default();
    let addr = serve(
        nonce_gate(&SECRET, Some(&clock), None, &refusals),
        Bound::default(),
    )
    .await;
    let nonce = ProofNonces::from_secret(&SECRET).issue(clock.secs());
    // Signed by a thief's key: refused for its signature, with a nonce for the retry.
    let token = bound_token();
    let (request, _) = signed_by(
        &thief_key(),
        "whoami",
        json!({}),
        &token,
        Some(&nonce),
        &clock,
    );
    let refused = post(addr, &request).await;
    assert_eq!(
        outcome(&refused),
        Err("attestation_proof_invalid".to_owned())
    );
    assert!(refused["error"]["data"]["nonce"].is_string());
    // Arguments changed after signing.
    let (mut request, _) = signed(
        "whoami",
        json!({"city": "Paris"}),
        &token,
        Some(&nonce),
        &clock,
    );
    request.params["arguments"]["city"] = json!("Pyongyang");
    assert_eq!(
        outcome(&post(addr, &request).await),
        Err("attestation_proof_mismatch".to_owned())
    );
    // No proof at all, under `required`.
    let mut request = Stateless::tool("whoami", json!({}));
    request.attestation = Some(object(&token, None));
    let refused = post(addr, &request).await;
    assert_eq!(
        outcome(&refused),
        Err("attestation_proof_required".to_owned())
    );
    assert!(refused["error"]["data"]["nonce"].is_string());
}

#[tokio::test]
async fn a_tool_whose_proof_policy_is_off_needs_no_nonce() {
    let clock = SharedClock::now();
    let refusals = Refusals::default();
    let gate = nonce_gate(&SECRET, Some(&clock), None, &refusals)
        .tool_proof_policy("whoami", ProofPolicy::Off);
    let addr = serve(gate, Bound::default()).await;
    let token = bound_token();
    let (request, _) = signed("whoami", json!({}), &token, Some("stale-or-not"), &clock);
    assert_eq!(
        outcome(&post(addr, &request).await),
        Ok("whoami verified unchecked bound=false {}".to_owned())
    );
    let (request, _) = signed("deploy", json!({}), &token, None, &clock);
    assert_eq!(
        outcome(&post(addr, &request).await),
        Err("attestation_proof_mismatch".to_owned())
    );
}

#[tokio::test]
async fn replicas_sharing_the_secret_accept_each_others_nonces() {
    let clock = SharedClock::now();
    let (refusals, other_refusals) = (Refusals::default(), Refusals::default());
    // Two replicas with their own replay stores and the same secret, and a stranger.
    let first = serve(
        nonce_gate(&SECRET, Some(&clock), None, &refusals),
        Bound::default(),
    )
    .await;
    let second = serve(
        nonce_gate(&SECRET, Some(&clock), None, &refusals),
        Bound::default(),
    )
    .await;
    let stranger = serve(
        nonce_gate(&OTHER_SECRET, Some(&clock), None, &other_refusals),
        Bound::default(),
    )
    .await;
    let capabilities = discover(first).await;
    let nonce = capabilities["extensions"][EXTENSION_ID]["proof_nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    // Both carriers advertise it.
    assert_eq!(
        capabilities["experimental"][LEGACY_KEY]["proof_nonce"],
        json!(nonce)
    );
    for (replica, name) in [(first, "first"), (second, "second")] {
        let (request, _) = signed("whoami", json!({}), &bound_token(), Some(&nonce), &clock);
        assert_eq!(
            outcome(&post(replica, &request).await),
            Ok("whoami verified proven bound=true {}".to_owned()),
            "{name}"
        );
    }
    let (request, _) = signed("whoami", json!({}), &bound_token(), Some(&nonce), &clock);
    assert_eq!(
        outcome(&post(stranger, &request).await),
        Err("attestation_proof_mismatch".to_owned())
    );
    assert_eq!(refusals.seen(), Vec::<String>::new());
    assert_eq!(other_refusals.seen(), ["attestation_proof_mismatch"]);
}

#[tokio::test]
async fn without_nonces_nothing_is_advertised_or_named() {
    let addr = serve(
        common::gate(Enforcement::Required, None).proof_policy(ProofPolicy::Required),
        Bound::default(),
    )
    .await;
    let capabilities = discover(addr).await;
    assert_eq!(
        capabilities["extensions"][EXTENSION_ID]["proof"],
        "required"
    );
    assert!(
        capabilities["extensions"][EXTENSION_ID]
            .get("proof_nonce")
            .is_none()
    );
    let mut request = Stateless::tool("whoami", json!({}));
    request.attestation = Some(object(&bound_token(), None));
    let refused = post(addr, &request).await;
    assert_eq!(
        outcome(&refused),
        Err("attestation_proof_required".to_owned())
    );
    assert!(refused["error"]["data"].get("nonce").is_none());
}
