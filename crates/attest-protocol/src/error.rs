//! The one error type of attest-protocol: why a message could not be read.

use attest_core::Reason;

/// Why an attestation message could not be read.
///
/// Every variant names the place it refers to as a JSON Pointer (RFC 6901) relative to the
/// value that was passed in, so a log line says exactly which member was wrong. Values that came
/// from the peer are clipped to a few dozen bytes before they are stored here.
///
/// A server reports every one of these to the peer as [`Reason::Malformed`] (see
/// [`ProtocolError::reason`]); the detail is for logs.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The value must be a JSON object and is not (e.g. a string where the carrier object
    /// belongs).
    #[error("`{pointer}` must be a JSON object")]
    NotAnObject {
        /// Where.
        pointer: String,
    },
    /// A required member is missing.
    #[error("`{pointer}` lacks the required member `{member}`")]
    MissingMember {
        /// The object that lacks it.
        pointer: String,
        /// The missing member.
        member: &'static str,
    },
    /// A member has the wrong JSON type.
    #[error("`{pointer}` must be {expected}")]
    WrongType {
        /// The member.
        pointer: String,
        /// What it must be, e.g. `a string`.
        expected: &'static str,
    },
    /// The `token` (or `proof`) member is an empty string.
    #[error("`{pointer}` is an empty token")]
    EmptyToken {
        /// The `token` (or `proof`) member.
        pointer: String,
    },
    /// The `version` member names a version this crate does not speak.
    #[error("`{pointer}` is the unknown version {version:?}")]
    UnknownVersion {
        /// The `version` member.
        pointer: String,
        /// The version found (clipped).
        version: String,
    },
    /// A member holds a string outside its vocabulary (a policy, status, trust level or
    /// reason).
    #[error("`{pointer}` has the unknown value {value:?}")]
    InvalidValue {
        /// The member.
        pointer: String,
        /// The value found (clipped).
        value: String,
    },
    /// The members of a verification result contradict each other (e.g. `verified` with
    /// trust level `none`).
    #[error("`{pointer}` is inconsistent: {detail}")]
    Inconsistent {
        /// The object.
        pointer: String,
        /// What contradicts what.
        detail: &'static str,
    },
    /// Two carriers of one message hold different attestations.
    #[error("`{first}` and `{second}` carry different attestations")]
    Conflict {
        /// The carrier that takes precedence.
        first: String,
        /// The carrier that disagrees with it.
        second: String,
    },
    /// A JSON-RPC error's code does not match the reason in its `data`.
    #[error("error code {code} does not match reason {reason}")]
    CodeMismatch {
        /// The code found.
        code: i64,
        /// The reason in `data`.
        reason: Reason,
    },
    /// A JSON-RPC error that is not an attestation error (no `data.reason`).
    #[error("error code {code} is not an attestation error")]
    NotAttestationError {
        /// The code found.
        code: i64,
    },
}

impl ProtocolError {
    /// A stable snake_case name of the variant, for logs and the negative test vectors.
    pub fn code(&self) -> &'static str {
        match self {
            ProtocolError::NotAnObject { .. } => "not_an_object",
            ProtocolError::MissingMember { .. } => "missing_member",
            ProtocolError::WrongType { .. } => "wrong_type",
            ProtocolError::EmptyToken { .. } => "empty_token",
            ProtocolError::UnknownVersion { .. } => "unknown_version",
            ProtocolError::InvalidValue { .. } => "invalid_value",
            ProtocolError::Inconsistent { .. } => "inconsistent",
            ProtocolError::Conflict { .. } => "conflict",
            ProtocolError::CodeMismatch { .. } => "code_mismatch",
            ProtocolError::NotAttestationError { .. } => "not_attestation_error",
        }
    }

    /// The JSON Pointer of the offending value, relative to the value passed in. For a conflict,
    /// the carrier that disagrees.
    pub fn pointer(&self) -> Option<&str> {
        match self {
            ProtocolError::NotAnObject { pointer }
            | ProtocolError::MissingMember { pointer, .. }
            | ProtocolError::WrongType { pointer, .. }
            | ProtocolError::EmptyToken { pointer }
            | ProtocolError::UnknownVersion { pointer, .. }
            | ProtocolError::InvalidValue { pointer, .. }
            | ProtocolError::Inconsistent { pointer, .. } => Some(pointer),
            ProtocolError::Conflict { second, .. } => Some(second),
            ProtocolError::CodeMismatch { .. } | ProtocolError::NotAttestationError { .. } => None,
        }
    }

    /// The reason a server reports to the peer: always [`Reason::Malformed`]. A carrier that
    /// cannot be read is a malformed attestation, whatever the detail.
    pub fn reason(&self) -> Reason {
        Reason::Malformed
    }
}
