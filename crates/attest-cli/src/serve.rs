//! `attest serve`: the reference attested MCP server. attest-mcp-server over streamable HTTP at
//! `/mcp`, with `/health` and `/metrics`, three tools that read the verified agent, a replay
//! store on Redis or in memory, and a clean shutdown on SIGINT/SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use attest_cache::{MemoryReplayStore, RedisConfig, RedisReplayStore, ReplayMetrics, ReplayStore};
use attest_core::{Reason, SafetyLevel};
use attest_mcp_server::{AttestationStatus, Enforcement, ProofStatus, VerifiedAgent, Verifier};
use attest_observe::Observer;
use attest_protocol::AttestationError;
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ErrorCode, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
use rmcp::{ErrorData as McpError, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde_json::{Value, json};

use crate::gate::GateArgs;
use crate::output::{self, CliError};
use crate::trust::{PolicyArgs, Source};

/// How long a shutdown waits for open requests and streams before it stops anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Arguments of `attest serve`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  # Trust one issuer's JWKS file; the server's audience is its MCP URL:
  attest serve --listen 127.0.0.1:8080 --issuer https://issuer.example \\
      --audience http://127.0.0.1:8080/mcp --jwks jwks.json

  # Several replicas sharing one replay store, keys fetched from the issuer:
  attest serve --listen 0.0.0.0:8080 --allowed-host tools.example \\
      --issuer https://issuer.example --audience https://tools.example/mcp \\
      --jwks-url https://issuer.example/.well-known/jwks.json --redis redis://redis:6379

  # Key-bound attestation (SPEC.md §17): every request must carry a proof signed with the
  # key the token's cnf names, so a stolen token is worthless on its own:
  attest serve --listen 127.0.0.1:8080 --issuer https://issuer.example \\
      --audience http://127.0.0.1:8080/mcp --jwks jwks.json --proof required

  # A free port (printed as `listening on http://127.0.0.1:PORT/mcp`):
  attest serve --listen 127.0.0.1:0 --issuer ... --audience ... --jwks jwks.json

Endpoints: /mcp (MCP streamable HTTP; every request passes the attestation gate, in both
protocol generations), /health, /metrics (Prometheus).

Tools: `whoami` returns the verified agent and the outcome of its proof of possession as
JSON; `echo` returns its `text`; `deploy` shows a per-tool requirement (a verified agent with
safety level >= enhanced that declared the capability `deploy`), refused with
attestation_claims_insufficient otherwise.

Replay store: Redis with --redis (shared by replicas; fails closed: while Redis is unreachable,
attested requests are refused), else memory (this process only). The choice is printed at
start. SIGINT or SIGTERM stops the server cleanly.")]
pub(crate) struct ServeArgs {
    /// The address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    listen: String,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    gate: GateArgs,
    /// A Redis URL (redis:// or rediss://) for the replay store, shared by replicas.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// A `Host` header value to serve (DNS-rebinding protection). Default: localhost,
    /// 127.0.0.1 and ::1 only. Repeatable.
    #[arg(long = "allowed-host", value_name = "HOST")]
    allowed_hosts: Vec<String>,
}

/// `attest serve`.
pub(crate) fn run(args: &ServeArgs) -> Result<(), CliError> {
    output::init_logging();
    runtime()?.block_on(async {
        let verifier = verifier(&args.policy, args.redis.as_deref()).await?;
        let enforcement = args.gate.enforcement();
        let gate = args.gate.gate(verifier)?;
        let context = Arc::new(ToolContext {
            enforcement,
            trusted_issuers: args.policy.issuer.clone(),
        });
        eprintln!(
            "attest serve: {}, trusting {}, audience {}",
            args.gate.describe(),
            args.policy.issuer.join(", "),
            args.policy.audience.join(", ")
        );
        serve_mcp(&args.listen, &args.allowed_hosts, |config| {
            attest_mcp_server::http::router_with_config(
                move || Tools::new(Arc::clone(&context)),
                gate,
                config,
            )
        })
        .await
    })
}

/// Serves the MCP router `app` builds (from rmcp's streamable-HTTP configuration, with
/// `allowed_hosts`) at `listen`, until SIGINT or SIGTERM, which also ends rmcp's open streams.
pub(crate) async fn serve_mcp(
    listen: &str,
    allowed_hosts: &[String],
    app: impl FnOnce(StreamableHttpServerConfig) -> axum::Router,
) -> Result<(), CliError> {
    let mut config = StreamableHttpServerConfig::default();
    if !allowed_hosts.is_empty() {
        config = config.with_allowed_hosts(allowed_hosts.to_vec());
    }
    let cancel = config.cancellation_token.clone();
    let app = app(config);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| CliError::failed(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::failed(format!("cannot read the bound address: {e}")))?;
    if allowed_hosts.is_empty() && !addr.ip().is_loopback() {
        eprintln!(
            "note: only requests with Host localhost, 127.0.0.1 or ::1 are served; add \
             --allowed-host NAME for the names clients use"
        );
    }
    // Scripts and tests read this line to learn the port.
    eprintln!("listening on http://{addr}/mcp");
    serve_until_signal(listener, app, move || cancel.cancel()).await
}

/// The multi-threaded runtime of a serving command.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the runtime: {e}")))
}

