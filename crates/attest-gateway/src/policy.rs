//! The gateway's access policy: a TOML file of rules, and the decision for one request.
//!
//! A policy says which agents may call which tools, read which resources and get which
//! prompts. [`GatewayPolicy::decide`] is a plain function of the policy, the verified claims
//! (or `None` for an unattested request) and the [`Target`]; it does no I/O and reads no clock.
//! [`PolicyHandle`] shares one policy between sessions and swaps it on reload. The file format
//! is documented in `docs/GATEWAY.md` ("Policy file"); `examples/policy.toml` is a complete
//! example.
//!
//! # Match semantics
//!
//! - **First applicable rule wins.** Rules are tried in file order. A rule *applies* to a
//!   request when the request's kind has a pattern list in the rule (`tools` for `tools/call`,
//!   `resources` for `resources/read`, `prompts` for `prompts/get`) and one of its globs matches
//!   the name (a resource's URI). The first rule that applies decides, and no later rule is
//!   consulted.
//! - **A deny rule** that applies denies (`rule_deny`). A deny rule cannot have requirements:
//!   loading one is an error ([`RuleProblem::RequirementOnDeny`]).
//! - **An allow rule** that applies allows (`rule_allow`) when the agent meets *every*
//!   requirement of the rule, and otherwise **denies**, with the reason naming the first unmet
//!   requirement, in this order: `unattested`, `issuer_not_allowed`,
//!   `attestation_type_not_allowed`, `model_family_not_allowed`, `model_version_not_allowed`,
//!   `safety_level_too_low`, `capability_missing`. It never falls through to later rules or to
//!   the default. Falling through would fail open: a rule `delete_*` that requires `enhanced`
//!   safety, followed by a broad allow or `default = "allow"`, would let a `minimal` agent
//!   through after all. With "first applicable decides", a reader finds the one rule that
//!   governs a name by reading from the top, and a requirement can only ever narrow access.
//! - **An unattested request** (`agent = None`, possible when enforcement is not `required`)
//!   fails every requirement (`unattested`), so it passes only allow rules without
//!   requirements, or the default.
//! - **No applicable rule:** the `default` decides (`policy_default_allow` or
//!   `policy_default_deny`). An omitted `default` is `deny`.
//!
//! # Globs
//!
//! Patterns are globs matched against the whole name, case-sensitively: `*` matches any run of
//! characters *including `/`* (so `file:///srv/public/*` covers everything below it, and a deny
//! rule `file:///srv/secret/*` cannot be dodged by nesting), `?` one character, `[abc]` a class,
//! `{a,b}` alternatives, and `\` escapes the next character. `model_family` and `model_version`
//! are single globs of the same kind. Issuers, capabilities and attestation types are compared
//! exactly.
//!
//! # Resource URIs
//!
//! Globs match a resource URI as text, while the server behind the gateway resolves it. So that
//! a URI cannot dodge a rule by being spelled differently, a policy with any `resources`
//! pattern denies (`resource_uri_not_normalized`, before any rule) a URI that contains an ASCII
//! control character or a backslash, has an uppercase letter in its scheme, has a `.` or `..`
//! path segment, or percent-encodes an unreserved character (`A-Z a-z 0-9 - . _ ~`), `/` or
//! `\`, or has a malformed `%` escape. The host's letter case is not normalized: write patterns
//! with a lowercase host, and prefer allow rules under `default = "deny"` for resources.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use attest_core::{AttestationType, Claims, SafetyLevel};
use globset::{Candidate, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::error::{GatewayError, RuleProblem};

mod uri;

#[cfg(test)]
mod tests;

/// The largest policy file [`GatewayPolicy::load`] reads, in bytes.
pub const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// What a rule, or the default, does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Let the request through (for a rule: when its requirements are met).
    Allow,
    /// Refuse the request.
    Deny,
}

impl Effect {
    fn parse(text: &str) -> Option<Effect> {
        match text {
            "allow" => Some(Effect::Allow),
            "deny" => Some(Effect::Deny),
            _ => None,
        }
    }
}

/// What a request asks for: the name the policy matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target<'a> {
    /// `tools/call` of this tool (also used to hide tools from `tools/list`).
    Tool(&'a str),
    /// `resources/read` of this URI.
    Resource(&'a str),
    /// `prompts/get` of this prompt.
    Prompt(&'a str),
}

impl<'a> Target<'a> {
    /// `tool`, `resource` or `prompt`.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Tool(_) => "tool",
            Target::Resource(_) => "resource",
            Target::Prompt(_) => "prompt",
        }
    }

    /// The tool or prompt name, or the resource URI.
    pub fn name(&self) -> &'a str {
        match *self {
            Target::Tool(name) | Target::Resource(name) | Target::Prompt(name) => name,
        }
    }
}

