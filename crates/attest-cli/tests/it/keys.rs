//! `attest keygen` and `attest jwks`: files with mode 0600, no overwrite without --force, and
//! a public JWKS that never carries `d`.

use std::os::unix::fs::PermissionsExt;

use attest_core::{Jwk, JwksLimits, KeySet, SigningKey};
use predicates::prelude::*;

use crate::common::{TempDir, attest, issuer_key};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn keygen_writes_a_private_jwk_with_mode_0600() {
    let dir = TempDir::new();
    let path = dir.path("k.jwk");
    attest()
        .args(["keygen", "--kid", "issuer-2026-11", "--out"])
        .arg(&path)
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("issuer-2026-11"));
    assert_eq!(mode(&path), 0o600);
    let jwk = Jwk::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(jwk.d.is_some(), "the file holds the private key");
    let key = SigningKey::from_jwk(&jwk).unwrap();
    assert_eq!(key.kid(), "issuer-2026-11");
}

#[test]
fn keygen_refuses_to_overwrite_without_force() {
    let dir = TempDir::new();
    let path = dir.path("k.jwk");
    attest()
        .args(["keygen", "--kid", "first", "--out"])
        .arg(&path)
        .assert()
        .success();
    let before = std::fs::read_to_string(&path).unwrap();
    attest()
        .args(["keygen", "--kid", "second", "--out"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with("error: ").and(predicate::str::contains("--force")));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before, "unchanged");

    // --force replaces it, and narrows a wider mode to 0600 before writing the key.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    attest()
        .args(["keygen", "--kid", "second", "--force", "--out"])
        .arg(&path)
        .assert()
        .success();
    assert_eq!(mode(&path), 0o600);
    let key =
        SigningKey::from_jwk(&Jwk::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap())
            .unwrap();
    assert_eq!(key.kid(), "second");
}

#[test]
fn keygen_to_stdout_and_default_kid() {
    let output = attest()
        .arg("keygen")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let key = SigningKey::from_jwk(&Jwk::from_json(std::str::from_utf8(&output).unwrap()).unwrap())
        .unwrap();
    // The default kid is the RFC 7638 thumbprint.
    assert_eq!(key.kid(), key.public_key().thumbprint());
}

#[test]
fn keygen_refuses_an_invalid_kid() {
    attest()
        .args(["keygen", "--kid", "has space"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::starts_with("error: --kid"));
}

#[test]
fn jwks_never_prints_d() {
    let dir = TempDir::new();
    let private = dir.write("private.jwk", issuer_key().to_private_jwk().to_json());
    let other = SigningKey::from_seed(&[9; 32], "other-1").unwrap();
    let public = dir.write("public.jwk", other.to_public_jwk().to_json());
    let output = attest()
        .arg("jwks")
        .arg(&private)
        .arg(&public)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(output).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    for key in value["keys"].as_array().unwrap() {
        assert!(key.get("d").is_none(), "{text}");
    }
    assert!(!text.contains(issuer_key().to_private_jwk().d.as_deref().unwrap()));
    let set = KeySet::parse(text.as_bytes(), JwksLimits::default()).unwrap();
    assert_eq!(set.kids(), vec!["issuer-1", "other-1"]);
    assert_eq!(set.get("issuer-1"), Some(&issuer_key().public_key()));

    // A JWK Set is accepted as input too, and gives the same set back.
    let again = dir.write("jwks.json", &text);
    attest()
        .arg("jwks")
        .arg(&again)
        .assert()
        .success()
        .stdout(text);
}

#[test]
fn jwks_refuses_duplicate_kids_and_bad_keys() {
    let dir = TempDir::new();
    let a = dir.write("a.jwk", issuer_key().to_private_jwk().to_json());
    let b = dir.write("b.jwk", issuer_key().to_public_jwk().to_json());
    attest()
        .arg("jwks")
        .arg(&a)
        .arg(&b)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("kid"));

    // A private JWK whose `x` is another key's: refused, never published.
    let mut mismatched = issuer_key().to_private_jwk();
    mismatched.x = SigningKey::from_seed(&[3; 32], "x")
        .unwrap()
        .to_public_jwk()
        .x;
    let bad = dir.write("bad.jwk", mismatched.to_json());
    attest().arg("jwks").arg(&bad).assert().code(2).stdout("");

    attest().arg("jwks").assert().code(2);
    attest()
        .arg("jwks")
        .arg(dir.path("missing.jwk"))
        .assert()
        .code(2);
}
