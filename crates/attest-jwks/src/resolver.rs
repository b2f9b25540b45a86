//! The async driver: per-issuer state, single-flight fetches, and the metrics on the real path.
//!
//! Every decision is taken by the sans-IO [`IssuerCache`] (which holds the
//! [`CircuitBreaker`](crate::breaker::CircuitBreaker)) and [`RetryPolicy`], under a short
//! per-issuer lock that is never held across an `await`. This module only carries the
//! decisions out: it spawns at most one fetch task per issuer at a time, lets every lookup that
//! needs its result wait on a `watch` channel, sleeps between retries through the [`Clock`],
//! and reports to the [`Observer`].

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use attest_core::{JwksLimits, KeyError, KeyResolver, KeySet, PublicKey};
use attest_observe::prometheus::{IntCounterVec, Opts};
use attest_observe::{CacheLookup, Observer};
use tokio::sync::watch;
use tracing::Instrument;

use crate::breaker::{BreakerConfig, BreakerState};
use crate::cache::{CachePolicy, Decision, Freshness, IssuerCache};
use crate::clock::{Clock, SystemClock};
use crate::error::{JwksError, UnavailableCause};
use crate::http::{AttemptError, Fetched, HttpConfig, HttpFetcher};
use crate::retry::{RetryDecision, RetryPolicy};
use crate::url::JwksUrl;

/// Where an issuer's keys come from.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum IssuerSource {
    /// Fetched from this URL instead of `{iss}/.well-known/jwks.json`.
    Url(String),
    /// A fixed set (for tests, or keys distributed out of band). Never fetched, never expires.
    Static(KeySet),
    /// A JWKS document read from this file when the resolver is built, with the same caps and
    /// checks as a fetched one; then served like [`IssuerSource::Static`]. For offline and
    /// air-gapped servers.
    File(PathBuf),
}

/// The family this crate registers next to attest-observe's: published keys refused at ingest.
pub const KEYS_REJECTED: &str = "attest_jwks_keys_rejected_total";

/// The `error` label values of [`KEYS_REJECTED`].
pub const REJECTED_LABELS: [&str; 7] = [
    "duplicate_kid",
    "small_order",
    "not_torsion_free",
    "non_canonical",
    "malformed_key",
    "wrong_parameters",
    "other",
];

fn rejected_label(error: &KeyError) -> &'static str {
    match error {
        KeyError::DuplicateKid => "duplicate_kid",
        KeyError::SmallOrder => "small_order",
        KeyError::NotTorsionFree => "not_torsion_free",
        KeyError::NonCanonical => "non_canonical",
        KeyError::NotAPoint | KeyError::WrongLength(_) | KeyError::Base64(_) => "malformed_key",
        KeyError::WrongKty(_)
        | KeyError::WrongCurve(_)
        | KeyError::WrongAlg(_)
        | KeyError::WrongUse(_)
        | KeyError::WrongKeyOps(_)
        | KeyError::KidInvalid
        | KeyError::Missing(_) => "wrong_parameters",
        _ => "other",
    }
}

type Jitter = Arc<dyn Fn() -> f64 + Send + Sync>;

/// A `kid` from a published set goes into logs cut to 256 bytes (SPEC.md §12).
fn clip(s: &str) -> &str {
    let mut end = s.len().min(256);
    while !s.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    s.get(..end).unwrap_or_default()
}

/// A random number in `[0, 1)` for the backoff jitter. Not cryptographic (it needs not be):
/// std's randomly keyed SipHash over a counter.
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    // 53 random bits as a fraction of 2^53: exactly representable, in [0, 1).
    (hasher.finish() >> 11) as f64 / 9_007_199_254_740_992.0
}

/// Builds a [`JwksResolver`]. Nothing is fetched until the first lookup (or
/// [`JwksResolver::refresh`]).
#[must_use]
pub struct JwksResolverBuilder {
    observer: Observer,
    /// `None`: the default URL, `{issuer}/.well-known/jwks.json`.
    issuers: Vec<(String, Option<IssuerSource>)>,
    cache: CachePolicy,
    retry: RetryPolicy,
    breaker: BreakerConfig,
    http: HttpConfig,
    limits: JwksLimits,
    clock: Arc<dyn Clock>,
    jitter: Jitter,
}

