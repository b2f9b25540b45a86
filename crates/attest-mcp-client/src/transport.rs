//! `AttestingTransport`: an rmcp client transport that attaches a token to every request.
//!
//! # Why a transport wrapper
//!
//! rmcp 3.11 has no client-side hook on outgoing requests: `ClientHandler` only sees what the
//! server sends, `ClientInfo` is sent once (and copied verbatim into every 2026-07-28
//! request's `_meta`), and `PeerRequestOptions::with_meta` must be passed by the caller on
//! each call. Every request the client sends, including `initialize` and `server/discover`,
//! goes through [`Transport::send`], so wrapping the transport reaches all of them with no
//! change to the caller's code.
//!
//! # How
//!
//! `Transport::send` gets `&mut self` but must return a `'static` future, while getting a
//! token may take a network round trip. So the wrapped transport is moved into a small task
//! (started on first use) that owns it: it forwards received messages to [`Transport::receive`]
//! and, on command, calls the inner `send` and hands its future back. The wrapper's `send`
//! first awaits the token, writes it into the request ([`crate::carriers`]), then submits the
//! message. rmcp's startup sends `initialize` (or `server/discover`) and awaits the send before
//! it reads, which this design allows because the task, not the caller, drives the inner
//! transport.
//!
//! The task relies on the inner transport's `receive` being cancel-safe, as rmcp's own service
//! loop does (it polls `receive` inside `tokio::select!`). As with rmcp, messages sent
//! concurrently may reach the inner transport in any order; a request may additionally be
//! overtaken by a notification sent after it while its token is being fetched.

use std::sync::{Arc, Mutex};

use attest_core::SigningKey;
use attest_core::proof::{ProofClaims, ProofHeader, RequestBinding, token_hash};
use attest_protocol::PROTOCOL_VERSION_META_KEY;
use attest_protocol::Token;
use rmcp::RoleClient;
use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, GetMeta, JsonRpcMessage, ServerJsonRpcMessage,
};
use rmcp::transport::{IntoTransport, Transport};
use tokio::sync::{mpsc, oneshot};

use crate::carriers::attach_to_request;
use crate::error::ClientError;
use crate::local::os_rng;
use crate::source::{BoxFuture, Clock, Freshness, SystemClock, TokenSource};

/// Wraps an rmcp client transport so that outgoing requests carry a fresh attestation for
/// `audience`: in `_meta["io.github.attest-rs/agent-attestation"]` (the compact object), in
/// the `initialize` capabilities (both carriers), and in any attestation carrier rmcp copies
/// into `_meta["io.modelcontextprotocol/clientCapabilities"]`, all with the same token.
///
/// Which requests, by the source's [`Freshness`]:
/// - [`Freshness::PerRequest`]: every request, each with a new token (a fresh `jti`). This is
///   what servers that gate every request and record `jti`s need: stateless 2026-07-28 servers,
///   and attest-mcp-server in any mode. Use it unless you know the server.
/// - [`Freshness::PerSession`]: `initialize`, `server/discover`, and every 2026-07-28 request
///   (which has no session to lean on), reusing the cached token until it nears expiry. The
///   requests of an `initialize` session are sent as they are: the server bound the
///   attestation to the session, and showing the same token again would be a replay to a
///   server that records `jti`s.
///
/// Failing to get a token fails that request's send: rmcp reports it as
/// `ServiceError::TransportSend`, whose source is a [`ClientError`] (see
/// [`crate::token_failure`]). Notifications and responses pass through unchanged.
///
/// ```no_run
/// # async fn run(source: std::sync::Arc<dyn attest_mcp_client::TokenSource>) -> Result<(), Box<dyn std::error::Error>> {
/// use rmcp::ServiceExt;
/// let (client_io, _server_io) = tokio::io::duplex(4096);
/// let transport = attest_mcp_client::attesting(client_io, source, "https://tools.example");
/// let client = ().serve(transport).await?;
/// let tools = client.list_all_tools().await?;
/// # let _ = tools; Ok(()) }
/// ```
pub struct AttestingTransport<T> {
    source: Arc<dyn TokenSource>,
    audience: Arc<str>,
    state: State<T>,
    prover: Option<Arc<Prover>>,
}

