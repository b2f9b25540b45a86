//! The streamable-HTTP service: `/mcp` behind the gate, plus `/health` and `/metrics`.

use std::sync::Arc;

use attest_cache::Health;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use rmcp::ServerHandler;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::gate::AttestationGate;

/// A router serving `/mcp` (MCP streamable HTTP, every request gated), `/health` and
/// `/metrics`. `handler` builds the application's handler for each session (or, on protocol
/// 2026-07-28, each request).
pub fn router<H, F>(handler: F, gate: AttestationGate) -> Router
where
    H: ServerHandler,
    F: Fn() -> H + Send + Sync + 'static,
{
    router_with_config(handler, gate, StreamableHttpServerConfig::default())
}

/// [`router`] with rmcp's streamable-HTTP configuration.
pub fn router_with_config<H, F>(
    handler: F,
    gate: AttestationGate,
    config: StreamableHttpServerConfig,
) -> Router
where
    H: ServerHandler,
    F: Fn() -> H + Send + Sync + 'static,
{
    let factory_gate = gate.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(factory_gate.wrap(handler())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let health_gate = gate.clone();
    let metrics_gate = gate;
    Router::new()
        .nest_service("/mcp", mcp)
        .route("/health", get(move || health(health_gate.clone())))
        .route("/metrics", get(move || metrics(metrics_gate.clone())))
}

/// `200 {"status":"ok"}`, `200 {"status":"degraded",...}` while the replay store runs on its
/// fallback, or `503 {"status":"unhealthy",...}`.
async fn health(gate: AttestationGate) -> impl IntoResponse {
    let (status, body) = match gate.verifier().replay_health() {
        Health::Healthy => (StatusCode::OK, serde_json::json!({"status": "ok"})),
        Health::Degraded { reason } => (
            StatusCode::OK,
            serde_json::json!({"status": "degraded", "replay_store": reason}),
        ),
        Health::Unhealthy { reason } => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "unhealthy", "replay_store": reason}),
        ),
        other => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "unhealthy", "replay_store": format!("{other:?}")}),
        ),
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

async fn metrics(gate: AttestationGate) -> impl IntoResponse {
    let response = gate.verifier().observer().metrics_response();
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, response.content_type)],
        response.body,
    )
}