/// The verifier of a serving command: the trust flags, keys (fetched ones warmed up in the
/// background), metrics, and the replay store (Redis at `redis`, else memory).
pub(crate) async fn verifier(
    trust: &PolicyArgs,
    redis: Option<&str>,
) -> Result<Verifier, CliError> {
    let policy = trust.policy()?;
    let observer = Observer::builder()
        .policy(&policy)
        .build()
        .map_err(|e| CliError::failed(format!("metrics: {e}")))?;
    let source = trust.key_source(&observer)?.build(None)?;
    if let Source::Fetched(resolver) = &source {
        warm_up(resolver, &trust.issuer);
    }
    let replay = replay_store(redis, &observer).await?;
    Verifier::builder(policy)
        .shared_keys(source.into_key_source())
        .replay_store(replay)
        .observer(observer)
        .build()
        .map_err(|e| CliError::failed(format!("cannot build the verifier: {e}")))
}

/// Starts a fetch of each issuer's keys in the background, and says how it went.
fn warm_up(resolver: &attest_jwks::JwksResolver, issuers: &[String]) {
    for issuer in issuers {
        let resolver = resolver.clone();
        let issuer = issuer.clone();
        tokio::spawn(async move {
            match resolver.refresh(&issuer).await {
                Ok(count) => eprintln!("keys: {count} usable key(s) for {issuer}"),
                Err(e) => eprintln!(
                    "warning: cannot fetch the keys of {issuer} yet ({}); tokens it signed are \
                     refused until they can be fetched",
                    output::one_line(&e.to_string())
                ),
            }
        });
    }
}

/// The replay store: Redis (fail closed) when a URL is given, else memory. Says which.
async fn replay_store(
    redis: Option<&str>,
    observer: &Observer,
) -> Result<Arc<dyn ReplayStore>, CliError> {
    let metrics = ReplayMetrics::register(observer.registry())
        .map_err(|e| CliError::failed(format!("metrics: {e}")))?;
    match redis {
        Some(url) => {
            let config = RedisConfig::from_url(url)
                .map_err(|e| CliError::usage(format!("--redis: {e}")))?
                .metrics(&metrics);
            let shown = config.redacted_url();
            let store = RedisReplayStore::new(config)
                .map_err(|e| CliError::usage(format!("--redis: {e}")))?;
            eprintln!(
                "replay store: redis at {shown}, fail closed (attested requests are refused \
                 while it is unreachable)"
            );
            if let Err(e) = store.ping().await {
                eprintln!(
                    "warning: redis at {shown} does not answer yet ({}): attested requests are \
                     refused until it does",
                    output::one_line(&e.to_string())
                );
            }
            Ok(Arc::new(store))
        }
        None => {
            let store = MemoryReplayStore::builder()
                .metrics(&metrics)
                .build()
                .map_err(|e| CliError::failed(format!("replay store: {e}")))?;
            eprintln!(
                "replay store: memory (this process only; use --redis to share it between \
                 replicas)"
            );
            Ok(Arc::new(store))
        }
    }
}

/// Serves `app` until SIGINT or SIGTERM, then shuts down gracefully: `on_signal` runs (to end
/// open MCP streams), open requests get [`SHUTDOWN_GRACE`] to finish, and the server stops.
pub(crate) async fn serve_until_signal(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    on_signal: impl FnOnce() + Send + 'static,
) -> Result<(), CliError> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // Without TCP_NODELAY the last write of a streamed response waits for the peer's delayed
    // ACK: a stateless request on a keep-alive connection took 24 ms instead of 57 µs.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        // A dropped sender also stops the server.
        let _ = stop_rx.await;
    });
    let mut server = std::pin::pin!(server.into_future());
    tokio::select! {
        result = &mut server => {
            return result.map_err(|e| CliError::failed(format!("server failed: {e}")));
        }
        signal = shutdown_signal() => {
            signal?;
        }
    }
    eprintln!("shutting down");
    on_signal();
    let _ = stop_tx.send(());
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(result) => result.map_err(|e| CliError::failed(format!("server failed: {e}"))),
        Err(_) => {
            eprintln!(
                "open connections did not finish within {}s; stopped",
                SHUTDOWN_GRACE.as_secs()
            );
            Ok(())
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() -> Result<(), CliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())
        .map_err(|e| CliError::failed(format!("cannot handle SIGTERM: {e}")))?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => {
            result.map_err(|e| CliError::failed(format!("cannot handle SIGINT: {e}")))
        }
        _ = terminate.recv() => Ok(()),
    }
}

