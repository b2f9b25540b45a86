//! `attest issuer serve`: a development issuer. It publishes `/.well-known/jwks.json` from an
//! attest-jwks `KeyRing`, mints tokens at `POST /token` (SPEC.md §14), and rotates its key at
//! `POST /rotate` without a restart.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use attest_core::{Jwk, KeyError, PublicKey, SigningKey, TokenBuilder, TokenType, UnixTime};
use attest_jwks::{KeyRing, KeyRingConfig};
use attest_observe::{CreateFailure, Observer};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand_chacha::ChaCha20Rng;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::generate::IdentityArgs;
use crate::keys;
use crate::output::{self, CliError};

/// Largest request body the token and rotation endpoints read.
const MAX_BODY: usize = 16 * 1024;
/// Most audiences one token request may name.
const MAX_AUDIENCES: usize = 16;
/// Largest client-secret file read.
const MAX_SECRET_FILE: u64 = 4 * 1024;
/// `Cache-Control: max-age` of the published JWKS: short, so rotations show quickly.
const JWKS_MAX_AGE: Duration = Duration::from_secs(60);
/// How often retired keys past their overlap are dropped from the published set.
const PRUNE_EVERY: Duration = Duration::from_secs(15);
/// The verifiers' leeway the overlap of a retired key allows for (SPEC.md §4 default).
const LEEWAY: Duration = Duration::from_secs(30);

/// Arguments of `attest issuer`.
#[derive(clap::Args, Debug)]
pub(crate) struct IssuerArgs {
    #[command(subcommand)]
    command: IssuerCommand,
}

#[derive(clap::Subcommand, Debug)]
enum IssuerCommand {
    /// Run a development issuer: JWKS, token endpoint and key rotation over HTTP.
    Serve(IssuerServeArgs),
}

/// Arguments of `attest issuer serve`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  # An issuer on loopback, no secret: only local callers may mint.
  attest keygen --kid issuer-1 --out issuer.jwk
  attest issuer serve --key issuer.jwk --issuer http://127.0.0.1:9000 --listen 127.0.0.1:9000

  # Reachable by other hosts: require a client secret.
  attest issuer serve --key issuer.jwk --issuer https://issuer.example --listen 0.0.0.0:9000 \\
      --client-secret-file secret.txt --model-family claude-4 --safety-level enhanced \\
      --capability deploy

  # Mint a token (SPEC.md §14):
  curl -s -X POST http://127.0.0.1:9000/token -H 'content-type: application/json' \\
      -d '{\"audience\": [\"http://127.0.0.1:8080/mcp\"], \"lifetime_secs\": 120}'

  # A key-bound token: the agent's public key is bound into cnf.jwk (SPEC.md §17.1):
  curl -s -X POST http://127.0.0.1:9000/token -H 'content-type: application/json' \\
      -d '{\"audience\": [\"http://127.0.0.1:8080/mcp\"], \"cnf_jwk\": {\"kty\": \"OKP\",
           \"crv\": \"Ed25519\", \"x\": \"yFOtDwzSthmuqSzuxP1Wok1kmdWEznklfkXP2BObYKc\"}}'

  # Rotate the signing key; the old key stays published until its tokens have expired:
  curl -s -X POST http://127.0.0.1:9000/rotate

