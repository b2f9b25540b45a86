//! A third-party client nobody here wrote: the official MCP TypeScript SDK
//! (`@modelcontextprotocol/sdk`), which sends `capabilities.experimental` natively, against
//! our server over streamable HTTP. It must be accepted with a valid token and refused without.
//!
//! Needs Node.js and npm. The SDK is installed from `tests/third_party/package-lock.json` on
//! first use (`.ci/run` installs it up front).

use std::path::{Path, PathBuf};
use std::process::Command;

use attest_mcp_server::Enforcement;
use serde_json::Value;

use crate::common::{self, Whoami};

fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/third_party")
}

fn ensure_sdk_installed() {
    if client_dir()
        .join("node_modules/@modelcontextprotocol/sdk")
        .exists()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent"])
        .current_dir(client_dir())
        .status()
        .unwrap_or_else(|e| {
            panic!("npm is needed to install the TypeScript MCP SDK for this test: {e}")
        });
    assert!(
        status.success(),
        "npm ci failed in {}",
        client_dir().display()
    );
}

async fn run_ts_client(url: String, token: Option<String>) -> Value {
    let output = tokio::task::spawn_blocking(move || {
        let mut command = Command::new("node");
        command
            .arg("ts_client.mjs")
            .arg(url)
            .current_dir(client_dir());
        if let Some(token) = token {
            command.arg(token);
        }
        command
            .output()
            .unwrap_or_else(|e| panic!("node is needed for this test: {e}"))
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "unexpected client output ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[tokio::test]
async fn typescript_sdk_client_is_accepted_with_a_token_and_refused_without() {
    ensure_sdk_installed();
    let handler = Whoami::default();
    let app = attest_mcp_server::http::router(
        {
            let handler = handler.clone();
            move || handler.clone()
        },
        common::gate(Enforcement::Required, None),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let accepted = run_ts_client(url.clone(), Some(common::token())).await;
    assert_eq!(accepted["ok"], true, "{accepted}");
    assert_eq!(
        accepted["text"],
        "verified claude sonnet-4 https://issuer.example trust=provider"
    );

    let refused = run_ts_client(url, None).await;
    assert_eq!(refused["ok"], false, "{refused}");
    assert_eq!(refused["reason"], "attestation_required", "{refused}");
    assert_eq!(refused["code"], -31001);
    assert_eq!(
        handler.calls.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "only the attested call ran"
    );
}
