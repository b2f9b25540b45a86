//! Unit tests of the audit line format: time and field caps.

use super::*;

#[test]
fn cap_cuts_at_a_character_boundary() {
    assert!(matches!(cap("short"), Cow::Borrowed("short")));
    let exact = "a".repeat(MAX_FIELD_BYTES);
    assert_eq!(cap(&exact), exact.as_str());
    // 'é' is two bytes: 1023 bytes of 'a' then 'é' straddles the limit, so it is dropped.
    let straddle = format!("{}é", "a".repeat(MAX_FIELD_BYTES - 1));
    assert_eq!(
        cap(&straddle),
        format!("{}…", "a".repeat(MAX_FIELD_BYTES - 1))
    );
    let long = "€".repeat(MAX_FIELD_BYTES);
    let cut = cap(&long);
    assert!(cut.len() <= MAX_FIELD_BYTES + '…'.len_utf8());
    assert!(cut.trim_end_matches('…').chars().all(|c| c == '€'));
}

#[test]
fn a_record_is_one_line_ending_in_a_newline() {
    let record = AuditRecord {
        time: 0,
        session: Some("a\nb"),
        issuer: None,
        subject: None,
        method: "tools/call",
        name: "\u{2028}x\r",
        allowed: false,
        reason: "rule_deny",
        rule: Some("r"),
    };
    let line = record.to_json_line();
    assert!(line.ends_with('\n'));
    assert_eq!(line.matches('\n').count(), 1);
    assert!(!line.contains('\r'));
    assert_eq!(
        line,
        "{\"time\":\"1970-01-01T00:00:00Z\",\"session\":\"a\\nb\",\"issuer\":null,\"subject\":null,\
         \"method\":\"tools/call\",\"name\":\"\u{2028}x\\r\",\"decision\":\"deny\",\
         \"reason\":\"rule_deny\",\"rule\":\"r\"}\n"
    );
}