/// Signs the proofs of possession of key-bound attestation (SPEC.md §17).
struct Prover {
    key: SigningKey,
    header: ProofHeader,
    clock: Arc<dyn Clock>,
    /// `ath` of the token attached to this connection's `initialize`: the requests of the
    /// session carry no token, so their proofs bind that one.
    session: Mutex<Option<String>>,
}

impl Prover {
    /// Signs a proof for `request`, made under the token whose hash is `ath`, and writes it
    /// into the request's `_meta`.
    fn prove(
        &self,
        request: &mut ClientRequest,
        audience: &str,
        ath: &str,
    ) -> Result<(), ClientError> {
        // The request exactly as it goes on the wire: `ph` covers its params without `_meta`.
        let wire = serde_json::to_value(&*request)
            .map_err(|e| ClientError::Encode(format!("request: {e}")))?;
        let method = wire
            .get("method")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let binding = RequestBinding::of_request(method, wire.get("params"))?;
        let proof = ProofClaims::new(audience, &binding, ath, self.clock.now(), &mut os_rng()?)
            .sign(&self.key, self.header)?;
        attest_protocol::insert_proof_into_meta(request.get_meta_mut(), &proof)?;
        Ok(())
    }

    fn session(&self) -> Option<String> {
        self.session.lock().ok().and_then(|s| s.clone())
    }

    fn bind_session(&self, ath: &str) {
        if let Ok(mut session) = self.session.lock() {
            *session = Some(ath.to_owned());
        }
    }
}

impl<T> std::fmt::Debug for AttestingTransport<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Idle(_) => "idle",
            State::Running(_) => "running",
            State::Closed => "closed",
        };
        f.debug_struct("AttestingTransport")
            .field("audience", &self.audience)
            .field("source", &self.source)
            .field("state", &state)
            .field("proof_key", &self.prover.as_ref().map(|p| p.key.kid()))
            .finish()
    }
}

enum State<T> {
    /// Not used yet: the task starts on the first call, inside the caller's runtime.
    Idle(T),
    Running(Running),
    Closed,
}

struct Running {
    commands: mpsc::UnboundedSender<Command>,
    incoming: mpsc::Receiver<ServerJsonRpcMessage>,
}

type SendFuture = BoxFuture<'static, Result<(), ClientError>>;

enum Command {
    /// Call the inner `send` and return its future.
    Send(Box<ClientJsonRpcMessage>, oneshot::Sender<SendFuture>),
    /// Close the inner transport and stop.
    Close(oneshot::Sender<Result<(), ClientError>>),
}

/// How many received messages wait for the reader before the task stops reading.
const INCOMING_BUFFER: usize = 64;

