//! `AttestationGate`: the admission decision for one request, shared by every session.
//!
//! The decision itself is plain code: given what a request presented (or what its session is
//! bound to), the policy and `now`, admit it with a status for the handler, or refuse it with a
//! reason. The wrapper in `server.rs` only gathers the inputs and carries out the result.

use std::sync::Arc;

use attest_core::{Reason, UnixTime};
use attest_protocol::{AttestationError, Enforcement, Presented, ServerAdvertisement};
use rmcp::ErrorData as McpError;
use rmcp::model::{ErrorCode, ServerCapabilities};
use serde_json::{Map, Value};

use crate::agent::AttestationStatus;
use crate::server::AttestingServer;
use crate::verifier::Verifier;

/// What happens when the token bound to a session (at `initialize`) expires mid-session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionExpiry {
    /// Requests after `exp` plus leeway are refused as `attestation_expired`; the client
    /// re-initializes with a fresh token. The default: an identity is never trusted past the
    /// lifetime its issuer vouched for.
    #[default]
    Reinitialize,
    /// The session keeps its binding until it ends. For long sessions with servers that accept
    /// that the issuer's statement was true when the session began.
    KeepBinding,
}

/// The shared configuration of every [`AttestingServer`]: the verifier, the enforcement
/// policy, and what the server advertises. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AttestationGate {
    inner: Arc<GateInner>,
}

#[derive(Debug)]
pub(crate) struct GateInner {
    pub(crate) verifier: Verifier,
    pub(crate) enforcement: Enforcement,
    pub(crate) session_expiry: SessionExpiry,
}

impl AttestationGate {
    /// A gate that verifies with `verifier` and enforces `enforcement`.
    pub fn new(verifier: Verifier, enforcement: Enforcement) -> AttestationGate {
        let inner = GateInner {
            verifier,
            enforcement,
            session_expiry: SessionExpiry::default(),
        };
        AttestationGate {
            inner: Arc::new(inner),
        }
    }

    /// Sets what happens when a session's token expires. Default [`SessionExpiry::Reinitialize`].
    #[must_use]
    pub fn session_expiry(self, session_expiry: SessionExpiry) -> AttestationGate {
        let inner = GateInner {
            verifier: self.inner.verifier.clone(),
            enforcement: self.inner.enforcement,
            session_expiry,
        };
        AttestationGate {
            inner: Arc::new(inner),
        }
    }

