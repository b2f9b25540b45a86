//! `attest generate`: mint one token with a local private key. Also the identity flags, which
//! `attest issuer serve` shares.

use std::path::{Path, PathBuf};

use attest_core::{
    AgentIdentity, AgentIntegrity, AttestationMetadata, AttestationType, IntegrityHash,
    SafetyLevel, TokenBuilder, TokenType,
};

use crate::keys;
use crate::output::{self, CliError, MAX_HASHED_FILE};

/// The largest lifetime a verifier accepts under the default policy (SPEC.md §4).
const DEFAULT_POLICY_MAX_LIFETIME: u64 = 3600;

/// Arguments of `attest generate`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  # A token for one server, with the original's defaults (claude-4 / claude-sonnet-4 /
  # anthropic, safety standard, 300 s):
  attest generate --key issuer.jwk --issuer https://issuer.example \\
      --audience https://tools.example/mcp

  # An agent that may deploy, with its system prompt hashed into agent_integrity:
  attest generate --key issuer.jwk --issuer https://issuer.example \\
      --audience https://tools.example/mcp --safety-level enhanced --capability deploy \\
      --system-prompt-file prompt.txt --deployment-id api-prod-us-east-1

  # For a server that only knows the 0.1.0 format:
  attest generate --key issuer.jwk --issuer https://issuer.example \\
      --audience https://tools.example/mcp --typ JWT

  # A key-bound token (SPEC.md §17): cnf names the agent's own key, so every request must
  # carry a proof signed with it. The agent's private key file works too: only its public
  # half goes into the token.
  attest keygen --out agent.jwk
  attest generate --key issuer.jwk --issuer https://issuer.example \\
      --audience https://tools.example/mcp --cnf-key agent.jwk

  # Mint and verify in one pipe:
  attest generate --key issuer.jwk --issuer https://issuer.example --audience https://t.example \\
    | attest verify - --issuer https://issuer.example --audience https://t.example --jwks jwks.json

The subject defaults to spiffe://<provider>.com/model/<model-version>, as the original derives
it. `nbf` is set to `iat`, as the original does.")]
pub(crate) struct GenerateArgs {
    /// The issuer's private key: a JWK with `d` and `kid` (see `attest keygen`).
    #[arg(long, value_name = "FILE", visible_alias = "key-file")]
    key: PathBuf,
    /// The issuer (`iss`), e.g. `https://issuer.example`.
    #[arg(long, value_name = "ISS")]
    issuer: String,
    /// The server the token is for (`aud`). Repeat for several.
    #[arg(long, value_name = "AUD", required = true)]
    audience: Vec<String>,
    /// Lifetime in seconds (`exp - iat`).
    #[arg(long, value_name = "SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    lifetime: u64,
    /// Bind the agent's own Ed25519 key into `cnf.jwk` (RFC 7800, SPEC.md §17.1): a JWK,
    /// public or private (as `attest keygen` writes it), or a PEM `PUBLIC KEY` or `PRIVATE KEY`
    /// (PKCS#8). Only the public key goes into the token.
    #[arg(long, value_name = "FILE")]
    cnf_key: Option<PathBuf>,
    /// With --cnf-key: bind only the key's RFC 7638 thumbprint (`cnf.jkt`) instead of the key;
    /// each proof then carries the public key in its header.
    #[arg(long, requires = "cnf_key")]
    cnf_jkt: bool,
    #[command(flatten)]
    identity: IdentityArgs,
}

/// The claims an issuer states about its agent: the flags `generate` and `issuer serve` share.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct IdentityArgs {
    /// `agent_identity.model_family`.
    #[arg(long, value_name = "F", default_value = "claude-4")]
    model_family: String,
    /// `agent_identity.model_version`.
    #[arg(long, value_name = "V", default_value = "claude-sonnet-4")]
    model_version: String,
    /// `agent_identity.provider`.
    #[arg(
        long,
        value_name = "P",
        default_value = "anthropic",
        visible_alias = "provider-name"
    )]
    provider: String,
    /// `agent_identity.deployment_id`.
    #[arg(long, value_name = "D")]
    deployment_id: Option<String>,
    /// `attestation_metadata.safety_level`.
    #[arg(long, value_enum, default_value_t = Safety::Standard)]
    safety_level: Safety,
    /// `attestation_metadata.attestation_type`.
    #[arg(long, value_enum, default_value_t = Kind::Provider)]
    attestation_type: Kind,
    /// A capability the agent declares (`capabilities_declared`). Repeat, or separate with
    /// commas.
    #[arg(
        long = "capability",
        value_name = "CAP",
        value_delimiter = ',',
        visible_alias = "capabilities"
    )]
    capabilities: Vec<String>,
    /// Hash this file into `agent_integrity.system_prompt_hash` (sha256 of its bytes).
    #[arg(long, value_name = "F")]
    system_prompt_file: Option<PathBuf>,
    /// Hash this file into `agent_integrity.config_hash` (sha256 of its bytes).
    #[arg(long, value_name = "F")]
    config_file: Option<PathBuf>,
    /// The header `typ`: the explicit type, or `JWT` for servers that only know 0.1.0.
    #[arg(long, value_enum, default_value_t = Typ::Attestation)]
    typ: Typ,
    /// The subject (`sub`). Default: `spiffe://<provider>.com/model/<model-version>`.
    #[arg(long, value_name = "SUB")]
    subject: Option<String>,
}

