//! Integration tests for attest-jwks: one binary, one module per concern, against real HTTP
//! servers on 127.0.0.1 spawned by the tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)] // tests: a panic is a failed test
// Fixtures are shared through `pub` items of a private module.
#![allow(unreachable_pub)]

mod common;
mod fetch;
mod keys;
mod publish;
mod resilience;
mod tls;
