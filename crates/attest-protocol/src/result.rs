//! The server's verification result: `verification_status`, `trust_level`, `verified_claims`
//! and, on failure, `reason`.

use std::fmt;

use attest_core::{AttestationType, Reason};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::EXTENSION_ID;
use crate::error::ProtocolError;
use crate::json;

/// How much the server trusts the agent's identity after verification, ordered
/// `None < Enterprise < Provider`.
///
/// Compare levels with `<` and `>=`, never as strings (the original compared the strings, so
/// `"none" > "enterprise"`). The order ranks first-hand evidence of the model's identity:
///
/// - [`TrustLevel::None`]: nothing was verified: no attestation, or one that failed.
/// - [`TrustLevel::Enterprise`]: a verified `enterprise` attestation. The enterprise that deploys
///   the agent vouches for it; what model runs underneath is its word, second-hand.
/// - [`TrustLevel::Provider`]: a verified `provider` attestation. The provider that runs the
///   model signs its identity, first-hand.
///
/// The wire strings are those of the original (`none`, `enterprise`, `provider`). Later levels
/// (a delegation chain, a key-bound attestation) will be added above, without changing these.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TrustLevel {
    /// Nothing verified.
    None,
    /// A verified enterprise attestation.
    Enterprise,
    /// A verified provider attestation.
    Provider,
}

impl TrustLevel {
    /// Every level, lowest first.
    pub const ALL: [TrustLevel; 3] = [
        TrustLevel::None,
        TrustLevel::Enterprise,
        TrustLevel::Provider,
    ];

    /// The level a verified attestation of `attestation_type` earns.
    pub fn for_type(attestation_type: AttestationType) -> TrustLevel {
        match attestation_type {
            AttestationType::Provider => TrustLevel::Provider,
            AttestationType::Enterprise => TrustLevel::Enterprise,
        }
    }

    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            TrustLevel::None => "none",
            TrustLevel::Enterprise => "enterprise",
            TrustLevel::Provider => "provider",
        }
    }

    /// Parses a wire string.
    pub fn from_wire(s: &str) -> Option<TrustLevel> {
        TrustLevel::ALL
            .into_iter()
            .find(|level| level.as_str() == s)
    }
}

impl fmt::Display for TrustLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TrustLevel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TrustLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TrustLevel::from_wire(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown trust level {:?}", json::clip(&s)))
        })
    }
}

/// The `verification_status` wire values.
const VERIFIED: &str = "verified";
const FAILED: &str = "failed";
const ABSENT: &str = "absent";

/// The members a verification result owns.
pub(crate) const RESULT_MEMBERS: [&str; 4] = [
    "verification_status",
    "trust_level",
    "verified_claims",
    "reason",
];

/// What the server concluded about the client's attestation.
///
/// On the wire: `{verification_status, trust_level, verified_claims?, reason?}`:
///
/// | variant | `verification_status` | `trust_level` | `verified_claims` | `reason` |
/// |---|---|---|---|---|
/// | `Verified` | `verified` | above `none` | optional list of claim names | absent |
/// | `Failed` | `failed` | `none` | absent | required |
/// | `Absent` | `absent` | `none` | absent | absent |
///
/// Any other combination is refused as [`ProtocolError::Inconsistent`]. `verified_claims` is
/// omitted when empty, as in the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerificationResult {
    /// The attestation verified.
    Verified {
        /// The level earned; never [`TrustLevel::None`].
        trust_level: TrustLevel,
        /// The names of the claims the server checked (e.g. `agent_identity`).
        verified_claims: Vec<String>,
    },
    /// An attestation was presented and refused.
    Failed {
        /// Why, as the stable reason class.
        reason: Reason,
    },
    /// No attestation was presented, and policy let the request through.
    Absent,
}

impl VerificationResult {
    /// The trust level this result grants.
    pub fn trust_level(&self) -> TrustLevel {
        match self {
            VerificationResult::Verified { trust_level, .. } => *trust_level,
            VerificationResult::Failed { .. } | VerificationResult::Absent => TrustLevel::None,
        }
    }

