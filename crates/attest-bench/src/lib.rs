//! attest-bench: the fixtures shared by the comparative benchmarks (not published).
//!
//! The benchmarks are in `benches/`, each comparison inside one process so that its ratio holds
//! on a noisy machine:
//! - `flow`: create, verify and the full flow (create + verify + memory replay record) against
//!   the raw ed25519-dalek floor and against jsonwebtoken; throughput on 1 and 2 threads.
//! - `pipeline`: `Verifier::verify` with a warm JWKS cache, on the memory store and on Redis,
//!   and the pieces it is made of (parse, key, signature, claims, replay, metrics).
//! - `mcp`: MCP sessions and stateless 2026-07-28 requests, with and without attestation.
//!
//! `cargo xtask bench` runs them and rewrites docs/PERFORMANCE.md. This crate exists so that
//! the comparison baselines (jsonwebtoken) and heavy clients never touch a library crate.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use attest_core::{
    AgentIdentity, AgentIntegrity, AttestationMetadata, IntegrityHash, KeyError, KeySet, Policy,
    PolicyError, SigningKey, TokenBuilder, TrustStore, UnixTime,
};
use axum::serve::ListenerExt;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

pub mod jwt;
pub mod mcp;

/// Any setup error: a failed setup is a broken benchmark.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The issuer of the benchmark tokens (except the pipeline's loopback issuer).
pub const ISSUER: &str = "https://issuer.example";
/// The audience: the MCP server.
pub const AUDIENCE: &str = "https://tools.example/mcp";
/// The subject.
pub const SUBJECT: &str = "spiffe://issuer.example/model/claude-sonnet-4";
/// The issuer key's `kid`.
pub const KID: &str = "bench-key";
/// The issuer key's seed (the same bytes give the floor's ed25519-dalek key).
pub const SEED: [u8; 32] = [7; 32];

/// The realistic token of every benchmark: identity with a deployment id, both integrity hashes
/// and four declared capabilities (the same claims as attest-core's `core` bench).
pub fn builder(issuer: &str, audience: &str) -> TokenBuilder {
    let mut metadata = AttestationMetadata::provider();
    metadata.capabilities_declared = [
        "tools:read",
        "tools:write",
        "resources:read",
        "prompts:read",
    ]
    .map(String::from)
    .to_vec();
    let mut identity = AgentIdentity::new("claude", "sonnet-4", "anthropic");
    identity.deployment_id = Some("deploy-us-east-1-prod-0042".into());
    TokenBuilder::new(issuer, SUBJECT)
        .audience(audience)
        .identity(identity)
        .integrity(AgentIntegrity {
            config_hash: Some(IntegrityHash::of(b"config")),
            system_prompt_hash: Some(IntegrityHash::of(b"prompt")),
            ..Default::default()
        })
        .metadata(metadata)
}

/// The issuer's signing key.
///
/// # Errors
/// Never with the constant seed and kid.
pub fn signing_key() -> Result<SigningKey, KeyError> {
    SigningKey::from_seed(&SEED, KID)
}

/// Trust in `key` for `issuer`.
///
/// # Errors
/// Never for one key.
pub fn trust(issuer: &str, key: &SigningKey) -> Result<TrustStore, BoxError> {
    let mut trust = TrustStore::new();
    trust.insert(issuer, KeySet::from_keys([(key.kid(), key.public_key())])?);
    Ok(trust)
}

/// A policy trusting `issuer` for `audience`, otherwise the defaults.
///
/// # Errors
/// Never for well-formed constants.
pub fn policy(issuer: &str, audience: &str) -> Result<Policy, PolicyError> {
    Policy::builder()
        .trusted_issuer(issuer)
        .audience(audience)
        .build()
}

/// How many tokens' signing inputs the floor signs and verifies in turn: `verify_strict` is
/// variable-time, one input's cost sitting up to a percent above or below the average, while
/// create + verify sees a new token every time.
pub const FLOOR_INPUTS: usize = 64;

