//! `attest verify`: round trips with `keygen`, `jwks` and `generate`, every exit status, the
//! 0.1.0 format, and the leeway the original did not apply to `exp`.

use attest_core::{
    AgentIdentity, AgentIntegrity, AttestationMetadata, Audience, Claims, IntegrityHash,
    SigningKey, TokenType, UnixTime, encode,
};
use predicates::prelude::*;
use serde_json::Value;

use crate::common::{
    AUDIENCE, ISSUER, TempDir, attest, builder, generate, issuer_files, issuer_key, jwt_typ, now,
    rng, token, token_at, typ_of, verify,
};

/// The one JSON object `--output json` prints.
fn verdict(assert: &assert_cmd::assert::Assert) -> Value {
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), 1, "exactly one line: {stdout}");
    let value: Value = serde_json::from_str(&stdout).unwrap();
    let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "{value}");
    for key in ["valid", "reason", "claims"] {
        assert!(value.get(key).is_some(), "{key} in {value}");
    }
    value
}

fn rejected_json(token: &str, jwks: &std::path::Path, extra: &[&str], reason: &str) {
    let mut args = vec!["--output", "json"];
    args.extend_from_slice(extra);
    let assert = verify(token, jwks, &args).code(1);
    let value = verdict(&assert);
    assert_eq!(value["valid"], false);
    assert_eq!(value["reason"], reason, "{value}");
    assert_eq!(value["claims"], Value::Null);
}

#[test]
fn keygen_jwks_generate_verify_round_trip_text() {
    let dir = TempDir::new();
    let key = dir.path("issuer.jwk");
    attest()
        .args(["keygen", "--kid", "k-2026", "--out"])
        .arg(&key)
        .assert()
        .success();
    let jwks = attest()
        .arg("jwks")
        .arg(&key)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let jwks = dir.write("jwks.json", jwks);
    let token = generate(&key, &[]);
    assert_eq!(typ_of(&token), "agent-attestation+jwt");
    verify(&token, &jwks, &[])
        .success()
        .stdout(
            predicate::str::starts_with(format!("VALID: agent attested by {ISSUER}\n"))
                .and(predicate::str::contains(
                    "spiffe://anthropic.com/model/claude-sonnet-4",
                ))
                .and(predicate::str::contains(
                    "claude-4 claude-sonnet-4 by anthropic",
                ))
                .and(predicate::str::contains("trust level:  provider"))
                .and(predicate::str::contains("expires in")),
        )
        .stderr("");
}

#[test]
fn generate_verify_round_trip_json_with_every_identity_flag() {
    let dir = TempDir::new();
    let (key, jwks) = issuer_files(&dir);
    let prompt = dir.write("prompt.txt", "You are a careful deployment agent.\n");
    let config = dir.write("config.toml", "temperature = 0\n");
    let token = generate(
        &key,
        &[
            "--audience",
            "https://second.example/mcp",
            "--lifetime",
            "120",
            "--model-family",
            "claude-5",
            "--model-version",
            "claude-opus-5",
            "--provider",
            "anthropic",
            "--deployment-id",
            "api-prod-us-east-1",
            "--safety-level",
            "enhanced",
            "--attestation-type",
            "enterprise",
            "--capability",
            "deploy",
            "--capability",
            "read,write",
            "--system-prompt-file",
            prompt.to_str().unwrap(),
            "--config-file",
            config.to_str().unwrap(),
            "--subject",
            "spiffe://example.org/agent/deployer",
        ],
    );
    let assert = verify(&token, &jwks, &["--output", "json"]).success();
    let value = verdict(&assert);
    assert_eq!(value["valid"], true);
    assert_eq!(value["reason"], Value::Null);
    let claims = &value["claims"];
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], "spiffe://example.org/agent/deployer");
    assert_eq!(
        claims["aud"],
        serde_json::json!([AUDIENCE, "https://second.example/mcp"])
    );
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        120
    );
    assert_eq!(claims["nbf"], claims["iat"], "nbf = iat, as the original");
    assert_eq!(
        claims["agent_identity"],
        serde_json::json!({
            "model_family": "claude-5", "model_version": "claude-opus-5",
            "provider": "anthropic", "deployment_id": "api-prod-us-east-1"
        })
    );
    assert_eq!(
        claims["agent_integrity"]["system_prompt_hash"],
        IntegrityHash::of(b"You are a careful deployment agent.\n").as_str()
    );
    assert_eq!(
        claims["agent_integrity"]["config_hash"],
        IntegrityHash::of(b"temperature = 0\n").as_str()
    );
    let metadata = &claims["attestation_metadata"];
    assert_eq!(metadata["attestation_version"], "0.1.0");
    assert_eq!(metadata["attestation_type"], "enterprise");
    assert_eq!(metadata["safety_level"], "enhanced");
    assert_eq!(
        metadata["capabilities_declared"],
        serde_json::json!(["deploy", "read", "write"])
    );
    assert_eq!(claims["jti"].as_str().unwrap().len(), 36);

    // Text output shows the same agent.
    verify(&token, &jwks, &[]).success().stdout(
        predicate::str::contains("trust level:  enterprise")
            .and(predicate::str::contains("deployment api-prod-us-east-1"))
            .and(predicate::str::contains(
                "capabilities: deploy, read, write",
            )),
    );
}

