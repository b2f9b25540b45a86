//! `RemoteIssuer`: asks an issuer's token endpoint for tokens, over HTTPS.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use attest_core::{Jwk, PublicKey, TYP_ATTESTATION, TYP_JWT_COMPAT, UnixTime};
use attest_protocol::Token;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::ClientError;
use crate::refresh::{Cached, TokenCache};
use crate::source::{BoxFuture, Clock, Freshness, SystemClock, TokenSource};

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Gets tokens from an issuer's token endpoint (SPEC.md §14).
///
/// `POST <endpoint>` (default `{issuer}/token`) with the JSON body
/// `{"audience": ["<aud>"], "lifetime_secs": <n>?}` and, when a client secret is configured,
/// `Authorization: Bearer <secret>`. The issuer answers 200 with
/// `{"token", "token_type": "agent-attestation+jwt", "expires_at"}`, or an error status with
/// `{"error", "error_description"?}` ([`ClientError::IssuerRefused`]).
///
/// The issuer, not the client, decides the identity claims: the request names only the
/// audience and, optionally, a shorter lifetime.
///
/// Key-bound attestation (SPEC.md §17): with [`RemoteIssuerBuilder::agent_key`], every request
/// also sends the agent's public key as `cnf_jwk`, so that the issuer binds it into the token's
/// `cnf`, and a token that does not name that key (`cnf.jwk` with its `x`, or `cnf.jkt` with
/// its thumbprint) is refused as [`ClientError::InvalidResponse`]. Pair it with
/// [`crate::AttestingTransport::with_proof_key`] holding the private key.
///
/// Safety rails:
/// - HTTPS only. Plain `http://` is refused unless
///   [`RemoteIssuerBuilder::dangerous_allow_http_loopback`] is set *and* the host is a
///   loopback address or `localhost`.
/// - Each request, body included, must finish within a timeout (default 10 s).
/// - The response body is capped (default 64 KiB).
/// - Redirects are not followed: a 3xx is a refusal.
///
/// Under [`Freshness::PerSession`] (the default) the last token per audience is reused until
/// it enters its refresh window, and concurrent callers share one refresh. Under
/// [`Freshness::PerRequest`] every call asks the issuer for a new token.
pub struct RemoteIssuer {
    endpoint: Uri,
    secret: Option<Zeroizing<String>>,
    agent: Option<AgentKey>,
    lifetime_secs: Option<u64>,
    timeout: Duration,
    max_body_bytes: usize,
    freshness: Freshness,
    clock: Arc<dyn Clock>,
    cache: TokenCache,
    refresh: tokio::sync::Mutex<()>,
    client: HttpClient,
}

/// Configures a [`RemoteIssuer`].
#[must_use]
pub struct RemoteIssuerBuilder {
    issuer: String,
    endpoint: Option<String>,
    secret: Option<Zeroizing<String>>,
    agent: Option<AgentKey>,
    lifetime_secs: Option<u64>,
    timeout: Duration,
    max_body_bytes: usize,
    freshness: Freshness,
    clock: Arc<dyn Clock>,
    allow_http_loopback: bool,
    tls: Option<rustls::ClientConfig>,
}

impl RemoteIssuer {
    /// The default request timeout: 10 s, as the original's JWKS fetch.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default cap on a response body: 64 KiB. A token is at most 8 KiB.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