/// The outcome of [`GatewayPolicy::decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// True to let the request through.
    pub allowed: bool,
    /// The name of the rule that decided, or `None` when the default decided (or the request
    /// was refused before any rule, see [`DecisionReason::ResourceUriNotNormalized`]).
    pub rule: Option<String>,
    /// Why, as a short stable snake_case string: one of [`DecisionReason::as_str`].
    pub reason: String,
}

impl Decision {
    fn new(allowed: bool, rule: Option<&str>, reason: DecisionReason) -> Decision {
        Decision {
            allowed,
            rule: rule.map(str::to_owned),
            reason: reason.as_str().to_owned(),
        }
    }
}

/// Every reason a [`Decision`] can give, with its stable string.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecisionReason {
    /// An allow rule applied and every requirement was met.
    RuleAllow,
    /// A deny rule applied.
    RuleDeny,
    /// No rule applied; the default is allow.
    DefaultAllow,
    /// No rule applied; the default is deny.
    DefaultDeny,
    /// The applicable rule has requirements and the request carries no verified attestation.
    Unattested,
    /// The agent's issuer is not in the rule's `issuers`.
    IssuerNotAllowed,
    /// The agent's attestation type is not in the rule's `attestation_types`.
    AttestationTypeNotAllowed,
    /// The agent's model family does not match the rule's `model_family`.
    ModelFamilyNotAllowed,
    /// The agent's model version does not match the rule's `model_version`.
    ModelVersionNotAllowed,
    /// The agent's safety level is below the rule's `min_safety_level`.
    SafetyLevelTooLow,
    /// The agent does not declare every capability of the rule's `capabilities`.
    CapabilityMissing,
    /// The resource URI is not in normal form, so no glob can be trusted to judge it.
    ResourceUriNotNormalized,
}

impl DecisionReason {
    /// Every reason, for callers that create one metric series per reason up front.
    pub const ALL: &'static [DecisionReason] = &[
        DecisionReason::RuleAllow,
        DecisionReason::RuleDeny,
        DecisionReason::DefaultAllow,
        DecisionReason::DefaultDeny,
        DecisionReason::Unattested,
        DecisionReason::IssuerNotAllowed,
        DecisionReason::AttestationTypeNotAllowed,
        DecisionReason::ModelFamilyNotAllowed,
        DecisionReason::ModelVersionNotAllowed,
        DecisionReason::SafetyLevelTooLow,
        DecisionReason::CapabilityMissing,
        DecisionReason::ResourceUriNotNormalized,
    ];

    /// The stable string, as found in [`Decision::reason`] and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionReason::RuleAllow => "rule_allow",
            DecisionReason::RuleDeny => "rule_deny",
            DecisionReason::DefaultAllow => "policy_default_allow",
            DecisionReason::DefaultDeny => "policy_default_deny",
            DecisionReason::Unattested => "unattested",
            DecisionReason::IssuerNotAllowed => "issuer_not_allowed",
            DecisionReason::AttestationTypeNotAllowed => "attestation_type_not_allowed",
            DecisionReason::ModelFamilyNotAllowed => "model_family_not_allowed",
            DecisionReason::ModelVersionNotAllowed => "model_version_not_allowed",
            DecisionReason::SafetyLevelTooLow => "safety_level_too_low",
            DecisionReason::CapabilityMissing => "capability_missing",
            DecisionReason::ResourceUriNotNormalized => "resource_uri_not_normalized",
        }
    }
}

/// A parsed, checked policy. Immutable; share it through a [`PolicyHandle`].
#[derive(Debug, Clone)]
pub struct GatewayPolicy {
    default: Effect,
    rules: Vec<Rule>,
    /// True when any rule has a `resources` list: resource URIs must then be normalized.
    judges_resources: bool,
}

/// One checked rule.
#[derive(Debug, Clone)]
struct Rule {
    name: String,
    effect: Effect,
    tools: Option<GlobSet>,
    resources: Option<GlobSet>,
    prompts: Option<GlobSet>,
    requirements: Requirements,
}

/// What an allow rule asks of the agent; `None` = not required.
#[derive(Debug, Clone, Default)]
struct Requirements {
    issuers: Option<Vec<String>>,
    attestation_types: Option<Vec<AttestationType>>,
    model_family: Option<GlobMatcher>,
    model_version: Option<GlobMatcher>,
    min_safety_level: Option<SafetyLevel>,
    capabilities: Option<Vec<String>>,
}

