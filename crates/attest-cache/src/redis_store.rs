//! `RedisReplayStore`: a replay store shared by every replica, on a deadpool-redis pool.
//!
//! Each check is one atomic command, `SET {key} 1 NX PXAT {record_until in ms}`: Redis sets the
//! key and its absolute expiry together, or does nothing if the key exists. `OK` means fresh,
//! nil means replayed. There is never a `SETNX` followed by `EXPIRE`, which could leave a key
//! without expiry, or race.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ::redis::{AsyncConnectionConfig, IntoConnectionInfo, TlsCertificates, Value};
use attest_core::UnixTime;
use deadpool_redis::{Manager, Pool, Runtime};

use crate::clock::{Clock, SystemClock, unix_millis};
use crate::error::CacheError;
use crate::health::{Fallback, HealthMachine, Route, Transition};
use crate::key::{KeyDigest, KeyScheme};
use crate::memory::{DEFAULT_CAPACITY, MemoryReplayStore};
use crate::metrics::{BACKEND_FALLBACK, BACKEND_REDIS, BackendMetrics, ReplayMetrics};
use crate::slots::Slots;
use crate::store::{CheckFuture, Freshness, Health, ReplayStore};

/// Default pool size (connections): one. A multiplexed connection pipelines any number of
/// concurrent checks, and Redis answers pipelined commands fastest; on the reference machine one
/// connection gave the highest throughput with 64 checks in flight, and more connections less
/// (docs/PERFORMANCE.md). Raise it when one socket is the bottleneck (many cores, a remote Redis).
pub const DEFAULT_POOL_SIZE: usize = 1;
/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default per-command timeout.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// Default interval between probes of Redis while on the memory fallback.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// How to reach Redis and what to do when it fails.
///
/// `Debug` shows the URL with its password replaced by `***`.
#[derive(Clone)]
pub struct RedisConfig {
    url: String,
    keys: KeyScheme,
    pool_size: usize,
    connect_timeout: Duration,
    command_timeout: Duration,
    fallback: Fallback,
    fallback_capacity: u64,
    probe_interval: Duration,
    tls_root_ca_pem: Option<Vec<u8>>,
    clock: Arc<dyn Clock>,
    metrics: Option<ReplayMetrics>,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field("keys", &self.keys)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("fallback", &self.fallback)
            .field("fallback_capacity", &self.fallback_capacity)
            .field("probe_interval", &self.probe_interval)
            .field("tls_root_ca_pem", &self.tls_root_ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

impl RedisConfig {
    /// A configuration from a URL: `redis://[user[:password]@]host[:port][/db]`, or `rediss://`
    /// for TLS (rustls; server certificates checked against the system roots, or against
    /// [`tls_root_ca_pem`](Self::tls_root_ca_pem)). A user and password are sent with `AUTH`
    /// (Redis 6 ACL users included). Everything else has defaults: prefix `attest:jti`, pool of
    /// [`DEFAULT_POOL_SIZE`], connect timeout [`DEFAULT_CONNECT_TIMEOUT`], command timeout
    /// [`DEFAULT_COMMAND_TIMEOUT`], [`Fallback::FailClosed`].
    ///
    /// Nothing is connected here.
    ///
    /// # Errors
    /// [`CacheError::Config`] for another scheme or a URL that does not parse.
    pub fn from_url(url: impl Into<String>) -> Result<Self, CacheError> {
        let url = url.into();
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(CacheError::Config(format!(
                "the Redis URL must start with redis:// or rediss://, not {}",
                redact_url(&url)
            )));
        }
        url.as_str().into_connection_info().map_err(|e| {
            CacheError::Config(format!("invalid Redis URL {}: {e}", redact_url(&url)))
        })?;
        Ok(RedisConfig {
            url,
            keys: KeyScheme::default(),
            pool_size: DEFAULT_POOL_SIZE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            fallback: Fallback::FailClosed,
            fallback_capacity: DEFAULT_CAPACITY,
            probe_interval: DEFAULT_PROBE_INTERVAL,
            tls_root_ca_pem: None,
            clock: Arc::new(SystemClock),
            metrics: None,
        })
    }

    /// The key prefix (default `attest:jti`); see [`KeyScheme::new`] for the rules.
    ///
    /// # Errors
    /// [`CacheError::Config`] for a prefix outside the rules.
    pub fn key_prefix(mut self, prefix: &str) -> Result<Self, CacheError> {
        let max = self.keys.max_jti_bytes();
        self.keys = KeyScheme::new(prefix)?.with_max_jti_bytes(max)?;
        Ok(self)
    }

    /// The whole key scheme (prefix and `jti` cap).
    pub fn key_scheme(mut self, keys: KeyScheme) -> Self {
        self.keys = keys;
        self
    }

    /// The number of connections (default [`DEFAULT_POOL_SIZE`]; at least 1). Each is a
    /// multiplexed connection that carries many concurrent checks.
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// How long opening a connection may take (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one command may take (default [`DEFAULT_COMMAND_TIMEOUT`]).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// What to do when Redis fails (default [`Fallback::FailClosed`]).
    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// The capacity of the memory fallback (default [`DEFAULT_CAPACITY`]).
    pub fn fallback_capacity(mut self, capacity: u64) -> Self {
        self.fallback_capacity = capacity;
        self
    }

    /// While on the memory fallback, how often a check probes Redis first (default
    /// [`DEFAULT_PROBE_INTERVAL`]).
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    /// For `rediss://`: trust this PEM CA instead of the system roots.
    pub fn tls_root_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_ca_pem = Some(pem.into());
        self
    }

