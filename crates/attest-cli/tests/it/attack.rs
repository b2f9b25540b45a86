//! `attest attack`: the suite passes in-process and against a live `attest serve` (with proofs
//! of possession off, and required for the proof attacks), its ids are unique and stable, the
//! conformance vectors it generates have not drifted, docs/SECURITY.md carries its current
//! table, and a server that lets attacks through makes it fail.

use std::path::PathBuf;

use attest_core::Reason;
use serde_json::Value;

use crate::common::{AUDIENCE, ISSUER, TempDir, attest, issuer_files, serve_trusting_issuer};

/// The ids published so far, in order. An id is never renamed, renumbered or reused; new
/// attacks are appended (and added here).
const PUBLISHED_IDS: &[&str] = &[
    "ATK-001-model-spoofing",
    "ATK-002-provenance-forgery",
    "ATK-003-token-replay",
    "ATK-004-exp-tampering",
    "ATK-005-lookalike-issuer",
    "ATK-006-downgrade-no-token",
    "ATK-007-audience-mismatch",
    "ATK-008-safety-level-tampering",
    "ATK-009-alg-none",
    "ATK-010-alg-none-capitalized",
    "ATK-011-alg-eddsa-lowercase",
    "ATK-012-alg-hs256-public-key",
    "ATK-013-alg-rs256",
    "ATK-014-alg-es256",
    "ATK-015-alg-missing",
    "ATK-016-header-jwk",
    "ATK-017-header-jku",
    "ATK-018-header-x5u",
    "ATK-019-header-x5c",
    "ATK-020-header-crit",
    "ATK-021-header-b64-false",
    "ATK-022-header-cty",
    "ATK-023-typ-missing",
    "ATK-024-typ-jwt-not-opted-in",
    "ATK-025-typ-confusion",
    "ATK-026-kid-missing",
    "ATK-027-kid-empty",
    "ATK-028-kid-too-long",
    "ATK-029-kid-not-string",
    "ATK-030-kid-with-space",
    "ATK-031-segments-two",
    "ATK-032-segments-four",
    "ATK-033-jwe-five-segments",
    "ATK-034-jws-json-serialization",
    "ATK-035-base64-padding",
    "ATK-036-base64-standard-alphabet",
    "ATK-037-base64-whitespace",
    "ATK-038-base64-trailing-bits",
    "ATK-039-header-not-json",
    "ATK-040-payload-not-object",
    "ATK-041-duplicate-header-alg",
    "ATK-042-duplicate-claim-exp",
    "ATK-043-duplicate-nested-member",
    "ATK-044-duplicate-escaped-name",
    "ATK-045-oversized-token",
    "ATK-046-json-too-deep",
    "ATK-047-signature-63-bytes",
    "ATK-048-signature-65-bytes",
    "ATK-049-signature-s-plus-l",
    "ATK-050-signature-small-order-r",
    "ATK-051-signature-attacker-key",
    "ATK-052-kid-unknown",
    "ATK-053-issuer-trailing-slash",
    "ATK-054-issuer-case",
    "ATK-055-exp-missing",
    "ATK-056-iat-missing",
    "ATK-057-exp-float",
    "ATK-058-exp-string",
    "ATK-059-nbf-negative",
    "ATK-060-expired",
    "ATK-061-nbf-future",
    "ATK-062-iat-future",
    "ATK-063-exp-before-iat",
    "ATK-064-lifetime-exceeded",
    "ATK-065-aud-missing",
    "ATK-066-aud-empty",
    "ATK-067-jti-missing",
    "ATK-068-jti-empty",
    "ATK-069-jti-too-long",
    "ATK-070-identity-missing",
    "ATK-071-safety-level-unknown",
    "ATK-072-sub-empty",
    "ATK-073-cnf-private-key",
    "ATK-074-cnf-jkt-mismatch",
    "ATK-075-version-unsupported",
    "ATK-076-integrity-hash-malformed",
    "ATK-077-identity-key-forgery",
    "ATK-078-identity-key-non-canonical",
    "ATK-079-jwks-x-31-bytes",
    "ATK-080-jwks-x-33-bytes",
    "ATK-081-jwks-crv-p256",
    "ATK-082-jwks-wrong-alg",
    "ATK-083-jwks-use-enc",
    "ATK-084-jwks-key-ops-sign",
    "ATK-085-jwks-private-key",
    "ATK-086-jwks-duplicate-kid",
    "ATK-087-jwks-too-many-keys",
    "ATK-088-jwks-body-too-large",
    "ATK-089-cross-issuer-kid",
    "ATK-090-stateless-bypass",
    "ATK-091-stateless-tools-list",
    "ATK-092-carrier-not-object",
    "ATK-093-carrier-unknown-version",
    "ATK-094-malformed-beside-valid-carrier",
    "ATK-095-conflicting-carriers",
    "ATK-096-token-in-http-header",
    "ATK-097-session-replay",
    "ATK-098-session-token-reused-stateless",
    "ATK-099-proof-stolen-token-no-proof",
    "ATK-100-proof-thief-key",
    "ATK-101-proof-tool-a-on-tool-b",
    "ATK-102-proof-arguments-changed",
    "ATK-103-proof-other-attestation",
    "ATK-104-proof-other-server",
    "ATK-105-proof-too-old",
    "ATK-106-proof-from-the-future",
    "ATK-107-proof-foreign-key-in-header",
    "ATK-108-proof-bearer-token-no-proof",
    "ATK-109-proof-bearer-token-with-proof",
    "ATK-110-proof-token-as-proof",
    "ATK-111-proof-replay",
];

