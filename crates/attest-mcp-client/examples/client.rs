//! An attested MCP client: connects over streamable HTTP and calls a tool (`whoami` by default).
//!
//! ```text
//! # 1. A key for the agent (private JWK) and its issuer's JWKS (public), for the server.
//! cargo run -p attest-mcp-client --example client -- --keygen agent-key.jwk > issuer-jwks.json
//!
//! # 2. A server that trusts that issuer (see attest-mcp-server's example).
//! cargo run -p attest-mcp-server --example attested_server -- --jwks issuer-jwks.json \
//!     --issuer https://issuer.example --audience https://tools.example/mcp --http 127.0.0.1:8080
//!
//! # 3. The client.
//! cargo run -p attest-mcp-client --example client -- http://127.0.0.1:8080/mcp \
//!     --key agent-key.jwk --issuer https://issuer.example --audience https://tools.example/mcp \
//!     [--discover] [--per-request] [--calls N] [--tool NAME] [--safety LEVEL] [--capability NAME]...
//! ```
//!
//! Every request goes through an `AttestingTransport`, so each carries a token from a
//! `LocalSigner` in `_meta` (and `initialize` carries it in its capabilities too). With
//! `--discover` the client speaks protocol 2026-07-28 (no `initialize`, `server/discover`
//! first) and mints a fresh token per request, as a stateless server that records `jti`s
//! requires. A refusal prints the server's stable reason.

use std::process::ExitCode;
use std::sync::Arc;

use attest_core::{AgentIdentity, AttestationMetadata, Jwk, SafetyLevel, SigningKey, TokenBuilder};
use attest_mcp_client::{AttestationRejection, Freshness, LocalSigner, TokenSource, attesting};
use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientLifecycleMode, ClientServiceExt};

struct Args {
    url: String,
    key: String,
    issuer: String,
    audience: Option<String>,
    tool: String,
    calls: usize,
    discover: bool,
    per_request: bool,
    safety: SafetyLevel,
    capabilities: Vec<String>,
}

enum Command {
    Keygen(String),
    Call(Args),
}

fn parse_args() -> Result<Command, String> {
    let mut args = std::env::args().skip(1);
    let mut url = None;
    let mut key = None;
    let mut issuer = "https://issuer.example".to_owned();
    let (mut audience, mut tool, mut calls) = (None, "whoami".to_owned(), 1);
    let (mut discover, mut per_request) = (false, false);
    let (mut safety, mut capabilities) = (SafetyLevel::Standard, Vec::new());
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--keygen" => return Ok(Command::Keygen(value()?)),
            "--key" => key = Some(value()?),
            "--issuer" => issuer = value()?,
            "--audience" => audience = Some(value()?),
            "--tool" => tool = value()?,
            "--calls" => calls = value()?.parse().map_err(|e| format!("--calls: {e}"))?,
            "--discover" => discover = true,
            "--per-request" => per_request = true,
            "--safety" => {
                safety = match value()?.as_str() {
                    "minimal" => SafetyLevel::Minimal,
                    "standard" => SafetyLevel::Standard,
                    "enhanced" => SafetyLevel::Enhanced,
                    other => return Err(format!("unknown safety level {other}")),
                }
            }
            "--capability" => capabilities.push(value()?),
            flag if flag.starts_with("--") => return Err(format!("unknown argument {flag}")),
            _ if url.is_none() => url = Some(arg),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    Ok(Command::Call(Args {
        url: url.ok_or("the server URL is required, e.g. http://127.0.0.1:8080/mcp")?,
        key: key.ok_or("--key FILE (a private Ed25519 JWK) is required")?,
        issuer,
        audience,
        tool,
        calls,
        discover,
        per_request,
        safety,
        capabilities,
    }))
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match parse_args() {
        Ok(Command::Keygen(path)) => keygen(&path),
        Ok(Command::Call(args)) => call(args).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes a new private JWK to `path` and prints the issuer's public JWKS.
fn keygen(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| e.to_string())?;
    let key = SigningKey::generate(&mut ChaCha20Rng::from_seed(seed)).with_kid("agent-key-1")?;
    std::fs::write(path, key.to_private_jwk().to_json())?;
    println!("{{\"keys\":[{}]}}", key.to_public_jwk().to_json());
    eprintln!("wrote the private key to {path}; the JWKS above is for the server");
    Ok(())
}

async fn call(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let jwk = std::fs::read_to_string(&args.key).map_err(|e| format!("{}: {e}", args.key))?;
    let key = SigningKey::from_jwk(&Jwk::from_json(&jwk)?)?;
    let mut metadata = AttestationMetadata::provider();
    metadata.safety_level = args.safety;
    metadata.capabilities_declared = args.capabilities;
    let template = TokenBuilder::new(&args.issuer, "spiffe://issuer.example/model/example-agent")
        .identity(AgentIdentity::new("claude", "sonnet-4", "anthropic"))
        .metadata(metadata);
    let freshness = if args.per_request || args.discover {
        Freshness::PerRequest
    } else {
        Freshness::PerSession
    };
    let source: Arc<dyn TokenSource> =
        Arc::new(LocalSigner::new(key, template)?.with_freshness(freshness));
    let audience = args.audience.unwrap_or_else(|| args.url.clone());

    let transport = attesting(
        StreamableHttpClientTransport::from_uri(args.url.as_str()),
        source,
        audience,
    );
    let lifecycle = if args.discover {
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        }
    } else {
        ClientLifecycleMode::Initialize
    };
    let client = match ().serve_with_lifecycle(transport, lifecycle).await {
        Ok(client) => client,
        Err(e) => {
            if let Some(reason) = e.rejection_reason() {
                return Err(format!("the server refused the agent: {reason}").into());
            }
            return Err(e.into());
        }
    };

    for _ in 0..args.calls {
        match client
            .call_tool(CallToolRequestParams::new(args.tool.clone()))
            .await
        {
            Ok(result) => {
                for block in &result.content {
                    match block.as_text() {
                        Some(text) => println!("{}", text.text),
                        None => println!("{}", serde_json::to_string(block)?),
                    }
                }
                if result.is_error == Some(true) {
                    eprintln!("(the tool reported an error)");
                }
            }
            Err(e) => match e.rejected() {
                Some(refusal) => println!("refused: {refusal}"),
                None => return Err(e.into()),
            },
        }
    }
    client.cancel().await?;
    Ok(())
}
