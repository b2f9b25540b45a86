//! Unit tests: pairing issuers with key sources.

use super::*;

#[test]
fn one_source_serves_every_issuer_and_n_sources_pair_in_order() {
    let issuers = vec!["a".to_owned(), "b".to_owned()];
    let one = vec!["x"];
    assert_eq!(
        pair(&issuers, &one, "--jwks").unwrap(),
        vec![("a", &"x"), ("b", &"x")]
    );
    let two = vec!["x", "y"];
    assert_eq!(
        pair(&issuers, &two, "--jwks").unwrap(),
        vec![("a", &"x"), ("b", &"y")]
    );
    let three = vec!["x", "y", "z"];
    assert!(matches!(
        pair(&issuers, &three, "--jwks"),
        Err(CliError::Usage(_))
    ));
}
