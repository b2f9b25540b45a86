//! The extension version carried in every attestation object.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The version of this extension's wire format, the `version` member of every object.
///
/// Only `0.1.0` exists. An object with another version is refused with
/// [`crate::ProtocolError::UnknownVersion`] rather than read by guesswork.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Version {
    /// `0.1.0`: the version of the original, and the one this crate writes.
    #[default]
    V0_1_0,
}

impl Version {
    /// The wire string, e.g. `0.1.0`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Version::V0_1_0 => "0.1.0",
        }
    }

    /// Parses a wire string.
    pub fn from_wire(s: &str) -> Option<Version> {
        match s {
            "0.1.0" => Some(Version::V0_1_0),
            _ => None,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Version::from_wire(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown version {:?}", crate::json::clip(&s)))
        })
    }
}
