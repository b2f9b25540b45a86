//! Criterion benchmarks of MCP with and without attestation, the same application handler
//! (`Whoami`) on both sides, in one run:
//!
//! - `mcp/{duplex,http}_session_{plain,attested,attested_one_carrier}`: one whole session,
//!   `initialize` (+ `notifications/initialized`) and one `tools/call`, then close; over an
//!   in-process duplex and over streamable HTTP on 127.0.0.1 (a new connection per session,
//!   rmcp's HTTP client). Attested: `AttestingServer` wraps the handler and the client presents
//!   a fresh token in its capabilities, as the compact object `{version, token}` in both
//!   carriers (attest-mcp-client's default) or in one; tokens are minted outside the timing, as
//!   an issuer would have.
//! - `mcp/parse_initialize_*`: what the token costs rmcp itself, parsing the `initialize`.
//! - `mcp/stateless_*`: protocol 2026-07-28, one `tools/call` POST per request with no
//!   `initialize` (one keep-alive connection): no attestation on the plain server; a fresh
//!   token per request (full verify + replay record); the same token every time (the
//!   verified-token cache hit).
//! - with `ATTEST_BENCH_PAIRED=1` (`cargo xtask bench`), the overhead ratios again, measured by
//!   alternating plain and attested blocks (`attest_bench::paired`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed setup is a broken benchmark
#![allow(missing_docs)] // criterion_main! generates main
#![allow(clippy::arithmetic_side_effects)] // seed counters that never come near overflow

use std::cell::Cell;
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use attest_bench::mcp::{self, Whoami};
use attest_bench::{AUDIENCE, ISSUER, builder};
use attest_core::SigningKey;
use attest_mcp_server::{AttestationGate, Enforcement, Verifier};
use attest_protocol::Carriers;
use axum::serve::ListenerExt;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rmcp::model::{ClientCapabilities, ClientJsonRpcMessage};
use rmcp::transport::StreamableHttpClientTransport;
use tokio::runtime::Runtime;

struct Minter {
    key: SigningKey,
    seed: Cell<u64>,
}

impl Minter {
    /// `n` fresh tokens, issued now.
    fn tokens(&self, n: u64) -> Vec<String> {
        self.seed.set(self.seed.get() + 1);
        let mut rng = attest_bench::rng(self.seed.get());
        let (template, now) = (builder(ISSUER, AUDIENCE), attest_bench::now());
        (0..n)
            .map(|_| template.sign(&self.key, now, &mut rng).unwrap())
            .collect()
    }

    /// `n` client capabilities, each with a fresh token in `carriers`, or `n` without any.
    fn capabilities(&self, n: u64, carriers: Option<Carriers>) -> Vec<ClientCapabilities> {
        match carriers {
            Some(carriers) => self
                .tokens(n)
                .iter()
                .map(|t| mcp::capabilities(Some(t), carriers).unwrap())
                .collect(),
            None => (0..n)
                .map(|_| mcp::capabilities(None, Carriers::Both).unwrap())
                .collect(),
        }
    }
}

fn gate() -> AttestationGate {
    let key = attest_bench::signing_key().unwrap();
    let verifier = Verifier::builder(attest_bench::policy(ISSUER, AUDIENCE).unwrap())
        .keys(attest_bench::trust(ISSUER, &key).unwrap())
        .build()
        .unwrap();
    AttestationGate::new(verifier, Enforcement::Required)
}

/// One session over rmcp's HTTP client, checked.
async fn http_session(addr: SocketAddr, capabilities: ClientCapabilities, attested: bool) {
    let transport = StreamableHttpClientTransport::from_uri(format!("http://{addr}/mcp"));
    let text = mcp::session(transport, capabilities).await.unwrap();
    assert_eq!(text, mcp::expected(attested));
}

