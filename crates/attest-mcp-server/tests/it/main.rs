//! End-to-end tests for attest-mcp-server: real rmcp clients and servers, over an in-process
//! duplex and streamable HTTP on 127.0.0.1, on both MCP protocol generations.

// Helpers in an integration test are not `#[test]` functions, so clippy's test allowances do
// not reach them; in tests a panic is a failed test, which is what we want.
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;
mod duplex;
mod http;
mod nonce;
mod proof;
mod stdio;
mod third_party;
mod verifier;
