//! The retry and backoff policy: a sans-IO decision fed the failure, the retry count, the time
//! spent so far and a random number.
//!
//! Delays are `base × 2^n` (n = 0 for the first retry), capped, then multiplied by a jitter
//! factor in `[0.5, 1.5)` drawn from the injected random number, and capped again. A
//! `Retry-After` on 429 or 503 replaces the computed delay (capped, never jittered). Other 4xx,
//! redirects and refused or invalid responses are not retried.

use std::time::Duration;

/// How often and how long to retry a failed fetch.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt. Default 3 (so at most 4 requests per fetch).
    pub max_retries: u32,
    /// Delay before the first retry, before jitter. Default 0.5 s.
    pub base_delay: Duration,
    /// Largest delay between two attempts, after jitter. Default 10 s.
    pub max_delay: Duration,
    /// Largest `Retry-After` honoured; a longer one is cut to this. Default 10 s.
    pub max_retry_after: Duration,
    /// No retry is scheduled that would start later than this after the fetch began.
    /// Default 30 s.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(30),
        }
    }
}

/// How a failed attempt may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// Worth retrying with backoff: a timeout, a connection error, a 5xx.
    Transient,
    /// 429 or 503: retry after the server's `Retry-After` if it gave one, else with backoff.
    RateLimited {
        /// The server's `Retry-After`, if present and in delta-seconds form.
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help: another 4xx, a redirect, a refused URL, a bad body.
    Permanent,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Stop: the fetch has failed.
    GiveUp,
}

impl RetryPolicy {
    /// The jittered backoff before retry number `retry` (0 for the first retry). `unit` is a
    /// random number in `[0, 1)`; it gives the jitter factor `0.5 + unit`.
    pub fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let exponential = 2u32
            .checked_pow(retry)
            .and_then(|factor| self.base_delay.checked_mul(factor))
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.5
        };
        let jittered = Duration::try_from_secs_f64(exponential.as_secs_f64() * (0.5 + unit))
            .unwrap_or(self.max_delay);
        jittered.min(self.max_delay)
    }

    /// Decides what follows a failed attempt, after `retries_done` retries and `elapsed` since
    /// the fetch began. `unit` is a random number in `[0, 1)` for the jitter.
    pub fn decide(
        &self,
        retries_done: u32,
        class: RetryClass,
        elapsed: Duration,
        unit: f64,
    ) -> RetryDecision {
        if retries_done >= self.max_retries {
            return RetryDecision::GiveUp;
        }
        let delay = match class {
            RetryClass::Permanent => return RetryDecision::GiveUp,
            RetryClass::RateLimited {
                retry_after: Some(after),
            } => after.min(self.max_retry_after),
            RetryClass::Transient | RetryClass::RateLimited { retry_after: None } => {
                self.backoff(retries_done, unit)
            }
        };
        if elapsed.saturating_add(delay) > self.max_elapsed {
            return RetryDecision::GiveUp;
        }
        RetryDecision::RetryAfter(delay)
    }
}
