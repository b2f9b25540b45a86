//! Fixtures for the relay tests: real third-party upstream servers (installed from npm and
//! PyPI, see tests/third_party/README.md) behind a recorder, a gateway on a loopback port,
//! tokens, and an attested rmcp client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};

use attest_core::{
    AgentIdentity, AttestationMetadata, KeySet, Policy, SigningKey, TokenBuilder, TrustStore,
    UnixTime,
};
use attest_gateway::{Gateway, GatewayOptions, GatewayPolicy, PolicyHandle, Upstream};
use attest_mcp_server::{AttestationGate, Enforcement, Verifier};
use attest_protocol::{Carriers, ClientAttestation};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProgressNotificationParam};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Map, Value};

pub const ISSUER: &str = "https://issuer.example";
pub const AUDIENCE: &str = "https://tools.example/mcp";

fn issuer_key() -> SigningKey {
    SigningKey::from_seed(&[0x31; 32], "issuer-1").unwrap()
}

/// A fresh valid token (a new `jti` each call).
pub fn token() -> String {
    static SEED: AtomicU64 = AtomicU64::new(1);
    let mut rng = ChaCha20Rng::seed_from_u64(SEED.fetch_add(1, Ordering::Relaxed));
    TokenBuilder::new(ISSUER, "spiffe://issuer.example/model/claude-sonnet-4")
        .audience(AUDIENCE)
        .identity(AgentIdentity::new("claude", "sonnet-4", "anthropic"))
        .metadata(AttestationMetadata::provider())
        .sign(
            &issuer_key(),
            UnixTime::from(std::time::SystemTime::now()),
            &mut rng,
        )
        .unwrap()
}

/// A token with a valid shape signed by a key the issuer never published.
pub fn forged_token() -> String {
    let attacker = SigningKey::from_seed(&[0x66; 32], "issuer-1").unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    TokenBuilder::new(ISSUER, "spiffe://issuer.example/model/claude-sonnet-4")
        .audience(AUDIENCE)
        .identity(AgentIdentity::new("claude", "sonnet-4", "anthropic"))
        .metadata(AttestationMetadata::provider())
        .sign(
            &attacker,
            UnixTime::from(std::time::SystemTime::now()),
            &mut rng,
        )
        .unwrap()
}

/// A gate trusting the fixtures' issuer, `required`, with a memory replay store.
pub fn gate() -> AttestationGate {
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
    let verifier = Verifier::builder(policy).keys(trust).build().unwrap();
    AttestationGate::new(verifier, Enforcement::Required)
}

/// tests/third_party, where the upstream servers are installed.
pub fn third_party() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/third_party")
}

/// Installs the npm servers and the Python venv if they are missing. Never skips: a machine
/// without node or python fails these tests, as CI must.
pub fn ensure_installed() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let dir = third_party();
        if !dir
            .join("node_modules/@modelcontextprotocol/server-everything")
            .exists()
        {
            run(Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--silent"])
                .current_dir(&dir));
        }
        if !dir.join(".venv/bin/python").exists() {
            run(Command::new("python3")
                .args(["-m", "venv", ".venv"])
                .current_dir(&dir));
        }
        if !python_ready(&dir) {
            run(Command::new(dir.join(".venv/bin/python"))
                .args(["-m", "pip", "install", "--quiet", "-r", "requirements.txt"])
                .current_dir(&dir));
        }
    });
}

fn python_ready(dir: &Path) -> bool {
    Command::new(dir.join(".venv/bin/python"))
        .args(["-c", "import mcp.server.mcpserver, uvicorn"])
        .status()
        .is_ok_and(|s| s.success())
}

fn run(command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(status.success(), "{command:?} failed: {status}");
}

/// A scratch directory under the target dir, unique to one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("gateway-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An upstream command recorded: everything the upstream server receives on its stdin is
/// appended to `log` first. The recording shell's pid is written to `pid` (the last one
/// started); [`Recorded::crash`] kills the server and the recorder, as a crash would.
pub struct Recorded {
    pub upstream: Upstream,
    pub log: PathBuf,
    pub pid: PathBuf,
}

impl Recorded {
    /// `program args...` behind a recorder in `dir`.
    pub fn new(dir: &Path, program: &str, args: &[&str]) -> Recorded {
        let log = dir.join("upstream-stdin.jsonl");
        let pid = dir.join("upstream.pid");
        let quoted: Vec<String> = std::iter::once(program)
            .chain(args.iter().copied())
            .map(shell_quote)
            .collect();
        // A background job's stdin is /dev/null unless redirected, hence the copy on fd 3.
        let script = format!(
            "echo $$ > {pid}; exec 3<&0; tee -a {log} <&3 | {command} & wait",
            log = shell_quote(log.to_str().unwrap()),
            pid = shell_quote(pid.to_str().unwrap()),
            command = quoted.join(" "),
        );
        let upstream = Upstream::command(["sh".to_owned(), "-c".to_owned(), script]).unwrap();
        Recorded { upstream, log, pid }
    }

