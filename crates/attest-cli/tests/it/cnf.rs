//! Key-bound attestation from the command line (SPEC.md §17): `attest generate --cnf-key` binds
//! the agent's public key from every key format `attest keygen` and OpenSSL write, and refuses
//! what is not an Ed25519 key; `attest issuer serve` binds a `cnf_jwk` and refuses private,
//! foreign and malformed keys; and tokens bound either way, with proofs signed by the agent's
//! key, are served by `attest serve --proof required`, end to end through real rmcp clients.

use std::path::Path;
use std::sync::Arc;

use attest_core::{Reason, SigningKey};
use attest_mcp_client::{
    AttestationRejection, AttestingTransport, Freshness, RemoteIssuer, StaticToken, TokenSource,
};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};

use crate::common::{
    AUDIENCE, ISSUER, Server, TempDir, attest, generate, issuer_files, serve_args,
    serve_trusting_issuer,
};

/// The agent's own key.
fn agent() -> SigningKey {
    SigningKey::from_seed(&[0x77; 32], "agent-1").unwrap()
}

/// A thief's key: it holds a stolen token, not the agent's key.
fn thief() -> SigningKey {
    SigningKey::from_seed(&[0x66; 32], "thief").unwrap()
}

/// The decoded claims of `token` (not verified: tests verify separately).
fn claims_of(token: &str) -> Value {
    attest_core::dangerous::decode_json(token).unwrap().1
}

/// `attest verify --output json` of `token` against the fixtures' issuer; asserts it is valid.
fn assert_valid(token: &str, jwks: &Path) {
    let output = attest()
        .arg("verify")
        .arg(token)
        .args(["--issuer", ISSUER, "--audience", AUDIENCE, "--jwks"])
        .arg(jwks)
        .args(["--output", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let verdict: Value = serde_json::from_slice(&output).unwrap();
    assert_eq!(verdict["valid"], true, "{verdict}");
}

#[test]
fn generate_cnf_key_binds_the_public_key_of_every_key_format() {
    let dir = TempDir::new();
    let (issuer, jwks) = issuer_files(&dir);
    let agent = agent();
    let x = agent.to_public_jwk().x.unwrap();
    // As `attest keygen` writes it (private, with a kid), and the other accepted forms.
    let keygen = dir.path("agent.jwk");
    attest()
        .args(["keygen", "--kid", "agent-7", "--out"])
        .arg(&keygen)
        .assert()
        .success();
    let keygen_x = serde_json::from_str::<Value>(&std::fs::read_to_string(&keygen).unwrap())
        .unwrap()["x"]
        .clone();
    let cases = [
        (keygen, keygen_x, Some("agent-7")),
        (
            dir.write("public.jwk", agent.to_public_jwk().to_json()),
            json!(x),
            Some("agent-1"),
        ),
        (
            dir.write(
                "bare.jwk",
                json!({"kty": "OKP", "crv": "Ed25519", "x": x}).to_string(),
            ),
            json!(x),
            None,
        ),
        (
            dir.write(
                "public.pem",
                agent.public_key().to_public_key_pem().unwrap(),
            ),
            json!(x),
            None,
        ),
        (
            dir.write("private.pem", agent.to_pkcs8_pem().unwrap().as_bytes()),
            json!(x),
            None,
        ),
    ];
    for (file, x, kid) in cases {
        let token = generate(&issuer, &["--cnf-key", file.to_str().unwrap()]);
        assert_valid(&token, &jwks);
        let cnf = &claims_of(&token)["cnf"];
        let mut expected = json!({"kty": "OKP", "crv": "Ed25519", "x": x});
        if let Some(kid) = kid {
            expected["kid"] = json!(kid);
        }
        // Exactly the public key: no `d`, no other member of the file.
        assert_eq!(cnf, &json!({ "jwk": expected }), "{}", file.display());
    }
    // Without --cnf-key, no cnf.
    let token = generate(&issuer, &[]);
    assert_eq!(claims_of(&token).get("cnf"), None);
}

#[test]
fn generate_cnf_jkt_binds_only_the_thumbprint() {
    let dir = TempDir::new();
    let (issuer, jwks) = issuer_files(&dir);
    let file = dir.write("agent.jwk", agent().to_private_jwk().to_json());
    let token = generate(&issuer, &["--cnf-key", file.to_str().unwrap(), "--cnf-jkt"]);
    assert_valid(&token, &jwks);
    assert_eq!(
        claims_of(&token)["cnf"],
        json!({"jkt": agent().public_key().thumbprint()})
    );
    // --cnf-jkt says how to bind a key: without one it is a usage error.
    attest()
        .arg("generate")
        .arg("--key")
        .arg(&issuer)
        .args(["--issuer", ISSUER, "--audience", AUDIENCE, "--cnf-jkt"])
        .assert()
        .code(2)
        .stdout("");
}

#[test]
fn generate_cnf_key_refuses_what_is_not_an_ed25519_key() {
    let dir = TempDir::new();
    let (issuer, _) = issuer_files(&dir);
    let agent = agent();
    let x = agent.to_public_jwk().x.unwrap();
    let mut mismatched = agent.to_private_jwk();
    mismatched.x = thief().to_public_jwk().x;
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), "neither a JWK nor a PEM"),
        (
            "garbage",
            "not a key at all".to_owned(),
            "neither a JWK nor a PEM",
        ),
        ("array", "[1, 2]".to_owned(), "not a JWK object"),
        (
            "rsa",
            json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}).to_string(),
            "kty \"RSA\" is not OKP",
        ),
        (
            "x25519",
            json!({"kty": "OKP", "crv": "X25519", "x": x}).to_string(),
            "crv \"X25519\" is not Ed25519",
        ),
        (
            "set",
            json!({"keys": [agent.to_public_jwk()]}).to_string(),
            "is a JWK Set",
        ),
        (
            "small-order",
            json!({"kty": "OKP", "crv": "Ed25519",
                   "x": "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
            .to_string(),
            "small order",
        ),
        ("mismatched", mismatched.to_json(), "d does not match x"),
        (
            "ec-pem",
            "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA==\n-----END EC PRIVATE KEY-----\n"
                .to_owned(),
            "is a PEM EC PRIVATE KEY",
        ),
        (
            "broken-pem",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".to_owned(),
            "not a usable Ed25519 public key",
        ),
    ];
    for (name, contents, expected) in cases {
        let file = dir.write(&format!("{name}.key"), contents);
        let output = attest()
            .arg("generate")
            .arg("--key")
            .arg(&issuer)
            .args(["--issuer", ISSUER, "--audience", AUDIENCE, "--cnf-key"])
            .arg(&file)
            .assert()
            .code(2)
            .stdout("")
            .get_output()
            .stderr
            .clone();
        let stderr = String::from_utf8(output).unwrap();
        assert!(stderr.starts_with("error: "), "{name}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(
            stderr.contains(&file.display().to_string()),
            "{name}: {stderr}"
        );
    }
    attest()
        .arg("generate")
        .arg("--key")
        .arg(&issuer)
        .args(["--issuer", ISSUER, "--audience", AUDIENCE, "--cnf-key"])
        .arg(dir.path("missing.jwk"))
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicates::str::contains("cannot read key file"));
}