impl GatewayPolicy {
    /// The policy used when no policy file is given: no rules, default allow. Every request
    /// that passed attestation enforcement is let through.
    pub fn allow_all() -> GatewayPolicy {
        GatewayPolicy {
            default: Effect::Allow,
            rules: Vec::new(),
            judges_resources: false,
        }
    }

    /// Parses and checks a policy from TOML text.
    ///
    /// Unknown keys, invalid globs, unknown safety levels or attestation types, empty lists,
    /// duplicate rule names and requirements on deny rules are all errors: a typo must never
    /// silently widen access.
    pub fn from_toml(text: &str) -> Result<GatewayPolicy, GatewayError> {
        GatewayPolicy::parse(text, None)
    }

    /// Reads (at most [`MAX_POLICY_BYTES`]) and parses a policy file.
    pub fn load(path: &Path) -> Result<GatewayPolicy, GatewayError> {
        let text = read_capped(path)?;
        GatewayPolicy::parse(&text, Some(path))
    }

    /// What happens when no rule applies.
    pub fn default_effect(&self) -> Effect {
        self.default
    }

    /// The rule names, in file order (a bounded label set for metrics).
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// Decides one request. `agent` is the verified claims, or `None` for an unattested
    /// request. See the module documentation for the semantics.
    pub fn decide(&self, agent: Option<&Claims>, target: Target<'_>) -> Decision {
        if let Target::Resource(uri) = target
            && self.judges_resources
            && !uri::is_normalized(uri)
        {
            return Decision::new(false, None, DecisionReason::ResourceUriNotNormalized);
        }
        let name = target.name();
        let candidate = Candidate::from_bytes(name.as_bytes());
        for rule in &self.rules {
            let patterns = match target {
                Target::Tool(_) => &rule.tools,
                Target::Resource(_) => &rule.resources,
                Target::Prompt(_) => &rule.prompts,
            };
            let applies = patterns
                .as_ref()
                .is_some_and(|set| set.is_match_candidate(&candidate));
            if !applies {
                continue;
            }
            let rule_name = Some(rule.name.as_str());
            return match rule.effect {
                Effect::Deny => Decision::new(false, rule_name, DecisionReason::RuleDeny),
                Effect::Allow => match rule.requirements.first_unmet(agent) {
                    None => Decision::new(true, rule_name, DecisionReason::RuleAllow),
                    Some(unmet) => Decision::new(false, rule_name, unmet),
                },
            };
        }
        match self.default {
            Effect::Allow => Decision::new(true, None, DecisionReason::DefaultAllow),
            Effect::Deny => Decision::new(false, None, DecisionReason::DefaultDeny),
        }
    }

    fn parse(text: &str, path: Option<&Path>) -> Result<GatewayPolicy, GatewayError> {
        let owned_path = || path.map(Path::to_path_buf);
        let raw: RawPolicy = toml::from_str(text).map_err(|e| GatewayError::PolicySyntax {
            path: owned_path(),
            message: toml_message(text, &e),
        })?;
        let default = match raw.default.as_deref() {
            None => Effect::Deny,
            Some(value) => Effect::parse(value).ok_or_else(|| GatewayError::PolicyDefault {
                path: owned_path(),
                value: value.to_owned(),
            })?,
        };
        let mut rules = Vec::with_capacity(raw.rules.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (index, raw_rule) in raw.rules.into_iter().enumerate() {
            let name = raw_rule.name.clone().unwrap_or_default();
            let fail = |problem| GatewayError::PolicyRule {
                path: owned_path(),
                index,
                name: name.clone(),
                problem,
            };
            if name.trim().is_empty() {
                return Err(fail(RuleProblem::MissingName));
            }
            if let Some(&first) = seen.get(&name) {
                return Err(fail(RuleProblem::DuplicateName { first }));
            }
            seen.insert(name.clone(), index);
            rules.push(raw_rule.check().map_err(fail)?);
        }
        let judges_resources = rules.iter().any(|r| r.resources.is_some());
        Ok(GatewayPolicy {
            default,
            rules,
            judges_resources,
        })
    }
}

impl Requirements {
    /// The first requirement `agent` does not meet, in the documented order.
    fn first_unmet(&self, agent: Option<&Claims>) -> Option<DecisionReason> {
        if self.is_empty() {
            return None;
        }
        let Some(agent) = agent else {
            return Some(DecisionReason::Unattested);
        };
        let identity = &agent.agent_identity;
        let metadata = &agent.attestation_metadata;
        if let Some(issuers) = &self.issuers
            && !issuers.contains(&agent.iss)
        {
            return Some(DecisionReason::IssuerNotAllowed);
        }
        if let Some(types) = &self.attestation_types
            && !types.contains(&metadata.attestation_type)
        {
            return Some(DecisionReason::AttestationTypeNotAllowed);
        }
        if let Some(family) = &self.model_family
            && !glob_matches(family, &identity.model_family)
        {
            return Some(DecisionReason::ModelFamilyNotAllowed);
        }
        if let Some(version) = &self.model_version
            && !glob_matches(version, &identity.model_version)
        {
            return Some(DecisionReason::ModelVersionNotAllowed);
        }
        // `SafetyLevel` is `Ord` (Minimal < Standard < Enhanced): an ordered comparison, never
        // a comparison of the strings.
        if let Some(min) = self.min_safety_level
            && metadata.safety_level < min
        {
            return Some(DecisionReason::SafetyLevelTooLow);
        }
        if let Some(required) = &self.capabilities
            && !required
                .iter()
                .all(|c| metadata.capabilities_declared.contains(c))
        {
            return Some(DecisionReason::CapabilityMissing);
        }
        None
    }

