//! JSON-RPC errors: one code per [`Reason`], outside the reserved range, with the stable reason
//! string in `error.data`.

use attest_core::Reason;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ProtocolError;
use crate::json;
use crate::server::Enforcement;

/// The first code of our range: `attestation_required`. The others follow in [`Reason::ALL`]
/// order, downwards, to -31018. The range lies outside JSON-RPC's reserved -32768..-32000.
pub const ERROR_CODE_BASE: i32 = -31001;

/// The JSON-RPC error code for `reason`: -31001..-31018, in [`Reason::ALL`] order. Reasons
/// added later are appended, so an existing code never changes.
///
/// | reason | code | original's code |
/// |---|---|---|
/// | `attestation_required` | -31001 | -32001 |
/// | `attestation_malformed` | -31002 | -32002 |
/// | `attestation_header_rejected` | -31003 | -32002 |
/// | `attestation_invalid` | -31004 | -32002 |
/// | `attestation_key_unknown` | -31005 | -32002 |
/// | `attestation_issuer_untrusted` | -31006 | -32005 |
/// | `attestation_expired` | -31007 | -32003 |
/// | `attestation_not_yet_valid` | -31008 | -32002 |
/// | `attestation_lifetime_exceeded` | -31009 | -32002 |
/// | `attestation_audience_mismatch` | -31010 | -32002 |
/// | `attestation_claims_insufficient` | -31011 | -32006 |
/// | `attestation_replay` | -31012 | -32004 |
/// | `attestation_unavailable` | -31013 | -32002 |
/// | `attestation_proof_required` | -31014 | -32002 |
/// | `attestation_proof_invalid` | -31015 | -32002 |
/// | `attestation_proof_mismatch` | -31016 | -32002 |
/// | `attestation_proof_stale` | -31017 | -32002 |
/// | `attestation_proof_replay` | -31018 | -32002 |
pub const fn error_code(reason: Reason) -> i32 {
    match reason {
        Reason::Required => -31001,
        Reason::Malformed => -31002,
        Reason::HeaderRejected => -31003,
        Reason::Invalid => -31004,
        Reason::KeyUnknown => -31005,
        Reason::IssuerUntrusted => -31006,
        Reason::Expired => -31007,
        Reason::NotYetValid => -31008,
        Reason::LifetimeExceeded => -31009,
        Reason::AudienceMismatch => -31010,
        Reason::ClaimsInsufficient => -31011,
        Reason::Replay => -31012,
        Reason::Unavailable => -31013,
        Reason::ProofRequired => -31014,
        Reason::ProofInvalid => -31015,
        Reason::ProofMismatch => -31016,
        Reason::ProofStale => -31017,
        Reason::ProofReplay => -31018,
        // A reason added to attest-core later must get its own code here; the tests check that
        // every reason in `Reason::ALL` has a distinct one.
        _ => -31004,
    }
}

/// The code the 0.1.0 original used for the same intent (-32001..-32006). Reasons the original
/// did not distinguish map to its `attestation_invalid`, -32002; so do the proof reasons of
/// key-bound attestation, which the original did not have.
pub const fn legacy_error_code(reason: Reason) -> i32 {
    match reason {
        Reason::Required => -32001,
        Reason::Expired => -32003,
        Reason::Replay => -32004,
        Reason::IssuerUntrusted => -32005,
        Reason::ClaimsInsufficient => -32006,
        _ => -32002,
    }
}

/// The reason whose code is `code`, if any.
pub fn reason_for_code(code: i64) -> Option<Reason> {
    Reason::ALL
        .into_iter()
        .find(|reason| i64::from(error_code(*reason)) == code)
}

/// A JSON-RPC 2.0 error object: `{code, message, data?}`. No SDK needed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonRpcError {
    /// The error code.
    pub code: i64,
    /// A short human-readable description.
    pub message: String,
    /// Structured detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// An attestation refusal, as a server reports it.
