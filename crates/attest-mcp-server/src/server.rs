//! `AttestingServer<H>`: an rmcp `ServerHandler` that gates every request of the handler it
//! wraps.
//!
//! Every method of rmcp's `ServerHandler` is implemented here, by delegation. Requests go
//! through one of two doors:
//! - **gated**: everything that reaches application code (tools, prompts, resources,
//!   completion, logging level, tasks, skills, custom requests, subscriptions). The gate reads
//!   the attestation from the request's `_meta` (protocol 2026-07-28), or else from the
//!   session's binding (made at `initialize`), and admits or refuses the request by policy.
//! - **lifecycle**: `initialize` (which verifies the attestation in the client's capabilities
//!   and binds the session), `server/discover` (which advertises the requirement) and `ping`.
//!
//! Notifications from an unadmitted peer are dropped under policy `required`. The list of
//! methods is checked against rmcp's own trait by a test, so a method rmcp adds later fails the
//! build's tests until it is placed behind one of the doors.

use std::sync::{Arc, Mutex};

use attest_core::Reason;
use attest_protocol::{ProtocolError, RequestPresentation, Token, find_with_proof_in_meta};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, CancelledNotificationParam,
    CompleteRequestParams, CompleteResult, CustomNotification, CustomRequest, CustomResult,
    DiscoverResult, GetPromptRequestParams, GetPromptResponse, GetSkillRequestParams,
    GetSkillResult, GetTaskParams, GetTaskResult, InitializeRequestParams, InitializeResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListSkillsResult,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion,
    ReadResourceDirectoryRequestParams, ReadResourceDirectoryResult, ReadResourceRequestParams,
    ReadResourceResponse, ServerConfig, SubscribeRequestParams, SubscriptionFilter, Tool,
    UnsubscribeRequestParams, UpdateTaskParams,
};
// Logging is deprecated by SEP-2577 but still served to legacy peers, so it is still gated.
#[allow(deprecated)]
use rmcp::model::SetLevelRequestParams;
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Map, Value};

use crate::agent::{AttestationStatus, ProofStatus};
use crate::gate::{AttestationGate, NonceStep};

/// An rmcp server handler whose every request passes attestation first.
///
/// Build one per session with [`AttestationGate::wrap`]; the binding made at `initialize`
/// lives in this value, so one session's identity never leaks into another.
pub struct AttestingServer<H> {
    inner: H,
    gate: AttestationGate,
    /// The outcome of this session's `initialize`, if it had one.
    binding: Arc<Mutex<Option<AttestationStatus>>>,
}

impl<H> AttestingServer<H> {
    pub(crate) fn new(inner: H, gate: AttestationGate) -> AttestingServer<H> {
        AttestingServer {
            inner,
            gate,
            binding: Arc::new(Mutex::new(None)),
        }
    }

