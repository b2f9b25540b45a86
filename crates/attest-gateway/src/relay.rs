//! `GatewayHandler`: the rmcp `ServerHandler` behind the attestation gate, which relays every
//! admitted request to the upstream server and its answer back.
//!
//! Attestation is not decided here: the handler is always wrapped by
//! [`attest_mcp_server::AttestingServer`], so a request that reaches it has passed the gate.
//! What this handler adds is the gateway's own policy (which agent may use which tool,
//! resource or prompt), the audit record of that decision, and the relay itself: it strips the
//! attestation from what it forwards, maps progress tokens, propagates cancellation, and turns
//! an upstream failure into a clean JSON-RPC error.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use attest_mcp_server::VerifiedAgent;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CancelTaskParams, CancelTaskRequest,
    CancelledNotificationParam, ClientConfig, ClientRequest, CompleteRequest,
    CompleteRequestParams, CompleteResult, CustomNotification, CustomRequest, CustomResult,
    ErrorCode, GetPromptRequest, GetPromptRequestParams, GetPromptResponse, GetPromptResult,
    GetSkillRequest, GetSkillRequestParams, GetSkillResult, GetTaskParams, GetTaskRequest,
    GetTaskResult, InitializeRequestParams, InitializeResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListSkillsResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceDirectoryRequest, ReadResourceDirectoryRequestParams,
    ReadResourceDirectoryResult, ReadResourceRequest, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Reference, RequestOptionalParam, ServerConfig,
    ServerResult, SubscribeRequestParams, UnsubscribeRequestParams, UpdateTaskParams,
    UpdateTaskRequest,
};
// Logging and resource subscriptions are deprecated for 2026-07-28, but still relayed for
// sessions on earlier versions.
#[allow(deprecated)]
use rmcp::model::{SetLevelRequest, SetLevelRequestParams, SubscribeRequest, UnsubscribeRequest};
use rmcp::service::{NotificationContext, PeerRequestOptions, RequestContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceError};
use serde::de::DeserializeOwned;

use crate::gateway::Shared;
use crate::policy::Target;
use crate::strip::{identity_claims, strip_capabilities, upstream_meta};
use crate::upstream::{DownstreamLink, UpstreamSession};

/// The JSON-RPC error code of a request the gateway's policy denies.
pub const POLICY_DENIED_CODE: i32 = -31100;
/// The JSON-RPC error code of a request the upstream server could not take: it is not
/// running, it crashed, or it could not be started.
pub const UPSTREAM_UNAVAILABLE_CODE: i32 = -31101;

/// One downstream session's relay (or, on protocol 2026-07-28, one request's).
pub struct GatewayHandler {
    shared: Arc<Shared>,
    /// This session's own upstream session, made at `initialize`. Sessionless requests use the
    /// gateway's shared upstream session instead.
    session: OnceLock<Arc<UpstreamSession>>,
    /// This handler's name in the audit log when the transport names no session.
    label: String,
}

impl GatewayHandler {
    pub(crate) fn new(shared: Arc<Shared>) -> GatewayHandler {
        let label = shared.next_label();
        GatewayHandler {
            shared,
            session: OnceLock::new(),
            label,
        }
    }

    /// The upstream session for a request: this session's, or the shared one.
    async fn upstream(&self) -> Result<Arc<UpstreamSession>, McpError> {
        match self.session.get() {
            Some(session) => Ok(session.clone()),
            None => self
                .shared
                .sessionless()
                .await
                .map_err(|e| unavailable(&e.to_string())),
        }
    }