/// What the tools need to know about the server, to explain a refusal.
struct ToolContext {
    enforcement: Enforcement,
    trusted_issuers: Vec<String>,
}

/// The reference server's tools. Every call has passed the attestation gate before it gets
/// here; the tools read the outcome from the request extensions.
#[derive(Clone)]
struct Tools {
    context: Arc<ToolContext>,
    tool_router: ToolRouter<Self>,
}

/// Arguments of `echo`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// The text to return.
    text: String,
}

/// Arguments of `deploy`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct DeployArgs {
    /// What to deploy.
    #[serde(default)]
    target: Option<String>,
}

#[tool_router]
impl Tools {
    fn new(context: Arc<ToolContext>) -> Self {
        Tools {
            context,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Who is calling: the verified agent identity, as JSON")]
    async fn whoami(
        &self,
        Extension(status): Extension<AttestationStatus>,
        Extension(proof): Extension<ProofStatus>,
    ) -> Result<CallToolResult, McpError> {
        let mut json = whoami_json(&status);
        if let Value::Object(map) = &mut json {
            map.insert("proof".into(), proof_json(&proof));
        }
        let text = output::pretty(&json);
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
    }

    #[tool(description = "Echo the text back")]
    async fn echo(
        &self,
        Parameters(args): Parameters<EchoArgs>,
    ) -> Result<CallToolResult, McpError> {
        Ok(CallToolResult::success(vec![ContentBlock::text(args.text)]))
    }

    #[tool(
        description = "A privileged action with a per-tool requirement: a verified agent with \
                       safety level enhanced (or higher) that declared the capability `deploy`"
    )]
    async fn deploy(
        &self,
        Extension(status): Extension<AttestationStatus>,
        Parameters(args): Parameters<DeployArgs>,
    ) -> Result<CallToolResult, McpError> {
        // The per-tool requirement. Safety levels compare by their order, never as strings.
        match status.agent() {
            Some(agent)
                if agent.safety_level() >= SafetyLevel::Enhanced
                    && agent.has_capability("deploy") =>
            {
                let target = args.target.as_deref().unwrap_or("the default target");
                Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                    "deployed {target} for {} ({} {})",
                    agent.subject(),
                    agent.identity().model_family,
                    agent.identity().model_version
                ))]))
            }
            _ => Err(self.insufficient(
                "deploy requires a verified agent with safety level >= enhanced and the \
                 capability `deploy`",
            )),
        }
    }
}

impl Tools {
    /// A per-tool refusal, as the protocol's `attestation_claims_insufficient` error with the
    /// requirement in `data.requirement`.
    fn insufficient(&self, requirement: &str) -> McpError {
        let error = AttestationError::new(
            Reason::ClaimsInsufficient,
            self.context.enforcement,
            self.context.trusted_issuers.iter().map(String::as_str),
        )
        .to_json_rpc();
        let mut data = error.data.unwrap_or_else(|| json!({}));
        if let Value::Object(map) = &mut data {
            map.insert("requirement".into(), requirement.into());
        }
        // Our codes (-31001..-31013) fit in an i32; the fallback is the first of them.
        let code = i32::try_from(error.code).unwrap_or(attest_protocol::ERROR_CODE_BASE);
        McpError::new(ErrorCode(code), error.message, Some(data))
    }
}

/// The outcome of the gate, as `whoami` reports it.
fn whoami_json(status: &AttestationStatus) -> Value {
    match status {
        AttestationStatus::Verified(agent) => verified_json(agent),
        AttestationStatus::Failed(reason) => {
            json!({"verification_status": "failed", "reason": reason.as_str()})
        }
        AttestationStatus::Absent => json!({"verification_status": "absent"}),
    }
}

/// What the gate decided about the request's proof of possession.
fn proof_json(proof: &ProofStatus) -> Value {
    match proof {
        ProofStatus::Verified { thumbprint } => {
            json!({"status": "verified", "thumbprint": thumbprint})
        }
        ProofStatus::Absent => json!({"status": "absent"}),
        ProofStatus::NotChecked => json!({"status": "not_checked"}),
    }
}

fn verified_json(agent: &VerifiedAgent) -> Value {
    json!({
        "verification_status": "verified",
        "trust_level": agent.trust_level().to_string(),
        "issuer": agent.issuer(),
        "subject": agent.subject(),
        "agent_identity": agent.identity(),
        "agent_integrity": agent.integrity(),
        "attestation_metadata": agent.metadata(),
        "expires_at": agent.expires_at().as_secs(),
        "key_bound": agent.is_key_bound(),
    })
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}
