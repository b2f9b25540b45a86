//! The https path: rustls (ring) against a loopback TLS server with a private root.

use std::sync::Arc;
use std::time::Duration;

use attest_jwks::{HttpConfig, JwksError, JwksResolver, UnavailableCause};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

struct TlsIssuer {
    port: u16,
    root_der: Vec<u8>,
}

/// A TLS server for `localhost` that answers every request with `body`.
async fn tls_issuer(body: String) -> TlsIssuer {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    TlsIssuer {
        port,
        root_der: cert.to_vec(),
    }
}

fn https_config(roots: Vec<Vec<u8>>) -> HttpConfig {
    let mut http = HttpConfig::default();
    http.native_roots = false;
    http.extra_roots_der = roots;
    http.request_timeout = Duration::from_secs(5);
    http
}

#[tokio::test]
async fn https_with_a_trusted_private_root_works() {
    let k1 = key(1, "k1");
    let server = tls_issuer(jwks(&[&k1])).await;
    let iss = format!("https://localhost:{}", server.port);
    let resolver = JwksResolver::builder(observer(&iss))
        .issuer(iss.as_str())
        .http(https_config(vec![server.root_der.clone()]))
        .build()
        .unwrap();
    assert_eq!(resolver.resolve(&iss, "k1").await.unwrap(), k1.public_key());
}

#[tokio::test]
async fn https_with_an_untrusted_certificate_fails() {
    let k1 = key(1, "k1");
    let server = tls_issuer(jwks(&[&k1])).await;
    let other = tls_issuer(jwks(&[&k1])).await;
    let iss = format!("https://localhost:{}", server.port);
    let resolver = JwksResolver::builder(observer(&iss))
        .issuer(iss.as_str())
        .http(https_config(vec![other.root_der]))
        .retry_policy(no_retries())
        .build()
        .unwrap();
    match resolver.resolve(&iss, "k1").await {
        Err(JwksError::Unavailable(UnavailableCause::Network(detail))) => {
            assert!(detail.starts_with("TLS"), "{detail}");
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
}

#[test]
fn https_without_any_root_is_a_configuration_error() {
    let resolver = JwksResolver::builder(observer("https://issuer.example"))
        .issuer("https://issuer.example")
        .http(https_config(Vec::new()))
        .build();
    assert!(matches!(resolver, Err(JwksError::Config(_))));
    let garbage = JwksResolver::builder(observer("https://issuer.example"))
        .issuer("https://issuer.example")
        .http(https_config(vec![b"not a certificate".to_vec()]))
        .build();
    assert!(matches!(garbage, Err(JwksError::Config(_))));
}
