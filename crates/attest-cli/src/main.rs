//! `attest`: the command line of agent attestation for MCP.
//!
//! Each command lives in its own module; this file only parses the command line, dispatches,
//! and turns a failure into one `error: ...` line on stderr and an exit status:
//! 0 success, 1 failure (or a rejected token), 2 usage or configuration error.
#![forbid(unsafe_code)]

// `pub`: the attack suite's items are `pub` (it is written like a library module).
pub mod attack;
mod gate;
mod gateway;
mod generate;
mod inspect;
mod issuer;
mod keys;
mod output;
mod serve;
mod trust;
mod verify;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};

/// Cryptographic agent attestation for MCP: keys, tokens, a verifying MCP server, a
/// development issuer, and an attack suite.
#[derive(Parser, Debug)]
#[command(name = "attest", version, propagate_version = true)]
#[command(after_help = "\
A session:
  attest keygen --kid issuer-1 --out issuer.jwk          # private key, mode 0600
  attest jwks issuer.jwk > jwks.json                     # the public JWKS to publish
  TOKEN=$(attest generate --key issuer.jwk --issuer https://issuer.example \\
      --audience https://tools.example/mcp)
  attest inspect \"$TOKEN\"                                 # decoded, UNVERIFIED
  attest verify \"$TOKEN\" --issuer https://issuer.example \\
      --audience https://tools.example/mcp --jwks jwks.json

Exit status: 0 success (a valid token), 1 failure (a rejected token), 2 usage or
configuration error. Errors are one `error: ...` line on stderr.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate an Ed25519 private key (JWK), written with mode 0600.
    Keygen(keys::KeygenArgs),
    /// Print the public JWK Set for private or public JWK files. Never prints `d`.
    Jwks(keys::JwksArgs),
    /// Mint one attestation token with a private key.
    Generate(generate::GenerateArgs),
    /// Verify a token as an MCP server would. Exit 0 valid, 1 rejected, 2 usage.
    Verify(verify::VerifyArgs),
    /// Decode a token WITHOUT verifying it.
    Inspect(inspect::InspectArgs),
    /// Run the reference attested MCP server over streamable HTTP.
    Serve(serve::ServeArgs),
    /// A development issuer: JWKS, token endpoint, key rotation.
    Issuer(issuer::IssuerArgs),
    /// Run the attack suite: every attack must be detected for the expected reason.
    Attack(attack::AttackArgs),
    /// Put attestation in front of any existing MCP server (stdio command or HTTP URL).
    Gateway(gateway::GatewayArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    let result = match &cli.command {
        Command::Keygen(args) => keys::keygen(args).map(|()| ExitCode::SUCCESS),
        Command::Jwks(args) => keys::jwks(args).map(|()| ExitCode::SUCCESS),
        Command::Generate(args) => generate::run(args).map(|()| ExitCode::SUCCESS),
        Command::Verify(args) => verify::run(args),
        Command::Inspect(args) => inspect::run(args).map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => serve::run(args).map(|()| ExitCode::SUCCESS),
        Command::Issuer(args) => issuer::run(args).map(|()| ExitCode::SUCCESS),
        Command::Attack(args) => Ok(attack::run(args)),
        Command::Gateway(args) => gateway::run(args).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|error| {
        eprintln!("error: {error}");
        error.exit_code()
    })
}

/// Help and version go to stdout as clap writes them. A usage error becomes one `error: ...`
/// line on stderr (clap's message and tip, without the usage block) and exit status 2.
fn usage_error(error: &clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            let code = u8::try_from(error.exit_code()).unwrap_or(output::EXIT_USAGE);
            ExitCode::from(code)
        }
        _ => {
            let rendered = error.render().to_string();
            let message = rendered
                .split("\nUsage:")
                .next()
                .unwrap_or_default()
                .split("\n\nFor more information")
                .next()
                .unwrap_or_default();
            let message = message.strip_prefix("error: ").unwrap_or(message);
            let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("error: {}; see --help", output::one_line(&message));
            ExitCode::from(output::EXIT_USAGE)
        }
    }
}