    /// The wrapped handler.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    fn binding(&self) -> Option<AttestationStatus> {
        self.binding.lock().map_or(None, |b| b.clone())
    }

    fn bind(&self, status: AttestationStatus) {
        if let Ok(mut binding) = self.binding.lock() {
            *binding = Some(status);
        }
    }

    /// The status of a message that presented `presented`: its own attestation (`_meta`) if
    /// it carries one, else the session's binding.
    async fn status(
        &self,
        presented: Result<attest_protocol::Presented, ProtocolError>,
    ) -> AttestationStatus {
        match self.gate.status_of(presented, true).await {
            Some(status) => status,
            None => self
                .gate
                .bound_status(self.binding(), self.gate.verifier().now()),
        }
    }

    /// The decision on a request of `method` whose `_meta` is `meta`: the proof's nonce first
    /// (SPEC.md §17.9, before anything is verified or recorded), then the attestation, the
    /// enforcement policy and the proof policy.
    async fn decide_request(
        &self,
        meta: &Map<String, Value>,
        method: &str,
        params: &impl Fn() -> Option<Value>,
    ) -> Result<(AttestationStatus, ProofStatus), Reason> {
        let (presented, proof) = split(find_with_proof_in_meta(meta));
        let nonce = self.gate.check_nonce(proof.as_ref(), method, params)?;
        let status = self.status(presented).await;
        self.decide(status, proof.as_ref(), &nonce, method, params)
            .await
    }

    /// The gate for a request of `method`: admit it by its attestation, then check its proof
    /// of possession against the request (`params` computes the request's params as JSON, only
    /// if the proof policy needs them), recording both outcomes in its extensions, where
    /// handlers read them; or refuse it with the attestation error.
    async fn admit(
        &self,
        context: &mut RequestContext<RoleServer>,
        method: &str,
        params: impl Fn() -> Option<Value>,
    ) -> Result<(), McpError> {
        // Boxed: the decision's future is about 2 KB, several times a typical handler's, and
        // inline it would grow every request future that rmcp spawns and moves.
        match Box::pin(self.decide_request(&context.meta.0.0, method, &params)).await {
            Ok((status, proof)) => {
                record(&mut context.extensions, status, proof);
                Ok(())
            }
            Err(reason) => Err(self
                .gate
                .refuse(method, &params, reason, &context.extensions)),
        }
    }

    /// The decision on a request of `method` that presented `status` and `proof`: admitted by
    /// the enforcement policy, then by the proof policy; or the reason it is refused.
    async fn decide(
        &self,
        status: AttestationStatus,
        proof: Option<&Token>,
        nonce: &NonceStep,
        method: &str,
        params: &impl Fn() -> Option<Value>,
    ) -> Result<(AttestationStatus, ProofStatus), Reason> {
        let status = self.gate.admit(status)?;
        let proof = self
            .gate
            .check_proof(&status, proof, nonce, method, params)
            .await?;
        Ok((status, proof))
    }

    /// The decision on an `initialize` request: the attestation in its capabilities (a token
    /// binds one session: single use, never from the verified-token cache), then the proof in
    /// its `_meta`, recorded as this session's binding.
    async fn decide_initialize(
        &self,
        request: &InitializeRequestParams,
        meta: &Map<String, Value>,
        params: &impl Fn() -> Option<Value>,
    ) -> Result<(AttestationStatus, ProofStatus), Reason> {
        let capabilities = &request.capabilities;
        let presented = attest_protocol::find_in_capability_carriers(
            (capabilities.extensions.as_ref()).and_then(|e| e.get(attest_protocol::EXTENSION_ID)),
            (capabilities.experimental.as_ref()).and_then(|e| e.get(attest_protocol::LEGACY_KEY)),
        );
        let (status, unrecorded) = self.gate.binding_status(presented).await;
        // The proof of `initialize` rides in its `_meta` (SPEC.md §17.3). It names no server
        // nonce: none can be known before `initialize` (§17.9).
        let decided = match find_with_proof_in_meta(meta) {
            Ok(found) => {
                let nonce = NonceStep::NotRequired;
                self.decide(status, found.proof.as_ref(), &nonce, "initialize", params)
                    .await
            }
            Err(e) => {
                tracing::debug!(error = %e, "malformed attestation object in initialize _meta");
                // The attestation's own refusal takes precedence.
                self.gate.admit(status).and(Err(e.reason()))
            }
        };
        self.gate.record_binding(decided, unrecorded).await
    }

    /// The gate for a notification: true if it may reach the handler.
    ///
    /// Notifications carry no proof of possession: they are admitted on attestation alone.
    async fn admit_notification(&self, context: &mut NotificationContext<RoleServer>) -> bool {
        let (presented, _proof) = split(find_with_proof_in_meta(&context.meta.0.0));
        // Boxed for the reason given in `admit`.
        let status = Box::pin(self.status(presented)).await;
        match self.gate.admit(status) {
            Ok(status) => {
                if let Some(agent) = status.agent() {
                    context.extensions.insert(agent.clone());
                }
                context.extensions.insert(status);
                true
            }
            Err(reason) => {
                tracing::debug!(%reason, "dropping a notification from an unattested peer");
                false
            }
        }
    }
}

