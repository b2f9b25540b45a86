//! Time for the driver: the instant the decisions are fed, and the waits between retries.
//!
//! The state machines take `now` as a parameter; the resolver reads it from a [`Clock`], and
//! sleeps between retries through it too, so a test can move time forward and see every delay
//! the resolver asked for without waiting. Timeouts of a single request are real time
//! (`tokio::time`), since they guard real sockets.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// A source of `now` and of delays.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> Instant;

    /// A future that completes after `duration` (as this clock counts time).
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

/// The real clock: tokio's `Instant` and `sleep`, so tokio's paused test time applies to it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(tokio::time::sleep(duration))
    }
}
