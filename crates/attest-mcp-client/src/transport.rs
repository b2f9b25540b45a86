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
//!
//! # Server nonces
//!
//! With a proof key, the transport keeps the latest proof nonce the server named (SPEC.md
//! §17.9: `proof_nonce` in an `initialize` or `server/discover` result, or `data.nonce` in a
//! refusal) and signs it into every proof but `initialize`'s. A request refused with
//! `attestation_proof_mismatch` and a `data.nonce` is signed again with that nonce (and a
//! token again, if it carried one) and resent once, with the same id, by the task: the caller
//! sees only the second answer. The bookkeeping is [`crate::nonce::NonceTracker`].

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

use crate::nonce::{NonceTracker, Verdict};

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
    /// The server's latest proof nonce, and the requests that may be signed again with a new
    /// one (as they were before any token or proof was written into them).
    nonces: Mutex<NonceTracker<ClientJsonRpcMessage>>,
}

impl Prover {
    /// Signs a proof for `request`, made under the token whose hash is `ath`, and writes it
    /// into the request's `_meta`. The proof names the server's latest nonce, if it named one,
    /// except for `initialize` (SPEC.md §17.9: no nonce can be known before it).
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
        let mut claims =
            ProofClaims::new(audience, &binding, ath, self.clock.now(), &mut os_rng()?);
        if !matches!(request, ClientRequest::InitializeRequest(_))
            && let Some(nonce) = self.latest_nonce()
        {
            claims = claims.with_nonce(nonce);
        }
        let proof = claims.sign(&self.key, self.header)?;
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

    fn latest_nonce(&self) -> Option<String> {
        self.nonces
            .lock()
            .ok()
            .and_then(|n| n.latest().map(str::to_owned))
    }

    /// Remembers `original`, sent with a proof, for one retry (see [`NonceTracker::sent`]).
    fn sent(&self, original: ClientJsonRpcMessage) {
        let JsonRpcMessage::Request(request) = &original else {
            return;
        };
        let id = request.id.clone();
        if let Ok(mut nonces) = self.nonces.lock() {
            nonces.sent(id, original);
        }
    }

    /// What to do with a received message (see [`NonceTracker::received`]).
    fn received(&self, message: &ServerJsonRpcMessage) -> Verdict<ClientJsonRpcMessage> {
        match self.nonces.lock() {
            Ok(mut nonces) => nonces.received(message),
            Err(_) => Verdict::Deliver,
        }
    }

    fn forget(&self, id: &rmcp::model::RequestId) {
        if let Ok(mut nonces) = self.nonces.lock() {
            nonces.forget(id);
        }
    }
}

/// What attests a request: the token source, the audience and the prover. Cheap to clone.
#[derive(Clone)]
struct Attester {
    source: Arc<dyn TokenSource>,
    audience: Arc<str>,
    prover: Option<Arc<Prover>>,
}

