//! The observer: the metric families, their pre-built series, and the recording API.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use attest_core::{KeyResolver, Policy, Reason, UnixTime, Verified, VerifyError};
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

use crate::error::ObserveError;
use crate::guard::{CreationGuard, FetchGuard, VerificationGuard};
use crate::labels::{
    CacheLookup, CreateFailure, FetchFailure, ISSUER_NONE, ISSUER_UNTRUSTED, OUTCOME_CANCELLED,
    OUTCOME_FAILURE, OUTCOME_SUCCESS, REASON_NONE,
};
use crate::names;

/// Histogram buckets for every latency family, in seconds: 10 µs to 10 s, about three per
/// decade. A verification takes tens of microseconds; a JWKS fetch, milliseconds to seconds.
pub const LATENCY_BUCKETS: [f64; 19] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Metrics and spans for attestation, shared by every crate that does the work.
///
/// Cheap to clone (an `Arc`); clone it into each component. It holds a [`Registry`] with the
/// `attest_*` families (SPEC.md, "Metrics"), every series of which is created up front, so the
/// exposition lists each family from the start and the hot path only bumps an atomic.
///
/// The `issuer` label is bounded: an issuer in the trusted set given to the builder is its own
/// label value; any other issuer is [`ISSUER_UNTRUSTED`]; no issuer at all is [`ISSUER_NONE`].
#[derive(Debug, Clone)]
pub struct Observer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    registry: Registry,
    /// Trusted issuer → index into `series`. `series[trusted.len()]` is `untrusted`, the next
    /// one `none`.
    trusted: HashMap<String, usize>,
    labels: Vec<String>,
    series: Vec<IssuerSeries>,
    verify_seconds: [Histogram; 2],
    create: Vec<IntCounter>,
    create_seconds: [Histogram; 2],
    fetch_seconds: [Histogram; 2],
    pub(crate) active: IntGauge,
    cached_keys: IntGauge,
}

/// The series of one `issuer` label value.
#[derive(Debug)]
struct IssuerSeries {
    /// `[success, cancelled, failure per Reason::ALL...]`.
    verifications: Vec<IntCounter>,
    verifications_vec: IntCounterVec,
    replays: IntCounter,
    cache: [IntCounter; 3],
    /// `[success, cancelled, failure per FetchFailure::ALL...]`.
    fetches: Vec<IntCounter>,
    circuit_opens: IntCounter,
}

/// Builds an [`Observer`].
#[derive(Debug, Default)]
#[must_use]
pub struct ObserverBuilder {
    trusted: Vec<String>,
    registry: Option<Registry>,
}