    /// Kills the upstream server and its recorder with SIGKILL: the session's upstream is gone.
    pub fn crash(&self) {
        let shell = std::fs::read_to_string(&self.pid).unwrap();
        let killed = Command::new("pkill")
            .args(["-9", "-P", shell.trim()])
            .status()
            .unwrap();
        assert!(killed.success(), "nothing to kill under {}", shell.trim());
    }

    /// What the upstream server has received so far.
    pub fn received(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many JSON-RPC messages of `method` the upstream server received.
    pub fn count(&self, method: &str) -> usize {
        self.received()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|message| message["method"] == method)
            .count()
    }

    /// How many `tools/call` of `tool` the upstream server received.
    pub fn calls_of(&self, tool: &str) -> usize {
        self.received()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|m| m["method"] == "tools/call" && m["params"]["name"] == tool)
            .count()
    }
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// server-everything over stdio, recorded in `dir`.
pub fn everything(dir: &Path) -> Recorded {
    ensure_installed();
    let entry =
        third_party().join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    Recorded::new(dir, "node", &[entry.to_str().unwrap(), "stdio"])
}

/// server-filesystem over stdio on `root`, recorded in `dir`.
pub fn filesystem(dir: &Path, root: &Path) -> Recorded {
    ensure_installed();
    let entry =
        third_party().join("node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
    Recorded::new(
        dir,
        "node",
        &[entry.to_str().unwrap(), root.to_str().unwrap()],
    )
}

/// A gateway in front of `upstream` with `policy` (TOML; allow all when `None`), served on a
/// free loopback port.
pub async fn serve(
    upstream: Upstream,
    policy: Option<&str>,
    customize: impl FnOnce(&mut GatewayOptions),
) -> (SocketAddr, Gateway) {
    let mut options = GatewayOptions::default();
    if let Some(policy) = policy {
        options.policy = PolicyHandle::new(GatewayPolicy::from_toml(policy).unwrap());
    }
    customize(&mut options);
    let gateway = Gateway::new(upstream, gate(), options).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = gateway.router();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, gateway)
}

/// An attested test client, and what it saw arrive on its own: progress notifications,
/// list-changed events and sampling requests.
#[derive(Clone, Default)]
pub struct Agent {
    config: ClientConfig,
    pub progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    pub tool_list_changes: Arc<AtomicU64>,
    pub sampling_requests: Arc<AtomicU64>,
    pub elicitation_requests: Arc<AtomicU64>,
    pub roots_requests: Arc<AtomicU64>,
}

/// What the test agent's "model" answers to a sampling request.
pub const SAMPLED: &str = "sampled by the agent's model";

/// The root the test agent's client lists.
pub const ROOT: &str = "file:///agent/workspace";

impl Agent {
    /// A client presenting `token` in its capabilities (both carriers), or nothing.
    pub fn new(token: Option<&str>) -> Agent {
        Agent::with_capabilities(token, Map::new())
    }

    /// [`Agent::new`], also declaring that it can take sampling requests.
    pub fn sampling(token: Option<&str>) -> Agent {
        let mut capabilities = Map::new();
        capabilities.insert("sampling".into(), Value::Object(Map::new()));
        Agent::with_capabilities(token, capabilities)
    }

