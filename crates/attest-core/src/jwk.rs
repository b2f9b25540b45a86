//! JSON Web Keys (RFC 7517 / RFC 8037) for Ed25519.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

use crate::error::KeyError;

/// A JSON Web Key as it appears on the wire.
///
/// This is the raw, untrusted form: import it with [`crate::PublicKey::from_jwk`] or
/// [`crate::SigningKey::from_jwk`], which apply every check. Members other than the ones named
/// here are kept in `other`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type; `OKP` for Ed25519.
    pub kty: String,
    /// Curve; `Ed25519`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Intended use; `sig` if present.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Permitted operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// Algorithm; `EdDSA` (or `Ed25519`, RFC 9864) if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Public key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Private key (the seed), base64url. Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    /// Any other members.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("crv", &self.crv)
            .field("kid", &self.kid)
            .field("x", &self.x)
            .field("d", &self.d.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl Jwk {
    /// A public Ed25519 JWK with `use: sig` and `alg: EdDSA`.
    pub(crate) fn ed25519_public(kid: &str, x: String) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            kid: Some(kid.into()),
            use_: Some("sig".into()),
            key_ops: None,
            alg: Some("EdDSA".into()),
            x: Some(x),
            d: None,
            other: BTreeMap::new(),
        }
    }

    /// Parses one JWK from JSON.
    pub fn from_json(json: &str) -> Result<Jwk, KeyError> {
        crate::json::check_object(json, 4).map_err(|v| KeyError::Json(format!("{v:?}")))?;
        serde_json::from_str(json).map_err(|e| KeyError::Json(e.to_string()))
    }

    /// Serializes to compact JSON.
    pub fn to_json(&self) -> String {
        // A struct of strings and a string map always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// This JWK without private material.
    pub fn to_public(&self) -> Jwk {
        Jwk {
            d: None,
            ..self.clone()
        }
    }

    /// Checks the members that make this an Ed25519 signature key. `private` allows `sign` in
    /// `key_ops`.
    pub(crate) fn check_ed25519(&self, private: bool) -> Result<(), KeyError> {
        if self.kty != "OKP" {
            return Err(KeyError::WrongKty(self.kty.clone()));
        }
        match self.crv.as_deref() {
            Some("Ed25519") => {}
            other => return Err(KeyError::WrongCurve(other.unwrap_or_default().to_owned())),
        }
        if let Some(alg) = self
            .alg
            .as_deref()
            .filter(|a| !matches!(*a, "EdDSA" | "Ed25519"))
        {
            return Err(KeyError::WrongAlg(alg.to_owned()));
        }
        if let Some(use_) = self.use_.as_deref().filter(|u| *u != "sig") {
            return Err(KeyError::WrongUse(use_.to_owned()));
        }
        if let Some(ops) = &self.key_ops {
            let allowed = |op: &String| op == "verify" || (private && op == "sign");
            // RFC 7517 §4.3: no duplicate values.
            let unique = ops
                .iter()
                .enumerate()
                .all(|(i, op)| !ops.iter().skip(i.saturating_add(1)).any(|o| o == op));
            if ops.is_empty() || !unique || !ops.iter().all(allowed) {
                return Err(KeyError::WrongKeyOps(ops.clone()));
            }
        }
        if self
            .kid
            .as_deref()
            .is_some_and(|k| !crate::key::kid_is_valid(k))
        {
            return Err(KeyError::KidInvalid);
        }
        Ok(())
    }
}