impl ObserverBuilder {
    /// Adds an issuer whose name may be a label value.
    pub fn trusted_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.trusted.push(issuer.into());
        self
    }

    /// Adds several issuers whose names may be label values.
    pub fn trusted_issuers(mut self, issuers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.trusted.extend(issuers.into_iter().map(Into::into));
        self
    }

    /// Adds the trusted issuers of a verification policy: the usual choice.
    pub fn policy(self, policy: &Policy) -> Self {
        self.trusted_issuers(policy.trusted_issuers())
    }

    /// Registers the families in `registry` instead of a new one, e.g. to expose them beside
    /// the application's own metrics.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Creates and registers every family and series.
    pub fn build(self) -> Result<Observer, ObserveError> {
        let registry = self.registry.unwrap_or_default();
        let mut trusted = HashMap::new();
        let mut labels = Vec::new();
        for issuer in self.trusted {
            if issuer.is_empty() || issuer == ISSUER_UNTRUSTED || issuer == ISSUER_NONE {
                return Err(ObserveError::ReservedIssuer(issuer));
            }
            if !trusted.contains_key(&issuer) {
                trusted.insert(issuer.clone(), labels.len());
                labels.push(issuer);
            }
        }
        labels.push(ISSUER_UNTRUSTED.to_owned());
        labels.push(ISSUER_NONE.to_owned());

        let reg = Registrar {
            registry: &registry,
        };
        let verifications = reg.counter_vec(
            names::VERIFICATIONS,
            "Attestation verifications, by issuer, outcome and reason.",
            &["issuer", "outcome", "reason"],
        )?;
        let replays = reg.counter_vec(
            names::REPLAYS,
            "Replayed attestations detected (jti already used), by issuer.",
            &["issuer"],
        )?;
        let cache = reg.counter_vec(
            names::JWKS_CACHE_LOOKUPS,
            "JWKS cache lookups, by issuer and result (hit, miss, stale).",
            &["issuer", "result"],
        )?;
        let fetches = reg.counter_vec(
            names::JWKS_FETCHES,
            "JWKS fetches, by issuer, outcome and reason.",
            &["issuer", "outcome", "reason"],
        )?;
        let circuit = reg.counter_vec(
            names::CIRCUIT_OPENS,
            "Times an issuer's circuit breaker opened.",
            &["issuer"],
        )?;
        let series = labels
            .iter()
            .map(|issuer| {
                IssuerSeries::new(issuer, &verifications, &replays, &cache, &fetches, &circuit)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| registration(names::VERIFICATIONS, &e))?;

        let verify_seconds = reg.histogram_pair(
            names::VERIFY_SECONDS,
            "Time to decide a verification, by outcome.",
        )?;
        let create_vec = reg.counter_vec(
            names::TOKEN_CREATIONS,
            "Attestation tokens created, by outcome and reason.",
            &["outcome", "reason"],
        )?;
        let mut create = Vec::new();
        for (outcome, reason) in [
            (OUTCOME_SUCCESS, REASON_NONE),
            (OUTCOME_CANCELLED, REASON_NONE),
        ]
        .into_iter()
        .chain(
            CreateFailure::ALL
                .iter()
                .map(|f| (OUTCOME_FAILURE, f.as_str())),
        ) {
            create.push(
                create_vec
                    .get_metric_with_label_values(&[outcome, reason])
                    .map_err(|e| registration(names::TOKEN_CREATIONS, &e))?,
            );
        }
        let create_seconds = reg.histogram_pair(
            names::CREATE_SECONDS,
            "Time to create (build and sign) a token, by outcome.",
        )?;
        let fetch_seconds = reg.histogram_pair(
            names::JWKS_FETCH_SECONDS,
            "Time of a JWKS fetch, by outcome.",
        )?;
        let active = reg.gauge(names::ACTIVE_VERIFICATIONS, "Verifications in flight.")?;
        let cached_keys = reg.gauge(
            names::CACHED_KEYS,
            "Public keys held in the JWKS cache, all issuers together.",
        )?;
        Ok(Observer {
            inner: Arc::new(Inner {
                registry,
                trusted,
                labels,
                series,
                verify_seconds,
                create,
                create_seconds,
                fetch_seconds,
                active,
                cached_keys,
            }),
        })
    }
}

fn registration(name: &'static str, e: &prometheus::Error) -> ObserveError {
    ObserveError::Registration {
        name,
        detail: e.to_string(),
    }
}

struct Registrar<'r> {
    registry: &'r Registry,
}

impl Registrar<'_> {
    fn counter_vec(
        &self,
        name: &'static str,
        help: &str,
        labels: &[&str],
    ) -> Result<IntCounterVec, ObserveError> {
        let vec = IntCounterVec::new(Opts::new(name, help), labels)
            .map_err(|e| registration(name, &e))?;
        self.registry
            .register(Box::new(vec.clone()))
            .map_err(|e| registration(name, &e))?;
        Ok(vec)
    }

    /// A latency histogram by `outcome`, and its `[success, failure]` series.
    fn histogram_pair(
        &self,
        name: &'static str,
        help: &str,
    ) -> Result<[Histogram; 2], ObserveError> {
        let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
        let vec = HistogramVec::new(opts, &["outcome"]).map_err(|e| registration(name, &e))?;
        self.registry
            .register(Box::new(vec.clone()))
            .map_err(|e| registration(name, &e))?;
        let get = |outcome: &str| {
            vec.get_metric_with_label_values(&[outcome])
                .map_err(|e| registration(name, &e))
        };
        Ok([get(OUTCOME_SUCCESS)?, get(OUTCOME_FAILURE)?])
    }

    fn gauge(&self, name: &'static str, help: &str) -> Result<IntGauge, ObserveError> {
        let gauge = IntGauge::new(name, help).map_err(|e| registration(name, &e))?;
        self.registry
            .register(Box::new(gauge.clone()))
            .map_err(|e| registration(name, &e))?;
        Ok(gauge)
    }
}