/// The proof-of-possession attacks (SPEC.md §17), with the reason and precise error each must
/// get: the attacks of attest-mcp-server's `tests/it/proof.rs`, and the replay of a proof.
const PROOF_ATTACKS: &[(&str, &str, &str)] = &[
    (
        "ATK-099-proof-stolen-token-no-proof",
        "attestation_proof_required",
        "proof_missing",
    ),
    (
        "ATK-100-proof-thief-key",
        "attestation_proof_invalid",
        "signature_mismatch",
    ),
    (
        "ATK-101-proof-tool-a-on-tool-b",
        "attestation_proof_mismatch",
        "nam_mismatch",
    ),
    (
        "ATK-102-proof-arguments-changed",
        "attestation_proof_mismatch",
        "ph_mismatch",
    ),
    (
        "ATK-103-proof-other-attestation",
        "attestation_proof_mismatch",
        "ath_mismatch",
    ),
    (
        "ATK-104-proof-other-server",
        "attestation_proof_mismatch",
        "aud_mismatch",
    ),
    (
        "ATK-105-proof-too-old",
        "attestation_proof_stale",
        "too_old",
    ),
    (
        "ATK-106-proof-from-the-future",
        "attestation_proof_stale",
        "issued_in_future",
    ),
    (
        "ATK-107-proof-foreign-key-in-header",
        "attestation_proof_invalid",
        "jwk_not_allowed",
    ),
    (
        "ATK-108-proof-bearer-token-no-proof",
        "attestation_proof_required",
        "proof_missing",
    ),
    (
        "ATK-109-proof-bearer-token-with-proof",
        "attestation_proof_invalid",
        "no_confirmation_key",
    ),
    (
        "ATK-110-proof-token-as-proof",
        "attestation_proof_invalid",
        "header_parameter_not_allowed",
    ),
    (
        "ATK-111-proof-replay",
        "attestation_proof_replay",
        "proof_replayed",
    ),
];

/// The skip reason of a proof attack against a target that does not require proofs.
const NEEDS_PROOFS: &str =
    "skipped: needs a target that requires proofs (attest serve --proof required)";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `attest attack ARGS --output json`; returns the exit code and the report.
fn attack_json(args: &[&str]) -> (i32, Value) {
    let output = attest()
        .arg("attack")
        .args(args)
        .args(["--output", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap(), report)
}

fn attacks(report: &Value) -> &Vec<Value> {
    report["attacks"].as_array().unwrap()
}

fn not_detected(report: &Value) -> Vec<String> {
    attacks(report)
        .iter()
        .filter(|a| a["status"] != "detected" && a["status"] != "skipped")
        .map(|a| format!("{}: {}", a["id"], a["observed"]))
        .collect()
}

#[test]
fn every_attack_is_detected_in_process() {
    let (code, report) = attack_json(&[]);
    assert_eq!(not_detected(&report), Vec::<String>::new());
    assert_eq!(code, 0, "{report}");
    let total = report["total"].as_u64().unwrap();
    assert!(total >= 35, "only {total} attacks");
    assert_eq!(report["detected"], report["total"]);
    assert_eq!(report["skipped"], 0);
    assert_eq!(report["missed"], 0);
    assert_eq!(attacks(&report).len() as u64, total);
    for attack in attacks(&report) {
        assert_eq!(attack["detected"], true, "{attack}");
        assert_eq!(
            attack["observed_reason"], attack["expected_reason"],
            "{attack}"
        );
        if !attack["expected_error"].is_null() && !attack["observed_error"].is_null() {
            assert_eq!(
                attack["observed_error"], attack["expected_error"],
                "{attack}"
            );
        }
    }
    // Every proof attack ran, each refused for its own reason and precise error, observed
    // in-process (over HTTP for the reason, through the verifier for the error).
    for (id, reason, error) in PROOF_ATTACKS {
        let attack = by_id(&report, id);
        assert_eq!(attack["status"], "detected", "{attack}");
        assert_eq!(attack["observed_reason"], *reason, "{attack}");
        assert_eq!(attack["observed_error"], *error, "{attack}");
    }
    assert!(
        report["mode"]
            .as_str()
            .unwrap()
            .contains("a key-bound token with a valid proof is accepted"),
        "{report}"
    );
}

fn by_id(report: &Value, id: &str) -> Value {
    attacks(report)
        .iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("no attack {id}"))
        .clone()
}

