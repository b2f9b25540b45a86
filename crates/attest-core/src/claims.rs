//! The typed claim set of an attestation token (SPEC.md §3).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::jwk::Jwk;

/// The `attestation_version` this crate writes and accepts.
pub const ATTESTATION_VERSION: &str = "0.1.0";

/// The claims of an attestation token.
///
/// Claims this crate does not know are kept in [`Claims::extra`], never dropped, and are
/// written back in name order.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// Issuer URL.
    pub iss: String,
    /// Subject: a SPIFFE-style agent id, e.g. `spiffe://anthropic.com/model/claude-sonnet-4`.
    pub sub: String,
    /// Audience: the server or servers this token is for.
    pub aud: Audience,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Expires at, seconds since the epoch.
    pub exp: u64,
    /// Not before, seconds since the epoch.
    pub nbf: Option<u64>,
    /// Unique token id (a UUID v4 when minted by this crate).
    pub jti: String,
    /// Who the agent is.
    pub agent_identity: AgentIdentity,
    /// Hashes of the agent's configuration.
    pub agent_integrity: Option<AgentIntegrity>,
    /// What kind of attestation this is.
    pub attestation_metadata: AttestationMetadata,
    /// Confirmation key (RFC 7800), for proof of possession.
    pub cnf: Option<Confirmation>,
    /// Claims not named above.
    pub extra: BTreeMap<String, Value>,
}

/// A borrowed view of a claim set, the one place that defines how claims serialize: the defined
/// claims in a fixed order, then extension claims by name. [`Claims`] serializes through it, and
/// the token builder writes exactly its serde_json bytes with `write::claims` (a property test
/// holds the two equal), so equal claims always give equal bytes.
#[derive(Serialize)]
pub(crate) struct ClaimsRef<'a> {
    pub(crate) iss: &'a str,
    pub(crate) sub: &'a str,
    pub(crate) aud: AudienceRef<'a>,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) nbf: Option<u64>,
    pub(crate) jti: &'a str,
    pub(crate) agent_identity: &'a AgentIdentity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) agent_integrity: Option<&'a AgentIntegrity>,
    pub(crate) attestation_metadata: &'a AttestationMetadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cnf: Option<&'a Confirmation>,
    #[serde(flatten)]
    pub(crate) extra: &'a BTreeMap<String, Value>,
}

/// `aud` as borrowed: a string for one audience, an array for several.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum AudienceRef<'a> {
    One(&'a str),
    Many(&'a [String]),
}

impl<'a> From<&'a Claims> for ClaimsRef<'a> {
    fn from(c: &'a Claims) -> Self {
        ClaimsRef {
            iss: &c.iss,
            sub: &c.sub,
            aud: match &c.aud {
                Audience::One(one) => AudienceRef::One(one),
                Audience::Many(many) => AudienceRef::Many(many),
            },
            iat: c.iat,
            exp: c.exp,
            nbf: c.nbf,
            jti: &c.jti,
            agent_identity: &c.agent_identity,
            agent_integrity: c.agent_integrity.as_ref(),
            attestation_metadata: &c.attestation_metadata,
            cnf: c.cnf.as_ref(),
            extra: &c.extra,
        }
    }
}

impl Serialize for Claims {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ClaimsRef::from(self).serialize(s)
    }
}

impl Claims {
    /// True if the claim at `path` is present. A path is a claim name, or `parent.child` for the
    /// members of `agent_identity`, `agent_integrity` and `cnf`.
    pub fn has(&self, path: &str) -> bool {
        match path {
            "iss"
            | "sub"
            | "aud"
            | "iat"
            | "exp"
            | "jti"
            | "agent_identity"
            | "attestation_metadata" => true,
            "nbf" => self.nbf.is_some(),
            "agent_integrity" => self.agent_integrity.is_some(),
            "cnf" => self.cnf.is_some(),
            "agent_identity.deployment_id" => self.agent_identity.deployment_id.is_some(),
            "agent_integrity.config_hash" => self
                .agent_integrity
                .as_ref()
                .is_some_and(|i| i.config_hash.is_some()),
            "agent_integrity.system_prompt_hash" => self
                .agent_integrity
                .as_ref()
                .is_some_and(|i| i.system_prompt_hash.is_some()),
            "cnf.jwk" => self.cnf.as_ref().is_some_and(|c| c.jwk.is_some()),
            "cnf.jkt" => self.cnf.as_ref().is_some_and(|c| c.jkt.is_some()),
            other => self.extra.contains_key(other),
        }
    }
}

