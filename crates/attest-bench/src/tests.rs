//! Unit tests of the fixtures.

use super::*;
use std::sync::atomic::{AtomicU64, Ordering};

#[test]
fn shares_cover_every_operation_nearly_evenly() {
    assert_eq!(shares(7, 2), vec![4, 3]);
    assert_eq!(shares(1, 2), vec![1, 0]);
    assert_eq!(shares(0, 1), vec![0]);
    assert_eq!(shares(9, 0), vec![9]);
}

#[test]
fn workers_run_every_share_on_their_own_threads() {
    let done = AtomicU64::new(0);
    let prepare = |thread: usize, count: u64| (thread, count);
    let work = |(_, count): (usize, u64)| {
        done.fetch_add(count, Ordering::Relaxed);
    };
    std::thread::scope(|scope| {
        let workers = Workers::start(scope, 2, &prepare, &work);
        workers.run(10).unwrap();
        workers.run(7).unwrap();
    });
    assert_eq!(done.into_inner(), 17);
}

#[test]
fn scalings_run_every_workload_on_one_thread_and_on_two_in_the_same_rounds() {
    let (first, second) = (AtomicU64::new(0), AtomicU64::new(0));
    let prepare = |_: usize, count: u64| count;
    let (count_first, count_second) = (
        |count: u64| {
            first.fetch_add(count, Ordering::Relaxed);
        },
        |count: u64| {
            second.fetch_add(count, Ordering::Relaxed);
        },
    );
    let results = std::thread::scope(|scope| {
        let workloads = [
            Scaling::start(scope, &prepare, &count_first),
            Scaling::start(scope, &prepare, &count_second),
        ];
        scalings(10, 3, 2, &workloads.each_ref()).unwrap()
    });
    assert_eq!(results.len(), 2, "one result per workload");
    assert!(results.iter().all(|r| r.rounds == 3));
    // Per workload and per side (one thread, two): a warm-up block, then 3 rounds of 2 blocks.
    let per_workload = 2 * (10 + 3 * 2 * 10);
    assert_eq!(first.into_inner(), per_workload);
    assert_eq!(second.into_inner(), per_workload);
}

#[test]
fn a_worker_that_panics_is_an_error_not_a_hang() {
    let prepare = |_: usize, count: u64| count;
    let work = |count: u64| assert!(count < 5, "a broken workload");
    let outcome = std::panic::catch_unwind(|| {
        std::thread::scope(|scope| {
            let workers = Workers::start(scope, 2, &prepare, &work);
            assert!(workers.run(4).is_ok());
            workers.run(20).map(|_| ()).map_err(|e| e.to_string())
        })
    });
    // The scope re-raises the worker's panic once every thread has ended.
    assert!(outcome.is_err());
}

#[test]
fn the_benchmark_token_verifies_and_jsonwebtoken_reads_it() {
    let key = signing_key().unwrap();
    let policy = policy(ISSUER, AUDIENCE).unwrap();
    let token = builder(ISSUER, AUDIENCE)
        .sign(&key, now(), &mut rng(1))
        .unwrap();
    attest_core::verify(&token, &trust(ISSUER, &key).unwrap(), &policy, now()).unwrap();
    // The baseline reads attest-core's token, and attest-core reads the baseline's.
    let decoded =
        jwt::decode::<jwt::JwtClaims>(&token, &jwt::decoding_key(&key), &jwt::validation())
            .unwrap();
    assert_eq!(decoded.claims.sub, SUBJECT);
    let claims = builder(ISSUER, AUDIENCE)
        .build_claims(now(), &mut rng(2))
        .unwrap();
    let theirs = jwt::encode(&jwt::header(), &claims, &jwt::encoding_key()).unwrap();
    attest_core::verify(&theirs, &trust(ISSUER, &key).unwrap(), &policy, now()).unwrap();
}