/// One session over an in-process duplex, checked.
async fn duplex_session(gate: Option<&AttestationGate>, capabilities: ClientCapabilities) {
    let text = mcp::duplex_session(gate, capabilities).await.unwrap();
    assert_eq!(text, mcp::expected(gate.is_some()));
}

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Without TCP_NODELAY, the end of an SSE response waits for the client's delayed ACK on a
    // keep-alive connection (Nagle): about 20-40 ms per request instead of well under 1 ms.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// POSTs each stateless body in turn on one keep-alive connection; checks each answer.
async fn stateless(http: &reqwest::Client, addr: SocketAddr, bodies: Vec<String>, attested: bool) {
    for body in bodies {
        let mut request = http.post(format!("http://{addr}/mcp"));
        for (name, value) in mcp::STATELESS_HEADERS {
            request = request.header(name, value);
        }
        let text = request
            .body(body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            mcp::tool_text(&text).as_deref(),
            Ok(mcp::expected(attested)),
            "{text}"
        );
    }
}

fn timed<F: Future<Output = ()>>(rt: &Runtime, work: F) -> Duration {
    rt.block_on(async {
        let started = Instant::now();
        work.await;
        started.elapsed()
    })
}

/// The servers, their runtime and a client, shared by every measurement.
struct Setup {
    rt: Runtime,
    gate: AttestationGate,
    minter: Minter,
    plain: SocketAddr,
    gated: SocketAddr,
    http: reqwest::Client,
}

/// Who carries what: no token, the token in both carriers (attest-mcp-client's default), or
/// in `extensions` only.
const VARIANTS: [(&str, Option<Carriers>); 3] = [
    ("plain", None),
    ("attested", Some(Carriers::Both)),
    ("attested_one_carrier", Some(Carriers::Extensions)),
];

impl Setup {
    fn new() -> Setup {
        // Two workers: the server and its clients share the machine's two cores.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let gate = gate();
        let plain = rt.block_on(serve(mcp::plain_router()));
        let gated = rt.block_on(serve(attest_mcp_server::http::router(
            || Whoami,
            gate.clone(),
        )));
        Setup {
            rt,
            gate,
            minter: Minter {
                key: attest_bench::signing_key().unwrap(),
                seed: Cell::new(1),
            },
            plain,
            gated,
            http: reqwest::Client::new(),
        }
    }

    /// `n` duplex sessions (tokens minted before the timing); their time.
    fn duplex(&self, n: u64, carriers: Option<Carriers>) -> Duration {
        let capabilities = self.minter.capabilities(n, carriers);
        let gate = carriers.is_some().then_some(&self.gate);
        timed(&self.rt, async {
            for capabilities in capabilities {
                duplex_session(gate, capabilities).await;
            }
        })
    }

    /// `n` HTTP sessions, each on a new client and connection; their time.
    fn http_sessions(&self, n: u64, carriers: Option<Carriers>) -> Duration {
        let capabilities = self.minter.capabilities(n, carriers);
        let (attested, addr) = match carriers {
            Some(_) => (true, self.gated),
            None => (false, self.plain),
        };
        timed(&self.rt, async {
            for capabilities in capabilities {
                http_session(addr, capabilities, attested).await;
            }
        })
    }

    /// `n` stateless 2026-07-28 requests: no token (plain server), a fresh token each, or one
    /// token for all (verified once before the timing).
    fn stateless(&self, n: u64, tokens: Tokens) -> Duration {
        let (addr, attested, bodies): (_, _, Vec<String>) = match tokens {
            Tokens::None => (
                self.plain,
                false,
                (0..n).map(|_| mcp::stateless_call(None).unwrap()).collect(),
            ),
            Tokens::Fresh => (
                self.gated,
                true,
                self.minter
                    .tokens(n)
                    .iter()
                    .map(|t| mcp::stateless_call(Some(t)).unwrap())
                    .collect(),
            ),
            Tokens::Same => {
                let token = self.minter.tokens(1).pop().unwrap();
                let body = mcp::stateless_call(Some(&token)).unwrap();
                let warm = stateless(&self.http, self.gated, vec![body.clone()], true);
                self.rt.block_on(warm);
                (self.gated, true, (0..n).map(|_| body.clone()).collect())
            }
        };
        timed(&self.rt, stateless(&self.http, addr, bodies, attested))
    }
}