/// `aud`: one audience or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience, written as a string.
    One(String),
    /// Several audiences, written as an array.
    Many(Vec<String>),
}

impl Audience {
    /// The audiences, as a slice.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Audience::One(one) => std::slice::from_ref(one),
            Audience::Many(many) => many,
        }
    }

    /// True if `aud` contains `audience`, compared exactly.
    pub fn contains(&self, audience: &str) -> bool {
        self.as_slice().iter().any(|a| a == audience)
    }
}

/// Who the agent is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentIdentity {
    /// Model family, e.g. `claude`.
    pub model_family: String,
    /// Model version, e.g. `sonnet-4`.
    pub model_version: String,
    /// Provider, e.g. `anthropic`.
    pub provider: String,
    /// The provider's deployment id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// Members not named above.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl AgentIdentity {
    /// An identity without deployment id.
    pub fn new(model_family: &str, model_version: &str, provider: &str) -> AgentIdentity {
        AgentIdentity {
            model_family: model_family.into(),
            model_version: model_version.into(),
            provider: provider.into(),
            deployment_id: None,
            extra: BTreeMap::new(),
        }
    }
}

/// Hashes of the agent's configuration, each `sha256:<64 lowercase hex>`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AgentIntegrity {
    /// Hash of the agent configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<IntegrityHash>,
    /// Hash of the system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt_hash: Option<IntegrityHash>,
    /// Members not named above.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A `sha256:<64 lowercase hex>` digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct IntegrityHash(String);

impl IntegrityHash {
    /// The SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> IntegrityHash {
        let digest = Sha256::digest(bytes);
        let mut s = String::with_capacity(71);
        s.push_str("sha256:");
        crate::b64::hex_into(&digest, &mut s);
        IntegrityHash(s)
    }

    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(s: &str) -> Option<IntegrityHash> {
        Self::is_well_formed(s).then(|| IntegrityHash(s.to_owned()))
    }

    /// [`IntegrityHash::parse`] of a string already owned, without copying it.
    pub(crate) fn parse_owned(s: String) -> Option<IntegrityHash> {
        Self::is_well_formed(&s).then_some(IntegrityHash(s))
    }

    fn is_well_formed(s: &str) -> bool {
        s.strip_prefix("sha256:").is_some_and(|hex| {
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
    }

    /// The `sha256:...` string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for IntegrityHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        IntegrityHash::parse(&s).ok_or_else(|| de::Error::custom("expected sha256:<64 hex>"))
    }
}

/// What kind of attestation this is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttestationMetadata {
    /// Must be [`ATTESTATION_VERSION`].
    pub attestation_version: String,
    /// Who attests.
    pub attestation_type: AttestationType,
    /// The agent's safety configuration.
    pub safety_level: SafetyLevel,
    /// Capabilities the agent declares.
    pub capabilities_declared: Vec<String>,
    /// Members not named above.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl AttestationMetadata {
    /// Provider attestation at `standard` safety, no declared capabilities.
    pub fn provider() -> AttestationMetadata {
        AttestationMetadata {
            attestation_version: ATTESTATION_VERSION.into(),
            attestation_type: AttestationType::Provider,
            safety_level: SafetyLevel::Standard,
            capabilities_declared: Vec::new(),
            extra: BTreeMap::new(),
        }
    }
}

/// Who attests: the AI provider, or an enterprise deploying the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttestationType {
    /// The AI provider.
    Provider,
    /// An enterprise deploying the agent.
    Enterprise,
}

/// The agent's safety configuration, ordered `Minimal < Standard < Enhanced`.
///
/// Compare levels with `<`/`>=`, never as strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SafetyLevel {
    /// Fewest safeguards.
    Minimal,
    /// The default.
    Standard,
    /// Most safeguards.
    Enhanced,
}

impl AttestationType {
    /// The claim value: `provider` or `enterprise`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttestationType::Provider => "provider",
            AttestationType::Enterprise => "enterprise",
        }
    }
}

impl SafetyLevel {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            SafetyLevel::Minimal => "minimal",
            SafetyLevel::Standard => "standard",
            SafetyLevel::Enhanced => "enhanced",
        }
    }
}

