//! `attest verify`: the MCP server's verification pipeline (attest-mcp-server's `Verifier`, with
//! an in-memory replay store) on one token, with exit status 0 (valid), 1 (rejected) or 2
//! (usage or configuration).

use std::process::ExitCode;

use attest_core::{Claims, Reason, UnixTime};
use attest_mcp_server::{VerifiedAgent, Verifier, VerifierError};
use attest_observe::Observer;

use crate::output::{self, CliError, EXIT_FAILED, EXIT_USAGE, Format};
use crate::trust::{PolicyArgs, Source};

/// Retries of a JWKS fetch from the command line: one, so that a down issuer fails fast.
const CLI_FETCH_RETRIES: u32 = 1;

/// Arguments of `attest verify`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  # Against a JWKS file:
  attest verify \"$TOKEN\" --issuer https://issuer.example \\
      --audience https://tools.example/mcp --jwks jwks.json

  # From standard input, against the issuer's published keys, as JSON:
  attest generate ... | attest verify - --issuer https://issuer.example \\
      --audience https://tools.example/mcp \\
      --jwks-url https://issuer.example/.well-known/jwks.json --output json

  # A token in the 0.1.0 format (typ JWT):
  attest verify \"$TOKEN\" --issuer https://issuer.example --audience https://t.example \\
      --jwks jwks.json --accept-typ JWT

Exit status: 0 valid, 1 rejected, 2 usage or configuration error (bad flags, an unreadable
JWKS, keys that cannot be fetched).

--output json prints one object: {\"valid\": bool, \"reason\": string|null, \"claims\": {...}|null}.
The reason is the stable string a server would send (SPEC.md §7); text output adds the precise
error, for you. The token runs through the same Verifier as `attest serve`, with an in-memory
replay store, so every check a server makes is made here.")]
pub(crate) struct VerifyArgs {
    /// The token, or `-` (the default) to read it from standard input.
    #[arg(value_name = "TOKEN|-")]
    token: Option<String>,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Text for people, or one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// `attest verify`.
pub(crate) fn run(args: &VerifyArgs) -> Result<ExitCode, CliError> {
    let policy = args.policy.policy()?;
    let observer = Observer::builder()
        .policy(&policy)
        .build()
        .map_err(|e| CliError::failed(format!("metrics: {e}")))?;
    let keys = args.policy.key_source(&observer)?;
    let token = output::read_token(args.token.as_deref())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the runtime: {e}")))?;
    let outcome = runtime.block_on(async {
        let source = keys.build(Some(CLI_FETCH_RETRIES))?;
        if let Source::Fetched(resolver) = &source {
            // Fetch up front, so that an unreachable or invalid JWKS is a configuration error
            // (exit 2), not a verdict on the token.
            for issuer in &args.policy.issuer {
                resolver.refresh(issuer).await.map_err(|e| {
                    CliError::usage(format!("cannot fetch the JWK Set of {issuer}: {e}"))
                })?;
            }
        }
        let verifier = Verifier::builder(policy)
            .shared_keys(source.into_key_source())
            .observer(observer)
            .build()
            .map_err(|e| CliError::failed(format!("cannot build the verifier: {e}")))?;
        Ok::<_, CliError>(verifier.verify(&token).await)
    })?;
    Ok(report(&outcome, args.output))
}

/// The JSON verdict: exactly these three members, in this order.
#[derive(serde::Serialize)]
struct Verdict<'a> {
    valid: bool,
    reason: Option<&'static str>,
    claims: Option<&'a Claims>,
}

fn print_json(verdict: &Verdict<'_>) {
    // Claims always serialize (strings, integers and JSON values); the fallback is unreachable.
    let text = serde_json::to_string(verdict)
        .unwrap_or_else(|_| r#"{"valid":false,"reason":null,"claims":null}"#.to_owned());
    println!("{text}");
}

/// Prints the outcome and returns the exit status.
fn report(outcome: &Result<VerifiedAgent, VerifierError>, format: Format) -> ExitCode {
    let now = output::now();
    match (outcome, format) {
        (Ok(agent), Format::Json) => print_json(&Verdict {
            valid: true,
            reason: None,
            claims: Some(agent.claims()),
        }),
        (Ok(agent), Format::Text) => {
            let identity = agent.identity();
            let metadata = agent.metadata();
            println!("VALID: agent attested by {}", agent.issuer());
            println!("  subject:      {}", agent.subject());
            let deployment = identity
                .deployment_id
                .as_deref()
                .map(|d| format!(" (deployment {d})"))
                .unwrap_or_default();
            println!(
                "  model:        {} {} by {}{deployment}",
                identity.model_family, identity.model_version, identity.provider
            );
            println!("  trust level:  {}", agent.trust_level());
            println!("  safety level: {}", agent.safety_level().as_str());
            if !metadata.capabilities_declared.is_empty() {
                println!(
                    "  capabilities: {}",
                    metadata.capabilities_declared.join(", ")
                );
            }
            if let Some(integrity) = agent.integrity() {
                if let Some(hash) = &integrity.system_prompt_hash {
                    println!("  system prompt: {}", hash.as_str());
                }
                if let Some(hash) = &integrity.config_hash {
                    println!("  config:       {}", hash.as_str());
                }
            }
            let exp = agent.expires_at().as_secs();
            println!(
                "  expires:      {} ({})",
                UnixTime::from_secs(exp).to_rfc3339(),
                output::expiry_relative(exp, now)
            );
        }
        (Err(error), Format::Json) => print_json(&Verdict {
            valid: false,
            reason: Some(error.reason().as_str()),
            claims: None,
        }),
        (Err(error), Format::Text) => {
            println!(
                "REJECTED: {}: {}",
                error.reason().as_str(),
                output::one_line(&error.to_string())
            );
        }
    }
    match outcome {
        Ok(_) => ExitCode::SUCCESS,
        // The keys or the replay store could not be had: the verdict is not about the token.
        Err(error) if error.reason() == Reason::Unavailable => {
            eprintln!(
                "error: no verdict: {}",
                output::one_line(&error.to_string())
            );
            ExitCode::from(EXIT_USAGE)
        }
        Err(_) => ExitCode::from(EXIT_FAILED),
    }
}
