//! Integration tests for attest-protocol: one binary, one module per concern.

// Marks the whole binary as test code, so clippy's test allowances (clippy.toml) cover the
// shared helpers too, not only `#[test]` functions.
#![cfg(test)]

mod api;
mod codes;
mod common;
mod fixtures;
mod negative;