#[test]
fn token_from_stdin() {
    let dir = TempDir::new();
    let (_, jwks) = issuer_files(&dir);
    for arg in [Some("-"), None] {
        let mut command = attest();
        command.arg("verify");
        if let Some(arg) = arg {
            command.arg(arg);
        }
        command
            .args(["--issuer", ISSUER, "--audience", AUDIENCE, "--jwks"])
            .arg(&jwks)
            .write_stdin(format!("  {}\n", token()))
            .assert()
            .success()
            .stdout(predicate::str::starts_with("VALID"));
    }
}

#[test]
fn exit_status_1_for_each_kind_of_rejection() {
    let dir = TempDir::new();
    let (_, jwks) = issuer_files(&dir);
    let key = issuer_key();
    let hour_ago = UnixTime::from_secs(now().as_secs() - 3600);
    let attacker = SigningKey::from_seed(&[0x66; 32], "issuer-1").unwrap();
    let cases: Vec<(&str, String, Vec<&str>, &str)> = vec![
        (
            "wrong audience",
            token_at(&key, ISSUER, "https://other.example/mcp", now()),
            vec![],
            "attestation_audience_mismatch",
        ),
        (
            "untrusted issuer",
            token_at(&key, "https://issuer.example.evil", AUDIENCE, now()),
            vec![],
            "attestation_issuer_untrusted",
        ),
        (
            "trailing-slash issuer",
            token_at(&key, "https://issuer.example/", AUDIENCE, now()),
            vec![],
            "attestation_issuer_untrusted",
        ),
        (
            "expired",
            token_at(&key, ISSUER, AUDIENCE, hour_ago),
            vec![],
            "attestation_expired",
        ),
        (
            "signed by another key under the issuer's kid",
            token_at(&attacker, ISSUER, AUDIENCE, now()),
            vec![],
            "attestation_invalid",
        ),
        (
            "unknown kid",
            token_at(
                &attacker.clone().with_kid("issuer-9").unwrap(),
                ISSUER,
                AUDIENCE,
                now(),
            ),
            vec![],
            "attestation_key_unknown",
        ),
        (
            "lifetime over --max-lifetime",
            token(),
            vec!["--max-lifetime", "60"],
            "attestation_lifetime_exceeded",
        ),
        (
            "typ JWT without --accept-typ JWT",
            builder(ISSUER, AUDIENCE)
                .typ(TokenType::Jwt)
                .sign(&key, now(), &mut rng())
                .unwrap(),
            vec![],
            "attestation_header_rejected",
        ),
        (
            "not yet valid",
            builder(ISSUER, AUDIENCE)
                .not_before(UnixTime::from_secs(now().as_secs() + 600))
                .sign(&key, now(), &mut rng())
                .unwrap(),
            vec![],
            "attestation_not_yet_valid",
        ),
        (
            "not a token",
            "garbage".into(),
            vec![],
            "attestation_malformed",
        ),
        ("empty", String::new(), vec![], "attestation_malformed"),
    ];
    for (name, token, extra, reason) in cases {
        eprintln!("case: {name}");
        rejected_json(&token, &jwks, &extra, reason);
        verify(&token, &jwks, &extra)
            .code(1)
            .stdout(predicate::str::starts_with(format!("REJECTED: {reason}: ")))
            .stdout(predicate::function(|s: &str| s.lines().count() == 1));
    }
}