impl fmt::Debug for JwksResolverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksResolverBuilder")
            .field("issuers", &self.issuers)
            .field("cache", &self.cache)
            .field("retry", &self.retry)
            .field("breaker", &self.breaker)
            .field("http", &self.http)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl JwksResolverBuilder {
    /// Adds an issuer whose keys are fetched from `{issuer}/.well-known/jwks.json`. The
    /// issuer is matched exactly, as in the verification policy.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push((issuer.into(), None));
        self
    }

    /// Adds an issuer with an explicit source: another URL, a static set, or a file.
    pub fn issuer_source(mut self, issuer: impl Into<String>, source: IssuerSource) -> Self {
        self.issuers.push((issuer.into(), Some(source)));
        self
    }

    /// TTLs, refresh-ahead, staleness and unknown-kid limits.
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.cache = policy;
        self
    }

    /// Retries and backoff.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The per-issuer circuit breaker.
    pub fn breaker(mut self, config: BreakerConfig) -> Self {
        self.breaker = config;
        self
    }

    /// Timeouts, trusted roots and the development switch of the HTTP client.
    pub fn http(mut self, config: HttpConfig) -> Self {
        self.http = config;
        self
    }

    /// **For development only.** Allows plain `http://` JWKS URLs whose host is a loopback
    /// address (see [`HttpConfig::danger_allow_loopback_http`]).
    pub fn danger_allow_loopback_http(mut self, allow: bool) -> Self {
        self.http.danger_allow_loopback_http = allow;
        self
    }

    /// Body and key-count caps (default: attest-core's, 64 KiB and 32 keys).
    pub fn limits(mut self, limits: JwksLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The clock that feeds `now` to the decisions and sleeps between retries.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The source of random numbers in `[0, 1)` for the backoff jitter.
    pub fn jitter(mut self, source: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.jitter = Arc::new(source);
        self
    }

    /// Checks the configuration, reads file sources, and builds the resolver.
    pub fn build(self) -> Result<JwksResolver, JwksError> {
        self.cache.validate().map_err(JwksError::Config)?;
        if self.retry.max_delay < self.retry.base_delay {
            return Err(JwksError::Config(
                "retry max_delay is below base_delay".into(),
            ));
        }
        if self.breaker.failure_threshold == 0 {
            return Err(JwksError::Config(
                "breaker failure_threshold must be at least 1".into(),
            ));
        }
        if self.issuers.is_empty() {
            return Err(JwksError::Config("no issuer configured".into()));
        }
        let now = self.clock.now();
        let mut slots = HashMap::new();
        let mut held = 0usize;
        let mut needs_tls = false;
        for (issuer, source) in self.issuers {
            if issuer.is_empty() || issuer.trim() != issuer {
                return Err(JwksError::Config(format!(
                    "issuer {issuer:?} is empty or has surrounding spaces"
                )));
            }
            if slots.contains_key(&issuer) {
                return Err(JwksError::Config(format!(
                    "issuer {issuer:?} is configured twice"
                )));
            }
            let url = match &source {
                None => Some(JwksUrl::for_issuer(&issuer)?),
                Some(IssuerSource::Url(url)) => Some(JwksUrl::parse(url)?),
                Some(_) => None,
            };
            let (url, cache) = match (url, source) {
                (Some(url), _) => {
                    if !url.check_scheme(self.http.danger_allow_loopback_http) {
                        return Err(JwksError::Config(format!(
                            "JWKS URL {url} for issuer {issuer:?} refused: https is required \
                             (plain http only for a loopback host, with the development switch)"
                        )));
                    }
                    needs_tls |= url.is_https();
                    (Some(url), IssuerCache::new(self.cache, self.breaker))
                }
                (None, Some(IssuerSource::Static(keys))) => (None, pinned(&issuer, keys, now)?),
                (None, Some(IssuerSource::File(path))) => {
                    let keys = read_file(&path, self.limits)?;
                    (None, pinned(&issuer, keys, now)?)
                }
                (None, _) => {
                    return Err(JwksError::Config(format!(
                        "issuer {issuer:?} has no key source"
                    )));
                }
            };
            let count = cache.keys().map_or(0, |k| k.len());
            held = held.saturating_add(count);
            slots.insert(
                issuer.clone(),
                Arc::new(Slot {
                    issuer,
                    url,
                    state: Mutex::new(SlotState {
                        cache,
                        inflight: None,
                        held: count,
                    }),
                }),
            );
        }
        let fetcher = HttpFetcher::new(self.http, self.limits.max_body_bytes, needs_tls)
            .map_err(JwksError::Config)?;
        let rejected = register_rejected(&self.observer, slots.keys());
        self.observer.set_cached_keys(held);
        Ok(JwksResolver {
            inner: Arc::new(Inner {
                slots,
                fetcher,
                observer: self.observer,
                clock: self.clock,
                jitter: self.jitter,
                retry: self.retry,
                limits: self.limits,
                held: AtomicUsize::new(held),
                rejected,
            }),
        })
    }
}

