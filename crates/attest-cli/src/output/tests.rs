//! Unit tests of the formatters.

use super::*;

#[test]
fn durations_and_expiry() {
    assert_eq!(human_duration(0), "0s");
    assert_eq!(human_duration(59), "59s");
    assert_eq!(human_duration(252), "4m 12s");
    assert_eq!(human_duration(7_500), "2h 5m");
    assert_eq!(human_duration(277_200), "3d 5h");
    let now = UnixTime::from_secs(1_000);
    assert_eq!(expiry_relative(1_252, now), "expires in 4m 12s");
    assert_eq!(expiry_relative(820, now), "expired 3m 0s ago");
    assert_eq!(expiry_relative(1_000, now), "expired 0s ago");
    assert_eq!(relative(1_000, now), "now");
    assert_eq!(
        relative(u64::MAX, now),
        format!("in {}", human_duration(u64::MAX - 1_000))
    );
}

#[test]
fn one_line_removes_control_characters() {
    assert_eq!(one_line("a\nb\r\tc\u{1b}[31m"), "a b  c [31m");
}
