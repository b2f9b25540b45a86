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
//!   alternating plain and attested blocks (`attest_bench::alternated`), together with the
//!   parts of a session's overhead: the token carried to the plain server, which ignores it
//!   (what rmcp pays to carry it), and the gate without a token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed setup is a broken benchmark
#![allow(missing_docs)] // criterion_main! generates main
#![allow(clippy::arithmetic_side_effects)] // seed counters that never come near overflow

use std::cell::Cell;
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use attest_bench::mcp::{self, Variant};
use attest_bench::{AUDIENCE, ISSUER, builder};
use attest_core::SigningKey;
use attest_mcp_server::{AttestationGate, Enforcement, Verifier};
use attest_protocol::Carriers;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rmcp::model::{ClientCapabilities, ClientJsonRpcMessage};
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

    /// `n` client capabilities of `variant`, each with a fresh token where it carries one.
    /// Tokens are minted for every variant alike, so that each block starts from the same work.
    fn capabilities(&self, n: u64, variant: Variant) -> Vec<ClientCapabilities> {
        self.tokens(n)
            .iter()
            .map(|t| variant.capabilities(t).unwrap())
            .collect()
    }
}

fn gate(enforcement: Enforcement) -> AttestationGate {
    let key = attest_bench::signing_key().unwrap();
    let verifier = Verifier::builder(attest_bench::policy(ISSUER, AUDIENCE).unwrap())
        .keys(attest_bench::trust(ISSUER, &key).unwrap())
        .build()
        .unwrap();
    AttestationGate::new(verifier, enforcement)
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
    /// Policy `required`, and `optional` for [`Variant::GateWithoutToken`].
    gate: AttestationGate,
    optional_gate: AttestationGate,
    minter: Minter,
    plain: SocketAddr,
    gated: SocketAddr,
    optional_gated: SocketAddr,
    http: reqwest::Client,
}

/// The criterion variants: no token, the token in both carriers (attest-mcp-client's
/// default), or in `extensions` only.
const VARIANTS: [(&str, Variant); 3] = [
    ("plain", Variant::Plain),
    ("attested", Variant::Attested(Carriers::Both)),
    (
        "attested_one_carrier",
        Variant::Attested(Carriers::Extensions),
    ),
];

/// The variants of one alternation: the attested session against the plain one, and the
/// parts its overhead is made of. Recorded as `{prefix}_{name}`.
const DECOMPOSITION: [(&str, &str, Variant); 4] = [
    (
        "session",
        "attested ÷ plain",
        Variant::Attested(Carriers::Both),
    ),
    (
        "session_one_carrier",
        "attested, token in one carrier ÷ plain",
        Variant::Attested(Carriers::Extensions),
    ),
    (
        "carried",
        "token carried to the plain server, which ignores it ÷ plain",
        Variant::Carried,
    ),
    (
        "gate_no_token",
        "gate of policy optional, no token ÷ plain",
        Variant::GateWithoutToken,
    ),
];

impl Setup {
    fn new() -> Setup {
        // Two workers: the server and its clients share the machine's two cores.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (gate, optional_gate) = (gate(Enforcement::Required), gate(Enforcement::Optional));
        let serve = |gate| rt.block_on(attest_bench::serve(mcp::router(gate))).unwrap();
        let (plain, gated, optional_gated) =
            (serve(None), serve(Some(&gate)), serve(Some(&optional_gate)));
        Setup {
            rt,
            gate,
            optional_gate,
            minter: Minter {
                key: attest_bench::signing_key().unwrap(),
                seed: Cell::new(1),
            },
            plain,
            gated,
            optional_gated,
            http: reqwest::Client::new(),
        }
    }

    /// The gate in front of the handler in `variant`, if any.
    fn gate_of(&self, variant: Variant) -> Option<&AttestationGate> {
        variant.enforcement().map(|enforcement| match enforcement {
            Enforcement::Required => &self.gate,
            _ => &self.optional_gate,
        })
    }