    /// Wraps `handler` so that every request it serves passes this gate.
    pub fn wrap<H: rmcp::ServerHandler>(&self, handler: H) -> AttestingServer<H> {
        AttestingServer::new(handler, self.clone())
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// The enforcement policy.
    pub fn enforcement(&self) -> Enforcement {
        self.inner.enforcement
    }

    /// Verifies what a request presented. `reusable` selects the verified-token cache (per
    /// request, 2026-07-28) rather than single use (binding a session at `initialize`).
    pub(crate) async fn status_of(
        &self,
        presented: Result<Presented, attest_protocol::ProtocolError>,
        reusable: bool,
    ) -> Option<AttestationStatus> {
        let attestation = match presented {
            Err(e) => {
                tracing::debug!(error = %e, "malformed attestation carrier");
                return Some(AttestationStatus::Failed(e.reason()));
            }
            Ok(Presented::Absent) => return None,
            Ok(presented) => presented.attestation().cloned()?,
        };
        let token = attestation.token().as_str();
        let verifier = &self.inner.verifier;
        let result = if reusable {
            verifier.verify_reusable(token).await
        } else {
            verifier.verify(token).await
        };
        Some(match result {
            Ok(agent) => AttestationStatus::Verified(agent),
            Err(e) => {
                tracing::info!(reason = %e.reason(), detail = %e, "attestation refused");
                AttestationStatus::Failed(e.reason())
            }
        })
    }

    /// The status a session's `initialize` outcome gives at `now`.
    pub(crate) fn bound_status(
        &self,
        binding: Option<AttestationStatus>,
        now: UnixTime,
    ) -> AttestationStatus {
        match binding {
            None => AttestationStatus::Absent,
            Some(AttestationStatus::Verified(agent))
                if self.inner.session_expiry == SessionExpiry::Reinitialize
                    && now > agent.valid_until() =>
            {
                AttestationStatus::Failed(Reason::Expired)
            }
            Some(status) => status,
        }
    }

    /// Admits or refuses a request with `status`, by the enforcement policy.
    pub(crate) fn admit(&self, status: AttestationStatus) -> Result<AttestationStatus, McpError> {
        match admission(self.inner.enforcement, &status) {
            Ok(()) => {
                if self.inner.enforcement == Enforcement::Preferred && status.agent().is_none() {
                    self.note_unattested(&status);
                }
                Ok(status)
            }
            Err(reason) => Err(self.error(reason)),
        }
    }

    /// Under `preferred`, a request served without a verified agent is logged and counted.
    fn note_unattested(&self, status: &AttestationStatus) {
        let reason = match status {
            AttestationStatus::Failed(reason) => *reason,
            _ => Reason::Required,
        };
        tracing::warn!(%reason, "serving an unattested request under policy `preferred`");
        if matches!(status, AttestationStatus::Absent) {
            // Failed verifications were counted by the verifier already.
            let observer = self.inner.verifier.observer();
            observer.record_verification(None, Err(reason), std::time::Duration::ZERO);
        }
    }

    /// The JSON-RPC error for `reason` (SPEC.md §11).
    pub(crate) fn error(&self, reason: Reason) -> McpError {
        let policy = self.inner.verifier.policy();
        let error = AttestationError {
            reason,
            policy: self.inner.enforcement,
            trusted_issuers: policy
                .trusted_issuers()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
        .to_json_rpc();
        // Our codes (-31001..-31013) fit in an i32; the fallback is `attestation_required`'s.
        let code = i32::try_from(error.code).unwrap_or(attest_protocol::ERROR_CODE_BASE);
        McpError::new(ErrorCode(code), error.message, error.data)
    }

    /// Adds the advertisement (and, after `initialize`, the verification result) to the
    /// server's capabilities, under both carriers.
    pub(crate) fn advertise(
        &self,
        capabilities: &mut ServerCapabilities,
        status: Option<&AttestationStatus>,
    ) {
        let policy = self.inner.verifier.policy();
        let mut advertisement = ServerAdvertisement::new(self.inner.enforcement);
        advertisement.trusted_issuers = policy
            .trusted_issuers()
            .into_iter()
            .map(str::to_owned)
            .collect();
        advertisement.required_claims = policy.required_claims().to_vec();
        advertisement.result = status.map(AttestationStatus::to_result);
        let Value::Object(object) = advertisement.to_value() else {
            return;
        };
        insert(
            &mut capabilities.extensions,
            attest_protocol::EXTENSION_ID,
            object.clone(),
        );
        insert(
            &mut capabilities.experimental,
            attest_protocol::LEGACY_KEY,
            object,
        );
    }
}

fn insert(
    map: &mut Option<std::collections::BTreeMap<String, Map<String, Value>>>,
    key: &str,
    value: Map<String, Value>,
) {
    map.get_or_insert_with(Default::default)
        .insert(key.to_owned(), value);
}

/// The admission rule (SPEC.md §10.1): `required` admits only a verified agent; `preferred`
/// and `optional` admit everything and let the handler see the status.
pub(crate) fn admission(
    enforcement: Enforcement,
    status: &AttestationStatus,
) -> Result<(), Reason> {
    match (enforcement, status) {
        (_, AttestationStatus::Verified(_)) => Ok(()),
        (Enforcement::Required, AttestationStatus::Failed(reason)) => Err(*reason),
        (Enforcement::Required, AttestationStatus::Absent) => Err(Reason::Required),
        _ => Ok(()),
    }
}