    /// Starts configuring a client of `issuer` (its URL, e.g. `https://issuer.example`). The
    /// endpoint defaults to `{issuer}/token`.
    pub fn builder(issuer: impl Into<String>) -> RemoteIssuerBuilder {
        RemoteIssuerBuilder {
            issuer: issuer.into(),
            endpoint: None,
            secret: None,
            agent: None,
            lifetime_secs: None,
            timeout: Self::DEFAULT_TIMEOUT,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            freshness: Freshness::default(),
            clock: Arc::new(SystemClock),
            allow_http_loopback: false,
            tls: None,
        }
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &Uri {
        &self.endpoint
    }

    async fn token_for(&self, audience: &str) -> Result<Token, ClientError> {
        if self.freshness == Freshness::PerRequest {
            return Ok(self.fetch(audience, self.clock.now()).await?.token);
        }
        if let Some(token) = self.cache.fresh(audience, self.clock.now()) {
            return Ok(token);
        }
        // One refresh at a time: callers that waited find the new token in the cache.
        let _guard = self.refresh.lock().await;
        let now = self.clock.now();
        if let Some(token) = self.cache.fresh(audience, now) {
            return Ok(token);
        }
        let cached = self.fetch(audience, now).await?;
        let token = cached.token.clone();
        self.cache.put(audience, cached, now);
        Ok(token)
    }

    /// One round trip to the endpoint.
    async fn fetch(&self, audience: &str, now: UnixTime) -> Result<Cached, ClientError> {
        let body = serde_json::to_vec(&TokenRequest {
            audience: [audience],
            lifetime_secs: self.lifetime_secs,
            cnf_jwk: self.agent.as_ref().map(|agent| &agent.jwk),
        })
        .map_err(|e| ClientError::InvalidResponse(format!("request body: {e}")))?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.endpoint.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .header(
                USER_AGENT,
                concat!("attest-mcp-client/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(secret) = &self.secret {
            let mut value =
                HeaderValue::try_from(format!("Bearer {}", secret.as_str())).map_err(|_| {
                    ClientError::InvalidEndpoint {
                        endpoint: self.endpoint.to_string(),
                        detail: "the client secret is not a valid header value",
                    }
                })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Http(e.to_string()))?;

        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| ClientError::Http(error_chain(&e)))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), self.max_body_bytes)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<LengthLimitError>().is_some() {
                        ClientError::BodyTooLarge {
                            limit: self.max_body_bytes,
                        }
                    } else {
                        ClientError::Http(error_chain(e.as_ref()))
                    }
                })?
                .to_bytes();
            Ok::<_, ClientError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))??;

        if status != http::StatusCode::OK {
            let refusal = serde_json::from_slice::<ErrorResponse>(&body).ok();
            return Err(ClientError::IssuerRefused {
                status: status.as_u16(),
                error: refusal.as_ref().map(|r| clip(&r.error)),
                description: refusal.and_then(|r| r.error_description).map(|d| clip(&d)),
            });
        }
        let cached = parse_token_response(&body, now)?;
        if let Some(agent) = &self.agent {
            check_binding(cached.token.as_str(), agent)?;
        }
        Ok(cached)
    }
}

/// The agent's key a [`RemoteIssuer`] asks to have bound: the JWK it sends as `cnf_jwk`, and
/// the thumbprint a `cnf.jkt` must equal.
#[derive(Clone)]
struct AgentKey {
    jwk: Jwk,
    thumbprint: String,
}

impl AgentKey {
    fn new(key: &PublicKey) -> AgentKey {
        let thumbprint = key.thumbprint();
        AgentKey {
            // As `LocalSigner::with_agent_key` binds it: the public JWK under its thumbprint.
            jwk: key.to_jwk(&thumbprint),
            thumbprint,
        }
    }
}