#[test]
fn the_leeway_applies_to_exp_unlike_the_original() {
    // The original rejected a token that expired 10 s ago despite its 30 s skew tolerance.
    let dir = TempDir::new();
    let (_, jwks) = issuer_files(&dir);
    let issued = UnixTime::from_secs(now().as_secs() - 310);
    let token = token_at(&issuer_key(), ISSUER, AUDIENCE, issued);
    verify(&token, &jwks, &[]).success();
    rejected_json(&token, &jwks, &["--leeway", "0"], "attestation_expired");
}

#[test]
fn a_token_in_the_original_format_verifies_with_accept_typ_jwt() {
    // Exactly the claims of the 0.1.0 original (BRIEF §2): `typ: JWT`, `aud` a string, `nbf`,
    // a UUID v4 `jti`, identity with deployment id, integrity, provider metadata.
    let dir = TempDir::new();
    let (_, jwks) = issuer_files(&dir);
    let iat = now().as_secs();
    let claims = Claims {
        iss: ISSUER.into(),
        sub: "spiffe://anthropic.com/model/claude-sonnet-4".into(),
        aud: Audience::One(AUDIENCE.into()),
        iat,
        exp: iat + 300,
        nbf: Some(iat),
        jti: "3f1c2b6e-4f5a-4c3d-8e7f-1a2b3c4d5e6f".into(),
        agent_identity: AgentIdentity {
            deployment_id: Some("api-prod-us-east-1".into()),
            ..AgentIdentity::new("claude-4", "claude-sonnet-4", "anthropic")
        },
        agent_integrity: Some(AgentIntegrity {
            system_prompt_hash: Some(IntegrityHash::of(b"You are a helpful assistant.")),
            ..AgentIntegrity::default()
        }),
        attestation_metadata: AttestationMetadata::provider(),
        cnf: None,
        extra: Default::default(),
    };
    let token = encode(&issuer_key(), &claims, TokenType::Jwt).unwrap();
    assert_eq!(typ_of(&token), jwt_typ());
    let assert = verify(&token, &jwks, &["--accept-typ", "JWT", "--output", "json"]).success();
    let value = verdict(&assert);
    assert_eq!(value["valid"], true);
    assert_eq!(value["claims"], serde_json::to_value(&claims).unwrap());
    // Without the opt-in, the explicit type is required.
    rejected_json(&token, &jwks, &[], "attestation_header_rejected");
    // And `attest generate --typ JWT` makes such tokens.
    let (key, _) = issuer_files(&dir);
    let generated = generate(&key, &["--typ", "JWT"]);
    assert_eq!(typ_of(&generated), "JWT");
    verify(&generated, &jwks, &["--accept-typ", "JWT"]).success();
}

