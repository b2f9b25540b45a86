//! What crosses the gateway: the attestation and its proofs never go upstream (MCP's
//! authorization spec forbids token passthrough); the verified identity may, as plain claims,
//! when the operator opts in.

use attest_mcp_server::VerifiedAgent;
use rmcp::model::{ClientCapabilities, RequestMetaObject};
use serde_json::{Map, Value, json};

/// The `_meta` key under which the gateway forwards the verified identity upstream, when
/// configured to (`--forward-identity`). Its value is plain JSON claims, never a token.
pub const IDENTITY_META_KEY: &str = "io.github.attest-rs/verified-agent";

/// `_meta` keys that belong to the agent's hop and are never forwarded:
/// - the attestation carriers (the token and the proof of possession);
/// - the identity key itself, so that an agent cannot forge what the gateway vouches for;
/// - the progress token, which the upstream client replaces with its own and the gateway maps
///   back;
/// - the 2026-07-28 per-request session keys, which describe the agent's client, not the
///   gateway's upstream session (that session negotiated its own).
const HOP_KEYS: &[&str] = &[
    attest_protocol::EXTENSION_ID,
    attest_protocol::LEGACY_KEY,
    IDENTITY_META_KEY,
    "progressToken",
    "io.modelcontextprotocol/protocolVersion",
    "io.modelcontextprotocol/clientInfo",
    "io.modelcontextprotocol/clientCapabilities",
    "io.modelcontextprotocol/logLevel",
];

/// The `_meta` to send upstream for a request whose downstream `_meta` was `meta`: every key
/// but the hop keys, plus the verified identity when `identity` is given.
pub(crate) fn upstream_meta(
    meta: &Map<String, Value>,
    identity: Option<Value>,
) -> RequestMetaObject {
    let mut forwarded: Map<String, Value> = meta
        .iter()
        .filter(|(key, _)| !HOP_KEYS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    if let Some(identity) = identity {
        forwarded.insert(IDENTITY_META_KEY.to_owned(), identity);
    }
    let mut object = RequestMetaObject::new();
    object.0.0 = forwarded;
    object
}

/// The agent's client capabilities without the attestation carriers, as the gateway presents
/// them upstream.
pub(crate) fn strip_capabilities(mut capabilities: ClientCapabilities) -> ClientCapabilities {
    if let Some(extensions) = capabilities.extensions.as_mut() {
        extensions.remove(attest_protocol::EXTENSION_ID);
        if extensions.is_empty() {
            capabilities.extensions = None;
        }
    }
    if let Some(experimental) = capabilities.experimental.as_mut() {
        experimental.remove(attest_protocol::LEGACY_KEY);
        experimental.remove(attest_protocol::EXTENSION_ID);
        if experimental.is_empty() {
            capabilities.experimental = None;
        }
    }
    capabilities
}

/// The verified identity as plain claims, for [`IDENTITY_META_KEY`]: who attested the agent,
/// who it is, and what it declared. No token, no signature, no `jti`.
pub(crate) fn identity_claims(agent: &VerifiedAgent) -> Value {
    let claims = agent.claims();
    json!({
        "iss": claims.iss,
        "sub": claims.sub,
        "exp": claims.exp,
        "agent_identity": claims.agent_identity,
        "agent_integrity": claims.agent_integrity,
        "attestation_metadata": claims.attestation_metadata,
        "trust_level": agent.trust_level().as_str(),
        "proof_bound": agent.proof_bound(),
    })
}
