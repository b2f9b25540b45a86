//! A minimal MCP streamable-HTTP client for raw requests, as an attacker sends them: POST one
//! JSON-RPC message and read the reply, as JSON or from an SSE stream, under a deadline and a
//! size cap. Plain `http://` or `https://` (rustls, the platform's roots).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::corpus::{McpStep, STATELESS_PROTOCOL};

/// How long one exchange may take, reply included.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest reply read.
const MAX_REPLY_BYTES: usize = 1 << 20;
/// The session header of MCP streamable HTTP.
const SESSION_HEADER: &str = "mcp-session-id";

/// A raw MCP client for one endpoint.
pub(crate) struct McpHttp {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    url: http::Uri,
}

/// What the server answered.
#[derive(Debug)]
pub(crate) struct Reply {
    /// HTTP status.
    pub(crate) status: u16,
    /// The session the server opened, if any.
    pub(crate) session: Option<String>,
    /// The JSON-RPC response (with `result` or `error`), if one was read.
    pub(crate) message: Option<Value>,
}

impl McpHttp {
    /// A client for the MCP endpoint at `url`.
    pub(crate) fn new(url: &str) -> Result<McpHttp, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("{url:?} is not a valid URL: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("https") => native_tls_config()?,
            Some("http") => empty_tls_config()?,
            _ => {
                return Err(format!(
                    "{url:?}: the URL must start with http:// or https://"
                ));
            }
        };
        if uri.host().is_none() {
            return Err(format!("{url:?} has no host"));
        }
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(McpHttp {
            client: Client::builder(TokioExecutor::new()).build(connector),
            url: uri,
        })
    }

    /// POSTs `step`. An `initialize` goes without protocol headers (it negotiates); any other
    /// method is a stateless 2026-07-28 request with the headers rmcp requires.
    pub(crate) async fn post(&self, step: &McpStep) -> Result<Reply, String> {
        let method = step
            .body
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut request = http::Request::post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream");
        if method != "initialize" {
            request = request
                .header("mcp-protocol-version", STATELESS_PROTOCOL)
                .header("mcp-method", method);
            if let Some(name) = step.body.pointer("/params/name").and_then(Value::as_str) {
                request = request.header("mcp-name", name);
            }
        }
        if let Some(token) = &step.authorization {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(Bytes::from(step.body.to_string())))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        tokio::time::timeout(TIMEOUT, self.exchange(request))
            .await
            .map_err(|_| format!("no reply within {} s", TIMEOUT.as_secs()))?
    }

    async fn exchange(&self, request: http::Request<Full<Bytes>>) -> Result<Reply, String> {
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| error_chain(&e))?;
        let status = response.status().as_u16();
        let session = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = response.into_body();
        let mut buffer = Vec::new();
        // An SSE stream may stay open after the response: stop at the first JSON-RPC response.
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| error_chain(&e))?;
            if let Some(data) = frame.data_ref() {
                buffer.extend_from_slice(data);
                if buffer.len() > MAX_REPLY_BYTES {
                    return Err(format!("reply over {MAX_REPLY_BYTES} bytes"));
                }
            }
            if let Some(message) = find_response(&buffer) {
                return Ok(Reply {
                    status,
                    session,
                    message: Some(message),
                });
            }
        }
        Ok(Reply {
            status,
            session,
            message: find_response(&buffer),
        })
    }

    /// Ends a session the server opened (best effort: the outcome does not matter).
    pub(crate) async fn close(&self, session: &str) {
        let Ok(request) = http::Request::delete(&self.url)
            .header(SESSION_HEADER, session)
            .body(Full::new(Bytes::new()))
        else {
            return;
        };
        let _ignored = tokio::time::timeout(TIMEOUT, self.client.request(request)).await;
    }
}

/// The first JSON-RPC response in `buffer`: the whole body as JSON, or an SSE `data:` line.
fn find_response(buffer: &[u8]) -> Option<Value> {
    let text = String::from_utf8_lossy(buffer);
    let is_response = |v: &Value| v.get("result").is_some() || v.get("error").is_some();
    if let Ok(value) = serde_json::from_str::<Value>(text.trim())
        && is_response(&value)
    {
        return Some(value);
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .find(is_response)
}

fn native_tls_config() -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A platform root that rustls cannot parse is skipped, not fatal.
        let _ignored = roots.add(cert);
    }
    if roots.is_empty() {
        return Err("no usable root certificates found on this platform".to_owned());
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn empty_tls_config() -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
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
