//! `cargo xtask bench [--compare] [--quick]`: runs the benchmarks and regenerates the marked
//! blocks of docs/PERFORMANCE.md and the plots docs/perf-*.svg.
//!
//! Every figure comes from this run: criterion's `target/criterion/**/new/estimates.json`
//! (the median, robust to bursts of load from other processes) written after the run began, and
//! the Python comparison's JSON output. A figure not measured in this run is shown as `—`, never
//! taken from an older run. Only the text between `<!-- bench:NAME:start -->` and
//! `<!-- bench:NAME:end -->` is rewritten; every other section is left as it is.

// Report arithmetic is on measured floats and small counters.
#![allow(clippy::arithmetic_side_effects)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use serde_json::Value;

use crate::{cargo, cargo_with_env, root};

/// Criterion options for a smoke run (`--quick`): figures for checking the pipeline only.
const QUICK: &[&str] = &["--warm-up-time", "0.3", "--measurement-time", "0.7"];

/// How long each side of the Python comparison measures, per round.
const COMPARE_SECONDS: &str = "2";

/// Rounds of the Python comparison: Python, Rust full flow, Rust floor, in turn.
const COMPARE_ROUNDS: usize = 6;

/// Runs every benchmark and rewrites docs/PERFORMANCE.md and docs/perf-*.svg.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let compare = args.iter().any(|a| a == "--compare");
    let quick = args.iter().any(|a| a == "--quick");
    let root = root();
    let started = SystemTime::now();
    let machine = machine(&root);
    let bench = |package: &str, name: &str| -> Result<(), String> {
        let mut cmd = vec!["bench", "-p", package, "--bench", name, "--", "--noplot"];
        if quick {
            cmd.extend(QUICK);
        }
        // The attest-bench benches also measure their target ratios by alternation.
        cargo_with_env(&cmd, &[("ATTEST_BENCH_PAIRED", "1")])
    };
    let python = if compare {
        Some(python_with_dependencies(&root)?)
    } else {
        None
    };
    let ops = build_ops(&root)?;
    let counts = Counted::count(&ops);
    bench("attest-core", "core")?;
    bench("attest-bench", "flow")?;
    let rounds = match &python {
        Some(python) => {
            compare_rounds(&root, &ops, python, if quick { 1 } else { COMPARE_ROUNDS })?
        }
        None => Vec::new(),
    };
    bench("attest-bench", "pipeline")?;
    bench("attest-bench", "mcp")?;

    let m = Measurements::load(&root, started);
    let doc = root.join("docs/PERFORMANCE.md");
    let mut blocks = vec![
        ("machine", machine_block(&machine, quick)),
        ("targets", targets_block(&m, &rounds, &counts)),
        ("core", core_block(&m, &counts)),
        ("flow", flow_block(&m)),
        ("throughput", throughput_block(&m)),
        ("pipeline", pipeline_block(&m)),
        ("mcp", mcp_block(&m, &counts)),
    ];
    if compare {
        blocks.push(("compare", compare_block(&rounds)));
    }
    for (name, body) in &blocks {
        replace_marked(&doc, name, body)?;
        println!("{body}");
    }
    write(&root.join("docs/perf-throughput.svg"), &throughput_svg(&m))?;
    write(&root.join("docs/perf-overhead.svg"), &overhead_svg(&m))?;
    println!("updated docs/PERFORMANCE.md, docs/perf-throughput.svg, docs/perf-overhead.svg");
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Measurements

/// Criterion medians of this run, in µs per operation, by `group/function`, and the ratios
/// measured by alternation (`target/attest-bench/paired/*.json`), by name.
struct Measurements {
    us: BTreeMap<String, f64>,
    paired: BTreeMap<String, Value>,
}

impl Measurements {
    fn load(root: &Path, since: SystemTime) -> Measurements {
        let mut us = BTreeMap::new();
        let base = root.join("target/criterion");
        for group in ["core", "flow", "throughput", "pipeline", "breakdown", "mcp"] {
            let Ok(entries) = std::fs::read_dir(base.join(group)) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path().join("new/estimates.json");
                let fresh = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .is_ok_and(|modified| modified >= since);
                if !fresh {
                    continue;
                }
                let median = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                    .and_then(|v| v["median"]["point_estimate"].as_f64());
                if let Some(ns) = median {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    us.insert(format!("{group}/{name}"), ns / 1000.0);
                }
            }
        }
        let mut paired = BTreeMap::new();
        let dir = root.join("target/attest-bench/paired");
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let fresh = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified >= since);
            let value = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok());
            if let (true, Some(value), Some(name)) = (
                fresh,
                value,
                path.file_stem().map(|n| n.to_string_lossy().into_owned()),
            ) {
                paired.insert(name, value);
            }
        }
        Measurements { us, paired }
    }

    /// A ratio measured by alternation (other ÷ base, time per operation).
    fn paired(&self, name: &str) -> Option<Ratio> {
        let v = self.paired.get(name)?;
        Some(Ratio {
            median: v["ratio"].as_f64()?,
            ci: (v["ci_low"].as_f64()?, v["ci_high"].as_f64()?),
            rounds: v["rounds"].as_u64()?,
            base_us: v["base_us"].as_f64()?,
            other_us: v["other_us"].as_f64()?,
        })
    }

    /// A scaling factor measured by alternation: 1-thread time ÷ 2-thread time per operation.
    fn scaling(&self, name: &str) -> Option<Ratio> {
        self.paired(name).map(Ratio::inverse)
    }

    /// µs per operation.
    fn get(&self, id: &str) -> Option<f64> {
        self.us.get(id).copied()
    }

    /// `a ÷ b`.
    fn ratio(&self, a: &str, b: &str) -> Option<f64> {
        Some(self.get(a)? / self.get(b)?)
    }

    /// Operations per second.
    fn ops(&self, id: &str) -> Option<f64> {
        self.get(id).map(|us| 1e6 / us)
    }
}

/// A ratio measured by alternation: the median over rounds and its 95% confidence interval.
#[derive(Clone, Copy)]
struct Ratio {
    median: f64,
    ci: (f64, f64),
    rounds: u64,
    /// Time per operation over all rounds, µs: the base workload and the other.
    base_us: f64,
    other_us: f64,
}

impl Ratio {
    /// 1 ÷ this ratio, with its interval turned around: a scaling factor from two times per
    /// operation, or a whole ÷ one of its parts.
    fn inverse(self) -> Ratio {
        Ratio {
            median: 1.0 / self.median,
            ci: (1.0 / self.ci.1, 1.0 / self.ci.0),
            ..self
        }
    }
}

/// Which side of its line a target is on. A ratio measured by alternation counts as met or
/// missed only when its whole confidence interval is on one side.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Verdict {
    Met,
    Missed,
    Undecided,
    NotMeasured,
}

