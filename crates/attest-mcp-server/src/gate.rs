//! `AttestationGate`: the admission decision for one request, shared by every session.
//!
//! The decision itself is plain code: given what a request presented (or what its session is
//! bound to), the policy and `now`, admit it with a status for the handler, or refuse it with a
//! reason. The wrapper in `server.rs` only gathers the inputs and carries out the result.

use std::collections::HashMap;
use std::sync::Arc;

use attest_core::proof::{RequestBinding, request_name};
use attest_core::{ProofError, Reason, UnixTime};
use attest_protocol::{AttestationError, Enforcement, Presented, ServerAdvertisement, Token};
use rmcp::ErrorData as McpError;
use rmcp::model::{ErrorCode, Extensions, ServerCapabilities};
use serde_json::{Map, Value};

use crate::agent::{AttestationStatus, ProofStatus};
use crate::error::VerifierError;
use crate::nonce::ProofNonces;
use crate::server::AttestingServer;
use crate::verifier::{Unrecorded, Verifier};

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

/// Whether requests must carry a proof of possession of the attestation's `cnf` key
/// (SPEC.md §17). Set as a default for every request, and per tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum ProofPolicy {
    /// Proofs are ignored: attestations are bearer tokens. The default.
    #[default]
    Off,
    /// A proof, when present, is verified (and the request refused if it fails); a request
    /// without one is admitted on its attestation alone.
    Optional,
    /// Every request must carry a valid proof from a verified, key-bound attestation. A token
    /// with `cnf` arriving without a proof is refused (`attestation_proof_required`), and so is
    /// a token without `cnf`, which can never be proven.
    Required,
}

impl ProofPolicy {
    /// The wire string, as advertised: `off`, `optional` or `required`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProofPolicy::Off => "off",
            ProofPolicy::Optional => "optional",
            ProofPolicy::Required => "required",
        }
    }
}

/// The proof policies of a gate: a default, and overrides by tool name (for `tools/call`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ProofPolicies {
    default: ProofPolicy,
    tools: HashMap<String, ProofPolicy>,
}

impl ProofPolicies {
    /// The policy for a request of `method` naming `name`.
    pub(crate) fn for_request(&self, method: &str, name: Option<&str>) -> ProofPolicy {
        match (method, name) {
            ("tools/call", Some(tool)) => self.tools.get(tool).copied().unwrap_or(self.default),
            _ => self.default,
        }
    }

    /// True when no request can need a proof checked: every proof is ignored.
    fn all_off(&self) -> bool {
        self.default == ProofPolicy::Off && self.tools.values().all(|p| *p == ProofPolicy::Off)
    }
}

/// The shared configuration of every [`AttestingServer`]: the verifier, the enforcement
/// policy, and what the server advertises. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AttestationGate {
    inner: Arc<GateInner>,
}

#[derive(Debug, Clone)]
pub(crate) struct GateInner {
    pub(crate) verifier: Verifier,
    pub(crate) enforcement: Enforcement,
    pub(crate) session_expiry: SessionExpiry,
    pub(crate) proofs: ProofPolicies,
    pub(crate) on_refusal: Option<RefusalHook>,
    /// When set, every checked proof must name a nonce these accept (SPEC.md §17.9).
    pub(crate) nonces: Option<ProofNonces>,
}

/// The nonce step of a request (SPEC.md §17.9), taken before its attestation is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NonceStep {
    /// The gate issues no nonces, or the request's proof will not be checked (no proof, or
    /// proof policy `off`).
    NotRequired,
    /// The nonce the proof claims, which the gate's nonces accept now: the proof is verified
    /// with it as the expected nonce, so its signature covers it.
    Accepted(String),
}

/// A request the gate refused, as a refusal hook sees it ([`AttestationGate::on_refusal`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct Refusal<'a> {
    /// The MCP method.
    pub method: &'a str,
    /// The tool or prompt name, or the resource URI, when the method names one.
    pub name: Option<&'a str>,
    /// Why it was refused: the reason the client is told.
    pub reason: Reason,
    /// The request's extensions (e.g. the HTTP request parts, with the MCP session id).
    pub extensions: &'a Extensions,
}

/// A function told of every refused request.
#[derive(Clone)]
pub(crate) struct RefusalHook(Arc<dyn Fn(&Refusal<'_>) + Send + Sync>);

impl std::fmt::Debug for RefusalHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefusalHook")
    }
}

impl AttestationGate {
    /// A gate that verifies with `verifier` and enforces `enforcement`.
    pub fn new(verifier: Verifier, enforcement: Enforcement) -> AttestationGate {
        let inner = GateInner {
            verifier,
            enforcement,
            session_expiry: SessionExpiry::default(),
            proofs: ProofPolicies::default(),
            on_refusal: None,
            nonces: None,
        };
        AttestationGate {
            inner: Arc::new(inner),
        }
    }

