//! `attest inspect`: decoded without verifying, labelled UNVERIFIED, expiry relative to now.

use attest_core::{SigningKey, UnixTime};
use predicates::prelude::*;
use serde_json::Value;

use crate::common::{AUDIENCE, ISSUER, attest, issuer_key, now, token, token_at};

#[test]
fn inspect_labels_unverified_and_shows_expiry() {
    attest()
        .args(["inspect", &token()])
        .assert()
        .success()
        .stdout(
            predicate::str::starts_with("UNVERIFIED")
                .and(predicate::str::contains("\"kid\": \"issuer-1\""))
                .and(predicate::str::contains(format!("\"iss\": \"{ISSUER}\"")))
                .and(
                    predicate::str::contains("(expires in 4m 5")
                        .or(predicate::str::contains("(expires in 5m 0s)")),
                ),
        );
    let old = token_at(
        &issuer_key(),
        ISSUER,
        AUDIENCE,
        UnixTime::from_secs(now().as_secs() - 500),
    );
    attest()
        .arg("inspect")
        .write_stdin(old)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("(expired 3m 20s ago)")
                .or(predicate::str::contains("(expired 3m 2")),
        );
}

#[test]
fn inspect_decodes_a_forged_token_but_says_so() {
    // A token nobody trusts still decodes: inspect checks nothing but structure.
    let forger = SigningKey::from_seed(&[0x99; 32], "who-knows").unwrap();
    let forged = token_at(&forger, "https://evil.example", AUDIENCE, now());
    attest()
        .args(["inspect", &forged])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("UNVERIFIED").and(predicate::str::contains("evil.example")),
        );
}

#[test]
fn inspect_json() {
    let output = attest()
        .args(["inspect", "--output", "json", &token()])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let value: Value = serde_json::from_slice(&output).unwrap();
    assert_eq!(value["verified"], false);
    assert_eq!(value["header"]["alg"], "EdDSA");
    assert_eq!(value["header"]["typ"], "agent-attestation+jwt");
    assert_eq!(value["claims"]["aud"], AUDIENCE);
    assert_eq!(value["expired"], false);
    let left = value["expires_in_secs"].as_i64().unwrap();
    assert!((290..=300).contains(&left), "{left}");
}

#[test]
fn inspect_refuses_what_is_not_a_token() {
    for input in ["", "a.b", "a.b.c", "e30.e30", "{\"alg\":\"none\"}"] {
        attest()
            .args(["inspect", input])
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicate::str::starts_with(
                "error: cannot decode the token",
            ));
    }
}
