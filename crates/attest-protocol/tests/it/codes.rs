//! The JSON-RPC code table: one distinct code per reason, outside the reserved range, mapped to
//! the original's codes.

use std::collections::BTreeSet;

use attest_core::Reason;
use attest_protocol::{
    AttestationError, ERROR_CODE_BASE, Enforcement, error_code, legacy_error_code, reason_for_code,
};

#[test]
fn codes_follow_reason_all_from_the_base_and_are_distinct() {
    let mut seen = BTreeSet::new();
    for (i, reason) in Reason::ALL.into_iter().enumerate() {
        let code = error_code(reason);
        assert_eq!(
            code,
            ERROR_CODE_BASE - i32::try_from(i).unwrap(),
            "{reason}"
        );
        assert!(seen.insert(code), "{reason} reuses {code}");
        assert!(
            !(-32768..=-32000).contains(&code),
            "{reason}: {code} is reserved"
        );
        assert_eq!(reason_for_code(code.into()), Some(reason));
    }
    assert_eq!(error_code(Reason::Unavailable), -31013);
    // The proof reasons were appended: the original thirteen codes did not move.
    assert_eq!(error_code(Reason::ProofRequired), -31014);
    assert_eq!(error_code(Reason::ProofReplay), -31018);
    assert_eq!(legacy_error_code(Reason::ProofMismatch), -32002);
    assert_eq!(reason_for_code(-32001), None);
}

#[test]
fn legacy_codes_are_the_originals() {
    let expected = [
        (Reason::Required, -32001),
        (Reason::Invalid, -32002),
        (Reason::Expired, -32003),
        (Reason::Replay, -32004),
        (Reason::IssuerUntrusted, -32005),
        (Reason::ClaimsInsufficient, -32006),
    ];
    for (reason, code) in expected {
        assert_eq!(legacy_error_code(reason), code, "{reason}");
    }
    for reason in Reason::ALL {
        assert!(
            (-32006..=-32001).contains(&legacy_error_code(reason)),
            "{reason}"
        );
    }
}

#[test]
fn messages_name_the_class_only() {
    for reason in Reason::ALL {
        let error =
            AttestationError::new(reason, Enforcement::Required, ["https://issuer.example"]);
        let message = error.message();
        assert!(message.starts_with(char::is_uppercase), "{message}");
        assert_eq!(message.to_lowercase(), reason.message().to_lowercase());
        // No precise check leaks: these are VerifyError details, never sent to a peer.
        for detail in [
            "small order",
            "non-canonical",
            "S >= L",
            "64",
            "kid",
            "base64",
            "segment",
        ] {
            assert!(!message.contains(detail), "{reason}: {message}");
        }
        let rpc = error.to_json_rpc();
        assert_eq!(rpc.code, i64::from(error_code(reason)));
        let data = rpc.data.unwrap();
        assert_eq!(data["reason"], reason.as_str());
        assert_eq!(data["policy"], "required");
        assert_eq!(data["trusted_issuers"][0], "https://issuer.example");
        assert_eq!(data["legacy_code"], legacy_error_code(reason));
    }
}
