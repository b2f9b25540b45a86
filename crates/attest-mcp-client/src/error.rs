//! The one error type of attest-mcp-client.

use std::time::Duration;

use attest_core::{BuildError, ProofError, Reason};
use attest_protocol::{AttestationError, Enforcement, ProtocolError};

/// Why a token could not be supplied or attached, or why the server refused the agent.
///
/// Variants never carry a third-party type: HTTP and TLS failures are kept as text, and an
/// inner rmcp transport's error is kept as a boxed [`std::error::Error`] source (so that rmcp's
/// own checks, such as `is_authorization_required`, still find it in the source chain).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A token was empty or an attestation object could not be written.
    #[error("attestation could not be encoded: {0}")]
    Protocol(#[source] ProtocolError),
    /// The local signer could not mint a token (a missing claim, a bad lifetime).
    #[error("token could not be minted: {0}")]
    Mint(#[source] BuildError),
    /// The `TokenBuilder` template given to a `LocalSigner` already names an audience. The
    /// signer adds the audience of each request itself, so the template must not have one.
    #[error("the token template must not set an audience; the signer adds it per request")]
    TemplateHasAudience,
    /// A proof of possession could not be made for a request (its params could not be
    /// canonicalized).
    #[error("proof of possession could not be made: {0}")]
    Proof(#[source] ProofError),
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Rng(String),
    /// The source cannot supply a token with a fresh `jti` for every request (a
    /// `StaticToken` asked for `Freshness::PerRequest`).
    #[error("this token source cannot supply a fresh token per request")]
    FreshnessUnsupported,
    /// The issuer endpoint is not a usable absolute `https://` URL.
    #[error("invalid issuer endpoint {endpoint:?}: {detail}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        detail: &'static str,
    },
    /// The issuer endpoint is plain `http://` and plain HTTP was not explicitly allowed for a
    /// loopback host (`RemoteIssuerBuilder::dangerous_allow_http_loopback`).
    #[error(
        "refusing plain http to {endpoint:?}: only https, or http to a loopback host when explicitly allowed"
    )]
    InsecureEndpoint {
        /// The endpoint as given.
        endpoint: String,
    },
    /// The request to the issuer failed before a response arrived (connection, TLS, I/O).
    #[error("issuer request failed: {0}")]
    Http(String),
    /// The issuer did not answer within the configured timeout.
    #[error("issuer request timed out after {0:?}")]
    Timeout(Duration),
    /// The issuer's response body exceeded the configured cap.
    #[error("issuer response body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The issuer refused to issue a token (an HTTP status other than 200).
    #[error("issuer refused with HTTP {status}: {}", error.as_deref().unwrap_or("no error code"))]
    IssuerRefused {
        /// The HTTP status.
        status: u16,
        /// The `error` member of the body, if the body was the documented JSON error object.
        error: Option<String>,
        /// The `error_description` member, if present.
        description: Option<String>,
    },
    /// The issuer answered 200 with a body that is not a valid token response.
    #[error("invalid issuer response: {0}")]
    InvalidResponse(String),
    /// An rmcp value could not be converted to or from JSON to place the attestation.
    #[error("could not encode the attestation into the request: {0}")]
    Encode(String),
    /// The MCP server refused the agent's attestation (a JSON-RPC error with `data.reason`).
    #[error("the server refused the attestation: {reason} (policy {policy})")]
    Rejected {
        /// Why, as the server reported it.
        reason: Reason,
        /// The server's policy.
        policy: Enforcement,
        /// The issuers the server trusts, so that a client can pick a token it will accept.
        trusted_issuers: Vec<String>,
    },
    /// The wrapped rmcp transport failed.
    #[error("transport error: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The wrapped rmcp transport is closed, or no tokio runtime was available to drive it.
    #[error("transport closed")]
    TransportClosed,
}

impl From<ProtocolError> for ClientError {
    fn from(e: ProtocolError) -> Self {
        ClientError::Protocol(e)
    }
}

impl From<ProofError> for ClientError {
    fn from(e: ProofError) -> Self {
        ClientError::Proof(e)
    }
}

impl From<BuildError> for ClientError {
    fn from(e: BuildError) -> Self {
        ClientError::Mint(e)
    }
}

impl From<AttestationError> for ClientError {
    fn from(e: AttestationError) -> Self {
        ClientError::Rejected {
            reason: e.reason,
            policy: e.policy,
            trusted_issuers: e.trusted_issuers,
        }
    }
}

impl ClientError {
    /// The server's reason, for [`ClientError::Rejected`].
    pub fn rejection_reason(&self) -> Option<Reason> {
        match self {
            ClientError::Rejected { reason, .. } => Some(*reason),
            _ => None,
        }
    }
}