Endpoints:
  GET  /.well-known/jwks.json  the published keys (Cache-Control, ETag, 304)
  POST /token                  {\"audience\": [..], \"lifetime_secs\"?: n, \"cnf_jwk\"?: {..}}
                               -> {\"token\", \"token_type\", \"expires_at\"}; errors as
                               RFC 6749 §5.2. `cnf_jwk`, the agent's public Ed25519 JWK, is
                               bound into the token's `cnf.jwk` (SPEC.md §17.1)
  POST /rotate                 a new current key; the previous one stays published for the
                               maximum token lifetime plus 30 s
  GET  /health, GET /metrics

Who may call /token and /rotate: with --client-secret or --client-secret-file, only callers
that send `Authorization: Bearer <secret>` (else 401 invalid_client). Without a secret, only
callers on a loopback address (127.0.0.0/8, ::1); everyone else gets 401. The startup log
says which.

The first --key signs; further --key files are published as previous keys, for the maximum
token lifetime plus 30 s, like a rotation that has just happened. The issuer decides every
claim (identity flags below); a caller names only the audience, may shorten the lifetime, and
may ask for its own public key to be bound (`cnf_jwk`; a private or non-Ed25519 key is 400).
A key made by /rotate lives in memory only: the --key files are never written.
Prefer --client-secret-file to --client-secret, which other local users can see in `ps`.
This is a development issuer: serve it behind TLS (SPEC.md §14.1) for anything else.")]
pub(crate) struct IssuerServeArgs {
    /// A private JWK (see `attest keygen`). The first signs; the others are published as
    /// previous keys. Repeatable.
    #[arg(long = "key", value_name = "FILE", required = true)]
    keys: Vec<PathBuf>,
    /// The issuer URL, written as `iss` into every token.
    #[arg(long, value_name = "URL")]
    issuer: String,
    /// The address to listen on, e.g. 127.0.0.1:9000 (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    listen: String,
    /// The client secret callers must send as `Authorization: Bearer <SECRET>`.
    #[arg(long, value_name = "SECRET", conflicts_with = "client_secret_file")]
    client_secret: Option<String>,
    /// A file holding the client secret (surrounding whitespace is ignored).
    #[arg(long, value_name = "F")]
    client_secret_file: Option<PathBuf>,
    /// The longest token lifetime, in seconds: the default, and the cap on `lifetime_secs`.
    #[arg(long, value_name = "SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    lifetime: u64,
    #[command(flatten)]
    identity: IdentityArgs,
}

/// `attest issuer ...`.
pub(crate) fn run(args: &IssuerArgs) -> Result<(), CliError> {
    match &args.command {
        IssuerCommand::Serve(args) => serve(args),
    }
}

/// The running issuer.
struct Issuer {
    issuer: String,
    ring: KeyRing,
    /// Everything but audience, lifetime and `nbf`.
    template: TokenBuilder,
    typ: TokenType,
    max_lifetime: u64,
    secret: Option<Zeroizing<String>>,
    rng: Mutex<ChaCha20Rng>,
    observer: Observer,
}

fn serve(args: &IssuerServeArgs) -> Result<(), CliError> {
    output::init_logging();
    let secret = client_secret(args)?;
    let template = args.identity.template(&args.issuer)?;
    let keys = args
        .keys
        .iter()
        .map(|path| keys::load_signing_key(path))
        .collect::<Result<Vec<_>, _>>()?;
    let ring = key_ring(keys, args.lifetime)?;
    let observer = Observer::builder()
        .trusted_issuer(&args.issuer)
        .build()
        .map_err(|e| CliError::failed(format!("metrics: {e}")))?;
    let state = Arc::new(Issuer {
        issuer: args.issuer.clone(),
        ring: ring.clone(),
        template,
        typ: args.identity.token_type(),
        max_lifetime: args.lifetime,
        secret,
        rng: Mutex::new(output::os_rng()?),
        observer,
    });
    let app = Router::new()
        .route("/token", post(token))
        .route("/rotate", post(rotate))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(Arc::clone(&state))
        .merge(attest_jwks::publish::router(ring.clone()))
        .layer(DefaultBodyLimit::max(MAX_BODY));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| CliError::failed(format!("cannot listen on {}: {e}", args.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::failed(format!("cannot read the bound address: {e}")))?;
        let kids = ring.published_kids();
        let (current, previous) = kids.split_first().map_or(("", &[][..]), |(c, p)| (c, p));
        eprintln!(
            "attest issuer: {} signing with kid {current}{}; tokens live at most {} s",
            args.issuer,
            if previous.is_empty() {
                String::new()
            } else {
                format!(" (also publishing {})", previous.join(", "))
            },
            args.lifetime
        );
        match &state.secret {
            Some(_) => eprintln!(
                "token endpoint: POST /token and /rotate require `Authorization: Bearer <client \
                 secret>`"
            ),
            None => eprintln!(
                "token endpoint: no client secret configured, so POST /token and /rotate accept \
                 loopback callers only"
            ),
        }
        tokio::spawn(prune_forever(ring));
        eprintln!("listening on http://{addr}");
        crate::serve::serve_until_signal(listener, app, || {}).await
    })
}

/// The client secret from the flags: none, or a non-empty string.
fn client_secret(args: &IssuerServeArgs) -> Result<Option<Zeroizing<String>>, CliError> {
    let secret = match (&args.client_secret, &args.client_secret_file) {
        (Some(secret), _) => Zeroizing::new(secret.clone()),
        (None, Some(path)) => Zeroizing::new(
            output::read_text(path, MAX_SECRET_FILE, "client secret file")?
                .trim()
                .to_owned(),
        ),
        (None, None) => return Ok(None),
    };
    if secret.is_empty() {
        return Err(CliError::usage("the client secret must not be empty"));
    }
    Ok(Some(secret))
}

/// A ring whose first key signs and whose other keys are published as previous keys, each for
/// the overlap (maximum token lifetime plus leeway) from now.
fn key_ring(keys: Vec<SigningKey>, max_lifetime: u64) -> Result<KeyRing, CliError> {
    let mut config = KeyRingConfig::default();
    config.max_token_lifetime = Duration::from_secs(max_lifetime);
    config.leeway = LEEWAY;
    config.max_age = JWKS_MAX_AGE;
    let mut keys = keys.into_iter().rev();
    let Some(oldest) = keys.next() else {
        return Err(CliError::usage("give at least one --key"));
    };
    let ring = KeyRing::with_config(oldest, config);
    let now = output::now();
    for key in keys {
        let kid = key.kid().to_owned();
        ring.rotate(key, now)
            .map_err(|e| CliError::usage(format!("--key {kid}: {e}")))?;
    }
    Ok(ring)
}

/// Drops retired keys once their overlap has passed.
async fn prune_forever(ring: KeyRing) {
    let mut every = tokio::time::interval(PRUNE_EVERY);
    loop {
        every.tick().await;
        let dropped = ring.prune(output::now());
        if dropped > 0 {
            eprintln!(
                "jwks: {dropped} retired key(s) unpublished; publishing {}",
                ring.published_kids().join(", ")
            );
        }
    }
}

/// An RFC 6749 §5.2 error response.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"attest-issuer\""),
        );
    }
    response
}

