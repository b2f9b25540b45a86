//! Ed25519 keys: strict public-key import, signing keys with a `kid`, PEM and JWK conversion.

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::b64;
use crate::error::KeyError;
use crate::jwk::Jwk;

/// Longest accepted `kid`, in bytes.
pub(crate) const MAX_KID_LEN: usize = 128;

/// True if `kid` is a short string of visible ASCII (no spaces, no control characters).
pub(crate) fn kid_is_valid(kid: &str) -> bool {
    !kid.is_empty() && kid.len() <= MAX_KID_LEN && kid.bytes().all(|b| b.is_ascii_graphic())
}

/// An Ed25519 public key that passed every import check.
///
/// The only ways to get one check that the key is exactly 32 bytes, canonically encoded, not of
/// small order and torsion-free, so a `PublicKey` can never be a weak key that verifies forged
/// signatures (for example the identity point, which accepts `(R = identity, S = 0)` for every
/// message under non-strict verification).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", b64::encode(self.as_bytes()))
    }
}

impl PublicKey {
    /// Imports a public key from its 32-byte encoding, with every strictness check.
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicKey, KeyError> {
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::WrongLength(bytes.len()))?;
        let point = CompressedEdwardsY(bytes)
            .decompress()
            .ok_or(KeyError::NotAPoint)?;
        // Non-canonical encodings (y ≥ p, or x = 0 with the sign bit set) decompress to a point
        // whose canonical encoding differs; two encodings of one key would give two thumbprints.
        if point.compress().to_bytes() != bytes {
            return Err(KeyError::NonCanonical);
        }
        if point.is_small_order() {
            return Err(KeyError::SmallOrder);
        }
        if !point.is_torsion_free() {
            return Err(KeyError::NotTorsionFree);
        }
        Ok(PublicKey(ed25519_dalek::VerifyingKey::from(point)))
    }

    /// The 32-byte encoding.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Imports an SPKI (`-----BEGIN PUBLIC KEY-----`) PEM document, with every strictness check.
    pub fn from_public_key_pem(pem: &str) -> Result<PublicKey, KeyError> {
        let key = ed25519_dalek::VerifyingKey::from_public_key_pem(pem)
            .map_err(|e| KeyError::Pem(e.to_string()))?;
        PublicKey::from_bytes(key.as_bytes())
    }

    /// Exports as an SPKI PEM document.
    pub fn to_public_key_pem(&self) -> Result<String, KeyError> {
        self.0
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::Pem(e.to_string()))
    }

    /// Imports a public JWK (`kty` `OKP`, `crv` `Ed25519`). A JWK with `d` is refused: use
    /// [`SigningKey::from_jwk`] for private keys.
    pub fn from_jwk(jwk: &Jwk) -> Result<PublicKey, KeyError> {
        jwk.check_ed25519(false)?;
        if jwk.d.is_some() {
            return Err(KeyError::UnexpectedPrivate);
        }
        Self::from_jwk_x(jwk)
    }

    fn from_jwk_x(jwk: &Jwk) -> Result<PublicKey, KeyError> {
        let x = jwk.x.as_deref().ok_or(KeyError::Missing("x"))?;
        let bytes = b64::decode(x.as_bytes()).ok_or(KeyError::Base64("x"))?;
        PublicKey::from_bytes(&bytes)
    }

    /// The public JWK for this key, with `kid`, `use: sig` and `alg: EdDSA`.
    pub fn to_jwk(&self, kid: &str) -> Jwk {
        Jwk::ed25519_public(kid, b64::encode(self.as_bytes()))
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): a stable name for this key.
    pub fn thumbprint(&self) -> String {
        // RFC 7638 §3.2: the required members of an OKP key, in lexicographic order, no spaces.
        let canonical = format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            b64::encode(self.as_bytes())
        );
        b64::encode(&Sha256::digest(canonical.as_bytes()))
    }

    /// Verifies `signature` over `message` with strict Ed25519 (RFC 8032 with canonical S,
    /// no small-order R; cofactorless equation).
    ///
    /// This is the raw signature primitive; tokens go through [`crate::verify`].
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), crate::VerifyError> {
        use crate::VerifyError as E;
        let signature: &[u8; 64] = signature
            .try_into()
            .map_err(|_| E::SignatureLength(signature.len()))?;
        let s_bytes: [u8; 32] = signature_half(signature, 32);
        // S ≥ L gives a second valid encoding of the same signature (malleability).
        if bool::from(curve25519_dalek::Scalar::from_canonical_bytes(s_bytes).is_none()) {
            return Err(E::SignatureNonCanonical);
        }
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        match self.0.verify_strict(message, &sig) {
            Ok(()) => Ok(()),
            // The failure path only: say precisely why, for logs.
            Err(_) if r_is_small_order(&signature_half(signature, 0)) => {
                Err(E::SignatureSmallOrder)
            }
            Err(_) => Err(E::SignatureMismatch),
        }
    }
}

