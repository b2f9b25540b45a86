//! Real Redis servers for tests: `REDIS_URL` (default `127.0.0.1:6379`), or a private
//! `redis-server` that a guard owns.
//!
//! A private server listens on 127.0.0.1 only, on a port that was free a moment before, with
//! persistence off (`--save "" --appendonly no`). Dropping its [`RedisServer`] kills it, so a
//! test never leaves one behind (unless the test process itself is killed).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming an external Redis to use.
pub const REDIS_URL_ENV: &str = "REDIS_URL";
/// The Redis tried when `REDIS_URL` is not set.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Set to `1` to let Redis tests skip (return `None`) when no Redis can be had. CI never sets it.
pub const ALLOW_SKIP_ENV: &str = "ATTEST_ALLOW_SKIP_REDIS";
/// The environment variable naming the `redis-server` binary, when it is not on `PATH`.
pub const REDIS_SERVER_ENV: &str = "REDIS_SERVER";

/// How long a fresh server may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A Redis that a test may use.
#[derive(Debug)]
pub enum TestRedis {
    /// The server named by `REDIS_URL`. Shared with others: use a unique key prefix.
    External {
        /// The URL, as given.
        url: String,
    },
    /// A private server, killed when this value drops.
    Private(RedisServer),
}

impl TestRedis {
    /// The URL to connect to.
    pub fn url(&self) -> String {
        match self {
            TestRedis::External { url } => url.clone(),
            TestRedis::Private(server) => server.url(),
        }
    }
}

/// A Redis for a test: `REDIS_URL` (default `redis://127.0.0.1:6379`) when it answers, else a
/// private `redis-server`.
///
/// Returns `None` only when neither is possible and `ATTEST_ALLOW_SKIP_REDIS=1`; otherwise that
/// case panics with a message saying what to install.
pub fn redis() -> Option<TestRedis> {
    let url = std::env::var(REDIS_URL_ENV)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_REDIS_URL.to_owned());
    if url_answers(&url) {
        return Some(TestRedis::External { url });
    }
    eprintln!("attest-testkit: {url} does not answer; starting a private redis-server");
    private_redis().map(TestRedis::Private)
}

/// A private `redis-server` that this test owns: it may kill and restart it.
///
/// Returns `None` only when it cannot be started and `ATTEST_ALLOW_SKIP_REDIS=1`; otherwise that
/// case panics with a message saying what to install.
pub fn private_redis() -> Option<RedisServer> {
    match RedisServer::start() {
        Ok(server) => Some(server),
        Err(why) => unavailable(&why),
    }
}

/// Skip (when allowed) or fail loudly.
#[allow(clippy::panic)] // test support: failing to find Redis must fail the test, loudly
fn unavailable<T>(why: &str) -> Option<T> {
    if std::env::var(ALLOW_SKIP_ENV).is_ok_and(|v| v == "1") {
        eprintln!("attest-testkit: SKIPPING a Redis test ({ALLOW_SKIP_ENV}=1): {why}");
        return None;
    }
    panic!(
        "attest-testkit: no Redis for this test: {why}. Install redis-server (Debian: \
         `apt-get install redis-server`), or set {REDIS_URL_ENV} to a Redis that answers. \
         Set {ALLOW_SKIP_ENV}=1 to skip Redis tests locally (CI never skips)."
    )
}

/// A private `redis-server` on 127.0.0.1, killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
    tls: Option<TlsFiles>,
}

/// The certificates of a TLS server: a private CA and a server certificate it signed, for
/// `localhost` and `127.0.0.1`. The directory is removed when the server drops.
#[derive(Debug)]
struct TlsFiles {
    dir: PathBuf,
    ca_pem: Vec<u8>,
}

impl RedisServer {
    /// Starts a private server on a free loopback port and waits until it answers `PING`.
    ///
    /// # Errors
    /// When no `redis-server` binary is found, or it does not answer in time.
    pub fn start() -> Result<Self, String> {
        Self::start_with(None)
    }

    /// Starts a private server that speaks only TLS, with a certificate from a fresh private CA
    /// (made with the `openssl` command). Its [`url`](Self::url) is `rediss://localhost:<port>`;
    /// trust [`ca_pem`](Self::ca_pem) to connect.
    ///
    /// # Errors
    /// When `redis-server` or `openssl` is missing or fails, or the server does not listen in
    /// time.
    pub fn start_tls() -> Result<Self, String> {
        Self::start_with(Some(make_tls_files()?))
    }

