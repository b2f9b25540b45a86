//! Unit tests of the fixtures.

use super::*;

#[test]
fn shares_cover_every_operation_nearly_evenly() {
    assert_eq!(shares(7, 2), vec![4, 3]);
    assert_eq!(shares(1, 2), vec![1, 0]);
    assert_eq!(shares(0, 1), vec![0]);
    assert_eq!(shares(9, 0), vec![9]);
}

#[test]
fn run_split_runs_every_share() {
    let done = std::sync::atomic::AtomicU64::new(0);
    run_split(
        10,
        2,
        |_, count| count,
        |count| {
            done.fetch_add(count, std::sync::atomic::Ordering::Relaxed);
        },
    );
    assert_eq!(done.into_inner(), 10);
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
    assert!((result.base_us - 1.0).abs() < 1e-9 && (result.other_us - 2.0).abs() < 1e-9);
}
