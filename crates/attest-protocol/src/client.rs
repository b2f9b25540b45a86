//! The client side: the attestation object a client presents, and where it travels in both MCP
//! generations (SPEC.md, "Carriage").

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::ProtocolError;
use crate::json;
use crate::version::Version;
use crate::{CLIENT_CAPABILITIES_META_KEY, EXTENSION_ID, LEGACY_KEY};

/// `supported_algorithms` when the member is absent.
pub const DEFAULT_SUPPORTED_ALGORITHMS: [&str; 1] = ["EdDSA"];
/// `attestation_types` when the member is absent.
pub const DEFAULT_ATTESTATION_TYPES: [&str; 2] = ["provider", "enterprise"];

/// A compact attestation token, as carried on the wire.
///
/// Its `Debug` output is redacted: a token is a bearer credential until it expires, and must
/// not end up in logs by way of a `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token. An empty string is refused.
    pub fn new(token: impl Into<String>) -> Result<Token, ProtocolError> {
        let token = token.into();
        if token.is_empty() {
            return Err(ProtocolError::EmptyToken {
                pointer: "/token".to_owned(),
            });
        }
        Ok(Token(token))
    }

    /// The compact JWS, to hand to a verifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(<redacted, {} bytes>)", self.0.len())
    }
}

impl Serialize for Token {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// The attestation a client presents: `{version, token, supported_algorithms?,
/// attestation_types?, proof?}`.
///
/// The same object travels in every carrier: `capabilities.extensions[EXTENSION_ID]`,
/// `capabilities.experimental["security.attestation"]`, and a request's `_meta[EXTENSION_ID]`.
/// `version` and `token` are required; the two lists are optional, and read as
/// [`DEFAULT_SUPPORTED_ALGORITHMS`] and [`DEFAULT_ATTESTATION_TYPES`] when absent. Unknown
/// entries in the lists and unknown members are kept, so a message round-trips to equal JSON.
///
/// `proof` is the request's proof of possession (SPEC.md §17), a compact JWS signed by the key
/// the token's `cnf` names. It is read strictly wherever it appears, and a server uses it only
/// from `_meta[EXTENSION_ID]`: a proof binds one request, never a set of capabilities.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientAttestation {
    version: Version,
    token: Token,
    #[serde(skip_serializing_if = "Option::is_none")]
    supported_algorithms: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attestation_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proof: Option<Token>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

const CLIENT_MEMBERS: [&str; 5] = [
    "version",
    "token",
    "supported_algorithms",
    "attestation_types",
    "proof",
];

impl ClientAttestation {
    /// The full 0.1.0 object, with both lists written out as the original's clients write
    /// them. The lists hold their defaults, and the original's servers read only `token`, so
    /// [`ClientAttestation::compact`] reaches the same servers with fewer bytes.
    pub fn new(token: impl Into<String>) -> Result<ClientAttestation, ProtocolError> {
        Ok(ClientAttestation {
            version: Version::V0_1_0,
            token: Token::new(token)?,
            supported_algorithms: Some(DEFAULT_SUPPORTED_ALGORITHMS.map(str::to_owned).to_vec()),
            attestation_types: Some(DEFAULT_ATTESTATION_TYPES.map(str::to_owned).to_vec()),
            proof: None,
            extra: BTreeMap::new(),
        })
    }

    /// The compact object `{version, token}`, what attest-mcp-client sends in every carrier:
    /// a reader takes the absent lists as their defaults (SPEC.md §9.1), and the 0.1.0
    /// original's servers read only `token`. Each byte left out is one that every SDK on the
    /// way copies and parses less, several times per message.
    pub fn compact(token: impl Into<String>) -> Result<ClientAttestation, ProtocolError> {
        Ok(ClientAttestation {
            version: Version::V0_1_0,
            token: Token::new(token)?,
            supported_algorithms: None,
            attestation_types: None,
            proof: None,
            extra: BTreeMap::new(),
        })
    }

    /// Reads the object strictly. `at` is the JSON Pointer of `value`, used in errors.
    ///
    /// Refused: a non-object; a missing or non-string `version` or `token`; an empty token; an
    /// unknown version; a list member that is not an array of strings; a `proof` that is not a
    /// non-empty string.
    pub fn from_value_at(value: &Value, at: &str) -> Result<ClientAttestation, ProtocolError> {
        Self::from_object_at(json::object(value, at)?, at)
    }