impl Attester {
    /// Writes the token (if `item` is a request that needs one) and the proof (with a prover)
    /// into `item`. True if a proof was signed.
    async fn attest(&self, item: &mut ClientJsonRpcMessage) -> Result<bool, ClientError> {
        let JsonRpcMessage::Request(request) = item else {
            return Ok(false);
        };
        let mut ath = None;
        if needs_attestation(&request.request, self.source.freshness()) {
            let token: Token = self.source.token(&self.audience).await?;
            attach_to_request(&mut request.request, token.as_str())?;
            ath = Some(token_hash(token.as_str()));
        }
        let Some(prover) = &self.prover else {
            return Ok(false);
        };
        if let (Some(ath), ClientRequest::InitializeRequest(_)) = (&ath, &request.request) {
            prover.bind_session(ath);
        }
        match ath.or_else(|| prover.session()) {
            Some(ath) => {
                prover.prove(&mut request.request, &self.audience, &ath)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The prover, for a message that may be retried for its nonce: a request other than
    /// `initialize` (whose proof names no nonce, §17.9).
    fn retry_prover(&self, item: &ClientJsonRpcMessage) -> Option<&Prover> {
        match item {
            JsonRpcMessage::Request(request)
                if !matches!(request.request, ClientRequest::InitializeRequest(_)) =>
            {
                self.prover.as_deref()
            }
            _ => None,
        }
    }
}

/// Hands `item` to the task, which calls the inner `send`, and awaits that send.
async fn submit(
    commands: &mpsc::UnboundedSender<Command>,
    item: ClientJsonRpcMessage,
) -> Result<(), ClientError> {
    let (reply, inner_send) = oneshot::channel();
    commands
        .send(Command::Send(Box::new(item), reply))
        .map_err(|_| ClientError::TransportClosed)?;
    let inner_send = inner_send.await.map_err(|_| ClientError::TransportClosed)?;
    inner_send.await
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
    ///
    /// Proofs name the server's latest nonce (SPEC.md §17.9), learned from its advertisement
    /// or its refusals; a request refused for its nonce is signed again and resent once, and
    /// the caller sees only the answer to that retry.
    #[must_use]
    pub fn with_proof_key(mut self, key: SigningKey) -> Self {
        self.prover = Some(Arc::new(Prover {
            key,
            header: ProofHeader::Plain,
            clock: Arc::new(SystemClock),
            session: Mutex::new(None),
            nonces: Mutex::new(NonceTracker::default()),
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
                nonces: Mutex::new(NonceTracker::default()),
            });
            change(&mut prover);
            self.prover = Some(Arc::new(prover));
        }
    }

    /// The audience tokens are requested for.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    fn attester(&self) -> Attester {
        Attester {
            source: Arc::clone(&self.source),
            audience: Arc::clone(&self.audience),
            prover: self.prover.clone(),
        }
    }

    /// Starts the task that owns the inner transport, if it is not running yet.
    fn start(&mut self) -> Result<&mut Running, ClientError> {
        if matches!(self.state, State::Idle(_)) {
            let runtime =
                tokio::runtime::Handle::try_current().map_err(|_| ClientError::TransportClosed)?;
            if let State::Idle(inner) = std::mem::replace(&mut self.state, State::Closed) {
                let (commands, command_rx) = mpsc::unbounded_channel();
                let (incoming_tx, incoming) = mpsc::channel(INCOMING_BUFFER);
                // Weak, so that the task still stops when the wrapper is dropped.
                let retrier = self.prover.is_some().then(|| Retrier {
                    attester: self.attester(),
                    commands: commands.downgrade(),
                    incoming: incoming_tx.downgrade(),
                });
                runtime.spawn(drive(inner, command_rx, incoming_tx, retrier));
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
        let attester = self.attester();
        async move {
            let commands = commands?;
            let mut item = item;
            // As it was before the token and the proof: what a retry signs again.
            let original = attester.retry_prover(&item).map(|_| item.clone());
            let proved = attester.attest(&mut item).await?;
            if let (Some(original), true, Some(prover)) =
                (original, proved, attester.retry_prover(&item))
            {
                // Before sending: the response cannot arrive before the tracker knows it.
                prover.sent(original);
            }
            submit(&commands, item).await
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

/// What the task needs to sign a request again and resend it (SPEC.md §17.9).
struct Retrier {
    attester: Attester,
    commands: mpsc::WeakUnboundedSender<Command>,
    incoming: mpsc::WeakSender<ServerJsonRpcMessage>,
}

impl Retrier {
    /// Whether the task hands `message` to the reader; if not, a retry has been started.
    fn deliver(&self, message: ServerJsonRpcMessage) -> Option<ServerJsonRpcMessage> {
        let Some(prover) = &self.attester.prover else {
            return Some(message);
        };
        match prover.received(&message) {
            Verdict::Deliver => Some(message),
            Verdict::Retry(original) => {
                self.spawn(original, message);
                None
            }
        }
    }

    /// Signs `original` again (a new proof with the new nonce, and a new token if it carries
    /// one) and resends it; if that fails, hands the refusal to the reader after all.
    fn spawn(&self, original: ClientJsonRpcMessage, refusal: ServerJsonRpcMessage) {
        let attester = self.attester.clone();
        let commands = self.commands.clone();
        let incoming = self.incoming.clone();
        tokio::spawn(async move {
            let id = match &original {
                JsonRpcMessage::Request(request) => Some(request.id.clone()),
                _ => None,
            };
            let mut item = original;
            let resent = match attester.attest(&mut item).await {
                Ok(_) => match commands.upgrade() {
                    Some(commands) => submit(&commands, item).await,
                    None => Err(ClientError::TransportClosed),
                },
                Err(e) => Err(e),
            };
            if resent.is_err() {
                if let (Some(prover), Some(id)) = (&attester.prover, &id) {
                    prover.forget(id);
                }
                if let Some(incoming) = incoming.upgrade() {
                    // The reader is gone if this fails: nobody to tell.
                    let _ignored = incoming.send(refusal).await;
                }
            }
        });
    }
}

/// Owns the inner transport: reads from it into `incoming`, and runs `commands`. With a
/// `retrier`, a refusal for a proof's nonce is not handed to the reader: the request is signed
/// again and resent instead.
async fn drive<T>(
    mut inner: T,
    mut commands: mpsc::UnboundedReceiver<Command>,
    incoming: mpsc::Sender<ServerJsonRpcMessage>,
    retrier: Option<Retrier>,
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
                    Some(message) => {
                        pending = match &retrier {
                            Some(retrier) => retrier.deliver(message),
                            None => Some(message),
                        };
                    }
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
