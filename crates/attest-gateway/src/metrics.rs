//! The gateway's own metrics, in the observer's registry beside the attestation metrics:
//! policy decisions by outcome and rule, and the time of the upstream round trip.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::error::GatewayError;

/// `attest_gateway_decisions_total{outcome, rule}`.
pub const DECISIONS: &str = "attest_gateway_decisions_total";
/// `attest_gateway_upstream_seconds{method}`: the upstream round trip of a relayed request.
pub const UPSTREAM_SECONDS: &str = "attest_gateway_upstream_seconds";

/// The `rule` label of a decision no rule made (the policy's default).
const RULE_DEFAULT: &str = "(default)";

/// Buckets for a loopback round trip: 50 us to 10 s.
const BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 10.0,
];

/// The gateway's metric families. Rule names come from the operator's policy file, so their
/// cardinality is bounded by it.
#[derive(Clone)]
pub(crate) struct GatewayMetrics {
    decisions: IntCounterVec,
    upstream: HistogramVec,
}

impl GatewayMetrics {
    /// Registers the families in `registry`.
    pub(crate) fn register(registry: &Registry) -> Result<GatewayMetrics, GatewayError> {
        let decisions = IntCounterVec::new(
            Opts::new(DECISIONS, "Gateway policy decisions, by outcome and rule."),
            &["outcome", "rule"],
        )
        .map_err(|e| metric_error(DECISIONS, &e))?;
        let upstream = HistogramVec::new(
            HistogramOpts::new(
                UPSTREAM_SECONDS,
                "Time from relaying a request upstream to its answer, by MCP method.",
            )
            .buckets(BUCKETS.to_vec()),
            &["method"],
        )
        .map_err(|e| metric_error(UPSTREAM_SECONDS, &e))?;
        registry
            .register(Box::new(decisions.clone()))
            .map_err(|e| metric_error(DECISIONS, &e))?;
        registry
            .register(Box::new(upstream.clone()))
            .map_err(|e| metric_error(UPSTREAM_SECONDS, &e))?;
        Ok(GatewayMetrics {
            decisions,
            upstream,
        })
    }

    /// Counts one policy decision.
    pub(crate) fn decision(&self, allowed: bool, rule: Option<&str>) {
        let outcome = if allowed { "allow" } else { "deny" };
        self.decisions
            .with_label_values(&[outcome, rule.unwrap_or(RULE_DEFAULT)])
            .inc();
    }

    /// Records one upstream round trip.
    pub(crate) fn upstream(&self, method: &str, elapsed: Duration) {
        self.upstream
            .with_label_values(&[method])
            .observe(elapsed.as_secs_f64());
    }
}

fn metric_error(name: &str, error: &prometheus::Error) -> GatewayError {
    GatewayError::Metrics(format!("{name}: {error}"))
}
