//! Integration tests of attest-gateway, one module per concern.

// Test modules share fixtures through `pub` items of a private module. Helpers in an
// integration test are not `#[test]` functions, so clippy's test allowances do not reach them;
// in tests a panic is a failed test, which is what we want.
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

mod audit;
mod claims;
mod everything;
mod filesystem;
mod fixtures;
mod policy;
mod python;
