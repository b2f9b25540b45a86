//! Record keys: input checks and the hashing that keeps issuer and `jti` out of key syntax.
//!
//! Pure code, no I/O. A key is
//! `{prefix}:{b64url(sha256(issuer))[..22]}:{b64url(sha256(jti))}`:
//! - neither the issuer nor the `jti` ever appears raw, so a `jti` containing `:`, `*`, `{`,
//!   spaces, control bytes or the prefix itself cannot inject key syntax, match a pattern, or
//!   collide with another namespace;
//! - the issuer part (22 base64url characters, 132 bits of SHA-256) separates issuers, so two
//!   issuers may use the same `jti`;
//! - the `jti` part is the full SHA-256 (43 characters).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::error::CacheError;

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "attest:jti";
/// The default cap on a `jti`, in bytes. (attest-core's policy caps it at 128 by default; this
/// is the store's own line of defence.)
pub const DEFAULT_MAX_JTI_BYTES: usize = 256;
/// The longest key prefix accepted.
pub const MAX_PREFIX_BYTES: usize = 64;
/// Characters of the issuer hash kept in a key.
pub const ISSUER_HASH_CHARS: usize = 22;
/// Characters of the `jti` hash in a key (the whole SHA-256, base64url).
pub const JTI_HASH_CHARS: usize = 43;

/// How record keys are made: the prefix and the `jti` length cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyScheme {
    prefix: String,
    max_jti_bytes: usize,
}

impl Default for KeyScheme {
    fn default() -> Self {
        KeyScheme {
            prefix: DEFAULT_PREFIX.to_owned(),
            max_jti_bytes: DEFAULT_MAX_JTI_BYTES,
        }
    }
}

impl KeyScheme {
    /// A scheme with `prefix` and the default `jti` cap.
    ///
    /// The prefix is 1 to 64 characters from `A-Z a-z 0-9 : _ . -`, and neither starts nor ends
    /// with `:`. (No `{` or `}`: a Redis Cluster hash tag in the prefix would pin every record to
    /// one slot.)
    ///
    /// # Errors
    /// [`CacheError::Config`] for a prefix outside those rules.
    pub fn new(prefix: impl Into<String>) -> Result<Self, CacheError> {
        let prefix = prefix.into();
        validate_prefix(&prefix)?;
        Ok(KeyScheme {
            prefix,
            max_jti_bytes: DEFAULT_MAX_JTI_BYTES,
        })
    }

    /// The same scheme with another `jti` cap.
    ///
    /// # Errors
    /// [`CacheError::Config`] for a cap of 0.
    pub fn with_max_jti_bytes(mut self, max: usize) -> Result<Self, CacheError> {
        if max == 0 {
            return Err(CacheError::Config("the jti cap must be at least 1".into()));
        }
        self.max_jti_bytes = max;
        Ok(self)
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The `jti` cap in bytes.
    pub fn max_jti_bytes(&self) -> usize {
        self.max_jti_bytes
    }

    /// Checks the input and hashes it. This is the first thing every check does, before any
    /// I/O: an empty or over-long `jti` never reaches a backend.
    ///
    /// # Errors
    /// [`CacheError::EmptyIssuer`], [`CacheError::EmptyJti`], [`CacheError::JtiTooLong`].
    pub fn digest(&self, issuer: &str, jti: &str) -> Result<KeyDigest, CacheError> {
        if issuer.is_empty() {
            return Err(CacheError::EmptyIssuer);
        }
        if jti.is_empty() {
            return Err(CacheError::EmptyJti);
        }
        if jti.len() > self.max_jti_bytes {
            return Err(CacheError::JtiTooLong {
                len: jti.len(),
                max: self.max_jti_bytes,
            });
        }
        Ok(KeyDigest {
            issuer: Sha256::digest(issuer.as_bytes()).into(),
            jti: Sha256::digest(jti.as_bytes()).into(),
        })
    }

    /// The Redis key for a digest: `{prefix}:{issuer hash, 22}:{jti hash, 43}`.
    pub fn redis_key(&self, digest: &KeyDigest) -> String {
        let mut key = String::with_capacity(
            self.prefix
                .len()
                .saturating_add(2 + ISSUER_HASH_CHARS + JTI_HASH_CHARS),
        );
        key.push_str(&self.prefix);
        key.push(':');
        let issuer = URL_SAFE_NO_PAD.encode(digest.issuer);
        key.push_str(issuer.get(..ISSUER_HASH_CHARS).unwrap_or(&issuer));
        key.push(':');
        URL_SAFE_NO_PAD.encode_string(digest.jti, &mut key);
        key
    }

    /// The Redis key for `(issuer, jti)`, after the input checks of [`digest`](Self::digest).
    ///
    /// # Errors
    /// As [`digest`](Self::digest).
    pub fn key(&self, issuer: &str, jti: &str) -> Result<String, CacheError> {
        self.digest(issuer, jti).map(|d| self.redis_key(&d))
    }
}

/// The SHA-256 of an issuer and of a `jti`: what a record is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDigest {
    issuer: [u8; 32],
    jti: [u8; 32],
}

impl KeyDigest {
    /// The first 8 bytes of the issuer hash and of the `jti` hash, as integers: for hashing and
    /// sharding in memory (they are SHA-256 output, so uniformly distributed).
    pub(crate) fn words(&self) -> (u64, u64) {
        let word = |hash: &[u8; 32]| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(hash.get(..8).unwrap_or(&[0; 8]));
            u64::from_le_bytes(bytes)
        };
        (word(&self.issuer), word(&self.jti))
    }

    /// A short, non-reversible label for logs: the first 8 base64url characters of the `jti`
    /// hash. The raw `jti` is never logged.
    pub fn log_label(&self) -> String {
        let mut label = URL_SAFE_NO_PAD.encode(self.jti);
        label.truncate(8);
        label
    }
}

fn validate_prefix(prefix: &str) -> Result<(), CacheError> {
    if prefix.is_empty() || prefix.len() > MAX_PREFIX_BYTES {
        return Err(CacheError::Config(format!(
            "the key prefix must be 1 to {MAX_PREFIX_BYTES} bytes"
        )));
    }
    if prefix.starts_with(':') || prefix.ends_with(':') {
        return Err(CacheError::Config(
            "the key prefix must not start or end with ':'".into(),
        ));
    }
    if !prefix
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.' | b'-'))
    {
        return Err(CacheError::Config(
            "the key prefix may contain only A-Z a-z 0-9 : _ . -".into(),
        ));
    }
    Ok(())
}
