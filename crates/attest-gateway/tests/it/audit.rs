//! The audit log: exact line format, no token, whole lines under concurrency, failures counted.

use std::collections::BTreeSet;

use attest_gateway::audit::MAX_FIELD_BYTES;
use attest_gateway::{AuditLog, AuditRecord, Decision, GatewayError, GatewayPolicy, Target};
use serde_json::{Value, json};

use crate::claims::{ISSUER, NOW, SUBJECT, TempDir, agent, token_for};

const FIELDS: [&str; 9] = [
    "time", "session", "issuer", "subject", "method", "name", "decision", "reason", "rule",
];

fn lines(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "last line is whole"
    );
    text.lines().map(str::to_owned).collect()
}

/// The member names of a JSON object, in the order they appear.
struct Keys(Vec<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Parses one line, checking it has exactly the documented members in the documented order.
fn parse(line: &str) -> serde_json::Map<String, Value> {
    let Keys(keys) = serde_json::from_str(line).unwrap();
    assert_eq!(keys, FIELDS, "members and order of {line}");
    match serde_json::from_str(line).unwrap() {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

#[test]
fn lines_have_exactly_the_documented_fields() {
    let dir = TempDir::new();
    let path = dir.join("audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    assert!(log.is_enabled());
    let policy = GatewayPolicy::from_toml(
        "default = \"deny\"\n[[rule]]\nname = \"reads\"\ntools = [\"read_*\"]\ncapabilities = [\"fs.read\"]\n",
    )
    .unwrap();
    let claims = agent();

    let allowed = policy.decide(Some(&claims), Target::Tool("read_file"));
    log.record(&AuditRecord::from_decision(
        NOW,
        Some("session-1"),
        Some(&claims),
        "tools/call",
        "read_file",
        &allowed,
    ));
    let unattested = policy.decide(None, Target::Tool("read_file"));
    log.record(&AuditRecord::from_decision(
        NOW + 61,
        None,
        None,
        "tools/call",
        "read_file",
        &unattested,
    ));
    let default = policy.decide(Some(&claims), Target::Prompt("p"));
    log.record(&AuditRecord::from_decision(
        NOW + 3_600,
        Some("session-1"),
        Some(&claims),
        "prompts/get",
        "p",
        &default,
    ));
    assert_eq!((log.written(), log.failures()), (3, 0));

    let lines = lines(&path);
    assert_eq!(lines.len(), 3);
    let got: Vec<Value> = lines.iter().map(|l| Value::Object(parse(l))).collect();
    assert_eq!(
        got,
        [
            json!({
                "time": "2026-09-21T14:13:20Z", "session": "session-1", "issuer": ISSUER,
                "subject": SUBJECT, "method": "tools/call", "name": "read_file",
                "decision": "allow", "reason": "rule_allow", "rule": "reads"
            }),
            json!({
                "time": "2026-09-21T14:14:21Z", "session": null, "issuer": null,
                "subject": null, "method": "tools/call", "name": "read_file",
                "decision": "deny", "reason": "unattested", "rule": "reads"
            }),
            json!({
                "time": "2026-09-21T15:13:20Z", "session": "session-1", "issuer": ISSUER,
                "subject": SUBJECT, "method": "prompts/get", "name": "p",
                "decision": "deny", "reason": "policy_default_deny", "rule": null
            }),
        ]
    );
}

#[test]
fn no_token_or_token_looking_content_reaches_the_log() {
    let dir = TempDir::new();
    let path = dir.join("audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    let claims = agent();
    let token = token_for(&claims);
    let decision = GatewayPolicy::allow_all().decide(Some(&claims), Target::Tool("whoami"));
    log.record(&AuditRecord::from_decision(
        NOW,
        Some("s"),
        Some(&claims),
        "tools/call",
        "whoami",
        &decision,
    ));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(&token));
    let [header, payload, signature]: [&str; 3] =
        token.split('.').collect::<Vec<_>>().try_into().unwrap();
    for part in [header, payload, signature] {
        assert!(!text.contains(part), "a token segment leaked");
    }
    // Nothing shaped like a JWS (`eyJ...` base64url JSON), nor the token's unique id.
    assert!(!text.contains("eyJ"));
    assert!(!text.contains(&claims.jti));
    let jws_like = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .any(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() == 3 && parts.iter().all(|p| p.len() >= 16)
        });
    assert!(!jws_like, "{text}");
}

#[test]
fn concurrent_writers_produce_only_whole_lines() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 400;
    let dir = TempDir::new();
    let path = dir.join("audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    let decision = Decision {
        allowed: true,
        rule: Some("r".into()),
        reason: "rule_allow".into(),
    };
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let log = log.clone();
            let decision = &decision;
            scope.spawn(move || {
                // Long names, so that a torn write would show.
                let filler = char::from(b'a' + u8::try_from(t).unwrap())
                    .to_string()
                    .repeat(900);
                for i in 0..PER_THREAD {
                    let name = format!("{t}:{i}:{filler}");
                    let session = format!("session-{t}");
                    log.record(&AuditRecord::from_decision(
                        NOW,
                        Some(&session),
                        None,
                        "tools/call",
                        &name,
                        decision,
                    ));
                }
            });
        }
    });
    assert_eq!(log.written(), u64::try_from(THREADS * PER_THREAD).unwrap());
    let lines = lines(&path);
    assert_eq!(lines.len(), THREADS * PER_THREAD);
    let mut seen = BTreeSet::new();
    for line in &lines {
        let record = parse(line);
        let name = record["name"].as_str().unwrap();
        let mut parts = name.splitn(3, ':');
        let t: usize = parts.next().unwrap().parse().unwrap();
        let i: usize = parts.next().unwrap().parse().unwrap();
        let filler = parts.next().unwrap();
        assert_eq!(filler.len(), 900);
        assert!(filler.bytes().all(|b| b == b'a' + u8::try_from(t).unwrap()));
        assert_eq!(record["session"], format!("session-{t}"));
        assert!(seen.insert((t, i)), "duplicate record {t}:{i}");
    }
    assert_eq!(seen.len(), THREADS * PER_THREAD);
}