fn pinned(issuer: &str, keys: KeySet, now: Instant) -> Result<IssuerCache, JwksError> {
    if keys.is_empty() {
        return Err(JwksError::Config(format!(
            "the static key set of issuer {issuer:?} has no usable key"
        )));
    }
    Ok(IssuerCache::pinned(Arc::new(keys), now))
}

/// Reads a JWKS file with the body cap applied while reading, then parses it strictly.
fn read_file(path: &Path, limits: JwksLimits) -> Result<KeySet, JwksError> {
    let refuse = |why: String| JwksError::Config(format!("JWKS file {}: {why}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| refuse(e.to_string()))?;
    let mut body = Vec::new();
    let cap = u64::try_from(limits.max_body_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    file.take(cap)
        .read_to_end(&mut body)
        .map_err(|e| refuse(e.to_string()))?;
    if body.len() > limits.max_body_bytes {
        return Err(refuse(format!(
            "over the {}-byte cap",
            limits.max_body_bytes
        )));
    }
    let keys = KeySet::parse(&body, limits).map_err(|e| refuse(e.to_string()))?;
    for rejected in keys.rejected() {
        let detail = rejected.error.to_string();
        tracing::warn!(
            file = %path.display(),
            kid = clip(rejected.kid.as_deref().unwrap_or("<none>")),
            error = clip(&detail),
            "JWKS file: key refused"
        );
    }
    Ok(keys)
}

fn register_rejected<'a>(
    observer: &Observer,
    issuers: impl Iterator<Item = &'a String>,
) -> Option<IntCounterVec> {
    let vec = IntCounterVec::new(
        Opts::new(
            KEYS_REJECTED,
            "Published keys refused at JWKS ingest (weak, duplicate kid, wrong parameters), by \
             issuer and error.",
        ),
        &["issuer", "error"],
    )
    .ok()?;
    if let Err(e) = observer.registry().register(Box::new(vec.clone())) {
        // Another resolver on the same registry already registered it; ours still counts, but
        // only theirs is exported.
        tracing::debug!(error = %e, "{KEYS_REJECTED} not registered");
    }
    for issuer in issuers {
        let label = observer.issuer_label(Some(issuer));
        for error in REJECTED_LABELS {
            // Creates the series at zero so that the family is listed from the start.
            let _ = vec.get_metric_with_label_values(&[label, error]);
        }
    }
    Some(vec)
}

/// Resolves `(issuer, kid)` to a public key, fetching and caching each configured issuer's
/// JWKS. Cheap to clone (an `Arc`).
///
/// See the crate documentation for the behaviour; in short: only configured issuers are ever
/// fetched, a cache hit never touches the network, a refresh happens ahead of expiry in the
/// background, stale keys are served (for a bounded time) while the issuer fails, an unknown
/// kid causes at most one fetch per issuer per cooldown (single-flight), and every request goes
/// through the issuer's retry policy and circuit breaker.
#[derive(Clone)]
pub struct JwksResolver {
    inner: Arc<Inner>,
}

struct Inner {
    slots: HashMap<String, Arc<Slot>>,
    fetcher: HttpFetcher,
    observer: Observer,
    clock: Arc<dyn Clock>,
    jitter: Jitter,
    retry: RetryPolicy,
    limits: JwksLimits,
    /// Usable keys held, all issuers together (the `attest_jwks_cached_keys` gauge).
    held: AtomicUsize,
    rejected: Option<IntCounterVec>,
}

struct Slot {
    issuer: String,
    /// `None` for a static or file source.
    url: Option<JwksUrl>,
    state: Mutex<SlotState>,
}

struct SlotState {
    cache: IssuerCache,
    /// The result of the fetch in flight, when it ends. Set exactly while
    /// `cache.is_fetching()`.
    inflight: Option<watch::Receiver<Option<FetchResult>>>,
    /// Keys of the held set, for the gauge.
    held: usize,
}

type FetchResult = Result<(), UnavailableCause>;

impl Slot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        // The state stays consistent between statements, so a panic elsewhere leaves it usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An issuer's state, for health checks and tests.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerStatus {
    /// The JWKS URL, or `None` for a static or file source.
    pub url: Option<String>,
    /// The usable kids of the held set, sorted.
    pub kids: Vec<String>,
    /// How usable the held set is now; `None` if none is held.
    pub freshness: Option<Freshness>,
    /// The circuit breaker.
    pub breaker: BreakerState,
    /// The last fetch failure since the last success.
    pub last_error: Option<UnavailableCause>,
    /// True while a fetch is in flight.
    pub fetching: bool,
}

impl fmt::Debug for JwksResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut issuers: Vec<&str> = self.inner.slots.keys().map(String::as_str).collect();
        issuers.sort_unstable();
        f.debug_struct("JwksResolver")
            .field("issuers", &issuers)
            .field("retry", &self.inner.retry)
            .field("limits", &self.inner.limits)
            .field("http", self.inner.fetcher.config())
            .finish_non_exhaustive()
    }
}