#[test]
fn the_text_report_is_a_table_and_exit_zero() {
    let output = attest().arg("attack").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("id "), "{text}");
    assert!(text.contains("| attack "), "{text}");
    assert!(text.contains("| expected "), "{text}");
    assert!(text.contains("| observed "), "{text}");
    assert!(text.contains("| result"), "{text}");
    assert!(text.contains("ATK-001-model-spoofing"), "{text}");
    assert!(text.contains("✓ detected"), "{text}");
    assert!(!text.contains("MISSED"), "{text}");
    assert!(text.contains("0 missed"), "{text}");
}

#[test]
fn ids_are_unique_stable_and_numbered_in_order() {
    let (_, report) = attack_json(&[]);
    let ids: Vec<&str> = attacks(&report)
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.starts_with(PUBLISHED_IDS),
        "a published id changed: {ids:?}"
    );
    let mut seen = std::collections::HashSet::new();
    for (index, id) in ids.iter().enumerate() {
        assert!(seen.insert(*id), "{id} twice");
        let (number, slug) = id
            .strip_prefix("ATK-")
            .and_then(|rest| rest.split_once('-'))
            .unwrap_or_else(|| panic!("{id} is not ATK-NNN-slug"));
        assert_eq!(number, format!("{:03}", index + 1), "{id} out of order");
        assert!(
            !slug.is_empty()
                && slug
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{id}"
        );
    }
    // Vector names, where an attack is a conformance vector, are unique too.
    let vectors: Vec<&str> = attacks(&report)
        .iter()
        .filter_map(|a| a["vector"].as_str())
        .collect();
    let unique: std::collections::HashSet<&&str> = vectors.iter().collect();
    assert_eq!(unique.len(), vectors.len());
}