/// Checks that a token minted on request of a key-bound client names the agent's key in `cnf`
/// (SPEC.md §17.1): `cnf.jwk` with the same `x`, or `cnf.jkt` equal to its thumbprint (and,
/// when both appear, both match). An issuer that ignored `cnf_jwk`, or bound another key,
/// minted a token whose proofs can never verify.
fn check_binding(token: &str, agent: &AgentKey) -> Result<(), ClientError> {
    let unbound = |detail: &str| {
        ClientError::InvalidResponse(format!(
            "the issuer did not bind the agent's key (cnf_jwk) into the token: {detail}"
        ))
    };
    let (_, claims) = attest_core::dangerous::decode_json(token).map_err(|e| {
        ClientError::InvalidResponse(format!("token is not a compact JWS: {}", e.code()))
    })?;
    let Some(cnf) = claims.get("cnf") else {
        return Err(unbound("it has no `cnf`"));
    };
    let jwk_x = cnf
        .get("jwk")
        .map(|jwk| jwk.get("x").and_then(|x| x.as_str()));
    let jkt = cnf.get("jkt").map(|jkt| jkt.as_str());
    if jwk_x.is_none() && jkt.is_none() {
        return Err(unbound("its `cnf` has neither `jwk` nor `jkt`"));
    }
    if let Some(x) = jwk_x
        && x != agent.jwk.x.as_deref()
    {
        return Err(unbound("`cnf.jwk` names another key"));
    }
    if let Some(jkt) = jkt
        && jkt != Some(agent.thumbprint.as_str())
    {
        return Err(unbound("`cnf.jkt` is another key's thumbprint"));
    }
    Ok(())
}

/// Reads a 200 response: `{token, token_type, expires_at}`.
pub(crate) fn parse_token_response(body: &[u8], now: UnixTime) -> Result<Cached, ClientError> {
    let response: TokenResponse = serde_json::from_slice(body)
        .map_err(|e| ClientError::InvalidResponse(format!("not a token response: {e}")))?;
    if response.token_type != TYP_ATTESTATION && response.token_type != TYP_JWT_COMPAT {
        return Err(ClientError::InvalidResponse(format!(
            "unknown token_type {:?}",
            clip(&response.token_type)
        )));
    }
    attest_core::dangerous::decode_json(&response.token).map_err(|e| {
        ClientError::InvalidResponse(format!("token is not a compact JWS: {}", e.code()))
    })?;
    let expires_at = UnixTime::from_secs(response.expires_at);
    if expires_at <= now {
        return Err(ClientError::InvalidResponse(
            "the token has already expired".to_owned(),
        ));
    }
    Ok(Cached {
        token: Token::new(response.token)?,
        issued_at: now,
        expires_at,
    })
}