    fn is_empty(&self) -> bool {
        self.first_present().is_none()
    }

    /// The TOML key of the first requirement present, if any.
    fn first_present(&self) -> Option<&'static str> {
        let Requirements {
            issuers,
            attestation_types,
            model_family,
            model_version,
            min_safety_level,
            capabilities,
        } = self;
        [
            ("issuers", issuers.is_some()),
            ("attestation_types", attestation_types.is_some()),
            ("model_family", model_family.is_some()),
            ("model_version", model_version.is_some()),
            ("min_safety_level", min_safety_level.is_some()),
            ("capabilities", capabilities.is_some()),
        ]
        .into_iter()
        .find_map(|(key, present)| present.then_some(key))
    }
}

fn glob_matches(glob: &GlobMatcher, text: &str) -> bool {
    glob.is_match_candidate(&Candidate::from_bytes(text.as_bytes()))
}

/// The policy file as written. Every struct refuses unknown keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    default: Option<String>,
    #[serde(default, rename = "rule")]
    rules: Vec<RawRule>,
}

/// One `[[rule]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    effect: Option<String>,
    tools: Option<Vec<String>>,
    resources: Option<Vec<String>>,
    prompts: Option<Vec<String>>,
    issuers: Option<Vec<String>>,
    attestation_types: Option<Vec<String>>,
    model_family: Option<String>,
    model_version: Option<String>,
    min_safety_level: Option<String>,
    capabilities: Option<Vec<String>>,
}