/// `attest serve --proof required [extra...]` trusting the fixtures' issuer key.
fn serve_requiring_proofs_with(dir: &TempDir, extra: &[&str]) -> Server {
    serve_trusting_issuer(dir, &[&["--proof", "required"], extra].concat())
}

/// `attest serve --proof required` trusting the fixtures' issuer key.
fn serve_requiring_proofs(dir: &TempDir) -> Server {
    serve_requiring_proofs_with(dir, &[])
}

/// An rmcp client over streamable HTTP whose requests carry tokens from `source` and, with
/// `proof_key`, a proof of possession signed with it.
async fn connect(
    url: &str,
    source: Arc<dyn TokenSource>,
    proof_key: Option<SigningKey>,
) -> Result<rmcp::service::RunningService<rmcp::RoleClient, ()>, rmcp::service::ClientInitializeError>
{
    let mut transport = AttestingTransport::new(
        StreamableHttpClientTransport::from_uri(url),
        source,
        AUDIENCE,
    );
    if let Some(key) = proof_key {
        transport = transport.with_proof_key(key);
    }
    ().serve(transport).await
}

/// `whoami`, parsed.
async fn whoami(client: &rmcp::service::RunningService<rmcp::RoleClient, ()>) -> Value {
    let result = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap();
    let text: String = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cnf_key_token_is_served_with_the_agents_proofs_and_refused_without() {
    let dir = TempDir::new();
    let server = serve_requiring_proofs(&dir);
    assert!(
        server.stderr_text().contains("proofs required"),
        "{}",
        server.stderr_text()
    );
    let url = format!("http://{}/mcp", server.addr);
    let (issuer, _) = issuer_files(&dir);
    let agent_file = dir.write("agent.jwk", agent().to_private_jwk().to_json());
    let token = generate(&issuer, &["--cnf-key", agent_file.to_str().unwrap()]);
    let source = || -> Arc<dyn TokenSource> { Arc::new(StaticToken::new(token.clone()).unwrap()) };

    // The agent: its proofs verify under the token's cnf, on initialize and every request.
    let client = connect(&url, source(), Some(agent())).await.unwrap();
    for _ in 0..2 {
        let identity = whoami(&client).await;
        assert_eq!(identity["verification_status"], "verified", "{identity}");
        assert_eq!(identity["key_bound"], true, "{identity}");
        assert_eq!(
            identity["proof"],
            json!({"status": "verified", "thumbprint": agent().public_key().thumbprint()})
        );
    }
    client.cancel().await.unwrap();

    // A stolen token alone, or with proofs signed by the thief's key: refused at initialize.
    let token = generate(&issuer, &["--cnf-key", agent_file.to_str().unwrap()]);
    let stolen: Arc<dyn TokenSource> = Arc::new(StaticToken::new(token.clone()).unwrap());
    let refused = connect(&url, Arc::clone(&stolen), None).await.unwrap_err();
    assert_eq!(refused.rejection_reason(), Some(Reason::ProofRequired));
    let token = generate(&issuer, &["--cnf-key", agent_file.to_str().unwrap()]);
    let stolen: Arc<dyn TokenSource> = Arc::new(StaticToken::new(token).unwrap());
    let refused = connect(&url, stolen, Some(thief())).await.unwrap_err();
    assert_eq!(refused.rejection_reason(), Some(Reason::ProofInvalid));

    // A bearer token (no --cnf-key) can never be proven.
    let bearer: Arc<dyn TokenSource> = Arc::new(StaticToken::new(generate(&issuer, &[])).unwrap());
    let refused = connect(&url, bearer, Some(agent())).await.unwrap_err();
    assert_eq!(refused.rejection_reason(), Some(Reason::ProofInvalid));
}

#[tokio::test(flavor = "multi_thread")]
async fn server_nonces_from_a_shared_secret_are_transparent_to_the_agent() {
    let dir = TempDir::new();
    let secret = dir.write("nonce.hex", format!("{}\n", "5a".repeat(32)));
    let server =
        serve_requiring_proofs_with(&dir, &["--proof-nonce-secret", secret.to_str().unwrap()]);
    assert!(
        server
            .stderr_text()
            .contains("proofs required with server nonces"),
        "{}",
        server.stderr_text()
    );
    let url = format!("http://{}/mcp", server.addr);
    let (issuer, _) = issuer_files(&dir);
    let agent_file = dir.write("agent.jwk", agent().to_private_jwk().to_json());
    let token = generate(&issuer, &["--cnf-key", agent_file.to_str().unwrap()]);
    let source: Arc<dyn TokenSource> = Arc::new(StaticToken::new(token).unwrap());

    // The client learns the nonce from the initialize result and signs it into every proof.
    let client = connect(&url, source, Some(agent())).await.unwrap();
    for _ in 0..2 {
        let identity = whoami(&client).await;
        assert_eq!(identity["proof"]["status"], "verified", "{identity}");
    }
    client.cancel().await.unwrap();
}

#[test]
fn a_bad_nonce_secret_is_a_usage_error() {
    let dir = TempDir::new();
    let (_, jwks) = issuer_files(&dir);
    let short = dir.write("short.hex", "5a".repeat(31));
    let not_hex = dir.write("not-hex.hex", "zz".repeat(32));
    for (file, expected) in [
        (short.to_str().unwrap(), "expected 64 hex digits"),
        (not_hex.to_str().unwrap(), "expected 64 hex digits"),
        ("/nonexistent/secret", "/nonexistent/secret"),
    ] {
        let assert = attest()
            .args(serve_args(&jwks))
            .args(["--proof", "required", "--proof-nonce-secret", file])
            .assert()
            .failure();
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(stderr.contains(expected), "{file}: {stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// The development issuer's `cnf_jwk`.
// ---------------------------------------------------------------------------------------------

fn start_issuer(dir: &TempDir) -> Server {
    let (key, _) = issuer_files(dir);
    Server::start(&[
        "issuer",
        "serve",
        "--key",
        key.to_str().unwrap(),
        "--issuer",
        ISSUER,
        "--listen",
        "127.0.0.1:0",
    ])
}

async fn request_token(issuer: &Server, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://{}/token", issuer.addr))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_issuer_binds_a_public_cnf_jwk_and_refuses_anything_else() {
    let dir = TempDir::new();
    let (_, jwks) = issuer_files(&dir);
    let issuer = start_issuer(&dir);
    let agent = agent();
    let public = serde_json::to_value(agent.to_public_jwk()).unwrap();

    // A public JWK: bound as its kty, crv, x and kid; the token verifies.
    let (status, body) =
        request_token(&issuer, &json!({"audience": [AUDIENCE], "cnf_jwk": public})).await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap();
    assert_valid(token, &jwks);
    assert_eq!(
        claims_of(token)["cnf"],
        json!({"jwk": {"kty": "OKP", "crv": "Ed25519", "kid": "agent-1", "x": public["x"]}})
    );
    // Without cnf_jwk, no cnf, whatever else the body says.
    let (status, body) = request_token(
        &issuer,
        &json!({"audience": [AUDIENCE], "cnf": {"jwk": public}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(claims_of(body["token"].as_str().unwrap()).get("cnf"), None);

    // The agent's private key: refused, and its `d` is not echoed.
    let private = serde_json::to_value(agent.to_private_jwk()).unwrap();
    let d = private["d"].as_str().unwrap().to_owned();
    let refusals = [
        ("private key", private, "private key material"),
        (
            "wrong kty",
            json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
            "not an Ed25519 public key",
        ),
        (
            "wrong curve",
            json!({"kty": "OKP", "crv": "X25519", "x": public["x"]}),
            "not an Ed25519 public key",
        ),
        (
            "weak key",
            json!({"kty": "OKP", "crv": "Ed25519",
                   "x": "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
            "small order",
        ),
        (
            "no x",
            json!({"kty": "OKP", "crv": "Ed25519"}),
            "not an Ed25519 public key",
        ),
        (
            "garbage string",
            json!("ssh-ed25519 AAAA"),
            "must be a JWK object",
        ),
        ("garbage number", json!(42), "must be a JWK object"),
        (
            "garbage object",
            json!({"hello": "world"}),
            "not an Ed25519 public key",
        ),
    ];
    for (case, cnf, expected) in refusals {
        let (status, body) =
            request_token(&issuer, &json!({"audience": [AUDIENCE], "cnf_jwk": cnf})).await;
        assert_eq!(status, 400, "{case}: {body}");
        assert_eq!(body["error"], "invalid_request", "{case}: {body}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(expected), "{case}: {description}");
        assert!(
            !body.to_string().contains(&d),
            "{case}: echoed the private key"
        );
        assert_eq!(body.get("token"), None, "{case}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_issuer_with_an_agent_key_gets_tokens_that_attest_serve_accepts_with_proofs() {
    // The whole chain: attest-mcp-client's RemoteIssuer sends the agent's public key as
    // cnf_jwk to `attest issuer serve`, which binds it; the agent's proofs then pass
    // `attest serve --proof required`.
    let dir = TempDir::new();
    let issuer = start_issuer(&dir);
    let server = serve_requiring_proofs(&dir);
    let url = format!("http://{}/mcp", server.addr);
    let remote = RemoteIssuer::builder(ISSUER)
        .endpoint(format!("http://{}/token", issuer.addr))
        .dangerous_allow_http_loopback()
        .agent_key(&agent().public_key())
        .freshness(Freshness::PerRequest)
        .build()
        .unwrap();
    let source: Arc<dyn TokenSource> = Arc::new(remote);
    let client = connect(&url, Arc::clone(&source), Some(agent()))
        .await
        .unwrap();
    let identity = whoami(&client).await;
    assert_eq!(identity["verification_status"], "verified", "{identity}");
    assert_eq!(identity["key_bound"], true, "{identity}");
    assert_eq!(identity["proof"]["status"], "verified", "{identity}");
    client.cancel().await.unwrap();

    // The same key-bound tokens, without the agent's key: refused.
    let refused = connect(&url, Arc::clone(&source), Some(thief()))
        .await
        .unwrap_err();
    assert_eq!(refused.rejection_reason(), Some(Reason::ProofInvalid));
    // And a RemoteIssuer without the agent key gets bearer tokens, which cannot be proven.
    let bearer = RemoteIssuer::builder(ISSUER)
        .endpoint(format!("http://{}/token", issuer.addr))
        .dangerous_allow_http_loopback()
        .freshness(Freshness::PerRequest)
        .build()
        .unwrap();
    let refused = connect(&url, Arc::new(bearer), Some(agent()))
        .await
        .unwrap_err();
    assert_eq!(refused.rejection_reason(), Some(Reason::ProofInvalid));
}
