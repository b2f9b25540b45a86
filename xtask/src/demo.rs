//! `cargo xtask demo`: the whole story on local processes, or in Docker Compose with `--docker`.
//!
//! Local mode builds the workspace, starts a development issuer (`attest issuer serve`) and the
//! reference attested server (`attest serve`) on loopback ports, uses Redis for replay
//! protection when one answers or can be started, runs the client scenario (`attest-demo`),
//! prints a metrics summary scraped from `/metrics`, and stops every process it started, also on
//! failure (and, sharing the terminal's process group, on Ctrl-C). It exits non-zero if any
//! step did not behave as expected.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::root;

/// How long a started process may take to print its `listening on` line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the demo.
pub(crate) fn run(docker: bool) -> Result<(), String> {
    if docker { run_docker() } else { run_local() }
}

/// Processes started by the demo, killed when this value drops (success, error or panic).
struct Processes(Vec<(String, Child)>);

impl Drop for Processes {
    fn drop(&mut self) {
        for (name, child) in &mut self.0 {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
                eprintln!("  stopped {name}");
            }
        }
    }
}

fn run_local() -> Result<(), String> {
    println!("== building");
    crate::cargo(&[
        "build",
        "--quiet",
        "-p",
        "attest-cli",
        "-p",
        "attest-demo",
        "--bins",
    ])?;
    let bin = target_dir().join("debug");
    let (attest, scenario) = (bin.join("attest"), bin.join("attest-demo"));
    let work = target_dir().join("demo");
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let mut processes = Processes(Vec::new());

    println!("== starting a development issuer");
    let key = work.join("issuer.jwk");
    run_quiet(
        Command::new(&attest)
            .args(["keygen", "--kid", "demo-issuer-1", "--force", "--out"])
            .arg(&key),
    )?;
    let issuer_port = free_port()?;
    let issuer = format!("http://127.0.0.1:{issuer_port}");
    let mut command = Command::new(&attest);
    command.args(["issuer", "serve", "--key"]).arg(&key).args([
        "--issuer",
        &issuer,
        "--listen",
        &format!("127.0.0.1:{issuer_port}"),
    ]);
    start(&mut processes, "issuer", command)?;

    let redis = redis(&mut processes)?;
    println!("== starting the attested MCP server");
    let server_port = free_port()?;
    let server = format!("http://127.0.0.1:{server_port}");
    let audience = format!("{server}/mcp");
    let mut command = Command::new(&attest);
    command.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{server_port}"),
        "--issuer",
        &issuer,
        "--audience",
        &audience,
        "--jwks-url",
        &format!("{issuer}/.well-known/jwks.json"),
        "--allow-insecure-loopback-jwks",
    ]);
    match &redis {
        Some(url) => {
            println!("  replay protection: Redis at {url}");
            command.args(["--redis", url]);
        }
        None => println!(
            "  replay protection: in-memory store (no Redis answered at 127.0.0.1:6379 and no \
             redis-server could be started); replays are still refused, on this one node"
        ),
    }
    start(&mut processes, "server", command)?;

    println!("== running the client scenario\n");
    let status = Command::new(&scenario)
        .args([
            "--issuer",
            &issuer,
            "--server",
            &audience,
            "--audience",
            &audience,
        ])
        .status()
        .map_err(|e| format!("cannot run {}: {e}", scenario.display()))?;

    println!("\n== metrics from {server}/metrics");
    match http_get(server_port, "/metrics") {
        Ok(body) => print_metrics_summary(&body),
        Err(e) => println!("  (could not scrape metrics: {e})"),
    }
    println!("\n== stopping");
    drop(processes);
    if status.success() {
        println!("\ndemo passed: every step behaved as expected");
        Ok(())
    } else {
        Err(format!("the client scenario reported a failure ({status})"))
    }
}

fn run_docker() -> Result<(), String> {
    let engine = Command::new("docker")
        .args(["info"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !engine.is_ok_and(|s| s.success()) {
        return Err(
            "no Docker engine is available (`docker info` failed). Run `cargo xtask demo` \
                    without --docker for the same scenario on local processes."
                .into(),
        );
    }
    let compose = root().join("demo/docker-compose.yml");
    let status = Command::new("docker")
        .args(["compose", "-f"])
        .arg(&compose)
        .args([
            "up",
            "--build",
            "--abort-on-container-exit",
            "--exit-code-from",
            "client",
        ])
        .status()
        .map_err(|e| format!("cannot run docker compose: {e}"))?;
    let _ = Command::new("docker")
        .args(["compose", "-f"])
        .arg(&compose)
        .args(["down", "--volumes"])
        .status();
    if status.success() {
        println!("demo passed: the client container exited 0");
        Ok(())
    } else {
        Err(format!(
            "the client container reported a failure ({status})"
        ))
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

fn run_quiet(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// A port that was free a moment ago.
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Starts `command`, waits for its `listening on` line, and writes its log (stderr) to
/// `target/demo/NAME.log`, so the narration stays readable.
fn start(processes: &mut Processes, name: &str, mut command: Command) -> Result<(), String> {
    let log_path = target_dir().join("demo").join(format!("{name}.log"));
    let mut log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let stderr = child.stderr.take();
    processes.0.push((name.to_owned(), child));
    let (ready_tx, ready_rx) = mpsc::channel();
    let prefix = format!("  [{name}]");
    std::thread::spawn(move || {
        let Some(stderr) = stderr else { return };
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
            if line.contains("listening on") {
                println!("{prefix} {line}");
                let _ = ready_tx.send(());
            }
        }
    });
    let ready = ready_rx.recv_timeout(START_TIMEOUT);
    ready.map_err(|_| {
        format!(
            "{name} did not start listening within {START_TIMEOUT:?}; see {}",
            log_path.display()
        )
    })?;
    println!("  (log: {})", log_path.display());
    Ok(())
}

/// A Redis for replay protection: one answering at 127.0.0.1:6379, or a private
/// `redis-server` on a free port, or none.
fn redis(processes: &mut Processes) -> Result<Option<String>, String> {
    if ping(6379) {
        return Ok(Some("redis://127.0.0.1:6379".into()));
    }
    let port = free_port()?;
    let spawned = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = spawned else { return Ok(None) };
    processes.0.push(("redis-server".into(), child));
    for _ in 0..50 {
        if ping(port) {
            return Ok(Some(format!("redis://127.0.0.1:{port}")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(None)
}

/// True if a Redis answers `PING` on 127.0.0.1:`port`.
pub(crate) fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

/// A plain HTTP/1.0 GET on loopback, returning the body.
fn http_get(port: u16, path: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let (_, body) = response
        .split_once("\r\n\r\n")
        .ok_or("malformed HTTP response")?;
    Ok(body.to_owned())
}

/// The counters that tell the story, without the zero series.
fn print_metrics_summary(body: &str) {
    let wanted = [
        "attest_verifications_total",
        "attest_replays_detected_total",
        "attest_replay_checks_total",
        "attest_jwks_fetches_total",
        "attest_jwks_cached_keys",
    ];
    for line in body.lines() {
        let shown = wanted.iter().any(|w| line.starts_with(w))
            && !line.starts_with('#')
            && line.rsplit(' ').next().is_some_and(|v| v != "0");
        if shown {
            println!("  {line}");
        }
    }
}