impl Issuer {
    /// [`authorize`], as the 401 response to send.
    fn refuse(&self, peer: SocketAddr, headers: &HeaderMap) -> Option<Response> {
        authorize(self.secret.as_deref().map(String::as_str), peer, headers)
            .err()
            .map(|description| oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description))
    }

    /// Signs a token for `audiences` with the current key, binding `cnf` (the agent's checked
    /// public key) into `cnf.jwk` when given.
    fn mint(
        &self,
        audiences: &[String],
        lifetime: u64,
        cnf: Option<Jwk>,
    ) -> Result<(String, u64), String> {
        let key = self.ring.current();
        let guard = self.observer.start_token_creation(&self.issuer, key.kid());
        let mut builder = self.template.clone().lifetime_secs(lifetime);
        for audience in audiences {
            builder = builder.audience(audience);
        }
        if let Some(jwk) = cnf {
            builder = builder.confirmation(attest_core::Confirmation {
                jwk: Some(jwk),
                ..attest_core::Confirmation::default()
            });
        }
        let now = output::now();
        let signed = {
            let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
            builder.not_before(now).sign(&key, now, &mut *rng)
        };
        match signed {
            Ok(token) => {
                guard.finish(Ok(()));
                Ok((token, now.as_secs().saturating_add(lifetime)))
            }
            Err(e) => {
                guard.finish(Err(CreateFailure::InvalidInput));
                Err(e.to_string())
            }
        }
    }
}

