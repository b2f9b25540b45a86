//! The latency the gateway adds to a `tools/call` on a warm session, on loopback: the same call
//! straight to the upstream server and through the gateway, p50 and p99 of each call's latency.
//!
//! - **HTTP upstream:** `python_server.py` (the official Python `mcp` SDK, streamable HTTP).
//!   Direct: an rmcp client session to the server. Via: an rmcp client session to the gateway
//!   (attestation required, memory replay store, allow-all policy; the client attested once, at
//!   `initialize`), which relays over its own upstream session to the same server.
//! - **fast HTTP upstream:** an rmcp echo server in this process (its own runtime), over
//!   streamable HTTP: the same comparison with an upstream that answers in microseconds, so that
//!   the Python server's own variance does not hide the gateway's cost.
//! - **stdio upstream:** `@modelcontextprotocol/server-everything`. Direct: an rmcp client with
//!   the server as its child process. Via: an rmcp client over streamable HTTP to the gateway,
//!   which has the server as its child. The via side includes the HTTP hop, so this is not the
//!   gateway's cost alone.
//!
//! The two sides alternate in blocks, A B B A per round, so that a burst of load from another
//! process hits both. The gateway runs in this process on its own runtime (two worker threads,
//! like the `attest gateway` command), compiled in the bench profile (release), with
//! TCP_NODELAY as the command sets it.
//!
//! ```sh
//! cargo bench -p attest-gateway --bench gateway
//! ATTEST_GATEWAY_BENCH_ROUNDS=40 ATTEST_GATEWAY_BENCH_BLOCK=50 cargo bench -p attest-gateway --bench gateway
//! ```
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it only checks that everything
//! runs, with a couple of calls. The upstream servers must be installed
//! (tests/third_party/README.md; `.ci/run` or `cargo test -p attest-gateway --test it` does it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed setup is a broken benchmark
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)] // percentiles of non-empty samples
#![allow(missing_docs)]

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use attest_core::{
    AgentIdentity, AttestationMetadata, KeySet, Policy, SigningKey, TokenBuilder, TrustStore,
    UnixTime,
};
use attest_gateway::{Gateway, GatewayOptions, Upstream};
use attest_mcp_server::{AttestationGate, Enforcement, Verifier};
use attest_protocol::{Carriers, ClientAttestation};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ContentBlock, Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleClient, RunningService};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Map, Value, json};

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "https://tools.example/mcp";

type Client = RunningService<RoleClient, ClientConfig>;

fn issuer_key() -> SigningKey {
    SigningKey::from_seed(&[0x31; 32], "issuer-1").unwrap()
}

fn gate() -> AttestationGate {
    let key = issuer_key();
    let mut trust = TrustStore::new();
    trust.insert(
        ISSUER,
        KeySet::from_keys([(key.kid(), key.public_key())]).unwrap(),
    );
    let policy = Policy::builder()
        .trusted_issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    // The default replay store: memory.
    let verifier = Verifier::builder(policy).keys(trust).build().unwrap();
    AttestationGate::new(verifier, Enforcement::Required)
}

/// Client capabilities carrying a fresh token (both carriers), or none.
fn config(attested: bool, seed: u64) -> ClientConfig {
    let mut capabilities = Map::new();
    if attested {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let token = TokenBuilder::new(ISSUER, "spiffe://issuer.example/model/claude-sonnet-4")
            .audience(AUDIENCE)
            .identity(AgentIdentity::new("claude", "sonnet-4", "anthropic"))
            .metadata(AttestationMetadata::provider())
            .sign(
                &issuer_key(),
                UnixTime::from(std::time::SystemTime::now()),
                &mut rng,
            )
            .unwrap();
        ClientAttestation::new(token)
            .unwrap()
            .insert_into_capabilities(&mut capabilities, Carriers::Both)
            .unwrap();
    }
    let capabilities: ClientCapabilities =
        serde_json::from_value(Value::Object(capabilities)).unwrap();
    ClientConfig::new(capabilities, Implementation::new("gateway-bench", "1.0.0"))
}

fn third_party() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/third_party")
}

