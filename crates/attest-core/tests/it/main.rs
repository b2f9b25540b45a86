//! Integration tests for attest-core.
