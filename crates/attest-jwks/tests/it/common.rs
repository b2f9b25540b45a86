//! Shared fixtures: a manual clock, a scripted HTTP/1.1 issuer on 127.0.0.1 with fault
//! injection, keys, JWKS documents, tokens and metric reading.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attest_core::{
    AgentIdentity, AttestationMetadata, KeySet, Policy, SigningKey, TokenBuilder, UnixTime,
};
use attest_jwks::cache::CachePolicy;
use attest_jwks::retry::RetryPolicy;
use attest_jwks::{Clock, HttpConfig, JwksResolver, JwksResolverBuilder};
use attest_observe::Observer;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

// ---------------------------------------------------------------------------------------------
// Clock

/// A clock that moves only when told, or when the resolver sleeps (a sleep advances it at once
/// and is recorded), so retry delays are observed exactly and never waited for.
#[derive(Debug)]
pub struct ManualClock {
    base: Instant,
    offset: Mutex<Duration>,
    sleeps: Mutex<Vec<Duration>>,
}

impl ManualClock {
    pub fn new() -> Arc<ManualClock> {
        Arc::new(ManualClock {
            base: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
            sleeps: Mutex::new(Vec::new()),
        })
    }

    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap() += by;
    }

    /// Every delay the resolver slept, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps.lock().unwrap().clone()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.base + *self.offset.lock().unwrap()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.sleeps.lock().unwrap().push(duration);
        self.advance(duration);
        Box::pin(tokio::task::yield_now())
    }
}

// ---------------------------------------------------------------------------------------------
// Scripted issuer

/// What the scripted server does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response: status, extra headers, body (with its Content-Length).
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// These bytes verbatim, then close.
    Raw(Vec<u8>),
    /// Read the request and never answer (the socket stays open).
    Hang,
    /// A head, then `count` one-byte writes `interval` apart.
    Drip {
        head: String,
        interval: Duration,
        count: usize,
    },
    /// A head, then `total` bytes as fast as the peer reads them (counted in `written`).
    Flood { head: String, total: usize },
    /// Wait for the notify, then the inner reply.
    Gate(Arc<Notify>, Box<Reply>),
    /// Wait this long, then the inner reply.
    Delay(Duration, Box<Reply>),
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply::Respond {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn status_with(status: u16, headers: &[(&str, &str)]) -> Reply {
        Reply::Respond {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: Vec::new(),
        }
    }

    pub fn json(body: impl Into<String>) -> Reply {
        Reply::json_with(body, &[])
    }

    pub fn json_with(body: impl Into<String>, headers: &[(&str, &str)]) -> Reply {
        let mut all = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        all.extend(
            headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        Reply::Respond {
            status: 200,
            headers: all,
            body: body.into().into_bytes(),
        }
    }
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub request_line: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct Script {
    queue: Mutex<VecDeque<Reply>>,
    fallback: Mutex<Reply>,
    seen: Mutex<Vec<Seen>>,
    hits: AtomicUsize,
    written: AtomicUsize,
}

/// An HTTP/1.1 server on 127.0.0.1 that answers each connection from a script: queued replies
/// first, then the fallback. It counts requests and bytes written.
#[derive(Debug, Clone)]
pub struct Issuer {
    addr: SocketAddr,
    script: Arc<Script>,
}

impl Issuer {
    pub async fn start(fallback: Reply) -> Issuer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Script {
            queue: Mutex::new(VecDeque::new()),
            fallback: Mutex::new(fallback),
            seen: Mutex::new(Vec::new()),
            hits: AtomicUsize::new(0),
            written: AtomicUsize::new(0),
        });
        let shared = Arc::clone(&script);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let script = Arc::clone(&shared);
                tokio::spawn(serve(stream, script));
            }
        });
        Issuer { addr, script }
    }

    /// `http://127.0.0.1:PORT`: the issuer identifier.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn push(&self, reply: Reply) {
        self.script.queue.lock().unwrap().push_back(reply);
    }

    pub fn set_fallback(&self, reply: Reply) {
        *self.script.fallback.lock().unwrap() = reply;
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.script.hits.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().unwrap().clone()
    }

    /// Body bytes the server managed to write (for `Reply::Flood`).
    pub fn written(&self) -> usize {
        self.script.written.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until the server has received `n` requests.
    pub async fn wait_for_hits(&self, n: usize) {
        for _ in 0..2000 {
            if self.hits() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!(
            "the server never received {n} requests (got {})",
            self.hits()
        );
    }
}

async fn serve(mut stream: TcpStream, script: Arc<Script>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 64 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    script.seen.lock().unwrap().push(Seen {
        request_line,
        headers,
    });
    script.hits.fetch_add(1, Ordering::SeqCst);
    let reply = script
        .queue
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| script.fallback.lock().unwrap().clone());
    answer(stream, reply, &script).await;
}