#[derive(Clone, Copy)]
enum Tokens {
    None,
    Fresh,
    Same,
}

fn sessions(c: &mut Criterion) {
    let setup = Setup::new();
    let mut group = c.benchmark_group("mcp");
    group.throughput(Throughput::Elements(1));
    for (name, carriers) in VARIANTS {
        group.bench_function(format!("duplex_session_{name}"), |b| {
            b.iter_custom(|iters| setup.duplex(iters, carriers))
        });
    }
    for (name, carriers) in VARIANTS {
        group.bench_function(format!("http_session_{name}"), |b| {
            b.iter_custom(|iters| setup.http_sessions(iters, carriers))
        });
    }
    // What the token costs rmcp before any attest code runs: parsing the `initialize` request.
    for (name, carriers) in VARIANTS {
        let capabilities = setup.minter.capabilities(1, carriers).pop().unwrap();
        let text = mcp::initialize_request(&capabilities).unwrap();
        group.bench_function(format!("parse_initialize_{name}"), |b| {
            b.iter(|| serde_json::from_str::<ClientJsonRpcMessage>(black_box(&text)).unwrap())
        });
    }
    // Protocol 2026-07-28: no initialize, one POST per request.
    for (name, tokens) in [
        ("stateless_plain", Tokens::None),
        ("stateless_attested_fresh", Tokens::Fresh),
        ("stateless_attested_cached", Tokens::Same),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| setup.stateless(iters, tokens))
        });
    }
    group.finish();
}

/// A number of operations in, their time out.
type Workload<'a> = Box<dyn Fn(u64) -> Duration + 'a>;

/// The overhead ratios measured by alternation (`attest_bench::paired`): plain and attested
/// blocks take turns, so that a burst of load from another process hits both alike. Run by
/// `cargo xtask bench`.
fn paired_ratios(_: &mut Criterion) {
    if !attest_bench::paired_enabled() {
        return;
    }
    let s = Setup::new();
    let both = Some(Carriers::Both);
    let one = Some(Carriers::Extensions);
    let runs: [(&str, &str, u64, Workload<'_>, Workload<'_>); 5] = [
        (
            "http_session",
            "HTTP session: attested ÷ plain",
            30,
            Box::new(|n| s.http_sessions(n, None)),
            Box::new(|n| s.http_sessions(n, both)),
        ),
        (
            "http_session_one_carrier",
            "HTTP session, token in one carrier: attested ÷ plain",
            30,
            Box::new(|n| s.http_sessions(n, None)),
            Box::new(|n| s.http_sessions(n, one)),
        ),
        (
            "duplex_session",
            "duplex session: attested ÷ plain",
            100,
            Box::new(|n| s.duplex(n, None)),
            Box::new(|n| s.duplex(n, both)),
        ),
        (
            "stateless_fresh",
            "stateless request, fresh token: attested ÷ plain",
            300,
            Box::new(|n| s.stateless(n, Tokens::None)),
            Box::new(|n| s.stateless(n, Tokens::Fresh)),
        ),
        (
            "stateless_cached",
            "stateless request, same token: attested ÷ plain",
            300,
            Box::new(|n| s.stateless(n, Tokens::None)),
            Box::new(|n| s.stateless(n, Tokens::Same)),
        ),
    ];
    // Blocks of 10-30 ms: long enough that an idle runtime's wake-up does not weigh on them.
    for (name, what, ops, base, other) in runs {
        let result = attest_bench::paired(ops, 10, 6, base, other);
        attest_bench::record_paired(name, what, &result).unwrap();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = sessions, paired_ratios
}
criterion_main!(benches);
