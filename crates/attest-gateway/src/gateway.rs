//! `Gateway`: the shared state of every relayed session, and the two ways to serve it:
//! streamable HTTP (`/mcp`, `/health`, `/metrics`) or one session over the process's own
//! stdin and stdout.
//!
//! Upstream sessions: every downstream session that begins with `initialize` gets its own
//! upstream session (for a command upstream, its own child process), so that upstream state
//! (subscriptions, roots, log level, anything the server keeps per session) never mixes between
//! agents, and an upstream crash takes down one session only. Sessionless requests (protocol
//! 2026-07-28) share one upstream session, started on first use and restarted after a crash:
//! they carry no session state by definition.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use attest_mcp_server::{AttestationGate, Refusal, VerifiedAgent};
use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ServerPeerInfo};
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;

use crate::audit::{AuditLog, AuditRecord};
use crate::error::GatewayError;
use crate::metrics::GatewayMetrics;
use crate::policy::{Decision, GatewayPolicy, PolicyHandle, Target};
use crate::relay::GatewayHandler;
use crate::upstream::{DownstreamLink, Upstream, UpstreamSession};

/// How long an upstream server may take to start and answer `initialize`, by default. Generous:
/// `npx` may download the server on first use.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// How the gateway treats what it relays.
#[derive(Debug)]
#[non_exhaustive]
pub struct GatewayOptions {
    /// Which agent may use which tool, resource or prompt. Default: allow every admitted agent.
    pub policy: PolicyHandle,
    /// Where decisions are recorded. Default: nowhere.
    pub audit: AuditLog,
    /// Forward the verified identity upstream as plain claims, in `_meta` under
    /// [`IDENTITY_META_KEY`](crate::IDENTITY_META_KEY). Default: off.
    pub forward_identity: bool,
    /// How long the upstream server may take to start and initialize.
    pub connect_timeout: Duration,
}

