//! Guards that time one operation, hold its span, and record it when finished or dropped.
//!
//! No guard takes a token: the only strings they accept are the issuer, the `kid` and stable
//! label values, so a token cannot reach a span or a metric through this crate.

use std::time::{Duration, Instant};

use attest_core::{Reason, VerifyError};
use tracing::Span;
use tracing::field::Empty;

use crate::labels::{
    CreateFailure, FetchFailure, OUTCOME_CANCELLED, OUTCOME_FAILURE, OUTCOME_SUCCESS,
};
use crate::observer::{Ending, Observer};

/// Span fields that come from a peer (issuer, `kid`) are cut to this many bytes.
const FIELD_MAX_BYTES: usize = 256;

/// At most [`FIELD_MAX_BYTES`] of `s`, cut on a character boundary.
pub(crate) fn clip(s: &str) -> &str {
    if s.len() <= FIELD_MAX_BYTES {
        return s;
    }
    let mut end = FIELD_MAX_BYTES;
    while !s.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    s.get(..end).unwrap_or_default()
}

/// One verification in flight. Created by [`Observer::start_verification`].
///
/// While it lives, `attest_active_verifications` counts it. [`VerificationGuard::finish`]
/// records the outcome (counter by issuer, outcome and reason; latency histogram; the replay
/// counter for [`Reason::Replay`]) and the span fields. Dropped unfinished, it counts as
/// `outcome="cancelled"`.
///
/// The span `attestation.verify` has the fields `issuer`, `kid`, `outcome`, `reason` and
/// `detail` (the precise check, from [`VerifyError::code`], for logs only). Enter it, or
/// instrument the verification future with it: `future.instrument(guard.span().clone())`.
#[derive(Debug)]
#[must_use = "a verification guard records when it is finished"]
pub struct VerificationGuard {
    observer: Observer,
    span: Span,
    start: Instant,
    issuer: Option<usize>,
    done: bool,
}

impl VerificationGuard {
    pub(crate) fn new(observer: Observer) -> VerificationGuard {
        observer.inner().active.inc();
        let span = tracing::info_span!(
            "attestation.verify",
            issuer = Empty,
            kid = Empty,
            outcome = Empty,
            reason = Empty,
            detail = Empty,
        );
        VerificationGuard {
            observer,
            span,
            start: Instant::now(),
            issuer: None,
            done: false,
        }
    }

    /// The `attestation.verify` span.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Sets the token's issuer (verified or not): the span field, and the metric label (the
    /// issuer if trusted, else `untrusted`).
    pub fn set_issuer(&mut self, issuer: &str) {
        self.issuer = Some(self.observer.inner().label_index(Some(issuer)));
        self.span.record("issuer", clip(issuer));
    }

    /// Sets the token's `kid` (span field only: `kid`s are not metric labels).
    pub fn set_kid(&mut self, kid: &str) {
        self.span.record("kid", clip(kid));
    }

    /// Records the decision: `Ok(())` if the attestation was accepted, else the reason.
    pub fn finish(self, outcome: Result<(), Reason>) {
        self.end(outcome, None);
    }

    /// Records a refusal from attest-core, with its precise check as the span's `detail`.
    pub fn finish_error(self, error: &VerifyError) {
        self.end(Err(error.reason()), Some(error.code()));
    }

    fn end(mut self, outcome: Result<(), Reason>, detail: Option<&'static str>) {
        self.done = true;
        let elapsed = self.start.elapsed();
        let issuer = self.label_index();
        let ending = match outcome {
            Ok(()) => {
                self.span.record("outcome", OUTCOME_SUCCESS);
                tracing::debug!(parent: &self.span, "attestation verified");
                Ending::Success
            }
            Err(reason) => {
                self.span.record("outcome", OUTCOME_FAILURE);
                self.span.record("reason", reason.as_str());
                if let Some(detail) = detail {
                    self.span.record("detail", detail);
                }
                tracing::info!(parent: &self.span, reason = reason.as_str(), "attestation refused");
                Ending::Failure(reason)
            }
        };
        self.observer
            .inner()
            .record_verification(issuer, ending, Some(elapsed));
    }

    fn label_index(&self) -> usize {
        self.issuer
            .unwrap_or_else(|| self.observer.inner().label_index(None))
    }

