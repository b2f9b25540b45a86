//! The JWKS HTTP client: one hyper 1.x HTTP/1.1 connection per fetch, over rustls (ring).
//!
//! What it enforces, whatever the caller does:
//! - `https://` only; plain `http://` only with the development switch, for a loopback host,
//!   and only if every address the host resolves to is a loopback address;
//! - a 3xx is an error: redirects are never followed;
//! - a connect timeout, and a timeout on the whole request (DNS, connect, TLS, headers, body);
//! - the body cap: a `Content-Length` over it is refused before reading, and a body without
//!   one (or longer than announced) is cut off as soon as it passes the cap.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    ACCEPT, AGE, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, ETAG, HOST, HeaderMap, HeaderValue,
    IF_NONE_MATCH, RETRY_AFTER, USER_AGENT,
};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::UnavailableCause;
use crate::retry::RetryClass;
use crate::url::{JwksUrl, is_loopback};

/// How the JWKS client connects.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Timeout for TCP connect plus the TLS handshake, per address. Default 5 s.
    pub connect_timeout: Duration,
    /// Timeout for the whole request: resolution, connect, TLS, headers and body. Default 10 s.
    pub request_timeout: Duration,
    /// **For development only.** Allows plain `http://` to a loopback host (`localhost`,
    /// 127.0.0.0/8, `::1`), when every resolved address is loopback. Default false: https
    /// only.
    pub danger_allow_loopback_http: bool,
    /// Trust the operating system's root certificates. Default true.
    pub native_roots: bool,
    /// More trusted root certificates, DER-encoded (e.g. a private CA).
    pub extra_roots_der: Vec<Vec<u8>>,
    /// The `User-Agent` sent.
    pub user_agent: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            danger_allow_loopback_http: false,
            native_roots: true,
            extra_roots_der: Vec::new(),
            user_agent: concat!("attest-jwks/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field(
                "danger_allow_loopback_http",
                &self.danger_allow_loopback_http,
            )
            .field("native_roots", &self.native_roots)
            .field("extra_roots_der", &self.extra_roots_der.len())
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// What one request brought back.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// 200 with a body within the cap.
    Body {
        body: Vec<u8>,
        max_age: Option<Duration>,
        etag: Option<String>,
    },
    /// 304 to a conditional request.
    NotModified { max_age: Option<Duration> },
}

/// A failed request: the cause, and the server's `Retry-After` on 429 and 503.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttemptError {
    pub(crate) cause: UnavailableCause,
    pub(crate) retry_after: Option<Duration>,
}

impl AttemptError {
    pub(crate) fn new(cause: UnavailableCause) -> AttemptError {
        AttemptError {
            cause,
            retry_after: None,
        }
    }

    /// How the retry policy treats it.
    pub(crate) fn class(&self) -> RetryClass {
        match &self.cause {
            UnavailableCause::Timeout | UnavailableCause::Network(_) => RetryClass::Transient,
            UnavailableCause::Status(429 | 503) => RetryClass::RateLimited {
                retry_after: self.retry_after,
            },
            UnavailableCause::Status(status) if (500..600).contains(status) => {
                RetryClass::Transient
            }
            _ => RetryClass::Permanent,
        }
    }
}

fn network(detail: impl std::fmt::Display) -> AttemptError {
    AttemptError::new(UnavailableCause::Network(detail.to_string()))
}

/// The client. Cheap to share behind an `Arc`.
pub(crate) struct HttpFetcher {
    config: HttpConfig,
    max_body: usize,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFetcher")
            .field("config", &self.config)
            .field("max_body", &self.max_body)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl HttpFetcher {
    /// A client with a body cap of `max_body` bytes. The TLS configuration (roots, ring
    /// provider) is built now if `needs_tls`.
    pub(crate) fn new(
        config: HttpConfig,
        max_body: usize,
        needs_tls: bool,
    ) -> Result<HttpFetcher, String> {
        let tls = if needs_tls {
            Some(tls_connector(&config)?)
        } else {
            None
        };
        Ok(HttpFetcher {
            config,
            max_body,
            tls,
        })
    }

    pub(crate) fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// One GET of `url`, conditional on `if_none_match` if given.
    pub(crate) async fn fetch(
        &self,
        url: &JwksUrl,
        if_none_match: Option<&str>,
    ) -> Result<Fetched, AttemptError> {
        if !url.check_scheme(self.config.danger_allow_loopback_http) {
            return Err(AttemptError::new(UnavailableCause::InsecureUrl));
        }
        match tokio::time::timeout(
            self.config.request_timeout,
            self.request(url, if_none_match),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(AttemptError::new(UnavailableCause::Timeout)),
        }
    }

    async fn request(
        &self,
        url: &JwksUrl,
        if_none_match: Option<&str>,
    ) -> Result<Fetched, AttemptError> {
        let request = build_request(url, if_none_match, &self.config.user_agent)?;
        let tcp = self.connect(url).await?;
        if url.is_https() {
            let connector = self
                .tls
                .as_ref()
                .ok_or_else(|| network("TLS is not configured"))?;
            let name = rustls::pki_types::ServerName::try_from(url.host().to_owned())
                .map_err(|_| network("host is not a valid TLS server name"))?;
            let tls =
                tokio::time::timeout(self.config.connect_timeout, connector.connect(name, tcp))
                    .await
                    .map_err(|_| AttemptError::new(UnavailableCause::Timeout))?
                    .map_err(|e| network(format!("TLS: {e}")))?;
            exchange(
                TokioIo::new(tls),
                request,
                if_none_match.is_some(),
                self.max_body,
            )
            .await
        } else {
            exchange(
                TokioIo::new(tcp),
                request,
                if_none_match.is_some(),
                self.max_body,
            )
            .await
        }
    }

    async fn connect(&self, url: &JwksUrl) -> Result<TcpStream, AttemptError> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((url.host(), url.port()))
            .await
            .map_err(|e| network(format!("resolving {}: {e}", url.host())))?
            .collect();
        // Plain http only ever reaches this machine, whatever the name resolves to.
        if !url.is_https() && !addrs.iter().all(|a| is_loopback(a.ip())) {
            return Err(AttemptError::new(UnavailableCause::InsecureUrl));
        }
        let mut last = network(format!("{} resolves to no address", url.host()));
        for addr in addrs {
            match tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(addr)).await
            {
                Ok(Ok(stream)) => {
                    // Only a latency hint: the request works the same without it.
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Ok(Err(e)) => last = network(format!("connecting to {addr}: {e}")),
                Err(_) => last = AttemptError::new(UnavailableCause::Timeout),
            }
        }
        Err(last)
    }
}

