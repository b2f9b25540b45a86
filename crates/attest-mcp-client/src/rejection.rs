//! Reading a server's attestation refusal out of rmcp's errors.

use attest_core::Reason;
use attest_protocol::{AttestationError, JsonRpcError};
use rmcp::ServiceError;
use rmcp::model::ErrorData;
use rmcp::service::ClientInitializeError;

use crate::error::ClientError;

/// An rmcp error that may be a server's refusal of the agent's attestation (SPEC.md §11).
///
/// Implemented for rmcp's `ErrorData` (the JSON-RPC error object), `ServiceError` (a failed
/// request) and `ClientInitializeError` (a failed `initialize` or `server/discover`). The
/// error is read strictly with [`AttestationError::from_json_rpc`]: `data.reason` must be a
/// known reason and `code` its code, else it is not a refusal.
pub trait AttestationRejection {
    /// The refusal, if this error is one.
    fn attestation_rejection(&self) -> Option<AttestationError>;

    /// The server's stable reason, if this error is a refusal.
    fn rejection_reason(&self) -> Option<Reason> {
        self.attestation_rejection().map(|e| e.reason)
    }

    /// The refusal as [`ClientError::Rejected`], if this error is one.
    fn rejected(&self) -> Option<ClientError> {
        self.attestation_rejection().map(ClientError::from)
    }
}

impl AttestationRejection for ErrorData {
    fn attestation_rejection(&self) -> Option<AttestationError> {
        let error = JsonRpcError {
            code: i64::from(self.code.0),
            message: self.message.to_string(),
            data: self.data.clone(),
        };
        AttestationError::from_json_rpc(&error).ok()
    }
}

impl AttestationRejection for ServiceError {
    fn attestation_rejection(&self) -> Option<AttestationError> {
        match self {
            ServiceError::McpError(data) => data.attestation_rejection(),
            _ => None,
        }
    }
}

impl AttestationRejection for ClientInitializeError {
    fn attestation_rejection(&self) -> Option<AttestationError> {
        match self {
            ClientInitializeError::JsonRpcError(data) => data.attestation_rejection(),
            // Auto mode: the legacy fallback's failure is the one that decided.
            ClientInitializeError::LegacyFallbackFailed { discover, fallback } => fallback
                .attestation_rejection()
                .or_else(|| discover.attestation_rejection()),
            _ => None,
        }
    }
}

/// The server's reason, if `error` is a refusal of the agent's attestation.
pub fn rejection_reason(error: &ServiceError) -> Option<Reason> {
    error.rejection_reason()
}

/// The [`ClientError`] behind a failed request, if the request failed because
/// [`crate::AttestingTransport`] could not get or attach a token (rmcp reports that as
/// `ServiceError::TransportSend`).
pub fn token_failure(error: &ServiceError) -> Option<&ClientError> {
    match error {
        ServiceError::TransportSend(transport) => transport.error.downcast_ref::<ClientError>(),
        _ => None,
    }
}
