//! The Redis store's health and fallback state machine. Pure: fed `(now, event)`, it returns a
//! decision; the async store only carries it out.
//!
//! ```text
//!                 failure, fail-closed            failure, fallback = memory
//!   Healthy ───────────────────────────▶ FailingClosed      Healthy ───────────────▶ OnFallback
//!      ▲            success                   │               ▲   success on a probe   │  every
//!      └──────────────────────────────────────┘               └────────────────────────┘  probe_interval
//! ```
//!
//! - `FailingClosed`: every check still goes to Redis (and fails closed while Redis is down);
//!   the first success makes the store healthy again.
//! - `OnFallback`: checks are served from memory; at most one check per `probe_interval` is
//!   sent to Redis first as a probe, and the first probe that succeeds ends the fallback.

use crate::store::Health;

/// What a Redis store does when Redis fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fallback {
    /// Refuse every token while Redis cannot answer (the default).
    #[default]
    FailClosed,
    /// Serve checks from an in-process memory store while Redis cannot answer, loudly (a
    /// warning, `attest_replay_fallback_activations_total`, and [`Health::Degraded`]).
    ///
    /// This weakens replay protection across replicas: during the outage each replica only
    /// knows the `jti`s it saw itself, so a token can be replayed once per replica.
    Memory,
}

/// Where a check goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// To Redis: the normal path, and the fail-closed path.
    Redis,
    /// To Redis as a probe while on the fallback; on failure, to memory.
    Probe,
    /// To the memory fallback, without touching Redis.
    Memory,
}

/// A change of state that the store must announce (log, metric).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Nothing changed.
    None,
    /// Redis failed and checks now fail closed.
    FailingClosed,
    /// Redis failed and checks are now served from memory.
    FallbackActivated,
    /// Redis answered again.
    Recovered,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Healthy,
    FailingClosed { reason: String },
    OnFallback { reason: String, next_probe_ms: u64 },
}

/// The state machine.
#[derive(Debug)]
pub(crate) struct HealthMachine {
    fallback: Fallback,
    probe_interval_ms: u64,
    state: State,
}

impl HealthMachine {
    /// A healthy machine.
    pub(crate) fn new(fallback: Fallback, probe_interval_ms: u64) -> Self {
        HealthMachine {
            fallback,
            probe_interval_ms,
            state: State::Healthy,
        }
    }

    /// Where the next check goes. On the fallback, hands out at most one probe per interval.
    pub(crate) fn route(&mut self, now_ms: u64) -> Route {
        match &mut self.state {
            State::OnFallback { next_probe_ms, .. } => {
                if now_ms >= *next_probe_ms {
                    *next_probe_ms = now_ms.saturating_add(self.probe_interval_ms);
                    Route::Probe
                } else {
                    Route::Memory
                }
            }
            State::Healthy | State::FailingClosed { .. } => Route::Redis,
        }
    }

    /// Redis answered.
    pub(crate) fn on_success(&mut self) -> Transition {
        match self.state {
            State::Healthy => Transition::None,
            State::FailingClosed { .. } | State::OnFallback { .. } => {
                self.state = State::Healthy;
                Transition::Recovered
            }
        }
    }

    /// Redis failed, for `reason` (which must not contain a `jti`).
    pub(crate) fn on_failure(&mut self, now_ms: u64, reason: String) -> Transition {
        let next_probe_ms = now_ms.saturating_add(self.probe_interval_ms);
        match (self.fallback, &mut self.state) {
            (Fallback::FailClosed, State::FailingClosed { reason: r }) => {
                *r = reason;
                Transition::None
            }
            (Fallback::FailClosed, _) => {
                self.state = State::FailingClosed { reason };
                Transition::FailingClosed
            }
            (
                Fallback::Memory,
                State::OnFallback {
                    reason: r,
                    next_probe_ms: next,
                },
            ) => {
                *r = reason;
                *next = next_probe_ms;
                Transition::None
            }
            (Fallback::Memory, _) => {
                self.state = State::OnFallback {
                    reason,
                    next_probe_ms,
                };
                Transition::FallbackActivated
            }
        }
    }

    /// The health this state reports.
    pub(crate) fn health(&self) -> Health {
        match &self.state {
            State::Healthy => Health::Healthy,
            State::FailingClosed { reason } => Health::Unhealthy {
                reason: format!("redis unavailable, failing closed: {reason}"),
            },
            State::OnFallback { reason, .. } => Health::Degraded {
                reason: format!(
                    "redis unavailable, serving from the in-process memory fallback (replays \
                     across replicas are not detected): {reason}"
                ),
            },
        }
    }
}
