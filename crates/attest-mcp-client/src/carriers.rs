//! Writing the attestation into rmcp's types: `initialize` capabilities and per-request `_meta`.
//!
//! The JSON shapes and carrier names come from attest-protocol
//! ([`ClientAttestation::insert_into_capabilities`], [`ClientAttestation::insert_into_meta`]);
//! this module only moves rmcp's typed values in and out of them.

use attest_protocol::{
    CLIENT_CAPABILITIES_META_KEY, Carriers, ClientAttestation, EXTENSION_ID, LEGACY_KEY,
};
use rmcp::model::{
    ClientCapabilities, ClientConfig, ClientRequest, GetMeta, Implementation, JsonObject,
};
use serde_json::Value;

use crate::error::ClientError;
use crate::source::TokenSource;

/// Writes `attestation` into `capabilities` for `initialize`, under the chosen carriers:
/// `extensions["io.github.attest-rs/agent-attestation"]` and/or
/// `experimental["security.attestation"]` ([`Carriers::Both`] reaches every server).
///
/// Use the compact object ([`ClientAttestation::compact`]) unless a server needs the lists
/// written out. Other capabilities are kept.
pub fn attest_capabilities(
    capabilities: &mut ClientCapabilities,
    attestation: &ClientAttestation,
    carriers: Carriers,
) -> Result<(), ClientError> {
    // Through JSON, so that attest-protocol alone decides the shape and the carrier keys.
    let mut object = to_object(capabilities)?;
    attestation.insert_into_capabilities(&mut object, carriers)?;
    *capabilities = serde_json::from_value(Value::Object(object))
        .map_err(|e| ClientError::Encode(format!("client capabilities: {e}")))?;
    Ok(())
}

/// Writes `attestation` into a request's `_meta` under
/// `"io.github.attest-rs/agent-attestation"` (protocol 2026-07-28). Use the compact object
/// ([`ClientAttestation::compact`]): it goes with every request.
///
/// `meta` is rmcp's `RequestMetaObject`, or any `serde_json` map: both dereference to one.
pub fn attest_request_meta(meta: &mut JsonObject, attestation: &ClientAttestation) {
    attestation.insert_into_meta(meta);
}

/// A `ClientConfig` (rmcp's `initialize` parameters, formerly `ClientInfo`) named
/// `attest-mcp-client`, carrying a token for `audience` from `source` under both capability
/// carriers.
///
/// `ClientConfig` is itself an rmcp `ClientHandler`, so it can be served as it is:
/// `attested_client_config(&source, aud).await?.serve(transport)`. To add the attestation to a
/// `ClientConfig` of your own, use [`attest_client_config`].
///
/// The token is fixed when the config is built. Under 2026-07-28, rmcp copies these
/// capabilities into every request; wrap the transport in [`crate::AttestingTransport`] to
/// keep them fresh.
pub async fn attested_client_config(
    source: &dyn TokenSource,
    audience: &str,
) -> Result<ClientConfig, ClientError> {
    let mut config = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("attest-mcp-client", env!("CARGO_PKG_VERSION")),
    );
    attest_client_config(&mut config, source, audience).await?;
    Ok(config)
}

/// Adds a token for `audience` from `source` to `config`'s capabilities, under both carriers,
/// as the compact object `{version, token}`.
pub async fn attest_client_config(
    config: &mut ClientConfig,
    source: &dyn TokenSource,
    audience: &str,
) -> Result<(), ClientError> {
    let token = source.token(audience).await?;
    let attestation = ClientAttestation::compact(token.as_str())?;
    attest_capabilities(&mut config.capabilities, &attestation, Carriers::Both)
}

/// Puts `token`, as the compact object `{version, token}`, into every carrier of an outgoing
/// request, so that all of them agree:
///
/// - `_meta[EXTENSION_ID]` (always);
/// - the client capabilities rmcp copies into `_meta["io.modelcontextprotocol/clientCapabilities"]`
///   under 2026-07-28: each attestation carrier already there is rewritten with `token`;
/// - for `initialize`, `params.capabilities`: each carrier already there is rewritten, and
///   both are added when there is none (a 0.1.0 server reads only `experimental`).
///
/// Rewriting, not only adding, matters: a server refuses two carriers with different tokens
/// as a conflict (SPEC.md §9.5), and rmcp repeats the `initialize` capabilities in every
/// 2026-07-28 request.
pub(crate) fn attach_to_request(
    request: &mut ClientRequest,
    token: &str,
) -> Result<(), ClientError> {
    let attestation = ClientAttestation::compact(token)?;
    if let ClientRequest::InitializeRequest(initialize) = request {
        let capabilities = &mut initialize.params.capabilities;
        let carriers = carriers_present_in(&to_object(capabilities)?).unwrap_or(Carriers::Both);
        attest_capabilities(capabilities, &attestation, carriers)?;
    }
    let meta = request.get_meta_mut();
    attest_request_meta(meta, &attestation);
    if let Some(Value::Object(capabilities)) = meta.get_mut(CLIENT_CAPABILITIES_META_KEY)
        && let Some(carriers) = carriers_present_in(capabilities)
    {
        attestation.insert_into_capabilities(capabilities, carriers)?;
    }
    Ok(())
}

/// Which attestation carriers `capabilities` already holds, if any.
pub(crate) fn carriers_present_in(capabilities: &JsonObject) -> Option<Carriers> {
    let holds = |container: &str, key: &str| {
        capabilities
            .get(container)
            .and_then(Value::as_object)
            .is_some_and(|map| map.contains_key(key))
    };
    match (
        holds("extensions", EXTENSION_ID),
        holds("experimental", LEGACY_KEY),
    ) {
        (true, true) => Some(Carriers::Both),
        (true, false) => Some(Carriers::Extensions),
        (false, true) => Some(Carriers::Experimental),
        (false, false) => None,
    }
}

fn to_object(capabilities: &ClientCapabilities) -> Result<JsonObject, ClientError> {
    match serde_json::to_value(capabilities) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Ok(JsonObject::new()),
        Err(e) => Err(ClientError::Encode(format!("client capabilities: {e}"))),
    }
}