/// `attestation_metadata.safety_level`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Safety {
    /// Fewest safeguards.
    Minimal,
    /// The default.
    Standard,
    /// Most safeguards.
    Enhanced,
}

/// `attestation_metadata.attestation_type`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The AI provider attests (trust level `provider`).
    Provider,
    /// An enterprise deploying the agent attests (trust level `enterprise`).
    Enterprise,
}

/// The header `typ`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Typ {
    /// `agent-attestation+jwt` (explicit typing, RFC 8725).
    #[value(name = "agent-attestation+jwt")]
    Attestation,
    /// `JWT`, as the 0.1.0 original sends.
    #[value(name = "JWT")]
    Jwt,
}

impl IdentityArgs {
    /// A token template for `issuer`, without audience, lifetime or `nbf`.
    pub(crate) fn template(&self, issuer: &str) -> Result<TokenBuilder, CliError> {
        if issuer.is_empty() {
            return Err(CliError::usage("--issuer must not be empty"));
        }
        let subject = match &self.subject {
            Some(subject) if subject.is_empty() => {
                return Err(CliError::usage("--subject must not be empty"));
            }
            Some(subject) => subject.clone(),
            // As the original: spiffe://{provider}.com/model/{model_version}.
            None => format!(
                "spiffe://{}.com/model/{}",
                self.provider, self.model_version
            ),
        };
        let mut identity =
            AgentIdentity::new(&self.model_family, &self.model_version, &self.provider);
        identity.deployment_id = self.deployment_id.clone();
        let mut metadata = AttestationMetadata::provider();
        metadata.attestation_type = match self.attestation_type {
            Kind::Provider => AttestationType::Provider,
            Kind::Enterprise => AttestationType::Enterprise,
        };
        metadata.safety_level = match self.safety_level {
            Safety::Minimal => SafetyLevel::Minimal,
            Safety::Standard => SafetyLevel::Standard,
            Safety::Enhanced => SafetyLevel::Enhanced,
        };
        metadata.capabilities_declared = self
            .capabilities
            .iter()
            .filter(|c| !c.is_empty())
            .cloned()
            .collect();
        let mut builder = TokenBuilder::new(issuer, subject)
            .identity(identity)
            .metadata(metadata)
            .typ(self.token_type());
        let integrity = AgentIntegrity {
            config_hash: hash_file(self.config_file.as_deref(), "--config-file")?,
            system_prompt_hash: hash_file(
                self.system_prompt_file.as_deref(),
                "--system-prompt-file",
            )?,
            extra: Default::default(),
        };
        if integrity.config_hash.is_some() || integrity.system_prompt_hash.is_some() {
            builder = builder.integrity(integrity);
        }
        Ok(builder)
    }

    /// The header `typ` of minted tokens.
    pub(crate) fn token_type(&self) -> TokenType {
        match self.typ {
            Typ::Attestation => TokenType::Attestation,
            Typ::Jwt => TokenType::Jwt,
        }
    }
}

fn hash_file(path: Option<&Path>, flag: &str) -> Result<Option<IntegrityHash>, CliError> {
    path.map(|path| {
        output::read_capped(path, MAX_HASHED_FILE, flag).map(|bytes| IntegrityHash::of(&bytes))
    })
    .transpose()
}

/// `attest generate`.
pub(crate) fn run(args: &GenerateArgs) -> Result<(), CliError> {
    let key = keys::load_signing_key(&args.key)?;
    let mut builder = args
        .identity
        .template(&args.issuer)?
        .lifetime_secs(args.lifetime);
    if let Some(path) = &args.cnf_key {
        let (agent, kid) = keys::load_agent_key(path)?;
        builder = builder.confirmation(keys::confirmation(&agent, kid.as_deref(), args.cnf_jkt));
    }
    for audience in &args.audience {
        if audience.is_empty() {
            return Err(CliError::usage("--audience must not be empty"));
        }
        builder = builder.audience(audience);
    }
    if args.lifetime > DEFAULT_POLICY_MAX_LIFETIME {
        eprintln!(
            "warning: verifiers with the default policy refuse lifetimes over \
             {DEFAULT_POLICY_MAX_LIFETIME} s (attestation_lifetime_exceeded)"
        );
    }
    let now = output::now();
    let token = builder
        .not_before(now)
        .sign(&key, now, &mut output::os_rng()?)
        .map_err(|e| CliError::usage(format!("cannot mint the token: {e}")))?;
    println!("{token}");
    Ok(())
}
