//! The attestation story in one process: an issuer mints a token, a server verifies it, and
//! forged, tampered, replayed-audience and expired tokens are refused.
//!
//! Run it with `cargo run -p attest-core --example quickstart` (or `cargo xtask demo`). It exits
//! non-zero if any step does not behave as expected.

// An example is the application: it reads the clock and passes `now` to attest-core, which
// never reads it itself.
#![allow(clippy::disallowed_methods)]

use std::process::ExitCode;
use std::time::SystemTime;

use attest_core::{
    AgentIdentity, AttestationMetadata, JwksLimits, KeySet, Policy, Reason, SafetyLevel,
    SigningKey, TokenBuilder, TrustStore, UnixTime, verify,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const ISSUER: &str = "https://issuer.example";
const SERVER: &str = "https://tools.example/mcp";

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("\nsome steps did not behave as expected");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    // A real program seeds from the OS; the example is reproducible.
    let mut rng = ChaCha20Rng::from_seed(*b"attest quickstart example seed!!");
    let now = UnixTime::from(SystemTime::now());

    // 1. The issuer generates a key and publishes its JWKS.
    let issuer_key = SigningKey::generate(&mut rng).with_kid("issuer-2026-11")?;
    let jwks = KeySet::from_keys([(issuer_key.kid(), issuer_key.public_key())])?.to_jwks_json();
    println!("issuer publishes {ISSUER}/.well-known/jwks.json:\n  {jwks}\n");

    // 2. The server fetches the JWKS (strict parse) and sets its policy.
    let mut trust = TrustStore::new();
    trust.insert(
        ISSUER,
        KeySet::parse(jwks.as_bytes(), JwksLimits::default())?,
    );
    let policy = Policy::builder()
        .trusted_issuer(ISSUER)
        .audience(SERVER)
        .build()?;

    let agent = |audience: &str| {
        let mut metadata = AttestationMetadata::provider();
        metadata.safety_level = SafetyLevel::Enhanced;
        metadata.capabilities_declared = vec!["tools:call".into()];
        TokenBuilder::new(ISSUER, "spiffe://issuer.example/model/claude-sonnet-4")
            .audience(audience)
            .identity(AgentIdentity::new("claude", "sonnet-4", "anthropic"))
            .metadata(metadata)
    };

    let mut all_ok = true;
    let mut step = |name: &str, token: &str, expected: Option<Reason>| {
        let outcome = verify(token, &trust, &policy, now);
        let ok = match (&outcome, expected) {
            (Ok(_), None) => true,
            (Err(e), Some(reason)) => e.reason() == reason,
            _ => false,
        };
        all_ok &= ok;
        let mark = if ok { "✓" } else { "✗" };
        match outcome {
            Ok(v) => println!(
                "{mark} {name}: accepted — {} {} from {}, safety {}",
                v.claims().agent_identity.model_family,
                v.claims().agent_identity.model_version,
                v.claims().agent_identity.provider,
                v.claims().attestation_metadata.safety_level.as_str(),
            ),
            Err(e) => println!("{mark} {name}: refused — {} ({e})", e.reason()),
        }
    };

    // 3. The legit agent's token is accepted.
    let token = agent(SERVER).sign(&issuer_key, now, &mut rng)?;
    step("legit token", &token, None);

    // 4. An attacker signs its own token under the issuer's kid: model spoofing.
    let attacker = SigningKey::generate(&mut rng).with_kid("issuer-2026-11")?;
    let forged = agent(SERVER).sign(&attacker, now, &mut rng)?;
    step(
        "forged token (attacker's key)",
        &forged,
        Some(Reason::Invalid),
    );

    // 5. The legit token with its safety level edited, not re-signed.
    let tampered = tamper(&token, "\"enhanced\"", "\"minimal\"")?;
    step("tampered safety level", &tampered, Some(Reason::Invalid));

    // 6. A token minted for another server.
    let elsewhere = agent("https://other.example").sign(&issuer_key, now, &mut rng)?;
    step(
        "token for another server",
        &elsewhere,
        Some(Reason::AudienceMismatch),
    );

    // 7. A token that expired 10 minutes ago.
    let old = agent(SERVER).sign(
        &issuer_key,
        UnixTime::from_secs(now.as_secs().saturating_sub(900)),
        &mut rng,
    )?;
    step("expired token", &old, Some(Reason::Expired));

    // 8. An untrusted issuer.
    let rogue = TokenBuilder::new("https://issuer.example.evil", "spiffe://x/y")
        .audience(SERVER)
        .identity(AgentIdentity::new("claude", "sonnet-4", "anthropic"))
        .metadata(AttestationMetadata::provider())
        .sign(&attacker, now, &mut rng)?;
    step("look-alike issuer", &rogue, Some(Reason::IssuerUntrusted));

    println!("\nreplay protection (the jti store) arrives with attest-cache; see SPEC.md §6.");
    Ok(all_ok)
}

/// Edits the claims of `token` without re-signing it.
fn tamper(token: &str, from: &str, to: &str) -> Result<String, Box<dyn std::error::Error>> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let mut parts = token.splitn(3, '.');
    let (Some(header), Some(claims), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("not a compact JWS".into());
    };
    let claims = String::from_utf8(B64.decode(claims)?)?.replacen(from, to, 1);
    Ok(format!("{header}.{}.{signature}", B64.encode(claims)))
}