/// The attestation outcome of a message and the proof outcome of a request, where handlers
/// read them: `AttestationStatus`, `ProofStatus`, and the `VerifiedAgent` when there is one.
fn record(extensions: &mut rmcp::model::Extensions, status: AttestationStatus, proof: ProofStatus) {
    if let Some(agent) = status.agent() {
        extensions.insert(agent.for_request(proof.is_verified()));
    }
    extensions.insert(status);
    extensions.insert(proof);
}

/// Splits what a message presented into the attestation and the proof.
fn split(
    found: Result<RequestPresentation, ProtocolError>,
) -> (
    Result<attest_protocol::Presented, ProtocolError>,
    Option<Token>,
) {
    match found {
        Ok(found) => (Ok(found.attestation), found.proof),
        Err(e) => (Err(e), None),
    }
}

/// The params of a request as JSON, as a proof's `ph` and `nam` are computed over them. `null`
/// (absent optional params) is absent.
fn params_json(params: &impl serde::Serialize) -> Option<Value> {
    match serde_json::to_value(params) {
        Ok(Value::Null) | Err(_) => None,
        Ok(value) => Some(value),
    }
}

/// Requests that reach application code: each is admitted by the gate before delegation.
/// Each entry names its MCP method, which a proof of possession binds (`mth`).
macro_rules! gated {
    ($( $(#[$attr:meta])* $name:ident($method:literal, $params:ty) -> $result:ty; )*) => {$(
        $(#[$attr])*
        async fn $name(
            &self,
            params: $params,
            mut context: RequestContext<RoleServer>,
        ) -> Result<$result, McpError> {
            self.admit(&mut context, $method, || params_json(&params)).await?;
            self.inner.$name(params, context).await
        }
    )*};
}

/// Notifications: delivered only when the gate admits them.
macro_rules! gated_notifications {
    ($( $name:ident($($param:ident: $ty:ty)?); )*) => {$(
        async fn $name(&self, $($param: $ty,)? mut context: NotificationContext<RoleServer>) {
            if self.admit_notification(&mut context).await {
                self.inner.$name($($param,)? context).await;
            }
        }
    )*};
}

impl<H: ServerHandler> ServerHandler for AttestingServer<H> {
    gated! {
        complete("completion/complete", CompleteRequestParams) -> CompleteResult;
        #[allow(deprecated)]
        set_level("logging/setLevel", SetLevelRequestParams) -> ();
        get_prompt("prompts/get", GetPromptRequestParams) -> GetPromptResponse;
        list_prompts("prompts/list", Option<PaginatedRequestParams>) -> ListPromptsResult;
        list_resources("resources/list", Option<PaginatedRequestParams>) -> ListResourcesResult;
        list_resource_templates("resources/templates/list", Option<PaginatedRequestParams>) -> ListResourceTemplatesResult;
        read_resource("resources/read", ReadResourceRequestParams) -> ReadResourceResponse;
        // Legacy-only methods, still served to legacy sessions, so still gated.
        #[allow(deprecated)]
        subscribe("resources/subscribe", SubscribeRequestParams) -> ();
        #[allow(deprecated)]
        unsubscribe("resources/unsubscribe", UnsubscribeRequestParams) -> ();
        call_tool("tools/call", CallToolRequestParams) -> CallToolResponse;
        list_tools("tools/list", Option<PaginatedRequestParams>) -> ListToolsResult;
        get_task("tasks/get", GetTaskParams) -> GetTaskResult;
        update_task("tasks/update", UpdateTaskParams) -> ();
        cancel_task("tasks/cancel", CancelTaskParams) -> ();
        list_skills("skills/list", Option<PaginatedRequestParams>) -> ListSkillsResult;
        get_skill("skills/get", GetSkillRequestParams) -> GetSkillResult;
        read_resource_directory("resources/directory/read", ReadResourceDirectoryRequestParams) -> ReadResourceDirectoryResult;
    }

    /// A custom request: gated like the others, under its own method name.
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        mut context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        let method = request.method.clone();
        self.admit(&mut context, &method, || request.params.clone())
            .await?;
        self.inner.on_custom_request(request, context).await
    }

    gated_notifications! {
        on_cancelled(notification: CancelledNotificationParam);
        on_progress(notification: ProgressNotificationParam);
        on_initialized();
        on_roots_list_changed();
        on_custom_notification(notification: CustomNotification);
    }

    /// `subscriptions/listen` (2026-07-28): gated like any request, from the request context
    /// the subscription was opened with.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        const METHOD: &str = "subscriptions/listen";
        let request = context.request_context();
        let params = || {
            params_json(&rmcp::model::SubscriptionsListenRequestParams::new(
                context.requested().clone(),
            ))
        };
        // Boxed for the reason given in `admit`.
        if let Err(reason) = Box::pin(self.decide_request(&request.meta.0.0, METHOD, &params)).await
        {
            return Err(self
                .gate
                .refuse(METHOD, &params, reason, &request.extensions));
        }
        self.inner.listen(context).await
    }

    /// Lifecycle: verifies the attestation in the client's capabilities, refuses the session
    /// under policy `required` if it fails, binds the agent to the session, and reports the
    /// outcome in the server's capabilities.
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        let params = || params_json(&request);
        // Boxed for the reason given in `admit`.
        let decided = Box::pin(self.decide_initialize(&request, &context.meta.0.0, &params)).await;
        let (status, proof) = match decided {
            Ok(decided) => decided,
            Err(reason) => {
                return Err(self
                    .gate
                    .refuse("initialize", &params, reason, &context.extensions));
            }
        };
        self.bind(status.clone());
        record(&mut context.extensions, status.clone(), proof);
        let mut result = self.inner.initialize(request, context).await?;
        self.gate.advertise(&mut result.capabilities, Some(&status));
        Ok(result)
    }

    /// Lifecycle: always answered, so that a client can learn that attestation is required.
    async fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, McpError> {
        let mut result = self.inner.discover(context).await?;
        self.gate.advertise(&mut result.capabilities, None);
        Ok(result)
    }

    /// Lifecycle: liveness carries no application data.
    async fn ping(&self, context: RequestContext<RoleServer>) -> Result<(), McpError> {
        self.inner.ping(context).await
    }

    fn negotiate_initialize(
        &self,
        request: &InitializeRequestParams,
    ) -> Result<InitializeResult, McpError> {
        let mut result = self.inner.negotiate_initialize(request)?;
        self.gate.advertise(&mut result.capabilities, None);
        Ok(result)
    }

    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        self.inner.supported_protocol_versions()
    }

    fn get_info(&self) -> ServerConfig {
        let mut info = self.inner.get_info();
        self.gate.advertise(&mut info.capabilities, None);
        info
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        self.inner.accepted_subscription_filter(requested)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.get_tool(name)
    }
}