/// The signing inputs (`header.payload`) of [`FLOOR_INPUTS`] tokens from `template` with fresh
/// `jti`s, for the floor.
///
/// # Errors
/// If `template` cannot sign.
pub fn floor_inputs(
    template: &TokenBuilder,
    key: &SigningKey,
    now: UnixTime,
) -> Result<Vec<Vec<u8>>, BoxError> {
    let mut rng = rng(77);
    (0..FLOOR_INPUTS)
        .map(|_| {
            let token = template.sign(key, now, &mut rng)?;
            let (input, _) = token
                .rsplit_once('.')
                .ok_or("a token without a signature")?;
            Ok(input.as_bytes().to_vec())
        })
        .collect()
}

/// The wall clock, for tokens that a component with its own clock will check.
pub fn now() -> UnixTime {
    UnixTime::from(SystemTime::now())
}

/// A deterministic random generator for `jti`s; give each thread its own `seed`.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Serves `app` on a free port of 127.0.0.1 from a task of the current runtime; its address.
///
/// # Errors
/// When no port can be bound.
pub async fn serve(app: axum::Router) -> Result<SocketAddr, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // Without TCP_NODELAY, the end of an SSE response waits for the client's delayed ACK on a
    // keep-alive connection (Nagle): about 20-40 ms per request instead of well under 1 ms.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// Threads that live for a whole measurement and run blocks of operations on command, as a
/// server's threads do.
///
/// Spawning new threads for every block made the two threads of a block share one core until
/// the scheduler moved one of them: on a 2-vCPU guest, a register-only loop then scaled only
/// 1.71–1.91× (docs/PERFORMANCE.md, 2026-12-07, session 9). A block's time is taken by the
/// workers' own clocks, from the moment the first one starts its operations until the last one
/// finishes, so that how soon the scheduler wakes the thread that commands them does not count.
/// Dropping `Workers` ends its threads.
pub struct Workers {
    threads: Vec<Worker>,
}

/// One worker thread's channels.
struct Worker {
    commands: mpsc::Sender<Command>,
    replies: mpsc::Receiver<Reply>,
}

enum Command {
    /// Build the state for this many operations (outside the timing), then report `Ready`.
    Prepare(u64),
    /// Perform them, then report when it started and finished.
    Go,
}

enum Reply {
    Ready,
    Done(Instant, Instant),
}

impl Workers {
    /// Starts `threads` threads in `scope` (at least one). For each block, thread `i` builds its
    /// state with `prepare(i, count)` outside the timing (tokens, a random generator), then
    /// performs its `count` operations with `work(state)`.
    pub fn start<'scope, 'env, S, P, W>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        threads: usize,
        prepare: &'env P,
        work: &'env W,
    ) -> Workers
    where
        P: Fn(usize, u64) -> S + Sync,
        W: Fn(S) + Sync,
    {
        let threads = (0..threads.max(1))
            .map(|thread| {
                let (commands, inbox) = mpsc::channel();
                let (outbox, replies) = mpsc::channel();
                scope.spawn(move || {
                    pin_to_cpu(thread);
                    let mut state = None;
                    while let Ok(command) = inbox.recv() {
                        let reply = match command {
                            Command::Prepare(count) => {
                                state = Some(prepare(thread, count));
                                Reply::Ready
                            }
                            Command::Go => {
                                let started = Instant::now();
                                if let Some(state) = state.take() {
                                    work(state);
                                }
                                Reply::Done(started, Instant::now())
                            }
                        };
                        if outbox.send(reply).is_err() {
                            break;
                        }
                    }
                });
                Worker { commands, replies }
            })
            .collect();
        Workers { threads }
    }

    /// Runs `iters` operations split over the threads, and returns the wall time from the first
    /// thread's start to the last one's finish: criterion's `iter_custom` then reports wall time
    /// per operation, whose inverse is the throughput of all threads together.
    ///
    /// # Errors
    /// When a worker thread has stopped (its `prepare` or `work` panicked).
    pub fn run(&self, iters: u64) -> Result<Duration, BoxError> {
        let counts = shares(iters, self.threads.len());
        for (worker, count) in self.threads.iter().zip(counts) {
            worker.command(Command::Prepare(count))?;
        }
        for worker in &self.threads {
            worker.reply()?;
        }
        for worker in &self.threads {
            worker.command(Command::Go)?;
        }
        let mut span: Option<(Instant, Instant)> = None;
        for worker in &self.threads {
            let Reply::Done(started, finished) = worker.reply()? else {
                return Err("a worker answered Go with Ready".into());
            };
            span = Some(span.map_or((started, finished), |(first, last)| {
                (first.min(started), last.max(finished))
            }));
        }
        Ok(span.map_or(Duration::ZERO, |(first, last)| {
            last.saturating_duration_since(first)
        }))
    }
}

