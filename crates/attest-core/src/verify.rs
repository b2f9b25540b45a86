//! The verification step: token + key lookup + policy + `now` → verified claims or a precise
//! error. The order of checks is SPEC.md §5.

use crate::claims::{ATTESTATION_VERSION, Claims};
use crate::dangerous::{self, UnverifiedToken};
use crate::error::VerifyError;
use crate::jwks::KeyResolver;
use crate::key::PublicKey;
use crate::policy::Policy;
use crate::time::UnixTime;
use crate::token::Header;

/// A token that passed every check.
///
/// Its `jti` has not been recorded anywhere yet: the caller records it in a replay store now,
/// and only now, with [`Verified::replay_record_until`] as the record's expiry.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    header: Header,
    claims: Claims,
    leeway_secs: u64,
}

impl Verified {
    /// The verified claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The verified header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The token id, to record in a replay store.
    pub fn jti(&self) -> &str {
        &self.claims.jti
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.claims.iss
    }

    /// When the token expires (`exp`).
    pub fn expires_at(&self) -> UnixTime {
        UnixTime::from_secs(self.claims.exp)
    }

    /// Until when a replay record must be kept: `exp` plus the leeway, the last moment at which
    /// this policy would still accept the token.
    pub fn replay_record_until(&self) -> UnixTime {
        self.expires_at().saturating_add(self.leeway_secs)
    }

    /// The claims, by value.
    pub fn into_claims(self) -> Claims {
        self.claims
    }
}

/// Verifies a compact attestation token.
///
/// Checks run cheapest first: size and structure, the header against policy, the claims' JSON,
/// the issuer against the trusted set, the key lookup by `(iss, kid)`, the signature with
/// strict Ed25519, and last the claim values against `now`. The first failure is returned.
///
/// The `jti` is not recorded: record it after this returns `Ok` (see [`Verified`]).
pub fn verify(
    token: &str,
    keys: &impl KeyResolver,
    policy: &Policy,
    now: UnixTime,
) -> Result<Verified, VerifyError> {
    let unverified = dangerous::decode_unverified(token, policy)?;
    check_issuer(&unverified, policy)?;
    let key = keys
        .resolve(unverified.issuer(), unverified.kid())
        .ok_or(VerifyError::KeyUnknown)?;
    unverified.verify(&key, policy, now)
}

pub(crate) fn check_issuer(
    token: &UnverifiedToken<'_>,
    policy: &Policy,
) -> Result<(), VerifyError> {
    if policy.trusts(token.issuer()) {
        Ok(())
    } else {
        Err(VerifyError::IssuerUntrusted)
    }
}

/// The steps after key lookup: signature, then claims.
pub(crate) fn finish(
    token: UnverifiedToken<'_>,
    key: &PublicKey,
    policy: &Policy,
    now: UnixTime,
) -> Result<Verified, VerifyError> {
    check_issuer(&token, policy)?;
    let (header, claims, signing_input, signature) = token.into_parts();
    key.verify(signing_input, &signature)?;
    check_claims(&claims, policy, now)?;
    Ok(Verified {
        header,
        claims,
        leeway_secs: policy.leeway_secs,
    })
}

fn check_claims(claims: &Claims, policy: &Policy, now: UnixTime) -> Result<(), VerifyError> {
    if claims.attestation_metadata.attestation_version != ATTESTATION_VERSION {
        return Err(VerifyError::InvalidClaim(
            "attestation_metadata.attestation_version",
        ));
    }
    if claims.sub.is_empty() {
        return Err(VerifyError::InvalidClaim("sub"));
    }
    if claims.jti.is_empty() {
        return Err(VerifyError::InvalidClaim("jti"));
    }
    if claims.jti.len() > policy.max_jti_bytes {
        return Err(VerifyError::JtiTooLong {
            len: claims.jti.len(),
            max: policy.max_jti_bytes,
        });
    }
    check_times(claims, policy, now.as_secs())?;
    check_audience(claims, policy)?;
    check_confirmation(claims)?;
    if let Some(missing) = policy.required_claims.iter().find(|c| !claims.has(c)) {
        return Err(VerifyError::MissingClaim(missing.clone()));
    }
    Ok(())
}

/// The leeway applies to `exp`, `nbf` and `iat` alike (the original forgot it on `exp`).
fn check_times(claims: &Claims, policy: &Policy, now: u64) -> Result<(), VerifyError> {
    let leeway = policy.leeway_secs;
    let lifetime = claims.exp.checked_sub(claims.iat).filter(|l| *l > 0);
    let lifetime = lifetime.ok_or(VerifyError::InvalidClaim("exp"))?;
    // RFC 7519 §4.1.4: the token must not be accepted on or after `exp`.
    if now >= claims.exp.saturating_add(leeway) {
        return Err(VerifyError::Expired);
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > now.saturating_add(leeway))
    {
        return Err(VerifyError::NotYetValid);
    }
    if claims.iat > now.saturating_add(leeway) {
        return Err(VerifyError::IssuedInFuture);
    }
    if lifetime > policy.max_lifetime_secs {
        return Err(VerifyError::LifetimeExceeded {
            lifetime,
            max: policy.max_lifetime_secs,
        });
    }
    Ok(())
}

/// `cnf` (RFC 7800) names the agent's own key. It must be a usable Ed25519 public key: a leaked
/// private key or a weak key there would make proof of possession meaningless.
fn check_confirmation(claims: &Claims) -> Result<(), VerifyError> {
    let Some(cnf) = &claims.cnf else {
        return Ok(());
    };
    let key = match &cnf.jwk {
        Some(jwk) => {
            Some(PublicKey::from_jwk(jwk).map_err(|_| VerifyError::InvalidClaim("cnf.jwk"))?)
        }
        None => None,
    };
    match (&cnf.jkt, key) {
        (None, None) => Err(VerifyError::InvalidClaim("cnf")),
        (Some(jkt), key) => {
            let well_formed = jkt.len() == 43 && crate::b64::decode(jkt.as_bytes()).is_some();
            let matches = key.is_none_or(|k| k.thumbprint() == *jkt);
            if well_formed && matches {
                Ok(())
            } else {
                Err(VerifyError::InvalidClaim("cnf.jkt"))
            }
        }
        (None, Some(_)) => Ok(()),
    }
}

fn check_audience(claims: &Claims, policy: &Policy) -> Result<(), VerifyError> {
    let aud = claims.aud.as_slice();
    if aud.is_empty() || aud.iter().all(String::is_empty) {
        return Err(VerifyError::AudienceEmpty);
    }
    if policy
        .audiences
        .iter()
        .any(|expected| claims.aud.contains(expected))
    {
        Ok(())
    } else {
        Err(VerifyError::AudienceMismatch)
    }
}
