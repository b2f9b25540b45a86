//! Where `verify` and `serve` get the issuers' keys: JWKS files (a static `TrustStore`) or JWKS
//! URLs (attest-jwks's resolver, through a `KeySource` adapter), and the policy flags they share.

use std::path::PathBuf;
use std::sync::Arc;

use attest_core::{JwksLimits, KeySet, Policy, TrustStore};
use attest_jwks::retry::RetryPolicy;
use attest_jwks::{IssuerSource, JwksResolver};
use attest_mcp_server::KeySource;
use attest_observe::Observer;

use crate::output::{self, CliError, MAX_KEY_FILE};

/// Where the trusted issuers' public keys come from: exactly one of `--jwks` and `--jwks-url`.
#[derive(clap::Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub(crate) struct KeyArgs {
    /// A JWK Set file with the issuer's public keys (see `attest jwks`). Given once, it holds the
    /// keys of every --issuer; or give it once per --issuer, in the same order.
    #[arg(long, value_name = "FILE")]
    jwks: Vec<PathBuf>,
    /// The URL of the issuer's JWK Set, fetched and cached (https only). Given once, it serves
    /// every --issuer; or give it once per --issuer, in the same order.
    #[arg(long, value_name = "URL")]
    jwks_url: Vec<String>,
}

/// The policy flags `verify` and `serve` share.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct PolicyArgs {
    /// A trusted issuer, compared exactly (no trailing-slash or prefix match). Repeat for several.
    #[arg(long, value_name = "ISS", required = true)]
    pub(crate) issuer: Vec<String>,
    /// This server's audience; a token's `aud` must contain one. Repeat for several.
    #[arg(long, value_name = "AUD", required = true)]
    pub(crate) audience: Vec<String>,
    /// Also accept this header `typ` (e.g. `JWT` for tokens in the 0.1.0 format). Repeatable.
    #[arg(long, value_name = "TYP")]
    pub(crate) accept_typ: Vec<String>,
    /// Clock-skew leeway in seconds, applied to `exp`, `nbf` and `iat`. Default 30.
    #[arg(long, value_name = "SECS")]
    pub(crate) leeway: Option<u64>,
    /// Largest accepted token lifetime (`exp - iat`) in seconds. Default 3600.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_lifetime: Option<u64>,
    /// DEVELOPMENT ONLY: allow a plain-http --jwks-url whose host is a loopback address.
    #[arg(long)]
    pub(crate) allow_insecure_loopback_jwks: bool,
    #[command(flatten)]
    pub(crate) keys: KeyArgs,
}

impl PolicyArgs {
    /// The verification policy these flags describe.
    pub(crate) fn policy(&self) -> Result<Policy, CliError> {
        let mut builder = Policy::builder();
        for issuer in &self.issuer {
            builder = builder.trusted_issuer(issuer);
        }
        for audience in &self.audience {
            builder = builder.audience(audience);
        }
        for typ in &self.accept_typ {
            builder = builder.accept_typ(typ);
        }
        if let Some(leeway) = self.leeway {
            builder = builder.leeway_secs(leeway);
        }
        if let Some(max) = self.max_lifetime {
            builder = builder.max_lifetime_secs(max);
        }
        builder
            .build()
            .map_err(|e| CliError::usage(format!("invalid policy: {e}")))
    }

    /// The key source, and for URLs the resolver (to warm up).
    pub(crate) fn key_source(&self, observer: &Observer) -> Result<Keys, CliError> {
        let KeyArgs { jwks, jwks_url } = &self.keys;
        if !jwks.is_empty() {
            let mut trust = TrustStore::new();
            for (issuer, path) in pair(&self.issuer, jwks, "--jwks")? {
                trust.insert(issuer, read_jwks(path)?);
            }
            return Ok(Keys::Static(trust));
        }
        let mut builder = JwksResolver::builder(observer.clone())
            .danger_allow_loopback_http(self.allow_insecure_loopback_jwks);
        for (issuer, url) in pair(&self.issuer, jwks_url, "--jwks-url")? {
            builder = builder.issuer_source(issuer, IssuerSource::Url(url.clone()));
        }
        Ok(Keys::Fetched(Box::new(builder)))
    }
}

/// Keys known now, or a resolver still to build (inside the runtime, with its retry policy).
pub(crate) enum Keys {
    /// From files.
    Static(TrustStore),
    /// From URLs.
    Fetched(Box<attest_jwks::JwksResolverBuilder>),
}

impl Keys {
    /// The key source. `retries` bounds the retries of each JWKS fetch.
    pub(crate) fn build(self, retries: Option<u32>) -> Result<Source, CliError> {
        match self {
            Keys::Static(trust) => Ok(Source::Static(trust)),
            Keys::Fetched(builder) => {
                let mut builder = *builder;
                if let Some(retries) = retries {
                    let mut policy = RetryPolicy::default();
                    policy.max_retries = retries;
                    builder = builder.retry_policy(policy);
                }
                let resolver = builder
                    .build()
                    .map_err(|e| CliError::usage(output::one_line(&e.to_string())))?;
                Ok(Source::Fetched(resolver))
            }
        }
    }
}

/// A built key source.
pub(crate) enum Source {
    /// From files.
    Static(TrustStore),
    /// From URLs.
    Fetched(JwksResolver),
}

impl Source {
    /// As a `KeySource` for the verifier.
    pub(crate) fn into_key_source(self) -> Arc<dyn KeySource> {
        match self {
            Source::Static(trust) => Arc::new(trust),
            Source::Fetched(resolver) => Arc::new(resolver),
        }
    }
}

/// The issuers paired with their sources: one source for every issuer, or one each, in order.
fn pair<'a, T>(
    issuers: &'a [String],
    sources: &'a [T],
    flag: &str,
) -> Result<Vec<(&'a str, &'a T)>, CliError> {
    match sources {
        [one] => Ok(issuers.iter().map(|i| (i.as_str(), one)).collect()),
        many if many.len() == issuers.len() => Ok(issuers
            .iter()
            .map(String::as_str)
            .zip(many.iter())
            .collect()),
        many => Err(CliError::usage(format!(
            "{flag} was given {} times for {} --issuer: give it once (for every issuer) or once \
             per issuer, in order",
            many.len(),
            issuers.len()
        ))),
    }
}

/// Reads and parses a JWKS file with attest-core's strict rules. Keys it refuses are reported
/// on stderr; a file that does not parse is a usage error.
fn read_jwks(path: &std::path::Path) -> Result<KeySet, CliError> {
    let shown = path.display();
    let body = output::read_capped(path, MAX_KEY_FILE, "JWKS file")?;
    let set = KeySet::parse(&body, JwksLimits::default()).map_err(|e| {
        CliError::usage(format!(
            "{shown} is not a usable JWK Set ({e}); `attest jwks KEYFILE` makes one"
        ))
    })?;
    for rejected in set.rejected() {
        eprintln!(
            "warning: {shown}: key {} refused: {}",
            rejected.kid.as_deref().unwrap_or("(no kid)"),
            output::one_line(&rejected.error.to_string())
        );
    }
    if set.is_empty() {
        eprintln!("warning: {shown} holds no usable key: every token will be refused");
    }
    Ok(set)
}

#[cfg(test)]
mod tests;
