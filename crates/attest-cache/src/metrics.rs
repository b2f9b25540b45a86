//! `ReplayMetrics`: the Prometheus families of the replay store, registered into the caller's
//! registry and moved on the real check path.

use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};

use crate::error::CacheError;

/// `attest_replay_checks_total{backend,outcome}`: checks, by backend and outcome.
pub const CHECKS_TOTAL: &str = "attest_replay_checks_total";
/// `attest_replay_store_replays_total`: store checks that found the `jti` already recorded.
/// (The per-issuer `attest_replays_detected_total` belongs to attest-observe.)
pub const REPLAYS_DETECTED_TOTAL: &str = "attest_replay_store_replays_total";
/// `attest_replay_backend_errors_total{backend}`: backend failures (unreachable, timeout, bad
/// reply), whether or not a fallback then answered.
pub const BACKEND_ERRORS_TOTAL: &str = "attest_replay_backend_errors_total";
/// `attest_replay_fallback_activations_total`: times a Redis store switched to its memory
/// fallback.
pub const FALLBACK_ACTIVATIONS_TOTAL: &str = "attest_replay_fallback_activations_total";
/// `attest_replay_check_duration_seconds{backend}`: check latency.
pub const CHECK_DURATION_SECONDS: &str = "attest_replay_check_duration_seconds";

/// `backend` label: the memory store.
pub const BACKEND_MEMORY: &str = "memory";
/// `backend` label: the Redis store.
pub const BACKEND_REDIS: &str = "redis";
/// `backend` label: a Redis store's memory fallback, while Redis is down.
pub const BACKEND_FALLBACK: &str = "memory_fallback";

/// `outcome` label: the `jti` was fresh and is now recorded.
pub const OUTCOME_FRESH: &str = "fresh";
/// `outcome` label: the `jti` was already recorded.
pub const OUTCOME_REPLAYED: &str = "replayed";
/// `outcome` label: the backend failed; the token is refused.
pub const OUTCOME_ERROR: &str = "error";
/// `outcome` label: the memory store is full; the token is refused.
pub const OUTCOME_CAPACITY: &str = "capacity";
/// `outcome` label: the input was refused before any I/O (empty, over-long, already expired).
pub const OUTCOME_REJECTED: &str = "rejected";

