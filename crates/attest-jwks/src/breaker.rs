//! The per-issuer circuit breaker: a sans-IO state machine fed `(now, event)`.
//!
//! ```text
//!            failure × threshold              open_for elapsed
//!   Closed ───────────────────────▶ Open ───────────────────────▶ HalfOpen (1 probe)
//!     ▲                              ▲                                 │
//!     │            success           │           probe fails           │
//!     └──────────────────────────────┼─────────────────────────────────┤
//!                                    └─────────────────────────────────┘
//! ```
//!
//! It performs no I/O and reads no clock: the driver asks [`CircuitBreaker::try_acquire`]
//! before each request and reports the request's end with [`CircuitBreaker::on_success`] or
//! [`CircuitBreaker::on_failure`].

use std::time::{Duration, Instant};

/// When a breaker opens and how long it stays open.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failed requests that open the breaker. Default 5. At least 1.
    pub failure_threshold: u32,
    /// How long the breaker stays open before one probe is let through. Default 30 s.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            open_for: Duration::from_secs(30),
        }
    }
}

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow; this many have failed in a row.
    Closed {
        /// Consecutive failures so far.
        consecutive_failures: u32,
    },
    /// No request is let through until `open_for` has passed since `since`.
    Open {
        /// When it opened.
        since: Instant,
    },
    /// One probe may go; its result closes or re-opens the breaker.
    HalfOpen {
        /// When the probe was let through, if it was.
        probe_started: Option<Instant>,
    },
}

/// What [`CircuitBreaker::try_acquire`] lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// The breaker is closed: a normal request.
    Closed,
    /// The breaker is half-open: this request is the single probe.
    Probe,
}

/// A circuit breaker for one issuer.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: BreakerState,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> CircuitBreaker {
        CircuitBreaker {
            config,
            state: BreakerState::Closed {
                consecutive_failures: 0,
            },
        }
    }

    /// The current state (as last changed by an event; an open breaker whose time has passed
    /// shows `Open` until the next [`CircuitBreaker::try_acquire`]).
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// True if [`CircuitBreaker::try_acquire`] would let a request through at `now`. Changes
    /// nothing.
    pub fn would_allow(&self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { since } => self.elapsed(since, now),
            BreakerState::HalfOpen { probe_started } => {
                probe_started.is_none_or(|started| self.elapsed(started, now))
            }
        }
    }

    /// Asks to send one request at `now`. `Err` carries the earliest time a probe may go.
    ///
    /// In the half-open state only one probe is let through; if its result never comes back
    /// (the task was cancelled), another probe is let through after `open_for`.
    pub fn try_acquire(&mut self, now: Instant) -> Result<Permit, Instant> {
        match self.state {
            BreakerState::Closed { .. } => Ok(Permit::Closed),
            BreakerState::Open { since }
            | BreakerState::HalfOpen {
                probe_started: Some(since),
            } => {
                if self.elapsed(since, now) {
                    self.state = BreakerState::HalfOpen {
                        probe_started: Some(now),
                    };
                    Ok(Permit::Probe)
                } else {
                    Err(since.checked_add(self.config.open_for).unwrap_or(now))
                }
            }
            BreakerState::HalfOpen {
                probe_started: None,
            } => {
                self.state = BreakerState::HalfOpen {
                    probe_started: Some(now),
                };
                Ok(Permit::Probe)
            }
        }
    }

    /// A request succeeded: the breaker closes.
    pub fn on_success(&mut self) {
        self.state = BreakerState::Closed {
            consecutive_failures: 0,
        };
    }

    /// A request failed at `now`. Returns true if this failure opened the breaker (from closed
    /// at the threshold, or a failed probe), so the driver counts one opening.
    pub fn on_failure(&mut self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed {
                consecutive_failures,
            } => {
                let failures = consecutive_failures.saturating_add(1);
                if failures >= self.config.failure_threshold.max(1) {
                    self.state = BreakerState::Open { since: now };
                    true
                } else {
                    self.state = BreakerState::Closed {
                        consecutive_failures: failures,
                    };
                    false
                }
            }
            BreakerState::HalfOpen { .. } => {
                self.state = BreakerState::Open { since: now };
                true
            }
            // A late result of a request sent before the breaker opened: already open.
            BreakerState::Open { .. } => false,
        }
    }

    fn elapsed(&self, since: Instant, now: Instant) -> bool {
        now.saturating_duration_since(since) >= self.config.open_for
    }
}
