//! Issuer side: a key ring that signs with its current key and publishes the public keys
//! verifiers need, with rotation, `Cache-Control` and a strong `ETag`.
//!
//! [`KeyRing::respond`] answers a JWKS request without any server framework; with the `axum`
//! feature, [`router`] serves it at `/.well-known/jwks.json`.

use std::fmt::Write as _;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use attest_core::{KeySet, PublicKey, SigningKey, UnixTime};
use sha2::{Digest, Sha256};

use crate::error::JwksError;

/// The media type of a JWK Set (RFC 7517 §8.5).
pub const JWKS_CONTENT_TYPE: &str = "application/jwk-set+json";

/// How long retired keys stay published, and what verifiers are told to cache.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRingConfig {
    /// The longest lifetime of a token this issuer signs. Default 300 s (the protocol's default
    /// lifetime).
    pub max_token_lifetime: Duration,
    /// The verifiers' clock-skew leeway. Default 30 s.
    pub leeway: Duration,
    /// `Cache-Control: public, max-age` of the published set. Default 300 s.
    pub max_age: Duration,
}

impl Default for KeyRingConfig {
    fn default() -> Self {
        KeyRingConfig {
            max_token_lifetime: Duration::from_secs(300),
            leeway: Duration::from_secs(30),
            max_age: Duration::from_secs(300),
        }
    }
}

impl KeyRingConfig {
    /// How long a key stays published after it stops signing: the maximum token lifetime
    /// plus the leeway, so that every token it signed expires (for every verifier) before the
    /// key disappears.
    pub fn overlap(&self) -> Duration {
        self.max_token_lifetime.saturating_add(self.leeway)
    }
}

/// A public key that no longer signs, published until `until`.
#[derive(Debug, Clone)]
struct Retired {
    kid: String,
    key: PublicKey,
    until: UnixTime,
}

#[derive(Debug)]
struct Ring {
    current: SigningKey,
    retired: Vec<Retired>,
    document: Arc<Document>,
}

/// The published JWKS body and its strong validator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The JSON body (keys sorted by kid).
    pub body: String,
    /// The strong `ETag`: the quoted hex SHA-256 of the body.
    pub etag: String,
}

impl Document {
    fn new(ring_current: &SigningKey, retired: &[Retired]) -> Document {
        let mut keys: Vec<(&str, PublicKey)> =
            vec![(ring_current.kid(), ring_current.public_key())];
        keys.extend(retired.iter().map(|r| (r.kid.as_str(), r.key.clone())));
        // The ring never holds a repeated or invalid kid (checked on rotation), so this never
        // falls back; if it did, the current key alone is still published.
        let body = KeySet::from_keys(keys)
            .or_else(|_| KeySet::from_keys([(ring_current.kid(), ring_current.public_key())]))
            .map(|set| set.to_jwks_json())
            .unwrap_or_else(|_| r#"{"keys":[]}"#.to_owned());
        let digest = Sha256::digest(body.as_bytes());
        let mut etag = String::with_capacity(66);
        etag.push('"');
        for byte in digest.iter() {
            // Writing to a String cannot fail.
            let _ = write!(etag, "{byte:02x}");
        }
        etag.push('"');
        Document { body, etag }
    }
}

/// An HTTP answer to a JWKS request, independent of any server framework.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksResponse {
    /// 200, or 304 when `If-None-Match` matched.
    pub status: u16,
    /// Headers to send: `Content-Type` (200 only), `Cache-Control`, `ETag`.
    pub headers: Vec<(&'static str, String)>,
    /// The body; empty for 304.
    pub body: String,
}

/// The signing key of an issuer and the public keys it publishes.
///
/// Cheap to clone (an `Arc`): clones share the ring, so a rotation is visible at once to the
/// handler serving it, without a restart.
#[derive(Debug, Clone)]
pub struct KeyRing {
    inner: Arc<RwLock<Ring>>,
    config: KeyRingConfig,
}

impl KeyRing {
    /// A ring whose current (signing and published) key is `current`.
    pub fn new(current: SigningKey) -> KeyRing {
        KeyRing::with_config(current, KeyRingConfig::default())
    }

    /// A ring with explicit overlap and caching settings.
    pub fn with_config(current: SigningKey, config: KeyRingConfig) -> KeyRing {
        let document = Arc::new(Document::new(&current, &[]));
        KeyRing {
            inner: Arc::new(RwLock::new(Ring {
                current,
                retired: Vec::new(),
                document,
            })),
            config,
        }
    }

    /// The settings.
    pub fn config(&self) -> &KeyRingConfig {
        &self.config
    }

    /// The key to sign new tokens with.
    pub fn current(&self) -> SigningKey {
        self.read(|ring| ring.current.clone())
    }

