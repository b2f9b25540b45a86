//! JWK Sets: strict parsing with caps, `(issuer, kid)` lookup, and the per-key rules.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

use crate::error::{JwksError, KeyError};
use crate::jwk::Jwk;
use crate::key::PublicKey;

/// Caps applied while parsing a JWKS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksLimits {
    /// Largest accepted body, in bytes. Default 64 KiB.
    pub max_body_bytes: usize,
    /// Most keys accepted in one set (of any `kty`). Default 32.
    pub max_keys: usize,
}

impl Default for JwksLimits {
    fn default() -> Self {
        JwksLimits {
            max_body_bytes: 64 * 1024,
            max_keys: 32,
        }
    }
}

/// Members whose presence means a JWK holds private material, for any `kty` (RFC 7518 §6).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// Nesting cap for a JWKS document: `{"keys":[{"key_ops":[..], "x5c":[..]}]}` needs 3.
const MAX_DEPTH: usize = 4;

/// A key that was published but is not usable, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedKey {
    /// Its `kid`, if it had a string one.
    pub kid: Option<String>,
    /// Why it was refused.
    pub error: KeyError,
}

/// The usable Ed25519 keys of one issuer, by `kid`.
///
/// Built by [`KeySet::parse`] from a JWKS document:
/// - keys of another `kty` are skipped and never usable;
/// - an `OKP` key with the wrong `crv`, `alg`, `use` or `key_ops`, without a valid `kid`, or
///   with a weak public key is refused and listed in [`KeySet::rejected`];
/// - a `kid` that appears twice is unusable (both copies), since a verifier cannot know which
///   one the issuer meant;
/// - a private key anywhere refuses the whole set.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, PublicKey>,
    rejected: Vec<RejectedKey>,
    skipped: usize,
}

impl KeySet {
    /// Parses a JWKS body with the given caps.
    pub fn parse(body: &[u8], limits: JwksLimits) -> Result<KeySet, JwksError> {
        if body.len() > limits.max_body_bytes {
            return Err(JwksError::TooLarge {
                len: body.len(),
                max: limits.max_body_bytes,
            });
        }
        let body = std::str::from_utf8(body).map_err(|e| JwksError::Json(e.to_string()))?;
        crate::json::check_object(body, MAX_DEPTH).map_err(|v| match v {
            crate::json::JsonViolation::Syntax(s) => JwksError::Json(s),
            crate::json::JsonViolation::Duplicate(name) => JwksError::DuplicateMember(name),
            crate::json::JsonViolation::TooDeep => JwksError::TooDeep,
        })?;
        let mut doc: Map<String, Value> =
            serde_json::from_str(body).map_err(|e| JwksError::Json(e.to_string()))?;
        let Some(Value::Array(entries)) = doc.remove("keys") else {
            return Err(JwksError::Json("`keys` must be an array".into()));
        };
        if entries.len() > limits.max_keys {
            return Err(JwksError::TooManyKeys {
                count: entries.len(),
                max: limits.max_keys,
            });
        }
        let mut set = KeySet::default();
        let mut seen: HashSet<String> = HashSet::new();
        let mut duplicates: HashSet<String> = HashSet::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let Value::Object(member) = entry else {
                return Err(JwksError::Json(format!("key #{index} is not an object")));
            };
            if PRIVATE_MEMBERS.iter().any(|m| member.contains_key(*m)) {
                return Err(JwksError::PrivateKey(index));
            }
            let kid = member.get("kid").and_then(Value::as_str).map(str::to_owned);
            if let Some(kid) = &kid
                && !seen.insert(kid.clone())
            {
                duplicates.insert(kid.clone());
            }
            if member.get("kty").and_then(Value::as_str) != Some("OKP") {
                set.skipped = set.skipped.saturating_add(1);
                continue;
            }
            match import(member) {
                Ok((kid, key)) => {
                    set.keys.insert(kid, key);
                }
                Err(error) => set.rejected.push(RejectedKey { kid, error }),
            }
        }
        for kid in duplicates {
            set.keys.remove(&kid);
            set.rejected.push(RejectedKey {
                kid: Some(kid),
                error: KeyError::DuplicateKid,
            });
        }
        Ok(set)
    }

    /// A set from keys already held, e.g. an issuer's own. Fails on an invalid or repeated kid.
    pub fn from_keys<'a>(
        keys: impl IntoIterator<Item = (&'a str, PublicKey)>,
    ) -> Result<KeySet, KeyError> {
        let mut set = KeySet::default();
        for (kid, key) in keys {
            if !crate::key::kid_is_valid(kid) {
                return Err(KeyError::KidInvalid);
            }
            if set.keys.insert(kid.to_owned(), key).is_some() {
                return Err(KeyError::DuplicateKid);
            }
        }
        Ok(set)
    }

    /// The usable key for `kid`.
    pub fn get(&self, kid: &str) -> Option<&PublicKey> {
        self.keys.get(kid)
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True if no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The usable kids, sorted.
    pub fn kids(&self) -> Vec<&str> {
        let mut kids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        kids
    }

    /// Published `OKP` keys that were refused, with the reason.
    pub fn rejected(&self) -> &[RejectedKey] {
        &self.rejected
    }

    /// Number of keys of another `kty`, skipped.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The public JWKS document for the usable keys, sorted by kid.
    pub fn to_jwks_json(&self) -> String {
        let keys: BTreeMap<&String, Jwk> = self
            .keys
            .iter()
            .map(|(kid, key)| (kid, key.to_jwk(kid)))
            .collect();
        let keys: Vec<Jwk> = keys.into_values().collect();
        serde_json::json!({ "keys": keys }).to_string()
    }
}

fn import(member: Map<String, Value>) -> Result<(String, PublicKey), KeyError> {
    let jwk: Jwk =
        serde_json::from_value(Value::Object(member)).map_err(|e| KeyError::Json(e.to_string()))?;
    let key = PublicKey::from_jwk(&jwk)?;
    let kid = jwk.kid.ok_or(KeyError::Missing("kid"))?;
    Ok((kid, key))
}

/// Finds the key for a token's `(issuer, kid)`.
///
/// Implementations must bind keys to their issuer: a key published by one issuer is never
/// returned for another.
pub trait KeyResolver {
    /// The usable key that `issuer` publishes under `kid`.
    fn resolve(&self, issuer: &str, kid: &str) -> Option<PublicKey>;
}

/// Key sets by issuer: the simplest [`KeyResolver`].
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    issuers: HashMap<String, KeySet>,
}

impl TrustStore {
    /// An empty store.
    pub fn new() -> TrustStore {
        TrustStore::default()
    }

    /// Sets the keys of `issuer`, replacing any it had.
    pub fn insert(&mut self, issuer: &str, keys: KeySet) {
        self.issuers.insert(issuer.to_owned(), keys);
    }

    /// The keys of `issuer`.
    pub fn get(&self, issuer: &str) -> Option<&KeySet> {
        self.issuers.get(issuer)
    }
}

impl KeyResolver for TrustStore {
    fn resolve(&self, issuer: &str, kid: &str) -> Option<PublicKey> {
        self.issuers.get(issuer)?.get(kid).cloned()
    }
}

impl<T: KeyResolver + ?Sized> KeyResolver for &T {
    fn resolve(&self, issuer: &str, kid: &str) -> Option<PublicKey> {
        (**self).resolve(issuer, kid)
    }
}