/// Who may call: with a secret, a caller that sends it; without, a loopback caller. A
/// refusal is the `error_description` of a 401 `invalid_client`.
fn authorize(
    secret: Option<&str>,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<(), &'static str> {
    match secret {
        Some(secret) => match bearer(headers) {
            Some(sent) if constant_time_eq(sent.as_bytes(), secret.as_bytes()) => Ok(()),
            Some(_) => Err("unknown client or bad secret"),
            None => Err("send the client secret as `Authorization: Bearer <secret>`"),
        },
        None if peer.ip().to_canonical().is_loopback() => Ok(()),
        None => Err(
            "this development issuer has no client secret configured, so it serves loopback \
             callers only",
        ),
    }
}

/// The bearer credential of an `Authorization` header (scheme compared case-insensitively).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credential.trim())
}

/// Equality whose time does not depend on where two equal-length inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A parsed token request (SPEC.md §14.2).
#[derive(Debug, Clone, PartialEq)]
struct TokenRequest {
    /// The servers the token is for.
    audiences: Vec<String>,
    /// The lifetime asked for, if any.
    lifetime: Option<u64>,
    /// The agent's public key to bind into `cnf.jwk`, checked, if asked for (§17.1).
    cnf: Option<Jwk>,
}

/// Members of a JWK that hold private key material, for any key type (RFC 7518 §6).
const PRIVATE_JWK_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a token request is refused with `400 invalid_request`; the message is its
/// `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum RequestError {
    /// Not JSON, or not an object.
    #[error("the body must be a JSON object")]
    NotAnObject,
    /// `audience` is absent.
    #[error("`audience` is missing")]
    AudienceMissing,
    /// `audience` is not an array.
    #[error("`audience` must be an array of strings")]
    AudienceNotArray,
    /// `audience` is an empty array.
    #[error("`audience` is empty")]
    AudienceEmpty,
    /// `audience` names more servers than the issuer serves in one token.
    #[error("`audience` names too many servers (at most {MAX_AUDIENCES})")]
    TooManyAudiences,
    /// An `audience` entry is not a non-empty string.
    #[error("`audience` must hold non-empty strings")]
    AudienceEntry,
    /// `lifetime_secs` is not a positive integer.
    #[error("`lifetime_secs` must be a positive integer")]
    Lifetime,
    /// `cnf_jwk` is not a JSON object.
    #[error("`cnf_jwk` must be a JWK object")]
    CnfNotObject,
    /// `cnf_jwk` carries private key material.
    #[error("`cnf_jwk` carries private key material (`{0}`): send only the agent's public key")]
    CnfPrivate(&'static str),
    /// `cnf_jwk` is not a strict Ed25519 public key (SPEC.md §2.4).
    #[error("`cnf_jwk` is not an Ed25519 public key: {0}")]
    CnfInvalid(KeyError),
}

