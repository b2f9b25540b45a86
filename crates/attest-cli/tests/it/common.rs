//! Fixtures: the binary, a temporary directory, an issuer key with its files, tokens crafted
//! with attest-core, and a running `attest serve` / `attest issuer serve` child process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attest_core::{
    AgentIdentity, AttestationMetadata, SigningKey, TokenBuilder, TokenType, UnixTime,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

pub const ISSUER: &str = "https://issuer.example";
pub const AUDIENCE: &str = "https://tools.example/mcp";

/// The binary under test.
pub fn attest() -> assert_cmd::Command {
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_attest"))
}

/// The binary under test, as a plain `std` command (for long-running children).
pub fn attest_std() -> StdCommand {
    StdCommand::new(env!("CARGO_BIN_EXE_attest"))
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "attest-cli-it-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The fixed issuer key of these tests.
pub fn issuer_key() -> SigningKey {
    SigningKey::from_seed(&[0x42; 32], "issuer-1").unwrap()
}

/// Writes the issuer's private JWK and public JWKS; returns `(key file, jwks file)`.
pub fn issuer_files(dir: &TempDir) -> (PathBuf, PathBuf) {
    let key = issuer_key();
    let key_path = dir.write("issuer.jwk", key.to_private_jwk().to_json());
    let jwks = format!("{{\"keys\":[{}]}}", key.to_public_jwk().to_json());
    let jwks_path = dir.write("jwks.json", jwks);
    (key_path, jwks_path)
}

pub fn now() -> UnixTime {
    UnixTime::from(std::time::SystemTime::now())
}

pub fn rng() -> ChaCha20Rng {
    static SEED: AtomicU64 = AtomicU64::new(1);
    ChaCha20Rng::seed_from_u64(SEED.fetch_add(1, Ordering::Relaxed))
}

/// A token builder for the fixtures' issuer and audience.
pub fn builder(issuer: &str, audience: &str) -> TokenBuilder {
    TokenBuilder::new(issuer, "spiffe://anthropic.com/model/claude-sonnet-4")
        .audience(audience)
        .identity(AgentIdentity::new(
            "claude-4",
            "claude-sonnet-4",
            "anthropic",
        ))
        .metadata(AttestationMetadata::provider())
}

/// A valid token signed at `at` by `key`.
pub fn token_at(key: &SigningKey, issuer: &str, audience: &str, at: UnixTime) -> String {
    builder(issuer, audience).sign(key, at, &mut rng()).unwrap()
}

/// A fresh valid token from the fixtures' issuer.
pub fn token() -> String {
    token_at(&issuer_key(), ISSUER, AUDIENCE, now())
}

/// `attest verify TOKEN --issuer ISSUER --audience AUDIENCE --jwks FILE [extra...]`.
pub fn verify(token: &str, jwks: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    attest()
        .arg("verify")
        .arg(token)
        .args(["--issuer", ISSUER, "--audience", AUDIENCE, "--jwks"])
        .arg(jwks)
        .args(extra)
        .assert()
}

/// Mints a token with `attest generate` (the fixtures' issuer key, `extra` flags).
pub fn generate(key: &Path, extra: &[&str]) -> String {
    let output = attest()
        .arg("generate")
        .arg("--key")
        .arg(key)
        .args(["--issuer", ISSUER, "--audience", AUDIENCE])
        .args(extra)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(output).unwrap().trim().to_owned()
}

/// Ensures the token type is what the test expects (a guard against a silent default change).
pub fn typ_of(token: &str) -> String {
    let (header, _) = attest_core::dangerous::decode_json(token).unwrap();
    header["typ"].as_str().unwrap().to_owned()
}

pub fn jwt_typ() -> &'static str {
    TokenType::Jwt.as_str()
}

/// The arguments of `attest serve` on a free loopback port, trusting the fixtures' issuer,
/// whose JWKS is the file `jwks`, for the fixtures' audience.
pub fn serve_args(jwks: &Path) -> Vec<&str> {
    vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
        "--jwks",
        jwks.to_str().unwrap(),
    ]
}

/// `attest serve` ([`serve_args`]) trusting the fixtures' issuer key (written into `dir`),
/// with `extra` arguments.
pub fn serve_trusting_issuer(dir: &TempDir, extra: &[&str]) -> Server {
    let (_, jwks) = issuer_files(dir);
    Server::start(&[serve_args(&jwks).as_slice(), extra].concat())
}

/// A running `attest` server child: killed on drop. Its stderr is collected in the background.
pub struct Server {
    child: Child,
    pub addr: String,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `attest ARGS...` and waits (at most 30 s) for its `listening on http://ADDR` line.
    pub fn start(args: &[&str]) -> Server {
        let mut child = attest_std()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let collected = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("listening on http://") {
                    let addr = rest.trim_end_matches("/mcp").to_owned();
                    let _ = tx.send(addr);
                }
                collected.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the server did not start; stderr: {:?}",
                    lines.lock().unwrap()
                );
            }
        };
        Server {
            child,
            addr,
            stderr: lines,
        }
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Sends `signal` (e.g. `-HUP`) to the server.
    pub fn signal(&self, signal: &str) {
        let status = StdCommand::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Sends SIGTERM and waits (at most 15 s) for the process to exit; returns its status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = StdCommand::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