    fn start_with(tls: Option<TlsFiles>) -> Result<Self, String> {
        let binary = find_redis_server()
            .ok_or_else(|| format!("no redis-server binary on PATH (or in ${REDIS_SERVER_ENV})"))?;
        let mut server = RedisServer {
            binary,
            port: 0,
            child: None,
            tls,
        };
        let mut last_error = String::new();
        // A port free a moment ago may be taken by the time the server binds it: retry.
        for _ in 0..5 {
            server.port = free_port()?;
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// The server's URL: `redis://127.0.0.1:<port>`, or `rediss://localhost:<port>` for a
    /// TLS server.
    pub fn url(&self) -> String {
        if self.tls.is_some() {
            format!("rediss://localhost:{}", self.port)
        } else {
            format!("redis://127.0.0.1:{}", self.port)
        }
    }

    /// For a TLS server, the PEM of the CA that signed its certificate.
    pub fn ca_pem(&self) -> Option<&[u8]> {
        self.tls.as_ref().map(|t| t.ca_pem.as_slice())
    }

    /// The port it listens on (kept across [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server process is running (it may still be starting).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills the server at once (SIGKILL: no shutdown, no save) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty, and waits until it answers.
    ///
    /// # Errors
    /// When it does not answer in time.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.spawn()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut command = Command::new(&self.binary);
        match &self.tls {
            None => {
                command.args(["--port", &self.port.to_string()]);
            }
            Some(tls) => {
                command
                    .args(["--port", "0", "--tls-port", &self.port.to_string()])
                    .arg("--tls-cert-file")
                    .arg(tls.dir.join("server.pem"))
                    .arg("--tls-key-file")
                    .arg(tls.dir.join("server.key"))
                    .arg("--tls-ca-cert-file")
                    .arg(tls.dir.join("ca.pem"))
                    .args(["--tls-auth-clients", "no"]);
            }
        }
        let mut child = command
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .args(["--loglevel", "warning"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "redis-server on port {} exited at start ({status})",
                    self.port
                ));
            }
            // A TLS server cannot be PINGed in plain text: listening is enough.
            let ready = if self.tls.is_some() {
                TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            } else {
                ping(&addr)
            };
            if ready {
                self.child = Some(child);
                return Ok(());
            }
            if started.elapsed() >= START_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "redis-server on port {} did not answer within {START_TIMEOUT:?}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(tls) = &self.tls {
            let _ = std::fs::remove_dir_all(&tls.dir);
        }
    }
}

/// A private TLS `redis-server`, or `None` when it cannot be started and skipping is allowed
/// (see [`private_redis`]).
pub fn private_tls_redis() -> Option<RedisServer> {
    match RedisServer::start_tls() {
        Ok(server) => Some(server),
        Err(why) => unavailable(&why),
    }
}

/// A CA and a server certificate for `localhost` / `127.0.0.1`, in a fresh directory.
fn make_tls_files() -> Result<TlsFiles, String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "attest-testkit-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .map_err(|e| format!("cannot write ext.cnf: {e}"))?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let steps: [&[&str]; 3] = [
        &[
            &["req", "-x509"][..],
            &ec[..],
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=attest-testkit CA",
            ][..],
        ]
        .concat(),
        &[
            &["req"][..],
            &ec[..],
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ][..],
        ]
        .concat(),
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    ];
    for args in steps {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run openssl (needed for TLS tests): {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "openssl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let ca_pem =
        std::fs::read(dir.join("ca.pem")).map_err(|e| format!("cannot read ca.pem: {e}"))?;
    Ok(TlsFiles { dir, ca_pem })
}

/// A loopback port that nothing listens on: connections to it are refused.
///
/// # Errors
/// When no port can be bound at all.
pub fn closed_port() -> Result<u16, String> {
    free_port()
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot bind a port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot read the bound port: {e}"))
}

fn find_redis_server() -> Option<PathBuf> {
    if let Ok(explicit) = std::env::var(REDIS_SERVER_ENV)
        && Path::new(&explicit).is_file()
    {
        return Some(PathBuf::from(explicit));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}

/// Whether the Redis at `url` answers. For `redis://`, a `PING` must get any RESP reply (an
/// `-NOAUTH` error counts: the server is there); for `rediss://`, a TCP connection suffices.
pub fn url_answers(url: &str) -> bool {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("rediss://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("redis://") {
        (false, rest)
    } else {
        return false;
    };
    let authority = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let authority = authority
        .split(['/', '?'])
        .next()
        .unwrap_or_default()
        .to_owned();
    let with_port = if authority.ends_with(']') || !authority.contains(':') {
        format!("{authority}:6379")
    } else {
        authority
    };
    let Ok(mut addrs) = with_port.to_socket_addrs() else {
        return false;
    };
    let Some(addr) = addrs.next() else {
        return false;
    };
    if tls {
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
    } else {
        ping(&addr)
    }
}

/// Sends `PING` and reads one reply line; true on any RESP reply (`+PONG`, or an error).
fn ping(addr: &SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut reply = [0_u8; 64];
    match stream.read(&mut reply) {
        Ok(n) if n > 0 => matches!(reply.first(), Some(b'+' | b'-')),
        _ => false,
    }
}
