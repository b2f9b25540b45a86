//! Unit tests for the crate-private pieces: field clipping and the issuer label mapping.

use crate::guard::clip;
use crate::{ISSUER_NONE, ISSUER_UNTRUSTED, ObserveError, Observer};

#[test]
fn clip_keeps_short_fields_and_cuts_long_ones_on_a_char_boundary() {
    assert_eq!(clip("https://issuer.example"), "https://issuer.example");
    let long = "é".repeat(300);
    let clipped = clip(&long);
    assert!(clipped.len() <= 256);
    assert!(long.starts_with(clipped));
}

#[test]
fn issuer_labels_are_bounded() {
    let observer = Observer::builder()
        .trusted_issuer("https://a.example")
        .trusted_issuers(["https://b.example", "https://a.example"])
        .build()
        .unwrap();
    assert_eq!(
        observer.issuer_label(Some("https://a.example")),
        "https://a.example"
    );
    assert_eq!(
        observer.issuer_label(Some("https://b.example")),
        "https://b.example"
    );
    assert_eq!(
        observer.issuer_label(Some("https://a.example/")),
        ISSUER_UNTRUSTED
    );
    assert_eq!(observer.issuer_label(Some("untrusted")), ISSUER_UNTRUSTED);
    assert_eq!(observer.issuer_label(None), ISSUER_NONE);
}

#[test]
fn reserved_label_values_cannot_be_trusted_issuers() {
    for bad in ["", "untrusted", "none"] {
        assert_eq!(
            Observer::builder().trusted_issuer(bad).build().unwrap_err(),
            ObserveError::ReservedIssuer(bad.into())
        );
    }
}

#[test]
fn two_observers_cannot_share_a_registry() {
    let first = Observer::builder().build().unwrap();
    let second = Observer::builder()
        .registry(first.registry().clone())
        .build();
    assert!(matches!(second, Err(ObserveError::Registration { .. })));
}

#[test]
fn observer_and_guards_can_cross_threads_and_awaits() {
    fn assert_send_sync_static<T: Send + Sync + 'static>() {}
    assert_send_sync_static::<Observer>();
    assert_send_sync_static::<crate::VerificationGuard>();
    assert_send_sync_static::<crate::CreationGuard>();
    assert_send_sync_static::<crate::FetchGuard>();
}