    /// [`ClientAttestation::from_value_at`] of a value already known to be an object.
    fn from_object_at(
        object: &Map<String, Value>,
        at: &str,
    ) -> Result<ClientAttestation, ProtocolError> {
        let version = json::string(object, at, "version")?;
        let version = Version::from_wire(version).ok_or_else(|| ProtocolError::UnknownVersion {
            pointer: json::child(at, "version"),
            version: json::clip(version),
        })?;
        let token = json::string(object, at, "token")?;
        if token.is_empty() {
            return Err(ProtocolError::EmptyToken {
                pointer: json::child(at, "token"),
            });
        }
        Ok(ClientAttestation {
            version,
            token: Token(token.to_owned()),
            supported_algorithms: json::string_list(object, at, "supported_algorithms")?,
            attestation_types: json::string_list(object, at, "attestation_types")?,
            proof: read_proof(object, at)?,
            extra: json::extra(object, &CLIENT_MEMBERS),
        })
    }

    /// Reads the object strictly; errors point from the object's root.
    pub fn from_value(value: &Value) -> Result<ClientAttestation, ProtocolError> {
        Self::from_value_at(value, "")
    }

    /// The object as JSON.
    pub fn to_value(&self) -> Value {
        Value::Object(self.to_map())
    }

    fn to_map(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("version".into(), self.version.as_str().into());
        map.insert("token".into(), self.token.0.clone().into());
        if let Some(algorithms) = &self.supported_algorithms {
            map.insert("supported_algorithms".into(), algorithms.clone().into());
        }
        if let Some(types) = &self.attestation_types {
            map.insert("attestation_types".into(), types.clone().into());
        }
        if let Some(proof) = &self.proof {
            map.insert("proof".into(), proof.0.clone().into());
        }
        for (name, value) in &self.extra {
            map.insert(name.clone(), value.clone());
        }
        map
    }

    /// The extension version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The token, to verify.
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// `supported_algorithms`, or its default when absent.
    pub fn supported_algorithms(&self) -> Vec<&str> {
        match &self.supported_algorithms {
            Some(list) => list.iter().map(String::as_str).collect(),
            None => DEFAULT_SUPPORTED_ALGORITHMS.to_vec(),
        }
    }

    /// `attestation_types`, or its default when absent.
    pub fn attestation_types(&self) -> Vec<&str> {
        match &self.attestation_types {
            Some(list) => list.iter().map(String::as_str).collect(),
            None => DEFAULT_ATTESTATION_TYPES.to_vec(),
        }
    }

    /// Members this crate does not know, kept as they were.
    pub fn extra(&self) -> &BTreeMap<String, Value> {
        &self.extra
    }

    /// The request's proof of possession (SPEC.md §17), if the object carries one.
    pub fn proof(&self) -> Option<&Token> {
        self.proof.as_ref()
    }

    /// This object with a proof of possession. An empty proof is refused.
    pub fn with_proof(
        mut self,
        proof: impl Into<String>,
    ) -> Result<ClientAttestation, ProtocolError> {
        let proof = proof.into();
        if proof.is_empty() {
            return Err(ProtocolError::EmptyToken {
                pointer: "/proof".to_owned(),
            });
        }
        self.proof = Some(Token(proof));
        Ok(self)
    }

    /// Writes this object into client capabilities (an `initialize` request's
    /// `params.capabilities`, or the capabilities a 2026-07-28 request carries in `_meta`),
    /// under the chosen carriers. Other members of the capabilities are left alone.
    ///
    /// Fails if `extensions` or `experimental` exists and is not an object.
    pub fn insert_into_capabilities(
        &self,
        capabilities: &mut Map<String, Value>,
        carriers: Carriers,
    ) -> Result<(), ProtocolError> {
        insert_object(capabilities, carriers, &self.to_map())
    }

