//! Checks on the workspace itself: crate layering, pure-core dependencies and file headers. (The
//! benchmark report lives in `bench.rs`.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The layer of each workspace crate. A crate may depend (normal or build dependency) only on
/// crates of a strictly lower layer. A crate missing here fails the check, so that a new crate
/// must be placed deliberately.
pub(crate) const LAYERS: &[(&str, u8)] = &[
    ("attest-core", 0),
    ("attest-protocol", 1),
    ("attest-observe", 1),
    ("attest-jwks", 2),
    ("attest-cache", 2),
    ("attest-testkit", 3),
    ("attest-mcp-server", 4),
    ("attest-mcp-client", 4),
    ("attest-gateway", 5),
    ("attest-cli", 6),
    ("attest-bench", 7),
    ("attest-demo", 7),
];

/// Crates that must never appear among attest-core's normal dependencies, even transitively:
/// the core does no I/O and no async.
pub(crate) const FORBIDDEN_IN_CORE: &[&str] = &[
    "tokio",
    "hyper",
    "hyper-util",
    "reqwest",
    "redis",
    "deadpool-redis",
    "rmcp",
    "mio",
];

/// Every workspace rule at once: layering, attest-core's closure, file headers.
pub(crate) fn check_workspace(root: &Path) -> Result<(), String> {
    let meta = metadata(root)?;
    let mut problems = layering_violations(&meta);
    let closure = normal_closure(&meta, "attest-core");
    problems.extend(
        FORBIDDEN_IN_CORE
            .iter()
            .filter(|f| closure.contains(**f))
            .map(|f| format!("attest-core depends on {f}: the core must stay free of I/O")),
    );
    problems.extend(
        files_without_header(root)
            .into_iter()
            .map(|f| format!("{f} lacks a leading `//!` line")),
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Rust files in `crates/` and `xtask/` that do not start with a `//!` line.
pub(crate) fn files_without_header(root: &Path) -> Vec<String> {
    ["crates", "xtask"]
        .iter()
        .flat_map(|dir| rust_files(&root.join(dir)))
        .filter(|file| !std::fs::read_to_string(file).is_ok_and(|t| t.starts_with("//!")))
        .map(|file| file.display().to_string())
        .collect()
}

/// `cargo metadata` for the workspace.
pub(crate) fn metadata(root: &Path) -> Result<Value, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata output: {e}"))
}

/// Violations of the layering rule, as sentences.
pub(crate) fn layering_violations(meta: &Value) -> Vec<String> {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut violations = Vec::new();
    for package in workspace_packages(meta) {
        let name = package["name"].as_str().unwrap_or_default();
        if name == "xtask" {
            continue;
        }
        let Some(&layer) = layers.get(name) else {
            violations.push(format!("{name} has no layer in xtask/src/tidy.rs LAYERS"));
            continue;
        };
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            let is_dev = dep["kind"].as_str() == Some("dev");
            match layers.get(dep_name) {
                Some(&dep_layer) if !is_dev && dep_layer >= layer => violations.push(format!(
                    "{name} (layer {layer}) depends on {dep_name} (layer {dep_layer}): dependencies must point down"
                )),
                _ => {}
            }
        }
    }
    violations
}

/// The names of every package that `root` reaches through normal dependencies.
pub(crate) fn normal_closure(meta: &Value, root: &str) -> BTreeSet<String> {
    let nodes: BTreeMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let names: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let Some(start) = names.iter().find(|(_, n)| **n == root).map(|(id, _)| *id) else {
        return BTreeSet::new();
    };
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes
            .get(id)
            .and_then(|n| n["deps"].as_array())
            .into_iter()
            .flatten()
        {
            let normal = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null());
            if normal && let Some(pkg) = dep["pkg"].as_str() {
                stack.push(pkg);
            }
        }
    }
    seen.into_iter()
        .filter_map(|id| names.get(id).map(|n| (*n).to_owned()))
        .collect()
}

fn workspace_packages(meta: &Value) -> impl Iterator<Item = &Value> {
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |p| p["id"].as_str().is_some_and(|id| members.contains(id)))
}

/// Rust files under `dir` (recursively), skipping `target`.
pub(crate) fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "target") {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}
