//! `attest attack`: the attack suite. Every attack is a real crafted token or request, run
//! through the real verification pipeline in-process, or against a live `attest serve`.
//!
//! - `corpus`: every attack, crafted from parameters, with its stable id, expected reason and
//!   mitigation; `craft` holds the byte-level surgery.
//! - `run`: in-process (attest-mcp-server's `Verifier` over keys ingested from a JWKS document,
//!   and its HTTP router on a loopback port for MCP-level attacks, in `sandbox`: with proofs of
//!   possession off, and a second one requiring them for the proof attacks) or against a target
//!   over HTTP (`mcp_http`).
//! - `report`: the text table, the JSON object, and the Markdown table of docs/SECURITY.md.
//! - `vectors`: the conformance vectors, generated from the same corpus.

mod corpus;
mod craft;
mod mcp_http;
mod report;
mod run;
mod sandbox;
mod vectors;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use attest_core::{Jwk, SigningKey, UnixTime};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use corpus::Params;
use mcp_http::McpHttp;
use report::Tally;

/// Output format of `attest attack`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Output {
    /// A table: id, attack, expected, observed, result.
    #[default]
    Text,
    /// One JSON object: `{"attacks": [...], "detected": n, "total": n}`.
    Json,
}

/// Arguments of `attest attack`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    attest attack\n  \
    attest attack --output json\n  \
    attest attack --target http://127.0.0.1:8080/mcp\n  \
    attest attack --target http://127.0.0.1:8080/mcp --issuer-key issuer.jwk \\\n      \
    --issuer https://issuer.example --audience http://127.0.0.1:8080/mcp\n  \
    attest attack --write-vectors testvectors/attest/vectors.json\n  \
    attest attack --check-vectors testvectors/attest/vectors.json\n  \
    attest attack --markdown\n\n\
    The proof-of-possession attacks (SPEC.md §17) run in-process against a gate that requires\n\
    proofs, and with --target when the target advertises `proof: required` (attest serve\n\
    --proof required) and --issuer-key is given; otherwise they are reported as skipped.\n\n\
    Exit status: 0 when every attack that ran was detected for its expected reason, 1 when one\n\
    was not (or the vectors drifted), 2 for usage or configuration errors (a target that cannot\n\
    be reached, an unreadable key, a failed control).")]
pub struct AttackArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Run the attacks against a live `attest serve` at URL (its MCP endpoint, e.g.
    /// http://127.0.0.1:8080/mcp) instead of in-process.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// With --target: the target issuer's private JWK. Enables the attacks that need validly
    /// signed hostile tokens; without it they are reported as skipped.
    #[arg(long, value_name = "FILE", requires = "target")]
    pub issuer_key: Option<PathBuf>,
    /// With --target: the issuer the target trusts (default: read from the target's refusal).
    #[arg(long, value_name = "ISS", requires = "target")]
    pub issuer: Option<String>,
    /// With --target: the audience the target expects (default: the target URL).
    #[arg(long, value_name = "AUD", requires = "target")]
    pub audience: Option<String>,
    /// Write the conformance vectors (testvectors/attest/vectors.json) generated from this
    /// corpus with a fixed key, clock and RNG, and exit.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["target", "check_vectors", "markdown"])]
    pub write_vectors: Option<PathBuf>,
    /// Check that FILE equals the conformance vectors this corpus generates; exit 1 on drift.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["target", "markdown"])]
    pub check_vectors: Option<PathBuf>,
    /// Print the attack table of docs/SECURITY.md (Markdown) and exit.
    #[arg(long, conflicts_with = "target")]
    pub markdown: bool,
}