///
/// Its JSON-RPC form is `{code, message, data: {reason, policy, trusted_issuers, legacy_code}}`:
/// `code` from [`error_code`], `message` the reason's human sentence (which names the class of
/// failure only, never which cryptographic check failed), and `data.reason` the stable string
/// that clients should match on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationError {
    /// Why.
    pub reason: Reason,
    /// The server's policy.
    pub policy: Enforcement,
    /// The issuers the server trusts, so that a client can pick a token it will accept.
    pub trusted_issuers: Vec<String>,
}

impl AttestationError {
    /// An error for `reason` under `policy`.
    pub fn new(
        reason: Reason,
        policy: Enforcement,
        trusted_issuers: impl IntoIterator<Item = impl Into<String>>,
    ) -> AttestationError {
        AttestationError {
            reason,
            policy,
            trusted_issuers: trusted_issuers.into_iter().map(Into::into).collect(),
        }
    }

    /// The JSON-RPC code.
    pub fn code(&self) -> i32 {
        error_code(self.reason)
    }

    /// The original's code for the same intent.
    pub fn legacy_code(&self) -> i32 {
        legacy_error_code(self.reason)
    }

    /// The human-readable message: [`Reason::message`] with a capital letter.
    pub fn message(&self) -> String {
        let text = self.reason.message();
        let mut chars = text.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        }
    }

    /// The JSON-RPC error object.
    pub fn to_json_rpc(&self) -> JsonRpcError {
        let mut data = Map::new();
        data.insert("reason".into(), self.reason.as_str().into());
        data.insert("policy".into(), self.policy.as_str().into());
        data.insert(
            "trusted_issuers".into(),
            self.trusted_issuers.clone().into(),
        );
        data.insert("legacy_code".into(), self.legacy_code().into());
        JsonRpcError {
            code: self.code().into(),
            message: self.message(),
            data: Some(Value::Object(data)),
        }
    }

    /// Reads an attestation error from a JSON-RPC error object, strictly.
    ///
    /// An error without `data.reason` is [`ProtocolError::NotAttestationError`]. The code must
    /// be [`error_code`] of the reason, and `legacy_code`, when present, its
    /// [`legacy_error_code`]; otherwise [`ProtocolError::CodeMismatch`]. `policy` is required,
    /// `trusted_issuers` optional (empty).
    pub fn from_json_rpc(error: &JsonRpcError) -> Result<AttestationError, ProtocolError> {
        let not_ours = || ProtocolError::NotAttestationError { code: error.code };
        let data = match &error.data {
            Some(Value::Object(data)) if data.contains_key("reason") => data,
            _ => return Err(not_ours()),
        };
        let at = "/data";
        let reason = json::string(data, at, "reason")?;
        let reason = Reason::from_wire(reason).ok_or_else(|| ProtocolError::InvalidValue {
            pointer: json::child(at, "reason"),
            value: json::clip(reason),
        })?;
        let mismatch = || ProtocolError::CodeMismatch {
            code: error.code,
            reason,
        };
        if error.code != i64::from(error_code(reason)) {
            return Err(mismatch());
        }
        if let Some(legacy) = data.get("legacy_code") {
            let legacy = legacy.as_i64().ok_or_else(|| ProtocolError::WrongType {
                pointer: json::child(at, "legacy_code"),
                expected: "an integer",
            })?;
            if legacy != i64::from(legacy_error_code(reason)) {
                return Err(mismatch());
            }
        }
        let policy = json::string(data, at, "policy")?;
        let policy = Enforcement::from_wire(policy).ok_or_else(|| ProtocolError::InvalidValue {
            pointer: json::child(at, "policy"),
            value: json::clip(policy),
        })?;
        Ok(AttestationError {
            reason,
            policy,
            trusted_issuers: json::string_list(data, at, "trusted_issuers")?.unwrap_or_default(),
        })
    }
}
