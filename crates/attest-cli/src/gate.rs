//! The admission flags shared by `attest serve` and `attest gateway`: attestation enforcement,
//! the proof-of-possession policy, and server-issued proof nonces (SPEC.md §17.9).

use std::path::PathBuf;

use attest_mcp_server::{AttestationGate, Enforcement, ProofNonces, ProofPolicy, Verifier};

use crate::output::{self, CliError};

/// The most a nonce secret file may hold: 64 hex digits and some whitespace.
const MAX_SECRET_FILE: u64 = 1024;

/// How requests are admitted.
#[derive(clap::Args, Debug)]
pub(crate) struct GateArgs {
    /// `required` refuses requests without a valid attestation; `preferred` and `optional`
    /// serve them and tell the handlers why there is no verified agent.
    #[arg(long = "policy", value_name = "POLICY", value_enum, default_value_t = Mode::Required)]
    mode: Mode,
    /// Proof of possession (SPEC.md §17.6): `off` treats tokens as bearer credentials;
    /// `optional` verifies a proof when a request carries one; `required` refuses every request
    /// without a valid proof signed by the key its attestation's `cnf` names.
    #[arg(long, value_name = "POLICY", value_enum, default_value_t = Proof::Off)]
    proof: Proof,
    /// Require proofs to carry a nonce this server issued (SPEC.md §17.9), from a random
    /// secret: strict freshness for one server.
    #[arg(long)]
    proof_nonces: bool,
    /// Like --proof-nonces, with the secret in FILE (64 hex digits, e.g. from
    /// `openssl rand -hex 32`), so that replicas accept each other's nonces.
    #[arg(long, value_name = "FILE", conflicts_with = "proof_nonces")]
    proof_nonce_secret: Option<PathBuf>,
}

/// The attestation enforcement policy.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Only verified agents are served.
    Required,
    /// Everyone is served; failures are logged and counted.
    Preferred,
    /// Everyone is served; an attestation, if presented, is verified.
    Optional,
}

/// The proof-of-possession policy.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Proof {
    /// Proofs are ignored: attestations are bearer tokens.
    Off,
    /// A proof, when present, is verified; requests without one are served.
    Optional,
    /// Every request must carry a valid proof from a key-bound attestation.
    Required,
}

impl GateArgs {
    /// The attestation enforcement policy.
    pub(crate) fn enforcement(&self) -> Enforcement {
        match self.mode {
            Mode::Required => Enforcement::Required,
            Mode::Preferred => Enforcement::Preferred,
            Mode::Optional => Enforcement::Optional,
        }
    }

    fn proof_policy(&self) -> ProofPolicy {
        match self.proof {
            Proof::Off => ProofPolicy::Off,
            Proof::Optional => ProofPolicy::Optional,
            Proof::Required => ProofPolicy::Required,
        }
    }

    /// The server-issued nonces, if asked for.
    fn nonces(&self) -> Result<Option<ProofNonces>, CliError> {
        if let Some(path) = &self.proof_nonce_secret {
            let text = output::read_text(path, MAX_SECRET_FILE, "proof nonce secret")?;
            let secret = parse_secret(text.trim()).ok_or_else(|| {
                CliError::usage(format!(
                    "--proof-nonce-secret {}: expected 64 hex digits (32 bytes)",
                    path.display()
                ))
            })?;
            return Ok(Some(ProofNonces::from_secret(&secret)));
        }
        if self.proof_nonces {
            let nonces = ProofNonces::random().map_err(|e| CliError::failed(e.to_string()))?;
            return Ok(Some(nonces));
        }
        Ok(None)
    }

    /// The gate admitting requests verified by `verifier`.
    pub(crate) fn gate(&self, verifier: Verifier) -> Result<AttestationGate, CliError> {
        let gate =
            AttestationGate::new(verifier, self.enforcement()).proof_policy(self.proof_policy());
        Ok(match self.nonces()? {
            Some(nonces) => gate.proof_nonces(nonces),
            None => gate,
        })
    }

    /// How requests are admitted, for the startup line.
    pub(crate) fn describe(&self) -> String {
        let nonces = if self.proof_nonces || self.proof_nonce_secret.is_some() {
            " with server nonces"
        } else {
            ""
        };
        format!(
            "policy {}, proofs {}{nonces}",
            self.enforcement().as_str(),
            self.proof_policy().as_str()
        )
    }
}

/// 32 bytes from 64 hex digits.
fn parse_secret(hex: &str) -> Option<[u8; 32]> {
    let digits = hex.as_bytes();
    // `from_str_radix` alone would take a sign ("+f").
    if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut secret = [0u8; 32];
    for (byte, pair) in secret.iter_mut().zip(digits.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(secret)
}

#[cfg(test)]
mod tests {
    use super::parse_secret;

    #[test]
    fn secrets_are_exactly_64_hex_digits() {
        let secret = parse_secret(&"0f".repeat(32)).unwrap();
        assert_eq!(secret, [0x0f; 32]);
        assert!(parse_secret(&"0f".repeat(31)).is_none());
        assert!(parse_secret(&"0f".repeat(33)).is_none());
        assert!(parse_secret(&format!("{}zz", "0f".repeat(31))).is_none());
        assert!(parse_secret(&format!("{}+f", "0f".repeat(31))).is_none());
        assert!(parse_secret(&"é".repeat(32)).is_none());
    }
}
