//! Project automation, run as `cargo xtask <command>` (see `.cargo/config.toml`).
//!
//! Each command is a small function that runs cargo (or the project's own binaries) and reports
//! what it did. There is no Makefile or scripts folder beside this.

// `serde_json::Value` indexing returns `Null` for a missing member; it never panics.
#![allow(clippy::indexing_slicing)]

mod bench;
mod demo;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  demo [--docker] run the end-to-end demo: local processes, or Docker Compose
  test            run the whole test suite
  bench [--compare] [--quick]
                  run the benchmarks and refresh docs/PERFORMANCE.md and docs/perf-*.svg;
                  --compare also runs the Python original's stack (pip-installs PyJWT and
                  cryptography into target/ if missing); --quick is a smoke run
  tidy            formatting, clippy, layering and file-header checks, doc links
  vectors [--check]
                  regenerate testvectors/attest/vectors.json, or check it has not drifted
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo::run(args.iter().any(|a| a == "--docker")),
        Some("test") => test(),
        Some("bench") => bench::run(&args[1..]),
        Some("tidy") => tidy(),
        Some("vectors") => vectors(args.iter().any(|a| a == "--check")),
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown or missing command\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
///
/// `cargo run` names the manifest directory at run time; that is preferred to the one baked in
/// at compile time, which is stale when two checkouts share a target directory (cargo then
/// reuses one checkout's xtask binary for the other).
fn root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Runs `cargo <args>` in the workspace root; fails if it fails.
fn cargo(args: &[&str]) -> Result<(), String> {
    cargo_with_env(args, &[])
}

fn cargo_with_env(args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(cargo)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

fn test() -> Result<(), String> {
    // Redis tests never skip: make sure they will find one (REDIS_URL, 127.0.0.1:6379, or an
    // installed redis-server they start themselves).
    let installed = Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if std::env::var_os("REDIS_URL").is_none() && !demo::ping(6379) && !installed {
        return Err(
            "the tests need Redis: install redis-server, start one on 127.0.0.1:6379, \
                    or set REDIS_URL"
                .into(),
        );
    }
    cargo(&["test", "--workspace"])
}

fn tidy() -> Result<(), String> {
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    tidy::check_workspace(&root())?;
    cargo_with_env(
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    vectors(true)
}

fn vectors(check: bool) -> Result<(), String> {
    // The vectors come from the attack corpus (crates/attest-cli/src/attack), so attacks and
    // conformance vectors are one corpus.
    let mode = if check {
        "--check-vectors"
    } else {
        "--write-vectors"
    };
    cargo(&[
        "run",
        "--quiet",
        "-p",
        "attest-cli",
        "--bin",
        "attest",
        "--",
        "attack",
        mode,
        "testvectors/attest/vectors.json",
    ])
}

#[cfg(test)]
mod tests;