/// The synchronous part of a lookup: decided, or waiting for a fetch.
enum Begin {
    Done(Result<PublicKey, JwksError>),
    Wait(Pending),
}

/// A lookup waiting for a fetch.
struct Pending {
    slot: Arc<Slot>,
    waiter: Option<watch::Receiver<Option<FetchResult>>>,
    /// This lookup asked for the fetch (so a kid still absent after it is negative-cached).
    initiated: bool,
}

/// What a fetch task brings back, before it is applied to the cache.
enum FetchOutcome {
    New {
        keys: KeySet,
        max_age: Option<Duration>,
        etag: Option<String>,
    },
    NotModified {
        max_age: Option<Duration>,
    },
    Failed(UnavailableCause),
}

impl JwksResolver {
    /// A builder reporting into `observer`.
    pub fn builder(observer: Observer) -> JwksResolverBuilder {
        JwksResolverBuilder {
            observer,
            issuers: Vec::new(),
            cache: CachePolicy::default(),
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
            http: HttpConfig::default(),
            limits: JwksLimits::default(),
            clock: Arc::new(SystemClock),
            jitter: Arc::new(random_unit),
        }
    }

    /// The key that `issuer` publishes under `kid`.
    ///
    /// On a cache hit this takes a short lock and a map lookup, and never waits on the
    /// network; inside the refresh-ahead window (or serving stale keys) it also starts a
    /// background refresh. A fetch is awaited only when no usable set is held, or for the one
    /// refetch an unknown kid may cause per cooldown; concurrent lookups share one fetch.
    ///
    /// Errors: [`JwksError::IssuerNotConfigured`] (nothing fetched), [`JwksError::KeyUnknown`],
    /// [`JwksError::Unavailable`]. Must run inside a tokio runtime to fetch.
    pub async fn resolve(&self, issuer: &str, kid: &str) -> Result<PublicKey, JwksError> {
        match self.begin(issuer, kid) {
            Begin::Done(result) => result,
            // The waiting part lives in its own (boxed) future, so the hit path stays small.
            Begin::Wait(pending) => Box::pin(self.finish(pending, kid)).await,
        }
    }

