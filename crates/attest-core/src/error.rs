//! The typed errors of attest-core, one enum per concern.
//!
//! They are `Clone + PartialEq` so that tests assert on exact variants, and they carry no
//! dependency types, so a dependency upgrade never changes this API.

use crate::reason::Reason;

/// Which segment of a compact JWS an error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The protected header (first segment).
    Header,
    /// The payload, i.e. the claims (second segment).
    Payload,
    /// The signature (third segment).
    Signature,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::Header => "header",
            Part::Payload => "payload",
            Part::Signature => "signature",
        })
    }
}

/// Why a token was rejected, precisely. For logs, metrics and tests.
///
/// Do not send the `Display` text of this error to a peer: send [`VerifyError::reason`], which
/// is coarse on purpose (every signature failure is [`Reason::Invalid`]).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The token is longer than the policy's size cap. Checked before anything else.
    #[error("token is {len} bytes, over the {max}-byte cap")]
    TooLarge {
        /// Length of the token.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The token looks like the JWS JSON serialization; only the compact form is accepted.
    #[error("JWS JSON serialization is not accepted, only the compact form")]
    JsonSerialization,
    /// The token has five segments: it is a JWE, not a JWS.
    #[error("token is a JWE (five segments); a JWS is required")]
    Jwe,
    /// The token does not have exactly three `.`-separated segments.
    #[error("token has {found} segments, expected 3")]
    SegmentCount {
        /// Number of segments found.
        found: usize,
    },
    /// A segment is not strict base64url (padding, `+`/`/`, whitespace, trailing bits, ...).
    #[error("{0} segment is not strict base64url")]
    Base64(Part),
    /// A segment is not a JSON object, or a value has the wrong JSON type.
    #[error("{part} is not valid JSON for its schema: {detail}")]
    Json {
        /// Which segment.
        part: Part,
        /// The parser's description.
        detail: String,
    },
    /// A JSON object repeats a member name (anywhere in header or claims).
    #[error("{part} repeats the JSON member name {name:?}")]
    DuplicateMember {
        /// Which segment.
        part: Part,
        /// The repeated name.
        name: String,
    },
    /// JSON nesting exceeds the depth cap.
    #[error("{part} JSON nests deeper than {max} levels")]
    TooDeep {
        /// Which segment.
        part: Part,
        /// The cap.
        max: usize,
    },
    /// The header has no `alg`, `typ` or `kid`.
    #[error("header parameter `{0}` is missing")]
    MissingHeader(&'static str),
    /// `alg` is not in the exact, case-sensitive allowlist.
    #[error("algorithm {0:?} is not allowed")]
    AlgorithmNotAllowed(String),
    /// The header carries a parameter outside `alg`, `typ`, `kid` (e.g. `jwk`, `jku`, `crit`).
    #[error("header parameter {0:?} is not allowed")]
    HeaderParameterNotAllowed(String),
    /// `typ` is not one the policy accepts.
    #[error("typ {0:?} is not accepted by policy")]
    TypNotAccepted(String),
    /// `kid` is empty, too long, or has characters outside visible ASCII.
    #[error("kid is not a short visible-ASCII string")]
    KidInvalid,
    /// The signature segment does not decode to exactly 64 bytes.
    #[error("signature is {0} bytes, expected 64")]
    SignatureLength(usize),
    /// The signature's S is not reduced modulo L (S ≥ L): a malleated signature.
    #[error("signature scalar S is not canonical (S >= L)")]
    SignatureNonCanonical,
    /// The signature's R is a small-order point.
    #[error("signature point R has small order")]
    SignatureSmallOrder,
    /// The signature does not verify under the key.
    #[error("signature does not verify")]
    SignatureMismatch,
    /// No key is published for the token's `(iss, kid)`.
    #[error("no usable key for this issuer and kid")]
    KeyUnknown,
    /// `iss` is not exactly one of the trusted issuers.
    #[error("issuer is not trusted")]
    IssuerUntrusted,
    /// A claim is missing: a protocol-required one or one the policy requires.
    #[error("claim `{0}` is missing")]
    MissingClaim(String),
    /// A claim has the wrong type or an invalid value (e.g. a non-integer `exp`).
    #[error("claim `{0}` is invalid")]
    InvalidClaim(&'static str),
    /// `exp` has passed, beyond the leeway.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future, beyond the leeway.
    #[error("token is not valid before its nbf")]
    NotYetValid,
    /// `iat` is in the future, beyond the leeway.
    #[error("token was issued in the future")]
    IssuedInFuture,
    /// `exp - iat` is larger than the policy allows.
    #[error("token lifetime {lifetime}s exceeds the {max}s maximum")]
    LifetimeExceeded {
        /// `exp - iat`.
        lifetime: u64,
        /// The policy's maximum.
        max: u64,
    },
    /// `aud` is an empty string or an empty array.
    #[error("aud is empty")]
    AudienceEmpty,
    /// `aud` names none of the expected audiences.
    #[error("aud names none of the expected audiences")]
    AudienceMismatch,
    /// `jti` is longer than the policy's cap.
    #[error("jti is {len} bytes, over the {max}-byte cap")]
    JtiTooLong {
        /// Length of the jti.
        len: usize,
        /// The cap.
        max: usize,
    },
}

impl VerifyError {
    /// The coarse, stable reason to report to a peer and to use as a metric label.
    pub fn reason(&self) -> Reason {
        use VerifyError as E;
        match self {
            E::TooLarge { .. }
            | E::JsonSerialization
            | E::Jwe
            | E::SegmentCount { .. }
            | E::Base64(_)
            | E::Json { .. }
            | E::DuplicateMember { .. }
            | E::TooDeep { .. }
            | E::InvalidClaim(_)
            | E::JtiTooLong { .. } => Reason::Malformed,
            E::MissingHeader(_)
            | E::AlgorithmNotAllowed(_)
            | E::HeaderParameterNotAllowed(_)
            | E::TypNotAccepted(_)
            | E::KidInvalid => Reason::HeaderRejected,
            E::SignatureLength(_)
            | E::SignatureNonCanonical
            | E::SignatureSmallOrder
            | E::SignatureMismatch => Reason::Invalid,
            E::KeyUnknown => Reason::KeyUnknown,
            E::IssuerUntrusted => Reason::IssuerUntrusted,
            E::MissingClaim(_) => Reason::ClaimsInsufficient,
            E::Expired => Reason::Expired,
            E::NotYetValid | E::IssuedInFuture => Reason::NotYetValid,
            E::LifetimeExceeded { .. } => Reason::LifetimeExceeded,
            E::AudienceEmpty | E::AudienceMismatch => Reason::AudienceMismatch,
        }
    }

    /// A stable snake_case name of the precise variant, for logs and conformance vectors.
    pub fn code(&self) -> &'static str {
        use VerifyError as E;
        match self {
            E::TooLarge { .. } => "too_large",
            E::JsonSerialization => "json_serialization",
            E::Jwe => "jwe",
            E::SegmentCount { .. } => "segment_count",
            E::Base64(_) => "base64",
            E::Json { .. } => "json",
            E::DuplicateMember { .. } => "duplicate_member",
            E::TooDeep { .. } => "too_deep",
            E::MissingHeader(_) => "missing_header",
            E::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            E::HeaderParameterNotAllowed(_) => "header_parameter_not_allowed",
            E::TypNotAccepted(_) => "typ_not_accepted",
            E::KidInvalid => "kid_invalid",
            E::SignatureLength(_) => "signature_length",
            E::SignatureNonCanonical => "signature_non_canonical",
            E::SignatureSmallOrder => "signature_small_order",
            E::SignatureMismatch => "signature_mismatch",
            E::KeyUnknown => "key_unknown",
            E::IssuerUntrusted => "issuer_untrusted",
            E::MissingClaim(_) => "missing_claim",
            E::InvalidClaim(_) => "invalid_claim",
            E::Expired => "expired",
            E::NotYetValid => "not_yet_valid",
            E::IssuedInFuture => "issued_in_future",
            E::LifetimeExceeded { .. } => "lifetime_exceeded",
            E::AudienceEmpty => "audience_empty",
            E::AudienceMismatch => "audience_mismatch",
            E::JtiTooLong { .. } => "jti_too_long",
        }
    }
}

/// Why a key was refused at import.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is not exactly 32 bytes.
    #[error("Ed25519 key is {0} bytes, expected 32")]
    WrongLength(usize),
    /// The bytes do not decode to a curve point.
    #[error("public key is not a valid curve point")]
    NotAPoint,
    /// The encoding is not canonical: re-compressing the point gives other bytes.
    #[error("public key encoding is not canonical")]
    NonCanonical,
    /// The point has small order: it would verify forged signatures.
    #[error("public key has small order")]
    SmallOrder,
    /// The point has a small-order component (it is not in the prime-order subgroup).
    #[error("public key is not torsion-free")]
    NotTorsionFree,
    /// A JWK member is not strict base64url.
    #[error("JWK member `{0}` is not strict base64url")]
    Base64(&'static str),
    /// `kty` is not `OKP`.
    #[error("JWK kty {0:?} is not OKP")]
    WrongKty(String),
    /// `crv` is not `Ed25519`.
    #[error("JWK crv {0:?} is not Ed25519")]
    WrongCurve(String),
    /// `alg` is present and is neither `EdDSA` nor `Ed25519`.
    #[error("JWK alg {0:?} is not EdDSA")]
    WrongAlg(String),
    /// `use` is present and is not `sig`.
    #[error("JWK use {0:?} is not sig")]
    WrongUse(String),
    /// `key_ops` is present and allows more than verification (or signing, for a private JWK).
    #[error("JWK key_ops {0:?} is not allowed")]
    WrongKeyOps(Vec<String>),
    /// A required JWK member is missing.
    #[error("JWK member `{0}` is missing")]
    Missing(&'static str),
    /// A JWK imported as public carries the private key `d`.
    #[error("JWK carries private key material where a public key is expected")]
    UnexpectedPrivate,
    /// The private key `d` does not match the public key `x`.
    #[error("JWK d does not match x")]
    PrivateMismatch,
    /// `kid` is empty, too long, or has characters outside visible ASCII.
    #[error("kid is not a short visible-ASCII string")]
    KidInvalid,
    /// The `kid` appears more than once in the set; no copy is usable.
    #[error("kid is published more than once")]
    DuplicateKid,
    /// A JWK is not valid JSON for its schema.
    #[error("JWK is not valid JSON: {0}")]
    Json(String),
    /// A PEM document could not be read.
    #[error("PEM is not a valid Ed25519 PKCS#8/SPKI document: {0}")]
    Pem(String),
}

/// Why a JWKS document was refused as a whole.
///
/// Problems with a single key do not refuse the set: that key is unusable and listed in
/// [`crate::KeySet::rejected`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// The body is over the size cap.
    #[error("JWKS body is {len} bytes, over the {max}-byte cap")]
    TooLarge {
        /// Body length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The body is not a JSON object with a `keys` array of objects.
    #[error("JWKS is not valid JSON: {0}")]
    Json(String),
    /// A JSON object repeats a member name.
    #[error("JWKS repeats the JSON member name {0:?}")]
    DuplicateMember(String),
    /// JSON nesting is deeper than the cap.
    #[error("JWKS JSON nests too deep")]
    TooDeep,
    /// More keys than the cap.
    #[error("JWKS has {count} keys, over the cap of {max}")]
    TooManyKeys {
        /// Number of keys.
        count: usize,
        /// The cap.
        max: usize,
    },
    /// A key carries private material (`d`, or RSA `p`, `q`, ...). The publisher leaked a
    /// private key; nothing in this set is trusted.
    #[error("JWKS key #{0} contains private key material")]
    PrivateKey(usize),
}

/// Why a token could not be built.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A required field was not set on the builder.
    #[error("`{0}` is required to build a token")]
    Missing(&'static str),
    /// The lifetime is zero, or `now + lifetime` overflows.
    #[error("lifetime must be between 1 second and the end of time")]
    Lifetime,
    /// An extension claim reuses the name of a defined claim.
    #[error("extension claim `{0}` reuses the name of a defined claim")]
    ReservedName(&'static str),
    /// The claims could not be serialized.
    #[error("claims could not be serialized: {0}")]
    Serialize(String),
}

/// Why a [`crate::Policy`] could not be built.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// No trusted issuer: such a policy would reject everything, which is surely a mistake.
    #[error("a policy needs at least one trusted issuer")]
    NoTrustedIssuer,
    /// No expected audience.
    #[error("a policy needs at least one expected audience")]
    NoAudience,
    /// An issuer or audience is empty or has surrounding whitespace.
    #[error("{0:?} is not a valid issuer or audience")]
    InvalidName(String),
    /// No algorithm accepted.
    #[error("a policy needs at least one accepted algorithm")]
    NoAlgorithm,
    /// No `typ` accepted.
    #[error("a policy needs at least one accepted typ")]
    NoTyp,
    /// The maximum lifetime is zero.
    #[error("the maximum lifetime must be at least 1 second")]
    MaxLifetime,
}

/// Why a proof of possession was refused, precisely (SPEC.md §17). For logs, metrics and tests.
///
/// As with [`VerifyError`], tell a peer only [`ProofError::reason`]: every malformed proof and
/// every signature failure is the same [`Reason::ProofInvalid`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// No proof was presented where policy requires one.
    #[error("no proof of possession was presented")]
    Missing,
    /// The verified attestation has no `cnf` claim, so no proof can be bound to it.
    #[error("the attestation has no confirmation key (cnf)")]
    NoConfirmationKey,
    /// The attestation's `cnf` does not name a usable Ed25519 public key.
    #[error("the attestation's confirmation key is unusable")]
    ConfirmationKeyInvalid,
    /// The proof is longer than the size cap.
    #[error("proof is {len} bytes, over the {max}-byte cap")]
    TooLarge {
        /// Length of the proof.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The proof looks like the JWS JSON serialization; only the compact form is accepted.
    #[error("JWS JSON serialization is not accepted, only the compact form")]
    JsonSerialization,
    /// The proof does not have exactly three `.`-separated segments.
    #[error("proof has {found} segments, expected 3")]
    SegmentCount {
        /// Number of segments found.
        found: usize,
    },
    /// A segment is not strict base64url.
    #[error("{0} segment is not strict base64url")]
    Base64(Part),
    /// A segment is not a JSON object, or a value has the wrong JSON type.
    #[error("{part} is not valid JSON: {detail}")]
    Json {
        /// Which segment.
        part: Part,
        /// The parser's description.
        detail: String,
    },
    /// A JSON object repeats a member name.
    #[error("{part} repeats the JSON member name {name:?}")]
    DuplicateMember {
        /// Which segment.
        part: Part,
        /// The repeated name.
        name: String,
    },
    /// JSON nesting exceeds the depth cap.
    #[error("{part} JSON nests deeper than {max} levels")]
    TooDeep {
        /// Which segment.
        part: Part,
        /// The cap.
        max: usize,
    },
    /// The header has no `alg` or `typ`.
    #[error("header parameter `{0}` is missing")]
    MissingHeader(&'static str),
    /// `alg` is not exactly `EdDSA`.
    #[error("algorithm {0:?} is not allowed in a proof")]
    AlgorithmNotAllowed(String),
    /// `typ` is not exactly `agent-proof+jwt`.
    #[error("typ {0:?} is not a proof type")]
    TypNotAccepted(String),
    /// The header carries a parameter other than `alg`, `typ` and (in the `jkt` case) `jwk`.
    #[error("header parameter {0:?} is not allowed in a proof")]
    HeaderParameterNotAllowed(String),
    /// The header carries `jwk` although the attestation's `cnf` holds the key itself.
    #[error("header jwk is not allowed when cnf carries the key")]
    JwkNotAllowed,
    /// The attestation's `cnf` holds only a thumbprint (`jkt`) and the header has no `jwk`.
    #[error("header jwk is required when cnf carries only a thumbprint")]
    JwkMissing,
    /// The header `jwk` is not a strict Ed25519 public key.
    #[error("header jwk is not a usable Ed25519 public key")]
    JwkInvalid,
    /// The header `jwk` is a key other than the one `cnf.jkt` names.
    #[error("header jwk does not match cnf.jkt")]
    JwkThumbprintMismatch,
    /// A required claim is missing.
    #[error("proof claim `{0}` is missing")]
    MissingClaim(&'static str),
    /// A claim has the wrong type or an invalid value.
    #[error("proof claim `{0}` is invalid")]
    InvalidClaim(&'static str),
    /// `jti` is longer than the cap.
    #[error("proof jti is {len} bytes, over the {max}-byte cap")]
    JtiTooLong {
        /// Length of the jti.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The signature segment does not decode to exactly 64 bytes.
    #[error("signature is {0} bytes, expected 64")]
    SignatureLength(usize),
    /// The signature's S is not reduced modulo L.
    #[error("signature scalar S is not canonical (S >= L)")]
    SignatureNonCanonical,
    /// The signature's R is a small-order point.
    #[error("signature point R has small order")]
    SignatureSmallOrder,
    /// The signature does not verify under the confirmation key: not signed by the agent.
    #[error("signature does not verify under the confirmation key")]
    SignatureMismatch,
    /// `ath` is not the hash of the attestation presented with (or bound to) the request.
    #[error("ath does not match the attestation")]
    TokenHashMismatch,
    /// `aud` names none of the server's audiences.
    #[error("aud names none of the expected audiences")]
    AudienceMismatch,
    /// `mth` is not the request's method.
    #[error("mth does not match the request's method")]
    MethodMismatch,
    /// `nam` is not the request's tool, resource or prompt name (or is present where the
    /// method has none, or absent where it has one).
    #[error("nam does not match the request's name")]
    NameMismatch,
    /// `ph` is not the hash of the request's params.
    #[error("ph does not match the request's params")]
    ParamsHashMismatch,
    /// `nonce` is not the nonce the server expects.
    #[error("nonce does not match")]
    NonceMismatch,
    /// `iat` is older than the proof window.
    #[error("proof is older than the proof window")]
    TooOld,
    /// `iat` is in the future, beyond the leeway.
    #[error("proof was issued in the future")]
    IssuedInFuture,
    /// The request's params could not be canonicalized (RFC 8785) for hashing.
    #[error("params cannot be canonicalized: {0}")]
    Canonicalization(String),
}

impl ProofError {
    /// The coarse, stable reason to report to a peer and to use as a metric label.
    pub fn reason(&self) -> Reason {
        use ProofError as E;
        match self {
            E::Missing => Reason::ProofRequired,
            E::TokenHashMismatch
            | E::AudienceMismatch
            | E::MethodMismatch
            | E::NameMismatch
            | E::ParamsHashMismatch
            | E::NonceMismatch => Reason::ProofMismatch,
            E::TooOld | E::IssuedInFuture => Reason::ProofStale,
            E::NoConfirmationKey
            | E::ConfirmationKeyInvalid
            | E::TooLarge { .. }
            | E::JsonSerialization
            | E::SegmentCount { .. }
            | E::Base64(_)
            | E::Json { .. }
            | E::DuplicateMember { .. }
            | E::TooDeep { .. }
            | E::MissingHeader(_)
            | E::AlgorithmNotAllowed(_)
            | E::TypNotAccepted(_)
            | E::HeaderParameterNotAllowed(_)
            | E::JwkNotAllowed
            | E::JwkMissing
            | E::JwkInvalid
            | E::JwkThumbprintMismatch
            | E::MissingClaim(_)
            | E::InvalidClaim(_)
            | E::JtiTooLong { .. }
            | E::SignatureLength(_)
            | E::SignatureNonCanonical
            | E::SignatureSmallOrder
            | E::SignatureMismatch
            | E::Canonicalization(_) => Reason::ProofInvalid,
        }
    }

    /// A stable snake_case name of the precise variant, for logs and conformance vectors.
    pub fn code(&self) -> &'static str {
        use ProofError as E;
        match self {
            E::Missing => "proof_missing",
            E::NoConfirmationKey => "no_confirmation_key",
            E::ConfirmationKeyInvalid => "confirmation_key_invalid",
            E::TooLarge { .. } => "too_large",
            E::JsonSerialization => "json_serialization",
            E::SegmentCount { .. } => "segment_count",
            E::Base64(_) => "base64",
            E::Json { .. } => "json",
            E::DuplicateMember { .. } => "duplicate_member",
            E::TooDeep { .. } => "too_deep",
            E::MissingHeader(_) => "missing_header",
            E::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            E::TypNotAccepted(_) => "typ_not_accepted",
            E::HeaderParameterNotAllowed(_) => "header_parameter_not_allowed",
            E::JwkNotAllowed => "jwk_not_allowed",
            E::JwkMissing => "jwk_missing",
            E::JwkInvalid => "jwk_invalid",
            E::JwkThumbprintMismatch => "jwk_thumbprint_mismatch",
            E::MissingClaim(_) => "missing_claim",
            E::InvalidClaim(_) => "invalid_claim",
            E::JtiTooLong { .. } => "jti_too_long",
            E::SignatureLength(_) => "signature_length",
            E::SignatureNonCanonical => "signature_non_canonical",
            E::SignatureSmallOrder => "signature_small_order",
            E::SignatureMismatch => "signature_mismatch",
            E::TokenHashMismatch => "ath_mismatch",
            E::AudienceMismatch => "aud_mismatch",
            E::MethodMismatch => "mth_mismatch",
            E::NameMismatch => "nam_mismatch",
            E::ParamsHashMismatch => "ph_mismatch",
            E::NonceMismatch => "nonce_mismatch",
            E::TooOld => "too_old",
            E::IssuedInFuture => "issued_in_future",
            E::Canonicalization(_) => "canonicalization",
        }
    }
}
