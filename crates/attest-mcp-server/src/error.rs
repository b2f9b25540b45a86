//! `VerifierError`: why the pipeline refused a token, precisely (for logs) and as a reason.

use attest_core::{Reason, VerifyError};

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
        }
    }
}

impl From<VerifyError> for VerifierError {
    fn from(e: VerifyError) -> Self {
        VerifierError::Token(e)
    }
}
