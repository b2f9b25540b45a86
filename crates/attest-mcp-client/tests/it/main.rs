//! Integration tests of attest-mcp-client: one binary, one module per concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)] // tests

mod carriers;
mod common;
mod http;
mod issuer;
mod local;
mod rejection;
mod remote;
mod sources;
mod transport;