    /// The synchronous part of a lookup: the decision, and the fetch it may start.
    fn begin(&self, issuer: &str, kid: &str) -> Begin {
        let Some(slot) = self.inner.slots.get(issuer) else {
            return Begin::Done(Err(JwksError::IssuerNotConfigured));
        };
        let now = self.inner.clock.now();
        let (decision, waiter) = {
            let mut state = slot.lock();
            let decision = state.cache.lookup(now, kid);
            let waiter = match &decision {
                Decision::Fetch(_) => Some(Inner::start_fetch(&self.inner, slot, &mut state)),
                Decision::Serve { refresh: true, .. } => {
                    Inner::start_fetch(&self.inner, slot, &mut state);
                    None
                }
                Decision::Wait => state.inflight.clone(),
                Decision::Serve { .. } | Decision::Unknown | Decision::Unavailable(_) => None,
            };
            (decision, waiter)
        };
        let initiated = matches!(decision, Decision::Fetch(_));
        let (lookup, done) = match decision {
            Decision::Serve { key, lookup, .. } => (lookup, Some(Ok(key))),
            Decision::Unknown => (CacheLookup::Miss, Some(Err(JwksError::KeyUnknown))),
            Decision::Unavailable(cause) => {
                (CacheLookup::Miss, Some(Err(JwksError::Unavailable(cause))))
            }
            Decision::Fetch(_) | Decision::Wait => (CacheLookup::Miss, None),
        };
        self.inner.observer.record_jwks_cache(issuer, lookup);
        match done {
            Some(result) => Begin::Done(result),
            None => Begin::Wait(Pending {
                slot: Arc::clone(slot),
                waiter,
                initiated,
            }),
        }
    }

    /// Waits for the fetch a lookup started or joined, then decides again (never fetching
    /// again).
    async fn finish(&self, pending: Pending, kid: &str) -> Result<PublicKey, JwksError> {
        let outcome = wait(pending.waiter).await;
        let now = self.inner.clock.now();
        let decision = pending
            .slot
            .lock()
            .cache
            .after_fetch(now, kid, &outcome, pending.initiated);
        match decision {
            Decision::Serve { key, .. } => Ok(key),
            Decision::Unknown => Err(JwksError::KeyUnknown),
            Decision::Unavailable(cause) => Err(JwksError::Unavailable(cause)),
            Decision::Fetch(_) | Decision::Wait => {
                Err(JwksError::Unavailable(UnavailableCause::NoRuntime))
            }
        }
    }

    /// The key from the cache only (fresh, refresh-ahead or stale), without any fetch. Counts
    /// a cache lookup. This is what the [`KeyResolver`] implementation returns, for
    /// synchronous callers such as [`attest_core::verify`].
    pub fn cached(&self, issuer: &str, kid: &str) -> Option<PublicKey> {
        let slot = self.inner.slots.get(issuer)?;
        let now = self.inner.clock.now();
        let found = slot.lock().cache.peek(now, kid);
        let (key, lookup) = match found {
            Some((key, lookup)) => (Some(key), lookup),
            None => (None, CacheLookup::Miss),
        };
        self.inner.observer.record_jwks_cache(issuer, lookup);
        key
    }

    /// Fetches `issuer`'s set now (or waits for the fetch in flight), whatever its freshness:
    /// for a warm-up at start-up or an operator's refresh. Goes through the retry policy and
    /// the breaker. Returns the number of usable keys held after it.
    pub async fn refresh(&self, issuer: &str) -> Result<usize, JwksError> {
        let slot = self
            .inner
            .slots
            .get(issuer)
            .ok_or(JwksError::IssuerNotConfigured)?;
        let now = self.inner.clock.now();
        let (decision, waiter) = {
            let mut state = slot.lock();
            let decision = state.cache.force_fetch(now);
            let waiter = match &decision {
                Decision::Fetch(_) => Some(Inner::start_fetch(&self.inner, slot, &mut state)),
                Decision::Wait => state.inflight.clone(),
                _ => None,
            };
            (decision, waiter)
        };
        match decision {
            Decision::Fetch(_) | Decision::Wait => {
                wait(waiter).await.map_err(JwksError::Unavailable)?;
                Ok(slot.lock().held)
            }
            Decision::Unavailable(cause) => Err(JwksError::Unavailable(cause)),
            // A static set: nothing to fetch.
            Decision::Serve { .. } | Decision::Unknown => Ok(slot.lock().held),
        }
    }

    /// The configured issuers, sorted.
    pub fn issuers(&self) -> Vec<&str> {
        let mut issuers: Vec<&str> = self.inner.slots.keys().map(String::as_str).collect();
        issuers.sort_unstable();
        issuers
    }

    /// The state of `issuer`'s cache and breaker; `None` if it is not configured.
    pub fn status(&self, issuer: &str) -> Option<IssuerStatus> {
        let slot = self.inner.slots.get(issuer)?;
        let now = self.inner.clock.now();
        let state = slot.lock();
        Some(IssuerStatus {
            url: slot.url.as_ref().map(|u| u.as_str().to_owned()),
            kids: state
                .cache
                .keys()
                .map(|k| k.kids().into_iter().map(str::to_owned).collect())
                .unwrap_or_default(),
            freshness: state.cache.freshness(now),
            breaker: state.cache.breaker().state(),
            last_error: state.cache.last_error().cloned(),
            fetching: state.cache.is_fetching(),
        })
    }
}

