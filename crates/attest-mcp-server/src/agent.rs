//! What a handler learns about the calling agent: a verified identity, or why there is none.

use std::sync::Arc;

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
}

impl VerifiedAgent {
    pub(crate) fn new(verified: Verified) -> VerifiedAgent {
        let valid_until = verified.replay_record_until();
        let claims = verified.into_claims();
        let trust_level = TrustLevel::for_type(claims.attestation_metadata.attestation_type);
        VerifiedAgent {
            claims: Arc::new(claims),
            trust_level,
            valid_until,
        }
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