fn answer<'a>(
    mut stream: TcpStream,
    reply: Reply,
    script: &'a Script,
) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
    Box::pin(async move {
        match reply {
            Reply::Respond {
                status,
                headers,
                body,
            } => {
                let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
                for (n, v) in headers {
                    head.push_str(&format!("{n}: {v}\r\n"));
                }
                head.push_str("Connection: close\r\n\r\n");
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
            }
            Reply::Raw(bytes) => {
                let _ = stream.write_all(&bytes).await;
                let _ = stream.shutdown().await;
            }
            Reply::Hang => {
                // Hold the socket open without answering, until the peer goes away.
                let mut sink = [0u8; 64];
                while let Ok(n) = stream.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            }
            Reply::Drip {
                head,
                interval,
                count,
            } => {
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for _ in 0..count {
                    tokio::time::sleep(interval).await;
                    if stream.write_all(b" ").await.is_err() {
                        return;
                    }
                }
            }
            Reply::Flood { head, total } => {
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let block = vec![b' '; 16 * 1024];
                let mut sent = 0;
                while sent < total {
                    match stream.write(&block).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            sent += n;
                            script.written.fetch_add(n, Ordering::SeqCst);
                        }
                    }
                }
            }
            Reply::Gate(notify, inner) => {
                notify.notified().await;
                answer(stream, *inner, script).await;
            }
            Reply::Delay(delay, inner) => {
                tokio::time::sleep(delay).await;
                answer(stream, *inner, script).await;
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Keys, sets, tokens

pub const AUDIENCE: &str = "https://tools.example";
pub const NOW: UnixTime = UnixTime::from_secs(1_790_000_000);

pub fn key(seed: u8, kid: &str) -> SigningKey {
    SigningKey::from_seed(&[seed; 32], kid).unwrap()
}

pub fn jwks(keys: &[&SigningKey]) -> String {
    KeySet::from_keys(keys.iter().map(|k| (k.kid(), k.public_key())))
        .unwrap()
        .to_jwks_json()
}

/// The JWK of `key` as a JSON object string, for hand-written sets.
pub fn jwk_json(key: &SigningKey) -> String {
    serde_json_like(&key.public_key().to_jwk(key.kid()))
}

fn serde_json_like(jwk: &attest_core::Jwk) -> String {
    let x = jwk.x.clone().unwrap();
    let kid = jwk.kid.clone().unwrap();
    format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":"{kid}","use":"sig","alg":"EdDSA"}}"#)
}

pub fn token(issuer: &str, key: &SigningKey) -> String {
    TokenBuilder::new(issuer, "spiffe://issuer.example/model/m1")
        .audience(AUDIENCE)
        .identity(AgentIdentity::new("claude", "sonnet-4", "anthropic"))
        .metadata(AttestationMetadata::provider())
        .sign(key, NOW, &mut ChaCha20Rng::from_seed([9; 32]))
        .unwrap()
}

pub fn policy(issuer: &str) -> Policy {
    Policy::builder()
        .trusted_issuer(issuer)
        .audience(AUDIENCE)
        .build()
        .unwrap()
}

/// The full verification flow a server runs: decode unverified, check trust, resolve, verify.
pub async fn verify(
    resolver: &JwksResolver,
    policy: &Policy,
    token: &str,
) -> Result<attest_core::Verified, String> {
    let unverified =
        attest_core::dangerous::decode_unverified(token, policy).map_err(|e| e.to_string())?;
    if !policy.trusts(unverified.issuer()) {
        return Err("untrusted".into());
    }
    let key = resolver
        .resolve(unverified.issuer(), unverified.kid())
        .await
        .map_err(|e| e.to_string())?;
    unverified
        .verify(&key, policy, NOW)
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Resolvers and metrics

pub fn observer(issuer: &str) -> Observer {
    Observer::builder().trusted_issuer(issuer).build().unwrap()
}

/// Short timeouts, loopback http allowed, jitter fixed at factor 1.0.
pub fn builder(issuer: &str, observer: &Observer, clock: &Arc<ManualClock>) -> JwksResolverBuilder {
    let mut http = HttpConfig::default();
    http.request_timeout = Duration::from_secs(5);
    http.connect_timeout = Duration::from_secs(2);
    http.danger_allow_loopback_http = true;
    JwksResolver::builder(observer.clone())
        .issuer(issuer)
        .http(http)
        .clock(Arc::clone(clock) as Arc<dyn Clock>)
        .jitter(|| 0.5)
}

pub fn no_retries() -> RetryPolicy {
    let mut retry = RetryPolicy::default();
    retry.max_retries = 0;
    retry
}

pub fn short_timeouts(timeout: Duration) -> HttpConfig {
    let mut http = HttpConfig::default();
    http.request_timeout = timeout;
    http.connect_timeout = timeout;
    http.danger_allow_loopback_http = true;
    http
}

pub fn cache_policy(min_ttl: Duration, max_stale: Duration) -> CachePolicy {
    let mut policy = CachePolicy::default();
    policy.min_ttl = min_ttl;
    policy.max_stale = max_stale;
    policy
}

/// The value of one series in the text exposition, e.g.
/// `attest_jwks_fetches_total{issuer="…",outcome="success",reason="none"}`; 0 if absent.
pub fn metric(observer: &Observer, series: &str) -> f64 {
    let text = observer.encode_text().unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

pub fn fetches(observer: &Observer, issuer: &str, outcome: &str, reason: &str) -> f64 {
    metric(
        observer,
        &format!(
            r#"attest_jwks_fetches_total{{issuer="{issuer}",outcome="{outcome}",reason="{reason}"}}"#
        ),
    )
}

pub fn lookups(observer: &Observer, issuer: &str, result: &str) -> f64 {
    metric(
        observer,
        &format!(r#"attest_jwks_cache_lookups_total{{issuer="{issuer}",result="{result}"}}"#),
    )
}

/// Waits (bounded) until no fetch is in flight for `issuer`.
pub async fn settle(resolver: &JwksResolver, issuer: &str) {
    for _ in 0..2000 {
        if !resolver.status(issuer).unwrap().fetching {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("the fetch for {issuer} never ended");
}