    /// Writes this object into a request's `_meta` under [`EXTENSION_ID`] (protocol
    /// 2026-07-28). Use [`ClientAttestation::compact`] there: the lists add nothing per request.
    pub fn insert_into_meta(&self, meta: &mut Map<String, Value>) {
        meta.insert(EXTENSION_ID.to_owned(), self.to_value());
    }
}

impl<'de> Deserialize<'de> for ClientAttestation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        ClientAttestation::from_value(&value).map_err(serde::de::Error::custom)
    }
}

/// Where an attestation object was found, or is to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Carrier {
    /// A request's `_meta[EXTENSION_ID]` (protocol 2026-07-28).
    Meta,
    /// `capabilities.extensions[EXTENSION_ID]` (SEP-2133).
    Extensions,
    /// `capabilities.experimental["security.attestation"]` (the 0.1.0 original).
    Experimental,
}

impl Carrier {
    /// A stable snake_case name, for logs and test vectors.
    pub fn as_str(self) -> &'static str {
        match self {
            Carrier::Meta => "meta",
            Carrier::Extensions => "extensions",
            Carrier::Experimental => "experimental",
        }
    }
}

/// Which capability carriers to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Carriers {
    /// Only `extensions[EXTENSION_ID]`: for peers that speak SEP-2133.
    Extensions,
    /// Only `experimental["security.attestation"]`: for peers that only know the original.
    Experimental,
    /// Both, with the same object: reaches every peer. The default.
    #[default]
    Both,
}

impl Carriers {
    fn extensions(self) -> bool {
        matches!(self, Carriers::Extensions | Carriers::Both)
    }

    fn experimental(self) -> bool {
        matches!(self, Carriers::Experimental | Carriers::Both)
    }
}

/// Writes `object` under the chosen capability carriers.
pub(crate) fn insert_object(
    capabilities: &mut Map<String, Value>,
    carriers: Carriers,
    object: &Map<String, Value>,
) -> Result<(), ProtocolError> {
    for (wanted, container, key) in [
        (carriers.extensions(), "extensions", EXTENSION_ID),
        (carriers.experimental(), "experimental", LEGACY_KEY),
    ] {
        if !wanted {
            continue;
        }
        let slot = capabilities
            .entry(container)
            .or_insert_with(|| Value::Object(Map::new()));
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        let map = slot
            .as_object_mut()
            .ok_or_else(|| ProtocolError::NotAnObject {
                pointer: json::child("", container),
            })?;
        map.insert(key.to_owned(), Value::Object(object.clone()));
    }
    Ok(())
}

/// What a client presented in one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Presented {
    /// No carrier holds an attestation.
    Absent,
    /// An attestation, from the carrier with the highest precedence.
    Present {
        /// The attestation.
        attestation: ClientAttestation,
        /// Which carrier it came from.
        carrier: Carrier,
        /// Its JSON Pointer, relative to the value searched.
        pointer: String,
    },
}

impl Presented {
    /// The attestation, if one was presented.
    pub fn attestation(&self) -> Option<&ClientAttestation> {
        match self {
            Presented::Absent => None,
            Presented::Present { attestation, .. } => Some(attestation),
        }
    }
}

/// One candidate: where it was found, and what it holds.
type Found = (Carrier, String, ClientAttestation);

/// Finds the attestation in client capabilities: an `initialize` request's
/// `params.capabilities`, or the capabilities a 2026-07-28 request carries in
/// `_meta["io.modelcontextprotocol/clientCapabilities"]`.
///
/// Precedence: `extensions[EXTENSION_ID]`, then `experimental["security.attestation"]`. Every
/// carrier present is read strictly, so a malformed one is an error even when the other is
/// fine; two carriers with different tokens are a [`ProtocolError::Conflict`]. An absent or
/// `null` `extensions`/`experimental` member counts as absent.
pub fn find_in_capabilities(capabilities: &Map<String, Value>) -> Result<Presented, ProtocolError> {
    let mut found = Vec::new();
    collect_from_capabilities(capabilities, "", &mut found)?;
    decide(found)
}