    /// The clock used to refuse an already-past expiry and to pace probes (default: system).
    /// Redis expires keys on its own clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Report into these metrics (`backend="redis"`, and `backend="memory_fallback"` for checks
    /// the fallback answers).
    pub fn metrics(mut self, metrics: &ReplayMetrics) -> Self {
        self.metrics = Some(metrics.clone());
        self
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// A replay store on Redis, shared by every replica that points at the same Redis and prefix.
///
/// - One `SET key 1 NX PXAT <ms>` per check; the key expires at `record_until` on its own.
/// - A pool of `pool_size` multiplexed connections (deadpool-redis), opened on demand with a
///   connect timeout. Each stays checked out in a slot and carries many concurrent checks;
///   checks use the slots round-robin, so the hot path never waits for a checkout. A failed
///   command invalidates its slot, whose next use returns the connection to the pool and takes
///   one again: the pool `PING`s it and replaces it if broken, so the store recovers by itself
///   after Redis restarts.
/// - Every check is bounded by the connect and command timeouts.
/// - When Redis fails: [`Fallback::FailClosed`] refuses the token with the backend error and
///   reports [`Health::Unhealthy`]; [`Fallback::Memory`] answers from an in-process
///   [`MemoryReplayStore`], logs a warning, counts a fallback activation and reports
///   [`Health::Degraded`], probing Redis every `probe_interval` and returning to it as soon as
///   it answers. A `jti` recorded in the fallback stays a replay on this replica after Redis
///   returns, until it expires.
///
/// Construction performs no I/O; use [`ping`](Self::ping) to check reachability at start-up.
pub struct RedisReplayStore {
    slots: Slots,
    keys: KeyScheme,
    timeout: Duration,
    command_timeout: Duration,
    clock: Arc<dyn Clock>,
    machine: Mutex<HealthMachine>,
    /// Mirrors "the machine is Healthy", so the hot path takes no lock while all is well.
    healthy: AtomicBool,
    fallback: Option<MemoryReplayStore>,
    metrics: Option<BackendMetrics>,
    fallback_metrics: Option<BackendMetrics>,
    redacted_url: String,
}

impl fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("url", &self.redacted_url)
            .field("keys", &self.keys)
            .field("timeout", &self.timeout)
            .field("fallback", &self.fallback.is_some())
            .finish_non_exhaustive()
    }
}

impl RedisReplayStore {
    /// Builds the store and its pool. No connection is opened yet.
    ///
    /// # Errors
    /// [`CacheError::Config`] for a pool size or timeout of 0, a fallback capacity of 0, or a
    /// TLS configuration that cannot be built.
    pub fn new(config: RedisConfig) -> Result<Self, CacheError> {
        if config.pool_size == 0 {
            return Err(CacheError::Config(
                "the pool size must be at least 1".into(),
            ));
        }
        if config.connect_timeout.is_zero() || config.command_timeout.is_zero() {
            return Err(CacheError::Config(
                "the connect and command timeouts must be above zero".into(),
            ));
        }
        let redacted_url = config.redacted_url();
        let tls = config.url.starts_with("rediss://");
        if tls {
            // redis-rs builds its rustls config from the process-wide provider. Install ring's
            // unless the application installed one already (then this is a no-op).
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let info = match (&config.tls_root_ca_pem, tls) {
            (Some(ca), true) => ::redis::Client::build_with_tls(
                config.url.as_str(),
                TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca.clone()),
                },
            )
            .map(|client| client.get_connection_info().clone()),
            (Some(_), false) => {
                return Err(CacheError::Config(
                    "a TLS root CA was given for a redis:// URL; use rediss://".into(),
                ));
            }
            (None, _) => config.url.as_str().into_connection_info(),
        }
        .map_err(|e| CacheError::Config(format!("Redis URL {redacted_url}: {e}")))?;

