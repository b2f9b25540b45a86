//! Creating tokens: the JOSE header, the claims builder, and compact-JWS encoding.

use std::collections::BTreeMap;

use rand_core::CryptoRng;
use serde::Serialize;
use serde_json::Value;

use crate::b64;
use crate::claims::{
    AgentIdentity, AgentIntegrity, AttestationMetadata, Audience, AudienceRef, Claims, ClaimsRef,
    Confirmation,
};
use crate::error::BuildError;
use crate::key::SigningKey;
use crate::time::UnixTime;
use crate::write;

/// The JOSE header of an attestation token. Exactly these three parameters are allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Header {
    /// `EdDSA` or `Ed25519`.
    pub alg: String,
    /// The explicit type, e.g. `agent-attestation+jwt`.
    pub typ: String,
    /// The signing key's id.
    pub kid: String,
}

/// The `typ` written into a token's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenType {
    /// `agent-attestation+jwt`: the explicit type (RFC 8725 §3.11). The default.
    #[default]
    Attestation,
    /// `JWT`: for servers that only know the 0.1.0 original.
    Jwt,
}

impl TokenType {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Attestation => crate::TYP_ATTESTATION,
            TokenType::Jwt => crate::TYP_JWT_COMPAT,
        }
    }
}

/// Builds and signs an attestation token.
///
/// The same inputs (key, claims, `now` and the RNG's output) give byte-identical tokens: Ed25519
/// signatures are deterministic, and claims serialize in a fixed order.
#[derive(Debug, Clone)]
#[must_use]
pub struct TokenBuilder {
    iss: String,
    sub: String,
    aud: Vec<String>,
    identity: Option<AgentIdentity>,
    integrity: Option<AgentIntegrity>,
    metadata: Option<AttestationMetadata>,
    cnf: Option<Confirmation>,
    not_before: Option<UnixTime>,
    lifetime_secs: u64,
    typ: TokenType,
    extra: BTreeMap<String, Value>,
}

impl TokenBuilder {
    /// Default token lifetime: 300 seconds, as in the 0.1.0 original.
    pub const DEFAULT_LIFETIME_SECS: u64 = 300;

    /// Starts a token for issuer `iss` about agent `sub`.
    pub fn new(iss: impl Into<String>, sub: impl Into<String>) -> TokenBuilder {
        TokenBuilder {
            iss: iss.into(),
            sub: sub.into(),
            aud: Vec::new(),
            identity: None,
            integrity: None,
            metadata: None,
            cnf: None,
            not_before: None,
            lifetime_secs: Self::DEFAULT_LIFETIME_SECS,
            typ: TokenType::default(),
            extra: BTreeMap::new(),
        }
    }

    /// Adds an audience. One audience is written as a string, several as an array.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.aud.push(aud.into());
        self
    }

    /// Sets `agent_identity` (required).
    pub fn identity(mut self, identity: AgentIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Sets `agent_integrity`.
    pub fn integrity(mut self, integrity: AgentIntegrity) -> Self {
        self.integrity = Some(integrity);
        self
    }

    /// Sets `attestation_metadata` (required).
    pub fn metadata(mut self, metadata: AttestationMetadata) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Sets `cnf`, the key the agent will prove it holds.
    pub fn confirmation(mut self, cnf: Confirmation) -> Self {
        self.cnf = Some(cnf);
        self
    }

    /// Sets `nbf`.
    pub fn not_before(mut self, nbf: UnixTime) -> Self {
        self.not_before = Some(nbf);
        self
    }

    /// Sets the lifetime (`exp - iat`). Default 300 s.
    pub fn lifetime_secs(mut self, secs: u64) -> Self {
        self.lifetime_secs = secs;
        self
    }

    /// Sets the header `typ`. Default [`TokenType::Attestation`].
    pub fn typ(mut self, typ: TokenType) -> Self {
        self.typ = typ;
        self
    }

    /// Adds a claim this crate does not define. A name that a defined claim uses is refused at
    /// build time.
    pub fn extra_claim(mut self, name: impl Into<String>, value: Value) -> Self {
        self.extra.insert(name.into(), value);
        self
    }

    /// The claims this builder would sign at `now`, with a fresh UUID v4 `jti` from `rng`.
    pub fn build_claims<R: CryptoRng + ?Sized>(
        &self,
        now: UnixTime,
        rng: &mut R,
    ) -> Result<Claims, BuildError> {
        let jti = uuid_v4(rng);
        let view = self.view(now, &jti)?;
        Ok(Claims {
            iss: self.iss.clone(),
            sub: self.sub.clone(),
            aud: match view.aud {
                AudienceRef::One(one) => Audience::One(one.to_owned()),
                AudienceRef::Many(many) => Audience::Many(many.to_vec()),
            },
            iat: view.iat,
            exp: view.exp,
            nbf: view.nbf,
            jti: jti.clone(),
            agent_identity: view.agent_identity.clone(),
            agent_integrity: self.integrity.clone(),
            attestation_metadata: view.attestation_metadata.clone(),
            cnf: self.cnf.clone(),
            extra: self.extra.clone(),
        })
    }

    /// Signs the claims at `now` with `key`, with a fresh UUID v4 `jti` from `rng`. The builder
    /// is not consumed: an issuer keeps one per agent and signs from it repeatedly.
    pub fn sign<R: CryptoRng + ?Sized>(
        &self,
        key: &SigningKey,
        now: UnixTime,
        rng: &mut R,
    ) -> Result<String, BuildError> {
        let jti = uuid_v4(rng);
        encode_view(key, &self.view(now, &jti)?, self.typ)
    }

    /// The claims at `now` as a borrowed view, checked for completeness.
    fn view<'a>(&'a self, now: UnixTime, jti: &'a str) -> Result<ClaimsRef<'a>, BuildError> {
        let aud = match self.aud.as_slice() {
            [] => return Err(BuildError::Missing("audience")),
            [one] => AudienceRef::One(one),
            many => AudienceRef::Many(many),
        };
        if self.lifetime_secs == 0 {
            return Err(BuildError::Lifetime);
        }
        let exp = now
            .as_secs()
            .checked_add(self.lifetime_secs)
            .ok_or(BuildError::Lifetime)?;
        Ok(ClaimsRef {
            iss: &self.iss,
            sub: &self.sub,
            aud,
            iat: now.as_secs(),
            exp,
            nbf: self.not_before.map(UnixTime::as_secs),
            jti,
            agent_identity: self
                .identity
                .as_ref()
                .ok_or(BuildError::Missing("agent_identity"))?,
            agent_integrity: self.integrity.as_ref(),
            attestation_metadata: self
                .metadata
                .as_ref()
                .ok_or(BuildError::Missing("attestation_metadata"))?,
            cnf: self.cnf.as_ref(),
            extra: &self.extra,
        })
    }
}