impl Verdict {
    /// `interval` against a target that it must stay at most (`at_most`) or at least above.
    fn of(interval: Option<(f64, f64)>, target: f64, at_most: bool) -> Verdict {
        let Some((low, high)) = interval else {
            return Verdict::NotMeasured;
        };
        let (inside, outside) = if at_most {
            (high <= target, low > target)
        } else {
            (low >= target, high < target)
        };
        match (inside, outside) {
            (true, _) => Verdict::Met,
            (_, true) => Verdict::Missed,
            _ => Verdict::Undecided,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::Met => "**met**",
            Verdict::Missed => "**missed**",
            Verdict::Undecided => "**at the line**: the interval holds the target",
            Verdict::NotMeasured => "not measured",
        }
    }
}

fn us(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 1000.0 => format!("{:.0}", v),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) if v >= 1.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.3}"),
        None => "—".into(),
    }
}

fn ops(v: Option<f64>) -> String {
    match v {
        Some(v) => group_thousands(v),
        None => "—".into(),
    }
}

fn group_thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn x(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.2}×"))
}

/// A ratio measured by alternation as `1.234× (1.200–1.250)`: the median and its 95%
/// confidence interval.
fn px(p: Option<Ratio>) -> String {
    p.map_or_else(
        || "—".into(),
        |r| format!("{:.3}× ({:.3}–{:.3})", r.median, r.ci.0, r.ci.1),
    )
}

// ---------------------------------------------------------------------------------------------
// Machine

struct Machine {
    cpu: String,
    cores: usize,
    memory: String,
    os: String,
    rustc: String,
    load: String,
    date: String,
    /// curve25519-dalek's field arithmetic on this processor: see [`dalek_backend`].
    backend: &'static str,
}

fn machine(root: &Path) -> Machine {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let field = |text: &str, name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|rest| {
                rest.trim_start_matches([' ', '\t', ':', '='])
                    .trim_matches('"')
                    .to_owned()
            })
            .unwrap_or_else(|| "unknown".into())
    };
    let output = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown".into())
    };
    let kib: f64 = field(&read("/proc/meminfo"), "MemTotal")
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap_or(0.0);
    Machine {
        cpu: field(&read("/proc/cpuinfo"), "model name"),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        memory: format!("{:.0} GiB", kib / 1024.0 / 1024.0),
        os: field(&read("/etc/os-release"), "PRETTY_NAME"),
        rustc: output("rustc", &["--version"]),
        load: read("/proc/loadavg")
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        date: output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        backend: dalek_backend(),
    }
}

/// The field-arithmetic backend curve25519-dalek picks at run time on this processor. The
/// workspace builds with `--cfg curve25519_dalek_backend="avx512"` (see `.cargo/config.toml`), so
/// one build carries both SIMD backends and curve25519-dalek chooses by the processor's features,
/// as this does: not by the flags this binary was compiled with.
#[cfg(target_arch = "x86_64")]
fn dalek_backend() -> &'static str {
    if std::arch::is_x86_feature_detected!("avx512ifma")
        && std::arch::is_x86_feature_detected!("avx512vl")
    {
        "AVX-512 IFMA"
    } else if std::arch::is_x86_feature_detected!("avx2") {
        "AVX2"
    } else {
        "serial"
    }
}

/// The field-arithmetic backend curve25519-dalek uses: off x86-64, always its serial one.
#[cfg(not(target_arch = "x86_64"))]
fn dalek_backend() -> &'static str {
    "serial"
}