    /// This gate with one setting changed.
    fn with(self, change: impl FnOnce(&mut GateInner)) -> AttestationGate {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| (*shared).clone());
        change(&mut inner);
        AttestationGate {
            inner: Arc::new(inner),
        }
    }

    /// Sets what happens when a session's token expires. Default [`SessionExpiry::Reinitialize`].
    #[must_use]
    pub fn session_expiry(self, session_expiry: SessionExpiry) -> AttestationGate {
        self.with(|inner| inner.session_expiry = session_expiry)
    }

    /// Sets the proof-of-possession policy of every request (SPEC.md §17), unless a tool has
    /// its own ([`AttestationGate::tool_proof_policy`]). Default [`ProofPolicy::Off`].
    #[must_use]
    pub fn proof_policy(self, policy: ProofPolicy) -> AttestationGate {
        self.with(|inner| inner.proofs.default = policy)
    }

    /// Sets the proof-of-possession policy of `tools/call` requests for the tool `tool`,
    /// overriding the default: e.g. `Required` for a tool that deploys, `Off` for one that
    /// reads the weather.
    #[must_use]
    pub fn tool_proof_policy(
        self,
        tool: impl Into<String>,
        policy: ProofPolicy,
    ) -> AttestationGate {
        let tool = tool.into();
        self.with(|inner| {
            inner.proofs.tools.insert(tool, policy);
        })
    }

    /// Requires every proof this gate checks to carry a `nonce` claim that `nonces` accepts
    /// (SPEC.md §17.9): a nonce the server issued within the last one to two windows, for
    /// strict freshness. The advertisement carries a fresh one as `proof_nonce`, and every
    /// refusal for a proof carries one in the error's `data.nonce`, so that a client can sign
    /// again. A proof without an accepted nonce is refused (`attestation_proof_mismatch`)
    /// before anything is verified or recorded: its `jti` is not consumed, nor is the token it
    /// came with. `initialize` is exempt: no nonce can be known before it, and the session's
    /// later requests carry the one its result advertises. Replicas that share the nonces'
    /// secret accept each other's nonces.
    #[must_use]
    pub fn proof_nonces(self, nonces: ProofNonces) -> AttestationGate {
        self.with(|inner| inner.nonces = Some(nonces))
    }

    /// Calls `hook` with every request this gate refuses (not with dropped notifications), e.g.
    /// to write an audit trail. It runs on the request's task: keep it short.
    #[must_use]
    pub fn on_refusal(
        self,
        hook: impl Fn(&Refusal<'_>) + Send + Sync + 'static,
    ) -> AttestationGate {
        let hook = RefusalHook(Arc::new(hook));
        self.with(|inner| inner.on_refusal = Some(hook))
    }

    /// The proof policy for a request of `method` naming `name` (the tool of a `tools/call`).
    pub fn proof_policy_for(&self, method: &str, name: Option<&str>) -> ProofPolicy {
        self.inner.proofs.for_request(method, name)
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
        let token = match presented_token(presented) {
            Ok(token) => token?,
            Err(status) => return Some(status),
        };
        let token = token.as_str();
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

    /// Verifies the attestation a session's `initialize` presented, without recording its `jti`
    /// when a proof may be checked (see [`AttestationGate::record_binding`]): the status, and
    /// the attestation still to record.
    pub(crate) async fn binding_status(
        &self,
        presented: Result<Presented, attest_protocol::ProtocolError>,
    ) -> (AttestationStatus, Option<Unrecorded>) {
        if self.inner.proofs.all_off() {
            let status = self.status_of(presented, false).await;
            return (status.unwrap_or(AttestationStatus::Absent), None);
        }
        let token = match presented_token(presented) {
            Ok(Some(token)) => token,
            Ok(None) => return (AttestationStatus::Absent, None),
            Err(status) => return (status, None),
        };
        match self.inner.verifier.verify_unrecorded(token.as_str()).await {
            Ok(unrecorded) => (
                AttestationStatus::Verified(unrecorded.agent().clone()),
                Some(unrecorded),
            ),
            Err(e) => {
                tracing::info!(reason = %e.reason(), detail = %e, "attestation refused");
                (AttestationStatus::Failed(e.reason()), None)
            }
        }
    }

    /// Records the `jti` of a session's attestation only once `initialize` passed every other
    /// check, its proof included (SPEC.md §17.8): a thief presenting a stolen key-bound token
    /// without the agent's key is refused without spending the agent's token. A replay found
    /// now is refused (or, under `preferred`/`optional`, served unattested) like any other.
    pub(crate) async fn record_binding(
        &self,
        decided: Result<(AttestationStatus, ProofStatus), Reason>,
        unrecorded: Option<Unrecorded>,
    ) -> Result<(AttestationStatus, ProofStatus), Reason> {
        let Some(unrecorded) = unrecorded else {
            return decided;
        };
        if decided.is_err() {
            unrecorded.release();
            return decided;
        }
        match self.inner.verifier.record(unrecorded).await {
            Ok(_) => decided,
            Err(e) => {
                tracing::info!(reason = %e.reason(), detail = %e, "attestation refused");
                let status = self.admit(AttestationStatus::Failed(e.reason()))?;
                Ok((status, ProofStatus::NotChecked))
            }
        }
    }

    /// The proof step of a request admitted with `status` (SPEC.md §17.6): by the proof
    /// policy for the request, verify `proof` against the verified agent's `cnf` key and the
    /// request (`method`, and its params from `params`, computed only if needed), and record
    /// its `jti`. `nonce` is the request's [`NonceStep`], taken by [`AttestationGate::check_nonce`].
    /// An `Err` is the refusal to send.
    pub(crate) async fn check_proof(
        &self,
        status: &AttestationStatus,
        proof: Option<&Token>,
        nonce: &NonceStep,
        method: &str,
        params: &impl Fn() -> Option<Value>,
    ) -> Result<ProofStatus, Reason> {
        if self.inner.proofs.all_off() {
            return Ok(ProofStatus::NotChecked);
        }
        let params = params();
        let policy = self.proof_policy_for(method, request_name(method, params.as_ref()));
        let agent = match (policy, proof, status.agent()) {
            (ProofPolicy::Off, ..) => return Ok(ProofStatus::NotChecked),
            (ProofPolicy::Optional, None, _) => return Ok(ProofStatus::Absent),
            (ProofPolicy::Optional, Some(_), None) => return Ok(ProofStatus::NotChecked),
            // Only a verified agent can be key-bound: the attestation's own refusal stands.
            (ProofPolicy::Required, _, None) => {
                let reason = match status {
                    AttestationStatus::Failed(reason) => *reason,
                    _ => Reason::Required,
                };
                return Err(reason);
            }
            (_, _, Some(agent)) => agent,
        };
        let Some(proof) = proof else {
            return Err(self.refuse_proof(Some(agent.issuer()), &ProofError::Missing.into()));
        };
        // With nonces on, the proof is verified against the nonce the nonce step accepted, so
        // that its signature covers it. Fail closed if that step did not accept one.
        let expected = match (&self.inner.nonces, nonce) {
            (None, _) => None,
            (Some(_), NonceStep::Accepted(nonce)) => Some(nonce.as_str()),
            (Some(_), NonceStep::NotRequired) if !nonce_applies(method) => None,
            (Some(_), NonceStep::NotRequired) => {
                let error = ProofError::NonceMismatch.into();
                return Err(self.refuse_proof(Some(agent.issuer()), &error));
            }
        };
        let checked = match RequestBinding::of_request(method, params.as_ref()) {
            Ok(binding) => {
                self.inner
                    .verifier
                    .verify_proof(agent, proof.as_str(), &binding, expected)
                    .await
            }
            Err(e) => Err(e.into()),
        };
        match checked {
            Ok(proven) => Ok(ProofStatus::Verified {
                thumbprint: proven
                    .replay_issuer()
                    .strip_prefix(attest_core::proof::REPLAY_NAMESPACE)
                    .unwrap_or_default()
                    .to_owned(),
            }),
            Err(e) => Err(self.refuse_proof(Some(agent.issuer()), &e)),
        }
    }

    /// The nonce step of a request (SPEC.md §17.9), taken before its attestation is verified:
    /// when this gate issues nonces and the request (other than `initialize`) carries a proof
    /// that its proof policy does not ignore, the proof's `nonce` claim, read without
    /// verifying the proof, must be one the nonces accept now; otherwise the request is
    /// refused (`attestation_proof_mismatch`) before anything is verified or recorded.
    ///
    /// The unverified claim is used only to refuse, or to choose the expected nonce the proof
    /// is then verified against (so a claim that differs after verification fails there).
    pub(crate) fn check_nonce(
        &self,
        proof: Option<&Token>,
        method: &str,
        params: &impl Fn() -> Option<Value>,
    ) -> Result<NonceStep, Reason> {
        let (Some(nonces), Some(proof), true) = (&self.inner.nonces, proof, nonce_applies(method))
        else {
            return Ok(NonceStep::NotRequired);
        };
        let policy = if self.inner.proofs.tools.is_empty() {
            self.inner.proofs.default
        } else {
            let params = params();
            self.proof_policy_for(method, request_name(method, params.as_ref()))
        };
        if policy == ProofPolicy::Off {
            return Ok(NonceStep::NotRequired);
        }
        let now = self.inner.verifier.now();
        match claimed_nonce(proof.as_str()) {
            Ok(Some(nonce)) if nonces.check(&nonce, now) => Ok(NonceStep::Accepted(nonce)),
            claimed => {
                let why = match claimed {
                    Ok(Some(_)) => "a nonce this server does not accept now",
                    Ok(None) => "no nonce",
                    Err(_) => "an unreadable payload",
                };
                tracing::debug!(why, "proof nonce refused");
                Err(self.refuse_proof(None, &ProofError::NonceMismatch.into()))
            }
        }
    }

    /// Logs and counts a refused proof, and returns its reason.
    fn refuse_proof(&self, issuer: Option<&str>, error: &VerifierError) -> Reason {
        let reason = error.reason();
        tracing::info!(%reason, detail = %error, "proof of possession refused");
        self.inner.verifier.observer().record_verification(
            issuer,
            Err(reason),
            std::time::Duration::ZERO,
        );
        reason
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
    pub(crate) fn admit(&self, status: AttestationStatus) -> Result<AttestationStatus, Reason> {
        admission(self.inner.enforcement, &status)?;
        if self.inner.enforcement == Enforcement::Preferred && status.agent().is_none() {
            self.note_unattested(&status);
        }
        Ok(status)
    }

    /// The error refusing a request of `method` for `reason`, after telling the refusal hook
    /// (if any) about it. `params` computes the request's params, only for the hook.
    pub(crate) fn refuse(
        &self,
        method: &str,
        params: &impl Fn() -> Option<Value>,
        reason: Reason,
        extensions: &Extensions,
    ) -> McpError {
        if let Some(hook) = &self.inner.on_refusal {
            let params = params();
            (hook.0)(&Refusal {
                method,
                name: request_name(method, params.as_ref()),
                reason,
                extensions,
            });
        }
        self.error(reason)
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
        let mut data = error.data;
        // SPEC.md §17.9: a refusal for a proof tells the client a nonce to sign again with.
        if let (Some(nonces), true, Some(Value::Object(data))) =
            (&self.inner.nonces, is_proof_reason(reason), data.as_mut())
        {
            let nonce = nonces.issue(self.inner.verifier.now());
            data.insert("nonce".into(), nonce.into());
        }
        // Our codes (-31001..-31018) fit in an i32; the fallback is `attestation_required`'s.
        let code = i32::try_from(error.code).unwrap_or(attest_protocol::ERROR_CODE_BASE);
        McpError::new(ErrorCode(code), error.message, data)
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
        // SPEC.md §17.7: the default proof policy, so that a client knows to sign proofs.
        if self.inner.proofs.default != ProofPolicy::Off {
            advertisement
                .extra
                .insert("proof".into(), self.inner.proofs.default.as_str().into());
        }
        // SPEC.md §17.9: a nonce to put in the next proofs, without a refused request first.
        if let Some(nonces) = &self.inner.nonces
            && !self.inner.proofs.all_off()
        {
            let nonce = nonces.issue(self.inner.verifier.now());
            advertisement
                .extra
                .insert("proof_nonce".into(), nonce.into());
        }
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

/// Whether a request of `method` must name a nonce when the gate issues them (SPEC.md §17.9):
/// every gated request but `initialize`, before which no nonce can be known (and whose token
/// is single use, so its proof cannot be replayed to this server anyway).
fn nonce_applies(method: &str) -> bool {
    method != "initialize"
}

/// True for the reasons that refuse a request for its proof of possession.
fn is_proof_reason(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::ProofRequired
            | Reason::ProofInvalid
            | Reason::ProofMismatch
            | Reason::ProofStale
            | Reason::ProofReplay
    )
}

/// The `nonce` claim of a proof, read **without verifying it**: only to refuse, or to choose
/// the expected nonce the proof is then verified against. `Ok(None)` when the payload has no
/// string `nonce`; `Err` when the proof is not a readable compact JWS.
fn claimed_nonce(proof: &str) -> Result<Option<String>, attest_core::VerifyError> {
    let (_header, claims) = attest_core::dangerous::decode_json(proof)?;
    Ok(claims
        .get("nonce")
        .and_then(Value::as_str)
        .map(str::to_owned))
}

/// The token a message presented: `None` when it presented none, or the status of a malformed
/// carrier.
fn presented_token(
    presented: Result<Presented, attest_protocol::ProtocolError>,
) -> Result<Option<Token>, AttestationStatus> {
    match presented {
        Err(e) => {
            tracing::debug!(error = %e, "malformed attestation carrier");
            Err(AttestationStatus::Failed(e.reason()))
        }
        Ok(presented) => Ok(presented.attestation().map(|a| a.token().clone())),
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
