//! The stable, coarse reason strings that a verifier may show to a peer.

use std::fmt;

/// Why an attestation was refused, as a peer may be told.
///
/// These strings are a stable contract (SPEC.md §7): they travel in `error.data.reason` and are
/// used as metric labels. They are deliberately coarse: every cryptographic failure is
/// [`Reason::Invalid`], so a rejection cannot be used as an oracle for which check failed. The
/// precise cause stays in [`crate::VerifyError`], for logs.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// No attestation was presented where policy requires one.
    Required,
    /// The token is not a well-formed compact JWS with JSON header and claims.
    Malformed,
    /// The JOSE header breaks policy: algorithm, `typ`, `kid` or a forbidden parameter.
    HeaderRejected,
    /// The signature does not verify.
    Invalid,
    /// No usable key is published under the token's `(iss, kid)`.
    KeyUnknown,
    /// `iss` is not exactly one of the trusted issuers.
    IssuerUntrusted,
    /// `exp` has passed, beyond the leeway.
    Expired,
    /// `nbf` or `iat` is in the future, beyond the leeway.
    NotYetValid,
    /// `exp - iat` exceeds the policy's maximum lifetime.
    LifetimeExceeded,
    /// `aud` is empty or names none of the expected audiences.
    AudienceMismatch,
    /// A required claim is missing.
    ClaimsInsufficient,
    /// The token's `jti` was already used.
    Replay,
    /// A dependency needed to decide (key discovery, replay store) is unavailable; the decision
    /// failed closed.
    Unavailable,
    /// No proof of possession was presented where policy requires one (SPEC.md §17).
    ProofRequired,
    /// The proof is malformed, its signature does not verify, or it is signed by a key other
    /// than the attestation's `cnf` key.
    ProofInvalid,
    /// The proof is for another request: `ath`, `aud`, `mth`, `nam` or `ph` does not match.
    ProofMismatch,
    /// The proof's `iat` is older than the proof window, or in the future beyond the leeway.
    ProofStale,
    /// The proof's `jti` was already used.
    ProofReplay,
}

impl Reason {
    /// Every reason, in a fixed order (for documentation, metrics and tests).
    ///
    /// New reasons are appended, so a reason's position (and the JSON-RPC code derived from it)
    /// never changes.
    pub const ALL: [Reason; 18] = [
        Reason::Required,
        Reason::Malformed,
        Reason::HeaderRejected,
        Reason::Invalid,
        Reason::KeyUnknown,
        Reason::IssuerUntrusted,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::LifetimeExceeded,
        Reason::AudienceMismatch,
        Reason::ClaimsInsufficient,
        Reason::Replay,
        Reason::Unavailable,
        Reason::ProofRequired,
        Reason::ProofInvalid,
        Reason::ProofMismatch,
        Reason::ProofStale,
        Reason::ProofReplay,
    ];

    /// The stable wire string, e.g. `attestation_expired`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Required => "attestation_required",
            Reason::Malformed => "attestation_malformed",
            Reason::HeaderRejected => "attestation_header_rejected",
            Reason::Invalid => "attestation_invalid",
            Reason::KeyUnknown => "attestation_key_unknown",
            Reason::IssuerUntrusted => "attestation_issuer_untrusted",
            Reason::Expired => "attestation_expired",
            Reason::NotYetValid => "attestation_not_yet_valid",
            Reason::LifetimeExceeded => "attestation_lifetime_exceeded",
            Reason::AudienceMismatch => "attestation_audience_mismatch",
            Reason::ClaimsInsufficient => "attestation_claims_insufficient",
            Reason::Replay => "attestation_replay",
            Reason::Unavailable => "attestation_unavailable",
            Reason::ProofRequired => "attestation_proof_required",
            Reason::ProofInvalid => "attestation_proof_invalid",
            Reason::ProofMismatch => "attestation_proof_mismatch",
            Reason::ProofStale => "attestation_proof_stale",
            Reason::ProofReplay => "attestation_proof_replay",
        }
    }

    /// Parses a wire string back into a reason.
    pub fn from_wire(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// A short human-readable sentence for this reason. It names the class only.
    pub const fn message(self) -> &'static str {
        match self {
            Reason::Required => "an agent attestation is required",
            Reason::Malformed => "the attestation is malformed",
            Reason::HeaderRejected => "the attestation header is not acceptable",
            Reason::Invalid => "the attestation signature is invalid",
            Reason::KeyUnknown => "the attestation signing key is unknown",
            Reason::IssuerUntrusted => "the attestation issuer is not trusted",
            Reason::Expired => "the attestation has expired",
            Reason::NotYetValid => "the attestation is not yet valid",
            Reason::LifetimeExceeded => "the attestation lifetime exceeds policy",
            Reason::AudienceMismatch => "the attestation is not for this audience",
            Reason::ClaimsInsufficient => "the attestation lacks required claims",
            Reason::Replay => "the attestation was already used",
            Reason::Unavailable => "attestation could not be checked right now",
            Reason::ProofRequired => "a proof of possession is required",
            Reason::ProofInvalid => "the proof of possession is invalid",
            Reason::ProofMismatch => "the proof of possession is for another request",
            Reason::ProofStale => "the proof of possession is not fresh",
            Reason::ProofReplay => "the proof of possession was already used",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