/// Histogram buckets, in seconds: 2 µs (a memory hit) to 5 s (a command timeout).
pub const DURATION_BUCKETS: &[f64] = &[
    0.000_002, 0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001,
    0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The replay store's metric families. Clones share the same families, so several stores (or a
/// store and its fallback) can report into one registry.
#[derive(Debug, Clone)]
pub struct ReplayMetrics {
    checks: IntCounterVec,
    replays: IntCounter,
    backend_errors: IntCounterVec,
    fallback_activations: IntCounter,
    duration: HistogramVec,
}

impl ReplayMetrics {
    /// Creates the families and registers them into `registry`.
    ///
    /// # Errors
    /// [`CacheError::Metrics`] when a family cannot be created or registered, e.g. because the
    /// registry already holds one of these names.
    pub fn register(registry: &Registry) -> Result<Self, CacheError> {
        let checks = IntCounterVec::new(
            Opts::new(CHECKS_TOTAL, "Replay checks, by backend and outcome."),
            &["backend", "outcome"],
        )
        .map_err(|e| metrics_error(CHECKS_TOTAL, &e))?;
        let replays = IntCounter::new(
            REPLAYS_DETECTED_TOTAL,
            "Replay checks that found the jti already recorded.",
        )
        .map_err(|e| metrics_error(REPLAYS_DETECTED_TOTAL, &e))?;
        let backend_errors = IntCounterVec::new(
            Opts::new(
                BACKEND_ERRORS_TOTAL,
                "Replay backend failures (unreachable, timeout, unexpected reply).",
            ),
            &["backend"],
        )
        .map_err(|e| metrics_error(BACKEND_ERRORS_TOTAL, &e))?;
        let fallback_activations = IntCounter::new(
            FALLBACK_ACTIVATIONS_TOTAL,
            "Times a Redis replay store switched to its memory fallback.",
        )
        .map_err(|e| metrics_error(FALLBACK_ACTIVATIONS_TOTAL, &e))?;
        let duration = HistogramVec::new(
            HistogramOpts::new(CHECK_DURATION_SECONDS, "Replay check latency, by backend.")
                .buckets(DURATION_BUCKETS.to_vec()),
            &["backend"],
        )
        .map_err(|e| metrics_error(CHECK_DURATION_SECONDS, &e))?;

        registry
            .register(Box::new(checks.clone()))
            .map_err(|e| metrics_error(CHECKS_TOTAL, &e))?;
        registry
            .register(Box::new(replays.clone()))
            .map_err(|e| metrics_error(REPLAYS_DETECTED_TOTAL, &e))?;
        registry
            .register(Box::new(backend_errors.clone()))
            .map_err(|e| metrics_error(BACKEND_ERRORS_TOTAL, &e))?;
        registry
            .register(Box::new(fallback_activations.clone()))
            .map_err(|e| metrics_error(FALLBACK_ACTIVATIONS_TOTAL, &e))?;
        registry
            .register(Box::new(duration.clone()))
            .map_err(|e| metrics_error(CHECK_DURATION_SECONDS, &e))?;

        Ok(ReplayMetrics {
            checks,
            replays,
            backend_errors,
            fallback_activations,
            duration,
        })
    }

    /// The current value of `attest_replay_checks_total{backend,outcome}`.
    pub fn checks(&self, backend: &str, outcome: &str) -> u64 {
        self.checks.with_label_values(&[backend, outcome]).get()
    }

    /// The current value of `attest_replay_store_replays_total`.
    pub fn replays_detected(&self) -> u64 {
        self.replays.get()
    }

    /// The current value of `attest_replay_backend_errors_total{backend}`.
    pub fn backend_errors(&self, backend: &str) -> u64 {
        self.backend_errors.with_label_values(&[backend]).get()
    }

    /// The current value of `attest_replay_fallback_activations_total`.
    pub fn fallback_activations(&self) -> u64 {
        self.fallback_activations.get()
    }

    /// How many checks `attest_replay_check_duration_seconds{backend}` has observed.
    pub fn duration_samples(&self, backend: &str) -> u64 {
        self.duration
            .with_label_values(&[backend])
            .get_sample_count()
    }

    /// Handles for one backend label, resolved once so the hot path does no label lookup.
    pub(crate) fn for_backend(&self, backend: &'static str) -> BackendMetrics {
        let outcome = |o: &str| self.checks.with_label_values(&[backend, o]);
        BackendMetrics {
            fresh: outcome(OUTCOME_FRESH),
            replayed: outcome(OUTCOME_REPLAYED),
            error: outcome(OUTCOME_ERROR),
            capacity: outcome(OUTCOME_CAPACITY),
            rejected: outcome(OUTCOME_REJECTED),
            replays: self.replays.clone(),
            backend_errors: self.backend_errors.with_label_values(&[backend]),
            fallback_activations: self.fallback_activations.clone(),
            duration: self.duration.with_label_values(&[backend]),
        }
    }
}

/// The counters of one backend label.
#[derive(Debug, Clone)]
pub(crate) struct BackendMetrics {
    fresh: IntCounter,
    replayed: IntCounter,
    error: IntCounter,
    capacity: IntCounter,
    rejected: IntCounter,
    replays: IntCounter,
    backend_errors: IntCounter,
    fallback_activations: IntCounter,
    duration: Histogram,
}

impl BackendMetrics {
    /// Counts one finished check and its latency.
    pub(crate) fn record(&self, result: &Result<crate::Freshness, CacheError>, elapsed: Duration) {
        match result {
            Ok(crate::Freshness::Fresh) => self.fresh.inc(),
            Ok(crate::Freshness::Replayed) => {
                self.replayed.inc();
                self.replays.inc();
            }
            Err(e) => match e.outcome() {
                OUTCOME_CAPACITY => self.capacity.inc(),
                OUTCOME_REJECTED => self.rejected.inc(),
                _ => self.error.inc(),
            },
        }
        self.duration.observe(elapsed.as_secs_f64());
    }

    /// Counts one backend failure.
    pub(crate) fn backend_error(&self) {
        self.backend_errors.inc();
    }

    /// Counts one switch to the memory fallback.
    pub(crate) fn fallback_activated(&self) {
        self.fallback_activations.inc();
    }
}

fn metrics_error(name: &'static str, e: &prometheus::Error) -> CacheError {
    CacheError::Metrics {
        name,
        detail: e.to_string(),
    }
}
