//! Integration tests for the `attest` binary: every command run as a process, the servers
//! driven over HTTP by real clients (rmcp's streamable-HTTP client, reqwest).
// tests: a panic is a failed test
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
// Helpers shared by the test modules are `pub` inside this one binary.
#![allow(unreachable_pub)]

mod attack;
mod cnf;
mod common;
mod garbage;
mod gateway;
mod inspect;
mod issuer;
mod keys;
mod serve;
mod verify;
