//! JWKS URLs: the `{iss}/.well-known/jwks.json` rule, parsing, and the https-only policy.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use crate::error::JwksError;

/// The path appended to an issuer to find its JWKS.
pub const WELL_KNOWN_JWKS_PATH: &str = "/.well-known/jwks.json";

/// An absolute `https://` (or, for development, loopback `http://`) URL of a JWKS document.
///
/// Parsing checks syntax only: scheme `https` or `http`, a host, no user info, no fragment.
/// Whether plain `http` may be used is decided when fetching (and when a resolver is built):
/// only for a loopback host, and only with the development switch.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct JwksUrl {
    text: String,
    https: bool,
    authority: String,
    host: String,
    port: u16,
    path_and_query: String,
}

impl JwksUrl {
    /// Parses an absolute URL.
    pub fn parse(url: &str) -> Result<JwksUrl, JwksError> {
        let refuse = |why: &str| JwksError::Config(format!("JWKS URL {url:?}: {why}"));
        if url.contains('#') || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(refuse(
                "fragments, spaces and control characters are not allowed",
            ));
        }
        let uri: http::Uri = url.parse().map_err(|_| refuse("not an absolute URL"))?;
        let https = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            _ => return Err(refuse("the scheme must be https")),
        };
        let authority = uri.authority().ok_or_else(|| refuse("no host"))?;
        if authority.as_str().contains('@') {
            return Err(refuse("user info is not allowed"));
        }
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(refuse("no host"));
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path_and_query = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        Ok(JwksUrl {
            text: url.to_owned(),
            https,
            authority: authority.as_str().to_owned(),
            host: host.to_owned(),
            port,
            path_and_query,
        })
    }

    /// The default JWKS URL of an issuer: `{iss}/.well-known/jwks.json`, with a single
    /// trailing `/` of the issuer dropped first (so `https://a.example` and
    /// `https://a.example/` both give `https://a.example/.well-known/jwks.json`).
    pub fn for_issuer(issuer: &str) -> Result<JwksUrl, JwksError> {
        if issuer.contains('?') {
            return Err(JwksError::Config(format!(
                "issuer {issuer:?}: an issuer with a query has no default JWKS URL; configure one"
            )));
        }
        let base = issuer.strip_suffix('/').unwrap_or(issuer);
        JwksUrl::parse(&format!("{base}{WELL_KNOWN_JWKS_PATH}"))
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for `https://`.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host, without the brackets of an IPv6 literal.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (explicit, or 443 / 80).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host[:port]` as written, for the `Host` header.
    pub(crate) fn authority(&self) -> &str {
        &self.authority
    }

    /// The path and query, for the request line.
    pub(crate) fn path_and_query(&self) -> &str {
        &self.path_and_query
    }

    /// True if the host is `localhost`, an IPv4 address in 127.0.0.0/8, or `::1`.
    pub fn is_loopback_host(&self) -> bool {
        if self.host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        match self.host.parse::<IpAddr>() {
            Ok(ip) => is_loopback(ip),
            Err(_) => false,
        }
    }

    /// Checks the scheme policy: `https` always; `http` only for a loopback host and only when
    /// `allow_loopback_http` is set.
    pub(crate) fn check_scheme(&self, allow_loopback_http: bool) -> bool {
        self.https || (allow_loopback_http && self.is_loopback_host())
    }
}

/// True for 127.0.0.0/8, `::1` and IPv4-mapped loopback.
pub(crate) fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6 == Ipv6Addr::LOCALHOST || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

impl fmt::Debug for JwksUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JwksUrl({:?})", self.text)
    }
}

impl fmt::Display for JwksUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
