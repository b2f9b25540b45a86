//! The one error type of attest-observe.

/// Why the observer could not be built, or the metrics not rendered.
///
/// Recording itself never fails: a metric that cannot be updated is skipped, so observability
/// can never break a verification.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObserveError {
    /// A metric family could not be registered, e.g. because the registry passed in already
    /// holds an `attest_*` family of the same name.
    #[error("metric {name} could not be registered: {detail}")]
    Registration {
        /// The family's name.
        name: &'static str,
        /// The registry's description.
        detail: String,
    },
    /// A trusted issuer is empty, or equals a reserved label value (`untrusted`, `none`).
    #[error("{0:?} cannot be used as a trusted issuer label")]
    ReservedIssuer(String),
    /// The text exposition could not be written.
    #[error("metrics could not be encoded: {0}")]
    Encode(String),
}