fn build_request(
    url: &JwksUrl,
    if_none_match: Option<&str>,
    user_agent: &str,
) -> Result<Request<Empty<Bytes>>, AttemptError> {
    let mut builder = Request::get(url.path_and_query())
        .header(HOST, url.authority())
        .header(ACCEPT, "application/jwk-set+json, application/json")
        .header(USER_AGENT, user_agent)
        .header(CONNECTION, "close");
    if let Some(tag) = if_none_match.and_then(|t| HeaderValue::from_str(t).ok()) {
        builder = builder.header(IF_NONE_MATCH, tag);
    }
    builder
        .body(Empty::new())
        .map_err(|e| network(format!("building the request: {e}")))
}

/// Aborts the connection task when the fetch ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends `request` on `io` and reads the response under the body cap.
async fn exchange<T>(
    io: T,
    request: Request<Empty<Bytes>>,
    conditional: bool,
    max_body: usize,
) -> Result<Fetched, AttemptError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(64 * 1024)
        .handshake(io)
        .await
        .map_err(|e| network(format!("HTTP handshake: {e}")))?;
    let _connection = AbortOnDrop(tokio::spawn(async move {
        // The connection's own error reaches the request or the body read below.
        let _ = connection.await;
    }));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| network(format!("HTTP: {e}")))?;
    let status = response.status();
    let headers = response.headers();
    if status == StatusCode::NOT_MODIFIED && conditional {
        return Ok(Fetched::NotModified {
            max_age: max_age(headers),
        });
    }
    if status.is_redirection() {
        return Err(AttemptError::new(UnavailableCause::Redirect(
            status.as_u16(),
        )));
    }
    if status != StatusCode::OK {
        let retry_after = match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => retry_after(headers),
            _ => None,
        };
        return Err(AttemptError {
            cause: UnavailableCause::Status(status.as_u16()),
            retry_after,
        });
    }
    let too_large = || AttemptError::new(UnavailableCause::TooLarge { max: max_body });
    let announced = content_length(headers)?;
    if announced.is_some_and(|len| len > max_body) {
        return Err(too_large());
    }
    let max_age = max_age(headers);
    let etag = headers
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .filter(|tag| tag.len() <= 256)
        .map(str::to_owned);
    let mut body = response.into_body();
    let mut bytes = Vec::with_capacity(announced.unwrap_or(0).min(max_body));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| network(format!("reading the body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len().saturating_add(data.len()) > max_body {
                // Stop here: the rest is never read, and the connection is dropped.
                return Err(too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Fetched::Body {
        body: bytes,
        max_age,
        etag,
    })
}

fn content_length(headers: &HeaderMap) -> Result<Option<usize>, AttemptError> {
    let Some(value) = headers.get(CONTENT_LENGTH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| network("Content-Length is not a number"))?;
    match text.trim().parse::<u64>() {
        // A length beyond usize is over any cap.
        Ok(len) => Ok(Some(usize::try_from(len).unwrap_or(usize::MAX))),
        Err(_) => Err(network("Content-Length is not a number")),
    }
}

/// The freshness lifetime the response grants: `max-age` (the smallest if repeated) minus
/// `Age`; zero for `no-cache` or `no-store`; `None` without any of them.
pub(crate) fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut max_age: Option<u64> = None;
    let mut no_cache = false;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',') {
            let (name, arg) = match directive.split_once('=') {
                Some((name, arg)) => (name.trim(), Some(arg.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
                no_cache = true;
            } else if name.eq_ignore_ascii_case("max-age")
                && let Some(secs) = arg.and_then(|a| a.parse::<u64>().ok())
            {
                max_age = Some(max_age.map_or(secs, |m| m.min(secs)));
            }
        }
    }
    if no_cache {
        return Some(Duration::ZERO);
    }
    let age = headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    max_age.map(|secs| Duration::from_secs(secs.saturating_sub(age)))
}

/// `Retry-After` in delta-seconds. The HTTP-date form is ignored (the backoff applies).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn tls_connector(config: &HttpConfig) -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    if config.native_roots {
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            // A root the store cannot use is skipped; the others still count.
            let _ = roots.add(cert);
        }
    }
    for der in &config.extra_roots_der {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| format!("extra root certificate refused: {e}"))?;
    }
    if roots.is_empty() {
        return Err(
            "no trusted root certificate for https (no native roots found, and none \
                    configured)"
                .into(),
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(tls)))
}