    /// Time since the guard was created.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

impl Drop for VerificationGuard {
    fn drop(&mut self) {
        self.observer.inner().active.dec();
        if !self.done {
            self.span.record("outcome", OUTCOME_CANCELLED);
            let issuer = self.label_index();
            self.observer
                .inner()
                .record_verification(issuer, Ending::Cancelled, None);
        }
    }
}

/// One token creation. Created by [`Observer::start_token_creation`].
///
/// The span `attestation.create_token` has the fields `issuer`, `kid`, `outcome` and `reason`.
/// Dropped unfinished, it counts as `outcome="cancelled"`.
#[derive(Debug)]
#[must_use = "a creation guard records when it is finished"]
pub struct CreationGuard {
    observer: Observer,
    span: Span,
    start: Instant,
    done: bool,
}

impl CreationGuard {
    pub(crate) fn new(observer: Observer, issuer: &str, kid: &str) -> CreationGuard {
        let span = tracing::info_span!(
            "attestation.create_token",
            issuer = clip(issuer),
            kid = clip(kid),
            outcome = Empty,
            reason = Empty,
        );
        CreationGuard {
            observer,
            span,
            start: Instant::now(),
            done: false,
        }
    }

    /// The `attestation.create_token` span.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Records the result. Pass `Ok(())` — never the token itself.
    pub fn finish(mut self, outcome: Result<(), CreateFailure>) {
        self.done = true;
        let ending = match outcome {
            Ok(()) => {
                self.span.record("outcome", OUTCOME_SUCCESS);
                Ending::Success
            }
            Err(failure) => {
                self.span.record("outcome", OUTCOME_FAILURE);
                self.span.record("reason", failure.as_str());
                tracing::info!(parent: &self.span, reason = failure.as_str(), "token creation failed");
                Ending::Failure(failure)
            }
        };
        self.observer
            .inner()
            .record_creation(ending, Some(self.start.elapsed()));
    }
}

impl Drop for CreationGuard {
    fn drop(&mut self) {
        if !self.done {
            self.span.record("outcome", OUTCOME_CANCELLED);
            self.observer
                .inner()
                .record_creation(Ending::Cancelled, None);
        }
    }
}

/// One JWKS fetch. Created by [`Observer::start_jwks_fetch`].
///
/// The span `attestation.jwks_fetch` has the fields `issuer`, `outcome`, `reason` and `keys`
/// (the number of usable keys fetched). Keep the guard outside any timeout wrapper and finish
/// it with [`FetchFailure::Timeout`]; dropped unfinished, it counts as `outcome="cancelled"`.
#[derive(Debug)]
#[must_use = "a fetch guard records when it is finished"]
pub struct FetchGuard {
    observer: Observer,
    span: Span,
    start: Instant,
    issuer: usize,
    done: bool,
}

impl FetchGuard {
    pub(crate) fn new(observer: Observer, issuer: &str) -> FetchGuard {
        let span = tracing::info_span!(
            "attestation.jwks_fetch",
            issuer = clip(issuer),
            outcome = Empty,
            reason = Empty,
            keys = Empty,
        );
        let issuer = observer.inner().label_index(Some(issuer));
        FetchGuard {
            observer,
            span,
            start: Instant::now(),
            issuer,
            done: false,
        }
    }

    /// The `attestation.jwks_fetch` span.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Records the result: the number of usable keys fetched, or why the fetch failed.
    pub fn finish(mut self, outcome: Result<usize, FetchFailure>) {
        self.done = true;
        let ending = match outcome {
            Ok(keys) => {
                self.span.record("outcome", OUTCOME_SUCCESS);
                self.span.record("keys", keys);
                Ending::Success
            }
            Err(failure) => {
                self.span.record("outcome", OUTCOME_FAILURE);
                self.span.record("reason", failure.as_str());
                tracing::info!(parent: &self.span, reason = failure.as_str(), "JWKS fetch failed");
                Ending::Failure(failure)
            }
        };
        self.observer
            .inner()
            .record_fetch(self.issuer, ending, Some(self.start.elapsed()));
    }
}

impl Drop for FetchGuard {
    fn drop(&mut self) {
        if !self.done {
            self.span.record("outcome", OUTCOME_CANCELLED);
            self.observer
                .inner()
                .record_fetch(self.issuer, Ending::Cancelled, None);
        }
    }
}