fn require(path: &Path) {
    assert!(
        path.exists(),
        "{} is missing: install the third-party servers (tests/third_party/README.md)",
        path.display()
    );
}

/// python_server.py on a free port; killed on drop.
struct Python {
    child: Child,
    _stdout: std::io::BufReader<std::process::ChildStdout>,
    url: String,
}

impl Python {
    fn start() -> Python {
        let python = third_party().join(".venv/bin/python");
        require(&python);
        let mut child = Command::new(python)
            .args(["python_server.py", "--port", "0"])
            .current_dir(third_party())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()) // it logs one line per message received
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("python_server.py did not start: {line:?}"))
            .to_owned();
        Python {
            child,
            _stdout: stdout,
            url,
        }
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fast upstream: one tool, `echo` (`text`), answered at once.
#[derive(Clone, Copy)]
struct Echo;

impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let schema = Map::from_iter([("type".to_owned(), json!("object"))]);
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "echo",
            "returns its text",
            schema,
        )]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let text = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("text"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

/// The fast upstream on its own two-thread runtime, with TCP_NODELAY.
fn start_echo() -> (String, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime.block_on(async {
        let mcp = StreamableHttpService::new(
            || Ok(Echo),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
        let app = axum::Router::new().nest_service("/mcp", mcp);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    });
    (format!("http://{addr}/mcp"), runtime)
}

fn everything_command() -> (String, Vec<String>) {
    let entry =
        third_party().join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    require(&entry);
    (
        "node".to_owned(),
        vec![entry.to_str().unwrap().to_owned(), "stdio".to_owned()],
    )
}

/// A gateway in front of `upstream` on its own two-thread runtime, served on a free loopback
/// port with TCP_NODELAY (as `attest gateway` serves it).
fn start_gateway(upstream: Upstream) -> (SocketAddr, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime.block_on(async {
        let gateway = Gateway::new(upstream, gate(), GatewayOptions::default()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let app = gateway.router();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    });
    (addr, runtime)
}

async fn http_client(url: &str, config: ClientConfig) -> Client {
    config
        .serve(StreamableHttpClientTransport::from_uri(url))
        .await
        .unwrap()
}

/// One scenario: the same call, straight (A) and through the gateway (B).
struct Scenario {
    name: &'static str,
    direct: Client,
    via: Client,
    call: CallToolRequestParams,
    expect: String,
}

/// One `tools/call`, checked, and its latency.
async fn timed(client: &Client, call: &CallToolRequestParams, expect: &str) -> Duration {
    let started = Instant::now();
    let result = client.call_tool(call.clone()).await.unwrap();
    let elapsed = started.elapsed();
    let text: String = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    assert_eq!(text, expect);
    elapsed
}

async fn block(client: &Client, scenario: &Scenario, calls: usize, out: &mut Vec<Duration>) {
    for _ in 0..calls {
        out.push(timed(client, &scenario.call, &scenario.expect).await);
    }
}

/// The latency at `percent` of sorted samples (nearest rank).
fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    let rank = (percent * sorted.len()).div_ceil(100);
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

struct Figures {
    p50: Duration,
    p99: Duration,
}

fn figures(mut samples: Vec<Duration>) -> Figures {
    samples.sort_unstable();
    Figures {
        p50: percentile(&samples, 50),
        p99: percentile(&samples, 99),
    }
}

/// Runs `scenario` (see the top of this file), prints its table, and closes both sessions.
async fn run(scenario: Scenario, warmup: usize, rounds: usize, calls: usize) {
    let mut direct = Vec::with_capacity(rounds * 2 * calls);
    let mut via = Vec::with_capacity(rounds * 2 * calls);
    let mut scratch = Vec::new();
    block(&scenario.direct, &scenario, warmup, &mut scratch).await;
    block(&scenario.via, &scenario, warmup, &mut scratch).await;
    let mut round_p50 = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let (d0, v0) = (direct.len(), via.len());
        block(&scenario.direct, &scenario, calls, &mut direct).await;
        block(&scenario.via, &scenario, calls, &mut via).await;
        block(&scenario.via, &scenario, calls, &mut via).await;
        block(&scenario.direct, &scenario, calls, &mut direct).await;
        let d = figures(direct[d0..].to_vec()).p50;
        let v = figures(via[v0..].to_vec()).p50;
        round_p50.push(micros(v) - micros(d));
    }
    round_p50.sort_by(f64::total_cmp);
    let (n_direct, n_via) = (direct.len(), via.len());
    let (direct, via) = (figures(direct), figures(via));
    println!(
        "\n{} ({rounds} rounds of A B B A, {calls} calls a block; {n_direct} direct and {n_via} via samples)",
        scenario.name
    );
    println!("| | p50 | p99 |");
    println!("|---|---|---|");
    println!(
        "| direct | {:.0} µs | {:.0} µs |",
        micros(direct.p50),
        micros(direct.p99)
    );
    println!(
        "| via the gateway | {:.0} µs | {:.0} µs |",
        micros(via.p50),
        micros(via.p99)
    );
    println!(
        "| added | {:.0} µs | {:.0} µs |",
        micros(via.p50) - micros(direct.p50),
        micros(via.p99) - micros(direct.p99)
    );
    println!(
        "added p50 per round: median {:.0} µs, range {:.0}–{:.0} µs",
        round_p50[round_p50.len() / 2],
        round_p50[0],
        round_p50[round_p50.len() - 1]
    );
    scenario.direct.cancel().await.unwrap();
    scenario.via.cancel().await.unwrap();
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let (warmup, rounds, calls) = if benching {
        (
            env_usize("ATTEST_GATEWAY_BENCH_WARMUP", 200),
            env_usize("ATTEST_GATEWAY_BENCH_ROUNDS", 20),
            env_usize("ATTEST_GATEWAY_BENCH_BLOCK", 50),
        )
    } else {
        (1, 1, 1)
    };
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // An HTTP upstream at `url`: `echo` straight to it, and through a gateway in front of it
    // (the agent's token minted from `seed`).
    let http = |name, url: &str, seed| {
        let (addr, gateway_runtime) = start_gateway(Upstream::Url(url.to_owned()));
        client.block_on(async {
            let scenario = Scenario {
                name,
                direct: http_client(url, config(false, 0)).await,
                via: http_client(&format!("http://{addr}/mcp"), config(true, seed)).await,
                call: CallToolRequestParams::new("echo")
                    .with_arguments(json!({"text": "hello"}).as_object().unwrap().clone()),
                expect: "hello".to_owned(),
            };
            run(scenario, warmup, rounds, calls).await;
        });
        drop(gateway_runtime);
    };

    // HTTP upstream: the Python SDK server.
    let python = Python::start();
    http(
        "tools/call `echo`, Python `mcp` SDK server over streamable HTTP",
        &python.url,
        1,
    );
    drop(python);

    // Fast HTTP upstream: an rmcp echo server.
    let (url, echo_runtime) = start_echo();
    http(
        "tools/call `echo`, rmcp (Rust) echo server over streamable HTTP",
        &url,
        3,
    );
    drop(echo_runtime);

    // stdio upstream: server-everything, direct as a child process, via the gateway over HTTP.
    let (program, args) = everything_command();
    let (addr, gateway_runtime) = start_gateway(
        Upstream::command(std::iter::once(program.clone()).chain(args.clone())).unwrap(),
    );
    client.block_on(async {
        let mut command = tokio::process::Command::new(&program);
        command.args(&args).stderr(Stdio::null());
        let direct = config(false, 0)
            .serve(TokioChildProcess::new(command).unwrap())
            .await
            .unwrap();
        let scenario = Scenario {
            name: "tools/call `echo`, server-everything over stdio (direct: rmcp stdio child; via: HTTP to the gateway, then stdio; includes the HTTP hop)",
            direct,
            via: http_client(&format!("http://{addr}/mcp"), config(true, 2)).await,
            call: CallToolRequestParams::new("echo")
                .with_arguments(json!({"message": "hello"}).as_object().unwrap().clone()),
            expect: "Echo: hello".to_owned(),
        };
        run(scenario, warmup, rounds, calls).await;
    });
    drop(gateway_runtime);
}