        let connection = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.command_timeout));
        let manager = Manager::new_with_config(info, connection)
            .map_err(|e| CacheError::Config(format!("Redis URL {redacted_url}: {e}")))?;
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.command_timeout))
            .wait_timeout(Some(
                config
                    .connect_timeout
                    .saturating_add(config.command_timeout),
            ))
            .build()
            .map_err(|e| CacheError::Config(format!("Redis pool: {e}")))?;

        let fallback = match config.fallback {
            Fallback::FailClosed => None,
            Fallback::Memory => Some(
                MemoryReplayStore::builder()
                    .capacity(config.fallback_capacity)
                    .key_scheme(config.keys.clone())
                    .clock(Arc::clone(&config.clock))
                    .build()?,
            ),
        };
        let probe_ms = u64::try_from(config.probe_interval.as_millis()).unwrap_or(u64::MAX);
        Ok(RedisReplayStore {
            slots: Slots::new(pool, config.pool_size),
            keys: config.keys,
            // A check may (re)connect its slot (connect timeout, and the pool's PING) before
            // the SET: two commands at most.
            timeout: config
                .connect_timeout
                .saturating_add(config.command_timeout.saturating_mul(2)),
            command_timeout: config.command_timeout,
            clock: config.clock,
            machine: Mutex::new(HealthMachine::new(config.fallback, probe_ms)),
            healthy: AtomicBool::new(true),
            fallback,
            metrics: config
                .metrics
                .as_ref()
                .map(|m| m.for_backend(BACKEND_REDIS)),
            fallback_metrics: config
                .metrics
                .as_ref()
                .map(|m| m.for_backend(BACKEND_FALLBACK)),
            redacted_url,
        })
    }

    /// Sends `PING`, and updates the health with the answer: a success ends a failure state or
    /// the fallback.
    ///
    /// # Errors
    /// The backend error when Redis does not answer.
    pub async fn ping(&self) -> Result<(), CacheError> {
        let result = tokio::time::timeout(self.timeout, async {
            let handle = self.slots.handle(self.clock.now_millis()).await?;
            let mut conn = handle.conn.clone();
            let pong: String = match ::redis::cmd("PING").query_async(&mut conn).await {
                Ok(pong) => pong,
                Err(e) => {
                    self.slots.invalidate(&handle);
                    return Err(redis_error(&e));
                }
            };
            if pong == "PONG" {
                Ok(())
            } else {
                Err(CacheError::UnexpectedReply(
                    "PING answered something else than PONG".into(),
                ))
            }
        })
        .await
        .unwrap_or_else(|_| Err(self.timeout_error()));
        match &result {
            Ok(()) => self.on_success(),
            Err(e) => self.on_failure(e),
        }
        result
    }

    /// The key scheme.
    pub fn key_scheme(&self) -> &KeyScheme {
        &self.keys
    }

    /// Connections currently open in the pool.
    pub fn open_connections(&self) -> usize {
        self.slots.open_connections()
    }

    async fn check(
        &self,
        issuer: &str,
        jti: &str,
        record_until: UnixTime,
    ) -> Result<Freshness, CacheError> {
        let started = Instant::now();
        let digest = match self.keys.digest(issuer, jti) {
            Ok(digest) => digest,
            Err(e) => return self.finish(&self.metrics, Err(e), started),
        };
        let until_ms = unix_millis(record_until);
        let now = self.clock.now_millis();
        if until_ms <= now {
            return self.finish(&self.metrics, Err(CacheError::AlreadyExpired), started);
        }
        if let Some(fallback) = &self.fallback
            && !fallback.is_empty()
            && fallback.contains_live(&digest, now)
        {
            // Recorded during an outage: a replay here, whatever Redis says now.
            return self.finish(&self.fallback_metrics, Ok(Freshness::Replayed), started);
        }
        let route = if self.healthy.load(Ordering::Acquire) {
            Route::Redis
        } else {
            self.machine().route(now)
        };
        if route == Route::Memory {
            return self.serve_fallback(&digest, until_ms, started);
        }
        let key = self.keys.redis_key(&digest);
        match self.set_nx(&key, until_ms).await {
            Ok(freshness) => {
                self.on_success();
                self.finish(&self.metrics, Ok(freshness), started)
            }
            Err(e) => {
                tracing::debug!(jti = %digest.log_label(), error = %e, "replay check: redis failed");
                self.on_failure(&e);
                if self.fallback.is_some() {
                    self.serve_fallback(&digest, until_ms, started)
                } else {
                    self.finish(&self.metrics, Err(e), started)
                }
            }
        }
    }

    /// One atomic command: `SET key 1 NX PXAT until_ms`.
    async fn set_nx(&self, key: &str, until_ms: u64) -> Result<Freshness, CacheError> {
        // Taking the slot's connection is instant unless the slot must (re)connect: bound that
        // by the connect timeout. (A future that is ready at once never arms its timer.)
        let handle = tokio::time::timeout(self.timeout, self.slots.handle(self.clock.now_millis()))
            .await
            .unwrap_or_else(|_| Err(self.timeout_error()))?;
        // The command is bounded by the connection's response timeout (`command_timeout`).
        let mut conn = handle.conn.clone();
        let reply: Value = match ::redis::cmd("SET")
            .arg(key)
            .arg(1)
            .arg("NX")
            .arg("PXAT")
            .arg(until_ms)
            .query_async(&mut conn)
            .await
        {
            Ok(reply) => reply,
            Err(e) => {
                // The connection may be broken: the slot reconnects on its next use, and if it
                // dropped, Redis probably went away for every slot.
                if e.is_connection_dropped() || e.is_unrecoverable_error() {
                    self.slots.invalidate_all();
                } else {
                    self.slots.invalidate(&handle);
                }
                return Err(if e.is_timeout() {
                    CacheError::Timeout {
                        millis: u64::try_from(self.command_timeout.as_millis()).unwrap_or(u64::MAX),
                    }
                } else {
                    redis_error(&e)
                });
            }
        };
        match reply {
            Value::Okay => Ok(Freshness::Fresh),
            Value::Nil => Ok(Freshness::Replayed),
            other => Err(CacheError::UnexpectedReply(format!(
                "SET NX answered {}",
                value_kind(&other)
            ))),
        }
    }

    fn serve_fallback(
        &self,
        digest: &KeyDigest,
        until_ms: u64,
        started: Instant,
    ) -> Result<Freshness, CacheError> {
        let result = match &self.fallback {
            Some(fallback) => fallback.check_digest(digest, until_ms),
            None => Err(CacheError::Unavailable("no fallback configured".into())),
        };
        self.finish(&self.fallback_metrics, result, started)
    }

    fn finish(
        &self,
        metrics: &Option<BackendMetrics>,
        result: Result<Freshness, CacheError>,
        started: Instant,
    ) -> Result<Freshness, CacheError> {
        if let Some(metrics) = metrics {
            metrics.record(&result, started.elapsed());
        }
        result
    }

    fn on_success(&self) {
        if self.healthy.load(Ordering::Acquire) {
            return;
        }
        let mut machine = self.machine();
        let transition = machine.on_success();
        self.healthy.store(true, Ordering::Release);
        drop(machine);
        if transition == Transition::Recovered {
            tracing::info!(url = %self.redacted_url, "replay store: redis answers again; back on redis");
        }
    }

    fn on_failure(&self, error: &CacheError) {
        if let Some(metrics) = &self.metrics {
            metrics.backend_error();
        }
        let mut machine = self.machine();
        let transition = machine.on_failure(self.clock.now_millis(), error.to_string());
        self.healthy.store(false, Ordering::Release);
        drop(machine);
        match transition {
            Transition::FallbackActivated => {
                if let Some(metrics) = &self.metrics {
                    metrics.fallback_activated();
                }
                tracing::warn!(
                    url = %self.redacted_url,
                    error = %error,
                    "replay store DEGRADED: redis unavailable, serving from the in-process memory \
                     fallback; replays across replicas are NOT detected until redis returns"
                );
            }
            Transition::FailingClosed => tracing::error!(
                url = %self.redacted_url,
                error = %error,
                "replay store unavailable: redis failed, refusing every token (fail closed)"
            ),
            Transition::None | Transition::Recovered => {}
        }
    }

    fn machine(&self) -> MutexGuard<'_, HealthMachine> {
        // The machine holds no invariant a panic could break halfway; keep using it.
        self.machine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn timeout_error(&self) -> CacheError {
        CacheError::Timeout {
            millis: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

impl ReplayStore for RedisReplayStore {
    fn check_and_record<'a>(
        &'a self,
        issuer: &'a str,
        jti: &'a str,
        record_until: UnixTime,
    ) -> CheckFuture<'a> {
        Box::pin(self.check(issuer, jti, record_until))
    }

    fn health(&self) -> Health {
        self.machine().health()
    }
}

pub(crate) fn redis_error(e: &::redis::RedisError) -> CacheError {
    if e.is_timeout() {
        CacheError::Unavailable(format!("redis timed out: {e}"))
    } else {
        CacheError::Unavailable(e.to_string())
    }
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Int(_) => "an integer",
        Value::BulkString(_) => "a bulk string",
        Value::Array(_) => "an array",
        Value::SimpleString(_) => "a simple string",
        Value::Okay => "OK",
        Value::ServerError(_) => "an error",
        _ => "another type",
    }
}

/// `url` with the password (everything after the first `:` of the user info) replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<not a URL>".into();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or("", |(user, _)| user);
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_owned(),
    }
}
