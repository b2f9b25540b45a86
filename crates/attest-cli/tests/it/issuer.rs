//! `attest issuer serve`: the JWKS, the token endpoint of SPEC.md §14 with and without a client
//! secret, tokens that `attest verify --jwks-url` accepts, and rotation without a restart.

use predicates::prelude::*;
use serde_json::{Value, json};

use crate::common::{AUDIENCE, Server, TempDir, attest, issuer_files, now};

const DEV_ISSUER: &str = "http://issuer.test";

fn start(dir: &TempDir, extra: &[&str]) -> Server {
    let (key, _) = issuer_files(dir);
    let mut args = vec![
        "issuer",
        "serve",
        "--key",
        key.to_str().unwrap(),
        "--issuer",
        DEV_ISSUER,
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    Server::start(&args)
}

async fn post(url: &str, body: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(secret) = bearer {
        request = request.header("authorization", format!("Bearer {secret}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `attest verify TOKEN --jwks-url http://ADDR/.well-known/jwks.json`.
fn verify_with_url(server: &Server, token: &str) -> assert_cmd::assert::Assert {
    attest()
        .arg("verify")
        .arg(token)
        .args(["--issuer", DEV_ISSUER, "--audience", AUDIENCE])
        .arg("--jwks-url")
        .arg(format!("http://{}/.well-known/jwks.json", server.addr))
        .arg("--allow-insecure-loopback-jwks")
        .assert()
}

fn kid_of(token: &str) -> String {
    let (header, _) = attest_core::dangerous::decode_json(token).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn loopback_issuer_publishes_jwks_and_mints_tokens_that_verify() {
    let dir = TempDir::new();
    let server = start(
        &dir,
        &["--safety-level", "enhanced", "--capability", "deploy"],
    );
    assert!(
        server
            .stderr_text()
            .contains("accept loopback callers only"),
        "{}",
        server.stderr_text()
    );
    let jwks = reqwest::get(format!("http://{}/.well-known/jwks.json", server.addr))
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200);
    assert!(
        jwks.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let jwks: Value = jwks.json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kid"], "issuer-1");
    assert!(jwks["keys"][0].get("d").is_none());

    let token_url = format!("http://{}/token", server.addr);
    let before = now().as_secs();
    let (status, body) = post(
        &token_url,
        &json!({"audience": [AUDIENCE], "lifetime_secs": 60}).to_string(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "agent-attestation+jwt");
    let expires_at = body["expires_at"].as_u64().unwrap();
    assert!(
        (before + 60..=now().as_secs() + 60).contains(&expires_at),
        "{body}"
    );
    let token = body["token"].as_str().unwrap().to_owned();
    verify_with_url(&server, &token)
        .success()
        .stdout(predicate::str::starts_with("VALID").and(predicate::str::contains("enhanced")));

    // Every response is a new token; the lifetime is capped at the issuer's maximum (300 s).
    let (_, again) = post(
        &token_url,
        &json!({"audience": [AUDIENCE], "lifetime_secs": 100_000}).to_string(),
        None,
    )
    .await;
    assert_ne!(again["token"], body["token"]);
    assert!(again["expires_at"].as_u64().unwrap() <= now().as_secs() + 300);

    // RFC 6749 errors.
    for bad in [
        "",
        "[]",
        "{}",
        r#"{"audience": []}"#,
        r#"{"audience": ["a"], "lifetime_secs": 0}"#,
    ] {
        let (status, body) = post(&token_url, bad, None).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"], "invalid_request", "{bad}");
    }
    let get = reqwest::get(&token_url).await.unwrap();
    assert_eq!(get.status(), 405);
    let huge = "x".repeat(64 * 1024);
    let (status, _) = post(&token_url, &huge, None).await;
    assert_eq!(status, 413);

    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_client_secret_the_token_endpoint_requires_it() {
    let dir = TempDir::new();
    let secret = dir.write("secret.txt", "s3cret-value\n");
    let server = start(&dir, &["--client-secret-file", secret.to_str().unwrap()]);
    assert!(
        server
            .stderr_text()
            .contains("require `Authorization: Bearer")
    );
    let token_url = format!("http://{}/token", server.addr);
    let body = json!({"audience": [AUDIENCE]}).to_string();
    for bearer in [None, Some("wrong"), Some("s3cret-valu")] {
        let (status, answer) = post(&token_url, &body, bearer).await;
        assert_eq!(status, 401, "{bearer:?}");
        assert_eq!(answer["error"], "invalid_client");
    }
    let (status, answer) = post(&token_url, &body, Some("s3cret-value")).await;
    assert_eq!(status, 200, "{answer}");
    verify_with_url(&server, answer["token"].as_str().unwrap()).success();
    // /rotate needs it too.
    let (status, _) = post(&format!("http://{}/rotate", server.addr), "", None).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_is_picked_up_without_a_restart() {
    let dir = TempDir::new();
    let server = start(&dir, &[]);
    let token_url = format!("http://{}/token", server.addr);
    let body = json!({"audience": [AUDIENCE]}).to_string();
    let (_, old) = post(&token_url, &body, None).await;
    let old = old["token"].as_str().unwrap().to_owned();
    assert_eq!(kid_of(&old), "issuer-1");

    let (status, rotated) = post(&format!("http://{}/rotate", server.addr), "", None).await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["previous_kid"], "issuer-1");
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, "issuer-1");

    let jwks: Value = reqwest::get(format!("http://{}/.well-known/jwks.json", server.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    kids.sort_unstable();
    let mut expected = vec!["issuer-1", new_kid.as_str()];
    expected.sort_unstable();
    assert_eq!(kids, expected);

    let (_, new) = post(&token_url, &body, None).await;
    let new = new["token"].as_str().unwrap().to_owned();
    assert_eq!(kid_of(&new), new_kid);
    verify_with_url(&server, &new).success();
    // Tokens signed before the rotation keep verifying: the old key stays published.
    verify_with_url(&server, &old).success();
}

#[tokio::test(flavor = "multi_thread")]
async fn further_keys_are_published_as_previous() {
    let dir = TempDir::new();
    let previous = attest_core::SigningKey::from_seed(&[0x07; 32], "issuer-0").unwrap();
    let previous = dir.write("previous.jwk", previous.to_private_jwk().to_json());
    let server = start(&dir, &["--key", previous.to_str().unwrap()]);
    assert!(
        server
            .stderr_text()
            .contains("signing with kid issuer-1 (also publishing issuer-0)")
    );
    let jwks: Value = reqwest::get(format!("http://{}/.well-known/jwks.json", server.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let (_, minted) = post(
        &format!("http://{}/token", server.addr),
        &json!({"audience": [AUDIENCE]}).to_string(),
        None,
    )
    .await;
    assert_eq!(kid_of(minted["token"].as_str().unwrap()), "issuer-1");
}

#[test]
fn issuer_configuration_errors_exit_2() {
    let dir = TempDir::new();
    let (key, _) = issuer_files(&dir);
    let empty = dir.write("empty.txt", "\n");
    let key = key.to_str().unwrap();
    for args in [
        vec!["issuer", "serve", "--key", key, "--issuer", DEV_ISSUER],
        vec![
            "issuer",
            "serve",
            "--issuer",
            DEV_ISSUER,
            "--listen",
            "127.0.0.1:0",
        ],
        vec![
            "issuer",
            "serve",
            "--key",
            key,
            "--key",
            key,
            "--issuer",
            DEV_ISSUER,
            "--listen",
            "127.0.0.1:0",
        ],
        vec![
            "issuer",
            "serve",
            "--key",
            key,
            "--issuer",
            DEV_ISSUER,
            "--listen",
            "127.0.0.1:0",
            "--client-secret-file",
            empty.to_str().unwrap(),
        ],
        vec![
            "issuer",
            "serve",
            "--key",
            key,
            "--issuer",
            DEV_ISSUER,
            "--listen",
            "127.0.0.1:0",
            "--client-secret",
            "a",
            "--client-secret-file",
            "b",
        ],
        vec![
            "issuer",
            "serve",
            "--key",
            key,
            "--issuer",
            DEV_ISSUER,
            "--listen",
            "127.0.0.1:0",
            "--lifetime",
            "0",
        ],
    ] {
        attest().args(&args).assert().code(2).stderr(
            predicate::str::starts_with("error: ").and(predicate::str::contains("panicked").not()),
        );
    }
    // A listen address that cannot be bound: the operation fails (exit 1).
    attest()
        .args([
            "issuer",
            "serve",
            "--key",
            key,
            "--issuer",
            DEV_ISSUER,
            "--listen",
            "256.0.0.1:1",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: cannot listen"));
}