impl Worker {
    fn command(&self, command: Command) -> Result<(), BoxError> {
        self.commands
            .send(command)
            .map_err(|_| "a benchmark worker thread stopped".into())
    }

    fn reply(&self) -> Result<Reply, BoxError> {
        self.replies
            .recv()
            .map_err(|_| "a benchmark worker thread stopped".into())
    }
}

/// Pins the calling thread to the `index`-th CPU the process may run on (wrapping around).
///
/// A worker that sleeps between blocks is woken by a thread that is still running, and the
/// scheduler often queued the second worker behind the first on one CPU while the other stood
/// idle, for about 3 ms of an 8 ms block, until it moved it (session 9). A server's busy
/// threads do not sleep between requests; pinned workers measure what two cores give. Best
/// effort: a thread that cannot be pinned runs where the scheduler puts it, and says so.
#[cfg(target_os = "linux")]
fn pin_to_cpu(index: usize) {
    use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
    use nix::unistd::Pid;
    let this_thread = Pid::from_raw(0);
    let pinned = sched_getaffinity(this_thread).and_then(|allowed| {
        let cpus: Vec<usize> = (0..CpuSet::count())
            .filter(|cpu| allowed.is_set(*cpu).unwrap_or(false))
            .collect();
        let Some(cpu) = cpus.get(index.checked_rem(cpus.len()).unwrap_or(0)) else {
            return Ok(());
        };
        let mut only = CpuSet::new();
        only.set(*cpu)?;
        sched_setaffinity(this_thread, &only)
    });
    if let Err(error) = pinned {
        eprintln!("attest-bench: worker thread {index} is not pinned to a CPU: {error}");
    }
}

/// Pinning is Linux-only here; elsewhere the scheduler places the workers.
#[cfg(not(target_os = "linux"))]
fn pin_to_cpu(_index: usize) {}

/// One workload ready to be measured on one thread and on two: a [`Workers`] of each size.
pub struct Scaling {
    one: Workers,
    two: Workers,
}

impl Scaling {
    /// Starts the one-thread and the two-thread [`Workers`] of a workload in `scope`.
    pub fn start<'scope, 'env, S, P, W>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        prepare: &'env P,
        work: &'env W,
    ) -> Scaling
    where
        P: Fn(usize, u64) -> S + Sync,
        W: Fn(S) + Sync,
    {
        Scaling {
            one: Workers::start(scope, 1, prepare, work),
            two: Workers::start(scope, 2, prepare, work),
        }
    }
}

/// The 2-thread scaling of several workloads, by alternation, **in the same rounds**: every
/// round runs `blocks` blocks of `ops` operations of each workload on one thread and on two, in
/// turn ([`alternated`]'s order), so that a stretch of time in which the host gives the two
/// CPUs less than it did a moment ago hits every workload alike. Each result's ratio is the
/// 2-thread time ÷ the 1-thread time of one workload, so its scaling factor is the inverse.
///
/// # Errors
/// When a worker thread stops. If it stopped by panicking, the scope re-raises that panic once
/// every thread has ended, as `std::thread::scope` does.
pub fn scalings(
    ops: u64,
    rounds: usize,
    blocks: usize,
    workloads: &[&Scaling],
) -> Result<Vec<Paired>, BoxError> {
    // `alternated` takes infallible workloads: keep a failure aside and report it after.
    let failure = std::cell::Cell::new(None);
    let timed = |workers: &Workers, n| {
        workers.run(n).unwrap_or_else(|e| {
            failure.set(Some(e));
            Duration::ZERO
        })
    };
    let times = {
        let mut sides: Vec<Box<dyn FnMut(u64) -> Duration + '_>> = workloads
            .iter()
            .flat_map(|w| -> [Box<dyn FnMut(u64) -> Duration + '_>; 2] {
                [
                    Box::new(|n| timed(&w.one, n)),
                    Box::new(|n| timed(&w.two, n)),
                ]
            })
            .collect();
        let mut sides: Vec<&mut dyn FnMut(u64) -> Duration> =
            sides.iter_mut().map(|side| &mut **side as _).collect();
        alternated_times(ops, rounds, blocks, &mut sides)
    };
    let per_op = per_op_us(ops, rounds, blocks);
    let results = times
        .chunks_exact(2)
        .filter_map(|pair| match pair {
            [one, two] => Some(compare(one, two, per_op)),
            _ => None,
        })
        .collect();
    failure.into_inner().map_or(Ok(results), Err)
}

