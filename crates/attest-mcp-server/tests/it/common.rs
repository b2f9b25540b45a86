//! Fixtures: an issuer, tokens of every kind, a test handler with a `whoami` tool, and servers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use attest_cache::ReplayStore;
use attest_core::{
    AgentIdentity, AttestationMetadata, KeySet, Policy, SigningKey, TokenBuilder, TrustStore,
    UnixTime,
};
use attest_mcp_server::{AttestationGate, AttestationStatus, Enforcement, Verifier};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://issuer.example";
pub const AUDIENCE: &str = "https://tools.example/mcp";

pub fn issuer_key() -> SigningKey {
    SigningKey::from_seed(&[0x31; 32], "issuer-1").unwrap()
}

pub fn now() -> UnixTime {
    UnixTime::from(std::time::SystemTime::now())
}

pub fn trust() -> TrustStore {
    let key = issuer_key();
    let mut trust = TrustStore::new();
    trust.insert(
        ISSUER,
        KeySet::from_keys([(key.kid(), key.public_key())]).unwrap(),
    );
    trust
}

pub fn policy() -> Policy {
    Policy::builder()
        .trusted_issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap()
}

pub fn builder(issuer: &str, audience: &str) -> TokenBuilder {
    TokenBuilder::new(issuer, "spiffe://issuer.example/model/claude-sonnet-4")
        .audience(audience)
        .identity(AgentIdentity::new("claude", "sonnet-4", "anthropic"))
        .metadata(AttestationMetadata::provider())
}

/// A fresh valid token (a new jti each call).
pub fn token() -> String {
    static SEED: AtomicUsize = AtomicUsize::new(1);
    let mut rng = ChaCha20Rng::seed_from_u64(SEED.fetch_add(1, Ordering::Relaxed) as u64);
    builder(ISSUER, AUDIENCE)
        .sign(&issuer_key(), now(), &mut rng)
        .unwrap()
}

/// The kinds of token the accept/reject matrix presents, with the reason each must get.
pub fn bad_tokens() -> Vec<(&'static str, String, &'static str)> {
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    let attacker = SigningKey::from_seed(&[0x66; 32], "issuer-1").unwrap();
    let past = UnixTime::from_secs(now().as_secs() - 3600);
    vec![
        (
            "forged signature",
            builder(ISSUER, AUDIENCE)
                .sign(&attacker, now(), &mut rng)
                .unwrap(),
            "attestation_invalid",
        ),
        (
            "untrusted issuer",
            builder("https://rogue.example", AUDIENCE)
                .sign(&attacker, now(), &mut rng)
                .unwrap(),
            "attestation_issuer_untrusted",
        ),
        (
            "wrong audience",
            builder(ISSUER, "https://other.example/mcp")
                .sign(&issuer_key(), now(), &mut rng)
                .unwrap(),
            "attestation_audience_mismatch",
        ),
        (
            "expired",
            builder(ISSUER, AUDIENCE)
                .sign(&issuer_key(), past, &mut rng)
                .unwrap(),
            "attestation_expired",
        ),
    ]
}

/// A gate over the fixtures' keys with `enforcement` and `store` (memory when `None`).
pub fn gate(enforcement: Enforcement, store: Option<Arc<dyn ReplayStore>>) -> AttestationGate {
    let mut verifier = Verifier::builder(policy()).keys(trust());
    if let Some(store) = store {
        verifier = verifier.replay_store(store);
    }
    AttestationGate::new(verifier.build().unwrap(), enforcement)
}

/// A plain application handler: one tool, `whoami`, that reports what the gate told it.
/// It counts the calls that reach it, so tests can prove a refused request never did.
#[derive(Clone, Default)]
pub struct Whoami {
    pub calls: Arc<AtomicUsize>,
}

impl ServerHandler for Whoami {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let schema = json!({"type": "object"}).as_object().unwrap().clone();
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "whoami",
            "who is calling",
            schema,
        )]))
    }

    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let text = match context.extensions.get::<AttestationStatus>() {
            Some(AttestationStatus::Verified(agent)) => format!(
                "verified {} {} {} trust={}",
                agent.identity().model_family,
                agent.identity().model_version,
                agent.issuer(),
                agent.trust_level().as_str()
            ),
            Some(AttestationStatus::Failed(reason)) => format!("failed {reason}"),
            Some(AttestationStatus::Absent) => "absent".into(),
            None => "no status: the gate did not run".into(),
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

/// The text of a tool result.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

/// The `reason` of a JSON-RPC error object.
pub fn reason_of(error: &Value) -> &str {
    error["data"]["reason"].as_str().unwrap_or("<no reason>")
}

/// The issuer's public JWKS in a temporary file, for servers run as processes.
pub fn jwks_file() -> std::path::PathBuf {
    let key = issuer_key();
    let body = KeySet::from_keys([(key.kid(), key.public_key())])
        .unwrap()
        .to_jwks_json();
    let path = std::env::temp_dir().join(format!("attest-test-jwks-{}.json", std::process::id()));
    std::fs::write(&path, body).unwrap();
    path
}

/// The example server binary (cargo builds examples before running integration tests).
pub fn example_server() -> std::path::PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let path = deps
        .parent()
        .unwrap()
        .join("examples")
        .join("attested_server");
    assert!(
        path.exists(),
        "{} is missing: run `cargo test -p attest-mcp-server`, which builds examples",
        path.display()
    );
    path
}
