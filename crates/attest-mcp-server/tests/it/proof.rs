//! Key-bound attestation (SPEC.md §17), end to end: real rmcp clients wrapped in
//! attest-mcp-client's `AttestingTransport` (which signs a proof for every request) against
//! real rmcp servers, over an in-process duplex and streamable HTTP, on both protocol
//! generations; and every attack refused with its own reason (over the wire) and its own
//! precise error (through `Verifier::verify_proof`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use attest_core::proof::{ProofClaims, ProofHeader, RequestBinding, token_hash};
use attest_core::{Confirmation, SigningKey, UnixTime};
use attest_mcp_client::{AttestingTransport, Freshness, LocalSigner, TokenSource};
use attest_mcp_server::{
    AttestationGate, AttestationStatus, Enforcement, ProofPolicy, ProofStatus, Verifier,
    VerifierError,
};
use attest_protocol::EXTENSION_ID;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};

use crate::common::{self, AUDIENCE, ISSUER};

/// The agent's own key: the tokens' `cnf` names it.
pub fn agent_key() -> SigningKey {
    SigningKey::from_seed(&[0x77; 32], "agent").unwrap()
}

/// A thief's key: it has a stolen token, not the agent's key.
pub fn thief_key() -> SigningKey {
    SigningKey::from_seed(&[0x66; 32], "thief").unwrap()
}

pub fn seeded() -> ChaCha20Rng {
    static SEED: AtomicUsize = AtomicUsize::new(1_000);
    ChaCha20Rng::seed_from_u64(SEED.fetch_add(1, Ordering::Relaxed) as u64)
}

/// A fresh token whose `cnf` names the agent's key.
pub fn bound_token() -> String {
    let cnf = Confirmation {
        jwk: Some(agent_key().to_public_jwk()),
        ..Confirmation::default()
    };
    common::builder(ISSUER, AUDIENCE)
        .confirmation(cnf)
        .sign(&common::issuer_key(), common::now(), &mut seeded())
        .unwrap()
}

/// A gate (memory replay store) with a default proof policy.
fn gate(proof: ProofPolicy) -> AttestationGate {
    common::gate(Enforcement::Required, None).proof_policy(proof)
}

/// A handler that reports the tool it ran and what the gate told it about the proof.
#[derive(Clone, Default)]
pub struct Bound {
    pub calls: Arc<AtomicUsize>,
}

impl ServerHandler for Bound {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let schema = json!({"type": "object"}).as_object().unwrap().clone();
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new("whoami", "who is calling", schema.clone()),
            Tool::new("deploy", "deploys", schema),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let attestation = match context.extensions.get::<AttestationStatus>() {
            Some(AttestationStatus::Verified(_)) => "verified",
            _ => "unverified",
        };
        let proof = match context.extensions.get::<ProofStatus>() {
            Some(ProofStatus::Verified { .. }) => "proven",
            Some(ProofStatus::Absent) => "absent",
            Some(ProofStatus::NotChecked) => "unchecked",
            None => "no proof status",
        };
        let bound = context
            .extensions
            .get::<attest_mcp_server::VerifiedAgent>()
            .is_some_and(|agent| agent.proof_bound());
        let args = request
            .arguments
            .map(|a| Value::Object(a).to_string())
            .unwrap_or_default();
        let text = format!(
            "{} {attestation} {proof} bound={bound} {args}",
            request.name
        );
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

/// A token source minting key-bound tokens with the issuer's key.
fn signer(freshness: Freshness) -> Arc<dyn TokenSource> {
    // The template names no audience: the signer adds the server's per request.
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
            .with_freshness(freshness),
    )
}

pub type Client = RunningService<RoleClient, ()>;

/// Connects an attesting client (proofs signed with `proof_key`, if any) to a fresh session
/// of `gate`'s server over a duplex.
async fn connect_duplex(
    gate: &AttestationGate,
    handler: Bound,
    freshness: Freshness,
    proof_key: Option<SigningKey>,
) -> Result<Client, rmcp::service::ClientInitializeError> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = gate.wrap(handler);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let mut transport = attest_mcp_client::attesting(client_io, signer(freshness), AUDIENCE);
    if let Some(key) = proof_key {
        transport = transport.with_proof_key(key);
    }
    ().serve(transport).await
}

