//! Integration tests for attest-core: one binary, one module per concern.

// Test modules share fixtures through `pub` items of a private module.
#![allow(unreachable_pub)]

mod common;
mod conformance;