#[test]
fn hostile_names_stay_on_one_bounded_line() {
    let dir = TempDir::new();
    let path = dir.join("audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    let decision = Decision {
        allowed: false,
        rule: None,
        reason: "policy_default_deny".into(),
    };
    let forged = "x\n{\"time\":\"1970-01-01T00:00:00Z\",\"decision\":\"allow\"}\r\n";
    let huge = "é".repeat(10 * MAX_FIELD_BYTES);
    for name in [forged, huge.as_str()] {
        log.record(&AuditRecord::from_decision(
            NOW,
            Some(name),
            None,
            "tools/call",
            name,
            &decision,
        ));
    }
    let lines = lines(&path);
    assert_eq!(lines.len(), 2, "a newline in a name cannot forge a line");
    assert_eq!(parse(&lines[0])["name"], forged);
    let cut = parse(&lines[1]);
    let name = cut["name"].as_str().unwrap();
    assert!(name.ends_with('…'));
    assert!(name.len() <= MAX_FIELD_BYTES + '…'.len_utf8());
    assert!(name.trim_end_matches('…').chars().all(|c| c == 'é'));
    assert!(lines[1].len() < 4 * MAX_FIELD_BYTES, "{}", lines[1].len());
}

#[test]
fn open_appends_to_an_existing_file_and_reopen_follows_rotation() {
    let dir = TempDir::new();
    let path = dir.join("audit.jsonl");
    std::fs::write(&path, "previous\n").unwrap();
    let log = AuditLog::open(&path).unwrap();
    let decision = GatewayPolicy::allow_all().decide(None, Target::Tool("t"));
    let record = AuditRecord::from_decision(NOW, None, None, "tools/call", "t", &decision);
    log.record(&record);
    let before = lines(&path);
    assert_eq!(before.len(), 2);
    assert_eq!(before[0], "previous");

    // logrotate-style: move the file away, then reopen.
    let rotated = dir.join("audit.jsonl.1");
    std::fs::rename(&path, &rotated).unwrap();
    log.reopen().unwrap();
    log.record(&record);
    assert_eq!(lines(&rotated).len(), 2);
    assert_eq!(lines(&path).len(), 1);
    parse(&lines(&path)[0]);
}

#[test]
fn disabled_log_records_nothing() {
    let log = AuditLog::disabled();
    assert!(!log.is_enabled());
    let decision = GatewayPolicy::allow_all().decide(None, Target::Tool("t"));
    log.record(&AuditRecord::from_decision(
        NOW,
        None,
        None,
        "tools/call",
        "t",
        &decision,
    ));
    assert_eq!((log.written(), log.failures()), (0, 0));
    log.reopen().unwrap();
}

#[test]
fn open_errors_are_typed() {
    let dir = TempDir::new();
    let path = dir.join("no-such-dir").join("audit.jsonl");
    assert!(matches!(
        AuditLog::open(&path),
        Err(GatewayError::AuditOpen { path: p, .. }) if p == path
    ));
    assert!(matches!(
        AuditLog::open(dir.path()),
        Err(GatewayError::AuditOpen { .. })
    ));
}

#[cfg(target_os = "linux")]
#[test]
fn write_failures_are_counted_not_raised() {
    // Every write to /dev/full fails with ENOSPC.
    let log = AuditLog::open(std::path::Path::new("/dev/full")).unwrap();
    let decision = GatewayPolicy::allow_all().decide(None, Target::Tool("t"));
    let record = AuditRecord::from_decision(NOW, None, None, "tools/call", "t", &decision);
    for _ in 0..3 {
        log.record(&record);
    }
    assert_eq!((log.written(), log.failures()), (0, 3));
}