impl<T> AttestingTransport<T>
where
    T: Transport<RoleClient> + 'static,
{
    /// Wraps `inner`, attesting every request for `audience` with tokens from `source`.
    pub fn new(
        inner: T,
        source: Arc<dyn TokenSource>,
        audience: impl Into<String>,
    ) -> AttestingTransport<T> {
        AttestingTransport {
            source,
            audience: Arc::from(audience.into()),
            state: State::Idle(inner),
            prover: None,
        }
    }

    /// Signs a proof of possession (SPEC.md §17) with the agent's `key` for every outgoing
    /// request: the key the tokens' `cnf` names (see [`crate::LocalSigner::with_agent_key`]).
    ///
    /// Each proof binds the audience, the time, a fresh `jti`, the request's method, its tool,
    /// resource or prompt name and the hash of its params, and the hash of the token it is
    /// made under: the token attached to the request, or, for the requests of an
    /// `initialize` session that carry none, the token attached to `initialize`. It travels
    /// in `_meta["io.github.attest-rs/agent-attestation"].proof` (the proof-only object
    /// `{version, proof}` when the request carries no token). The header is `{alg, typ}`; use
    /// [`AttestingTransport::with_proof_header`] for tokens whose `cnf` has only `jkt`.
    #[must_use]
    pub fn with_proof_key(mut self, key: SigningKey) -> Self {
        self.prover = Some(Arc::new(Prover {
            key,
            header: ProofHeader::Plain,
            clock: Arc::new(SystemClock),
            session: Mutex::new(None),
        }));
        self
    }

    /// Sets the proof header form: [`ProofHeader::WithJwk`] for tokens whose `cnf` carries
    /// only the thumbprint `jkt`. No effect without [`AttestingTransport::with_proof_key`].
    #[must_use]
    pub fn with_proof_header(mut self, header: ProofHeader) -> Self {
        self.update_prover(|prover| prover.header = header);
        self
    }

    /// Reads the proofs' `iat` from `clock` instead of the system clock. No effect without
    /// [`AttestingTransport::with_proof_key`].
    #[must_use]
    pub fn with_proof_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.update_prover(|prover| prover.clock = clock);
        self
    }

    fn update_prover(&mut self, change: impl FnOnce(&mut Prover)) {
        if let Some(prover) = self.prover.take() {
            let mut prover = Arc::try_unwrap(prover).unwrap_or_else(|shared| Prover {
                key: shared.key.clone(),
                header: shared.header,
                clock: Arc::clone(&shared.clock),
                session: Mutex::new(shared.session()),
            });
            change(&mut prover);
            self.prover = Some(Arc::new(prover));
        }
    }

    /// The audience tokens are requested for.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Starts the task that owns the inner transport, if it is not running yet.
    fn start(&mut self) -> Result<&mut Running, ClientError> {
        if matches!(self.state, State::Idle(_)) {
            let runtime =
                tokio::runtime::Handle::try_current().map_err(|_| ClientError::TransportClosed)?;
            if let State::Idle(inner) = std::mem::replace(&mut self.state, State::Closed) {
                let (commands, command_rx) = mpsc::unbounded_channel();
                let (incoming_tx, incoming) = mpsc::channel(INCOMING_BUFFER);
                runtime.spawn(drive(inner, command_rx, incoming_tx));
                self.state = State::Running(Running { commands, incoming });
            }
        }
        match &mut self.state {
            State::Running(running) => Ok(running),
            State::Idle(_) | State::Closed => Err(ClientError::TransportClosed),
        }
    }
}

/// Wraps anything rmcp accepts as a client transport (a `Transport`, an `AsyncRead +
/// AsyncWrite` stream, a `(Sink, Stream)` pair, ...) in an [`AttestingTransport`].
pub fn attesting<I, E, A>(
    inner: I,
    source: Arc<dyn TokenSource>,
    audience: impl Into<String>,
) -> AttestingTransport<impl Transport<RoleClient, Error = E> + 'static>
where
    I: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    AttestingTransport::new(inner.into_transport(), source, audience)
}

