//! `GatewayError`: why the gateway could not load its configuration or open its outputs.
//!
//! Every variant carries plain data (paths, names and messages as strings), never a
//! dependency's type, so that the enum can grow (upstream failures, listeners) without
//! breaking callers, and tests can compare exact variants.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why the gateway refused its configuration or could not open a file it needs.
///
/// Request handling never sees this type: a policy decision is a [`crate::Decision`], and an
/// audit write failure is counted and logged by [`crate::AuditLog`], not returned.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The policy file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read policy file {}: {message}", path.display())]
    PolicyRead {
        /// The file.
        path: PathBuf,
        /// What went wrong, as text.
        message: String,
    },
    /// The policy file is larger than [`crate::policy::MAX_POLICY_BYTES`].
    #[error("policy file {} is larger than {limit} bytes", path.display())]
    PolicyTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The policy is not valid TOML, or does not fit the schema: an unknown key, a value of the
    /// wrong type, a missing required key.
    #[error("{}: invalid policy: {message}", Origin(path.as_deref()))]
    PolicySyntax {
        /// The file, or `None` for a policy parsed from a string.
        path: Option<PathBuf>,
        /// The parser's message, with the line and column when known.
        message: String,
    },
    /// The policy's `default` is neither `allow` nor `deny`.
    #[error("{}: invalid policy: default {value:?} is not \"allow\" or \"deny\"", Origin(path.as_deref()))]
    PolicyDefault {
        /// The file, or `None` for a policy parsed from a string.
        path: Option<PathBuf>,
        /// The value found.
        value: String,
    },
    /// One rule of the policy is invalid.
    #[error(
        "{}: invalid policy: rule {} ({name:?}): {problem}",
        Origin(path.as_deref()),
        index.saturating_add(1)
    )]
    PolicyRule {
        /// The file, or `None` for a policy parsed from a string.
        path: Option<PathBuf>,
        /// The rule's position in the file, from 0 (shown from 1).
        index: usize,
        /// The rule's name, empty when it has none.
        name: String,
        /// What is wrong with it.
        problem: RuleProblem,
    },
    /// The audit log could not be opened for appending.
    #[error("cannot open audit log {}: {message}", path.display())]
    AuditOpen {
        /// The file.
        path: PathBuf,
        /// What went wrong, as text.
        message: String,
    },
    /// The upstream server could not be started, reached or initialized.
    #[error("upstream: {0}")]
    Upstream(String),
    /// The downstream transport (stdio) failed.
    #[error("downstream: {0}")]
    Downstream(String),
    /// The gateway's metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(String),
}

/// What is wrong with one rule of a policy file.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleProblem {
    /// The rule has no `name`, or an empty one.
    #[error("a rule needs a non-empty name")]
    MissingName,
    /// Another rule already has this name (the audit log and metrics name rules).
    #[error("the name is already used by rule {}", first.saturating_add(1))]
    DuplicateName {
        /// The position of the first rule with this name, from 0 (shown from 1).
        first: usize,
    },
    /// The rule names no target: none of `tools`, `resources`, `prompts`.
    #[error("a rule needs at least one of tools, resources, prompts (use [\"*\"] to match all)")]
    NoTarget,
    /// A list key is present but empty (an empty requirement set would refuse everyone; an
    /// empty target list would match nothing).
    #[error("{field} is empty: give at least one value, or leave the key out")]
    EmptyList {
        /// The key.
        field: &'static str,
    },
    /// A glob pattern or a value is the empty string.
    #[error("{field} contains an empty string")]
    EmptyValue {
        /// The key.
        field: &'static str,
    },
    /// A glob pattern does not compile.
    #[error("{field}: invalid glob {pattern:?}: {message}")]
    InvalidGlob {
        /// The key.
        field: &'static str,
        /// The pattern.
        pattern: String,
        /// The glob compiler's message.
        message: String,
    },
    /// `min_safety_level` is not one of `minimal`, `standard`, `enhanced`.
    #[error("min_safety_level {0:?} is not one of \"minimal\", \"standard\", \"enhanced\"")]
    UnknownSafetyLevel(String),
    /// An `attestation_types` entry is not `provider` or `enterprise`.
    #[error("attestation_types: {0:?} is not one of \"provider\", \"enterprise\"")]
    UnknownAttestationType(String),
    /// `effect` is not `allow` or `deny`.
    #[error("effect {0:?} is not \"allow\" or \"deny\"")]
    UnknownEffect(String),
    /// A deny rule has requirements. Requirements say who a rule *allows*; on a deny rule they
    /// would turn it into a deny that only some agents get, which fails open for the others.
    #[error("a deny rule cannot have requirements ({field}); requirements belong on allow rules")]
    RequirementOnDeny {
        /// The first requirement key found.
        field: &'static str,
    },
}

/// Where a policy came from, for messages: its path, or `<string>`.
struct Origin<'a>(Option<&'a Path>);

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(path) => write!(f, "{}", path.display()),
            None => f.write_str("<string>"),
        }
    }
}