fn signature_half(signature: &[u8; 64], start: usize) -> [u8; 32] {
    let mut half = [0u8; 32];
    half.copy_from_slice(
        signature
            .get(start..start.saturating_add(32))
            .unwrap_or(&[0; 32]),
    );
    half
}

fn r_is_small_order(r: &[u8; 32]) -> bool {
    CompressedEdwardsY(*r)
        .decompress()
        .is_some_and(|p| p.is_small_order())
}

/// An Ed25519 signing key with the `kid` under which its public key is published.
///
/// The secret is zeroized on drop. `Debug` never prints it.
#[derive(Clone)]
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
    kid: String,
    public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new key from `rng`, with its RFC 7638 thumbprint as `kid`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> SigningKey {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self::from_dalek(ed25519_dalek::SigningKey::from_bytes(&seed), None)
    }

    /// A key from its 32-byte seed (the RFC 8032 private key) and a `kid`.
    pub fn from_seed(seed: &[u8; 32], kid: &str) -> Result<SigningKey, KeyError> {
        check_kid(kid)?;
        Ok(Self::from_dalek(
            ed25519_dalek::SigningKey::from_bytes(seed),
            Some(kid),
        ))
    }

    fn from_dalek(key: ed25519_dalek::SigningKey, kid: Option<&str>) -> SigningKey {
        // A public key derived from a seed is B·s with clamped s: never small-order, always
        // torsion-free and canonical. The wrapper still goes through the one checked path.
        let public = PublicKey(key.verifying_key());
        let kid = kid.map_or_else(|| public.thumbprint(), str::to_owned);
        SigningKey { key, kid, public }
    }

    /// Replaces the `kid`.
    pub fn with_kid(self, kid: &str) -> Result<SigningKey, KeyError> {
        check_kid(kid)?;
        Ok(SigningKey {
            kid: kid.to_owned(),
            ..self
        })
    }

    /// The key id under which the public key is published.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// The 32-byte seed. Handle with care.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// Signs `message` (raw Ed25519). Tokens go through [`crate::TokenBuilder`].
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.key.sign(message).to_bytes()
    }

    /// Imports a private JWK (`kty` `OKP`, `crv` `Ed25519`, `d`, `x`, `kid`). `x` must be the
    /// public key of `d`.
    pub fn from_jwk(jwk: &Jwk) -> Result<SigningKey, KeyError> {
        jwk.check_ed25519(true)?;
        let kid = jwk.kid.as_deref().ok_or(KeyError::Missing("kid"))?;
        let d = jwk.d.as_deref().ok_or(KeyError::Missing("d"))?;
        let seed = Zeroizing::new(b64::decode(d.as_bytes()).ok_or(KeyError::Base64("d"))?);
        let seed: &[u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::WrongLength(seed.len()))?;
        let key = Self::from_seed(seed, kid)?;
        if PublicKey::from_jwk_x(jwk)? != key.public {
            return Err(KeyError::PrivateMismatch);
        }
        Ok(key)
    }

    /// The private JWK, with `d`. Handle with care.
    pub fn to_private_jwk(&self) -> Jwk {
        let mut jwk = self.public.to_jwk(&self.kid);
        jwk.d = Some(b64::encode(self.seed().as_ref()));
        jwk
    }

    /// The public JWK, without `d`.
    pub fn to_public_jwk(&self) -> Jwk {
        self.public.to_jwk(&self.kid)
    }

    /// Imports a PKCS#8 (`-----BEGIN PRIVATE KEY-----`) PEM document.
    pub fn from_pkcs8_pem(pem: &str, kid: &str) -> Result<SigningKey, KeyError> {
        check_kid(kid)?;
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map_err(|e| KeyError::Pem(e.to_string()))?;
        Ok(Self::from_dalek(key, Some(kid)))
    }

    /// Exports as a PKCS#8 v1 PEM document (RFC 8410 §7: the seed only, as `openssl genpkey`
    /// writes it). Handle with care.
    ///
    /// v1, not v2 with the public key embedded: OpenSSL 3 and the tools built on it refuse v2
    /// Ed25519 documents, and the public key is derived from the seed anyway.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let v1 = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.key.to_bytes(),
            public_key: None,
        };
        v1.to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::Pem(e.to_string()))
    }
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    if kid_is_valid(kid) {
        Ok(())
    } else {
        Err(KeyError::KidInvalid)
    }
}
