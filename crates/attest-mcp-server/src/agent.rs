//! What a handler learns about the calling agent: a verified identity, or why there is none.

use std::sync::Arc;

use attest_core::proof::ConfirmationKey;
use attest_core::{
    AgentIdentity, AgentIntegrity, AttestationMetadata, Claims, Reason, SafetyLevel, UnixTime,
    Verified,
};
use attest_protocol::TrustLevel;

/// An agent whose attestation passed every check, including replay.
///
/// Cheap to clone (the claims are shared). Handlers receive it through the request extensions,
/// e.g. rmcp's `Extension<VerifiedAgent>` extractor.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedAgent {
    claims: Arc<Claims>,
    trust_level: TrustLevel,
    valid_until: UnixTime,
    /// `ath` of the token this agent was verified from: what its proofs must bind.
    token_hash: Arc<str>,
    /// The `cnf` key, imported once at verification (the import checks are not cheap).
    confirmation: Option<Arc<ConfirmationKey>>,
    /// Whether the request this value was handed to carried a valid proof.
    proof_bound: bool,
}

impl VerifiedAgent {
    /// `token_digest` is the SHA-256 of the token the agent was verified from.
    pub(crate) fn new(verified: Verified, token_digest: &[u8; 32]) -> VerifiedAgent {
        let valid_until = verified.replay_record_until();
        let claims = verified.into_claims();
        let trust_level = TrustLevel::for_type(claims.attestation_metadata.attestation_type);
        // attest-core already checked `cnf` during verification; a token whose `cnf` does not
        // import never gets here.
        let confirmation = ConfirmationKey::from_claims(&claims).ok().map(Arc::new);
        VerifiedAgent {
            claims: Arc::new(claims),
            trust_level,
            valid_until,
            token_hash: Arc::from(attest_core::proof::token_hash_of_digest(token_digest)),
            confirmation,
            proof_bound: false,
        }
    }

    /// This agent as seen by one request, with whether that request's proof was verified.
    pub(crate) fn for_request(&self, proof_bound: bool) -> VerifiedAgent {
        VerifiedAgent {
            proof_bound,
            ..self.clone()
        }
    }

    /// True if this request carried a valid proof of possession of the attestation's `cnf` key
    /// (SPEC.md §17): it was made by the holder of the agent's key, not merely by a holder of
    /// the token.
    pub fn proof_bound(&self) -> bool {
        self.proof_bound
    }

    /// True if the attestation names the agent's key (`cnf`), so its requests can carry proofs.
    pub fn is_key_bound(&self) -> bool {
        self.confirmation.is_some()
    }

    /// The key the agent's proofs must be signed with, from `cnf`.
    pub fn confirmation_key(&self) -> Option<&ConfirmationKey> {
        self.confirmation.as_deref()
    }

    /// `ath`: base64url(SHA-256) of the attestation token this agent was verified from.
    pub fn token_hash(&self) -> &str {
        &self.token_hash
    }

    /// The issuer that attested the agent.
    pub fn issuer(&self) -> &str {
        &self.claims.iss
    }

    /// The agent's id (`sub`).
    pub fn subject(&self) -> &str {
        &self.claims.sub
    }

    /// Model family, version, provider and deployment.
    pub fn identity(&self) -> &AgentIdentity {
        &self.claims.agent_identity
    }

    /// Configuration hashes, if attested.
    pub fn integrity(&self) -> Option<&AgentIntegrity> {
        self.claims.agent_integrity.as_ref()
    }

    /// Attestation type, safety level and declared capabilities.
    pub fn metadata(&self) -> &AttestationMetadata {
        &self.claims.attestation_metadata
    }

    /// How much the attestation is worth, ordered (`none < enterprise < provider`).
    pub fn trust_level(&self) -> TrustLevel {
        self.trust_level
    }

    /// The safety level, ordered (`minimal < standard < enhanced`).
    pub fn safety_level(&self) -> SafetyLevel {
        self.claims.attestation_metadata.safety_level
    }

    /// True if the agent declared `capability`.
    pub fn has_capability(&self, capability: &str) -> bool {
        self.claims
            .attestation_metadata
            .capabilities_declared
            .iter()
            .any(|c| c == capability)
    }

    /// When the token expires (`exp`).
    pub fn expires_at(&self) -> UnixTime {
        UnixTime::from_secs(self.claims.exp)
    }

    /// The last moment the verifier's policy accepts this attestation: `exp` plus leeway.
    pub fn valid_until(&self) -> UnixTime {
        self.valid_until
    }

    /// Every verified claim.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }
}

/// The proof-of-possession outcome of one request (SPEC.md §17), as a handler sees it in the
/// request extensions (`Extension<ProofStatus>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofStatus {
    /// The request carried a valid proof, signed by the key the attestation's `cnf` names
    /// (identified by its RFC 7638 thumbprint), and its `jti` was recorded.
    Verified {
        /// The thumbprint of the agent's key.
        thumbprint: String,
    },
    /// No proof was presented, and the policy allowed that (`optional`).
    Absent,
    /// Proofs are not checked for this request (policy `off`, or no verified agent to check a
    /// proof against under `optional`); any proof it carried was ignored.
    NotChecked,
}

impl ProofStatus {
    /// True for [`ProofStatus::Verified`].
    pub fn is_verified(&self) -> bool {
        matches!(self, ProofStatus::Verified { .. })
    }
}

/// The attestation outcome of one request, as a handler sees it.
///
/// Under policy `required` a handler only ever sees [`AttestationStatus::Verified`]; under
/// `preferred` and `optional` it may see the other two and decide for itself.
#[derive(Debug, Clone, PartialEq)]
pub enum AttestationStatus {
    /// A verified agent.
    Verified(VerifiedAgent),
    /// An attestation was presented and refused, for this reason.
    Failed(Reason),
    /// No attestation was presented.
    Absent,
}

impl AttestationStatus {
    /// The verified agent, if any.
    pub fn agent(&self) -> Option<&VerifiedAgent> {
        match self {
            AttestationStatus::Verified(agent) => Some(agent),
            _ => None,
        }
    }

    /// The protocol's view of this outcome (SPEC.md §10.2).
    pub fn to_result(&self) -> attest_protocol::VerificationResult {
        use attest_protocol::VerificationResult as R;
        match self {
            AttestationStatus::Verified(agent) => R::Verified {
                trust_level: agent.trust_level(),
                verified_claims: verified_claim_names(agent.claims()),
            },
            AttestationStatus::Failed(reason) => R::Failed { reason: *reason },
            AttestationStatus::Absent => R::Absent,
        }
    }
}

/// The names of the claims a verified token carried, for `verified_claims`.
fn verified_claim_names(claims: &Claims) -> Vec<String> {
    [
        "iss",
        "sub",
        "aud",
        "iat",
        "exp",
        "nbf",
        "jti",
        "agent_identity",
        "agent_integrity",
        "attestation_metadata",
        "cnf",
    ]
    .into_iter()
    .filter(|name| claims.has(name))
    .map(str::to_owned)
    .collect()
}