/// Signs `claims` as a compact JWS with header `{alg: EdDSA, typ, kid}`.
///
/// Refuses claims whose extension members reuse a defined name, since that would write a
/// duplicate member that every strict verifier rejects.
pub fn encode(key: &SigningKey, claims: &Claims, typ: TokenType) -> Result<String, BuildError> {
    encode_view(key, &ClaimsRef::from(claims), typ)
}

fn encode_view(
    key: &SigningKey,
    claims: &ClaimsRef<'_>,
    typ: TokenType,
) -> Result<String, BuildError> {
    check_extensions(claims)?;
    let mut json = Vec::with_capacity(1024);
    write::header(typ.as_str(), key.kid(), &mut json);
    let header_len = json.len();
    write::claims(claims, &mut json).map_err(|e| BuildError::Serialize(e.to_string()))?;
    let (header, claims) = json.split_at(header_len);
    // Base64url is 4/3 of the input; 90 more bytes hold two dots and the signature.
    let capacity = json.len().saturating_mul(4) / 3;
    let mut token = String::with_capacity(capacity.saturating_add(90));
    b64::encode_into(header, &mut token);
    token.push('.');
    b64::encode_into(claims, &mut token);
    let signature = key.sign(token.as_bytes());
    token.push('.');
    b64::encode_into(&signature, &mut token);
    Ok(token)
}

const CLAIM_NAMES: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "iat",
    "exp",
    "nbf",
    "jti",
    "agent_identity",
    "agent_integrity",
    "attestation_metadata",
    "cnf",
];

fn check_extensions(claims: &ClaimsRef<'_>) -> Result<(), BuildError> {
    let nested: [(&BTreeMap<String, Value>, &[&str]); 5] = [
        (claims.extra, CLAIM_NAMES),
        (
            &claims.agent_identity.extra,
            &["model_family", "model_version", "provider", "deployment_id"],
        ),
        (
            &claims.attestation_metadata.extra,
            &[
                "attestation_version",
                "attestation_type",
                "safety_level",
                "capabilities_declared",
            ],
        ),
        (
            claims.agent_integrity.map_or(&EMPTY, |i| &i.extra),
            &["config_hash", "system_prompt_hash"],
        ),
        (claims.cnf.map_or(&EMPTY, |c| &c.extra), &["jwk", "jkt"]),
    ];
    for (extra, names) in nested {
        if let Some(name) = names.iter().find(|n| extra.contains_key(**n)) {
            return Err(BuildError::ReservedName(name));
        }
    }
    Ok(())
}

static EMPTY: BTreeMap<String, Value> = BTreeMap::new();

/// A random (version 4) UUID, lowercase hyphenated.
pub(crate) fn uuid_v4<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, group) in [&b[..4], &b[4..6], &b[6..8], &b[8..10], &b[10..]]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            s.push('-');
        }
        b64::hex_into(group, &mut s);
    }
    s
}
