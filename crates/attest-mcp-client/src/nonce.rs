//! `NonceTracker`: the server's proof nonces (SPEC.md §17.9), as the client learns them, and
//! the one retry a request refused for its nonce gets.
//!
//! Plain code, no I/O: [`crate::AttestingTransport`] tells it what it sent
//! ([`NonceTracker::sent`]) and asks it about every message it receives
//! ([`NonceTracker::received`]), which learns nonces from advertisements (`proof_nonce` in an
//! `initialize` or `server/discover` result) and from refusals (`data.nonce`), and decides
//! whether to hand the message to the caller or to sign the request again and resend it.

use std::collections::HashMap;

use attest_core::Reason;
use attest_protocol::{EXTENSION_ID, LEGACY_KEY};
use rmcp::model::{RequestId, ServerCapabilities, ServerJsonRpcMessage, ServerResult};
use serde_json::Value;

/// How many requests awaiting their response are remembered for a retry. Past that, new
/// requests are sent as usual but not retried: the memory of a client whose server never
/// answers stays bounded.
pub(crate) const MAX_TRACKED: usize = 4096;

/// What to do with a received message.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict<R> {
    /// Hand it to the caller.
    Deliver,
    /// Drop it: it refused request `R` (as first given to [`NonceTracker::sent`]) for its
    /// nonce, and named a new one ([`NonceTracker::latest`]). Sign `R` again and resend it,
    /// with the same id. This happens at most once per request.
    Retry(R),
}

#[derive(Debug)]
struct InFlight<R> {
    request: R,
    retried: bool,
}

/// The latest nonce the server named, and the requests that may still be retried.
#[derive(Debug)]
pub(crate) struct NonceTracker<R> {
    latest: Option<String>,
    in_flight: HashMap<RequestId, InFlight<R>>,
}

impl<R> Default for NonceTracker<R> {
    fn default() -> Self {
        NonceTracker {
            latest: None,
            in_flight: HashMap::new(),
        }
    }
}

impl<R: Clone> NonceTracker<R> {
    /// The nonce to put in the next proof, if the server named one.
    pub(crate) fn latest(&self) -> Option<&str> {
        self.latest.as_deref()
    }

    /// Remembers `request`, sent with a proof under `id`, until its response: a refusal for
    /// its nonce gets it back once ([`Verdict::Retry`]).
    pub(crate) fn sent(&mut self, id: RequestId, request: R) {
        if self.in_flight.len() < MAX_TRACKED || self.in_flight.contains_key(&id) {
            self.in_flight.insert(
                id,
                InFlight {
                    request,
                    retried: false,
                },
            );
        }
    }

    /// Learns the nonce a received message names, and decides what to do with the message.
    pub(crate) fn received(&mut self, message: &ServerJsonRpcMessage) -> Verdict<R> {
        match message {
            ServerJsonRpcMessage::Response(response) => {
                if let Some(nonce) = advertised_nonce(&response.result) {
                    self.latest = Some(nonce.to_owned());
                }
                self.in_flight.remove(&response.id);
                Verdict::Deliver
            }
            ServerJsonRpcMessage::Error(error) => {
                let data = error.error.data.as_ref();
                let nonce = data
                    .and_then(|d| d.get("nonce"))
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty());
                if let Some(nonce) = nonce {
                    self.latest = Some(nonce.to_owned());
                }
                let Some(id) = &error.id else {
                    return Verdict::Deliver;
                };
                let for_nonce = nonce.is_some()
                    && data.and_then(|d| d.get("reason")).and_then(Value::as_str)
                        == Some(Reason::ProofMismatch.as_str());
                match self.in_flight.get_mut(id) {
                    Some(in_flight) if for_nonce && !in_flight.retried => {
                        in_flight.retried = true;
                        Verdict::Retry(in_flight.request.clone())
                    }
                    _ => {
                        self.in_flight.remove(id);
                        Verdict::Deliver
                    }
                }
            }
            ServerJsonRpcMessage::Request(_) | ServerJsonRpcMessage::Notification(_) => {
                Verdict::Deliver
            }
        }
    }

    /// Forgets request `id`: its retry could not be sent, and its refusal goes to the caller.
    pub(crate) fn forget(&mut self, id: &RequestId) {
        self.in_flight.remove(id);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.in_flight.len()
    }
}

/// The `proof_nonce` of the attestation advertisement in an `initialize` or `server/discover`
/// result (SPEC.md §17.9), from either carrier, the extension's first.
fn advertised_nonce(result: &ServerResult) -> Option<&str> {
    let capabilities: &ServerCapabilities = match result {
        ServerResult::InitializeResult(result) => &result.capabilities,
        ServerResult::DiscoverResult(result) => &result.capabilities,
        _ => return None,
    };
    proof_nonce(
        capabilities
            .extensions
            .as_ref()
            .and_then(|e| e.get(EXTENSION_ID)),
    )
    .or_else(|| {
        proof_nonce(
            capabilities
                .experimental
                .as_ref()
                .and_then(|e| e.get(LEGACY_KEY)),
        )
    })
}