/// [`find_in_capabilities`] for capabilities that an SDK has already parsed into typed
/// containers, where each carrier is a JSON object: `extension` is
/// `capabilities.extensions[EXTENSION_ID]` and `legacy` is
/// `capabilities.experimental["security.attestation"]`, each if present. The decision is the
/// same (precedence, strict reading, conflicts), without turning the whole capabilities,
/// tokens included, back into JSON first.
pub fn find_in_capability_carriers(
    extension: Option<&Map<String, Value>>,
    legacy: Option<&Map<String, Value>>,
) -> Result<Presented, ProtocolError> {
    let mut found = Vec::new();
    for ((carrier, container, key), object) in
        CAPABILITY_CARRIERS.into_iter().zip([extension, legacy])
    {
        if let Some(object) = object {
            let pointer = json::child(&json::child("", container), key);
            let attestation = ClientAttestation::from_object_at(object, &pointer)?;
            found.push((carrier, pointer, attestation));
        }
    }
    decide(found)
}

/// Finds the attestation in a request's `_meta` (protocol 2026-07-28).
///
/// Precedence: `_meta[EXTENSION_ID]`, then the client capabilities in
/// `_meta["io.modelcontextprotocol/clientCapabilities"]` (as [`find_in_capabilities`]). Every
/// carrier present is read strictly; different tokens in two carriers are a conflict.
pub fn find_in_meta(meta: &Map<String, Value>) -> Result<Presented, ProtocolError> {
    find_with_proof_in_meta(meta).map(|p| p.attestation)
}

/// Finds the attestation in a request's `params`, whatever the protocol generation: in
/// `params._meta` (as [`find_in_meta`]), then in `params.capabilities` (an `initialize`
/// request, as [`find_in_capabilities`]).
///
/// `params` absent or `null` is [`Presented::Absent`]; any other non-object is an error.
pub fn find_in_params(params: Option<&Value>) -> Result<Presented, ProtocolError> {
    find_with_proof_in_params(params).map(|p| p.attestation)
}

fn collect_from_meta(
    meta: &Map<String, Value>,
    at: &str,
    found: &mut Vec<Found>,
) -> Result<Option<Token>, ProtocolError> {
    let mut proof = None;
    if let Some(value) = meta.get(EXTENSION_ID) {
        let pointer = json::child(at, EXTENSION_ID);
        match proof_only(value, &pointer)? {
            Some(only) => proof = Some(only),
            None => {
                let attestation = ClientAttestation::from_value_at(value, &pointer)?;
                proof = attestation.proof.clone();
                found.push((Carrier::Meta, pointer, attestation));
            }
        }
    }
    if let Some(capabilities) = json::container(meta, at, CLIENT_CAPABILITIES_META_KEY)? {
        let at = json::child(at, CLIENT_CAPABILITIES_META_KEY);
        collect_from_capabilities(capabilities, &at, found)?;
    }
    Ok(proof)
}

/// Reads the optional `proof` member: absent, or a non-empty string.
fn read_proof(object: &Map<String, Value>, at: &str) -> Result<Option<Token>, ProtocolError> {
    let Some(value) = object.get("proof") else {
        return Ok(None);
    };
    let pointer = json::child(at, "proof");
    let proof = value.as_str().ok_or_else(|| ProtocolError::WrongType {
        pointer: pointer.clone(),
        expected: "a string",
    })?;
    if proof.is_empty() {
        return Err(ProtocolError::EmptyToken { pointer });
    }
    Ok(Some(Token(proof.to_owned())))
}

/// The proof-only form `{version, proof}` (SPEC.md §17.3): an object with a `proof` and no
/// `token`, sent on the requests of an `initialize` session. `None` for any other value, which
/// is then read as a full attestation object.
fn proof_only(value: &Value, at: &str) -> Result<Option<Token>, ProtocolError> {
    let Some(object) = value.as_object() else {
        return Ok(None);
    };
    if object.contains_key("token") || !object.contains_key("proof") {
        return Ok(None);
    }
    let version = json::string(object, at, "version")?;
    if Version::from_wire(version).is_none() {
        return Err(ProtocolError::UnknownVersion {
            pointer: json::child(at, "version"),
            version: json::clip(version),
        });
    }
    read_proof(object, at)
}

