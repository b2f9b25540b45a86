//! The official reference server `@modelcontextprotocol/server-filesystem` (npm, TypeScript) on
//! a temp dir, as a stdio upstream behind the gateway: reads go through, the server's own
//! refusals come back as it made them, and a read-only policy keeps writes from ever reaching it.

use std::path::Path;

use attest_gateway::POLICY_DENIED_CODE;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::ServiceError;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

use crate::fixtures::{self, text};

/// A tool call's params with JSON arguments.
fn call(tool: &'static str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool).with_arguments(arguments.as_object().unwrap().clone())
}

/// `read_text_file` of `path`.
fn read(path: &Path) -> CallToolRequestParams {
    call("read_text_file", json!({"path": path.to_str().unwrap()}))
}

/// The same server, started directly (no gateway), answering `params`: the reference for
/// what the gateway must relay.
async fn direct(root: &Path, params: CallToolRequestParams) -> CallToolResult {
    fixtures::ensure_installed();
    let entry = fixtures::third_party()
        .join("node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
    let mut command = tokio::process::Command::new("node");
    command.arg(entry).arg(root);
    let client = ().serve(TokioChildProcess::new(command).unwrap()).await.unwrap();
    let result = client.call_tool(params).await.unwrap();
    client.cancel().await.unwrap();
    result
}

#[tokio::test]
async fn read_text_file_and_an_outside_path_through_the_gateway() {
    let dir = fixtures::scratch("filesystem-read");
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let hello = root.join("hello.txt");
    std::fs::write(&hello, "hello from the temp dir\nsecond line\n").unwrap();
    // A real file outside the allowed directory, so that only confinement can refuse it.
    let outside = dir.join("outside.txt");
    std::fs::write(&outside, "must not be read").unwrap();

    let upstream = fixtures::filesystem(&dir, &root);
    let (addr, _gateway) = fixtures::serve(upstream.upstream.clone(), None, |_| {}).await;
    let client = fixtures::attested_agent(addr).await;

    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(
        names.contains(&"read_text_file") && names.contains(&"write_file"),
        "{names:?}"
    );

    let read_back = client.call_tool(read(&hello)).await.unwrap();
    assert_ne!(read_back.is_error, Some(true), "{read_back:?}");
    assert_eq!(text(&read_back), "hello from the temp dir\nsecond line\n");

    // Outside the root: the server's own `isError` answer, relayed as the server made it.
    let refused = client.call_tool(read(&outside)).await.unwrap();
    assert_eq!(refused.is_error, Some(true), "{refused:?}");
    assert!(
        text(&refused).contains("Access denied"),
        "{}",
        text(&refused)
    );
    assert!(!text(&refused).contains("must not be read"));
    let reference = direct(&root, read(&outside)).await;
    assert_eq!(
        serde_json::to_value(&refused).unwrap(),
        serde_json::to_value(&reference).unwrap(),
        "the gateway changed the upstream's answer"
    );
    assert_eq!(upstream.calls_of("read_text_file"), 2);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn read_only_policy_hides_write_file_and_refuses_it_before_the_upstream() {
    let dir = fixtures::scratch("filesystem-policy");
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let hello = root.join("hello.txt");
    std::fs::write(&hello, "read me").unwrap();
    let target = root.join("written.txt");

    let policy = r#"
        default = "deny"
        [[rule]]
        name = "read-only"
        tools = ["read_*", "list_*"]
    "#;
    let upstream = fixtures::filesystem(&dir, &root);
    let (addr, _gateway) = fixtures::serve(upstream.upstream.clone(), Some(policy), |_| {}).await;
    let client = fixtures::attested_agent(addr).await;

    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "list_allowed_directories",
            "list_directory",
            "list_directory_with_sizes",
            "read_file",
            "read_media_file",
            "read_multiple_files",
            "read_text_file",
        ],
        "tools/list must show only what the policy allows"
    );

    let error = client
        .call_tool(call(
            "write_file",
            json!({"path": target.to_str().unwrap(), "content": "written"}),
        ))
        .await
        .unwrap_err();
    let ServiceError::McpError(error) = error else {
        panic!("expected a JSON-RPC error, got {error}");
    };
    assert_eq!(error.code.0, POLICY_DENIED_CODE);
    assert_eq!(error.data.unwrap()["reason"], "policy_default_deny");
    assert!(!target.exists(), "the denied write happened");

    // An allowed read goes through, and the recorder saw it: it records, and it never saw
    // write_file.
    let read_back = client.call_tool(read(&hello)).await.unwrap();
    assert_eq!(text(&read_back), "read me");
    assert_eq!(
        upstream.calls_of("read_text_file"),
        1,
        "{}",
        upstream.received()
    );
    assert_eq!(
        upstream.calls_of("write_file"),
        0,
        "{}",
        upstream.received()
    );
    assert!(!upstream.received().contains("written.txt"));
    client.cancel().await.unwrap();
}
