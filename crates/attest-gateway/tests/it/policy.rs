//! The policy file: parsing, refusal of bad files, match semantics, requirements, reload.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use attest_core::{AttestationType, Claims, SafetyLevel};
use attest_gateway::{
    Decision, DecisionReason, Effect, GatewayError, GatewayPolicy, PolicyHandle, RuleProblem,
    Target,
};

use crate::claims::{ISSUER, PARTNER, TempDir, agent, agent_with, enterprise_agent};

fn policy(text: &str) -> GatewayPolicy {
    GatewayPolicy::from_toml(text).unwrap_or_else(|e| panic!("policy refused: {e}\n{text}"))
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policy.toml")
}

/// Asserts a decision: allowed, the deciding rule, the reason.
#[track_caller]
fn check(decision: Decision, allowed: bool, rule: Option<&str>, reason: &str) {
    assert_eq!(
        decision,
        Decision {
            allowed,
            rule: rule.map(str::to_owned),
            reason: reason.to_owned(),
        }
    );
}

fn rule_problem(text: &str) -> (usize, String, RuleProblem) {
    match GatewayPolicy::from_toml(text) {
        Err(GatewayError::PolicyRule {
            path: None,
            index,
            name,
            problem,
        }) => (index, name, problem),
        other => panic!("expected a rule error, got {other:?}"),
    }
}

