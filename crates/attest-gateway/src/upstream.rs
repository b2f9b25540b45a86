//! The upstream side: an rmcp client session to the real MCP server (a child process over
//! stdio, or streamable HTTP), and the relay of what that server sends back toward the agent.
//!
//! What the upstream server sends on its own (progress, log messages, list-changed and
//! resource-updated events, and its requests for sampling, elicitation and roots) arrives at
//! [`UpstreamClient`], which hands it to the downstream session through a [`DownstreamLink`].
//! Progress is routed by token, so it reaches the request it belongs to even when several
//! downstream requests share one upstream session.

// Sampling, roots and logging are deprecated by SEP-2577 (2026-07-28), but upstream servers on
// earlier versions still use them, and the gateway relays them faithfully.
#![allow(deprecated)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    ClientCapabilities, ClientConfig, CreateMessageRequestParams, CreateMessageResult,
    CustomNotification, ElicitRequestParams, ElicitResult, ListRootsResult,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken,
    ResourceUpdatedNotificationParam, ServerPeerInfo,
};
use rmcp::service::{NotificationContext, Peer, RequestContext, RunningService};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ErrorData as McpError, RoleClient, RoleServer, ServiceExt};
use tokio::sync::Notify;

use crate::error::GatewayError;

/// How long a progress notification whose token is not yet routed waits for its route: the
/// upstream can answer before the relaying task has registered the request it sent.
const ROUTE_WAIT: Duration = Duration::from_millis(200);

/// Where the real MCP server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// A command started as a child process, spoken to over its stdin and stdout. Its stderr
    /// is inherited, so the server's own log stays visible.
    Command {
        /// The program.
        program: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// A streamable-HTTP endpoint, e.g. `http://127.0.0.1:9000/mcp`.
    Url(String),
}

impl Upstream {
    /// A command from its words: the program, then its arguments.
    pub fn command(
        words: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<Upstream, GatewayError> {
        let mut words = words.into_iter().map(Into::into);
        let program = words
            .next()
            .filter(|program| !program.trim().is_empty())
            .ok_or_else(|| GatewayError::Upstream("the upstream command is empty".into()))?;
        Ok(Upstream::Command {
            program,
            args: words.collect(),
        })
    }

    /// A short description for logs: the program or the URL, never the arguments' values.
    pub fn describe(&self) -> String {
        match self {
            Upstream::Command { program, .. } => format!("command `{program}`"),
            Upstream::Url(url) => format!("url {url}"),
        }
    }
}

/// One connected upstream session. Dropping it ends the session (and stops a child process).
pub(crate) struct UpstreamSession {
    service: RunningService<RoleClient, UpstreamClient>,
}

impl UpstreamSession {
    /// Starts the upstream server (or connects to it) and runs `initialize` with `config`, the
    /// downstream client's own configuration with the attestation stripped.
    pub(crate) async fn connect(
        upstream: &Upstream,
        config: ClientConfig,
        link: DownstreamLink,
        timeout: Duration,
    ) -> Result<UpstreamSession, GatewayError> {
        let client = UpstreamClient { config, link };
        let connecting = async {
            match upstream {
                Upstream::Command { program, args } => {
                    let mut command = tokio::process::Command::new(program);
                    command.args(args);
                    let transport = TokioChildProcess::new(command).map_err(|e| {
                        GatewayError::Upstream(format!("cannot start {}: {e}", upstream.describe()))
                    })?;
                    client.serve(transport).await.map_err(|e| {
                        GatewayError::Upstream(format!(
                            "{} did not initialize: {e}",
                            upstream.describe()
                        ))
                    })
                }
                Upstream::Url(url) => {
                    let transport = StreamableHttpClientTransport::from_uri(url.as_str());
                    client.serve(transport).await.map_err(|e| {
                        GatewayError::Upstream(format!(
                            "{} did not initialize: {e}",
                            upstream.describe()
                        ))
                    })
                }
            }
        };
        let service = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| {
                GatewayError::Upstream(format!(
                    "{} did not initialize within {} s",
                    upstream.describe(),
                    timeout.as_secs()
                ))
            })??;
        Ok(UpstreamSession { service })
    }

    /// The client side of the session, to send requests and notifications upstream.
    pub(crate) fn peer(&self) -> &Peer<RoleClient> {
        self.service.peer()
    }

    /// What the upstream server said about itself at `initialize`.
    pub(crate) fn info(&self) -> Option<ServerPeerInfo> {
        self.peer().peer_info().map(|info| (*info).clone())
    }

    /// True once the upstream connection is gone (the child exited, the server went away).
    pub(crate) fn is_closed(&self) -> bool {
        self.service.is_closed()
    }

    /// Where upstream traffic for this session is relayed back to.
    pub(crate) fn link(&self) -> &DownstreamLink {
        &self.service.service().link
    }
}

/// The downstream side of an upstream session: the agent's session (if the upstream session
/// belongs to one) and the routes of in-flight progress tokens.
#[derive(Clone, Default)]
pub(crate) struct DownstreamLink {
    inner: Arc<LinkInner>,
}

#[derive(Default)]
struct LinkInner {
    /// The downstream session this upstream session serves; `None` for the shared upstream of
    /// sessionless (2026-07-28) requests, which relays only progress.
    session: Mutex<Option<DownstreamSession>>,
    /// Upstream progress token → where that progress goes.
    progress: Mutex<HashMap<ProgressToken, ProgressRoute>>,
    routed: Notify,
}

/// The agent's session: its peer, and what its client said it can do.
#[derive(Clone)]
struct DownstreamSession {
    peer: Peer<RoleServer>,
    capabilities: ClientCapabilities,
}