impl RawRule {
    fn check(self) -> Result<Rule, RuleProblem> {
        let effect = match self.effect.as_deref() {
            None => Effect::Allow,
            Some(text) => {
                Effect::parse(text).ok_or_else(|| RuleProblem::UnknownEffect(text.to_owned()))?
            }
        };
        let tools = glob_set("tools", self.tools)?;
        let resources = glob_set("resources", self.resources)?;
        let prompts = glob_set("prompts", self.prompts)?;
        if tools.is_none() && resources.is_none() && prompts.is_none() {
            return Err(RuleProblem::NoTarget);
        }
        let attestation_types = non_empty("attestation_types", self.attestation_types)?
            .map(|types| {
                types
                    .iter()
                    .map(|t| parse_attestation_type(t))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let min_safety_level = self
            .min_safety_level
            .map(|level| parse_safety_level(&level))
            .transpose()?;
        let requirements = Requirements {
            issuers: non_empty("issuers", self.issuers)?,
            attestation_types,
            model_family: self
                .model_family
                .map(|p| glob("model_family", &p).map(|g| g.compile_matcher()))
                .transpose()?,
            model_version: self
                .model_version
                .map(|p| glob("model_version", &p).map(|g| g.compile_matcher()))
                .transpose()?,
            min_safety_level,
            capabilities: non_empty("capabilities", self.capabilities)?,
        };
        if effect == Effect::Deny
            && let Some(field) = requirements.first_present()
        {
            return Err(RuleProblem::RequirementOnDeny { field });
        }
        Ok(Rule {
            name: self.name.unwrap_or_default(),
            effect,
            tools,
            resources,
            prompts,
            requirements,
        })
    }
}

/// A list that, when present, is non-empty and holds no empty string.
fn non_empty(
    field: &'static str,
    list: Option<Vec<String>>,
) -> Result<Option<Vec<String>>, RuleProblem> {
    match list {
        None => Ok(None),
        Some(list) if list.is_empty() => Err(RuleProblem::EmptyList { field }),
        Some(list) if list.iter().any(String::is_empty) => Err(RuleProblem::EmptyValue { field }),
        Some(list) => Ok(Some(list)),
    }
}

fn glob(field: &'static str, pattern: &str) -> Result<globset::Glob, RuleProblem> {
    if pattern.is_empty() {
        return Err(RuleProblem::EmptyValue { field });
    }
    GlobBuilder::new(pattern)
        // `*` crosses `/`: see the module documentation.
        .literal_separator(false)
        // The same escaping on every platform.
        .backslash_escape(true)
        .case_insensitive(false)
        .build()
        .map_err(|e| RuleProblem::InvalidGlob {
            field,
            pattern: pattern.to_owned(),
            message: e.kind().to_string(),
        })
}

fn glob_set(
    field: &'static str,
    patterns: Option<Vec<String>>,
) -> Result<Option<GlobSet>, RuleProblem> {
    let Some(patterns) = patterns else {
        return Ok(None);
    };
    if patterns.is_empty() {
        return Err(RuleProblem::EmptyList { field });
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in &patterns {
        builder.add(glob(field, pattern)?);
    }
    builder
        .build()
        .map(Some)
        .map_err(|e| RuleProblem::InvalidGlob {
            field,
            pattern: patterns.join(", "),
            message: e.kind().to_string(),
        })
}

fn parse_safety_level(text: &str) -> Result<SafetyLevel, RuleProblem> {
    match text {
        "minimal" => Ok(SafetyLevel::Minimal),
        "standard" => Ok(SafetyLevel::Standard),
        "enhanced" => Ok(SafetyLevel::Enhanced),
        other => Err(RuleProblem::UnknownSafetyLevel(other.to_owned())),
    }
}

fn parse_attestation_type(text: &str) -> Result<AttestationType, RuleProblem> {
    match text {
        "provider" => Ok(AttestationType::Provider),
        "enterprise" => Ok(AttestationType::Enterprise),
        other => Err(RuleProblem::UnknownAttestationType(other.to_owned())),
    }
}

/// The parser's message on one line, prefixed with the 1-based line and column when known.
fn toml_message(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().replace('\n', " ");
    match error.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count().saturating_add(1);
            let column = before
                .rsplit('\n')
                .next()
                .map_or(0, |l| l.chars().count())
                .saturating_add(1);
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// Reads a policy file of at most [`MAX_POLICY_BYTES`] as UTF-8.
fn read_capped(path: &Path) -> Result<String, GatewayError> {
    let read_error = |message: String| GatewayError::PolicyRead {
        path: path.to_path_buf(),
        message,
    };
    let file = File::open(path).map_err(|e| read_error(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_POLICY_BYTES.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(e.to_string()))?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > MAX_POLICY_BYTES) {
        return Err(GatewayError::PolicyTooLarge {
            path: path.to_path_buf(),
            limit: MAX_POLICY_BYTES,
        });
    }
    String::from_utf8(bytes).map_err(|_| read_error("not UTF-8".to_owned()))
}

/// The current policy, shared by every session and replaced atomically on reload.
///
/// Cloning is cheap (one `Arc`). A session takes [`PolicyHandle::current`] per decision, so a
/// reload applies to the next request of every live session without dropping any.
#[derive(Debug, Clone)]
pub struct PolicyHandle {
    current: Arc<RwLock<Arc<GatewayPolicy>>>,
}

impl PolicyHandle {
    /// A handle holding `policy`.
    pub fn new(policy: GatewayPolicy) -> PolicyHandle {
        PolicyHandle {
            current: Arc::new(RwLock::new(Arc::new(policy))),
        }
    }

    /// The policy in force now. Holding the returned `Arc` keeps that policy alive, unaffected
    /// by a concurrent reload.
    pub fn current(&self) -> Arc<GatewayPolicy> {
        // The lock only guards an `Arc` swap, which cannot be left half done: a poisoned lock
        // still holds a whole policy.
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Loads the policy file at `path` and, if it is valid, makes it current for every clone
    /// of this handle at once. On any error the policy in force stays as it was and the error
    /// is returned for the caller (a SIGHUP handler) to log.
    pub fn reload_from(&self, path: &Path) -> Result<(), GatewayError> {
        let policy = GatewayPolicy::load(path)?;
        self.replace(policy);
        Ok(())
    }

    /// Makes `policy` current.
    pub fn replace(&self, policy: GatewayPolicy) {
        let policy = Arc::new(policy);
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(PoisonError::into_inner),
            policy,
        );
        // The old policy, if no session still holds it, is freed here, outside the lock.
        drop(old);
    }
}