impl Default for GatewayOptions {
    fn default() -> GatewayOptions {
        GatewayOptions {
            policy: PolicyHandle::new(GatewayPolicy::allow_all()),
            audit: AuditLog::disabled(),
            forward_identity: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// Attestation in front of one upstream MCP server. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

impl Gateway {
    /// A gateway admitting requests through `gate` and relaying them to `upstream`. Nothing is
    /// started yet; [`Gateway::probe`] checks the upstream server now rather than on first use.
    pub fn new(
        upstream: Upstream,
        gate: AttestationGate,
        options: GatewayOptions,
    ) -> Result<Gateway, GatewayError> {
        let metrics = GatewayMetrics::register(gate.verifier().observer().registry())?;
        let recorder = refusal_recorder(&options.audit, &metrics, gate.verifier().clone());
        let gate = gate.on_refusal(recorder);
        let shared = Shared {
            gate,
            upstream,
            policy: options.policy,
            audit: options.audit,
            forward_identity: options.forward_identity,
            metrics,
            connect_timeout: options.connect_timeout,
            info: std::sync::Mutex::new(None),
            sessionless: tokio::sync::Mutex::new(None),
            labels: AtomicU64::new(0),
        };
        Ok(Gateway {
            shared: Arc::new(shared),
        })
    }

    /// Starts the shared upstream session now, so that a broken upstream command or URL fails
    /// at startup with its error, and the first request finds the server warm.
    pub async fn probe(&self) -> Result<ServerPeerInfo, GatewayError> {
        let session = self.shared.sessionless().await?;
        session.info().ok_or_else(|| {
            GatewayError::Upstream("the upstream server did not describe itself".into())
        })
    }

    /// The policy, to reload it (e.g. on SIGHUP).
    pub fn policy(&self) -> &PolicyHandle {
        &self.shared.policy
    }

    /// The attestation gate.
    pub fn gate(&self) -> &AttestationGate {
        &self.shared.gate
    }

    /// A handler for one downstream session, behind the gate.
    pub fn handler(&self) -> attest_mcp_server::AttestingServer<GatewayHandler> {
        self.shared
            .gate
            .wrap(GatewayHandler::new(self.shared.clone()))
    }

    /// The streamable-HTTP service: `/mcp` (every request gated, then relayed), `/health` and
    /// `/metrics` (the attestation metrics and the gateway's).
    pub fn router(&self) -> axum::Router {
        self.router_with_config(StreamableHttpServerConfig::default())
    }

    /// [`Gateway::router`] with rmcp's streamable-HTTP configuration (allowed hosts, stateful or
    /// stateless mode, the cancellation token that ends open streams at shutdown).
    pub fn router_with_config(&self, config: StreamableHttpServerConfig) -> axum::Router {
        let shared = self.shared.clone();
        attest_mcp_server::http::router_with_config(
            move || GatewayHandler::new(shared.clone()),
            self.shared.gate.clone(),
            config,
        )
    }

    /// Serves one downstream session over this process's stdin and stdout until the agent's
    /// client closes it: the form a desktop client launches in place of the server.
    pub async fn serve_stdio(&self) -> Result<(), GatewayError> {
        let running = self
            .handler()
            .serve((tokio::io::stdin(), tokio::io::stdout()))
            .await
            .map_err(|e| GatewayError::Downstream(e.to_string()))?;
        running
            .waiting()
            .await
            .map_err(|e| GatewayError::Downstream(e.to_string()))?;
        Ok(())
    }
}

/// The gate's refusals (no attestation, a forged or replayed one, a failed proof) as gateway
/// decisions: counted under the rule `(attestation)` and written to the audit log.
fn refusal_recorder(
    audit: &AuditLog,
    metrics: &GatewayMetrics,
    clock: attest_mcp_server::Verifier,
) -> impl Fn(&Refusal<'_>) + Send + Sync + 'static {
    let audit = audit.clone();
    let metrics = metrics.clone();
    move |refusal| {
        metrics.decision(false, Some(ATTESTATION_RULE));
        if audit.is_enabled() {
            audit.record(&AuditRecord {
                time: clock.now().as_secs(),
                session: session_id(refusal.extensions),
                issuer: None,
                subject: None,
                method: refusal.method,
                name: refusal.name.unwrap_or_default(),
                allowed: false,
                reason: refusal.reason.as_str(),
                rule: None,
            });
        }
    }
}

/// The `rule` metric label of a request the attestation gate refused.
const ATTESTATION_RULE: &str = "(attestation)";

/// The streamable-HTTP session id of a request, from its HTTP request parts.
pub(crate) fn session_id(extensions: &rmcp::model::Extensions) -> Option<&str> {
    extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.headers.get("mcp-session-id"))
        .and_then(|id| id.to_str().ok())
}

/// What every relayed session shares.
pub(crate) struct Shared {
    gate: AttestationGate,
    upstream: Upstream,
    pub(crate) policy: PolicyHandle,
    audit: AuditLog,
    pub(crate) forward_identity: bool,
    pub(crate) metrics: GatewayMetrics,
    connect_timeout: Duration,
    /// The upstream server's description, from its latest `initialize`.
    info: std::sync::Mutex<Option<ServerPeerInfo>>,
    /// The upstream session of sessionless requests.
    sessionless: tokio::sync::Mutex<Option<Arc<UpstreamSession>>>,
    labels: AtomicU64,
}

impl Shared {
    /// Starts an upstream session presenting `config`, relaying back through `link`.
    pub(crate) async fn connect(
        &self,
        config: ClientConfig,
        link: DownstreamLink,
    ) -> Result<UpstreamSession, GatewayError> {
        let session =
            UpstreamSession::connect(&self.upstream, config, link, self.connect_timeout).await?;
        if let (Some(info), Ok(mut latest)) = (session.info(), self.info.lock()) {
            *latest = Some(info);
        }
        Ok(session)
    }

    /// The shared upstream session of sessionless requests, started (or restarted after a
    /// crash) on demand. It presents the gateway itself, with no client capabilities: there is
    /// no agent session to relay server-initiated requests to.
    pub(crate) async fn sessionless(&self) -> Result<Arc<UpstreamSession>, GatewayError> {
        let mut slot = self.sessionless.lock().await;
        if let Some(session) = slot.as_ref().filter(|s| !s.is_closed()) {
            return Ok(session.clone());
        }
        let config = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("attest-gateway", env!("CARGO_PKG_VERSION")),
        );
        let session = Arc::new(self.connect(config, DownstreamLink::default()).await?);
        *slot = Some(session.clone());
        Ok(session)
    }

    /// The upstream server's latest description.
    pub(crate) fn upstream_info(&self) -> Option<ServerPeerInfo> {
        self.info.lock().ok().and_then(|info| info.clone())
    }

    /// A fresh label for a downstream handler, for the audit log.
    pub(crate) fn next_label(&self) -> String {
        format!("gateway-{}", self.labels.fetch_add(1, Ordering::Relaxed))
    }

    /// Records a policy decision in the audit log.
    pub(crate) fn audit(
        &self,
        session: &str,
        agent: Option<&VerifiedAgent>,
        method: &str,
        target: Target<'_>,
        decision: &Decision,
    ) {
        if !self.audit.is_enabled() {
            return;
        }
        let record = AuditRecord::from_decision(
            self.gate.verifier().now().as_secs(),
            Some(session),
            agent.map(VerifiedAgent::claims),
            method,
            target.name(),
            decision,
        );
        self.audit.record(&record);
    }
}