impl IssuerSeries {
    fn new(
        issuer: &str,
        verifications: &IntCounterVec,
        replays: &IntCounterVec,
        cache: &IntCounterVec,
        fetches: &IntCounterVec,
        circuit: &IntCounterVec,
    ) -> Result<IssuerSeries, prometheus::Error> {
        let mut verification_series = vec![
            verifications.get_metric_with_label_values(&[issuer, OUTCOME_SUCCESS, REASON_NONE])?,
            verifications.get_metric_with_label_values(&[
                issuer,
                OUTCOME_CANCELLED,
                REASON_NONE,
            ])?,
        ];
        for reason in Reason::ALL {
            verification_series.push(verifications.get_metric_with_label_values(&[
                issuer,
                OUTCOME_FAILURE,
                reason.as_str(),
            ])?);
        }
        let mut fetch_series = vec![
            fetches.get_metric_with_label_values(&[issuer, OUTCOME_SUCCESS, REASON_NONE])?,
            fetches.get_metric_with_label_values(&[issuer, OUTCOME_CANCELLED, REASON_NONE])?,
        ];
        for failure in FetchFailure::ALL {
            fetch_series.push(fetches.get_metric_with_label_values(&[
                issuer,
                OUTCOME_FAILURE,
                failure.as_str(),
            ])?);
        }
        let lookup = |l: CacheLookup| cache.get_metric_with_label_values(&[issuer, l.as_str()]);
        Ok(IssuerSeries {
            verifications: verification_series,
            verifications_vec: verifications.clone(),
            replays: replays.get_metric_with_label_values(&[issuer])?,
            cache: [
                lookup(CacheLookup::Hit)?,
                lookup(CacheLookup::Miss)?,
                lookup(CacheLookup::Stale)?,
            ],
            fetches: fetch_series,
            circuit_opens: circuit.get_metric_with_label_values(&[issuer])?,
        })
    }
}

/// What a finished (or abandoned) operation reports.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ending<F> {
    Success,
    Failure(F),
    Cancelled,
}

impl Observer {
    /// Starts a builder.
    pub fn builder() -> ObserverBuilder {
        ObserverBuilder::default()
    }