/// Where one upstream request's progress is relayed: the downstream peer and the token the
/// agent chose.
#[derive(Clone)]
struct ProgressRoute {
    peer: Peer<RoleServer>,
    token: ProgressToken,
}

impl DownstreamLink {
    /// A link for the session of `peer`, whose client declared `capabilities`.
    pub(crate) fn for_session(
        peer: Peer<RoleServer>,
        capabilities: ClientCapabilities,
    ) -> DownstreamLink {
        let link = DownstreamLink::default();
        if let Ok(mut session) = link.inner.session.lock() {
            *session = Some(DownstreamSession { peer, capabilities });
        }
        link
    }

    fn session(&self) -> Option<DownstreamSession> {
        self.inner.session.lock().ok().and_then(|s| s.clone())
    }

    /// Routes progress of the upstream request with token `upstream` to `peer` under the
    /// agent's `token`, until the returned guard drops.
    pub(crate) fn route_progress(
        &self,
        upstream: ProgressToken,
        peer: Peer<RoleServer>,
        token: ProgressToken,
    ) -> ProgressGuard {
        if let Ok(mut routes) = self.inner.progress.lock() {
            routes.insert(upstream.clone(), ProgressRoute { peer, token });
        }
        self.inner.routed.notify_waiters();
        ProgressGuard {
            link: self.clone(),
            token: upstream,
        }
    }

    fn route(&self, token: &ProgressToken) -> Option<ProgressRoute> {
        self.inner.progress.lock().ok()?.get(token).cloned()
    }

    /// The route of `token`, waiting briefly for a request still being registered.
    async fn await_route(&self, token: &ProgressToken) -> Option<ProgressRoute> {
        let wait = async {
            loop {
                let routed = self.inner.routed.notified();
                tokio::pin!(routed);
                routed.as_mut().enable();
                if let Some(route) = self.route(token) {
                    return route;
                }
                routed.await;
            }
        };
        tokio::time::timeout(ROUTE_WAIT, wait).await.ok()
    }
}

/// Unroutes a progress token when its request ends.
pub(crate) struct ProgressGuard {
    link: DownstreamLink,
    token: ProgressToken,
}

impl Drop for ProgressGuard {
    fn drop(&mut self) {
        if let Ok(mut routes) = self.link.inner.progress.lock() {
            routes.remove(&self.token);
        }
    }
}

/// The gateway's client toward the upstream server: it presents the agent's client
/// configuration (without the attestation) and relays the server's own traffic downstream.
pub(crate) struct UpstreamClient {
    config: ClientConfig,
    link: DownstreamLink,
}

/// The error for a server-initiated request the agent's client cannot take.
fn not_relayed(what: &str) -> McpError {
    McpError::new(
        rmcp::model::ErrorCode::METHOD_NOT_FOUND,
        format!(
            "{what}: the agent's client did not declare this capability, or the request has no session"
        ),
        None,
    )
}

/// A downstream failure as the error the upstream server sees.
fn downstream_error(error: rmcp::ServiceError) -> McpError {
    match error {
        rmcp::ServiceError::McpError(error) => error,
        other => {
            McpError::internal_error(format!("the agent's client did not answer: {other}"), None)
        }
    }
}

impl ClientHandler for UpstreamClient {
    fn get_info(&self) -> ClientConfig {
        self.config.clone()
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, McpError> {
        match self.link.session() {
            Some(session) if session.capabilities.sampling.is_some() => session
                .peer
                .create_message(params)
                .await
                .map_err(downstream_error),
            _ => Err(not_relayed("sampling/createMessage")),
        }
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, McpError> {
        match self.link.session() {
            Some(session) if session.capabilities.roots.is_some() => {
                session.peer.list_roots().await.map_err(downstream_error)
            }
            _ => Err(not_relayed("roots/list")),
        }
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        match self.link.session() {
            Some(session) if session.capabilities.elicitation.is_some() => session
                .peer
                .create_elicitation(request)
                .await
                .map_err(downstream_error),
            _ => Err(not_relayed("elicitation/create")),
        }
    }

    async fn on_progress(
        &self,
        mut params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let Some(route) = self.link.await_route(&params.progress_token).await else {
            tracing::debug!(token = ?params.progress_token, "dropping upstream progress with no route");
            return;
        };
        params.progress_token = route.token;
        relay("progress", route.peer.notify_progress(params).await);
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some(session) = self.link.session() {
            relay(
                "log message",
                session.peer.notify_logging_message(params).await,
            );
        }
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some(session) = self.link.session() {
            relay(
                "resource updated",
                session
                    .peer
                    .notify_resource_updated(params)
                    .await
                    .map_err(|e| e.to_string()),
            );
        }
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        if let Some(session) = self.link.session() {
            relay(
                "resource list changed",
                session
                    .peer
                    .notify_resource_list_changed()
                    .await
                    .map_err(|e| e.to_string()),
            );
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        if let Some(session) = self.link.session() {
            relay(
                "tool list changed",
                session
                    .peer
                    .notify_tool_list_changed()
                    .await
                    .map_err(|e| e.to_string()),
            );
        }
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        if let Some(session) = self.link.session() {
            relay(
                "prompt list changed",
                session
                    .peer
                    .notify_prompt_list_changed()
                    .await
                    .map_err(|e| e.to_string()),
            );
        }
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some(session) = self.link.session() {
            let notification = rmcp::model::ServerNotification::CustomNotification(notification);
            relay(
                "custom notification",
                session.peer.send_notification(notification).await,
            );
        }
    }
}

/// Logs a notification that could not be relayed downstream (the agent went away).
fn relay<E: std::fmt::Display>(what: &str, outcome: Result<(), E>) {
    if let Err(error) = outcome {
        tracing::debug!(%error, "could not relay upstream {what} to the agent");
    }
}