    /// Makes `new_key` the signing key. The previous key stays published until
    /// `now + max_token_lifetime + leeway`, so tokens it signed keep verifying until they
    /// expire; [`KeyRing::prune`] removes it after that.
    ///
    /// Refused if `new_key`'s kid is already published (current or retired).
    pub fn rotate(&self, new_key: SigningKey, now: UnixTime) -> Result<(), JwksError> {
        let mut ring = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let kid = new_key.kid();
        if ring.current.kid() == kid || ring.retired.iter().any(|r| r.kid == kid) {
            return Err(JwksError::KidInUse(kid.to_owned()));
        }
        let overlap = self.config.overlap().as_secs();
        let old = std::mem::replace(&mut ring.current, new_key);
        ring.retired.push(Retired {
            kid: old.kid().to_owned(),
            key: old.public_key(),
            until: now.saturating_add(overlap),
        });
        ring.document = Arc::new(Document::new(&ring.current, &ring.retired));
        Ok(())
    }

    /// Drops retired keys whose overlap has ended at `now`. Returns how many were dropped.
    pub fn prune(&self, now: UnixTime) -> usize {
        let mut ring = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let before = ring.retired.len();
        ring.retired.retain(|r| r.until > now);
        let dropped = before.saturating_sub(ring.retired.len());
        if dropped > 0 {
            ring.document = Arc::new(Document::new(&ring.current, &ring.retired));
        }
        dropped
    }

    /// The published kids: the current one first, then the retired ones, oldest first.
    pub fn published_kids(&self) -> Vec<String> {
        self.read(|ring| {
            std::iter::once(ring.current.kid().to_owned())
                .chain(ring.retired.iter().map(|r| r.kid.clone()))
                .collect()
        })
    }

    /// The published document (body and `ETag`).
    pub fn document(&self) -> Arc<Document> {
        self.read(|ring| Arc::clone(&ring.document))
    }

    /// The published keys as a [`KeySet`], e.g. for a verifier in the same process.
    pub fn key_set(&self) -> KeySet {
        let body = self.document();
        KeySet::parse(body.body.as_bytes(), attest_core::JwksLimits::default()).unwrap_or_default()
    }

    /// The answer to `GET /.well-known/jwks.json` with this `If-None-Match` header value:
    /// 304 if it names the current `ETag` (or `*`), else 200 with the body.
    pub fn respond(&self, if_none_match: Option<&str>) -> JwksResponse {
        let document = self.document();
        let cache_control = format!("public, max-age={}", self.config.max_age.as_secs());
        if if_none_match.is_some_and(|header| etag_matches(header, &document.etag)) {
            return JwksResponse {
                status: 304,
                headers: vec![
                    ("cache-control", cache_control),
                    ("etag", document.etag.clone()),
                ],
                body: String::new(),
            };
        }
        JwksResponse {
            status: 200,
            headers: vec![
                ("content-type", JWKS_CONTENT_TYPE.to_owned()),
                ("cache-control", cache_control),
                ("etag", document.etag.clone()),
            ],
            body: document.body.clone(),
        }
    }

    fn read<T>(&self, f: impl FnOnce(&Ring) -> T) -> T {
        f(&self.inner.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// `If-None-Match` uses the weak comparison (RFC 9110 §13.1.2): `W/"x"` matches `"x"`.
pub(crate) fn etag_matches(header: &str, etag: &str) -> bool {
    let bare = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let etag = bare(etag);
    header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || bare(candidate) == etag)
}

/// An axum router serving `ring` at `GET /.well-known/jwks.json` (and `HEAD`), with
/// `Cache-Control`, `ETag` and `304 Not Modified`. Merge it into your application's router.
#[cfg(feature = "axum")]
pub fn router(ring: KeyRing) -> axum::Router {
    axum::Router::new()
        .route(
            crate::url::WELL_KNOWN_JWKS_PATH,
            axum::routing::get(jwks_handler),
        )
        .with_state(ring)
}

/// The axum handler behind [`router`], to mount at another path.
#[cfg(feature = "axum")]
pub async fn jwks_handler(
    axum::extract::State(ring): axum::extract::State<KeyRing>,
    headers: http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let if_none_match = headers
        .get(http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let answer = ring.respond(if_none_match);
    let mut response = answer.body.into_response();
    *response.status_mut() =
        http::StatusCode::from_u16(answer.status).unwrap_or(http::StatusCode::OK);
    let out = response.headers_mut();
    if answer.status == 304 {
        out.remove(http::header::CONTENT_TYPE);
    }
    for (name, value) in answer.headers {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            out.insert(name, value);
        }
    }
    response
}