pub async fn call(client: &Client, tool: &'static str, args: Value) -> Result<String, String> {
    let params = CallToolRequestParams::new(tool).with_arguments(args.as_object().unwrap().clone());
    match client.call_tool(params).await {
        Ok(result) => Ok(common::text(&result)),
        Err(rmcp::ServiceError::McpError(error)) => Err(data_reason(error.data)),
        Err(other) => Err(other.to_string()),
    }
}

/// The `reason` of a JSON-RPC error's `data`.
pub fn data_reason(data: Option<Value>) -> String {
    data.and_then(|d| d["reason"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "<no reason>".to_owned())
}

fn init_reason(error: rmcp::service::ClientInitializeError) -> String {
    match error {
        rmcp::service::ClientInitializeError::JsonRpcError(e) => data_reason(e.data),
        other => panic!("expected a JSON-RPC refusal, got {other}"),
    }
}

#[tokio::test]
async fn an_initialize_session_with_proofs_on_every_request_over_duplex() {
    for freshness in [Freshness::PerSession, Freshness::PerRequest] {
        let handler = Bound::default();
        let client = connect_duplex(
            &gate(ProofPolicy::Required),
            handler.clone(),
            freshness,
            Some(agent_key()),
        )
        .await
        .unwrap();
        // Under PerSession the session's requests carry only `{version, proof}`: their proofs
        // bind the token of `initialize`.
        for city in ["Paris", "Oslo", "Lima"] {
            let text = call(&client, "whoami", json!({"city": city}))
                .await
                .unwrap();
            assert_eq!(
                text,
                format!("whoami verified proven bound=true {{\"city\":\"{city}\"}}"),
                "{freshness:?}"
            );
        }
        let tools = client.list_all_tools().await.unwrap();
        assert_eq!(tools.len(), 2);
        assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn an_initialize_session_with_proofs_over_http() {
    let handler = Bound::default();
    let addr = serve(gate(ProofPolicy::Required), handler.clone()).await;
    let transport = StreamableHttpClientTransport::from_uri(format!("http://{addr}/mcp"));
    let transport = AttestingTransport::new(transport, signer(Freshness::PerRequest), AUDIENCE)
        .with_proof_key(agent_key());
    let client = ().serve(transport).await.unwrap();
    for _ in 0..3 {
        let text = call(&client, "deploy", json!({"service": "api"}))
            .await
            .unwrap();
        assert_eq!(
            text,
            "deploy verified proven bound=true {\"service\":\"api\"}"
        );
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_client_without_the_agent_key_cannot_open_a_session() {
    // The tokens are key-bound, but this client signs no proof: `initialize` is refused.
    let handler = Bound::default();
    let error = connect_duplex(
        &gate(ProofPolicy::Required),
        handler.clone(),
        Freshness::PerSession,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(init_reason(error), "attestation_proof_required");
    // A thief with the tokens and its own key: its proofs do not verify under `cnf`.
    let error = connect_duplex(
        &gate(ProofPolicy::Required),
        handler.clone(),
        Freshness::PerSession,
        Some(thief_key()),
    )
    .await
    .unwrap_err();
    assert_eq!(init_reason(error), "attestation_proof_invalid");
    assert_eq!(handler.calls.load(Ordering::SeqCst), 0);
}

/// Connects a client presenting the fixed `token` (proofs signed with `proof_key`, if any) to a
/// fresh session of `gate`'s server over a duplex.
async fn connect_with_token(
    gate: &AttestationGate,
    token: &str,
    proof_key: Option<SigningKey>,
) -> Result<Client, rmcp::service::ClientInitializeError> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = gate.wrap(Bound::default());
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let source: Arc<dyn TokenSource> =
        Arc::new(attest_mcp_client::StaticToken::new(token.to_owned()).unwrap());
    let mut transport = attest_mcp_client::attesting(client_io, source, AUDIENCE);
    if let Some(key) = proof_key {
        transport = transport.with_proof_key(key);
    }
    ().serve(transport).await
}

#[tokio::test]
async fn a_thief_cannot_spend_a_stolen_token_at_initialize() {
    // SPEC.md §17.8: the token's jti is recorded only after the proof passed, so a thief who
    // presents the agent's token first, without the agent's key, does not burn it.
    let gate = gate(ProofPolicy::Required);
    let token = bound_token();
    let error = connect_with_token(&gate, &token, None).await.unwrap_err();
    assert_eq!(init_reason(error), "attestation_proof_required");
    let error = connect_with_token(&gate, &token, Some(thief_key()))
        .await
        .unwrap_err();
    assert_eq!(init_reason(error), "attestation_proof_invalid");

    let agent = connect_with_token(&gate, &token, Some(agent_key()))
        .await
        .unwrap();
    assert!(call(&agent, "whoami", json!({})).await.is_ok());
    agent.cancel().await.unwrap();

    // Once the agent bound a session with it, the token is spent: a replay, even with the key.
    let error = connect_with_token(&gate, &token, Some(agent_key()))
        .await
        .unwrap_err();
    assert_eq!(init_reason(error), "attestation_replay");
}

#[tokio::test]
async fn proofs_off_ignores_them_and_optional_checks_what_is_there() {
    // Off: a proof-less session works; so does one with proofs (ignored).
    for key in [None, Some(agent_key())] {
        let client = connect_duplex(
            &gate(ProofPolicy::Off),
            Bound::default(),
            Freshness::PerRequest,
            key,
        )
        .await
        .unwrap();
        let text = call(&client, "whoami", json!({})).await.unwrap();
        assert_eq!(text, "whoami verified unchecked bound=false {}");
        client.cancel().await.unwrap();
    }
    // Optional: absent is admitted, a valid proof is verified, a bad one is refused.
    let client = connect_duplex(
        &gate(ProofPolicy::Optional),
        Bound::default(),
        Freshness::PerRequest,
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        call(&client, "whoami", json!({})).await.unwrap(),
        "whoami verified absent bound=false {}"
    );
    client.cancel().await.unwrap();
    let client = connect_duplex(
        &gate(ProofPolicy::Optional),
        Bound::default(),
        Freshness::PerRequest,
        Some(agent_key()),
    )
    .await
    .unwrap();
    assert_eq!(
        call(&client, "whoami", json!({})).await.unwrap(),
        "whoami verified proven bound=true {}"
    );
    client.cancel().await.unwrap();
    let error = connect_duplex(
        &gate(ProofPolicy::Optional),
        Bound::default(),
        Freshness::PerRequest,
        Some(thief_key()),
    )
    .await
    .unwrap_err();
    assert_eq!(init_reason(error), "attestation_proof_invalid");
}

// ---------------------------------------------------------------------------------------------
// Protocol 2026-07-28: stateless POSTs, built by hand so that each attack can be crafted.
// ---------------------------------------------------------------------------------------------

/// Serves `gate` over HTTP on a free loopback port.
pub async fn serve(gate: AttestationGate, handler: Bound) -> SocketAddr {
    let app = attest_mcp_server::http::router(move || handler.clone(), gate);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// One stateless request: a method, its params (without `_meta`), and the attestation object
/// to put in `_meta[EXTENSION_ID]` (none when `None`).
pub struct Stateless {
    pub method: &'static str,
    pub params: Value,
    pub attestation: Option<Value>,
}

impl Stateless {
    pub fn tool(name: &str, args: Value) -> Stateless {
        Stateless {
            method: "tools/call",
            params: json!({"name": name, "arguments": args}),
            attestation: None,
        }
    }

    fn body(&self) -> Value {
        let mut meta = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "raw-client", "version": "1.0.0"},
        });
        if let Some(attestation) = &self.attestation {
            meta[EXTENSION_ID] = attestation.clone();
        }
        let mut params = self.params.clone();
        params["_meta"] = meta;
        json!({"jsonrpc": "2.0", "id": 1, "method": self.method, "params": params})
    }
}

pub async fn post(addr: SocketAddr, request: &Stateless) -> Value {
    let mut http = reqwest::Client::new()
        .post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", request.method);
    if let Some(name) = request.params["name"].as_str() {
        http = http.header("mcp-name", name);
    }
    let text = http
        .body(request.body().to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let json = text
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .unwrap_or(&text)
        .trim();
    serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {text}"))
}

pub fn outcome(message: &Value) -> Result<String, String> {
    match message["result"]["content"].as_array() {
        Some(content) => Ok(content.iter().filter_map(|c| c["text"].as_str()).collect()),
        None => Err(common::reason_of(&message["error"]).to_owned()),
    }
}

/// What a proof is made for: method, params, the token it binds, the server, its time.
struct ProofFor<'a> {
    method: &'a str,
    params: &'a Value,
    token: &'a str,
    audience: &'a str,
    iat: UnixTime,
    key: &'a SigningKey,
}

impl ProofFor<'_> {
    fn sign(&self) -> String {
        let binding = RequestBinding::of_request(self.method, Some(self.params)).unwrap();
        ProofClaims::new(
            self.audience,
            &binding,
            &token_hash(self.token),
            self.iat,
            &mut seeded(),
        )
        .sign(self.key, ProofHeader::Plain)
        .unwrap()
    }
}

pub fn object(token: &str, proof: Option<&str>) -> Value {
    let mut object = json!({"version": "0.1.0", "token": token});
    if let Some(proof) = proof {
        object["proof"] = json!(proof);
    }
    object
}

/// A valid stateless call of `tool` with a fresh key-bound token and the agent's proof.
fn valid_call(tool: &str, args: Value) -> (Stateless, String, String) {
    let token = bound_token();
    let mut request = Stateless::tool(tool, args);
    let proof = ProofFor {
        method: request.method,
        params: &request.params,
        token: &token,
        audience: AUDIENCE,
        iat: common::now(),
        key: &agent_key(),
    }
    .sign();
    request.attestation = Some(object(&token, Some(&proof)));
    (request, token, proof)
}

/// One attack: the request as the attacker sends it, and what it must be refused with.
pub struct Attack {
    /// A stable id, for the attack suite.
    pub id: &'static str,
    /// The request.
    request: Stateless,
    /// The reason a peer is told.
    pub reason: &'static str,
    /// The precise error (`VerifierError::code`), for logs.
    pub error: &'static str,
    /// What the server sees, for the precise check through `Verifier::verify_proof`: the
    /// token, the proof, and the request it arrives with.
    precise: Option<(String, Option<String>, Stateless)>,
}

fn now_offset(secs: i64) -> UnixTime {
    UnixTime::from_secs(common::now().as_secs().saturating_add_signed(secs))
}

/// Every attack on key-bound attestation, each with its own reason and precise error.
fn attacks() -> Vec<Attack> {
    let agent = agent_key();
    let thief = thief_key();
    let mut out = Vec::new();
    let mut add = |id, token: String, proof: Option<String>, request: Stateless, reason, error| {
        let mut sent = Stateless {
            method: request.method,
            params: request.params.clone(),
            attestation: None,
        };
        sent.attestation = Some(object(&token, proof.as_deref()));
        out.push(Attack {
            id,
            request: sent,
            reason,
            error,
            precise: Some((token, proof, request)),
        });
    };
    let weather = || Stateless::tool("whoami", json!({"city": "Paris"}));
    let sign = |request: &Stateless, token: &str, audience: &str, iat, key: &SigningKey| {
        ProofFor {
            method: request.method,
            params: &request.params,
            token,
            audience,
            iat,
            key,
        }
        .sign()
    };

    // A stolen attestation, presented without the agent's key.
    let token = bound_token();
    add(
        "proof.stolen_token_no_proof",
        token,
        None,
        weather(),
        "attestation_proof_required",
        "proof_missing",
    );
    // A stolen attestation with a proof signed by the thief's own key.
    let token = bound_token();
    let proof = sign(&weather(), &token, AUDIENCE, common::now(), &thief);
    add(
        "proof.stolen_token_thief_key",
        token,
        Some(proof),
        weather(),
        "attestation_proof_invalid",
        "signature_mismatch",
    );
    // A proof for tool A presented with a call of tool B.
    let token = bound_token();
    let proof = sign(&weather(), &token, AUDIENCE, common::now(), &agent);
    add(
        "proof.tool_a_on_tool_b",
        token,
        Some(proof),
        Stateless::tool("deploy", json!({"city": "Paris"})),
        "attestation_proof_mismatch",
        "nam_mismatch",
    );
    // The arguments changed after signing.
    let token = bound_token();
    let proof = sign(&weather(), &token, AUDIENCE, common::now(), &agent);
    add(
        "proof.arguments_changed",
        token,
        Some(proof),
        Stateless::tool("whoami", json!({"city": "Pyongyang"})),
        "attestation_proof_mismatch",
        "ph_mismatch",
    );
    // A proof bound to another attestation of the same agent.
    let (token, other) = (bound_token(), bound_token());
    let proof = sign(&weather(), &other, AUDIENCE, common::now(), &agent);
    add(
        "proof.other_attestation",
        token,
        Some(proof),
        weather(),
        "attestation_proof_mismatch",
        "ath_mismatch",
    );
    // A proof for another server.
    let token = bound_token();
    let proof = sign(
        &weather(),
        &token,
        "https://other.example/mcp",
        common::now(),
        &agent,
    );
    add(
        "proof.other_server",
        token,
        Some(proof),
        weather(),
        "attestation_proof_mismatch",
        "aud_mismatch",
    );
    // A proof too old, and one from the future.
    let token = bound_token();
    let proof = sign(&weather(), &token, AUDIENCE, now_offset(-120), &agent);
    add(
        "proof.too_old",
        token,
        Some(proof),
        weather(),
        "attestation_proof_stale",
        "too_old",
    );
    let token = bound_token();
    let proof = sign(&weather(), &token, AUDIENCE, now_offset(120), &agent);
    add(
        "proof.from_the_future",
        token,
        Some(proof),
        weather(),
        "attestation_proof_stale",
        "issued_in_future",
    );
    // A proof signed by a key other than cnf, with the key in the header.
    let token = bound_token();
    let binding = RequestBinding::of_request("tools/call", Some(&weather().params)).unwrap();
    let proof = ProofClaims::new(
        AUDIENCE,
        &binding,
        &token_hash(&token),
        common::now(),
        &mut seeded(),
    )
    .sign(&thief, ProofHeader::WithJwk)
    .unwrap();
    add(
        "proof.foreign_key_in_header",
        token,
        Some(proof),
        weather(),
        "attestation_proof_invalid",
        "jwk_not_allowed",
    );
    // A bearer token (no cnf) under proof policy required: it can never be proven.
    let token = common::token();
    add(
        "proof.bearer_token_no_proof",
        token,
        None,
        weather(),
        "attestation_proof_required",
        "proof_missing",
    );
    let token = common::token();
    let proof = sign(&weather(), &token, AUDIENCE, common::now(), &agent);
    add(
        "proof.bearer_token_with_proof",
        token,
        Some(proof),
        weather(),
        "attestation_proof_invalid",
        "no_confirmation_key",
    );
    // An attestation token presented as its own proof.
    let token = bound_token();
    add(
        "proof.token_as_proof",
        token.clone(),
        Some(token),
        weather(),
        "attestation_proof_invalid",
        "header_parameter_not_allowed",
    );
    out
}

#[tokio::test]
async fn every_attack_is_refused_over_http_with_its_reason() {
    let handler = Bound::default();
    let addr = serve(gate(ProofPolicy::Required), handler.clone()).await;
    for attack in attacks() {
        let message = post(addr, &attack.request).await;
        assert_eq!(
            outcome(&message),
            Err(attack.reason.to_owned()),
            "{}",
            attack.id
        );
        let code =
            attest_protocol::error_code(attest_core::Reason::from_wire(attack.reason).unwrap());
        assert_eq!(message["error"]["code"], code, "{}", attack.id);
    }
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        0,
        "an attack reached the tool"
    );
}

#[tokio::test]
async fn every_attack_is_refused_by_the_verifier_with_its_precise_error() {
    let verifier = Verifier::builder(common::policy())
        .keys(common::trust())
        .build()
        .unwrap();
    for attack in attacks() {
        let (token, proof, request) = attack.precise.unwrap();
        let agent = verifier.verify_reusable(&token).await.unwrap();
        let error = match proof {
            None => VerifierError::Proof(attest_core::ProofError::Missing),
            Some(proof) => {
                let binding =
                    RequestBinding::of_request(request.method, Some(&request.params)).unwrap();
                verifier
                    .verify_proof(&agent, &proof, &binding, None)
                    .await
                    .err()
                    .unwrap_or_else(|| panic!("{}: accepted", attack.id))
            }
        };
        assert_eq!(error.code(), attack.error, "{}: {error}", attack.id);
        assert_eq!(error.reason().as_str(), attack.reason, "{}", attack.id);
    }
}

#[tokio::test]
async fn a_replayed_proof_is_refused_and_valid_stateless_traffic_passes() {
    let handler = Bound::default();
    let addr = serve(gate(ProofPolicy::Required), handler.clone()).await;
    let (request, _token, _proof) = valid_call("whoami", json!({"city": "Paris"}));
    assert_eq!(
        outcome(&post(addr, &request).await),
        Ok("whoami verified proven bound=true {\"city\":\"Paris\"}".to_owned())
    );
    // The same bytes again: the token is served from the verified-token cache, the proof's
    // jti is already recorded.
    assert_eq!(
        outcome(&post(addr, &request).await),
        Err("attestation_proof_replay".to_owned())
    );
    // The same token with a fresh proof is fine: the token is no longer a bearer credential,
    // the proof is what is single use.
    let token = request.attestation.as_ref().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for city in ["Oslo", "Lima"] {
        let mut next = Stateless::tool("whoami", json!({"city": city}));
        let proof = ProofFor {
            method: next.method,
            params: &next.params,
            token: &token,
            audience: AUDIENCE,
            iat: common::now(),
            key: &agent_key(),
        }
        .sign();
        next.attestation = Some(object(&token, Some(&proof)));
        assert!(
            outcome(&post(addr, &next).await)
                .unwrap()
                .contains("proven bound=true"),
            "{city}"
        );
    }
    assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_precise_error_of_a_replay_is_proof_replayed() {
    let verifier = Verifier::builder(common::policy())
        .keys(common::trust())
        .build()
        .unwrap();
    let (request, token, proof) = valid_call("whoami", json!({}));
    let agent = verifier.verify_reusable(&token).await.unwrap();
    let binding = RequestBinding::of_request(request.method, Some(&request.params)).unwrap();
    let proven = verifier
        .verify_proof(&agent, &proof, &binding, None)
        .await
        .unwrap();
    assert_eq!(
        proven.replay_issuer(),
        format!("proof:{}", agent_key().public_key().thumbprint())
    );
    let error = verifier
        .verify_proof(&agent, &proof, &binding, None)
        .await
        .unwrap_err();
    assert_eq!(error, VerifierError::ProofReplay);
    assert_eq!(error.code(), "proof_replayed");
    assert_eq!(error.reason().as_str(), "attestation_proof_replay");
}

#[tokio::test]
async fn per_tool_policy_requires_proofs_for_one_tool_only() {
    // Default off, `deploy` required.
    let gate = gate(ProofPolicy::Off).tool_proof_policy("deploy", ProofPolicy::Required);
    assert_eq!(
        gate.proof_policy_for("tools/call", Some("deploy")),
        ProofPolicy::Required
    );
    assert_eq!(
        gate.proof_policy_for("tools/call", Some("whoami")),
        ProofPolicy::Off
    );
    assert_eq!(gate.proof_policy_for("tools/list", None), ProofPolicy::Off);
    let handler = Bound::default();
    let addr = serve(gate, handler.clone()).await;
    let token = bound_token();
    let mut deploy = Stateless::tool("deploy", json!({}));
    deploy.attestation = Some(object(&token, None));
    assert_eq!(
        outcome(&post(addr, &deploy).await),
        Err("attestation_proof_required".to_owned())
    );
    let mut whoami = Stateless::tool("whoami", json!({}));
    whoami.attestation = Some(object(&token, None));
    assert_eq!(
        outcome(&post(addr, &whoami).await),
        Ok("whoami verified unchecked bound=false {}".to_owned())
    );
    let (deploy, ..) = valid_call("deploy", json!({}));
    assert_eq!(
        outcome(&post(addr, &deploy).await),
        Ok("deploy verified proven bound=true {}".to_owned())
    );
    assert_eq!(handler.calls.load(Ordering::SeqCst), 2);

    // The reverse: default required, `whoami` off.
    let gate = self::gate(ProofPolicy::Required).tool_proof_policy("whoami", ProofPolicy::Off);
    let addr = serve(gate, Bound::default()).await;
    let token = bound_token();
    let mut whoami = Stateless::tool("whoami", json!({}));
    whoami.attestation = Some(object(&token, None));
    assert!(outcome(&post(addr, &whoami).await).is_ok());
    let mut deploy = Stateless::tool("deploy", json!({}));
    deploy.attestation = Some(object(&token, None));
    assert_eq!(
        outcome(&post(addr, &deploy).await),
        Err("attestation_proof_required".to_owned())
    );
}

#[tokio::test]
async fn the_advertisement_names_the_proof_policy() {
    let addr = serve(gate(ProofPolicy::Required), Bound::default()).await;
    let request = Stateless {
        method: "server/discover",
        params: json!({}),
        attestation: None,
    };
    let message = post(addr, &request).await;
    let capabilities = &message["result"]["capabilities"];
    assert_eq!(
        capabilities["extensions"][EXTENSION_ID]["proof"], "required",
        "{message}"
    );
    assert_eq!(
        capabilities["experimental"]["security.attestation"]["proof"],
        "required"
    );
}