    /// [`Agent::new`], also declaring that it can take elicitation and roots requests.
    pub fn elicitation_and_roots(token: Option<&str>) -> Agent {
        let capabilities = serde_json::json!({
            "elicitation": {"form": {}},
            "roots": {"listChanged": true},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        Agent::with_capabilities(token, capabilities)
    }

    fn with_capabilities(token: Option<&str>, mut capabilities: Map<String, Value>) -> Agent {
        if let Some(token) = token {
            ClientAttestation::new(token.to_owned())
                .unwrap()
                .insert_into_capabilities(&mut capabilities, Carriers::Both)
                .unwrap();
        }
        let capabilities: ClientCapabilities =
            serde_json::from_value(Value::Object(capabilities)).unwrap();
        Agent {
            config: ClientConfig::new(
                capabilities,
                Implementation::new("gateway-test-agent", "1.0.0"),
            ),
            ..Agent::default()
        }
    }

    /// Connects to the gateway at `addr` over streamable HTTP (runs `initialize`).
    pub async fn connect(
        self,
        addr: SocketAddr,
    ) -> Result<RunningService<RoleClient, Agent>, rmcp::service::ClientInitializeError> {
        let transport = StreamableHttpClientTransport::from_uri(format!("http://{addr}/mcp"));
        self.serve(transport).await
    }
}

/// An agent presenting a fresh fixtures token, connected to the gateway at `addr`.
pub async fn attested_agent(addr: SocketAddr) -> RunningService<RoleClient, Agent> {
    Agent::new(Some(&token())).connect(addr).await.unwrap()
}

impl ClientHandler for Agent {
    fn get_info(&self) -> ClientConfig {
        self.config.clone()
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tool_list_changes.fetch_add(1, Ordering::SeqCst);
    }

    #[allow(deprecated)]
    async fn create_message(
        &self,
        _params: rmcp::model::CreateMessageRequestParams,
        _context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::CreateMessageResult, rmcp::ErrorData> {
        self.sampling_requests.fetch_add(1, Ordering::SeqCst);
        Ok(rmcp::model::CreateMessageResult::new(
            rmcp::model::SamplingMessage::assistant_text(SAMPLED),
            "test-model".into(),
        ))
    }

    async fn create_elicitation(
        &self,
        _request: rmcp::model::ElicitRequestParams,
        _context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, rmcp::ErrorData> {
        self.elicitation_requests.fetch_add(1, Ordering::SeqCst);
        Ok(
            rmcp::model::ElicitResult::new(rmcp::model::ElicitationAction::Accept)
                .with_content(serde_json::json!({"name": "the agent's user"})),
        )
    }

    #[allow(deprecated)]
    async fn list_roots(
        &self,
        _context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ListRootsResult, rmcp::ErrorData> {
        self.roots_requests.fetch_add(1, Ordering::SeqCst);
        Ok(rmcp::model::ListRootsResult::new(vec![
            rmcp::model::Root::new(ROOT),
        ]))
    }
}

/// `_meta` of a stateless (2026-07-28) request, with the attestation carrier when given.
pub fn stateless_meta(token: Option<&str>) -> Value {
    let mut meta = serde_json::json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw-client", "version": "1.0.0"},
    });
    if let Some(token) = token {
        meta[attest_protocol::EXTENSION_ID] = ClientAttestation::compact(token).unwrap().to_value();
    }
    meta
}

/// POSTs one stateless 2026-07-28 `tools/call` of `tool` to `url`, with no `initialize` and no
/// session, the way a stateless client (or an attacker) sends it; returns the JSON-RPC answer.
pub async fn stateless_call(url: &str, tool: &str, arguments: Value, meta: Value) -> Value {
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": meta},
    });
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    // The answer may come as JSON or as one SSE event.
    let json = text
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .unwrap_or(&text)
        .trim();
    serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {text}"))
}

/// The text content of a tool result.
pub fn text(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

/// `python_server.py` (the official Python `mcp` SDK) running as a streamable-HTTP server on a
/// free loopback port, killed when dropped. Its stderr (one `recv {...}` line per JSON-RPC
/// message it received) goes to a file, so a test can read what reached it.
pub struct PythonServer {
    child: std::process::Child,
    /// Held so that the server never writes into a closed pipe.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
    /// Its MCP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    stderr: PathBuf,
}

impl PythonServer {
    /// Starts the server, logging to `dir`, and waits for its `listening URL` line.
    pub fn start(dir: &Path) -> PythonServer {
        use std::io::BufRead;
        ensure_installed();
        let stderr = dir.join("python-stderr.log");
        let mut child = Command::new(third_party().join(".venv/bin/python"))
            .args(["python_server.py", "--port", "0"])
            .current_dir(third_party())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("cannot start python_server.py");
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| {
                let log = std::fs::read_to_string(&stderr).unwrap_or_default();
                panic!("python_server.py did not start: {line:?}\n{log}")
            })
            .to_owned();
        PythonServer {
            child,
            _stdout: stdout,
            url,
            stderr,
        }
    }

    /// The server's own count of `tools/call` requests received (`GET /calls`, not a call).
    pub async fn calls(&self) -> u64 {
        let url = format!("{}/calls", self.url.trim_end_matches("/mcp"));
        let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        body["tools_call"]
            .as_u64()
            .unwrap_or_else(|| panic!("not a count: {body}"))
    }

    /// The JSON-RPC messages the server received so far: `{"method", "id", "name"}` each.
    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.stderr)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.strip_prefix("recv "))
            .map(|json| serde_json::from_str(json).unwrap())
            .collect()
    }

    /// How many messages of `method` the server received.
    pub fn received_count(&self, method: &str) -> usize {
        self.received()
            .iter()
            .filter(|m| m["method"] == method)
            .count()
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
