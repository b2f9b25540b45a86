//! Unit tests of the policy internals: URI normal form and parser messages.

use super::*;

#[test]
fn normal_uris() {
    for uri in [
        "file:///srv/a.txt",
        "file:///srv/My%20Docs/a.txt",
        "file:///srv/a..b/.hidden/...",
        "https://example.com/x?q=%26&r=%3F#frag",
        "urn:isbn:0451450523",
        "no-scheme/at/all",
        "not a scheme:x",
        "",
        "%C3%A9t%C3%A9",
    ] {
        assert!(uri::is_normalized(uri), "{uri}");
    }
}

#[test]
fn uris_that_are_not_in_normal_form() {
    for uri in [
        // dot segments, anywhere
        "file:///a/../b",
        "file:///a/./b",
        "file:///a/..",
        "..",
        "./a",
        "file:///a/..?q",
        "file:///a/..#f",
        "https://h/p?x=/../",
        // escaped unreserved characters, `/` and `\`, in either case
        "file:///a/%2e%2e/b",
        "file:///a/%2E/b",
        "file:///%61",
        "file:///%7E",
        "file:///%7e",
        "file:///%5F",
        "file:///%2D",
        "file:///%30",
        "file:///a%2fb",
        "file:///a%2Fb",
        "file:///a%5cb",
        // malformed escapes
        "file:///a%",
        "file:///a%2",
        "file:///a%g0",
        "file:///a%0g",
        // backslashes and control characters
        "file:///a\\b",
        "file:///a\0b",
        "file:///a\tb",
        "file:///a\u{7f}b",
        // uppercase scheme
        "FILE:///a",
        "File:///a",
        "hTTps://h/p",
        "C-3PO:droid",
    ] {
        assert!(!uri::is_normalized(uri), "{uri:?}");
    }
}

#[test]
fn toml_messages_are_one_line_with_a_position() {
    let text = "default = \"deny\"\n\n[[rule]]\nname = \"r\"\n  tols = [\"x\"]\n";
    let error = toml::from_str::<RawPolicy>(text).unwrap_err();
    let message = toml_message(text, &error);
    assert!(message.starts_with("line 5, column 3: "), "{message}");
    assert!(message.contains("tols"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn requirement_keys_are_reported_in_order() {
    assert_eq!(Requirements::default().first_present(), None);
    let r = Requirements {
        capabilities: Some(vec!["c".into()]),
        min_safety_level: Some(SafetyLevel::Minimal),
        ..Requirements::default()
    };
    assert_eq!(r.first_present(), Some("min_safety_level"));
}
