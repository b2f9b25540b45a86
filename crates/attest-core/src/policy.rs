//! `Policy`: what a verifier accepts. Built once, shared by every verification.

use std::collections::HashSet;

use crate::error::PolicyError;

/// A JWS `alg` value this crate verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `EdDSA` (RFC 8037), the value the 0.1.0 format uses.
    EdDSA,
    /// `Ed25519` (RFC 9864, fully-specified).
    Ed25519,
}

impl Algorithm {
    /// The exact, case-sensitive header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::Ed25519 => "Ed25519",
        }
    }
}

/// What a verifier accepts.
///
/// Build one with [`Policy::builder`]. The defaults are the strict ones; each relaxation is a
/// named builder call.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) trusted_issuers: HashSet<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) leeway_secs: u64,
    pub(crate) max_lifetime_secs: u64,
    pub(crate) required_claims: Vec<String>,
    pub(crate) accepted_typ: Vec<String>,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) max_token_bytes: usize,
    pub(crate) max_jti_bytes: usize,
    pub(crate) max_json_depth: usize,
}

impl Policy {
    /// Default leeway on `exp`, `nbf` and `iat`: 30 seconds.
    pub const DEFAULT_LEEWAY_SECS: u64 = 30;
    /// Default maximum `exp - iat`: 1 hour.
    pub const DEFAULT_MAX_LIFETIME_SECS: u64 = 3600;
    /// Default token size cap: 8 KiB.
    pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
    /// Default `jti` length cap: 128 bytes.
    pub const DEFAULT_MAX_JTI_BYTES: usize = 128;
    /// Default JSON nesting cap: 8 levels (the top object is level 1).
    pub const DEFAULT_MAX_JSON_DEPTH: usize = 8;

    /// Starts a policy with the strict defaults.
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder {
            policy: Policy {
                trusted_issuers: HashSet::new(),
                audiences: Vec::new(),
                leeway_secs: Self::DEFAULT_LEEWAY_SECS,
                max_lifetime_secs: Self::DEFAULT_MAX_LIFETIME_SECS,
                required_claims: Vec::new(),
                accepted_typ: vec![crate::TYP_ATTESTATION.to_owned()],
                algorithms: vec![Algorithm::EdDSA, Algorithm::Ed25519],
                max_token_bytes: Self::DEFAULT_MAX_TOKEN_BYTES,
                max_jti_bytes: Self::DEFAULT_MAX_JTI_BYTES,
                max_json_depth: Self::DEFAULT_MAX_JSON_DEPTH,
            },
        }
    }

    /// True if `issuer` is exactly one of the trusted issuers.
    pub fn trusts(&self, issuer: &str) -> bool {
        self.trusted_issuers.contains(issuer)
    }

    /// The trusted issuers, sorted.
    pub fn trusted_issuers(&self) -> Vec<&str> {
        let mut issuers: Vec<&str> = self.trusted_issuers.iter().map(String::as_str).collect();
        issuers.sort_unstable();
        issuers
    }

    /// The expected audiences.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The leeway on time claims, in seconds.
    pub fn leeway_secs(&self) -> u64 {
        self.leeway_secs
    }

    /// The largest accepted `exp - iat`, in seconds.
    pub fn max_lifetime_secs(&self) -> u64 {
        self.max_lifetime_secs
    }

    /// The claims the policy requires beyond the protocol's own.
    pub fn required_claims(&self) -> &[String] {
        &self.required_claims
    }

    /// The accepted `typ` values.
    pub fn accepted_typ(&self) -> &[String] {
        &self.accepted_typ
    }

    /// The token size cap, in bytes.
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }
}

/// Builds a [`Policy`].
#[derive(Debug, Clone)]
#[must_use]
pub struct PolicyBuilder {
    policy: Policy,
}

impl PolicyBuilder {
    /// Trusts `issuer`, matched exactly: no prefix, case or trailing-slash matching.
    pub fn trusted_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.policy.trusted_issuers.insert(issuer.into());
        self
    }

    /// Accepts tokens whose `aud` contains `audience`, matched exactly.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.policy.audiences.push(audience.into());
        self
    }

    /// Leeway on `exp`, `nbf` and `iat` alike. Default 30 s.
    pub fn leeway_secs(mut self, secs: u64) -> Self {
        self.policy.leeway_secs = secs;
        self
    }

    /// Largest accepted `exp - iat`. Default 1 h.
    pub fn max_lifetime_secs(mut self, secs: u64) -> Self {
        self.policy.max_lifetime_secs = secs;
        self
    }

    /// Requires a claim (see [`crate::Claims::has`] for the path syntax).
    pub fn require_claim(mut self, path: impl Into<String>) -> Self {
        self.policy.required_claims.push(path.into());
        self
    }

    /// Also accepts `typ: JWT`, as sent by the 0.1.0 original. Off by default: the explicit
    /// type keeps other JWTs from being confused for attestations (RFC 8725 §3.11).
    pub fn accept_compat_typ(self) -> Self {
        self.accept_typ(crate::TYP_JWT_COMPAT)
    }

    /// Also accepts this exact `typ` value.
    pub fn accept_typ(mut self, typ: impl Into<String>) -> Self {
        let typ = typ.into();
        if !self.policy.accepted_typ.contains(&typ) {
            self.policy.accepted_typ.push(typ);
        }
        self
    }

    /// Accepts only these algorithms. Default: `EdDSA` and `Ed25519`.
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.policy.algorithms = algorithms.to_vec();
        self
    }

    /// Token size cap in bytes. Default 8 KiB.
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.policy.max_token_bytes = bytes;
        self
    }

    /// `jti` length cap in bytes. Default 128.
    pub fn max_jti_bytes(mut self, bytes: usize) -> Self {
        self.policy.max_jti_bytes = bytes;
        self
    }

    /// JSON nesting cap. Default 8.
    pub fn max_json_depth(mut self, depth: usize) -> Self {
        self.policy.max_json_depth = depth;
        self
    }

    /// Checks and returns the policy.
    pub fn build(self) -> Result<Policy, PolicyError> {
        let p = self.policy;
        if p.trusted_issuers.is_empty() {
            return Err(PolicyError::NoTrustedIssuer);
        }
        if p.audiences.is_empty() {
            return Err(PolicyError::NoAudience);
        }
        let names = p.trusted_issuers.iter().chain(&p.audiences);
        if let Some(bad) = names
            .into_iter()
            .find(|n| n.is_empty() || n.trim() != n.as_str())
        {
            return Err(PolicyError::InvalidName(bad.clone()));
        }
        if p.algorithms.is_empty() {
            return Err(PolicyError::NoAlgorithm);
        }
        if p.accepted_typ.is_empty() {
            return Err(PolicyError::NoTyp);
        }
        if p.max_lifetime_secs == 0 {
            return Err(PolicyError::MaxLifetime);
        }
        Ok(p)
    }
}