    /// The registry holding the `attest_*` families. Register your own metrics here to expose
    /// them on the same endpoint.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The `issuer` label value for `issuer`: itself if trusted, else [`ISSUER_UNTRUSTED`];
    /// [`ISSUER_NONE`] for `None`.
    pub fn issuer_label(&self, issuer: Option<&str>) -> &str {
        let index = self.inner.label_index(issuer);
        self.inner
            .labels
            .get(index)
            .map_or(ISSUER_UNTRUSTED, String::as_str)
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Starts observing one verification: the active gauge goes up until the guard is finished
    /// or dropped, and an `attestation.verify` span is open.
    pub fn start_verification(&self) -> VerificationGuard {
        VerificationGuard::new(self.clone())
    }

    /// Records a verification the caller timed itself. Prefer [`Observer::start_verification`],
    /// which also keeps the active gauge and the span.
    pub fn record_verification(
        &self,
        issuer: Option<&str>,
        outcome: Result<(), Reason>,
        elapsed: Duration,
    ) {
        let ending = match outcome {
            Ok(()) => Ending::Success,
            Err(reason) => Ending::Failure(reason),
        };
        self.inner
            .record_verification(self.inner.label_index(issuer), ending, Some(elapsed));
    }

    /// Verifies `token` with [`attest_core::verify`], observed: span, counters, histogram and
    /// active gauge. The issuer and `kid` labels come from the verified token, or on failure
    /// from the token read without verification (only to label it; an issuer outside the
    /// trusted set is labelled `untrusted` whatever it claims).
    ///
    /// This does not check replay: a server that records `jti`s observes the whole decision
    /// with [`Observer::start_verification`] instead.
    pub fn verify(
        &self,
        token: &str,
        keys: &impl KeyResolver,
        policy: &Policy,
        now: UnixTime,
    ) -> Result<Verified, VerifyError> {
        let mut guard = self.start_verification();
        let span = guard.span().clone();
        let _entered = span.enter();
        let result = attest_core::verify(token, keys, policy, now);
        match &result {
            Ok(verified) => {
                guard.set_issuer(verified.issuer());
                guard.set_kid(&verified.header().kid);
                guard.finish(Ok(()));
            }
            Err(error) => {
                if let Ok(unverified) = attest_core::dangerous::decode_unverified(token, policy) {
                    guard.set_issuer(unverified.issuer());
                    guard.set_kid(unverified.kid());
                }
                guard.finish_error(error);
            }
        }
        result
    }

    /// Starts observing one token creation by `issuer` with key `kid`: an
    /// `attestation.create_token` span is open until the guard is finished or dropped.
    pub fn start_token_creation(&self, issuer: &str, kid: &str) -> CreationGuard {
        CreationGuard::new(self.clone(), issuer, kid)
    }

    /// Records a token creation the caller timed itself.
    pub fn record_token_creation(&self, outcome: Result<(), CreateFailure>, elapsed: Duration) {
        let ending = match outcome {
            Ok(()) => Ending::Success,
            Err(failure) => Ending::Failure(failure),
        };
        self.inner.record_creation(ending, Some(elapsed));
    }

    /// Starts observing one JWKS fetch from `issuer`: an `attestation.jwks_fetch` span is open
    /// until the guard is finished or dropped.
    pub fn start_jwks_fetch(&self, issuer: &str) -> FetchGuard {
        FetchGuard::new(self.clone(), issuer)
    }

    /// Records a JWKS fetch the caller timed itself.
    pub fn record_jwks_fetch(
        &self,
        issuer: &str,
        outcome: Result<(), FetchFailure>,
        elapsed: Duration,
    ) {
        let ending = match outcome {
            Ok(()) => Ending::Success,
            Err(failure) => Ending::Failure(failure),
        };
        self.inner
            .record_fetch(self.inner.label_index(Some(issuer)), ending, Some(elapsed));
    }

    /// Records a JWKS cache lookup for `issuer`.
    pub fn record_jwks_cache(&self, issuer: &str, lookup: CacheLookup) {
        let index = self.inner.label_index(Some(issuer));
        if let Some(counter) = self
            .inner
            .series(index)
            .and_then(|series| series.cache.get(lookup.index()))
        {
            counter.inc();
        }
    }

    /// Records that `issuer`'s circuit breaker opened.
    pub fn record_circuit_open(&self, issuer: &str) {
        if let Some(series) = self.inner.series(self.inner.label_index(Some(issuer))) {
            series.circuit_opens.inc();
        }
    }

    /// Sets the number of public keys held in the JWKS cache, all issuers together.
    pub fn set_cached_keys(&self, count: usize) {
        self.inner
            .cached_keys
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
}

impl Inner {
    pub(crate) fn label_index(&self, issuer: Option<&str>) -> usize {
        let untrusted = self.trusted.len();
        match issuer {
            None => untrusted.saturating_add(1),
            Some(issuer) => self.trusted.get(issuer).copied().unwrap_or(untrusted),
        }
    }

    pub(crate) fn label(&self, index: usize) -> &str {
        self.labels
            .get(index)
            .map_or(ISSUER_UNTRUSTED, String::as_str)
    }

    fn series(&self, index: usize) -> Option<&IssuerSeries> {
        self.series.get(index)
    }

    pub(crate) fn record_verification(
        &self,
        issuer: usize,
        ending: Ending<Reason>,
        elapsed: Option<Duration>,
    ) {
        let Some(series) = self.series(issuer) else {
            return;
        };
        let slot = match ending {
            Ending::Success => Some(0),
            Ending::Cancelled => Some(1),
            Ending::Failure(reason) => Reason::ALL
                .iter()
                .position(|r| *r == reason)
                .map(|i| i.saturating_add(2)),
        };
        match slot.and_then(|i| series.verifications.get(i)) {
            Some(counter) => counter.inc(),
            // A reason newer than this build's `Reason::ALL`: slower path, same family.
            None => {
                if let Ending::Failure(reason) = ending
                    && let Ok(counter) = series.verifications_vec.get_metric_with_label_values(&[
                        self.label(issuer),
                        OUTCOME_FAILURE,
                        reason.as_str(),
                    ])
                {
                    counter.inc();
                }
            }
        }
        if let Ending::Failure(Reason::Replay) = ending {
            series.replays.inc();
        }
        observe(&self.verify_seconds, &ending, elapsed);
    }

    pub(crate) fn record_creation(&self, ending: Ending<CreateFailure>, elapsed: Option<Duration>) {
        let slot = match ending {
            Ending::Success => Some(0),
            Ending::Cancelled => Some(1),
            Ending::Failure(failure) => CreateFailure::ALL
                .iter()
                .position(|f| *f == failure)
                .map(|i| i.saturating_add(2)),
        };
        if let Some(counter) = slot.and_then(|i| self.create.get(i)) {
            counter.inc();
        }
        observe(&self.create_seconds, &ending, elapsed);
    }

    pub(crate) fn record_fetch(
        &self,
        issuer: usize,
        ending: Ending<FetchFailure>,
        elapsed: Option<Duration>,
    ) {
        let Some(series) = self.series(issuer) else {
            return;
        };
        let slot = match ending {
            Ending::Success => 0,
            Ending::Cancelled => 1,
            Ending::Failure(failure) => failure.index().saturating_add(2),
        };
        if let Some(counter) = series.fetches.get(slot) {
            counter.inc();
        }
        observe(&self.fetch_seconds, &ending, elapsed);
    }
}

/// Observes `elapsed` in the success or failure histogram; cancelled operations are counted but
/// not timed, since they did not finish.
fn observe<F>(histograms: &[Histogram; 2], ending: &Ending<F>, elapsed: Option<Duration>) {
    let Some(elapsed) = elapsed else { return };
    let [success, failure] = histograms;
    match ending {
        Ending::Success => success.observe(elapsed.as_secs_f64()),
        Ending::Failure(_) => failure.observe(elapsed.as_secs_f64()),
        Ending::Cancelled => {}
    }
}