/// Runs `attest attack`. Exit status: 0 when every attack that ran was detected for its
/// expected reason, 1 otherwise, 2 for usage or configuration errors.
pub fn run(args: &AttackArgs) -> ExitCode {
    if let Some(path) = &args.write_vectors {
        return write_vectors(path);
    }
    if let Some(path) = &args.check_vectors {
        return check_vectors(path);
    }
    if args.markdown {
        return match vectors::params() {
            Ok(params) => {
                print!("{}", report::markdown(&corpus::attacks(&params)));
                ExitCode::SUCCESS
            }
            Err(e) => usage_error(&e),
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return usage_error(&format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async {
        match &args.target {
            None => in_process().await,
            Some(url) => target(args, url).await,
        }
    });
    let (mode, attacks, outcomes) = match result {
        Ok(run) => run,
        Err(e) => return usage_error(&e),
    };
    match args.output {
        Output::Text => print!("{}", report::text(&mode, &attacks, &outcomes)),
        Output::Json => println!("{}", report::json(&mode, &attacks, &outcomes)),
    }
    if Tally::of(&attacks, &outcomes).missed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

type Run = (String, Vec<corpus::Attack>, Vec<run::Outcome>);

fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// Fresh keys and seed from the OS, and the current time: nothing is a fixed fixture.
fn live_params(
    issuer: &str,
    audience: &str,
    issuer_key: Option<SigningKey>,
) -> Result<Params, String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("the system RNG failed: {e}"))?;
    let mut rng = ChaCha20Rng::from_seed(seed);
    let issuer_key = match issuer_key {
        Some(key) => key,
        None => SigningKey::generate(&mut rng),
    };
    let attacker = SigningKey::generate(&mut rng)
        .with_kid(issuer_key.kid())
        .map_err(|e| format!("attacker key: {e}"))?;
    let agent_key = SigningKey::generate(&mut rng);
    let mut corpus_seed = [0u8; 32];
    rng.fill_bytes(&mut corpus_seed);
    Ok(Params {
        issuer: issuer.to_owned(),
        audience: audience.to_owned(),
        issuer_key,
        attacker,
        agent_key,
        now: UnixTime::from(SystemTime::now()).as_secs(),
        seed: corpus_seed,
        jti_per_attack: true,
    })
}

async fn in_process() -> Result<Run, String> {
    let params = live_params("https://issuer.example", "https://tools.example/mcp", None)?;
    let attacks = corpus::attacks(&params);
    let outcomes = run::in_process(&params, &attacks).await?;
    let mode = "in-process, with fresh keys (controls passed: a valid token is accepted by the \
                Verifier, in a stateless MCP request and at initialize; a key-bound token with a \
                valid proof is accepted in both where proofs are required)";
    Ok((mode.to_owned(), attacks, outcomes))
}

async fn target(args: &AttackArgs, url: &str) -> Result<Run, String> {
    let client = McpHttp::new(url)?;
    let issuer_key = match &args.issuer_key {
        Some(path) => Some(read_private_key(path)?),
        None => None,
    };
    let preflight = run::preflight(&client).await?;
    let issuer = match (&args.issuer, preflight.issuer) {
        (Some(issuer), _) => issuer.clone(),
        (None, Some(issuer)) => issuer,
        (None, None) => {
            return Err(
                "the target did not name a trusted issuer when refusing an unattested \
                        request; pass --issuer"
                    .to_owned(),
            );
        }
    };
    let audience = args.audience.clone().unwrap_or_else(|| url.to_owned());
    let has_key = issuer_key.is_some();
    let params = live_params(&issuer, &audience, issuer_key)?;
    if has_key {
        run::control_target(&params, &client).await?;
    }
    let requires_proofs = preflight.proof.as_deref() == Some("required");
    let attacks = corpus::attacks(&params);
    let outcomes = run::target(&client, &params, has_key, requires_proofs, &attacks).await;
    let control = if has_key {
        "control passed: a valid token is served"
    } else {
        "no control: without --issuer-key no valid token can be made"
    };
    let proofs = match preflight.proof.as_deref() {
        Some("required") => "proofs required: the proof attacks run".to_owned(),
        Some(other) => format!(
            "proofs {}: the proof attacks need `--proof required`",
            crate::output::one_line(&other.chars().take(32).collect::<String>())
        ),
        None => "proofs off: the proof attacks need `--proof required`".to_owned(),
    };
    let mode = format!("target {url} (issuer {issuer}, audience {audience}; {control}; {proofs})");
    Ok((mode, attacks, outcomes))
}

/// Reads a private Ed25519 JWK (as `attest keygen` writes it).
fn read_private_key(path: &Path) -> Result<SigningKey, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let jwk =
        Jwk::from_json(text.trim()).map_err(|e| format!("{} is not a JWK: {e}", path.display()))?;
    SigningKey::from_jwk(&jwk)
        .map_err(|e| format!("{} is not a private Ed25519 JWK: {e}", path.display()))
}

fn write_vectors(path: &Path) -> ExitCode {
    let generated = match vectors::generate() {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: corpus bug: {e}");
            return ExitCode::FAILURE;
        }
    };
    match std::fs::write(path, generated) {
        Ok(()) => {
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => usage_error(&format!("cannot write {}: {e}", path.display())),
    }
}

fn check_vectors(path: &Path) -> ExitCode {
    let generated = match vectors::generate() {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: corpus bug: {e}");
            return ExitCode::FAILURE;
        }
    };
    match std::fs::read_to_string(path) {
        Ok(committed) if committed == generated => {
            println!("{} is up to date", path.display());
            ExitCode::SUCCESS
        }
        Ok(_) => {
            eprintln!(
                "error: {} is stale: run `cargo xtask vectors` (attest attack --write-vectors)",
                path.display()
            );
            ExitCode::FAILURE
        }
        Err(e) => usage_error(&format!("cannot read {}: {e}", path.display())),
    }
}