fn machine_block(m: &Machine, quick: bool) -> String {
    let mut out = format!(
        "| | |\n|---|---|\n\
         | CPU | {} ({} logical cores as seen by the process) |\n\
         | memory | {} |\n| OS | {} |\n| compiler | {}, `bench` profile (release, line tables) |\n\
         | curve25519-dalek's backend | chosen at run time: {} (the workspace builds with \
         `--cfg curve25519_dalek_backend=\"avx512\"`, see `.cargo/config.toml`) |\n\
         | run | {}; load average at start {} |\n",
        m.cpu, m.cores, m.memory, m.os, m.rustc, m.backend, m.date, m.load
    );
    if quick {
        out.push_str(
            "\n**Smoke run (`--quick`): measurement times too short for the figures to mean \
             anything. Rerun without `--quick`.**\n",
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Tables

/// `(id, what)` rows as a µs/op + ops/s table.
fn table(m: &Measurements, rows: &[(&str, &str)]) -> String {
    let mut out = String::from("| benchmark | what | µs/op | ops/s |\n|---|---|---:|---:|\n");
    for (id, what) in rows {
        let _ = writeln!(
            out,
            "| `{id}` | {what} | {} | {} |",
            us(m.get(id)),
            ops(m.ops(id))
        );
    }
    out
}

fn core_block(m: &Measurements, counts: &Counted) -> String {
    let mut out = table(
        m,
        &[
            (
                "core/floor_sign",
                "ed25519-dalek `sign` of the token's signing input (floor)",
            ),
            (
                "core/floor_verify_strict",
                "ed25519-dalek `verify_strict` of the same input (floor)",
            ),
            ("core/floor_sign_verify", "floor: sign + `verify_strict`"),
            (
                "core/encode",
                "attest-core `encode` (serialize + base64url + sign)",
            ),
            (
                "core/create",
                "attest-core `TokenBuilder::sign` (claims, UUID jti, encode)",
            ),
            (
                "core/parse",
                "attest-core `dangerous::decode_unverified` (structure, header, claims JSON)",
            ),
            (
                "core/verify",
                "attest-core `verify` (parse + key lookup + strict signature + claims)",
            ),
            ("core/create_verify", "attest-core create + verify"),
        ],
    );
    let _ = writeln!(
        out,
        "\n**Ratios (same run):** create ÷ sign = **{}**, verify ÷ verify_strict = **{}**, \
         create+verify ÷ floor sign+verify = **{}** (target ≤ 1.10×).",
        x(m.ratio("core/create", "core/floor_sign")),
        x(m.ratio("core/verify", "core/floor_verify_strict")),
        x(m.ratio("core/create_verify", "core/floor_sign_verify")),
    );
    let k = |op: &str| {
        counts
            .instructions(op)
            .map_or_else(|| "—".into(), |n| format!("{:.1}k", n / 1000.0))
    };
    let _ = writeln!(
        out,
        "\n**Instructions per operation** (cachegrind, attest-bench's `ops`): floor sign + \
         `verify_strict` {}, create + verify {}, full flow {}; create + verify ÷ floor = **{}**, \
         full flow ÷ floor = {}. Counts do not move with the machine's load, where times do.",
        k("floor"),
        k("create_verify"),
        k("full_flow"),
        x3(counts.ratio("create_verify", "floor")),
        x3(counts.ratio("full_flow", "floor")),
    );
    let misses = |op: &str| {
        counts.counts(op).map_or_else(
            || "—".into(),
            |c| format!("{:.0} code and {:.0} data", c.i1_misses, c.d1_misses),
        )
    };
    let ratio = |get: fn(Counts) -> f64| {
        counts
            .counts("create_verify")
            .zip(counts.counts("floor"))
            .map(|(a, b)| get(a) / get(b))
    };
    let _ = writeln!(
        out,
        "\n**First-level cache misses per operation** (cachegrind's simulation of this machine's \
         32 KiB caches): floor {}, create + verify {}: {} the floor's code misses and {} its data \
         misses. attest's own code (JSON, base64, allocation) does not fit in the instruction \
         cache beside the floor's and evicts it, so a time ratio sits above its instruction \
         ratio, by how much depending on the processor.",
        misses("floor"),
        misses("create_verify"),
        x(ratio(|c| c.i1_misses)),
        x(ratio(|c| c.d1_misses)),
    );
    out
}

fn x3(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.3}×"))
}

fn flow_block(m: &Measurements) -> String {
    let mut out = table(
        m,
        &[
            (
                "flow/floor_sign",
                "floor: ed25519-dalek `sign` of the signing input",
            ),
            (
                "flow/floor_verify_strict",
                "floor: ed25519-dalek `verify_strict`",
            ),
            ("flow/floor_sign_verify", "floor: sign + `verify_strict`"),
            ("flow/encode", "attest-core `encode` of built claims"),
            (
                "flow/create",
                "attest-core create (claims, UUID jti, encode)",
            ),
            ("flow/verify", "attest-core `verify`"),
            ("flow/create_verify", "attest-core create + verify"),
            (
                "flow/replay_check",
                "`MemoryReplayStore::check` of a fresh jti",
            ),
            (
                "flow/full_flow",
                "**full flow**: create + verify + memory replay record",
            ),
            (
                "flow/jwt_encode",
                "jsonwebtoken 11 `encode` (same claims, header, key)",
            ),
            (
                "flow/jwt_decode",
                "jsonwebtoken 11 `decode` (typed claims; non-strict `verify`, no `typ` check)",
            ),
            (
                "flow/jwt_create_decode",
                "jsonwebtoken: build claims + encode + decode",
            ),
        ],
    );
    let _ = write!(
        out,
        "\nRatios (same run):\n\n\
         | ratio | value | |\n|---|---:|---|\n\
         | create ÷ floor sign | {} | |\n\
         | verify ÷ floor `verify_strict` | {} | |\n\
         | create + verify ÷ floor sign + verify | **{}** | target ≤ 1.10× |\n\
         | full flow ÷ floor sign + verify | {} | |\n\
         | attest `encode` ÷ jsonwebtoken `encode` | {} | below 1 = attest faster |\n\
         | attest `verify` ÷ jsonwebtoken `decode` | {} | attest: strict, jsonwebtoken: not |\n\
         | attest create + verify ÷ jsonwebtoken create + decode | {} | |\n",
        x(m.ratio("flow/create", "flow/floor_sign")),
        x(m.ratio("flow/verify", "flow/floor_verify_strict")),
        x(m.ratio("flow/create_verify", "flow/floor_sign_verify")),
        x(m.ratio("flow/full_flow", "flow/floor_sign_verify")),
        x(m.ratio("flow/encode", "flow/jwt_encode")),
        x(m.ratio("flow/verify", "flow/jwt_decode")),
        x(m.ratio("flow/create_verify", "flow/jwt_create_decode")),
    );
    let create_verify = m.paired("create_verify_vs_floor");
    let _ = writeln!(
        out,
        "\nBy alternation (blocks of 50 operations, ABBA, {} rounds; the median round and its \
         95% confidence interval): create + verify ÷ floor = **{}**, full flow ÷ floor = **{}**.",
        rounds(create_verify),
        px(create_verify),
        px(m.paired("full_flow_vs_floor")),
    );
    out
}

/// How many rounds a ratio measured by alternation took, for the text around it.
fn rounds(r: Option<Ratio>) -> String {
    r.map_or_else(|| "—".into(), |r| r.rounds.to_string())
}

const THROUGHPUT_ROWS: [(&str, &str); 3] = [
    ("floor_verify_strict", "floor: `verify_strict`"),
    ("verify", "attest-core `verify`"),
    ("full_flow", "full flow (create + verify + memory replay)"),
];

fn scaling(m: &Measurements, op: &str) -> Option<f64> {
    m.ratio(
        &format!("throughput/{op}_1t"),
        &format!("throughput/{op}_2t"),
    )
}

fn throughput_block(m: &Measurements) -> String {
    let mut out = String::from(
        "| operation | 1 thread ops/s | 2 threads ops/s | scaling | scaling by alternation (target ≥ 1.80×) |\n\
         |---|---:|---:|---:|---:|\n",
    );
    for (op, what) in THROUGHPUT_ROWS {
        let paired = m.scaling(&format!("scaling_{op}"));
        let _ = writeln!(
            out,
            "| {what} | {} | {} | {} | **{}** |",
            ops(m.ops(&format!("throughput/{op}_1t"))),
            ops(m.ops(&format!("throughput/{op}_2t"))),
            x(scaling(m, op)),
            px(paired),
        );
    }
    let _ = writeln!(
        out,
        "| floor: sign + `verify_strict` | | | | {} |\n\
         | the machine itself: a chain of shifts in registers | | | | {} |\n\
         | the machine itself: eight chains of multiplications in registers | | | | {} |\n\
         | the shared `MemoryReplayStore::check` alone (fresh jtis) | | | | {} |",
        px(m.scaling("scaling_floor")),
        px(m.scaling("scaling_machine")),
        px(m.scaling("scaling_machine_multiply")),
        px(m.scaling("scaling_replay")),
    );
    let _ = writeln!(
        out,
        "\nThe alternation column runs 400 operations on one thread, then 400 on two, in turn \
         (ABBA, {} rounds), and gives the median round with its 95% confidence interval. Every \
         row but the replay store's is measured **in the same rounds** (`attest_bench::scalings`), \
         so a stretch in which the host gives the two CPUs less hits them all alike; the replay \
         store runs after them, 20,000 operations a block. The threads live for the whole \
         measurement, each pinned to its own CPU, and a block lasts from the first thread's \
         start to the last one's finish (`attest_bench::Workers`). The floor's `verify_strict` \
         row verifies the same token as attest-core's `verify` row. The two machine rows are \
         controls with no memory and no shared state: the chain of shifts leaves most of a core \
         idle, while the multiplications keep its multiplier as busy as field arithmetic does. \
         Where the host lets another busy hardware thread (the guest's other CPU, or another \
         guest's) share a core with one of the two, only the second shows it.",
        rounds(m.paired("scaling_verify")),
    );
    out.push_str("\n![throughput against thread count](perf-throughput.svg)\n");
    out
}

/// The steps of `Verifier::verify` on the memory store, in µs: (label, value), and the whole.
/// Each step's share of the whole is the median over rounds of the alternation that ran them
/// all in turn (`breakdown_*`); its µs are that share of the whole's time in the same run.
fn breakdown(m: &Measurements) -> Option<(Vec<(&'static str, f64)>, f64)> {
    let share = |step: &str| m.paired(&format!("breakdown_{step}")).map(|r| r.median);
    let total = m.paired("breakdown_signature")?.base_us;
    let signature = share("signature")?;
    let mut shares = vec![
        ("parse", share("parse")?),
        ("key lookup", share("key_lookup")?),
        ("signature", signature),
        ("claims", (share("signature_claims")? - signature).max(0.0)),
        ("replay", share("replay")?),
        ("metrics", share("metrics")?),
    ];
    let sum: f64 = shares.iter().map(|(_, v)| v).sum();
    shares.push(("rest (async, hashing, glue)", (1.0 - sum).max(0.0)));
    let steps = shares
        .into_iter()
        .map(|(label, s)| (label, s * total))
        .collect();
    Some((steps, total))
}

fn pipeline_block(m: &Measurements) -> String {
    let mut out = table(
        m,
        &[
            (
                "pipeline/verify_memory",
                "`Verifier::verify`, warm JWKS cache, memory replay store, metrics on",
            ),
            (
                "pipeline/verify_redis",
                "the same with `RedisReplayStore` (a real `SET NX PXAT` per token)",
            ),
            (
                "pipeline/verify_reusable_hit",
                "`Verifier::verify_reusable` of a token already verified (cache hit)",
            ),
        ],
    );
    let signature = m.paired("breakdown_signature");
    let _ = writeln!(
        out,
        "\nRatios: memory pipeline ÷ the signature check alone (`PublicKey::verify`, \
         strict Ed25519), by alternation = **{}**; Redis ÷ memory (criterion, same run) = {}.",
        px(signature.map(Ratio::inverse)),
        x(m.ratio("pipeline/verify_redis", "pipeline/verify_memory")),
    );
    let _ = write!(
        out,
        "\nWhere the time of `verify_memory` goes: the whole and each step alone (`breakdown/*`: \
         the signature steps over 64 tokens in turn, since `verify_strict` is variable-time, the \
         others on one token) take turns in blocks of 50 operations for {} rounds; a step's \
         share is its median share over the rounds.\n\n\
         | step | what | µs | share |\n|---|---|---:|---:|\n",
        rounds(signature),
    );
    let what = [
        "`dangerous::decode_unverified`: strict base64url, JSON, header, typed claims",
        "`JwksResolver` cache hit",
        "`PublicKey::verify`: strict Ed25519",
        "the claim checks (`UnverifiedToken::verify` − the signature)",
        "`MemoryReplayStore::check` of a fresh `jti`",
        "counters, histogram, active gauge",
        "the whole − the steps: SHA-256 of the token, the verified agent, async calls",
    ];
    match breakdown(m) {
        Some((steps, total)) => {
            for ((label, v), what) in steps.iter().zip(what) {
                let _ = writeln!(
                    out,
                    "| {label} | {what} | {} | {:.1}% |",
                    us(Some(*v)),
                    100.0 * v / total
                );
            }
            let _ = writeln!(
                out,
                "| **whole** | `Verifier::verify` | **{}** | |",
                us(Some(total))
            );
        }
        None => out.push_str("| — | not measured in this run | | |\n"),
    }
    out.push_str("\n![overhead breakdown](perf-overhead.svg)\n");
    out
}

const MCP_ROWS: [(&str, &str, &str, &str); 6] = [
    (
        "in-process duplex session (`initialize` + `tools/call`)",
        "mcp/duplex_session_plain",
        "mcp/duplex_session_attested",
        "duplex_session",
    ),
    (
        "the same, token in one carrier only (`extensions`)",
        "mcp/duplex_session_plain",
        "mcp/duplex_session_attested_one_carrier",
        "duplex_session_one_carrier",
    ),
    (
        "**streamable HTTP session** on loopback (`initialize` + `tools/call`)",
        "mcp/http_session_plain",
        "mcp/http_session_attested",
        "http_session",
    ),
    (
        "the same, token in one carrier only (`extensions`)",
        "mcp/http_session_plain",
        "mcp/http_session_attested_one_carrier",
        "http_session_one_carrier",
    ),
    (
        "2026-07-28 stateless `tools/call`, fresh token per request",
        "mcp/stateless_plain",
        "mcp/stateless_attested_fresh",
        "stateless_fresh",
    ),
    (
        "2026-07-28 stateless `tools/call`, same token (verified-token cache hit)",
        "mcp/stateless_plain",
        "mcp/stateless_attested_cached",
        "stateless_cached",
    ),
];

fn mcp_block(m: &Measurements, counts: &Counted) -> String {
    let mut out = String::from(
        "| scenario | without attestation /s | with attestation /s | µs added | overhead | overhead by alternation |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for (what, plain, attested, paired) in MCP_ROWS {
        let added = m.get(attested).zip(m.get(plain)).map(|(a, p)| a - p);
        let _ = writeln!(
            out,
            "| {what} | {} | {} | {} | {} | **{}** |",
            ops(m.ops(plain)),
            ops(m.ops(attested)),
            us(added),
            x(m.ratio(attested, plain)),
            px(m.paired(paired)),
        );
    }
    let _ = write!(
        out,
        "\nWhat carrying the token costs rmcp before any attest code runs — parsing the \
         `initialize` request (`serde_json` into rmcp's `ClientJsonRpcMessage`):\n\n\
         | `initialize` request | µs | ratio |\n|---|---:|---:|\n\
         | without attestation | {} | 1.00× |\n\
         | token in both carriers (attest-mcp-client's default) | {} | {} |\n\
         | token in `extensions` only | {} | {} |\n",
        us(m.get("mcp/parse_initialize_plain")),
        us(m.get("mcp/parse_initialize_attested")),
        x(m.ratio(
            "mcp/parse_initialize_attested",
            "mcp/parse_initialize_plain"
        )),
        us(m.get("mcp/parse_initialize_attested_one_carrier")),
        x(m.ratio(
            "mcp/parse_initialize_attested_one_carrier",
            "mcp/parse_initialize_plain"
        )),
    );
    let http = m.paired("http_session");
    let _ = writeln!(
        out,
        "\nTarget: HTTP session overhead ≤ 1.15× (by alternation: blocks of 10 sessions, \
         {} rounds, the median round and its 95% confidence interval) — {}.",
        rounds(http),
        Verdict::of(http.map(|r| r.ci), 1.15, true).label(),
    );
    out.push_str(&decomposition_block(m, counts));
    out
}

/// What a session's overhead is made of: each part alternated with the plain session and the
/// attested one, in the same rounds.
fn decomposition_block(m: &Measurements, counts: &Counted) -> String {
    let mut out = String::from(
        "\nWhat the overhead is made of. Each row is one more workload in the same \
         alternation as the plain and attested sessions above: the client carries the token to \
         the plain server, which ignores it (what carrying it costs rmcp on both sides, with no \
         attest code); and the gate of policy `optional` with no token (the wrapper, the \
         advertisement, the admission of every request, without verifying). What the attested \
         session adds beyond the two is the verification itself and the result it reports.\n\n\
         | | HTTP: µs added | HTTP: ratio | duplex: µs added | duplex: ratio | duplex: instructions added |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    // (what, the recorded ratio's name, the `ops` mode whose instructions are counted)
    let rows = [
        (
            "token carried, ignored by the plain server",
            "carried",
            "duplex_carried",
        ),
        (
            "gate without a token",
            "gate_no_token",
            "duplex_gate_no_token",
        ),
        ("**attested** (both carriers)", "session", "duplex_attested"),
        (
            "attested, token in `extensions` only",
            "session_one_carrier",
            "duplex_attested_one_carrier",
        ),
    ];
    let added = |r: Option<Ratio>| us(r.map(|r| r.other_us - r.base_us));
    for (what, name, op) in rows {
        let (http, duplex) = (
            m.paired(&format!("http_{name}")),
            m.paired(&format!("duplex_{name}")),
        );
        let _ = writeln!(
            out,
            "| {what} | {} | {} | {} | {} | {} |",
            added(http),
            px(http),
            added(duplex),
            px(duplex),
            counts.added_k(op, "duplex_plain"),
        );
    }
    out
}

fn compare_block(rounds: &[Round]) -> String {
    let mut out = String::from(
        "| round | Python full flow /s | Rust full flow /s | Rust floor (sign + `verify_strict`) /s | full flow ratio | floor ratio |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for (i, r) in rounds.iter().enumerate() {
        let py = r.python["ops_per_sec"].as_f64();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            i + 1,
            ops(py),
            ops(Some(r.rust)),
            ops(Some(r.floor)),
            x(py.map(|p| r.rust / p)),
            x(py.map(|p| r.floor / p)),
        );
    }
    let ratio = python_ratio(rounds);
    let floor = over_python(rounds, |r| r.floor);
    let rust = median(rounds.iter().map(|r| r.rust).collect());
    let versions = rounds.first().map_or_else(String::new, |r| {
        format!(
            "Python {}, PyJWT {}, cryptography {}",
            r.python["python"].as_str().unwrap_or("?"),
            r.python["pyjwt"].as_str().unwrap_or("?"),
            r.python["cryptography"].as_str().unwrap_or("?")
        )
    });
    let _ = writeln!(
        out,
        "\n**Rust full flow ÷ Python full flow (throughput, one core, median of the rounds) = \
         {}** (target ≥ 4×: {}). {versions}.\n\nThe Ed25519 floor alone (ed25519-dalek sign + \
         `verify_strict`, nothing else) does {} the Python full flow's throughput in the same \
         rounds. attest's own Ed25519 steps do less work than `verify_strict` (see `key.rs`), so \
         the full flow can come out above it. Against the Python figure of BRIEF §2 (3,116/s) \
         the Rust full flow is {}.",
        x(ratio),
        python_verdict(ratio),
        x(floor),
        x(rust.map(|r| r / 3116.0)),
    );
    out
}

fn targets_block(m: &Measurements, rounds: &[Round], counts: &Counted) -> String {
    let range = |p: Option<Ratio>| {
        p.map_or_else(
            || "—".to_owned(),
            |r| {
                format!(
                    "**{:.3}×** (95% CI {:.3}–{:.3}, {} rounds)",
                    r.median, r.ci.0, r.ci.1, r.rounds
                )
            },
        )
    };
    let judge = |r: Option<Ratio>, target: f64, at_most: bool| {
        Verdict::of(r.map(|r| r.ci), target, at_most).label()
    };
    let create_verify = m.paired("create_verify_vs_floor");
    let core_row = format!(
        "{}; in instructions {}",
        range(create_verify),
        x3(counts.ratio("create_verify", "floor"))
    );
    let (scaling_verify, scaling_flow) =
        (m.scaling("scaling_verify"), m.scaling("scaling_full_flow"));
    // What the floor and the machine gave two threads in the same rounds, beside each.
    let beside = |floor: &str, what: &str| {
        format!(
            "; in the same rounds the floor ({what}) {}, the machine's multiplier {}",
            px(m.scaling(floor)),
            px(m.scaling("scaling_machine_multiply")),
        )
    };
    let http = m.paired("http_session");
    let python = python_ratio(rounds);
    let (python_row, python_verdict) = if rounds.is_empty() {
        (
            "not run: `cargo xtask bench --compare` ([last comparison](#the-python-original))"
                .to_owned(),
            "see below",
        )
    } else {
        (
            format!("**{}** (median of {} rounds)", x(python), rounds.len()),
            python_verdict(python),
        )
    };
    format!(
        "Each ratio below is measured by alternation: short blocks of both sides take turns \
         (ABBA) for many rounds, so that a burst of load from another process hits both; the \
         figure is the median round, with a 95% confidence interval for it (distribution-free: \
         order statistics of the rounds). A target counts as met or missed only when the whole \
         interval lies on one side of its line. The criterion tables further down measure each \
         side once, one after the other.\n\n\
         | target | measured | |\n|---|---|---|\n\
         | core create + verify ≤ 1.10× the raw crypto floor | {} | {} |\n\
         | full flow ≥ 4× the Python stack's throughput, one core | {} | {} |\n\
         | 2-thread scaling ≥ 1.8×: verify | {} | {} |\n\
         | 2-thread scaling ≥ 1.8×: full flow | {} | {} |\n\
         | attestation overhead on an HTTP `initialize` + `tools/call` session ≤ 1.15× | {} | {} |\n",
        core_row,
        judge(create_verify, 1.10, true),
        python_row,
        python_verdict,
        range(scaling_verify) + &beside("scaling_floor_verify_strict", "`verify_strict`"),
        judge(scaling_verify, 1.8, false),
        range(scaling_flow) + &beside("scaling_floor", "sign + `verify_strict`"),
        judge(scaling_flow, 1.8, false),
        range(http),
        judge(http, 1.15, true),
    )
}

// ---------------------------------------------------------------------------------------------
// Instruction counts

/// Builds attest-bench's `ops` example (one operation N times), and returns its path.
fn build_ops(root: &Path) -> Result<PathBuf, String> {
    cargo(&[
        "build",
        "--profile",
        "bench",
        "-p",
        "attest-bench",
        "--example",
        "ops",
    ])?;
    Ok(root.join("target/release/examples/ops"))
}

/// The `ops` operations whose instructions are counted: the floor and attest-core, then whole
/// duplex sessions, each with the number of operations of the smaller run.
const COUNTED: [(&str, u64); 8] = [
    // A multiple of the 64 inputs the floor cycles through: `verify_strict` is variable-time.
    ("floor", 640),
    ("create_verify", 640),
    ("full_flow", 640),
    ("duplex_plain", 100),
    ("duplex_carried", 100),
    ("duplex_gate_no_token", 100),
    ("duplex_attested", 100),
    ("duplex_attested_one_carrier", 100),
];

/// Per operation, from cachegrind: instructions, and the misses of its simulated first-level
/// caches. Steady from run to run and whatever else the machine is doing, where times are not.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Counts {
    instructions: f64,
    /// Code fetches that missed the 32 KiB instruction cache.
    i1_misses: f64,
    /// Reads and writes that missed the 32 KiB data cache.
    d1_misses: f64,
}

impl Counts {
    /// `(two - one) / n`, field by field: the counts of `n` more operations, without the setup.
    fn per_op(one: Counts, two: Counts, n: u64) -> Counts {
        let n = n as f64;
        Counts {
            instructions: (two.instructions - one.instructions) / n,
            i1_misses: (two.i1_misses - one.i1_misses) / n,
            d1_misses: (two.d1_misses - one.d1_misses) / n,
        }
    }

    /// The totals in cachegrind's summary on stderr: `==PID== I   refs:      1,234`,
    /// `==PID== I1  misses: …`, `==PID== D1  misses: 12  (10 rd + 2 wr)`.
    fn parse_summary(stderr: &str) -> Option<Counts> {
        let total = |label: &str| -> Option<f64> {
            stderr.lines().find_map(|line| {
                let (_, rest) = line.split_once(label)?;
                let first = rest.split_whitespace().next()?;
                first.replace(',', "").parse().ok()
            })
        };
        Some(Counts {
            instructions: total("I   refs:")?,
            i1_misses: total("I1  misses:")?,
            d1_misses: total("D1  misses:")?,
        })
    }
}

/// [`Counts`] for each of [`COUNTED`]. Empty when valgrind is not installed.
struct Counted(BTreeMap<&'static str, Counts>);

impl Counted {
    /// Each of [`COUNTED`]: `ops OP n` and `ops OP 2n` under cachegrind; the difference ÷ n
    /// cancels the setup (keys, runtime, and the tokens every session mode mints alike).
    fn count(ops: &Path) -> Counted {
        let mut counts = BTreeMap::new();
        for (op, n) in COUNTED {
            let per_op = cachegrind(ops, op, n)
                .zip(cachegrind(ops, op, 2 * n))
                .map(|(one, two)| Counts::per_op(one, two, n));
            match per_op {
                Some(per_op) => {
                    counts.insert(op, per_op);
                }
                None => {
                    eprintln!("instruction counts skipped: valgrind did not run `ops {op}`");
                    break;
                }
            }
        }
        Counted(counts)
    }

    fn instructions(&self, op: &str) -> Option<f64> {
        self.0.get(op).map(|c| c.instructions)
    }

    fn counts(&self, op: &str) -> Option<Counts> {
        self.0.get(op).copied()
    }

    /// `a ÷ b`, in instructions.
    fn ratio(&self, a: &str, b: &str) -> Option<f64> {
        Some(self.instructions(a)? / self.instructions(b)?)
    }

    /// What `op` adds to `base`, in thousands of instructions.
    fn added_k(&self, op: &str, base: &str) -> String {
        match (self.instructions(op), self.instructions(base)) {
            (Some(a), Some(b)) => format!("{:.0}k", (a - b) / 1000.0),
            _ => "—".into(),
        }
    }
}

/// The simulated caches: this machine's first level (32 KiB, 8-way, 64-byte lines, for code and
/// for data alike), given explicitly so that the counts do not depend on what valgrind detects.
const CACHES: [&str; 3] = ["--I1=32768,8,64", "--D1=32768,8,64", "--LL=33554432,16,64"];

/// What cachegrind counted for `ops OP n`, or `None` without valgrind.
fn cachegrind(ops: &Path, op: &str, n: u64) -> Option<Counts> {
    let out = Command::new("valgrind")
        .args([
            "--tool=cachegrind",
            "--cache-sim=yes",
            "--cachegrind-out-file=/dev/null",
        ])
        .args(CACHES)
        .arg(ops)
        .args([op, &n.to_string()])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Counts::parse_summary(&String::from_utf8_lossy(&out.stderr))
}

// ---------------------------------------------------------------------------------------------
// Python comparison

/// A Python that can import PyJWT and cryptography: `python3` itself, or a venv under
/// `target/attest-bench/venv` where they are installed with pip if missing.
fn python_with_dependencies(root: &Path) -> Result<PathBuf, String> {
    let imports = |python: &Path| {
        Command::new(python)
            .args(["-c", "import jwt, cryptography"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let system = PathBuf::from("python3");
    if imports(&system) {
        return Ok(system);
    }
    let venv = root.join("target/attest-bench/venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        eprintln!("$ python3 -m venv {}", venv.display());
        run_status(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    if !imports(&python) {
        eprintln!("$ {} -m pip install pyjwt cryptography", python.display());
        run_status(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "pyjwt",
            "cryptography",
        ]))?;
    }
    Ok(python)
}

fn run_status(cmd: &mut Command) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed ({status})"))
    }
}

/// Runs `program args…` and parses the JSON object it prints.
fn run_json(program: &Path, args: &[&str]) -> Result<Value, String> {
    eprintln!("$ {} {}", program.display(), args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let report: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{}: not JSON: {e}", program.display()))?;
    eprintln!("{report}");
    Ok(report)
}

/// One round of the Python comparison: the throughputs, measured one after the other.
struct Round {
    python: Value,
    rust: f64,
    floor: f64,
}

/// `rounds` rounds of: `benches/compare/python_flow.py`, then attest-bench's `ops full_flow`,
/// then `ops floor`, each for [`COMPARE_SECONDS`] after its warm-up, so that they all share
/// every moment of load the machine goes through.
fn compare_rounds(
    root: &Path,
    ops: &Path,
    python: &Path,
    rounds: usize,
) -> Result<Vec<Round>, String> {
    let script = root.join("benches/compare/python_flow.py");
    let script = script.to_string_lossy();
    let rate = |v: &Value| {
        v["ops_per_sec"]
            .as_f64()
            .ok_or_else(|| format!("no ops_per_sec in {v}"))
    };
    (0..rounds)
        .map(|_| {
            let python = run_json(
                python,
                &[&script, "--seconds", COMPARE_SECONDS, "--warmup", "0.5"],
            )?;
            let run = |op| rate(&run_json(ops, &[op, "--seconds", COMPARE_SECONDS])?);
            let rust = run("full_flow")?;
            let floor = run("floor")?;
            rate(&python)?;
            Ok(Round {
                python,
                rust,
                floor,
            })
        })
        .collect()
}

/// The median of `values`.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// The Python target (≥ 4×), judged on the median of the rounds alone: with six rounds, a 95%
/// interval would be their whole range.
fn python_verdict(ratio: Option<f64>) -> &'static str {
    Verdict::of(ratio.map(|r| (r, r)), 4.0, false).label()
}

/// Median over rounds of (Rust full flow ÷ Python full flow) throughput.
fn python_ratio(rounds: &[Round]) -> Option<f64> {
    over_python(rounds, |r| r.rust)
}

/// Median over rounds of (a Rust throughput `of` the round ÷ Python's).
fn over_python(rounds: &[Round], of: impl Fn(&Round) -> f64) -> Option<f64> {
    median(
        rounds
            .iter()
            .filter_map(|r| Some(of(r) / r.python["ops_per_sec"].as_f64()?))
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// Plots, as hand-written SVG

const PALETTE: [&str; 7] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
];

fn svg_header(width: u32, height: u32, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" \
         font-weight=\"bold\">{}</text>\n",
        width / 2,
        escape(title)
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A "nice" axis maximum at or above `v`.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|m| *m >= v)
        .unwrap_or(10.0 * magnitude)
}

/// Throughput (ops/s) against thread count, one line per operation, with ideal scaling dashed.
fn throughput_svg(m: &Measurements) -> String {
    let (w, h) = (720, 400);
    let (left, right, top, bottom) = (80.0, 300.0, 45.0, 340.0);
    let mut svg = svg_header(w, h, "Throughput on both cores (same run)");
    let series: Vec<(&str, Option<f64>, Option<f64>)> = THROUGHPUT_ROWS
        .iter()
        .map(|(op, what)| {
            (
                *what,
                m.ops(&format!("throughput/{op}_1t")),
                m.ops(&format!("throughput/{op}_2t")),
            )
        })
        .collect();
    let top_value = series
        .iter()
        .flat_map(|(_, a, b)| [a.map(|a| a * 2.0), *b])
        .flatten()
        .fold(0.0, f64::max);
    let y_max = nice_max(top_value);
    let plot_right = f64::from(w) - right;
    let px = |threads: f64| left + (threads - 1.0) * (plot_right - left);
    let py = |v: f64| bottom - v / y_max * (bottom - top);
    // Axes, grid and ticks.
    for i in 0..=5 {
        let v = y_max * f64::from(i) / 5.0;
        let y = py(v);
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{plot_right}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y + 4.0,
            group_thousands(v)
        );
    }
    for threads in [1.0, 2.0] {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{threads:.0}</text>",
            px(threads),
            bottom + 18.0
        );
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{left}\" y1=\"{bottom}\" x2=\"{plot_right}\" y2=\"{bottom}\" stroke=\"black\"/>\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{bottom}\" stroke=\"black\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">threads</text>\
         <text x=\"18\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {:.1})\">operations per second</text>",
        (left + plot_right) / 2.0,
        bottom + 38.0,
        (top + bottom) / 2.0,
        (top + bottom) / 2.0,
    );
    for (i, (label, one, two)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let ly = top + 20.0 + 40.0 * i as f64;
        if let (Some(one), Some(two)) = (one, two) {
            let _ = writeln!(
                svg,
                "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" \
                 stroke-dasharray=\"4 4\" opacity=\"0.6\"/>\
                 <line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-width=\"2.5\"/>\
                 <circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{color}\"/>\
                 <circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{color}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{}</text>",
                px(1.0),
                py(*one),
                px(2.0),
                py(one * 2.0),
                px(1.0),
                py(*one),
                px(2.0),
                py(*two),
                px(1.0),
                py(*one),
                px(2.0),
                py(*two),
                px(2.0) + 8.0,
                py(*two) + 4.0,
                group_thousands(*two),
            );
        }
        let paired = THROUGHPUT_ROWS
            .get(i)
            .and_then(|(op, _)| m.scaling(&format!("scaling_{op}")));
        let scale = match (paired, one, two) {
            (Some(r), _, _) => format!("{:.2}× on 2 threads (alternating)", r.median),
            (None, Some(a), Some(b)) => format!("{:.2}× on 2 threads", b / a),
            _ => "not measured".into(),
        };
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{color}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#555\">{scale}</text>",
            plot_right + 60.0,
            ly - 10.0,
            plot_right + 78.0,
            ly,
            escape(&label.split(" (").next().unwrap_or(label).replace('`', "")),
            plot_right + 78.0,
            ly + 15.0,
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#555\" font-size=\"11\">dashed: ideal 2× scaling</text>\n</svg>",
        plot_right + 60.0,
        top + 140.0
    );
    svg
}

/// One stacked bar: where the time of `Verifier::verify` (memory store) goes.
fn overhead_svg(m: &Measurements) -> String {
    let (w, h) = (760, 280);
    let (left, right) = (20.0, 20.0);
    let mut svg = svg_header(
        w,
        h,
        "Verifier::verify (warm JWKS, memory replay store): where the time goes",
    );
    let Some((steps, total)) = breakdown(m) else {
        svg.push_str("<text x=\"20\" y=\"80\">not measured in this run</text>\n</svg>\n");
        return svg;
    };
    let width = f64::from(w) - left - right;
    let (bar_y, bar_h) = (60.0, 46.0);
    let mut x0 = left;
    for (i, (label, v)) in steps.iter().enumerate() {
        let seg = v / total * width;
        let color = PALETTE[i % PALETTE.len()];
        let _ = writeln!(
            svg,
            "<rect x=\"{x0:.1}\" y=\"{bar_y}\" width=\"{seg:.2}\" height=\"{bar_h}\" fill=\"{color}\">\
             <title>{label}: {v:.2} µs</title></rect>"
        );
        if seg > 90.0 {
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"white\">{label} {v:.1} µs</text>",
                x0 + seg / 2.0,
                bar_y + bar_h / 2.0 + 4.0
            );
        }
        x0 += seg;
    }
    // The legend, with every step's figure (small steps are invisible in the bar).
    for (i, (label, v)) in steps.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let (col, row) = (i % 3, i / 3);
        let lx = left + 245.0 * col as f64;
        let ly = bar_y + bar_h + 35.0 + 24.0 * row as f64;
        let _ = writeln!(
            svg,
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{color}\"/>\
             <text x=\"{:.1}\" y=\"{ly:.1}\">{label}: {} µs ({:.1}%)</text>",
            ly - 10.0,
            lx + 18.0,
            us(Some(*v)),
            100.0 * v / total
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{left}\" y=\"{:.1}\" fill=\"#555\">total {} µs per verification; each share is \
         its median over rounds of the whole and the steps in turn.</text>\n</svg>",
        f64::from(h) - 30.0,
        us(Some(total)),
    );
    svg
}

// ---------------------------------------------------------------------------------------------
// Markers

/// Replaces the text between `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->`.
pub(crate) fn replace_marked(path: &Path, name: &str, body: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (start, end) = (
        format!("<!-- bench:{name}:start -->"),
        format!("<!-- bench:{name}:end -->"),
    );
    let missing = || format!("{} lacks the {start} / {end} markers", path.display());
    let (head, rest) = text.split_once(&start).ok_or_else(missing)?;
    let (_, tail) = rest.split_once(&end).ok_or_else(missing)?;
    std::fs::write(path, format!("{head}{start}\n{body}{end}{tail}"))
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_marked_keeps_everything_outside_the_markers() {
        let path = std::env::temp_dir().join(format!("xtask-marked-{}.md", std::process::id()));
        std::fs::write(
            &path,
            "a\n<!-- bench:x:start -->\nold\n<!-- bench:x:end -->\nb\n",
        )
        .unwrap();
        replace_marked(&path, "x", "new\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            text,
            "a\n<!-- bench:x:start -->\nnew\n<!-- bench:x:end -->\nb\n"
        );
        assert!(replace_marked(&path, "y", "").is_err());
    }

    #[test]
    fn a_target_is_met_or_missed_only_by_the_whole_interval() {
        assert_eq!(Verdict::of(Some((1.10, 1.14)), 1.15, true), Verdict::Met);
        assert_eq!(
            Verdict::of(Some((1.14, 1.16)), 1.15, true),
            Verdict::Undecided
        );
        assert_eq!(Verdict::of(Some((1.16, 1.20)), 1.15, true), Verdict::Missed);
        assert_eq!(Verdict::of(Some((1.80, 1.95)), 1.8, false), Verdict::Met);
        assert_eq!(
            Verdict::of(Some((1.70, 1.85)), 1.8, false),
            Verdict::Undecided
        );
        assert_eq!(Verdict::of(Some((1.60, 1.79)), 1.8, false), Verdict::Missed);
        assert_eq!(Verdict::of(None, 1.8, false), Verdict::NotMeasured);
    }

    #[test]
    fn cachegrind_summary_is_read_per_operation() {
        // As valgrind 3.19 prints it, for 1000 and for 2000 operations.
        let summary = |refs: &str, i1: &str, d1: &str| {
            format!(
                "==10378== \n==10378== I   refs:      {refs}\n==10378== I1  misses:        {i1}\n\
                 ==10378== LLi misses:          2,000\n==10378== D   refs:      9\n\
                 ==10378== D1  misses:        {d1}  (    799,074 rd   +     97,078 wr)\n"
            )
        };
        let one = Counts::parse_summary(&summary("734,418,475", "516,347", "896,152")).unwrap();
        let two =
            Counts::parse_summary(&summary("1,468,804,475", "1,031,347", "1,817,149")).unwrap();
        let per_op = Counts::per_op(one, two, 1000);
        assert_eq!(per_op.instructions, 734_386.0);
        assert_eq!(per_op.i1_misses, 515.0);
        assert_eq!(per_op.d1_misses, 920.997);
        assert_eq!(Counts::parse_summary("==1== I   refs: 5\n"), None);
    }

    #[test]
    fn the_python_comparison_reports_each_round_and_the_median_ratios() {
        let round = |python: f64, rust: f64, floor: f64| Round {
            python: serde_json::json!({"ops_per_sec": python, "python": "3.11"}),
            rust,
            floor,
        };
        let one = compare_block(&[round(1000.0, 3500.0, 4000.0)]);
        assert!(one.contains("= 3.50×** (target ≥ 4×: **missed**)"), "{one}");
        assert!(
            one.contains("Python 3.11, PyJWT ?, cryptography ?"),
            "{one}"
        );
        let rounds = [
            round(1000.0, 4600.0, 5000.0),
            round(2000.0, 8800.0, 9600.0),
            round(1000.0, 4400.0, 4900.0),
        ];
        let block = compare_block(&rounds);
        assert!(
            block.starts_with("| round | Python full flow /s |"),
            "{block}"
        );
        assert!(
            block.contains("\n|---|---:|---:|---:|---:|---:|\n"),
            "{block}"
        );
        for row in [
            "| 1 | 1,000 | 4,600 | 5,000 | 4.60× | 5.00× |\n",
            "| 2 | 2,000 | 8,800 | 9,600 | 4.40× | 4.80× |\n",
            "| 3 | 1,000 | 4,400 | 4,900 | 4.40× | 4.90× |\n",
        ] {
            assert!(block.contains(row), "{row} in {block}");
        }
        assert_eq!(block.matches("\n| ").count(), 3, "{block}");
        // Medians of the per-round ratios (4.6, 4.4, 4.4 and 5.0, 4.8, 4.9).
        assert_eq!(python_ratio(&rounds), Some(4.4));
        assert!(
            block.contains("= 4.40×** (target ≥ 4×: **met**)"),
            "{block}"
        );
        assert!(
            block.contains("does 4.90× the Python full flow's"),
            "{block}"
        );
        // The median Rust full flow (4,600/s) against BRIEF §2's 3,116/s.
        assert!(block.contains("the Rust full flow is 1.48×."), "{block}");
        assert_eq!(python_ratio(&[]), None);
    }

    #[test]
    fn the_machine_block_names_curve25519_dalek_s_backend() {
        let machine = |backend| Machine {
            cpu: "cpu".into(),
            cores: 2,
            memory: "4 GiB".into(),
            os: "os".into(),
            rustc: "rustc".into(),
            load: "0.00 0.00 0.00".into(),
            date: "today".into(),
            backend,
        };
        let block = machine_block(&machine("AVX-512 IFMA"), false);
        assert!(
            block.contains(
                "| curve25519-dalek's backend | chosen at run time: AVX-512 IFMA (the workspace \
                 builds with `--cfg curve25519_dalek_backend=\"avx512\"`, see \
                 `.cargo/config.toml`) |\n"
            ),
            "{block}"
        );
        assert!(!block.contains("Smoke run"), "{block}");
        assert!(machine_block(&machine("AVX2"), true).contains("run time: AVX2 ("));
        assert!(["AVX-512 IFMA", "AVX2", "serial"].contains(&dalek_backend()));
    }

    #[test]
    fn numbers_are_formatted_for_tables() {
        assert_eq!(group_thousands(1_234_567.4), "1,234,567");
        assert_eq!(group_thousands(999.0), "999");
        assert_eq!(us(Some(0.1234)), "0.123");
        assert_eq!(us(None), "—");
        assert_eq!(nice_max(37_000.0), 50_000.0);
        assert_eq!(nice_max(20_000.0), 20_000.0);
    }
}
