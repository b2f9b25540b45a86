//! `StaticToken` and the `TokenSource` trait as a trait object.

use std::sync::Arc;

use attest_mcp_client::{ClientError, Freshness, LocalSigner, StaticToken, TokenSource};

use crate::common::{AUDIENCE, key, template};

#[tokio::test]
async fn static_token_is_handed_out_as_is() {
    let source = StaticToken::new("eyJ.static.token").unwrap();
    assert_eq!(source.freshness(), Freshness::PerSession);
    assert_eq!(
        source.token(AUDIENCE).await.unwrap().as_str(),
        "eyJ.static.token"
    );
    assert_eq!(
        source.token("other").await.unwrap().as_str(),
        "eyJ.static.token"
    );
    assert!(
        !format!("{source:?}").contains("static.token"),
        "Debug is redacted"
    );
}

#[test]
fn static_token_refuses_per_request_and_empty() {
    assert!(matches!(
        StaticToken::with_freshness("eyJ.a.b", Freshness::PerRequest),
        Err(ClientError::FreshnessUnsupported)
    ));
    assert!(StaticToken::with_freshness("eyJ.a.b", Freshness::PerSession).is_ok());
    assert!(matches!(
        StaticToken::new(""),
        Err(ClientError::Protocol(_))
    ));
}

#[tokio::test]
async fn sources_are_usable_as_shared_trait_objects() {
    let sources: Vec<Arc<dyn TokenSource>> = vec![
        Arc::new(StaticToken::new("eyJ.a.b").unwrap()),
        Arc::new(LocalSigner::new(key(), template()).unwrap()),
    ];
    for source in sources {
        let shared = Arc::clone(&source);
        let handle =
            tokio::spawn(
                async move { shared.token(AUDIENCE).await.map(|t| t.as_str().to_owned()) },
            );
        assert!(!handle.await.unwrap().unwrap().is_empty());
        // `Arc<S>` is itself a source.
        assert!(source.token(AUDIENCE).await.is_ok());
    }
}
