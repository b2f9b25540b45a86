//! attest-cache integration tests: the memory store, and the Redis store against a real Redis
//! (`REDIS_URL`, or a private `redis-server` started by attest-testkit). Never mocked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)] // tests: a panic is a failed test

mod memory;
mod redis_store;
mod support;