/// Parses and checks a token request. Members other than `audience`, `lifetime_secs` and
/// `cnf_jwk` (identity claims, `cnf` itself) are ignored: the issuer decides them.
fn parse_request(body: &[u8]) -> Result<TokenRequest, RequestError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| RequestError::NotAnObject)?;
    let Value::Object(request) = value else {
        return Err(RequestError::NotAnObject);
    };
    let audiences = match request.get("audience") {
        Some(Value::Array(list)) if list.is_empty() => return Err(RequestError::AudienceEmpty),
        Some(Value::Array(list)) if list.len() > MAX_AUDIENCES => {
            return Err(RequestError::TooManyAudiences);
        }
        Some(Value::Array(list)) => list
            .iter()
            .map(|a| match a {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                _ => Err(RequestError::AudienceEntry),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(RequestError::AudienceNotArray),
        None => return Err(RequestError::AudienceMissing),
    };
    let lifetime = match request.get("lifetime_secs") {
        None => None,
        Some(value) => match value.as_u64() {
            Some(secs) if secs >= 1 => Some(secs),
            _ => return Err(RequestError::Lifetime),
        },
    };
    let cnf = request.get("cnf_jwk").map(cnf_jwk).transpose()?;
    Ok(TokenRequest {
        audiences,
        lifetime,
        cnf,
    })
}

/// Checks `cnf_jwk` (SPEC.md §17.1): a strict Ed25519 public key of §2.4, without private
/// material. Returns the JWK to bind, rebuilt from the checked key (`kty`, `crv`, `x`, and the
/// agent's `kid` if it sent one), so that nothing else the caller sent reaches the token.
fn cnf_jwk(value: &Value) -> Result<Jwk, RequestError> {
    let Value::Object(members) = value else {
        return Err(RequestError::CnfNotObject);
    };
    if let Some(private) = PRIVATE_JWK_MEMBERS
        .iter()
        .find(|name| members.contains_key(**name))
    {
        return Err(RequestError::CnfPrivate(private));
    }
    let jwk = Jwk::from_json(&value.to_string()).map_err(RequestError::CnfInvalid)?;
    let key = PublicKey::from_jwk(&jwk).map_err(RequestError::CnfInvalid)?;
    Ok(keys::confirmation_jwk(&key, jwk.kid.as_deref()))
}

/// `POST /token` (SPEC.md §14).
async fn token(
    State(issuer): State<Arc<Issuer>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refusal) = issuer.refuse(peer, &headers) {
        return refusal;
    }
    let request = match parse_request(&body) {
        Ok(request) => request,
        Err(e) => {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string());
        }
    };
    // The issuer may shorten the lifetime asked for, never lengthen it past its maximum.
    let lifetime = request
        .lifetime
        .map_or(issuer.max_lifetime, |secs| secs.min(issuer.max_lifetime));
    match issuer.mint(&request.audiences, lifetime, request.cnf) {
        Ok((token, expires_at)) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(json!({
                "token": token,
                "token_type": issuer.typ.as_str(),
                "expires_at": expires_at,
            })),
        )
            .into_response(),
        Err(why) => oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            &format!("cannot mint: {why}"),
        ),
    }
}

/// `POST /rotate`: a new signing key; the previous one stays published for the overlap.
async fn rotate(
    State(issuer): State<Arc<Issuer>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = issuer.refuse(peer, &headers) {
        return refusal;
    }
    let previous = issuer.ring.current();
    let key = {
        let mut rng = issuer.rng.lock().unwrap_or_else(PoisonError::into_inner);
        SigningKey::generate(&mut *rng)
    };
    let kid = key.kid().to_owned();
    let now = output::now();
    if let Err(e) = issuer.ring.rotate(key, now) {
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            &format!("cannot rotate: {e}"),
        );
    }
    let until: UnixTime = now.saturating_add(issuer.ring.config().overlap().as_secs());
    eprintln!(
        "rotated: signing with kid {kid}; {} stays published until {}",
        previous.kid(),
        until.to_rfc3339()
    );
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({
            "kid": kid,
            "previous_kid": previous.kid(),
            "previous_published_until": until.as_secs(),
            "published_kids": issuer.ring.published_kids(),
        })),
    )
        .into_response()
}

async fn health(State(issuer): State<Arc<Issuer>>) -> Response {
    axum::Json(json!({
        "status": "ok",
        "issuer": issuer.issuer,
        "kid": issuer.ring.current().kid(),
    }))
    .into_response()
}

async fn metrics(State(issuer): State<Arc<Issuer>>) -> Response {
    let response = issuer.observer.metrics_response();
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, response.content_type)],
        response.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests;