/// The 2-thread scaling of one workload, by alternation: [`scalings`] of it alone.
///
/// # Errors
/// As [`scalings`].
pub fn paired_scaling<S, P, W>(
    ops: u64,
    rounds: usize,
    blocks: usize,
    prepare: &P,
    work: &W,
) -> Result<Paired, BoxError>
where
    P: Fn(usize, u64) -> S + Sync,
    W: Fn(S) + Sync,
{
    std::thread::scope(|scope| {
        let workload = Scaling::start(scope, prepare, work);
        let results = scalings(ops, rounds, blocks, &[&workload])?;
        results
            .into_iter()
            .next()
            .ok_or_else(|| "no scaling measured".into())
    })
}

/// Two workloads measured alternately, in short blocks, so that a burst of load from another
/// process hits both alike: the ratio of their per-operation times is then far steadier on a
/// shared machine than a ratio of two benchmarks measured one after the other.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Paired {
    /// The base workload's time per operation over all rounds, µs.
    pub base_us: f64,
    /// The other workload's time per operation over all rounds, µs.
    pub other_us: f64,
    /// The median over rounds of (other's time per operation ÷ base's).
    pub ratio: f64,
    /// The lowest round's ratio.
    pub ratio_low: f64,
    /// The highest round's ratio.
    pub ratio_high: f64,
    /// The lower end of a 95% confidence interval for the median ratio.
    pub ci_low: f64,
    /// The upper end of that interval.
    pub ci_high: f64,
    /// Rounds measured.
    pub rounds: usize,
}

/// Measures `base` and `other` alternately: `rounds` rounds of `blocks` blocks of each, every
/// block `ops` operations (`base(ops)` runs them and returns the time they took), in the order
/// ABBA ABBA… so that neither side always runs first.
pub fn paired(
    ops: u64,
    rounds: usize,
    blocks: usize,
    mut base: impl FnMut(u64) -> Duration,
    mut other: impl FnMut(u64) -> Duration,
) -> Paired {
    let ratios = alternated(ops, rounds, blocks, &mut [&mut base, &mut other]);
    ratios.into_iter().next().unwrap_or(Paired {
        base_us: f64::NAN,
        other_us: f64::NAN,
        ratio: f64::NAN,
        ratio_low: f64::NAN,
        ratio_high: f64::NAN,
        ci_low: f64::NAN,
        ci_high: f64::NAN,
        rounds: 0,
    })
}

/// One run of [`paired`] generalized to several workloads: each round runs `blocks` blocks of
/// every workload, in order in even blocks and in reverse in odd ones (ABC CBA…). Returns each
/// workload after the first as a [`Paired`] against the first, all from the same rounds.
pub fn alternated(
    ops: u64,
    rounds: usize,
    blocks: usize,
    workloads: &mut [&mut dyn FnMut(u64) -> Duration],
) -> Vec<Paired> {
    let times = alternated_times(ops, rounds, blocks, workloads);
    let per_op = per_op_us(ops, rounds, blocks);
    let Some((base, others)) = times.split_first() else {
        return Vec::new();
    };
    others
        .iter()
        .map(|other| compare(base, other, per_op))
        .collect()
}

/// The rounds of [`alternated`]: per workload, its time in each round, in seconds.
fn alternated_times(
    ops: u64,
    rounds: usize,
    blocks: usize,
    workloads: &mut [&mut dyn FnMut(u64) -> Duration],
) -> Vec<Vec<f64>> {
    let (rounds, blocks) = (rounds.max(1), blocks.max(1));
    // One block of each first: caches, allocator, lazily built state.
    for workload in workloads.iter_mut() {
        workload(ops);
    }
    let mut times = vec![Vec::with_capacity(rounds); workloads.len()];
    for _ in 0..rounds {
        let mut round = vec![0.0; workloads.len()];
        for block in 0..blocks {
            let mut turns: Vec<_> = round.iter_mut().zip(workloads.iter_mut()).collect();
            if block % 2 == 1 {
                turns.reverse();
            }
            for (time, workload) in turns {
                *time += workload(ops).as_secs_f64();
            }
        }
        for (times, time) in times.iter_mut().zip(round) {
            times.push(time);
        }
    }
    times
}

