//! `VerifierError`: why the pipeline refused a token, precisely (for logs) and as a reason.

use attest_core::{ProofError, Reason, VerifyError};

/// Why [`crate::Verifier`] refused a token.
///
/// Log the `Display` text; tell the peer only [`VerifierError::reason`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifierError {
    /// attest-core refused the token.
    #[error("token rejected: {0}")]
    Token(VerifyError),
    /// The issuer's keys could not be obtained (issuer down past the staleness bound, breaker
    /// open, ...). The decision failed closed.
    #[error("signing keys unavailable: {0}")]
    KeysUnavailable(String),
    /// The token's `jti` was already used.
    #[error("token replayed")]
    Replay,
    /// The replay store could not decide (unreachable, full). The decision failed closed.
    #[error("replay store unavailable: {0}")]
    ReplayStoreUnavailable(String),
    /// The request's proof of possession was refused (SPEC.md §17), or is missing where the
    /// policy requires one.
    #[error("proof refused: {0}")]
    Proof(ProofError),
    /// The proof's `jti` was already used.
    #[error("proof replayed")]
    ProofReplay,
}

impl VerifierError {
    /// The stable reason to report to a peer.
    pub fn reason(&self) -> Reason {
        match self {
            VerifierError::Token(e) => e.reason(),
            VerifierError::KeysUnavailable(_) | VerifierError::ReplayStoreUnavailable(_) => {
                Reason::Unavailable
            }
            VerifierError::Replay => Reason::Replay,
            VerifierError::Proof(e) => e.reason(),
            VerifierError::ProofReplay => Reason::ProofReplay,
        }
    }

    /// A stable snake_case name of the precise cause, for logs and tests: attest-core's
    /// [`VerifyError::code`] or [`ProofError::code`], or this pipeline's own.
    pub fn code(&self) -> &'static str {
        match self {
            VerifierError::Token(e) => e.code(),
            VerifierError::KeysUnavailable(_) => "keys_unavailable",
            VerifierError::Replay => "replayed",
            VerifierError::ReplayStoreUnavailable(_) => "replay_store_unavailable",
            VerifierError::Proof(e) => e.code(),
            VerifierError::ProofReplay => "proof_replayed",
        }
    }
}

impl From<ProofError> for VerifierError {
    fn from(e: ProofError) -> Self {
        VerifierError::Proof(e)
    }
}

impl From<VerifyError> for VerifierError {
    fn from(e: VerifyError) -> Self {
        VerifierError::Token(e)
    }
}
