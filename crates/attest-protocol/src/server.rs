//! The server side: what a server advertises in its capabilities, and the verification result
//! it reports in the same object after `initialize`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::client::{Carrier, Carriers, insert_object};
use crate::error::ProtocolError;
use crate::json;
use crate::result::{RESULT_MEMBERS, VerificationResult};
use crate::version::Version;
use crate::{EXTENSION_ID, LEGACY_KEY};

/// What the server does with a request whose attestation is missing or refused: the `policy`
/// member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Enforcement {
    /// Refuse the request with a JSON-RPC error.
    Required,
    /// Serve the request, report the failure in the verification result, and log it.
    Preferred,
    /// Serve the request; verify an attestation if one is presented.
    Optional,
}

impl Enforcement {
    /// Every value.
    pub const ALL: [Enforcement; 3] = [
        Enforcement::Required,
        Enforcement::Preferred,
        Enforcement::Optional,
    ];

    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Enforcement::Required => "required",
            Enforcement::Preferred => "preferred",
            Enforcement::Optional => "optional",
        }
    }

    /// Parses a wire string.
    pub fn from_wire(s: &str) -> Option<Enforcement> {
        Enforcement::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

impl fmt::Display for Enforcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Enforcement {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Enforcement {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Enforcement::from_wire(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown policy {:?}", json::clip(&s))))
    }
}

/// The object a server puts in its capabilities:
/// `{version, policy, trusted_issuers?, required_claims?}`, plus, in an `initialize` result, the
/// verification result's members (as the original does).
///
/// `version` and `policy` are required. The lists are read as empty when absent and are omitted
/// when empty, as in the original. Unknown members are kept, so a message round-trips.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerAdvertisement {
    /// The extension version.
    pub version: Version,
    /// What the server does without a valid attestation.
    pub policy: Enforcement,
    /// The issuers the server trusts, exactly as it compares them.
    pub trusted_issuers: Vec<String>,
    /// Claims a token must carry (paths as in `attest_core::Claims::has`).
    pub required_claims: Vec<String>,
    /// In an `initialize` result: the verification of the client's attestation.
    pub result: Option<VerificationResult>,
    /// Members this crate does not know, kept as they were.
    pub extra: BTreeMap<String, Value>,
}

const ADVERTISEMENT_MEMBERS: [&str; 4] =
    ["version", "policy", "trusted_issuers", "required_claims"];

impl ServerAdvertisement {
    /// An advertisement of `policy` with no trusted issuers, required claims or result yet.
    pub fn new(policy: Enforcement) -> ServerAdvertisement {
        ServerAdvertisement {
            version: Version::V0_1_0,
            policy,
            trusted_issuers: Vec::new(),
            required_claims: Vec::new(),
            result: None,
            extra: BTreeMap::new(),
        }
    }

    /// Reads the object strictly. `at` is its JSON Pointer, used in errors.
    ///
    /// The verification result is read when `verification_status` is present; any other
    /// result member without it is [`ProtocolError::Inconsistent`].
    pub fn from_value_at(value: &Value, at: &str) -> Result<ServerAdvertisement, ProtocolError> {
        let object = json::object(value, at)?;
        let version = json::string(object, at, "version")?;
        let version = Version::from_wire(version).ok_or_else(|| ProtocolError::UnknownVersion {
            pointer: json::child(at, "version"),
            version: json::clip(version),
        })?;
        let policy = json::string(object, at, "policy")?;
        let policy = Enforcement::from_wire(policy).ok_or_else(|| ProtocolError::InvalidValue {
            pointer: json::child(at, "policy"),
            value: json::clip(policy),
        })?;
        let result = if object.contains_key("verification_status") {
            Some(VerificationResult::from_object_at(object, at)?)
        } else if RESULT_MEMBERS.iter().any(|m| object.contains_key(*m)) {
            return Err(ProtocolError::Inconsistent {
                pointer: at.to_owned(),
                detail: "verification result members without verification_status",
            });
        } else {
            None
        };
        let known: Vec<&str> = ADVERTISEMENT_MEMBERS
            .iter()
            .chain(RESULT_MEMBERS.iter())
            .copied()
            .collect();
        Ok(ServerAdvertisement {
            version,
            policy,
            trusted_issuers: json::string_list(object, at, "trusted_issuers")?.unwrap_or_default(),
            required_claims: json::string_list(object, at, "required_claims")?.unwrap_or_default(),
            result,
            extra: json::extra(object, &known),
        })
    }

    /// Reads the object strictly; errors point from the object's root.
    pub fn from_value(value: &Value) -> Result<ServerAdvertisement, ProtocolError> {
        Self::from_value_at(value, "")
    }

    /// The object as JSON.
    pub fn to_value(&self) -> Value {
        Value::Object(self.to_map())
    }

    fn to_map(&self) -> Map<String, Value> {
        let mut map = Map::new();
        for (name, value) in &self.extra {
            map.insert(name.clone(), value.clone());
        }
        map.insert("version".into(), self.version.as_str().into());
        map.insert("policy".into(), self.policy.as_str().into());
        if !self.trusted_issuers.is_empty() {
            map.insert(
                "trusted_issuers".into(),
                self.trusted_issuers.clone().into(),
            );
        }
        if !self.required_claims.is_empty() {
            map.insert(
                "required_claims".into(),
                self.required_claims.clone().into(),
            );
        }
        if let Some(result) = &self.result {
            result.write_into(&mut map);
        }
        map
    }

    /// Writes this object into server capabilities (an `initialize` result's `capabilities`,
    /// or a `server/discover` result's), under the chosen carriers.
    pub fn insert_into_capabilities(
        &self,
        capabilities: &mut Map<String, Value>,
        carriers: Carriers,
    ) -> Result<(), ProtocolError> {
        insert_object(capabilities, carriers, &self.to_map())
    }

    /// Finds the advertisement in server capabilities: `extensions[EXTENSION_ID]` first, then
    /// `experimental["security.attestation"]`. Both are read strictly; if both are present they
    /// must be equal, else [`ProtocolError::Conflict`].
    pub fn find_in_capabilities(
        capabilities: &Map<String, Value>,
    ) -> Result<Option<(ServerAdvertisement, Carrier)>, ProtocolError> {
        let mut found: Option<(ServerAdvertisement, Carrier, String)> = None;
        for (carrier, container, key) in [
            (Carrier::Extensions, "extensions", EXTENSION_ID),
            (Carrier::Experimental, "experimental", LEGACY_KEY),
        ] {
            let Some(map) = json::container(capabilities, "", container)? else {
                continue;
            };
            let Some(value) = map.get(key) else {
                continue;
            };
            let pointer = json::child(&json::child("", container), key);
            let advertisement = ServerAdvertisement::from_value_at(value, &pointer)?;
            match &found {
                None => found = Some((advertisement, carrier, pointer)),
                Some((first, _, first_pointer)) if *first != advertisement => {
                    return Err(ProtocolError::Conflict {
                        first: first_pointer.clone(),
                        second: pointer,
                    });
                }
                Some(_) => {}
            }
        }
        Ok(found.map(|(advertisement, carrier, _)| (advertisement, carrier)))
    }
}

impl Serialize for ServerAdvertisement {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ServerAdvertisement {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        ServerAdvertisement::from_value(&value).map_err(serde::de::Error::custom)
    }
}
