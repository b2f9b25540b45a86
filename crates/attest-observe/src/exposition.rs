//! The `/metrics` endpoint: Prometheus text exposition, without a server framework.

use prometheus::{Encoder, Registry, TextEncoder};

use crate::error::ObserveError;
use crate::observer::Observer;

/// The `Content-Type` of the Prometheus text exposition format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A ready `/metrics` response: status, content type and body. Map it onto any HTTP framework.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsResponse {
    /// 200, or 500 if the metrics could not be encoded.
    pub status: u16,
    /// [`CONTENT_TYPE`], or `text/plain; charset=utf-8` for an error.
    pub content_type: &'static str,
    /// The exposition text, or the error.
    pub body: String,
}

/// Encodes every family of `registry` in the text exposition format.
pub fn encode_text(registry: &Registry) -> Result<String, ObserveError> {
    let families = registry.gather();
    let mut body = Vec::new();
    TextEncoder::new()
        .encode(&families, &mut body)
        .map_err(|e| ObserveError::Encode(e.to_string()))?;
    String::from_utf8(body).map_err(|e| ObserveError::Encode(e.to_string()))
}

/// The `/metrics` response for `registry`. Never fails: an encoding error becomes a 500.
pub fn metrics_response(registry: &Registry) -> MetricsResponse {
    match encode_text(registry) {
        Ok(body) => MetricsResponse {
            status: 200,
            content_type: CONTENT_TYPE,
            body,
        },
        Err(error) => MetricsResponse {
            status: 500,
            content_type: "text/plain; charset=utf-8",
            body: error.to_string(),
        },
    }
}

impl Observer {
    /// The observer's registry in the text exposition format.
    pub fn encode_text(&self) -> Result<String, ObserveError> {
        encode_text(self.registry())
    }

    /// The `/metrics` response for the observer's registry.
    pub fn metrics_response(&self) -> MetricsResponse {
        metrics_response(self.registry())
    }
}