impl RemoteIssuerBuilder {
    /// Sends requests to `endpoint` instead of `{issuer}/token`.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Authenticates to the issuer with `Authorization: Bearer <secret>`.
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(Zeroizing::new(secret.into()));
        self
    }

    /// Asks for key-bound tokens (SPEC.md §17.1): every request sends `agent`, the agent's
    /// public key, as `cnf_jwk`, and a token whose `cnf` does not name it is refused. Sign the
    /// proofs with the matching private key ([`crate::AttestingTransport::with_proof_key`]).
    pub fn agent_key(mut self, agent: &PublicKey) -> Self {
        self.agent = Some(AgentKey::new(agent));
        self
    }

    /// Asks for tokens of this lifetime (the issuer may shorten it). Default: the issuer's.
    pub fn lifetime_secs(mut self, secs: u64) -> Self {
        self.lifetime_secs = Some(secs);
        self
    }

    /// The deadline for a whole request, response body included. Default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest response body read. Default 64 KiB.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// The freshness mode. Default [`Freshness::PerSession`].
    pub fn freshness(mut self, freshness: Freshness) -> Self {
        self.freshness = freshness;
        self
    }

    /// Reads the time from `clock` instead of the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses this TLS configuration instead of rustls with the platform's root certificates
    /// and the ring provider (e.g. to trust a private CA).
    pub fn tls_config(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// **For development only.** Allows a plain `http://` endpoint when its host is a loopback
    /// address (`127.0.0.0/8`, `::1`) or `localhost`. Any other plain-HTTP endpoint is still
    /// refused: a token endpoint hands out bearer credentials.
    pub fn dangerous_allow_http_loopback(mut self) -> Self {
        self.allow_http_loopback = true;
        self
    }

    /// Checks the endpoint and builds the client.
    pub fn build(self) -> Result<RemoteIssuer, ClientError> {
        let text = match self.endpoint {
            Some(endpoint) => endpoint,
            None => default_endpoint(&self.issuer),
        };
        let endpoint = check_endpoint(&text, self.allow_http_loopback)?;
        let tls = match self.tls {
            Some(tls) => tls,
            None if endpoint.scheme() == Some(&http::uri::Scheme::HTTPS) => native_tls_config()?,
            // Plain HTTP to loopback: no TLS will ever be negotiated.
            None => empty_tls_config()?,
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(RemoteIssuer {
            endpoint,
            secret: self.secret,
            agent: self.agent,
            lifetime_secs: self.lifetime_secs,
            timeout: self.timeout,
            max_body_bytes: self.max_body_bytes,
            freshness: self.freshness,
            clock: self.clock,
            cache: TokenCache::default(),
            refresh: tokio::sync::Mutex::new(()),
            client,
        })
    }
}

/// `{issuer}/token`, without a doubled slash.
pub(crate) fn default_endpoint(issuer: &str) -> String {
    format!("{}/token", issuer.trim_end_matches('/'))
}

/// An absolute URL with a host and no user info; `https`, or `http` to loopback when allowed.
pub(crate) fn check_endpoint(text: &str, allow_http_loopback: bool) -> Result<Uri, ClientError> {
    let invalid = |detail| ClientError::InvalidEndpoint {
        endpoint: text.to_owned(),
        detail,
    };
    let uri: Uri = text.parse().map_err(|_| invalid("not a valid URL"))?;
    let authority = uri
        .authority()
        .ok_or_else(|| invalid("not an absolute URL"))?;
    if authority.as_str().contains('@') {
        return Err(invalid("user info is not allowed in the URL"));
    }
    let host = uri.host().ok_or_else(|| invalid("no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if allow_http_loopback && is_loopback(host) => Ok(uri),
        Some("http") => Err(ClientError::InsecureEndpoint {
            endpoint: text.to_owned(),
        }),
        _ => Err(invalid("the scheme must be https")),
    }
}

pub(crate) fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn native_tls_config() -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let loaded = rustls_native_certs::load_native_certs();
    for cert in loaded.certs {
        // A root the platform ships but rustls cannot parse is skipped, not fatal.
        let _ignored = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(ClientError::Http(
            "no usable root certificates found on this platform".to_owned(),
        ));
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Http(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn empty_tls_config() -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Http(e.to_string()))?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth())
}

/// An error and its sources, joined, so that "connection refused" is not lost behind
/// "client error (Connect)".
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Peer-supplied text, cut to 256 bytes on a character boundary.
pub(crate) fn clip(s: &str) -> String {
    const MAX: usize = 256;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    s.get(..end).unwrap_or_default().to_owned()
}

#[derive(Serialize)]
struct TokenRequest<'a> {
    audience: [&'a str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    lifetime_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf_jwk: Option<&'a Jwk>,
}

#[derive(Deserialize)]
struct TokenResponse {
    token: String,
    token_type: String,
    expires_at: u64,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl fmt::Debug for RemoteIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteIssuer")
            .field("endpoint", &self.endpoint)
            .field("authenticated", &self.secret.is_some())
            .field(
                "agent_key",
                &self.agent.as_ref().map(|agent| agent.thumbprint.as_str()),
            )
            .field("lifetime_secs", &self.lifetime_secs)
            .field("timeout", &self.timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("freshness", &self.freshness)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RemoteIssuerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteIssuerBuilder")
            .field("issuer", &self.issuer)
            .field("endpoint", &self.endpoint)
            .field("authenticated", &self.secret.is_some())
            .field(
                "agent_key",
                &self.agent.as_ref().map(|agent| agent.thumbprint.as_str()),
            )
            .field("allow_http_loopback", &self.allow_http_loopback)
            .finish_non_exhaustive()
    }
}

impl TokenSource for RemoteIssuer {
    fn token<'a>(&'a self, audience: &'a str) -> BoxFuture<'a, Result<Token, ClientError>> {
        Box::pin(self.token_for(audience))
    }

    fn freshness(&self) -> Freshness {
        self.freshness
    }
}
