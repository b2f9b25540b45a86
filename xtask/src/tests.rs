//! Tidy tests: run by `cargo test --workspace`, they fail when the workspace breaks its own rules.

use super::{root, tidy};

#[test]
fn dependencies_point_down_the_layers() {
    let meta = tidy::metadata(&root()).unwrap();
    let violations = tidy::layering_violations(&meta);
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn attest_core_has_no_io_or_async_dependencies() {
    let meta = tidy::metadata(&root()).unwrap();
    let closure = tidy::normal_closure(&meta, "attest-core");
    assert!(
        closure.contains("ed25519-dalek"),
        "closure looks wrong: {closure:?}"
    );
    let forbidden: Vec<&&str> = tidy::FORBIDDEN_IN_CORE
        .iter()
        .filter(|f| closure.contains(**f))
        .collect();
    assert!(forbidden.is_empty(), "attest-core depends on {forbidden:?}");
}

#[test]
fn layering_check_catches_an_upward_dependency() {
    // A fabricated metadata document where attest-core depends on attest-cli.
    let meta = serde_json::json!({
        "workspace_members": ["core-id"],
        "packages": [{
            "id": "core-id", "name": "attest-core",
            "dependencies": [{"name": "attest-cli", "kind": null}]
        }]
    });
    assert_eq!(tidy::layering_violations(&meta).len(), 1);
}

#[test]
fn every_rust_file_starts_with_a_module_doc_line() {
    let missing = tidy::files_without_header(&root());
    assert!(
        missing.is_empty(),
        "files without a leading `//!` line:\n{}",
        missing.join("\n")
    );
}