    /// The `verification_status` wire string.
    pub fn status(&self) -> &'static str {
        match self {
            VerificationResult::Verified { .. } => VERIFIED,
            VerificationResult::Failed { .. } => FAILED,
            VerificationResult::Absent => ABSENT,
        }
    }

    /// Reads a result strictly from the members of `object` named in the table above. Other
    /// members are not looked at. `at` is the object's JSON Pointer, used in errors.
    pub fn from_object_at(object: &Map<String, Value>, at: &str) -> Result<Self, ProtocolError> {
        let status = json::string(object, at, "verification_status")?;
        let trust_level = json::string(object, at, "trust_level")?;
        let trust_level =
            TrustLevel::from_wire(trust_level).ok_or_else(|| ProtocolError::InvalidValue {
                pointer: json::child(at, "trust_level"),
                value: json::clip(trust_level),
            })?;
        let verified_claims = json::string_list(object, at, "verified_claims")?;
        let reason = match object.get("reason") {
            None => None,
            Some(_) => {
                let reason = json::string(object, at, "reason")?;
                Some(
                    Reason::from_wire(reason).ok_or_else(|| ProtocolError::InvalidValue {
                        pointer: json::child(at, "reason"),
                        value: json::clip(reason),
                    })?,
                )
            }
        };
        let inconsistent = |detail| ProtocolError::Inconsistent {
            pointer: at.to_owned(),
            detail,
        };
        match status {
            VERIFIED => {
                if trust_level == TrustLevel::None {
                    return Err(inconsistent("verified with trust level none"));
                }
                if reason.is_some() {
                    return Err(inconsistent("verified with a reason"));
                }
                Ok(VerificationResult::Verified {
                    trust_level,
                    verified_claims: verified_claims.unwrap_or_default(),
                })
            }
            FAILED | ABSENT => {
                if trust_level != TrustLevel::None {
                    return Err(inconsistent("not verified, yet a trust level above none"));
                }
                if verified_claims.is_some() {
                    return Err(inconsistent("not verified, yet verified claims"));
                }
                match (status, reason) {
                    (FAILED, Some(reason)) => Ok(VerificationResult::Failed { reason }),
                    (FAILED, None) => Err(inconsistent("failed without a reason")),
                    (_, None) => Ok(VerificationResult::Absent),
                    (_, Some(_)) => Err(inconsistent("absent with a reason")),
                }
            }
            other => Err(ProtocolError::InvalidValue {
                pointer: json::child(at, "verification_status"),
                value: json::clip(other),
            }),
        }
    }

    /// Reads a stand-alone result object strictly.
    pub fn from_value(value: &Value) -> Result<Self, ProtocolError> {
        Self::from_object_at(json::object(value, "")?, "")
    }

    /// Writes the result's members into `object`.
    pub(crate) fn write_into(&self, object: &mut Map<String, Value>) {
        object.insert("verification_status".into(), self.status().into());
        object.insert("trust_level".into(), self.trust_level().as_str().into());
        match self {
            VerificationResult::Verified {
                verified_claims, ..
            } if !verified_claims.is_empty() => {
                object.insert("verified_claims".into(), verified_claims.clone().into());
            }
            VerificationResult::Failed { reason } => {
                object.insert("reason".into(), reason.as_str().into());
            }
            _ => {}
        }
    }

    /// The stand-alone result object.
    pub fn to_value(&self) -> Value {
        let mut object = Map::new();
        self.write_into(&mut object);
        Value::Object(object)
    }

    /// Writes the result into a response's `result._meta[EXTENSION_ID]` (protocol 2026-07-28).
    pub fn insert_into_meta(&self, meta: &mut Map<String, Value>) {
        meta.insert(EXTENSION_ID.to_owned(), self.to_value());
    }

    /// Reads the result from a response's `result._meta`. `None` if the server sent none.
    pub fn find_in_meta(meta: &Map<String, Value>) -> Result<Option<Self>, ProtocolError> {
        match meta.get(EXTENSION_ID) {
            None => Ok(None),
            Some(value) => {
                let at = json::child("", EXTENSION_ID);
                Self::from_object_at(json::object(value, &at)?, &at).map(Some)
            }
        }
    }
}

impl Serialize for VerificationResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for VerificationResult {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        VerificationResult::from_value(&value).map_err(serde::de::Error::custom)
    }
}
