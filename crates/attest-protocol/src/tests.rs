//! Unit tests for the crate-private JSON readers.

use serde_json::json;

use crate::error::ProtocolError;
use crate::json::{child, clip, container, string, string_list};

#[test]
fn pointers_escape_tilde_and_slash() {
    assert_eq!(child("", "a"), "/a");
    assert_eq!(
        child("/_meta", "io.github.attest-rs/agent-attestation"),
        "/_meta/io.github.attest-rs~1agent-attestation"
    );
    assert_eq!(child("", "a~b"), "/a~0b");
}

#[test]
fn clip_cuts_on_a_char_boundary() {
    assert_eq!(clip("short"), "short");
    let long = "é".repeat(100);
    let clipped = clip(&long);
    assert!(clipped.len() <= 64 + '…'.len_utf8());
    assert!(clipped.ends_with('…'));
}

#[test]
fn readers_name_the_member_at_fault() {
    let object = json!({"s": "x", "n": 1, "l": ["a", 2], "o": "not an object", "z": null});
    let object = object.as_object().unwrap();
    assert_eq!(string(object, "/p", "s"), Ok("x"));
    assert_eq!(
        string(object, "/p", "n"),
        Err(ProtocolError::WrongType {
            pointer: "/p/n".into(),
            expected: "a string"
        })
    );
    assert_eq!(
        string(object, "/p", "missing"),
        Err(ProtocolError::MissingMember {
            pointer: "/p".into(),
            member: "missing"
        })
    );
    assert_eq!(
        string_list(object, "", "l").unwrap_err().pointer(),
        Some("/l")
    );
    assert_eq!(string_list(object, "", "absent"), Ok(None));
    assert_eq!(
        container(object, "", "o"),
        Err(ProtocolError::NotAnObject {
            pointer: "/o".into()
        })
    );
    assert_eq!(container(object, "", "z"), Ok(None));
}