#[test]
fn the_original_scenarios_and_every_reason_are_covered() {
    let (_, report) = attack_json(&[]);
    let expected: Vec<&str> = attacks(&report)
        .iter()
        .map(|a| a["expected_reason"].as_str().unwrap())
        .collect();
    // Every reason a token, a replay, a missing attestation or a proof of possession can earn.
    // `unavailable` is a failure of the verifier's dependencies.
    for reason in Reason::ALL {
        let wire = reason.as_str();
        if reason == Reason::Unavailable {
            continue;
        }
        assert!(expected.contains(&wire), "no attack expects {wire}");
    }
    // The original's eight scenarios come first, with their expected reasons.
    let first: Vec<(&str, &str)> = attacks(&report)
        .iter()
        .take(8)
        .map(|a| {
            (
                a["id"].as_str().unwrap(),
                a["expected_reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        first,
        [
            ("ATK-001-model-spoofing", "attestation_key_unknown"),
            ("ATK-002-provenance-forgery", "attestation_issuer_untrusted"),
            ("ATK-003-token-replay", "attestation_replay"),
            ("ATK-004-exp-tampering", "attestation_invalid"),
            ("ATK-005-lookalike-issuer", "attestation_issuer_untrusted"),
            ("ATK-006-downgrade-no-token", "attestation_required"),
            ("ATK-007-audience-mismatch", "attestation_audience_mismatch"),
            ("ATK-008-safety-level-tampering", "attestation_invalid"),
        ]
    );
}

#[test]
fn the_conformance_vectors_have_not_drifted() {
    let committed = root().join("testvectors/attest/vectors.json");
    attest()
        .arg("attack")
        .arg("--check-vectors")
        .arg(&committed)
        .assert()
        .success();
    // --write-vectors writes exactly the committed bytes.
    let dir = TempDir::new();
    let written = dir.path("vectors.json");
    attest()
        .arg("attack")
        .arg("--write-vectors")
        .arg(&written)
        .assert()
        .success();
    assert_eq!(
        std::fs::read(&written).unwrap(),
        std::fs::read(&committed).unwrap()
    );
    // A drifted file fails the check with exit 1.
    let text = std::fs::read_to_string(&committed).unwrap();
    let drifted = dir.write(
        "drifted.json",
        text.replacen("signature_length", "other", 1),
    );
    attest()
        .arg("attack")
        .arg("--check-vectors")
        .arg(&drifted)
        .assert()
        .code(1);
}

#[test]
fn the_vectors_hold_every_token_attack_and_the_six_valid_cases() {
    let text = std::fs::read_to_string(root().join("testvectors/attest/vectors.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["valid"].as_array().unwrap().len(), 6);
    let names: Vec<&str> = doc["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let (_, report) = attack_json(&[]);
    let vectors: Vec<&str> = attacks(&report)
        .iter()
        .filter_map(|a| a["vector"].as_str())
        .collect();
    assert_eq!(names, vectors);
    assert!(names.len() >= 40);
}

#[test]
fn docs_security_carries_the_current_attack_table() {
    let output = attest()
        .args(["attack", "--markdown"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(output).unwrap();
    assert!(table.starts_with("| id |"), "{table}");
    let doc = std::fs::read_to_string(root().join("docs/SECURITY.md")).unwrap();
    assert!(
        doc.contains(&table),
        "docs/SECURITY.md is out of date: replace its table with `attest attack --markdown`"
    );
    for id in PUBLISHED_IDS {
        assert!(
            doc.contains(&format!("`{id}`")),
            "{id} missing from docs/SECURITY.md"
        );
    }
}

#[test]
fn usage_and_configuration_errors_exit_2() {
    // --issuer-key only makes sense with --target.
    attest()
        .args(["attack", "--issuer-key", "issuer.jwk"])
        .assert()
        .code(2);
    attest()
        .args(["attack", "--output", "yaml"])
        .assert()
        .code(2);
    attest()
        .args(["attack", "--target", "not a url"])
        .assert()
        .code(2);
    // Nothing listens on port 1.
    attest()
        .args(["attack", "--target", "http://127.0.0.1:1/mcp"])
        .assert()
        .code(2);
    let dir = TempDir::new();
    let garbage = dir.write("garbage.jwk", "{\"kty\":\"OKP\"");
    attest()
        .args([
            "attack",
            "--target",
            "http://127.0.0.1:1/mcp",
            "--issuer-key",
        ])
        .arg(&garbage)
        .assert()
        .code(2);
}

#[test]
fn against_a_live_attest_serve_every_attack_that_runs_is_detected() {
    let dir = TempDir::new();
    let (key, _) = issuer_files(&dir);
    let server = serve_trusting_issuer(&dir, &[]);
    let url = format!("http://{}/mcp", server.addr);

    // With the issuer's key: every attack but those on the verifier's own keys runs.
    let (code, report) = attack_json(&[
        "--target",
        &url,
        "--issuer-key",
        key.to_str().unwrap(),
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
    ]);
    assert_eq!(not_detected(&report), Vec::<String>::new());
    assert_eq!(code, 0, "{report}");
    assert!(report["total"].as_u64().unwrap() >= 35, "{report}");
    assert_eq!(report["detected"], report["total"]);
    // The server does not require proofs (the default): the proof attacks are skipped, with
    // the flag that would run them, and only they and the in-process ones are.
    assert!(
        report["mode"].as_str().unwrap().contains("proofs off"),
        "{report}"
    );
    for attack in attacks(&report) {
        if attack["status"] == "skipped" {
            let observed = attack["observed"].as_str().unwrap();
            assert!(
                observed.contains("in-process only") || observed == NEEDS_PROOFS,
                "{attack}"
            );
        }
    }
    for (id, ..) in PROOF_ATTACKS {
        assert_eq!(by_id(&report, id)["observed"], NEEDS_PROOFS, "{id}");
    }
    // The session replays and the token replay, made with key-bound tokens and proofs, ran.
    for id in [
        "ATK-003-token-replay",
        "ATK-097-session-replay",
        "ATK-098-session-token-reused-stateless",
    ] {
        assert_eq!(by_id(&report, id)["status"], "detected", "{id}");
    }

    // Without it: the keyless attacks run, the rest are skipped, and the trusted issuer is
    // read from the server's refusal.
    let (code, report) = attack_json(&["--target", &url, "--audience", AUDIENCE]);
    assert_eq!(not_detected(&report), Vec::<String>::new());
    assert_eq!(code, 0, "{report}");
    assert!(
        report["mode"].as_str().unwrap().contains(ISSUER),
        "{report}"
    );
    assert!(report["total"].as_u64().unwrap() >= 10, "{report}");
    let needs_key = attacks(&report)
        .iter()
        .filter(|a| a["observed"] == "skipped: needs --issuer-key")
        .count();
    assert!(needs_key > 0);
    for id in [
        "ATK-001-model-spoofing",
        "ATK-006-downgrade-no-token",
        "ATK-009-alg-none",
        "ATK-090-stateless-bypass",
        "ATK-092-carrier-not-object",
    ] {
        assert_eq!(by_id(&report, id)["status"], "detected", "{id}");
    }
}

#[test]
fn against_attest_serve_requiring_proofs_every_proof_attack_is_detected() {
    let dir = TempDir::new();
    let (key, _) = issuer_files(&dir);
    let server = serve_trusting_issuer(&dir, &["--proof", "required"]);
    let url = format!("http://{}/mcp", server.addr);
    let (code, report) = attack_json(&[
        "--target",
        &url,
        "--issuer-key",
        key.to_str().unwrap(),
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
    ]);
    assert_eq!(not_detected(&report), Vec::<String>::new());
    assert_eq!(code, 0, "{report}");
    assert!(
        report["mode"].as_str().unwrap().contains("proofs required"),
        "{report}"
    );
    assert_eq!(report["detected"], report["total"]);
    // Only the attacks on the verifier's own keys are skipped: every other one, the classic
    // attacks included, runs against a server that requires proofs, and the control (a
    // key-bound token with the agent's proof) is served.
    for attack in attacks(&report) {
        if attack["status"] == "skipped" {
            assert!(
                attack["observed"]
                    .as_str()
                    .unwrap()
                    .contains("in-process only"),
                "{attack}"
            );
        }
    }
    for (id, reason, _) in PROOF_ATTACKS {
        let attack = by_id(&report, id);
        assert_eq!(attack["status"], "detected", "{attack}");
        // Over the wire only the reason is observed; the precise error stays in the log.
        assert_eq!(attack["observed_reason"], *reason, "{attack}");
    }
    for id in [
        "ATK-003-token-replay",
        "ATK-097-session-replay",
        "ATK-098-session-token-reused-stateless",
    ] {
        assert_eq!(by_id(&report, id)["status"], "detected", "{id}");
    }

    // Without the issuer's key no key-bound token can be made: the proof attacks are skipped.
    let (code, report) = attack_json(&["--target", &url, "--audience", AUDIENCE]);
    assert_eq!(code, 0, "{report}");
    for (id, ..) in PROOF_ATTACKS {
        assert_eq!(
            by_id(&report, id)["observed"],
            "skipped: needs --issuer-key",
            "{id}"
        );
    }
}

#[test]
fn a_server_that_serves_unattested_requests_fails_the_suite() {
    // Under policy `preferred` every request reaches the tools: the attacks succeed, and the
    // suite must say so (exit 1), or its passes would mean nothing.
    let dir = TempDir::new();
    let (key, _) = issuer_files(&dir);
    let server = serve_trusting_issuer(&dir, &["--policy", "preferred"]);
    let url = format!("http://{}/mcp", server.addr);
    let (code, report) = attack_json(&[
        "--target",
        &url,
        "--issuer-key",
        key.to_str().unwrap(),
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
    ]);
    assert_eq!(code, 1, "{report}");
    assert!(report["missed"].as_u64().unwrap() > 0);
    let bypass = attacks(&report)
        .iter()
        .find(|a| a["id"] == "ATK-090-stateless-bypass")
        .unwrap();
    assert_eq!(bypass["status"], "missed");
    assert_eq!(bypass["observed"], "ACCEPTED");
}

#[test]
fn a_wrong_issuer_key_fails_the_control_with_exit_2() {
    // A key the server does not trust: the control (a valid token must be served) fails, so
    // the run refuses to report rejections that would be caused by the misconfiguration.
    let dir = TempDir::new();
    let server = serve_trusting_issuer(&dir, &[]);
    let url = format!("http://{}/mcp", server.addr);
    let other = attest_core::SigningKey::from_seed(&[0x07; 32], "issuer-1").unwrap();
    let other_key = dir.write("other.jwk", other.to_private_jwk().to_json());
    attest()
        .args([
            "attack",
            "--target",
            &url,
            "--audience",
            AUDIENCE,
            "--issuer-key",
        ])
        .arg(&other_key)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("control failed"));
}