#[test]
fn several_issuers_with_one_jwks_each() {
    let dir = TempDir::new();
    let (_, jwks_a) = issuer_files(&dir);
    let other = SigningKey::from_seed(&[0x21; 32], "b-1").unwrap();
    let jwks_b = dir.write(
        "b.json",
        format!("{{\"keys\":[{}]}}", other.to_public_jwk().to_json()),
    );
    let base = |token: &str| {
        let mut command = attest();
        command
            .arg("verify")
            .arg(token)
            .args(["--issuer", ISSUER, "--issuer", "https://b.example"])
            .args(["--audience", AUDIENCE, "--jwks"])
            .arg(&jwks_a)
            .arg("--jwks")
            .arg(&jwks_b);
        command
    };
    base(&token()).assert().success();
    base(&token_at(&other, "https://b.example", AUDIENCE, now()))
        .assert()
        .success();
    // A key is never used for an issuer that did not publish it.
    base(&token_at(&other, ISSUER, AUDIENCE, now()))
        .arg("--output")
        .arg("json")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("attestation_key_unknown"));
    // Three --jwks for two issuers is a usage error.
    base(&token()).arg("--jwks").arg(&jwks_a).assert().code(2);
}

/// Exactly one `error: ` line, and no panic.
fn one_error_line() -> impl Predicate<str> {
    predicate::function(|s: &str| {
        s.lines().filter(|l| l.starts_with("error: ")).count() == 1 && !s.contains("panicked")
    })
}

#[test]
fn exit_status_2_for_usage_and_configuration_errors() {
    let dir = TempDir::new();
    let (_, jwks) = issuer_files(&dir);
    let token = token();
    // Unreadable JWKS: missing, not JSON, a private key, not a set.
    let missing = dir.path("missing.json");
    let not_json = dir.write("not-json.json", "{ nope");
    let private = dir.write(
        "private.json",
        format!("{{\"keys\":[{}]}}", issuer_key().to_private_jwk().to_json()),
    );
    let bare_jwk = dir.write("bare.jwk", issuer_key().to_public_jwk().to_json());
    for path in [&missing, &not_json, &private, &bare_jwk] {
        attest()
            .arg("verify")
            .arg(&token)
            .args(["--issuer", ISSUER, "--audience", AUDIENCE, "--jwks"])
            .arg(path)
            .assert()
            .code(2)
            .stdout("")
            .stderr(one_error_line());
    }
    // Bad flags.
    for args in [
        vec!["verify", &token, "--issuer", ISSUER, "--jwks", "x.json"],
        vec!["verify", &token, "--audience", AUDIENCE, "--jwks", "x.json"],
        vec!["verify", &token, "--issuer", ISSUER, "--audience", AUDIENCE],
        vec![
            "verify",
            &token,
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
            "--jwks",
            "a",
            "--jwks-url",
            "https://b",
        ],
        vec![
            "verify",
            &token,
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
            "--jwks",
            "a",
            "--output",
            "xml",
        ],
        vec![
            "verify",
            &token,
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
            "--jwks",
            "a",
            "--leeway",
            "-1",
        ],
        vec![
            "verify",
            &token,
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
            "--jwks",
            "a",
            "--max-lifetime",
            "0",
        ],
        vec![
            "verify",
            &token,
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
            "--jwks",
            "a",
            "--bogus",
        ],
        vec![
            "verify",
            &token,
            "--issuer",
            " padded",
            "--audience",
            AUDIENCE,
            "--jwks",
            jwks.to_str().unwrap(),
        ],
    ] {
        attest()
            .args(&args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(one_error_line());
    }
    // JWKS URLs: plain http without the development switch, and an unreachable issuer.
    let port = attest_testkit::redis::closed_port().unwrap();
    let url = format!("http://127.0.0.1:{port}/.well-known/jwks.json");
    for extra in [&[][..], &["--allow-insecure-loopback-jwks"][..]] {
        attest()
            .arg("verify")
            .arg(&token)
            .args([
                "--issuer",
                ISSUER,
                "--audience",
                AUDIENCE,
                "--jwks-url",
                &url,
            ])
            .args(extra)
            .assert()
            .code(2)
            .stdout("")
            .stderr(one_error_line());
    }
    attest()
        .arg("verify")
        .arg(&token)
        .args([
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
            "--jwks-url",
            "ftp://x/jwks",
        ])
        .assert()
        .code(2)
        .stderr(one_error_line());
}
