//! Ed25519 keys: strict public-key import, signing keys with a `kid`, PEM and JWK conversion.

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::hazmat::ExpandedSecretKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256, Sha512};
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
pub struct PublicKey {
    /// The canonical 32-byte encoding of A.
    bytes: [u8; 32],
    /// −A, the negated key point, which every verification multiplies.
    minus_a: EdwardsPoint,
}

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
        let point = curve25519_dalek::edwards::CompressedEdwardsY(bytes)
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
        Ok(PublicKey::from_checked(point))
    }

    /// The only constructor: `point` has passed every import check, or is `B·s` for a clamped
    /// secret scalar `s` (never small-order, always torsion-free and canonical).
    #[allow(clippy::arithmetic_side_effects)] // negating a curve point: group arithmetic
    fn from_checked(point: EdwardsPoint) -> PublicKey {
        PublicKey {
            bytes: point.compress().to_bytes(),
            minus_a: -point,
        }
    }

    /// The 32-byte encoding.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Imports an SPKI (`-----BEGIN PUBLIC KEY-----`) PEM document, with every strictness check.
    pub fn from_public_key_pem(pem: &str) -> Result<PublicKey, KeyError> {
        let key = ed25519_dalek::VerifyingKey::from_public_key_pem(pem)
            .map_err(|e| KeyError::Pem(e.to_string()))?;
        PublicKey::from_bytes(key.as_bytes())
    }

    /// Exports as an SPKI PEM document.
    pub fn to_public_key_pem(&self) -> Result<String, KeyError> {
        #[allow(clippy::arithmetic_side_effects)] // negating a curve point: group arithmetic
        let point = -self.minus_a;
        ed25519_dalek::VerifyingKey::from(point)
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
    ///
    /// It accepts exactly what ed25519-dalek's `verify_strict` accepts (the vectors and the
    /// differential tests check it), with less work: `verify_strict` decompresses R, a field
    /// exponentiation, only to refuse small-order points, and checks the key for small order on
    /// every call. Here R's encoding is compared with the fourteen that decode to a point of
    /// small order, and the key was checked once, on import. The equation needs no decompressed
    /// R: `[s]B − [k]A` is compressed and compared byte for byte with R, and a compressed point
    /// is always a canonical encoding of a point on the curve, so an R that is not one never
    /// matches.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), crate::VerifyError> {
        use crate::VerifyError as E;
        let signature: &[u8; 64] = signature
            .try_into()
            .map_err(|_| E::SignatureLength(signature.len()))?;
        let r = signature_half(signature, 0);
        // S ≥ L gives a second valid encoding of the same signature (malleability).
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(signature_half(signature, 32)))
            .ok_or(E::SignatureNonCanonical)?;
        if is_small_order_encoding(&r) {
            return Err(E::SignatureSmallOrder);
        }
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(r)
                .chain_update(self.as_bytes())
                .chain_update(message)
                .finalize()
                .into(),
        );
        let expected = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &self.minus_a, &s);
        if expected.compress().to_bytes() == r {
            Ok(())
        } else {
            Err(E::SignatureMismatch)
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

/// The y coordinates, little-endian, of the points of small order: the five canonical ones and
/// the two non-canonical ones (y = p and y = p + 1, read modulo p as 0 and 1) that decoders
/// accept. With the sign bit clear or set, these are the fourteen encodings that decode to a
/// point of small order; libsodium refuses the same list. `small_order_encodings_are_complete`
/// derives it from curve25519-dalek's eight-torsion points.
const SMALL_ORDER_Y: [[u8; 32]; 7] = [
    // 0: the two points of order 4.
    [0; 32],
    // 1: the identity.
    le_with_ends(0x01, 0x00, 0x00),
    // The two pairs of points of order 8.
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    // p − 1: the point of order 2.
    le_with_ends(0xec, 0xff, 0x7f),
    // p and p + 1: non-canonical 0 and 1.
    le_with_ends(0xed, 0xff, 0x7f),
    le_with_ends(0xee, 0xff, 0x7f),
];

/// 32 bytes: `first`, thirty times `middle`, `last`.
const fn le_with_ends(first: u8, middle: u8, last: u8) -> [u8; 32] {
    let mut bytes = [middle; 32];
    bytes[0] = first;
    bytes[31] = last;
    bytes
}

/// True if `r` decodes to a point of small order.
pub(crate) fn is_small_order_encoding(r: &[u8; 32]) -> bool {
    let mut y = *r;
    y[31] &= 0x7f;
    SMALL_ORDER_Y.contains(&y)
}

/// An Ed25519 signing key with the `kid` under which its public key is published.
///
/// The secret is zeroized on drop. `Debug` never prints it.
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
    /// SHA-512 of the seed, as the secret scalar and the nonce prefix: derived once here instead
    /// of on every signature, as ed25519-dalek's `SigningKey::sign` does. Zeroized on drop.
    expanded: ExpandedSecretKey,
    kid: String,
    public: PublicKey,
}

impl Clone for SigningKey {
    fn clone(&self) -> SigningKey {
        SigningKey {
            key: self.key.clone(),
            expanded: ExpandedSecretKey::from(self.key.as_bytes()),
            kid: self.kid.clone(),
            public: self.public.clone(),
        }
    }
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
        // torsion-free and canonical, so it passes every import check by construction.
        let public = PublicKey::from_checked(key.verifying_key().to_edwards());
        let kid = kid.map_or_else(|| public.thumbprint(), str::to_owned);
        SigningKey {
            expanded: ExpandedSecretKey::from(key.as_bytes()),
            key,
            kid,
            public,
        }
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
        // `expanded` and `public` come from the same seed (`from_dalek`); a mismatched pair
        // would leak the secret, which is why `raw_sign` is in dalek's `hazmat` module.
        ed25519_dalek::hazmat::raw_sign::<Sha512>(&self.expanded, message, self.key.as_ref())
            .to_bytes()
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
