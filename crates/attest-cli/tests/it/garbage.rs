//! Garbage to every command that reads input: random bytes, nothing, and far too much, as a
//! token (argument and stdin), a key file, a JWKS file, a secret file. Each must end with exit
//! status 1 or 2, exactly one `error:` or `REJECTED` line, and never a panic.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use rand_chacha::rand_core::Rng;

use crate::common::{AUDIENCE, ISSUER, TempDir, attest, issuer_files, rng, serve_args};

/// Random bytes without NUL (which no argument can hold).
fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| if *b == 0 { 1 } else { *b }).collect()
}

/// The inputs: name and bytes.
fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", Vec::new()),
        ("random", random_bytes(4096)),
        ("random text", b"\x1b[31m\n{\"keys\":[".to_vec()),
        ("dots", b"..".to_vec()),
        (
            "deep json",
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
        ),
        ("json null", b"null".to_vec()),
        ("huge", vec![b'A'; 3 * 1024 * 1024]),
    ]
}

/// Exit 1 or 2, one `error:`/`REJECTED` line in all the output, no panic.
fn assert_refused(what: &str, output: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code();
    assert!(
        matches!(code, Some(1 | 2)),
        "{what}: exit {code:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    let verdicts = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| l.starts_with("error:") || l.starts_with("REJECTED"))
        .count();
    assert_eq!(verdicts, 1, "{what}\nstdout: {stdout}\nstderr: {stderr}");
}

fn run(what: &str, args: &[OsString], stdin: Option<&[u8]>) {
    let mut command = attest();
    command.args(args);
    if let Some(stdin) = stdin {
        command.write_stdin(stdin.to_vec());
    }
    let output = command.output().unwrap();
    assert_refused(what, &output);
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn with_path(args: &[&str], path: &Path) -> Vec<OsString> {
    let mut all = os(args);
    all.push(path.as_os_str().to_owned());
    all
}

#[test]
fn garbage_tokens_are_rejected_by_verify_and_inspect() {
    let dir = TempDir::new();
    let (_, jwks) = issuer_files(&dir);
    let verify = with_path(
        &[
            "verify",
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
            "--jwks",
        ],
        &jwks,
    );
    for (name, bytes) in inputs() {
        // As standard input.
        let mut args = verify.clone();
        args.push("-".into());
        run(&format!("verify stdin {name}"), &args, Some(&bytes));
        run(
            &format!("inspect stdin {name}"),
            &os(&["inspect", "-"]),
            Some(&bytes),
        );
        // As an argument (an argument is at most 128 KiB on Linux).
        let mut arg = bytes.clone();
        arg.truncate(100 * 1024);
        let mut args = verify.clone();
        args.push(OsString::from_vec(arg.clone()));
        run(&format!("verify arg {name}"), &args, None);
        let mut args = os(&["inspect"]);
        args.push(OsString::from_vec(arg));
        run(&format!("inspect arg {name}"), &args, None);
    }
}

#[test]
fn garbage_files_are_refused_by_every_command_that_reads_one() {
    let dir = TempDir::new();
    let (key, jwks) = issuer_files(&dir);
    let token = crate::common::token();
    for (name, bytes) in inputs() {
        let file = dir.write(&format!("garbage-{}", name.replace(' ', "-")), &bytes);
        run(&format!("jwks {name}"), &with_path(&["jwks"], &file), None);
        run(
            &format!("generate --key {name}"),
            &with_path(
                &[
                    "generate",
                    "--issuer",
                    ISSUER,
                    "--audience",
                    AUDIENCE,
                    "--key",
                ],
                &file,
            ),
            None,
        );
        run(
            &format!("verify --jwks {name}"),
            &with_path(
                &[
                    "verify",
                    &token,
                    "--issuer",
                    ISSUER,
                    "--audience",
                    AUDIENCE,
                    "--jwks",
                ],
                &file,
            ),
            None,
        );
        run(
            &format!("serve --jwks {name}"),
            &with_path(
                &[
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                    "--issuer",
                    ISSUER,
                    "--audience",
                    AUDIENCE,
                    "--jwks",
                ],
                &file,
            ),
            None,
        );
        run(
            &format!("issuer serve --key {name}"),
            &with_path(
                &[
                    "issuer",
                    "serve",
                    "--issuer",
                    ISSUER,
                    "--listen",
                    "127.0.0.1:0",
                    "--key",
                ],
                &file,
            ),
            None,
        );
        if name == "empty" || name == "huge" {
            // The only secret files that are refused: empty after trimming, or over the cap.
            let mut args = with_path(
                &[
                    "issuer",
                    "serve",
                    "--issuer",
                    ISSUER,
                    "--listen",
                    "127.0.0.1:0",
                    "--key",
                ],
                &key,
            );
            args.push("--client-secret-file".into());
            args.push(file.as_os_str().to_owned());
            run(
                &format!("issuer serve --client-secret-file {name}"),
                &args,
                None,
            );
        }
    }
    // Garbage flag values.
    for args in [
        vec![
            "generate",
            "--key",
            "k",
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
            "--lifetime",
            "x",
        ],
        vec![
            "generate",
            "--key",
            "k",
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
            "--typ",
            "jwt",
        ],
        [serve_args(Path::new("j")), vec!["--policy", "maybe"]].concat(),
        [serve_args(&jwks), vec!["--redis", "http://not-redis"]].concat(),
        vec!["nonsense"],
    ] {
        run(&format!("{args:?}"), &os(&args), None);
    }
    let mut random_arg = os(&[
        "generate",
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
        "--key",
    ]);
    random_arg.push(OsString::from_vec(random_bytes(64)));
    run("generate --key <random bytes>", &random_arg, None);
}