/// The confirmation claim (RFC 7800): the key the agent must prove it holds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Confirmation {
    /// The agent's public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwk: Option<Jwk>,
    /// The RFC 7638 thumbprint of the agent's public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
    /// Members not named above.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Why parsing a claim set failed, by claim name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClaimsError {
    /// Not a JSON object, or broken JSON.
    Json(String),
    /// A known claim has the wrong type or value.
    Invalid(&'static str),
    /// A required claim is absent.
    Missing(&'static str),
}

/// Parses a claim set, naming the claim at fault on failure.
pub(crate) fn parse(text: &str) -> Result<Claims, ClaimsError> {
    let fault = Cell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = ClaimsSeed { fault: &fault }
        .deserialize(&mut de)
        .and_then(|c| de.end().map(|()| c));
    match (parsed, fault.take()) {
        (Ok(claims), _) => Ok(claims),
        (Err(_), Some(fault)) => Err(fault),
        (Err(e), None) => Err(ClaimsError::Json(e.to_string())),
    }
}

impl<'de> Deserialize<'de> for Claims {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ClaimsSeed {
            fault: &Cell::new(None),
        }
        .deserialize(d)
    }
}

struct ClaimsSeed<'a> {
    fault: &'a Cell<Option<ClaimsError>>,
}

impl<'de> DeserializeSeed<'de> for ClaimsSeed<'_> {
    type Value = Claims;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Claims, D::Error> {
        d.deserialize_map(self)
    }
}

impl ClaimsSeed<'_> {
    fn fail<E: de::Error>(&self, fault: ClaimsError) -> E {
        let message = format!("{fault:?}");
        self.fault.set(Some(fault));
        E::custom(message)
    }

    /// Reads the value of claim `name`, recording `name` as the fault if it has the wrong type.
    fn value<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
        &self,
        map: &mut A,
        name: &'static str,
    ) -> Result<Option<T>, A::Error> {
        map.next_value::<T>()
            .map(Some)
            .map_err(|_| self.fail(ClaimsError::Invalid(name)))
    }
}

impl<'de> Visitor<'de> for ClaimsSeed<'_> {
    type Value = Claims;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Claims, A::Error> {
        let (mut iss, mut sub, mut aud, mut iat, mut exp, mut nbf, mut jti) =
            (None, None, None, None, None, None, None);
        let (mut identity, mut integrity, mut metadata, mut cnf) = (None, None, None, None);
        let mut extra = BTreeMap::new();
        // Duplicate names were refused by the strictness pass before this parser runs; when this
        // type is deserialized on its own, the last value wins, as in serde_json.
        while let Some(name) = map.next_key_seed(crate::json::Name)? {
            match &*name {
                "iss" => iss = self.value::<_, String>(&mut map, "iss")?,
                "sub" => sub = self.value::<_, String>(&mut map, "sub")?,
                "aud" => aud = self.value::<_, Audience>(&mut map, "aud")?,
                "iat" => iat = self.value::<_, u64>(&mut map, "iat")?,
                "exp" => exp = self.value::<_, u64>(&mut map, "exp")?,
                "nbf" => nbf = self.value::<_, u64>(&mut map, "nbf")?,
                "jti" => jti = self.value::<_, String>(&mut map, "jti")?,
                "agent_identity" => identity = self.value(&mut map, "agent_identity")?,
                "agent_integrity" => integrity = self.value(&mut map, "agent_integrity")?,
                "attestation_metadata" => {
                    metadata = self.value(&mut map, "attestation_metadata")?
                }
                "cnf" => cnf = self.value(&mut map, "cnf")?,
                _ => {
                    extra.insert(name.into_owned(), map.next_value::<Value>()?);
                }
            }
        }
        let missing = |name| self.fail::<A::Error>(ClaimsError::Missing(name));
        Ok(Claims {
            iss: iss.ok_or_else(|| missing("iss"))?,
            sub: sub.ok_or_else(|| missing("sub"))?,
            aud: aud.ok_or_else(|| missing("aud"))?,
            iat: iat.ok_or_else(|| missing("iat"))?,
            exp: exp.ok_or_else(|| missing("exp"))?,
            nbf,
            jti: jti.ok_or_else(|| missing("jti"))?,
            agent_identity: identity.ok_or_else(|| missing("agent_identity"))?,
            agent_integrity: integrity,
            attestation_metadata: metadata.ok_or_else(|| missing("attestation_metadata"))?,
            cnf,
            extra,
        })
    }
}