impl<T> Transport<RoleClient> for AttestingTransport<T>
where
    T: Transport<RoleClient> + 'static,
{
    type Error = ClientError;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), ClientError>> + Send + 'static {
        let commands = self.start().map(|running| running.commands.clone());
        let source = Arc::clone(&self.source);
        let audience = Arc::clone(&self.audience);
        let prover = self.prover.clone();
        async move {
            let commands = commands?;
            let mut item = item;
            if let JsonRpcMessage::Request(request) = &mut item {
                let mut ath = None;
                if needs_attestation(&request.request, source.freshness()) {
                    let token: Token = source.token(&audience).await?;
                    attach_to_request(&mut request.request, token.as_str())?;
                    ath = Some(token_hash(token.as_str()));
                }
                if let Some(prover) = &prover {
                    if let (Some(ath), ClientRequest::InitializeRequest(_)) =
                        (&ath, &request.request)
                    {
                        prover.bind_session(ath);
                    }
                    if let Some(ath) = ath.or_else(|| prover.session()) {
                        prover.prove(&mut request.request, &audience, &ath)?;
                    }
                }
            }
            let (reply, inner_send) = oneshot::channel();
            commands
                .send(Command::Send(Box::new(item), reply))
                .map_err(|_| ClientError::TransportClosed)?;
            let inner_send = inner_send.await.map_err(|_| ClientError::TransportClosed)?;
            inner_send.await
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        let running = self.start().ok()?;
        running.incoming.recv().await
    }

    async fn close(&mut self) -> Result<(), ClientError> {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Idle(mut inner) => inner
                .close()
                .await
                .map_err(|e| ClientError::Transport(Box::new(e))),
            State::Running(running) => {
                let (reply, done) = oneshot::channel();
                if running.commands.send(Command::Close(reply)).is_err() {
                    // The task has already stopped, and dropped the inner transport.
                    return Ok(());
                }
                done.await.unwrap_or(Ok(()))
            }
            State::Closed => Ok(()),
        }
    }
}

/// Whether `request` gets a token.
///
/// With [`Freshness::PerRequest`], every request. With [`Freshness::PerSession`], the requests
/// that open or need no session: `initialize`, `server/discover`, and every request of protocol
/// 2026-07-28 (rmcp marks those with `_meta["io.modelcontextprotocol/protocolVersion"]`). The
/// requests of a session opened by `initialize` are left alone: the server bound the
/// attestation to the session, and presenting the same token again would be a replay to a
/// server that records `jti`s.
pub(crate) fn needs_attestation(request: &ClientRequest, freshness: Freshness) -> bool {
    freshness == Freshness::PerRequest
        || matches!(
            request,
            ClientRequest::InitializeRequest(_) | ClientRequest::DiscoverRequest(_)
        )
        || request.get_meta().contains_key(PROTOCOL_VERSION_META_KEY)
}

/// Owns the inner transport: reads from it into `incoming`, and runs `commands`.
async fn drive<T>(
    mut inner: T,
    mut commands: mpsc::UnboundedReceiver<Command>,
    incoming: mpsc::Sender<ServerJsonRpcMessage>,
) where
    T: Transport<RoleClient> + 'static,
{
    let mut incoming = Some(incoming);
    // A message read from the inner transport that the reader has no room for yet.
    let mut pending: Option<ServerJsonRpcMessage> = None;
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                // The wrapper was dropped without `close`.
                None => break,
                Some(Command::Send(item, reply)) => {
                    let send = inner.send(*item);
                    let send: SendFuture = Box::pin(async move {
                        send.await.map_err(|e| ClientError::Transport(Box::new(e)))
                    });
                    // The sender gave up waiting: nothing to report to.
                    let _ignored = reply.send(send);
                }
                Some(Command::Close(reply)) => {
                    let result = inner
                        .close()
                        .await
                        .map_err(|e| ClientError::Transport(Box::new(e)));
                    let _ignored = reply.send(result);
                    break;
                }
            },
            message = inner.receive(), if pending.is_none() && incoming.is_some() => {
                match message {
                    Some(message) => pending = Some(message),
                    // End of the inner stream: dropping the sender ends the reader's stream,
                    // while sends (e.g. responses drained at shutdown) still go through.
                    None => incoming = None,
                }
            }
            permit = reserve(incoming.clone()), if pending.is_some() => match permit {
                Some(permit) => {
                    if let Some(message) = pending.take() {
                        permit.send(message);
                    }
                }
                None => {
                    // The reader is gone.
                    incoming = None;
                    pending = None;
                }
            },
        }
    }
}

/// Room for one message in the reader's buffer; `None` when the reader is gone.
async fn reserve<M>(sender: Option<mpsc::Sender<M>>) -> Option<mpsc::OwnedPermit<M>> {
    sender?.reserve_owned().await.ok()
}
