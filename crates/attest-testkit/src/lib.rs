//! attest-testkit: test support for the attest workspace. Not published.
//!
//! Everything here exists so that tests run against real things, never mocks:
//! - [`redis`]: a real Redis for the replay-store tests. [`redis::redis`] uses `REDIS_URL` when
//!   it is set and answering, and otherwise starts a private `redis-server` on a free loopback
//!   port; [`redis::private_redis`] always starts a private one, which a test may
//!   [`kill`](redis::RedisServer::kill) and [`restart`](redis::RedisServer::restart) on the same
//!   port.
//!
//! When no Redis can be had, these helpers panic with a message that says what to install,
//! unless `ATTEST_ALLOW_SKIP_REDIS=1` is set (CI never sets it, so CI never skips).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod redis;