#[test]
fn the_python_comparison_signs_the_same_claims() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/compare/claims.json");
    let python: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let claims = builder(ISSUER, AUDIENCE)
        .build_claims(now(), &mut rng(3))
        .unwrap();
    let mut ours = serde_json::to_value(&claims).unwrap();
    // The script fills these in per operation.
    ours["iat"] = 0.into();
    ours["exp"] = 0.into();
    ours["jti"] = "".into();
    assert_eq!(ours, python);
}

#[test]
fn an_initialize_request_parses_as_rmcp_reads_it() {
    let token = builder(ISSUER, AUDIENCE)
        .sign(&signing_key().unwrap(), now(), &mut rng(4))
        .unwrap();
    for carriers in [
        attest_protocol::Carriers::Both,
        attest_protocol::Carriers::Extensions,
    ] {
        let caps = mcp::capabilities(Some(&token), carriers).unwrap();
        let text = mcp::initialize_request(&caps).unwrap();
        let message: rmcp::model::ClientJsonRpcMessage = serde_json::from_str(&text).unwrap();
        assert!(format!("{message:?}").contains(&token));
    }
}

#[test]
fn paired_measures_both_sides_alternately() {
    let (mut a, mut b) = (0, 0);
    let result = paired(
        3,
        5,
        4,
        |n| {
            a += n;
            Duration::from_micros(n)
        },
        |n| {
            b += n;
            Duration::from_micros(2 * n)
        },
    );
    // One warm-up block each, then 5 rounds of 4 blocks of 3 operations.
    assert_eq!((a, b), (3 + 60, 3 + 60));
    assert_eq!(result.ratio, 2.0);
    assert_eq!(
        (result.ratio_low, result.ratio_high, result.rounds),
        (2.0, 2.0, 5)
    );
    assert_eq!((result.ci_low, result.ci_high), (2.0, 2.0));
    assert!((result.base_us - 1.0).abs() < 1e-9 && (result.other_us - 2.0).abs() < 1e-9);
}

#[test]
fn alternated_runs_every_workload_in_turn_and_reverses_every_other_block() {
    let order = std::cell::RefCell::new(Vec::new());
    let workload = |name: char, micros: u64| {
        let order = &order;
        move |n: u64| {
            order.borrow_mut().push(name);
            Duration::from_micros(micros * n)
        }
    };
    let (mut a, mut b, mut c) = (workload('a', 1), workload('b', 3), workload('c', 2));
    let results = alternated(2, 2, 2, &mut [&mut a, &mut b, &mut c]);
    // The warm-up block of each, then per round: a b c, then c b a.
    assert_eq!(
        order.into_inner().iter().collect::<String>(),
        "abc".to_owned() + "abccba" + "abccba"
    );
    let ratios: Vec<f64> = results.iter().map(|r| r.ratio).collect();
    assert_eq!(ratios, [3.0, 2.0], "each against the first");
    assert!(results.iter().all(|r| (r.base_us - 1.0).abs() < 1e-9));
}

#[test]
fn the_median_interval_is_the_order_statistics_of_the_binomial() {
    let values = |n: usize| (1..=n).map(|v| v as f64).collect::<Vec<f64>>();
    // Below six values, no pair of order statistics reaches 95%: the whole range.
    assert_eq!(median_interval(&values(5)), (1.0, 5.0));
    // n = 6: P(X = 0) = 1/64 ≤ 2.5%, P(X ≤ 1) = 7/64 > 2.5%: k = 1.
    assert_eq!(median_interval(&values(6)), (1.0, 6.0));
    // n = 10: P(X ≤ 1) = 11/1024, P(X ≤ 2) = 56/1024: k = 2.
    assert_eq!(median_interval(&values(10)), (2.0, 9.0));
    // n = 100: the textbook interval is the 40th to the 61st value.
    assert_eq!(median_interval(&values(100)), (40.0, 61.0));
    assert!(median_interval(&[]).0.is_nan());
}
