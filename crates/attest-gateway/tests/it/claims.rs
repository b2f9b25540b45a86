//! Fixtures for the policy and audit tests: verified-looking claims, a temp dir, a signed token.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use attest_core::{
    AgentIdentity, AttestationMetadata, AttestationType, Audience, Claims, SafetyLevel, SigningKey,
    TokenType,
};

pub const ISSUER: &str = "https://issuer.example";
pub const PARTNER: &str = "https://issuer.partner.example";
pub const SUBJECT: &str = "spiffe://issuer.example/model/claude-sonnet-4";
pub const NOW: u64 = 1_790_000_000;

/// A provider-attested Claude Sonnet 4 agent at `standard` safety declaring `fs.read`.
pub fn agent() -> Claims {
    let mut metadata = AttestationMetadata::provider();
    metadata.capabilities_declared = vec!["fs.read".into()];
    Claims {
        iss: ISSUER.into(),
        sub: SUBJECT.into(),
        aud: Audience::One("https://tools.example/mcp".into()),
        iat: NOW,
        exp: NOW + 300,
        nbf: None,
        jti: "6f1c2a9e-3b7d-4e2f-9a1c-0d5e8b7f4a21".into(),
        agent_identity: AgentIdentity::new("claude", "sonnet-4", "anthropic"),
        agent_integrity: None,
        attestation_metadata: metadata,
        cnf: None,
        extra: BTreeMap::new(),
    }
}

/// [`agent`], changed by `edit`.
pub fn agent_with(edit: impl FnOnce(&mut Claims)) -> Claims {
    let mut claims = agent();
    edit(&mut claims);
    claims
}

/// An agent that meets every requirement of the example's "destructive tools" rule.
pub fn enterprise_agent() -> Claims {
    agent_with(|c| {
        c.attestation_metadata.attestation_type = AttestationType::Enterprise;
        c.attestation_metadata.safety_level = SafetyLevel::Enhanced;
        c.attestation_metadata.capabilities_declared =
            vec!["fs.read".into(), "fs.write".into(), "net".into()];
    })
}

/// `claims` signed by a fixed key: a real compact JWS.
pub fn token_for(claims: &Claims) -> String {
    let key = SigningKey::from_seed(&[0x11; 32], "issuer-key-1").unwrap();
    attest_core::encode(&key, claims, TokenType::default()).unwrap()
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "attest-gateway-it-{}-{n}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