    /// Relays `request` upstream and awaits its answer, forwarding its `_meta` without the
    /// attestation, routing its progress back, and cancelling it upstream if the agent cancels.
    async fn relay(
        &self,
        method: &str,
        request: ClientRequest,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, McpError> {
        let upstream = self.upstream().await?;
        let identity = match (
            self.shared.forward_identity,
            context.extensions.get::<VerifiedAgent>(),
        ) {
            (true, Some(agent)) => Some(identity_claims(agent)),
            _ => None,
        };
        let options =
            PeerRequestOptions::no_options().with_meta(upstream_meta(&context.meta.0.0, identity));
        let started = Instant::now();
        let peer = upstream.peer().clone();
        let handle = peer
            .send_request_with_option(request, options)
            .await
            .map_err(|e| upstream_failure(&e))?;
        let id = handle.id.clone();
        let _progress = context.meta.get_progress_token().map(|token| {
            upstream.link().route_progress(
                handle.progress_token.clone(),
                context.peer.clone(),
                token,
            )
        });
        let answer = tokio::select! {
            answer = handle.await_response() => answer,
            () = context.ct.cancelled() => {
                let cancel = CancelledNotificationParam::new(Some(id), Some("cancelled by the agent".into()));
                if let Err(e) = peer.notify_cancelled(cancel).await {
                    tracing::debug!(error = %e, "could not relay a cancellation upstream");
                }
                return Err(McpError::new(ErrorCode::INTERNAL_ERROR, "request cancelled", None));
            }
        };
        self.shared.metrics.upstream(method, started.elapsed());
        answer.map_err(|e| upstream_failure(&e))
    }

    /// Relays `request` and reads its answer as `T`.
    async fn forward<T: FromUpstream>(
        &self,
        method: &str,
        request: ClientRequest,
        context: &RequestContext<RoleServer>,
    ) -> Result<T, McpError> {
        T::from_upstream(self.relay(method, request, context).await?)
    }

    /// The policy's decision on `target` for the agent of `context`, audited and counted; an
    /// `Err` is the refusal to send.
    fn authorize(
        &self,
        method: &str,
        target: Target<'_>,
        context: &RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let agent = context.extensions.get::<VerifiedAgent>();
        let decision = self
            .shared
            .policy
            .current()
            .decide(agent.map(VerifiedAgent::claims), target);
        self.shared
            .metrics
            .decision(decision.allowed, decision.rule.as_deref());
        self.shared.audit(
            &self.session_label(context),
            agent,
            method,
            target,
            &decision,
        );
        if decision.allowed {
            return Ok(());
        }
        let data = serde_json::json!({ "reason": decision.reason, "rule": decision.rule });
        Err(McpError::new(
            ErrorCode(POLICY_DENIED_CODE),
            format!("denied by the gateway's policy: {}", decision.reason),
            Some(data),
        ))
    }

    /// Whether the policy would let the agent of `context` use a target: what list results
    /// show. One policy snapshot serves the whole list. Not audited: listing decides nothing.
    fn visibility<'a>(
        &self,
        context: &'a RequestContext<RoleServer>,
    ) -> impl Fn(Target<'_>) -> bool + 'a {
        let policy = self.shared.policy.current();
        let agent = context
            .extensions
            .get::<VerifiedAgent>()
            .map(VerifiedAgent::claims);
        move |target| policy.decide(agent, target).allowed
    }

    /// The session a request belongs to, for the audit log: the streamable-HTTP session id, or
    /// this handler's own label (stdio, or a sessionless request).
    fn session_label(&self, context: &RequestContext<RoleServer>) -> String {
        crate::gateway::session_id(&context.extensions)
            .map_or_else(|| self.label.clone(), str::to_owned)
    }

    /// The server description the agent sees: the upstream server's.
    fn upstream_config(&self) -> ServerConfig {
        let info = match self.session.get() {
            Some(session) => session.info(),
            None => self.shared.upstream_info(),
        };
        let Some(info) = info else {
            return ServerConfig::default();
        };
        let mut config =
            InitializeResult::new(info.capabilities).with_protocol_version(info.protocol_version);
        if let Some(server_info) = info.server_info {
            config = config.with_server_info(server_info);
        }
        config.instructions = info.instructions;
        config
    }
}

/// A request whose params are optional (the lists), as `ClientRequest` variants carry it.
fn optional<M: Default, P>(params: Option<P>) -> RequestOptionalParam<M, P> {
    RequestOptionalParam {
        method: M::default(),
        params,
        extensions: Default::default(),
    }
}

/// Requests relayed as they are, with no policy decision (they name no tool, resource or
/// prompt, or are lists and tasks of what was already authorized).
macro_rules! relayed {
    ($( $(#[$attr:meta])* $name:ident($method:literal, $params:ty) -> $result:ty = $variant:ident($build:expr); )*) => {$(
        $(#[$attr])*
        async fn $name(&self, params: $params, context: RequestContext<RoleServer>) -> Result<$result, McpError> {
            self.forward($method, ClientRequest::$variant($build(params)), &context).await
        }
    )*};
}

impl ServerHandler for GatewayHandler {
    relayed! {
        #[allow(deprecated)]
        set_level("logging/setLevel", SetLevelRequestParams) -> () = SetLevelRequest(SetLevelRequest::new);
        list_resource_templates("resources/templates/list", Option<PaginatedRequestParams>) -> ListResourceTemplatesResult = ListResourceTemplatesRequest(optional);
        #[allow(deprecated)]
        unsubscribe("resources/unsubscribe", UnsubscribeRequestParams) -> () = UnsubscribeRequest(UnsubscribeRequest::new);
        get_task("tasks/get", GetTaskParams) -> GetTaskResult = GetTaskRequest(GetTaskRequest::new);
        update_task("tasks/update", UpdateTaskParams) -> () = UpdateTaskRequest(UpdateTaskRequest::new);
        cancel_task("tasks/cancel", CancelTaskParams) -> () = CancelTaskRequest(CancelTaskRequest::new);
        list_skills("skills/list", Option<PaginatedRequestParams>) -> ListSkillsResult = ListSkillsRequest(optional);
        get_skill("skills/get", GetSkillRequestParams) -> GetSkillResult = GetSkillRequest(GetSkillRequest::new);
        read_resource_directory("resources/directory/read", ReadResourceDirectoryRequestParams) -> ReadResourceDirectoryResult = ReadResourceDirectoryRequest(ReadResourceDirectoryRequest::new);
    }

    /// Completion reveals a prompt's (or a resource template's) arguments: it needs the same
    /// permission as getting the prompt or reading the resource.
    async fn complete(
        &self,
        params: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let target = match &params.r#ref {
            Reference::Prompt(prompt) => Target::Prompt(&prompt.name),
            Reference::Resource(template) => Target::Resource(&template.uri),
            // A kind of reference the policy cannot name: fail closed.
            _ => {
                return Err(McpError::invalid_params(
                    "the gateway cannot authorize this kind of completion reference",
                    None,
                ));
            }
        };
        self.authorize("completion/complete", target, &context)?;
        let request = ClientRequest::CompleteRequest(CompleteRequest::new(params));
        self.forward("completion/complete", request, &context).await
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.authorize("tools/call", Target::Tool(&params.name), &context)?;
        self.forward(
            "tools/call",
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            &context,
        )
        .await
    }

    async fn read_resource(
        &self,
        params: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        self.authorize("resources/read", Target::Resource(&params.uri), &context)?;
        self.forward(
            "resources/read",
            ClientRequest::ReadResourceRequest(ReadResourceRequest::new(params)),
            &context,
        )
        .await
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        params: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.authorize(
            "resources/subscribe",
            Target::Resource(&params.uri),
            &context,
        )?;
        self.forward(
            "resources/subscribe",
            ClientRequest::SubscribeRequest(SubscribeRequest::new(params)),
            &context,
        )
        .await
    }

    async fn get_prompt(
        &self,
        params: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        self.authorize("prompts/get", Target::Prompt(&params.name), &context)?;
        self.forward(
            "prompts/get",
            ClientRequest::GetPromptRequest(GetPromptRequest::new(params)),
            &context,
        )
        .await
    }

    async fn list_tools(
        &self,
        params: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let mut result: ListToolsResult = self
            .forward(
                "tools/list",
                ClientRequest::ListToolsRequest(optional(params)),
                &context,
            )
            .await?;
        let visible = self.visibility(&context);
        result
            .tools
            .retain(|tool| visible(Target::Tool(&tool.name)));
        Ok(result)
    }

    async fn list_resources(
        &self,
        params: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let mut result: ListResourcesResult = self
            .forward(
                "resources/list",
                ClientRequest::ListResourcesRequest(optional(params)),
                &context,
            )
            .await?;
        let visible = self.visibility(&context);
        result
            .resources
            .retain(|resource| visible(Target::Resource(&resource.uri)));
        Ok(result)
    }

    async fn list_prompts(
        &self,
        params: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let mut result: ListPromptsResult = self
            .forward(
                "prompts/list",
                ClientRequest::ListPromptsRequest(optional(params)),
                &context,
            )
            .await?;
        let visible = self.visibility(&context);
        result
            .prompts
            .retain(|prompt| visible(Target::Prompt(&prompt.name)));
        Ok(result)
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        let method = request.method.clone();
        self.forward(&method, ClientRequest::CustomRequest(request), &context)
            .await
    }

    /// Starts this session's upstream session with the agent's client configuration (without
    /// the attestation), and answers with the upstream server's description.
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        context.peer.set_peer_info(request.clone());
        let capabilities = strip_capabilities(request.capabilities.clone());
        let link = DownstreamLink::for_session(context.peer.clone(), capabilities.clone());
        let config = ClientConfig::new(capabilities, request.client_info.clone())
            .with_protocol_version(request.protocol_version.clone());
        let session = self
            .shared
            .connect(config, link)
            .await
            .map_err(|e| unavailable(&e.to_string()))?;
        if self.session.set(Arc::new(session)).is_err() {
            return Err(McpError::invalid_request(
                "this session is already initialized",
                None,
            ));
        }
        self.negotiate_initialize(&request)
    }

    async fn ping(&self, context: RequestContext<RoleServer>) -> Result<(), McpError> {
        let _ = context;
        Ok(())
    }

    async fn on_roots_list_changed(&self, _context: NotificationContext<RoleServer>) {
        if let Some(session) = self.session.get()
            && let Err(e) = session.peer().notify_roots_list_changed().await
        {
            tracing::debug!(error = %e, "could not relay roots/list_changed upstream");
        }
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _context: NotificationContext<RoleServer>,
    ) {
        if let Some(session) = self.session.get() {
            let notification = rmcp::model::ClientNotification::CustomNotification(notification);
            if let Err(e) = session.peer().send_notification(notification).await {
                tracing::debug!(error = %e, "could not relay a notification upstream");
            }
        }
    }

    fn get_info(&self) -> ServerConfig {
        self.upstream_config()
    }
}

/// An upstream failure as the error the agent sees: the upstream server's own JSON-RPC error
/// as it is, anything else (it crashed, it is unreachable) as `upstream_unavailable`.
fn upstream_failure(error: &ServiceError) -> McpError {
    match error {
        ServiceError::McpError(error) => error.clone(),
        other => unavailable(&other.to_string()),
    }
}

fn unavailable(detail: &str) -> McpError {
    tracing::warn!(%detail, "upstream server unavailable");
    McpError::new(
        ErrorCode(UPSTREAM_UNAVAILABLE_CODE),
        "the upstream server is unavailable",
        Some(serde_json::json!({ "reason": "upstream_unavailable" })),
    )
}

/// The typed answer a relayed request expects, from the upstream's `ServerResult`.
///
/// rmcp reads a result without knowing which request it answers (the union is untagged), so an
/// answer can arrive as another variant of the same shape; it is then re-read as the type
/// expected.
trait FromUpstream: Sized {
    fn from_upstream(result: ServerResult) -> Result<Self, McpError>;
}

/// Re-reads `result` as `T` through its JSON.
fn reshape<T: DeserializeOwned>(result: &ServerResult) -> Result<T, McpError> {
    serde_json::to_value(result)
        .and_then(serde_json::from_value)
        .map_err(|e| {
            McpError::internal_error(
                format!("the upstream server's answer has an unexpected shape: {e}"),
                None,
            )
        })
}

macro_rules! from_upstream {
    ($($ty:ident),* $(,)?) => {$(
        impl FromUpstream for $ty {
            fn from_upstream(result: ServerResult) -> Result<Self, McpError> {
                match result {
                    ServerResult::$ty(result) => Ok(result),
                    other => reshape(&other),
                }
            }
        }
    )*};
}

from_upstream!(
    CompleteResult,
    GetTaskResult,
    ListPromptsResult,
    ListResourceTemplatesResult,
    ListResourcesResult,
    ListSkillsResult,
    ListToolsResult,
    GetSkillResult,
);

impl FromUpstream for () {
    fn from_upstream(_result: ServerResult) -> Result<(), McpError> {
        Ok(())
    }
}

impl FromUpstream for CustomResult {
    fn from_upstream(result: ServerResult) -> Result<CustomResult, McpError> {
        match result {
            ServerResult::CustomResult(result) => Ok(result),
            other => reshape(&other).map(CustomResult),
        }
    }
}

impl FromUpstream for CallToolResponse {
    fn from_upstream(result: ServerResult) -> Result<CallToolResponse, McpError> {
        Ok(match result {
            ServerResult::CallToolResult(result) => CallToolResponse::Complete(result),
            ServerResult::InputRequiredResult(result) => CallToolResponse::InputRequired(result),
            ServerResult::CreateTaskResult(result) => CallToolResponse::Task(result),
            other => CallToolResponse::Complete(reshape(&other)?),
        })
    }
}

impl FromUpstream for GetPromptResponse {
    fn from_upstream(result: ServerResult) -> Result<GetPromptResponse, McpError> {
        Ok(match result {
            ServerResult::GetPromptResult(result) => GetPromptResponse::Complete(result),
            ServerResult::InputRequiredResult(result) => GetPromptResponse::InputRequired(result),
            other => GetPromptResponse::Complete(reshape::<GetPromptResult>(&other)?),
        })
    }
}

impl FromUpstream for ReadResourceResponse {
    fn from_upstream(result: ServerResult) -> Result<ReadResourceResponse, McpError> {
        Ok(match result {
            ServerResult::ReadResourceResult(result) => ReadResourceResponse::Complete(result),
            ServerResult::InputRequiredResult(result) => {
                ReadResourceResponse::InputRequired(result)
            }
            other => ReadResourceResponse::Complete(reshape::<ReadResourceResult>(&other)?),
        })
    }
}
