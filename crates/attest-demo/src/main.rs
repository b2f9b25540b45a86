//! `attest-demo`: the demo's client scenario, narrated step by step with ✓/✗ and the reason.
//!
//! ```text
//! attest-demo --issuer URL --server URL/mcp --audience AUD [--client-secret S]
//! attest-demo wait URL        # exit 0 once URL answers 200 (a health check for scripts)
//! ```
//!
//! It talks to a development issuer (`attest issuer serve`) and the reference attested server
//! (`attest serve`), over loopback HTTP. `cargo xtask demo` runs it against local processes;
//! `demo/docker-compose.yml` runs the very same binary as its `client` service. The exit
//! status is 0 only if every step behaved as expected.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use attest_core::{AgentIdentity, AttestationMetadata, Reason, SigningKey, TokenBuilder, UnixTime};
use attest_mcp_client::{AttestationRejection, RemoteIssuer, StaticToken, TokenSource, attesting};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};

struct Args {
    issuer: String,
    server: String,
    audience: String,
    client_secret: Option<String>,
}

fn usage() -> String {
    "usage: attest-demo --issuer URL --server URL --audience AUD [--client-secret S]\n       attest-demo wait URL".into()
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut issuer, mut server, mut audience, mut client_secret) = (None, None, None, None);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--issuer" => issuer = Some(value()?),
            "--server" => server = Some(value()?),
            "--audience" => audience = Some(value()?),
            "--client-secret" => client_secret = Some(value()?),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    Ok(Args {
        issuer: issuer.ok_or_else(usage)?,
        server: server.ok_or_else(usage)?,
        audience: audience.ok_or_else(usage)?,
        client_secret,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("wait") {
        let url = args.nth(1).unwrap_or_default();
        return if answers(&url).await {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let args = match parse(args) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match Scenario::new(args).run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            println!("\nsome steps did not behave as expected");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn answers(url: &str) -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build();
    match client {
        Ok(client) => client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success()),
        Err(_) => false,
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// What a step observed: an accepted call with its text, or a refusal with its reason.
enum Outcome {
    Accepted(String),
    Refused(String),
}

struct Scenario {
    args: Args,
    all_ok: bool,
}

impl Scenario {
    fn new(args: Args) -> Scenario {
        Scenario { args, all_ok: true }
    }

    /// Prints one step: ✓ when `outcome` is what was expected (`None` = accepted).
    fn step(&mut self, name: &str, expected: Option<Reason>, outcome: &Outcome) {
        let ok = match (outcome, expected) {
            (Outcome::Accepted(_), None) => true,
            (Outcome::Refused(reason), Some(expected)) => reason == expected.as_str(),
            _ => false,
        };
        self.all_ok &= ok;
        let mark = if ok { "✓" } else { "✗" };
        match outcome {
            Outcome::Accepted(text) => println!("{mark} {name}: accepted\n    {}", summary(text)),
            Outcome::Refused(reason) => println!("{mark} {name}: refused — {reason}"),
        }
        if !ok {
            let wanted = expected.map_or("accepted".to_owned(), |r| format!("refused with {r}"));
            println!("    expected: {wanted}");
        }
    }

    fn issuer_source(&self) -> Result<RemoteIssuer, Error> {
        let mut builder =
            RemoteIssuer::builder(self.args.issuer.clone()).dangerous_allow_http_loopback();
        if let Some(secret) = &self.args.client_secret {
            builder = builder.client_secret(secret.clone());
        }
        Ok(builder.build()?)
    }

    /// A token for `audience` from the issuer's token endpoint.
    async fn issued_token(&self, audience: &str) -> Result<String, Error> {
        Ok(self
            .issuer_source()?
            .token(audience)
            .await?
            .as_str()
            .to_owned())
    }

    /// Opens a session (`initialize`) presenting `token`, and calls `whoami`.
    async fn session(&self, token: &str) -> Result<Outcome, Error> {
        let source: Arc<dyn TokenSource> = Arc::new(StaticToken::new(token)?);
        let transport = attesting(
            StreamableHttpClientTransport::from_uri(self.args.server.clone()),
            source,
            self.args.audience.clone(),
        );
        let client = match ().serve(transport).await {
            Ok(client) => client,
            Err(e) => return refusal(e.rejection_reason(), &e),
        };
        let result = client.call_tool(CallToolRequestParams::new("whoami")).await;
        let _ = client.cancel().await;
        match result {
            Ok(result) => Ok(Outcome::Accepted(
                result
                    .content
                    .iter()
                    .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                    .collect(),
            )),
            Err(e) => refusal(e.rejection_reason(), &e),
        }
    }

    /// One stateless 2026-07-28 `tools/call`, without `initialize` and without attestation.
    async fn stateless_call_without_attestation(&self) -> Result<Outcome, Error> {
        let body = json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "whoami", "arguments": {}, "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            }},
        });
        let text = reqwest::Client::new()
            .post(&self.args.server)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "whoami")
            .body(body.to_string())
            .send()
            .await?
            .text()
            .await?;
        let json = text
            .lines()
            .find_map(|l| l.strip_prefix("data:"))
            .unwrap_or(&text)
            .trim();
        let message: Value = serde_json::from_str(json)?;
        let reason = message
            .pointer("/error/data/reason")
            .and_then(Value::as_str);
        Ok(match reason {
            Some(reason) => Outcome::Refused(reason.to_owned()),
            None => Outcome::Accepted(
                message
                    .get("result")
                    .map(Value::to_string)
                    .unwrap_or_default(),
            ),
        })
    }

    async fn run(mut self) -> Result<bool, Error> {
        println!(
            "attest demo: issuer {}, server {}\n",
            self.args.issuer, self.args.server
        );

        // 1. A legit agent gets a token from its issuer and calls a tool.
        let token = self.issued_token(&self.args.audience.clone()).await?;
        let legit = self.session(&token).await?;
        self.step("legit agent initializes and calls whoami", None, &legit);

        // 2. An attacker signs its own token with the issuer's name and kid.
        let forged = self.forged_token(&token)?;
        let outcome = self.session(&forged).await?;
        self.step(
            "forged token (the attacker's own key)",
            Some(Reason::Invalid),
            &outcome,
        );

        // 3. The legit token, replayed in a new session.
        let outcome = self.session(&token).await?;
        self.step(
            "legit token replayed in a new session",
            Some(Reason::Replay),
            &outcome,
        );

        // 4. A genuine token, but minted for another server.
        let elsewhere = self
            .issued_token("https://another-server.example/mcp")
            .await?;
        let outcome = self.session(&elsewhere).await?;
        self.step(
            "token for another audience",
            Some(Reason::AudienceMismatch),
            &outcome,
        );

        // 5. The stateless bypass: one 2026-07-28 POST of tools/call, no initialize, no token.
        let outcome = self.stateless_call_without_attestation().await?;
        self.step(
            "2026-07-28 tools/call without attestation",
            Some(Reason::Required),
            &outcome,
        );

        // 6. The issuer rotates its key; the server picks the new kid up without a restart.
        self.rotate_issuer_key().await?;
        let rotated = self.issued_token(&self.args.audience.clone()).await?;
        let (old_kid, new_kid) = (kid_of(&token), kid_of(&rotated));
        let outcome = self.session(&rotated).await?;
        let name = format!("after key rotation ({old_kid} → {new_kid}), a new token");
        self.step(&name, None, &outcome);
        if old_kid == new_kid {
            println!("✗ the issuer's kid did not change on rotation");
            self.all_ok = false;
        }
        Ok(self.all_ok)
    }

    /// A token with the legit token's issuer, subject and kid, signed by a key the attacker made.
    fn forged_token(&self, legit: &str) -> Result<String, Error> {
        let kid = kid_of(legit);
        let attacker = SigningKey::from_seed(&[0x66; 32], &kid)?;
        let now = UnixTime::from(std::time::SystemTime::now());
        let token = TokenBuilder::new(
            self.args.issuer.clone(),
            "spiffe://attacker.example/model/fake",
        )
        .audience(self.args.audience.clone())
        .identity(AgentIdentity::new("claude", "opus-9", "anthropic"))
        .metadata(AttestationMetadata::provider())
        .sign(&attacker, now, &mut ChaCha20Rng::from_seed([0x66; 32]))?;
        Ok(token)
    }

    async fn rotate_issuer_key(&self) -> Result<(), Error> {
        let url = format!("{}/rotate", self.args.issuer.trim_end_matches('/'));
        let mut request = reqwest::Client::new().post(&url);
        if let Some(secret) = &self.args.client_secret {
            request = request.bearer_auth(secret);
        }
        let response = request.send().await?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()).into());
        }
        println!("  (the issuer rotated its signing key)");
        Ok(())
    }
}

/// The `kid` of a token's header (read without verifying: it only names a key).
fn kid_of(token: &str) -> String {
    attest_core::dangerous::decode_json(token)
        .ok()
        .and_then(|(header, _)| header.get("kid").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

fn refusal(reason: Option<Reason>, error: &dyn std::fmt::Display) -> Result<Outcome, Error> {
    match reason {
        Some(reason) => Ok(Outcome::Refused(reason.as_str().to_owned())),
        None => Err(format!("the server failed without an attestation reason: {error}").into()),
    }
}

/// One line for a `whoami` answer: the verified identity when it is JSON, else the text.
fn summary(text: &str) -> String {
    let Ok(agent) = serde_json::from_str::<Value>(text) else {
        return text.to_owned();
    };
    let field = |path: &str| {
        agent
            .pointer(path)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    format!(
        "verified agent: {} {} by {} ({}), issuer {}, trust {}, safety {}",
        field("/agent_identity/model_family"),
        field("/agent_identity/model_version"),
        field("/agent_identity/provider"),
        field("/subject"),
        field("/issuer"),
        field("/trust_level"),
        field("/attestation_metadata/safety_level"),
    )
}