/// Writes a proof of possession into a request's `_meta[EXTENSION_ID]` (SPEC.md §17.3): as the
/// `proof` member of the attestation object already there, or, when there is none, as the
/// proof-only object `{version, proof}` (a request of an `initialize` session, whose token the
/// server bound at `initialize`).
///
/// Fails if `_meta[EXTENSION_ID]` exists and is not an object, or `proof` is empty.
pub fn insert_proof_into_meta(
    meta: &mut Map<String, Value>,
    proof: &str,
) -> Result<(), ProtocolError> {
    let pointer = json::child("", EXTENSION_ID);
    if proof.is_empty() {
        return Err(ProtocolError::EmptyToken {
            pointer: json::child(&pointer, "proof"),
        });
    }
    let slot = meta.entry(EXTENSION_ID).or_insert_with(|| {
        let mut object = Map::new();
        object.insert("version".into(), Version::V0_1_0.as_str().into());
        Value::Object(object)
    });
    let object = slot
        .as_object_mut()
        .ok_or(ProtocolError::NotAnObject { pointer })?;
    object.insert("proof".into(), proof.into());
    Ok(())
}

/// What one request presented: its attestation, by the precedence of SPEC.md §9.5, and its
/// proof of possession (§17).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestPresentation {
    /// The attestation.
    pub attestation: Presented,
    /// The proof in `_meta[EXTENSION_ID]`, from the attestation object there or from the
    /// proof-only object `{version, proof}`. Proofs elsewhere are not read.
    pub proof: Option<Token>,
}

/// Finds the attestation and the proof of possession in a request's `_meta`. The attestation
/// is found as by [`find_in_meta`]; a proof-only object `{version, proof}` in
/// `_meta[EXTENSION_ID]` carries no token, so it leaves the attestation to the other carriers
/// (or to the session).
pub fn find_with_proof_in_meta(
    meta: &Map<String, Value>,
) -> Result<RequestPresentation, ProtocolError> {
    let mut found = Vec::new();
    let proof = collect_from_meta(meta, "", &mut found)?;
    Ok(RequestPresentation {
        attestation: decide(found)?,
        proof,
    })
}

/// Finds the attestation and the proof of possession in a request's `params`, whatever the
/// protocol generation (as [`find_in_params`]).
pub fn find_with_proof_in_params(
    params: Option<&Value>,
) -> Result<RequestPresentation, ProtocolError> {
    let params = match params {
        None | Some(Value::Null) => {
            return Ok(RequestPresentation {
                attestation: Presented::Absent,
                proof: None,
            });
        }
        Some(params) => json::object(params, "")?,
    };
    let mut found = Vec::new();
    let mut proof = None;
    if let Some(meta) = json::container(params, "", "_meta")? {
        proof = collect_from_meta(meta, "/_meta", &mut found)?;
    }
    if let Some(capabilities) = json::container(params, "", "capabilities")? {
        collect_from_capabilities(capabilities, "/capabilities", &mut found)?;
    }
    Ok(RequestPresentation {
        attestation: decide(found)?,
        proof,
    })
}

fn collect_from_capabilities(
    capabilities: &Map<String, Value>,
    at: &str,
    found: &mut Vec<Found>,
) -> Result<(), ProtocolError> {
    for (carrier, container, key) in CAPABILITY_CARRIERS {
        let Some(map) = json::container(capabilities, at, container)? else {
            continue;
        };
        if let Some(value) = map.get(key) {
            let pointer = json::child(&json::child(at, container), key);
            let attestation = ClientAttestation::from_value_at(value, &pointer)?;
            found.push((carrier, pointer, attestation));
        }
    }
    Ok(())
}

/// The carriers in client capabilities, by precedence: the carrier, its container member, and
/// its key there.
const CAPABILITY_CARRIERS: [(Carrier, &str, &str); 2] = [
    (Carrier::Extensions, "extensions", EXTENSION_ID),
    (Carrier::Experimental, "experimental", LEGACY_KEY),
];

/// The first candidate wins, provided every other one carries the same token.
fn decide(found: Vec<Found>) -> Result<Presented, ProtocolError> {
    let mut candidates = found.into_iter();
    let Some((carrier, pointer, attestation)) = candidates.next() else {
        return Ok(Presented::Absent);
    };
    for (_, other_pointer, other) in candidates {
        if other.token != attestation.token {
            return Err(ProtocolError::Conflict {
                first: pointer,
                second: other_pointer,
            });
        }
    }
    Ok(Presented::Present {
        attestation,
        carrier,
        pointer,
    })
}
