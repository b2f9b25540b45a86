//! `attest gateway` as a user runs it, in front of the official reference server
//! `@modelcontextprotocol/server-everything` (npm, installed by attest-gateway's tests): the
//! stdio form a desktop client launches, the HTTP form with a policy file reloaded on SIGHUP,
//! and the usage errors.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use attest_protocol::{Carriers, ClientAttestation};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::transport::TokioChildProcess;
use serde_json::{Map, Value, json};

use crate::common::{self, AUDIENCE, ISSUER, Server, TempDir, issuer_files};

/// server-everything's entry point, installed on demand (never skipped).
fn everything() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../attest-gateway/tests/third_party");
    let entry = dir.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    if !entry.exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .expect("npm is needed to install the reference MCP servers");
        assert!(status.success(), "npm ci failed in {}", dir.display());
    }
    entry
}

/// Client capabilities presenting `token`.
fn attested(token: &str) -> ClientConfig {
    let mut capabilities = Map::new();
    ClientAttestation::new(token.to_owned())
        .unwrap()
        .insert_into_capabilities(&mut capabilities, Carriers::Both)
        .unwrap();
    let capabilities: ClientCapabilities =
        serde_json::from_value(Value::Object(capabilities)).unwrap();
    ClientConfig::new(capabilities, Implementation::new("desktop-client", "1.0.0"))
}

fn text_of(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

fn echo(message: &str) -> CallToolRequestParams {
    CallToolRequestParams::new("echo")
        .with_arguments(json!({"message": message}).as_object().unwrap().clone())
}

/// `attest gateway --stdio ... -- node server-everything stdio`, as a desktop client launches it.
fn stdio_gateway(jwks: &Path) -> TokioChildProcess {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_attest"));
    command
        .args([
            "gateway",
            "--stdio",
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
            "--jwks",
        ])
        .arg(jwks)
        .args(["--", "node"])
        .arg(everything())
        .arg("stdio");
    TokioChildProcess::new(command).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stdio_form_serves_an_attested_desktop_client_and_refuses_others() {
    let dir = TempDir::new();
    let (_, jwks) = issuer_files(&dir);

    let client = attested(&common::token())
        .serve(stdio_gateway(&jwks))
        .await
        .unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "echo"), "{tools:?}");
    let result = client.call_tool(echo("over stdio")).await.unwrap();
    assert_eq!(text_of(&result), "Echo: over stdio");
    client.cancel().await.unwrap();

    let unattested = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("desktop-client", "1.0.0"),
    );
    assert!(
        unattested.serve(stdio_gateway(&jwks)).await.is_err(),
        "initialize without attestation is refused"
    );
}

/// POSTs one stateless (2026-07-28) `tools/call` of `echo` with `token` in `_meta`.
async fn stateless_echo(addr: &str, token: &str, message: &str) -> Value {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": message}, "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "raw-client", "version": "1.0.0"},
            attest_protocol::EXTENSION_ID: ClientAttestation::compact(token).unwrap().to_value(),
        }},
    });
    let text = reqwest::Client::new()
        .post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .body(body.to_string())
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

/// Waits until the gateway's stderr has a line containing `needle` (SIGHUP is asynchronous).
async fn await_log(gateway: &Server, needle: &str, occurrences: usize) {
    for _ in 0..200 {
        if gateway.stderr_text().matches(needle).count() >= occurrences {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no {needle:?} in the gateway's stderr: {}",
        gateway.stderr_text()
    );
}

const ALLOW_ALL: &str = "default = \"allow\"\n";
const DENY_ECHO: &str = r#"
default = "allow"

[[rule]]
name = "no-echo"
tools = ["echo"]
effect = "deny"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_http_form_reloads_its_policy_on_sighup_and_keeps_it_when_the_file_breaks() {
    let dir = TempDir::new();
    let (_, jwks) = issuer_files(&dir);
    let policy = dir.write("policy.toml", ALLOW_ALL);
    let audit = dir.path("audit.jsonl");
    let upstream = format!("node '{}' stdio", everything().display());
    let gateway = Server::start(&[
        "gateway",
        "--listen",
        "127.0.0.1:0",
        "--upstream-cmd",
        &upstream,
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
        "--jwks",
        jwks.to_str().unwrap(),
        "--policy-file",
        policy.to_str().unwrap(),
        "--audit-log",
        audit.to_str().unwrap(),
    ]);
    assert!(
        gateway
            .stderr_text()
            .contains("upstream: mcp-servers/everything"),
        "{}",
        gateway.stderr_text()
    );
    let token = common::token();

    let allowed = stateless_echo(&gateway.addr, &token, "one").await;
    assert_eq!(
        allowed["result"]["content"][0]["text"], "Echo: one",
        "{allowed}"
    );

    std::fs::write(&policy, DENY_ECHO).unwrap();
    gateway.signal("-HUP");
    await_log(&gateway, "policy reloaded", 1).await;
    let denied = stateless_echo(&gateway.addr, &token, "two").await;
    assert_eq!(
        denied["error"]["code"],
        attest_gateway::POLICY_DENIED_CODE,
        "{denied}"
    );
    assert_eq!(denied["error"]["data"]["rule"], "no-echo");

    std::fs::write(
        &policy,
        "default = \"allow\"\n[[rule]]\nname = \"typo\"\ntools = [\"echo\"]\neffetc = \"allow\"\n",
    )
    .unwrap();
    gateway.signal("-HUP");
    await_log(&gateway, "policy reload failed, keeping the old policy", 1).await;
    let still_denied = stateless_echo(&gateway.addr, &token, "three").await;
    assert_eq!(
        still_denied["error"]["data"]["rule"], "no-echo",
        "the old policy stays: {still_denied}"
    );

    let lines: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let decisions: Vec<&str> = lines
        .iter()
        .map(|l| l["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["allow", "deny", "deny"]);
    assert!(!std::fs::read_to_string(&audit).unwrap().contains(&token));
    assert!(gateway.terminate().success());
}

#[test]
fn usage_errors_name_the_problem() {
    let dir = TempDir::new();
    let (_, jwks) = issuer_files(&dir);
    let base = [
        "gateway",
        "--listen",
        "127.0.0.1:0",
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
        "--jwks",
    ];
    let cases: [(&[&str], &str); 4] = [
        (&[], "name the upstream server"),
        (
            &[
                "--upstream-cmd",
                "node server.js",
                "--upstream-url",
                "http://127.0.0.1:9/mcp",
            ],
            "cannot be used with",
        ),
        (
            &["--upstream-url", "ftp://example/mcp"],
            "must be an http:// or https:// URL",
        ),
        (&["--upstream-cmd", "node 'unbalanced"], "unbalanced quotes"),
    ];
    for (extra, expected) in cases {
        let assert = common::attest()
            .args(base)
            .arg(&jwks)
            .args(extra)
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
    }
    let broken = dir.write("policy.toml", "default = \"maybe\"\n");
    let assert = common::attest()
        .args(base)
        .arg(&jwks)
        .args(["--upstream-cmd", "node server.js", "--policy-file"])
        .arg(&broken)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("policy.toml") && stderr.contains("maybe"),
        "{stderr}"
    );
    let missing = common::attest()
        .args(base)
        .arg(&jwks)
        .args(["--upstream-cmd", "/nonexistent/mcp-server"])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&missing.get_output().stderr).into_owned();
    assert!(
        stderr.contains("cannot start command `/nonexistent/mcp-server`"),
        "{stderr}"
    );
}