/// The non-empty string `proof_nonce` of an advertisement.
fn proof_nonce(advertisement: Option<&serde_json::Map<String, Value>>) -> Option<&str> {
    advertisement
        .and_then(|a| a.get("proof_nonce"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(value: Value) -> ServerJsonRpcMessage {
        serde_json::from_value(value).unwrap()
    }

    fn refusal(id: i64, reason: &str, nonce: Option<&str>) -> ServerJsonRpcMessage {
        let mut data = json!({"reason": reason, "policy": "required", "trusted_issuers": []});
        if let Some(nonce) = nonce {
            data["nonce"] = json!(nonce);
        }
        message(json!({"jsonrpc": "2.0", "id": id, "error": {
            "code": -31013, "message": "refused", "data": data}}))
    }

    fn discover(nonce: &str, carrier: &str) -> ServerJsonRpcMessage {
        let advertisement = json!({"version": "0.1.0", "policy": "required", "proof_nonce": nonce});
        let capabilities = match carrier {
            "extensions" => json!({"extensions": {EXTENSION_ID: advertisement}}),
            _ => json!({"experimental": {LEGACY_KEY: advertisement}}),
        };
        message(json!({"jsonrpc": "2.0", "id": 0, "result": {
            "resultType": "complete", "supportedVersions": ["2026-07-28"],
            "capabilities": capabilities, "serverInfo": {"name": "s", "version": "1"},
            "ttlMs": 0, "cacheScope": "private"}}))
    }

    fn id(n: i64) -> RequestId {
        RequestId::Number(n)
    }

    #[test]
    fn learns_the_nonce_from_either_advertisement_carrier() {
        for carrier in ["extensions", "experimental"] {
            let mut tracker = NonceTracker::<&str>::default();
            assert_eq!(tracker.latest(), None);
            let discovered = discover("n-1", carrier);
            assert!(
                matches!(&discovered, ServerJsonRpcMessage::Response(r)
                    if matches!(r.result, ServerResult::DiscoverResult(_))),
                "{discovered:?}"
            );
            assert_eq!(tracker.received(&discovered), Verdict::Deliver);
            assert_eq!(tracker.latest(), Some("n-1"), "{carrier}");
        }
    }

    #[test]
    fn a_refusal_for_the_nonce_is_retried_once_then_delivered() {
        let mut tracker = NonceTracker::default();
        tracker.sent(id(7), "call");
        assert_eq!(
            tracker.received(&refusal(7, "attestation_proof_mismatch", Some("n-2"))),
            Verdict::Retry("call")
        );
        assert_eq!(tracker.latest(), Some("n-2"));
        // The retry is refused again: the caller sees it, and the request is forgotten.
        assert_eq!(
            tracker.received(&refusal(7, "attestation_proof_mismatch", Some("n-3"))),
            Verdict::Deliver
        );
        assert_eq!(tracker.latest(), Some("n-3"));
        assert_eq!(tracker.tracked(), 0);
        assert_eq!(
            tracker.received(&refusal(7, "attestation_proof_mismatch", Some("n-4"))),
            Verdict::Deliver
        );
    }

    #[test]
    fn a_retried_request_that_succeeds_is_forgotten() {
        let mut tracker = NonceTracker::default();
        tracker.sent(id(1), "call");
        assert_eq!(
            tracker.received(&refusal(1, "attestation_proof_mismatch", Some("n"))),
            Verdict::Retry("call")
        );
        let ok = message(json!({"jsonrpc": "2.0", "id": 1, "result": {}}));
        assert_eq!(tracker.received(&ok), Verdict::Deliver);
        assert_eq!(tracker.tracked(), 0);
    }

    #[test]
    fn other_refusals_and_unknown_requests_are_delivered() {
        let mut tracker = NonceTracker::default();
        tracker.sent(id(1), "a");
        tracker.sent(id(2), "b");
        tracker.sent(id(3), "c");
        // Another reason, even with a nonce: delivered (the nonce is still learned).
        assert_eq!(
            tracker.received(&refusal(1, "attestation_proof_stale", Some("n-1"))),
            Verdict::Deliver
        );
        assert_eq!(tracker.latest(), Some("n-1"));
        // A mismatch without a nonce (e.g. a changed argument): nothing to retry with.
        assert_eq!(
            tracker.received(&refusal(2, "attestation_proof_mismatch", None)),
            Verdict::Deliver
        );
        // An empty nonce is no nonce.
        assert_eq!(
            tracker.received(&refusal(3, "attestation_proof_mismatch", Some(""))),
            Verdict::Deliver
        );
        assert_eq!(tracker.latest(), Some("n-1"));
        // A request it was never told about (sent without a proof): delivered.
        assert_eq!(
            tracker.received(&refusal(9, "attestation_proof_mismatch", Some("n-9"))),
            Verdict::Deliver
        );
        // An error without an id, or not an attestation error at all.
        let no_id =
            message(json!({"jsonrpc": "2.0", "error": {"code": -32700, "message": "parse"}}));
        assert_eq!(tracker.received(&no_id), Verdict::Deliver);
        let plain = message(json!({"jsonrpc": "2.0", "id": 4, "error": {
            "code": -32602, "message": "bad", "data": {"nonce": 5}}}));
        assert_eq!(tracker.received(&plain), Verdict::Deliver);
        assert_eq!(tracker.latest(), Some("n-9"));
        assert_eq!(tracker.tracked(), 0);
    }

    #[test]
    fn forget_drops_a_request_and_memory_is_bounded() {
        let mut tracker = NonceTracker::default();
        tracker.sent(id(1), 1);
        tracker.forget(&id(1));
        assert_eq!(
            tracker.received(&refusal(1, "attestation_proof_mismatch", Some("n"))),
            Verdict::Deliver
        );
        for n in 0..(MAX_TRACKED as i64 + 10) {
            tracker.sent(id(n), n);
        }
        assert_eq!(tracker.tracked(), MAX_TRACKED);
        // Past the bound, a request is sent but not retried.
        assert_eq!(
            tracker.received(&refusal(
                MAX_TRACKED as i64 + 5,
                "attestation_proof_mismatch",
                Some("n")
            )),
            Verdict::Deliver
        );
        assert_eq!(
            tracker.received(&refusal(5, "attestation_proof_mismatch", Some("n"))),
            Verdict::Retry(5)
        );
    }
}