fn syntax_error(text: &str) -> String {
    match GatewayPolicy::from_toml(text) {
        Err(GatewayError::PolicySyntax {
            path: None,
            message,
        }) => message,
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

// ---- globs and targets ----------------------------------------------------------------------

#[test]
fn tool_globs_match_whole_names() {
    let p = policy(
        r#"
        default = "deny"
        [[rule]]
        name = "readers"
        tools = ["read_*", "{list,get}_?", "stat[0-9]", "exact"]
        "#,
    );
    let a = agent();
    for allowed in ["read_file", "read_", "list_x", "get_y", "stat7", "exact"] {
        check(
            p.decide(Some(&a), Target::Tool(allowed)),
            true,
            Some("readers"),
            "rule_allow",
        );
    }
    // Whole-name matching: no prefix, suffix or case-insensitive match.
    for denied in [
        "write_file",
        "xread_file",
        "READ_file",
        "list_xy",
        "statx",
        "exact2",
        "",
    ] {
        check(
            p.decide(Some(&a), Target::Tool(denied)),
            false,
            None,
            "policy_default_deny",
        );
    }
}

#[test]
fn each_rule_applies_only_to_its_own_kind_of_target() {
    let p = policy(
        r#"
        default = "deny"
        [[rule]]
        name = "tool x"
        tools = ["x"]
        [[rule]]
        name = "prompt x"
        prompts = ["x"]
        [[rule]]
        name = "resource x"
        resources = ["x"]
        "#,
    );
    let a = agent();
    assert_eq!(
        p.decide(Some(&a), Target::Tool("x")).rule.as_deref(),
        Some("tool x")
    );
    assert_eq!(
        p.decide(Some(&a), Target::Prompt("x")).rule.as_deref(),
        Some("prompt x")
    );
    assert_eq!(
        p.decide(Some(&a), Target::Resource("x")).rule.as_deref(),
        Some("resource x")
    );
}

#[test]
fn resource_globs_cross_slashes_and_prompt_globs_match() {
    let p = policy(
        r#"
        default = "allow"
        [[rule]]
        name = "secrets"
        resources = ["file:///srv/secret/*"]
        effect = "deny"
        [[rule]]
        name = "review prompts"
        prompts = ["review-*"]
        effect = "deny"
        "#,
    );
    let a = agent();
    // A deny rule cannot be dodged by nesting: `*` covers `/`.
    for uri in ["file:///srv/secret/a", "file:///srv/secret/a/b/c.txt"] {
        check(
            p.decide(Some(&a), Target::Resource(uri)),
            false,
            Some("secrets"),
            "rule_deny",
        );
    }
    check(
        p.decide(Some(&a), Target::Resource("file:///srv/secretary/a")),
        true,
        None,
        "policy_default_allow",
    );
    check(
        p.decide(Some(&a), Target::Prompt("review-code")),
        false,
        Some("review prompts"),
        "rule_deny",
    );
    check(
        p.decide(Some(&a), Target::Prompt("summarize")),
        true,
        None,
        "policy_default_allow",
    );
}

#[test]
fn resource_uris_spelled_to_dodge_a_rule_are_denied() {
    let p = policy(
        r#"
        default = "allow"
        [[rule]]
        name = "secrets"
        resources = ["file:///srv/secret/*"]
        effect = "deny"
        "#,
    );
    let a = agent();
    for uri in [
        "file:///srv/public/../secret/key",
        "file:///srv/public/%2e%2e/secret/key",
        "file:///srv/public/%2E%2E/secret/key",
        "file:///srv/./secret/key",
        "file:///srv/%73ecret/key",
        "file:///srv/public%2f..%2fsecret/key",
        "file:///srv\\secret\\key",
        "FILE:///srv/secret/key",
        "file:///srv/secret/key\n",
        "file:///srv/secret/%zz",
        "file:///srv/secret/%2",
    ] {
        check(
            p.decide(Some(&a), Target::Resource(uri)),
            false,
            None,
            "resource_uri_not_normalized",
        );
    }
    // Escapes that must be escaped, and dots inside names, are fine.
    for uri in [
        "file:///srv/My%20Docs/a.txt",
        "file:///srv/a..b/.hidden",
        "https://example.com/x?q=%26",
    ] {
        check(
            p.decide(Some(&a), Target::Resource(uri)),
            true,
            None,
            "policy_default_allow",
        );
    }
    // Without any resource pattern, the policy does not judge URIs at all.
    let no_resources = policy("default = \"allow\"");
    assert!(
        no_resources
            .decide(Some(&a), Target::Resource("file:///a/../b"))
            .allowed
    );
    assert!(
        GatewayPolicy::allow_all()
            .decide(None, Target::Resource("FILE:///a/../b"))
            .allowed
    );
}

// ---- first applicable rule, default, unattested ---------------------------------------------

#[test]
fn the_first_applicable_rule_decides() {
    let p = policy(
        r#"
        default = "allow"
        [[rule]]
        name = "no delete_all"
        tools = ["delete_all"]
        effect = "deny"
        [[rule]]
        name = "deletes"
        tools = ["delete_*"]
        "#,
    );
    let a = agent();
    check(
        p.decide(Some(&a), Target::Tool("delete_all")),
        false,
        Some("no delete_all"),
        "rule_deny",
    );
    check(
        p.decide(Some(&a), Target::Tool("delete_one")),
        true,
        Some("deletes"),
        "rule_allow",
    );
}

#[test]
fn an_allow_rule_with_unmet_requirements_denies_and_never_falls_through() {
    let p = policy(
        r#"
        default = "allow"
        [[rule]]
        name = "careful deletes"
        tools = ["delete_*"]
        min_safety_level = "enhanced"
        [[rule]]
        name = "everything"
        tools = ["*"]
        "#,
    );
    let standard = agent();
    // Neither the later catch-all allow nor the default allow rescue the request.
    check(
        p.decide(Some(&standard), Target::Tool("delete_file")),
        false,
        Some("careful deletes"),
        "safety_level_too_low",
    );
    let enhanced = agent_with(|c| c.attestation_metadata.safety_level = SafetyLevel::Enhanced);
    check(
        p.decide(Some(&enhanced), Target::Tool("delete_file")),
        true,
        Some("careful deletes"),
        "rule_allow",
    );
    check(
        p.decide(Some(&standard), Target::Tool("read_file")),
        true,
        Some("everything"),
        "rule_allow",
    );
}

#[test]
fn the_default_decides_when_no_rule_applies() {
    let rules = r#"
        [[rule]]
        name = "reads"
        tools = ["read_*"]
    "#;
    let a = agent();
    let deny = policy(&format!("default = \"deny\"\n{rules}"));
    let allow = policy(&format!("default = \"allow\"\n{rules}"));
    let omitted = policy(rules);
    assert_eq!(deny.default_effect(), Effect::Deny);
    assert_eq!(allow.default_effect(), Effect::Allow);
    assert_eq!(
        omitted.default_effect(),
        Effect::Deny,
        "omitted default is deny"
    );
    check(
        deny.decide(Some(&a), Target::Tool("write")),
        false,
        None,
        "policy_default_deny",
    );
    check(
        allow.decide(Some(&a), Target::Tool("write")),
        true,
        None,
        "policy_default_allow",
    );
    check(
        omitted.decide(Some(&a), Target::Tool("write")),
        false,
        None,
        "policy_default_deny",
    );
    // An empty file is a valid policy that denies everything.
    check(
        policy("").decide(Some(&a), Target::Prompt("p")),
        false,
        None,
        "policy_default_deny",
    );
}

#[test]
fn allow_all_allows_everything_even_unattested() {
    let p = GatewayPolicy::allow_all();
    assert_eq!(p.rule_names().count(), 0);
    for target in [
        Target::Tool("anything"),
        Target::Resource("file:///etc/passwd"),
        Target::Prompt("p"),
    ] {
        check(p.decide(None, target), true, None, "policy_default_allow");
        check(
            p.decide(Some(&agent()), target),
            true,
            None,
            "policy_default_allow",
        );
    }
}

#[test]
fn an_unattested_request_fails_every_rule_with_requirements() {
    let p = policy(
        r#"
        default = "allow"
        [[rule]]
        name = "open"
        tools = ["echo"]
        [[rule]]
        name = "closed"
        tools = ["read_*"]
        capabilities = ["fs.read"]
        "#,
    );
    check(
        p.decide(None, Target::Tool("echo")),
        true,
        Some("open"),
        "rule_allow",
    );
    check(
        p.decide(None, Target::Tool("read_file")),
        false,
        Some("closed"),
        "unattested",
    );
    check(
        p.decide(Some(&agent()), Target::Tool("read_file")),
        true,
        Some("closed"),
        "rule_allow",
    );
    check(
        p.decide(None, Target::Tool("other")),
        true,
        None,
        "policy_default_allow",
    );
    // Every kind of requirement, on its own, refuses the unattested request.
    for requirement in [
        r#"issuers = ["https://issuer.example"]"#,
        r#"attestation_types = ["provider"]"#,
        r#"model_family = "*""#,
        r#"model_version = "*""#,
        r#"min_safety_level = "minimal""#,
        r#"capabilities = ["fs.read"]"#,
    ] {
        let p = policy(&format!(
            "[[rule]]\nname = \"r\"\ntools = [\"*\"]\n{requirement}\n"
        ));
        check(
            p.decide(None, Target::Tool("t")),
            false,
            Some("r"),
            "unattested",
        );
        check(
            p.decide(Some(&agent()), Target::Tool("t")),
            true,
            Some("r"),
            "rule_allow",
        );
    }
}

// ---- requirements -----------------------------------------------------------------------------

/// A policy with one rule `r` on tool `t` carrying `requirement`; the decision for `claims`.
fn decide_with(requirement: &str, claims: &Claims) -> Decision {
    policy(&format!(
        "default = \"allow\"\n[[rule]]\nname = \"r\"\ntools = [\"t\"]\n{requirement}\n"
    ))
    .decide(Some(claims), Target::Tool("t"))
}

/// Rule `r`, requiring `requirement`, admits `claims`.
fn allows(requirement: &str, claims: &Claims) {
    check(
        decide_with(requirement, claims),
        true,
        Some("r"),
        "rule_allow",
    );
}

/// Rule `r`, requiring `requirement`, refuses `claims` for `reason`.
fn denies(requirement: &str, claims: &Claims, reason: &str) {
    check(decide_with(requirement, claims), false, Some("r"), reason);
}

#[test]
fn issuer_requirement() {
    let req = format!(r#"issuers = ["{ISSUER}", "{PARTNER}"]"#);
    allows(&req, &agent());
    allows(&req, &agent_with(|c| c.iss = PARTNER.into()));
    // Exact comparison: no prefix, no trailing slash, no case folding.
    for iss in [
        "https://evil.example",
        "https://issuer.example/",
        "https://ISSUER.example",
        "https://issuer.example.evil",
    ] {
        denies(
            &req,
            &agent_with(|c| c.iss = iss.into()),
            "issuer_not_allowed",
        );
    }
}

#[test]
fn attestation_type_requirement() {
    let req = r#"attestation_types = ["enterprise"]"#;
    denies(req, &agent(), "attestation_type_not_allowed");
    let enterprise =
        agent_with(|c| c.attestation_metadata.attestation_type = AttestationType::Enterprise);
    allows(req, &enterprise);
    let both = r#"attestation_types = ["provider", "enterprise"]"#;
    allows(both, &agent());
}

#[test]
fn model_family_and_version_requirements_are_globs() {
    let family = r#"model_family = "claude*""#;
    allows(family, &agent());
    let gpt = agent_with(|c| c.agent_identity.model_family = "gpt".into());
    denies(family, &gpt, "model_family_not_allowed");

    let version = r#"model_version = "{sonnet,opus}-4*""#;
    allows(version, &agent());
    let opus = agent_with(|c| c.agent_identity.model_version = "opus-4-1".into());
    allows(version, &opus);
    for v in ["sonnet-3-7", "haiku-4", "sonnet-4".to_uppercase().as_str()] {
        let other = agent_with(|c| c.agent_identity.model_version = v.into());
        denies(version, &other, "model_version_not_allowed");
    }
}

#[test]
fn capabilities_requirement_needs_every_capability() {
    let req = r#"capabilities = ["fs.read", "fs.write"]"#;
    // The default agent declares only fs.read.
    denies(req, &agent(), "capability_missing");
    let none = agent_with(|c| c.attestation_metadata.capabilities_declared.clear());
    denies(req, &none, "capability_missing");
    // All present, in any order, with extras: allowed.
    let all = agent_with(|c| {
        c.attestation_metadata.capabilities_declared =
            vec!["net".into(), "fs.write".into(), "fs.read".into()];
    });
    allows(req, &all);
    // Exact comparison, not a glob or prefix.
    let prefix = agent_with(|c| {
        c.attestation_metadata.capabilities_declared = vec!["fs.*".into(), "fs.read".into()];
    });
    denies(req, &prefix, "capability_missing");
}

#[test]
fn safety_level_is_compared_by_order_not_as_strings() {
    let at = |level: SafetyLevel| agent_with(|c| c.attestation_metadata.safety_level = level);
    let standard = r#"min_safety_level = "standard""#;
    allows(standard, &at(SafetyLevel::Enhanced));
    allows(standard, &at(SafetyLevel::Standard));
    denies(standard, &at(SafetyLevel::Minimal), "safety_level_too_low");
    let enhanced = r#"min_safety_level = "enhanced""#;
    denies(enhanced, &at(SafetyLevel::Minimal), "safety_level_too_low");
    denies(enhanced, &at(SafetyLevel::Standard), "safety_level_too_low");
    allows(enhanced, &at(SafetyLevel::Enhanced));
    let minimal = r#"min_safety_level = "minimal""#;
    allows(minimal, &at(SafetyLevel::Minimal));

    // A string comparison would have decided both of the first cases the other way round:
    // "enhanced" < "standard" and "minimal" >= "enhanced" as strings.
    let as_strings = |level: SafetyLevel, min: SafetyLevel| level.as_str() >= min.as_str();
    assert!(!as_strings(SafetyLevel::Enhanced, SafetyLevel::Standard));
    assert!(as_strings(SafetyLevel::Minimal, SafetyLevel::Enhanced));
    assert!(
        decide_with(standard, &at(SafetyLevel::Enhanced)).allowed,
        "ordered comparison allows what string comparison would deny"
    );
    assert!(
        !decide_with(enhanced, &at(SafetyLevel::Minimal)).allowed,
        "ordered comparison denies what string comparison would allow"
    );
}

#[test]
fn the_first_unmet_requirement_is_the_reason_in_documented_order() {
    let all = format!(
        r#"
        issuers = ["{ISSUER}"]
        attestation_types = ["enterprise"]
        model_family = "claude"
        model_version = "sonnet-*"
        min_safety_level = "enhanced"
        capabilities = ["fs.read", "fs.write"]
        "#
    );
    // Start from an agent that fails everything, and fix one requirement at a time.
    let mut claims = agent_with(|c| {
        c.iss = "https://other.example".into();
        c.agent_identity.model_family = "gpt".into();
        c.agent_identity.model_version = "5".into();
        c.attestation_metadata.safety_level = SafetyLevel::Minimal;
        c.attestation_metadata.capabilities_declared.clear();
    });
    type Fix = fn(&mut Claims);
    let fixes: [(&str, Fix); 6] = [
        ("issuer_not_allowed", |c| c.iss = ISSUER.into()),
        ("attestation_type_not_allowed", |c| {
            c.attestation_metadata.attestation_type = AttestationType::Enterprise
        }),
        ("model_family_not_allowed", |c| {
            c.agent_identity.model_family = "claude".into()
        }),
        ("model_version_not_allowed", |c| {
            c.agent_identity.model_version = "sonnet-4".into()
        }),
        ("safety_level_too_low", |c| {
            c.attestation_metadata.safety_level = SafetyLevel::Enhanced
        }),
        ("capability_missing", |c| {
            c.attestation_metadata.capabilities_declared = vec!["fs.write".into(), "fs.read".into()]
        }),
    ];
    for (reason, fix) in fixes {
        denies(&all, &claims, reason);
        fix(&mut claims);
    }
    allows(&all, &claims);
}

#[test]
fn every_reason_string_is_distinct_snake_case() {
    let strings: Vec<&str> = DecisionReason::ALL.iter().map(|r| r.as_str()).collect();
    let mut unique = strings.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), strings.len());
    assert!(
        strings
            .iter()
            .all(|s| s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    );
}

// ---- refused files ----------------------------------------------------------------------------

#[test]
fn unknown_keys_are_refused_at_every_level() {
    // A misspelled top-level key.
    let msg = syntax_error("defualt = \"allow\"");
    assert!(msg.contains("defualt"), "{msg}");
    assert!(msg.starts_with("line 1, column 1:"), "{msg}");
    // `[[rules]]` for `[[rule]]`.
    assert!(syntax_error("[[rules]]\nname = \"r\"\ntools = [\"*\"]").contains("rules"));
    // A misspelled key in a rule: `tool` would otherwise silently match nothing and, worse,
    // a misspelled requirement would silently allow everyone.
    let msg = syntax_error(
        "default = \"deny\"\n[[rule]]\nname = \"r\"\ntools = [\"*\"]\nissuer = [\"x\"]\n",
    );
    assert!(msg.contains("issuer"), "{msg}");
    assert!(msg.starts_with("line 5"), "{msg}");
    syntax_error("[[rule]]\nname = \"r\"\ntools = [\"*\"]\nmin_safety = \"enhanced\"\n");
    // Wrong types are refused too.
    syntax_error("[[rule]]\nname = \"r\"\ntools = \"read_*\"\n");
    syntax_error("default = true");
    syntax_error("this is not toml");
}

#[test]
fn invalid_globs_are_refused_with_the_rule() {
    let (index, name, problem) = rule_problem(
        r#"
        [[rule]]
        name = "ok"
        tools = ["a"]
        [[rule]]
        name = "broken"
        tools = ["fine_*", "read_[a"]
        "#,
    );
    assert_eq!((index, name.as_str()), (1, "broken"));
    assert!(
        matches!(&problem, RuleProblem::InvalidGlob { field: "tools", pattern, .. } if pattern == "read_[a"),
        "{problem:?}"
    );
    for (text, field) in [
        ("resources = [\"file:///{a\"]", "resources"),
        ("prompts = [\"x\"]\nmodel_family = \"[\"", "model_family"),
        (
            "prompts = [\"x\"]\nmodel_version = \"{a,\"",
            "model_version",
        ),
    ] {
        let (_, _, problem) = rule_problem(&format!("[[rule]]\nname = \"r\"\n{text}\n"));
        assert!(
            matches!(problem, RuleProblem::InvalidGlob { field: f, .. } if f == field),
            "{problem:?}"
        );
    }
}

#[test]
fn bad_values_are_refused_with_the_rule_and_problem() {
    let cases: &[(&str, RuleProblem)] = &[
        (
            "tools = [\"t\"]\nmin_safety_level = \"high\"",
            RuleProblem::UnknownSafetyLevel("high".into()),
        ),
        (
            "tools = [\"t\"]\nmin_safety_level = \"Enhanced\"",
            RuleProblem::UnknownSafetyLevel("Enhanced".into()),
        ),
        (
            "tools = [\"t\"]\nattestation_types = [\"provider\", \"self\"]",
            RuleProblem::UnknownAttestationType("self".into()),
        ),
        (
            "tools = [\"t\"]\neffect = \"permit\"",
            RuleProblem::UnknownEffect("permit".into()),
        ),
        ("effect = \"allow\"", RuleProblem::NoTarget),
        ("tools = []", RuleProblem::EmptyList { field: "tools" }),
        (
            "tools = [\"t\"]\nissuers = []",
            RuleProblem::EmptyList { field: "issuers" },
        ),
        (
            "tools = [\"t\"]\nattestation_types = []",
            RuleProblem::EmptyList {
                field: "attestation_types",
            },
        ),
        (
            "tools = [\"t\"]\ncapabilities = []",
            RuleProblem::EmptyList {
                field: "capabilities",
            },
        ),
        ("tools = [\"\"]", RuleProblem::EmptyValue { field: "tools" }),
        (
            "tools = [\"t\"]\nissuers = [\"\"]",
            RuleProblem::EmptyValue { field: "issuers" },
        ),
        (
            "tools = [\"t\"]\nmodel_family = \"\"",
            RuleProblem::EmptyValue {
                field: "model_family",
            },
        ),
        (
            "tools = [\"t\"]\neffect = \"deny\"\nmin_safety_level = \"enhanced\"",
            RuleProblem::RequirementOnDeny {
                field: "min_safety_level",
            },
        ),
        (
            "tools = [\"t\"]\neffect = \"deny\"\nissuers = [\"x\"]",
            RuleProblem::RequirementOnDeny { field: "issuers" },
        ),
    ];
    for (body, expected) in cases {
        let text = format!(
            "[[rule]]\nname = \"first\"\ntools = [\"z\"]\n[[rule]]\nname = \"bad\"\n{body}\n"
        );
        // The first rule has a `tools` key; the bad rule's own keys follow in its table.
        let (index, name, problem) = rule_problem(&text);
        assert_eq!(
            (index, name.as_str(), &problem),
            (1, "bad", expected),
            "{body}"
        );
    }

    let (index, name, problem) = rule_problem("[[rule]]\ntools = [\"t\"]\n");
    assert_eq!(
        (index, name.as_str(), problem),
        (0, "", RuleProblem::MissingName)
    );
    let (_, _, problem) = rule_problem("[[rule]]\nname = \"  \"\ntools = [\"t\"]\n");
    assert_eq!(problem, RuleProblem::MissingName);
    let (index, name, problem) = rule_problem(
        "[[rule]]\nname = \"a\"\ntools = [\"t\"]\n[[rule]]\nname = \"b\"\ntools = [\"t\"]\n[[rule]]\nname = \"a\"\nprompts = [\"p\"]\n",
    );
    assert_eq!(
        (index, name.as_str(), problem),
        (2, "a", RuleProblem::DuplicateName { first: 0 })
    );

    assert_eq!(
        GatewayPolicy::from_toml("default = \"permit\"").unwrap_err(),
        GatewayError::PolicyDefault {
            path: None,
            value: "permit".into()
        }
    );
}

#[test]
fn error_messages_name_the_file_and_rule() {
    let dir = TempDir::new();
    let path = dir.join("policy.toml");
    std::fs::write(
        &path,
        "[[rule]]\nname = \"ok\"\ntools = [\"a\"]\n[[rule]]\nname = \"risky\"\ntools = [\"t\"]\nmin_safety_level = \"high\"\n",
    )
    .unwrap();
    let err = GatewayPolicy::load(&path).unwrap_err();
    assert!(matches!(&err, GatewayError::PolicyRule { path: Some(p), index: 1, .. } if *p == path));
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("rule 2 (\"risky\")"), "{text}");
    assert!(text.contains("\"high\""), "{text}");
    let text = GatewayPolicy::from_toml("x = 1").unwrap_err().to_string();
    assert!(
        text.starts_with("<string>: invalid policy: line 1, column 1:"),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");
}

#[test]
fn load_refuses_missing_oversized_and_non_utf8_files() {
    let dir = TempDir::new();
    let missing = dir.join("missing.toml");
    assert!(matches!(
        GatewayPolicy::load(&missing),
        Err(GatewayError::PolicyRead { path, .. }) if path == missing
    ));
    let big = dir.join("big.toml");
    let comment = format!("# {}\n", "x".repeat(1000));
    std::fs::write(&big, comment.repeat(1100)).unwrap();
    assert_eq!(
        GatewayPolicy::load(&big).unwrap_err(),
        GatewayError::PolicyTooLarge {
            path: big.clone(),
            limit: attest_gateway::policy::MAX_POLICY_BYTES
        }
    );
    let latin1 = dir.join("latin1.toml");
    std::fs::write(&latin1, b"# caf\xe9\ndefault = \"allow\"\n").unwrap();
    assert!(matches!(
        GatewayPolicy::load(&latin1),
        Err(GatewayError::PolicyRead { message, .. }) if message == "not UTF-8"
    ));
    assert!(matches!(
        GatewayPolicy::load(dir.path()),
        Err(GatewayError::PolicyRead { .. })
    ));
}

// ---- the example file -------------------------------------------------------------------------

#[test]
fn the_example_policy_loads_and_decides_as_its_comments_say() {
    let p = GatewayPolicy::load(&example_path()).unwrap();
    assert_eq!(p.default_effect(), Effect::Deny);
    assert_eq!(
        p.rule_names().collect::<Vec<_>>(),
        [
            "no shell",
            "no secrets",
            "destructive tools",
            "read-only tools",
            "public files",
            "prompts",
            "echo for everyone",
        ]
    );
    let standard = agent();
    let enterprise = enterprise_agent();
    let tool = |claims: Option<&Claims>, name| p.decide(claims, Target::Tool(name));

    check(
        tool(Some(&enterprise), "run_shell"),
        false,
        Some("no shell"),
        "rule_deny",
    );
    check(
        tool(Some(&enterprise), "git_command"),
        false,
        Some("no shell"),
        "rule_deny",
    );
    check(
        tool(Some(&enterprise), "delete_file"),
        true,
        Some("destructive tools"),
        "rule_allow",
    );
    check(
        tool(Some(&standard), "delete_file"),
        false,
        Some("destructive tools"),
        "attestation_type_not_allowed",
    );
    let haiku = agent_with(|c| {
        *c = enterprise_agent();
        c.agent_identity.model_version = "haiku-4".into();
    });
    check(
        tool(Some(&haiku), "write_file"),
        false,
        Some("destructive tools"),
        "model_version_not_allowed",
    );
    check(
        tool(Some(&standard), "read_file"),
        true,
        Some("read-only tools"),
        "rule_allow",
    );
    let partner = agent_with(|c| c.iss = PARTNER.into());
    check(
        tool(Some(&partner), "list_directory"),
        true,
        Some("read-only tools"),
        "rule_allow",
    );
    let minimal = agent_with(|c| c.attestation_metadata.safety_level = SafetyLevel::Minimal);
    check(
        tool(Some(&minimal), "read_file"),
        false,
        Some("read-only tools"),
        "safety_level_too_low",
    );
    check(
        tool(None, "read_file"),
        false,
        Some("read-only tools"),
        "unattested",
    );
    check(
        tool(None, "echo"),
        true,
        Some("echo for everyone"),
        "rule_allow",
    );
    check(
        tool(Some(&standard), "other"),
        false,
        None,
        "policy_default_deny",
    );

    let resource = |claims: &Claims, uri| p.decide(Some(claims), Target::Resource(uri));
    check(
        resource(&standard, "file:///srv/public/docs/a.md"),
        true,
        Some("public files"),
        "rule_allow",
    );
    check(
        resource(&partner, "file:///srv/public/a.md"),
        false,
        Some("public files"),
        "issuer_not_allowed",
    );
    check(
        resource(&enterprise, "file:///srv/secrets/key"),
        false,
        Some("no secrets"),
        "rule_deny",
    );
    check(
        resource(&standard, "file:///srv/public/../secrets/key"),
        false,
        None,
        "resource_uri_not_normalized",
    );
    check(
        p.decide(Some(&standard), Target::Prompt("summarize")),
        true,
        Some("prompts"),
        "rule_allow",
    );
    check(
        p.decide(Some(&partner), Target::Prompt("summarize")),
        false,
        Some("prompts"),
        "issuer_not_allowed",
    );
}

// ---- reload -----------------------------------------------------------------------------------

#[test]
fn reload_keeps_the_old_policy_on_a_broken_file_and_swaps_on_a_good_one() {
    let dir = TempDir::new();
    let path = dir.join("policy.toml");
    let allow_reads = "default = \"deny\"\n[[rule]]\nname = \"reads\"\ntools = [\"read_*\"]\n";
    std::fs::write(&path, allow_reads).unwrap();
    let handle = PolicyHandle::new(GatewayPolicy::load(&path).unwrap());
    let session = handle.clone();
    let a = agent();
    let reads = |h: &PolicyHandle| h.current().decide(Some(&a), Target::Tool("read_file"));
    assert!(reads(&session).allowed);

    // Broken in every way we know: each reload fails and the old policy stays in force.
    let held = handle.current();
    for broken in [
        "default = \"deny\"\n[[rule]]\nname = \"reads\"\ntools = [\"read_[\"]\n",
        "default = \"deny\"\n[[rule]]\nname = \"reads\"\ntool = [\"*\"]\n",
        "default = \"deny\" [[[",
        "default = \"deny\"\n[[rule]]\nname = \"reads\"\ntools = [\"*\"]\nmin_safety_level = \"max\"\n",
    ] {
        std::fs::write(&path, broken).unwrap();
        assert!(handle.reload_from(&path).is_err(), "{broken}");
        assert!(reads(&session).allowed, "old policy kept after {broken}");
        assert!(Arc::ptr_eq(&held, &session.current()));
    }
    assert!(handle.reload_from(&dir.join("gone.toml")).is_err());
    assert!(reads(&session).allowed);

    // A good file: every clone of the handle sees the new policy at once.
    std::fs::write(
        &path,
        "default = \"deny\"\n[[rule]]\nname = \"no reads\"\ntools = [\"read_*\"]\neffect = \"deny\"\n",
    )
    .unwrap();
    handle.reload_from(&path).unwrap();
    check(reads(&session), false, Some("no reads"), "rule_deny");
    // A decision already in progress keeps the policy it started with.
    check(
        held.decide(Some(&a), Target::Tool("read_file")),
        true,
        Some("reads"),
        "rule_allow",
    );
}

#[test]
fn reload_under_concurrent_readers_always_gives_a_whole_policy() {
    let dir = TempDir::new();
    let path = dir.join("policy.toml");
    let allow = "default = \"allow\"\n[[rule]]\nname = \"A\"\ntools = [\"*\"]\n";
    let deny = "default = \"deny\"\n[[rule]]\nname = \"D\"\ntools = [\"*\"]\neffect = \"deny\"\n";
    let handle = PolicyHandle::new(GatewayPolicy::from_toml(allow).unwrap());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let handle = handle.clone();
            scope.spawn(move || {
                let a = agent();
                for _ in 0..2_000 {
                    let d = handle.current().decide(Some(&a), Target::Tool("x"));
                    // Allowed by A or denied by D, never a mix.
                    match d.rule.as_deref() {
                        Some("A") => assert!(d.allowed),
                        Some("D") => assert!(!d.allowed),
                        other => panic!("unexpected rule {other:?}"),
                    }
                }
            });
        }
        for i in 0..50 {
            std::fs::write(&path, if i % 2 == 0 { deny } else { allow }).unwrap();
            handle.reload_from(&path).unwrap();
        }
    });
}