    /// `n` duplex sessions of `variant` (tokens minted before the timing); their time.
    fn duplex(&self, n: u64, variant: Variant) -> Duration {
        let capabilities = self.minter.capabilities(n, variant);
        let gate = self.gate_of(variant);
        timed(&self.rt, async {
            for capabilities in capabilities {
                let text = mcp::duplex_session(gate, capabilities).await.unwrap();
                assert_eq!(text, variant.expected());
            }
        })
    }

    /// `n` HTTP sessions of `variant`, each on a new client and connection; their time.
    fn http_sessions(&self, n: u64, variant: Variant) -> Duration {
        let capabilities = self.minter.capabilities(n, variant);
        let addr = match variant.enforcement() {
            Some(Enforcement::Required) => self.gated,
            Some(_) => self.optional_gated,
            None => self.plain,
        };
        let url = format!("http://{addr}/mcp");
        timed(&self.rt, async {
            for capabilities in capabilities {
                let text = mcp::http_session(&url, capabilities).await.unwrap();
                assert_eq!(text, variant.expected());
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
    for (name, variant) in VARIANTS {
        group.bench_function(format!("duplex_session_{name}"), |b| {
            b.iter_custom(|iters| setup.duplex(iters, variant))
        });
    }
    for (name, variant) in VARIANTS {
        group.bench_function(format!("http_session_{name}"), |b| {
            b.iter_custom(|iters| setup.http_sessions(iters, variant))
        });
    }
    // What the token costs rmcp before any attest code runs: parsing the `initialize` request.
    for (name, variant) in VARIANTS {
        let capabilities = setup.minter.capabilities(1, variant).pop().unwrap();
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

/// The overhead ratios measured by alternation (`attest_bench::paired`, `alternated`): plain
/// and attested blocks take turns, so that a burst of load from another process hits both
/// alike. Run by `cargo xtask bench`.
///
/// Sessions alternate with the parts of their overhead ([`DECOMPOSITION`]) in one run per
/// transport; stateless requests in pairs. A block of sessions lasts 15-30 ms, one of stateless
/// requests about 120 ms: long enough that an idle runtime's wake-up does not weigh on them,
/// short enough for many rounds.
fn paired_ratios(_: &mut Criterion) {
    if !attest_bench::paired_enabled() {
        return;
    }
    let s = Setup::new();
    decompose("http", 10, 80, &|n, v| s.http_sessions(n, v));
    decompose("duplex", 50, 30, &|n, v| s.duplex(n, v));
    let stateless: [(&str, &str, Tokens); 2] = [
        (
            "stateless_fresh",
            "stateless request, fresh token: attested ÷ plain",
            Tokens::Fresh,
        ),
        (
            "stateless_cached",
            "stateless request, same token: attested ÷ plain",
            Tokens::Same,
        ),
    ];
    for (name, what, tokens) in stateless {
        let result = attest_bench::paired(
            300,
            20,
            6,
            |n| s.stateless(n, Tokens::None),
            |n| s.stateless(n, tokens),
        );
        attest_bench::record_paired(name, what, &result).unwrap();
    }
}

/// The plain session and every [`DECOMPOSITION`] variant over `transport`, alternated:
/// `rounds` rounds of 6 blocks of `sessions` sessions each (`run(sessions, variant)`).
fn decompose(
    transport: &str,
    sessions: u64,
    rounds: usize,
    run: &dyn Fn(u64, Variant) -> Duration,
) {
    let variants = std::iter::once(Variant::Plain).chain(DECOMPOSITION.map(|(_, _, v)| v));
    let mut closures: Vec<_> = variants.map(|v| move |n| run(n, v)).collect();
    let mut workloads: Vec<&mut dyn FnMut(u64) -> Duration> = closures
        .iter_mut()
        .map(|c| c as &mut dyn FnMut(u64) -> Duration)
        .collect();
    let results = attest_bench::alternated(sessions, rounds, 6, &mut workloads);
    for ((name, what, _), result) in DECOMPOSITION.iter().zip(&results) {
        let what = format!("{transport} {what}");
        attest_bench::record_paired(&format!("{transport}_{name}"), &what, result).unwrap();
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