/// The factor from a workload's total seconds over all rounds to µs per operation.
fn per_op_us(ops: u64, rounds: usize, blocks: usize) -> f64 {
    1e6 / (ops as f64 * rounds.max(1) as f64 * blocks.max(1) as f64)
}

/// `other` against `base`, round by round: the median ratio and its confidence interval.
fn compare(base: &[f64], other: &[f64], per_op: f64) -> Paired {
    let mut ratios: Vec<f64> = other.iter().zip(base).map(|(o, b)| o / b).collect();
    ratios.sort_by(f64::total_cmp);
    let (ci_low, ci_high) = median_interval(&ratios);
    Paired {
        base_us: base.iter().sum::<f64>() * per_op,
        other_us: other.iter().sum::<f64>() * per_op,
        ratio: ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN),
        ratio_low: ratios.first().copied().unwrap_or(f64::NAN),
        ratio_high: ratios.last().copied().unwrap_or(f64::NAN),
        ci_low,
        ci_high,
        rounds: ratios.len(),
    }
}

/// A 95% confidence interval for the median of `sorted`, free of any assumption about the
/// distribution: the order statistics `k` and `n + 1 − k` (1-based), with `k` the largest for
/// which a Binomial(n, ½) is below `k` with probability at most 2.5%. With fewer than six
/// values no such `k` exists, and the interval is the whole range.
pub fn median_interval(sorted: &[f64]) -> (f64, f64) {
    let n = sorted.len();
    // P(X = 0), then P(X = k + 1) = P(X = k) · (n − k) / (k + 1).
    let mut probability = 0.5_f64.powi(i32::try_from(n).unwrap_or(i32::MAX));
    let (mut below, mut k) = (0.0, 0_usize);
    while k < n / 2 && below + probability <= 0.025 {
        below += probability;
        let next = k.saturating_add(1);
        probability *= n.saturating_sub(k) as f64 / next as f64;
        k = next;
    }
    let k = k.max(1);
    (
        sorted.get(k.saturating_sub(1)).copied().unwrap_or(f64::NAN),
        sorted.get(n.saturating_sub(k)).copied().unwrap_or(f64::NAN),
    )
}

/// Writes `result` to `target/attest-bench/paired/NAME.json` (where `cargo xtask bench` reads
/// it) and prints it.
///
/// # Errors
/// When the file cannot be written.
pub fn record_paired(name: &str, what: &str, result: &Paired) -> Result<(), BoxError> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        std::path::PathBuf::from,
    );
    let dir = target.join("attest-bench/paired");
    std::fs::create_dir_all(&dir)?;
    let mut json = serde_json::to_value(result)?;
    if let Some(object) = json.as_object_mut() {
        object.insert("what".into(), what.into());
    }
    std::fs::write(dir.join(format!("{name}.json")), json.to_string())?;
    println!(
        "paired/{name}: {what}: ratio {:.3} (95% CI {:.3}..{:.3}; rounds {:.3}..{:.3}; {:.2} µs vs {:.2} µs)",
        result.ratio,
        result.ci_low,
        result.ci_high,
        result.ratio_low,
        result.ratio_high,
        result.other_us,
        result.base_us
    );
    Ok(())
}

/// Whether the paired measurements should run: `cargo xtask bench` sets
/// `ATTEST_BENCH_PAIRED=1`; a bare `cargo bench` (often with a filter) skips them.
pub fn paired_enabled() -> bool {
    std::env::var("ATTEST_BENCH_PAIRED").is_ok_and(|v| v == "1")
}

/// `iters` split into `threads` near-equal shares.
fn shares(iters: u64, threads: usize) -> Vec<u64> {
    let t = u64::try_from(threads).unwrap_or(1).max(1);
    let base = iters.checked_div(t).unwrap_or(iters);
    let extra = iters.checked_rem(t).unwrap_or(0);
    (0..t)
        .map(|i| base.saturating_add(u64::from(i < extra)))
        .collect()
}

#[cfg(test)]
mod tests;