impl KeyResolver for JwksResolver {
    /// Cache only: see [`JwksResolver::cached`].
    fn resolve(&self, issuer: &str, kid: &str) -> Option<PublicKey> {
        self.cached(issuer, kid)
    }
}

async fn wait(waiter: Option<watch::Receiver<Option<FetchResult>>>) -> FetchResult {
    let Some(mut rx) = waiter else {
        return Err(UnavailableCause::NoRuntime);
    };
    match rx.wait_for(Option::is_some).await {
        Ok(value) => match &*value {
            Some(result) => result.clone(),
            None => Err(UnavailableCause::NoRuntime),
        },
        // The task ended without a word: only when the runtime shuts down.
        Err(_) => Err(UnavailableCause::NoRuntime),
    }
}

impl Inner {
    /// Spawns the fetch task for `slot` (the cache has marked the fetch as started) and
    /// returns the receiver of its result. Called with the slot's lock held.
    fn start_fetch(
        this: &Arc<Inner>,
        slot: &Arc<Slot>,
        state: &mut SlotState,
    ) -> watch::Receiver<Option<FetchResult>> {
        let (tx, rx) = watch::channel(None);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                state.inflight = Some(rx.clone());
                let task = FetchTask {
                    inner: Arc::clone(this),
                    slot: Arc::clone(slot),
                    tx: Some(tx),
                };
                handle.spawn(task.run());
            }
            Err(_) => {
                state.cache.fetch_failed(UnavailableCause::NoRuntime);
                // `rx` is alive, so the send cannot fail.
                let _ = tx.send(Some(Err(UnavailableCause::NoRuntime)));
            }
        }
        rx
    }

    /// One fetch: attempts under the breaker, with retries, until success or give-up.
    async fn fetch_with_retries(&self, slot: &Slot) -> FetchOutcome {
        let Some(url) = slot.url.as_ref() else {
            return FetchOutcome::Failed(UnavailableCause::InvalidJwks(
                "a static source is never fetched".into(),
            ));
        };
        let started = self.clock.now();
        let mut retries: u32 = 0;
        // The failure of the previous attempt, reported if the breaker stops the retry.
        let mut previous: Option<UnavailableCause> = None;
        loop {
            let etag = {
                let mut state = slot.lock();
                if state
                    .cache
                    .breaker_mut()
                    .try_acquire(self.clock.now())
                    .is_err()
                {
                    return FetchOutcome::Failed(previous.unwrap_or(UnavailableCause::CircuitOpen));
                }
                state.cache.etag().map(str::to_owned)
            };
            let guard = self.observer.start_jwks_fetch(&slot.issuer);
            let span = guard.span().clone();
            let attempt = self
                .attempt(slot, url, etag.as_deref())
                .instrument(span)
                .await;
            let now = self.clock.now();
            let (opened, held) = {
                let mut state = slot.lock();
                let opened = match &attempt {
                    Ok(_) => {
                        state.cache.breaker_mut().on_success();
                        false
                    }
                    Err(_) => state.cache.breaker_mut().on_failure(now),
                };
                (opened, state.held)
            };
            guard.finish(match &attempt {
                Ok(FetchOutcome::New { keys, .. }) => Ok(keys.len()),
                Ok(_) => Ok(held),
                Err(error) => Err(error.cause.failure_label()),
            });
            if opened {
                self.observer.record_circuit_open(&slot.issuer);
                tracing::warn!(issuer = %slot.issuer, "JWKS circuit breaker opened");
            }
            let error = match attempt {
                Ok(outcome) => return outcome,
                Err(error) => error,
            };
            let elapsed = now.saturating_duration_since(started);
            match self
                .retry
                .decide(retries, error.class(), elapsed, (self.jitter)())
            {
                RetryDecision::RetryAfter(delay) => {
                    tracing::debug!(
                        issuer = %slot.issuer,
                        cause = %error.cause,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "JWKS fetch failed; retrying"
                    );
                    self.clock.sleep(delay).await;
                    retries = retries.saturating_add(1);
                    previous = Some(error.cause);
                }
                RetryDecision::GiveUp => return FetchOutcome::Failed(error.cause),
            }
        }
    }

    /// One request and, for a 200, the strict parse of its body.
    async fn attempt(
        &self,
        slot: &Slot,
        url: &JwksUrl,
        etag: Option<&str>,
    ) -> Result<FetchOutcome, AttemptError> {
        match self.fetcher.fetch(url, etag).await? {
            Fetched::NotModified { max_age } => Ok(FetchOutcome::NotModified { max_age }),
            Fetched::Body {
                body,
                max_age,
                etag,
            } => {
                let keys = KeySet::parse(&body, self.limits).map_err(|e| {
                    AttemptError::new(match e {
                        attest_core::JwksError::TooLarge { max, .. } => {
                            UnavailableCause::TooLarge { max }
                        }
                        other => UnavailableCause::InvalidJwks(clip(&other.to_string()).to_owned()),
                    })
                })?;
                self.report_rejected(&slot.issuer, &keys);
                if keys.is_empty() {
                    return Err(AttemptError::new(UnavailableCause::InvalidJwks(
                        "no usable Ed25519 key in the set".into(),
                    )));
                }
                Ok(FetchOutcome::New {
                    keys,
                    max_age,
                    etag,
                })
            }
        }
    }

    fn report_rejected(&self, issuer: &str, keys: &KeySet) {
        let label = self.observer.issuer_label(Some(issuer));
        for rejected in keys.rejected() {
            let error = rejected_label(&rejected.error);
            let detail = rejected.error.to_string();
            tracing::warn!(
                issuer = %issuer,
                kid = clip(rejected.kid.as_deref().unwrap_or("<none>")),
                error = clip(&detail),
                "JWKS key refused"
            );
            if let Some(counter) = self
                .rejected
                .as_ref()
                .and_then(|vec| vec.get_metric_with_label_values(&[label, error]).ok())
            {
                counter.inc();
            }
        }
    }

    /// Applies a finished fetch to the slot and returns what its waiters are told.
    fn apply(&self, slot: &Slot, outcome: FetchOutcome) -> FetchResult {
        let now = self.clock.now();
        let mut state = slot.lock();
        state.inflight = None;
        match outcome {
            FetchOutcome::New {
                keys,
                max_age,
                etag,
            } => {
                let count = keys.len();
                state
                    .cache
                    .fetch_succeeded(now, Arc::new(keys), max_age, etag);
                self.set_held(&mut state, count);
                Ok(())
            }
            FetchOutcome::NotModified { max_age } => {
                state.cache.fetch_not_modified(now, max_age);
                state.cache.last_error().cloned().map_or(Ok(()), Err)
            }
            FetchOutcome::Failed(cause) => {
                state.cache.fetch_failed(cause.clone());
                Err(cause)
            }
        }
    }

    fn set_held(&self, state: &mut SlotState, count: usize) {
        let old = std::mem::replace(&mut state.held, count);
        if count >= old {
            self.held
                .fetch_add(count.saturating_sub(old), Ordering::Relaxed);
        } else {
            self.held
                .fetch_sub(old.saturating_sub(count), Ordering::Relaxed);
        }
        self.observer
            .set_cached_keys(self.held.load(Ordering::Relaxed));
    }
}

/// The spawned fetch. However it ends (even dropped by a runtime shutting down), it applies a
/// result to the slot and wakes its waiters, so the issuer never stays marked as fetching.
struct FetchTask {
    inner: Arc<Inner>,
    slot: Arc<Slot>,
    tx: Option<watch::Sender<Option<FetchResult>>>,
}

impl FetchTask {
    async fn run(mut self) {
        let outcome = self.inner.fetch_with_retries(&self.slot).await;
        self.complete(outcome);
    }

    fn complete(&mut self, outcome: FetchOutcome) {
        let Some(tx) = self.tx.take() else { return };
        let result = self.inner.apply(&self.slot, outcome);
        // No receiver left is fine: nobody waits.
        let _ = tx.send(Some(result));
    }
}

impl Drop for FetchTask {
    fn drop(&mut self) {
        if self.tx.is_some() {
            self.complete(FetchOutcome::Failed(UnavailableCause::NoRuntime));
        }
    }
}
