//! `attest inspect`: a token's header and claims, decoded WITHOUT verifying anything, for
//! debugging. Everything it prints is labelled UNVERIFIED.

use attest_core::{UnixTime, dangerous};
use serde_json::{Value, json};

use crate::output::{self, CliError, Format};

/// Arguments of `attest inspect`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  attest inspect \"$TOKEN\"
  attest generate ... | attest inspect -
  attest inspect \"$TOKEN\" --output json | jq .claims.agent_identity

Nothing is verified: not the signature, not the issuer, not the times. Anyone can write any
claims into a token; use `attest verify` to decide whether to believe them. The structure is
checked (three strict base64url segments, JSON objects without duplicate names), so a token
that inspect cannot decode is one no verifier accepts.

--output json prints {\"verified\": false, \"header\": {...}, \"claims\": {...},
\"expired\": bool|null, \"expires_in_secs\": int|null}.")]
pub(crate) struct InspectArgs {
    /// The token, or `-` (the default) to read it from standard input.
    #[arg(value_name = "TOKEN|-")]
    token: Option<String>,
    /// Text for people, or one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// `attest inspect`.
pub(crate) fn run(args: &InspectArgs) -> Result<(), CliError> {
    let token = output::read_token(args.token.as_deref())?;
    let (header, claims) = dangerous::decode_json(&token)
        .map_err(|e| CliError::failed(format!("cannot decode the token: {e}")))?;
    let now = output::now();
    let exp = claims.get("exp").and_then(Value::as_u64);
    match args.output {
        Format::Json => {
            let expires_in =
                exp.map(|exp| i128::from(exp).saturating_sub(i128::from(now.as_secs())));
            println!(
                "{}",
                json!({
                    "verified": false,
                    "header": header,
                    "claims": claims,
                    "expired": exp.map(|exp| exp <= now.as_secs()),
                    "expires_in_secs": expires_in.and_then(|s| i64::try_from(s).ok()),
                })
            );
        }
        Format::Text => {
            println!("UNVERIFIED token: nothing below has been checked (use `attest verify`)");
            println!("header: {}", output::pretty(&header));
            println!("claims: {}", output::pretty(&claims));
            for (name, label) in [("iat", "issued"), ("nbf", "not before")] {
                if let Some(at) = claims.get(name).and_then(Value::as_u64) {
                    println!(
                        "{label}: {} ({})",
                        UnixTime::from_secs(at).to_rfc3339(),
                        output::relative(at, now)
                    );
                }
            }
            match exp {
                Some(exp) => println!(
                    "expires: {} ({})",
                    UnixTime::from_secs(exp).to_rfc3339(),
                    output::expiry_relative(exp, now)
                ),
                None => println!("expires: no integer `exp` claim"),
            }
        }
    }
    Ok(())
}
