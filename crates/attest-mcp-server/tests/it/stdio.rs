//! A child-process stdio server: the example server launched as a subprocess, the way desktop
//! MCP clients launch servers, and driven by a real rmcp client.

use attest_protocol::{Carriers, ClientAttestation};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::transport::TokioChildProcess;
use serde_json::{Map, Value};
use tokio::process::Command;

use crate::common;

fn server_command() -> Command {
    let mut command = Command::new(common::example_server());
    command.arg("--jwks").arg(common::jwks_file()).args([
        "--issuer",
        common::ISSUER,
        "--audience",
        common::AUDIENCE,
        "--stdio",
    ]);
    command
}

fn capabilities(token: Option<String>) -> ClientCapabilities {
    let mut caps = Map::new();
    if let Some(token) = token {
        ClientAttestation::new(token)
            .unwrap()
            .insert_into_capabilities(&mut caps, Carriers::Both)
            .unwrap();
    }
    serde_json::from_value(Value::Object(caps)).unwrap()
}

#[tokio::test]
async fn stdio_child_process_verifies_and_refuses() {
    let transport = TokioChildProcess::new(server_command()).unwrap();
    let client = ClientConfig::new(
        capabilities(Some(common::token())),
        Implementation::default(),
    )
    .serve(transport)
    .await
    .unwrap();
    let result = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap();
    let text = common::text(&result);
    assert!(text.starts_with("claude sonnet-4 by anthropic"), "{text}");
    // The per-tool requirement: a standard-safety agent without `deploy` is refused.
    let denied = client.call_tool(CallToolRequestParams::new("deploy")).await;
    assert!(denied.is_err(), "{denied:?}");
    client.cancel().await.unwrap();

    let transport = TokioChildProcess::new(server_command()).unwrap();
    let refused = ClientConfig::new(capabilities(None), Implementation::default())
        .serve(transport)
        .await;
    assert!(
        refused.is_err(),
        "a stdio session without attestation must be refused"
    );
}
