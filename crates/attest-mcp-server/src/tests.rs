//! Unit tests: the admission rule, and coverage of rmcp's `ServerHandler` trait.

use attest_core::Reason;
use attest_protocol::Enforcement;

use crate::agent::AttestationStatus;
use crate::gate::admission;
use crate::server::COVERED;

#[test]
fn required_admits_only_a_verified_agent() {
    assert_eq!(
        admission(Enforcement::Required, &AttestationStatus::Absent),
        Err(Reason::Required)
    );
    let failed = AttestationStatus::Failed(Reason::Expired);
    assert_eq!(
        admission(Enforcement::Required, &failed),
        Err(Reason::Expired)
    );
    for enforcement in [Enforcement::Preferred, Enforcement::Optional] {
        assert_eq!(admission(enforcement, &AttestationStatus::Absent), Ok(()));
        assert_eq!(admission(enforcement, &failed), Ok(()));
    }
}

/// The method names of rmcp's `ServerHandler`, read from the rmcp source this build uses.
fn rmcp_server_handler_methods() -> Vec<String> {
    let meta = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap();
    let rmcp = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "rmcp")
        .expect("rmcp in cargo metadata");
    let manifest = std::path::PathBuf::from(rmcp["manifest_path"].as_str().unwrap());
    let source =
        std::fs::read_to_string(manifest.parent().unwrap().join("src/handler/server.rs")).unwrap();
    // The trait's methods are written once, in the `server_handler_methods!` macro.
    let start = source
        .find("macro_rules! server_handler_methods")
        .expect("the methods macro");
    let body = source[start..]
        .split("\n}\n")
        .next()
        .expect("the macro's body");
    body.lines()
        .filter_map(|line| {
            let name = line.trim_start().strip_prefix("fn ")?;
            Some(name.split(['(', '<']).next()?.to_owned())
        })
        .collect()
}

#[test]
fn every_server_handler_method_of_rmcp_is_covered() {
    let rmcp = rmcp_server_handler_methods();
    assert!(rmcp.len() >= 30, "parsed only {rmcp:?}");
    let covered: Vec<&str> = COVERED.iter().map(|(name, _)| *name).collect();
    let missing: Vec<&String> = rmcp
        .iter()
        .filter(|m| !covered.contains(&m.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "rmcp's ServerHandler has methods AttestingServer does not implement: {missing:?}. \
         Implement each in server.rs behind the gate (or as lifecycle, with a reason) and list it in COVERED."
    );
    let stale: Vec<&&str> = covered
        .iter()
        .filter(|c| !rmcp.iter().any(|m| m == *c))
        .collect();
    assert!(
        stale.is_empty(),
        "COVERED lists methods rmcp no longer has: {stale:?}"
    );
}

#[test]
fn every_covered_method_is_implemented_in_server_rs() {
    let source = include_str!("server.rs");
    let body = &source[source
        .find("impl<H: ServerHandler> ServerHandler for AttestingServer<H>")
        .unwrap()..];
    for (name, door) in COVERED {
        let defined = body.contains(&format!("fn {name}("))
            || body.contains(&format!("\n        {name}("))
            || body.contains(&format!("\n        {name}()"));
        assert!(defined, "{name} ({door}) is listed but not implemented");
    }
}

/// A handler with rmcp's default for every method.
struct Bare;

impl rmcp::ServerHandler for Bare {}

/// The size of the future rmcp spawns for each request to `handler`.
fn request_future_size<H: rmcp::ServerHandler>(handler: &H) -> usize {
    use rmcp::service::{RequestContext, Service};
    fn size<F: Future>(
        _: impl Fn(rmcp::model::ClientRequest, RequestContext<rmcp::RoleServer>) -> F,
    ) -> usize {
        size_of::<F>()
    }
    size(|request, context| Service::<rmcp::RoleServer>::handle_request(handler, request, context))
}

/// The gate's own work is boxed, so wrapping a handler adds little to every request future
/// that rmcp spawns and moves (inline, it added 1,424 bytes to the bare 3,368).
#[test]
fn wrapping_a_handler_keeps_its_request_future_small() {
    let policy = attest_core::Policy::builder()
        .trusted_issuer("https://issuer.example")
        .audience("https://server.example")
        .build()
        .unwrap();
    let verifier = crate::Verifier::builder(policy)
        .keys(attest_core::TrustStore::new())
        .build()
        .unwrap();
    let gate = crate::AttestationGate::new(verifier, Enforcement::Required);
    let bare = request_future_size(&Bare);
    let wrapped = request_future_size(&gate.wrap(Bare));
    assert!(
        wrapped <= bare + 512,
        "wrapped {wrapped} bytes, bare {bare} bytes"
    );
}