/// Every `ServerHandler` method this wrapper implements, by door. A test compares it with
/// rmcp's trait, and with the functions above.
#[cfg(test)]
pub(crate) const COVERED: &[(&str, &str)] = &[
    ("complete", "gated"),
    ("set_level", "gated"),
    ("get_prompt", "gated"),
    ("list_prompts", "gated"),
    ("list_resources", "gated"),
    ("list_resource_templates", "gated"),
    ("read_resource", "gated"),
    ("subscribe", "gated"),
    ("unsubscribe", "gated"),
    ("call_tool", "gated"),
    ("list_tools", "gated"),
    ("on_custom_request", "gated"),
    ("get_task", "gated"),
    ("update_task", "gated"),
    ("cancel_task", "gated"),
    ("list_skills", "gated"),
    ("get_skill", "gated"),
    ("read_resource_directory", "gated"),
    ("listen", "gated"),
    ("on_cancelled", "notification"),
    ("on_progress", "notification"),
    ("on_initialized", "notification"),
    ("on_roots_list_changed", "notification"),
    ("on_custom_notification", "notification"),
    ("initialize", "lifecycle"),
    ("discover", "lifecycle"),
    ("ping", "lifecycle"),
    ("negotiate_initialize", "not a request"),
    ("supported_protocol_versions", "not a request"),
    ("get_info", "not a request"),
    ("accepted_subscription_filter", "not a request"),
    ("get_tool", "not a request"),
];
