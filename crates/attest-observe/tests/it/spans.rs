//! Spans carry issuer, kid and reason, and never the token.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};

use attest_core::{Policy, TokenBuilder};
use attest_observe::{FetchFailure, spans};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use crate::common::{self, AUDIENCE, ISSUER, KID, NOW};

/// Everything a subscriber is told, as text lines.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, "{}={value} ", field.name());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let mut fields = Fields(String::new());
        attrs.record(&mut fields);
        self.0
            .lock()
            .unwrap()
            .push(format!("new {} {}", attrs.metadata().name(), fields.0));
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields(String::new());
        values.record(&mut fields);
        let name = ctx.span(id).map(|s| s.name()).unwrap_or("?");
        self.0
            .lock()
            .unwrap()
            .push(format!("record {name} {}", fields.0));
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let parent = ctx.event_span(event).map(|s| s.name()).unwrap_or("-");
        self.0
            .lock()
            .unwrap()
            .push(format!("event in {parent} {}", fields.0));
    }
}

#[test]
fn spans_carry_structured_fields_and_never_the_token() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let observer = common::observer();
    let key = common::issuer_key();
    let good = common::token(ISSUER, &key, 20);
    let tampered = common::tamper(&common::token(ISSUER, &key, 21));

    tracing::subscriber::with_default(subscriber, || {
        observer
            .verify(&good, &common::trust(), &common::policy(), NOW)
            .unwrap();
        let _ = observer.verify(&tampered, &common::trust(), &common::policy(), NOW);
        let elsewhere = Policy::builder()
            .trusted_issuer(ISSUER)
            .audience("https://b.example")
            .build()
            .unwrap();
        let _ = observer.verify(&good, &common::trust(), &elsewhere, NOW);

        let guard = observer.start_token_creation(ISSUER, KID);
        let minted = TokenBuilder::new(ISSUER, "spiffe://issuer.example/model/m")
            .audience(AUDIENCE)
            .identity(attest_core::AgentIdentity::new(
                "claude",
                "sonnet-4",
                "anthropic",
            ))
            .metadata(attest_core::AttestationMetadata::provider())
            .sign(&key, NOW, &mut common::rng(22))
            .unwrap();
        guard.finish(Ok(()));
        assert!(!minted.is_empty());

        observer
            .start_jwks_fetch(ISSUER)
            .finish(Err(FetchFailure::HttpStatus));
    });

    let lines = capture.0.lock().unwrap().join("\n");
    for name in [spans::VERIFY, spans::CREATE_TOKEN, spans::JWKS_FETCH] {
        assert!(
            lines.contains(&format!("new {name} ")),
            "no {name} span:\n{lines}"
        );
    }
    assert!(
        lines.contains(&format!("record attestation.verify issuer={ISSUER}")),
        "{lines}"
    );
    assert!(
        lines.contains(&format!("record attestation.verify kid={KID}")),
        "{lines}"
    );
    assert!(lines.contains("reason=attestation_invalid"), "{lines}");
    assert!(lines.contains("detail=signature_mismatch"), "{lines}");
    assert!(
        lines.contains("reason=attestation_audience_mismatch"),
        "{lines}"
    );
    assert!(
        lines.contains(
            "new attestation.create_token issuer=https://issuer.example kid=issuer-key-1"
        ),
        "{lines}"
    );
    assert!(lines.contains("reason=http_status"), "{lines}");
    assert!(lines.contains("event in attestation.verify"), "{lines}");

    // No token, nor any of its segments, reached a span or an event.
    for token in [&good, &tampered] {
        for part in std::iter::once(token.as_str()).chain(token.split('.')) {
            assert!(!lines.contains(part), "a token segment leaked:\n{lines}");
        }
    }
}
