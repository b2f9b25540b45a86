//! `Verifier`: the async verification pipeline, usable without MCP.

use std::sync::Arc;
use std::time::Duration;

use attest_cache::{
    Clock, Freshness, Health, MemoryReplayStore, ReplayMetrics, ReplayStore, SystemClock,
};
use attest_core::proof::{ExpectedRequest, ProofLimits, RequestBinding, VerifiedProof};
use attest_core::{Policy, ProofError, UnixTime, Verified, VerifyError, dangerous};
use attest_observe::{Observer, VerificationGuard};
use sha2::{Digest, Sha256};

use crate::agent::VerifiedAgent;
use crate::error::VerifierError;
use crate::keys::{KeyLookupError, KeySource};

/// Default size of the verified-token cache.
const DEFAULT_CACHE_CAPACITY: u64 = 100_000;

/// The verification pipeline: decode, resolve the key, verify, then record the `jti`.
///
/// Cheap to clone; clones share keys, replay store, cache and metrics.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    policy: Policy,
    keys: Arc<dyn KeySource>,
    replay: Arc<dyn ReplayStore>,
    observer: Observer,
    clock: Arc<dyn Clock>,
    /// Tokens already verified on this node, by SHA-256 of the whole token (SPEC.md §13.4).
    reusable: moka::sync::Cache<[u8; 32], VerifiedAgent>,
    /// What a proof of possession may be (SPEC.md §17).
    proof_limits: ProofLimits,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Verifier`].
#[must_use]
pub struct VerifierBuilder {
    policy: Policy,
    keys: Option<Arc<dyn KeySource>>,
    replay: Option<Arc<dyn ReplayStore>>,
    observer: Option<Observer>,
    clock: Arc<dyn Clock>,
    cache_capacity: u64,
    proof_limits: Option<ProofLimits>,
}

impl VerifierBuilder {
    /// What proofs of possession may be (SPEC.md §17): the proof window (default 60 s), the
    /// leeway on a future `iat` (default: the policy's leeway) and the caps.
    pub fn proof_limits(mut self, limits: ProofLimits) -> Self {
        self.proof_limits = Some(limits);
        self
    }

    /// Where keys come from (required).
    pub fn keys(mut self, keys: impl KeySource + 'static) -> Self {
        self.keys = Some(Arc::new(keys));
        self
    }

    /// Where keys come from, shared (required, or [`VerifierBuilder::keys`]).
    pub fn shared_keys(mut self, keys: Arc<dyn KeySource>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The replay store. Default: an in-memory store (single node only), reporting into the
    /// observer's registry. A store built by the caller reports wherever its `ReplayMetrics`
    /// were registered (use [`Observer::registry`]).
    pub fn replay_store(mut self, store: Arc<dyn ReplayStore>) -> Self {
        self.replay = Some(store);
        self
    }

    /// The observer that counts and traces every decision. Default: a fresh one trusting the
    /// policy's issuers.
    pub fn observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The clock. Default: the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Capacity of the verified-token cache. Default 100,000.
    pub fn cache_capacity(mut self, capacity: u64) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Builds the verifier.
    pub fn build(self) -> Result<Verifier, VerifierError> {
        let keys = self
            .keys
            .ok_or_else(|| VerifierError::KeysUnavailable("no key source configured".into()))?;
        let observer = match self.observer {
            Some(observer) => observer,
            None => Observer::builder()
                .policy(&self.policy)
                .build()
                .map_err(|e| VerifierError::KeysUnavailable(format!("metrics: {e}")))?,
        };
        let replay = match self.replay {
            Some(store) => store,
            None => {
                // The default store reports into the same registry as everything else.
                let metrics = ReplayMetrics::register(observer.registry())
                    .map_err(|e| VerifierError::ReplayStoreUnavailable(e.to_string()))?;
                let store = MemoryReplayStore::builder()
                    .clock(self.clock.clone())
                    .metrics(&metrics)
                    .build()
                    .map_err(|e| VerifierError::ReplayStoreUnavailable(e.to_string()))?;
                Arc::new(store)
            }
        };
        // Entries also carry their own validity, checked on every read; the TTL only bounds
        // how long an unused entry occupies memory.
        let ttl = self
            .policy
            .max_lifetime_secs()
            .saturating_add(self.policy.leeway_secs());
        let reusable = moka::sync::Cache::builder()
            .max_capacity(self.cache_capacity)
            .time_to_live(Duration::from_secs(ttl))
            .build();
        let proof_limits = self.proof_limits.unwrap_or(ProofLimits {
            leeway_secs: self.policy.leeway_secs(),
            ..ProofLimits::default()
        });
        Ok(Verifier {
            inner: Arc::new(Inner {
                policy: self.policy,
                keys,
                replay,
                observer,
                clock: self.clock,
                reusable,
                proof_limits,
            }),
        })
    }
}

impl Verifier {
    /// Starts a verifier for `policy`.
    pub fn builder(policy: Policy) -> VerifierBuilder {
        VerifierBuilder {
            policy,
            keys: None,
            replay: None,
            observer: None,
            clock: Arc::new(SystemClock),
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            proof_limits: None,
        }
    }

    /// What proofs of possession may be.
    pub fn proof_limits(&self) -> &ProofLimits {
        &self.inner.proof_limits
    }

    /// The policy tokens are verified against.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The observer decisions are reported to.
    pub fn observer(&self) -> &Observer {
        &self.inner.observer
    }

    /// The replay store's health.
    pub fn replay_health(&self) -> Health {
        self.inner.replay.health()
    }

    /// The current time by the verifier's clock.
    pub fn now(&self) -> UnixTime {
        UnixTime::from_secs(self.inner.clock.now_millis() / 1000)
    }

    /// Verifies `token` and records its `jti`: the token is accepted once. This is the check for
    /// `initialize`, where a token binds one session.
    ///
    /// Steps (SPEC.md §5): decode without verifying, refuse an untrusted issuer before any key
    /// lookup, resolve the key by `(iss, kid)`, verify signature and claims, and only then
    /// record the `jti` in the replay store, atomically. Every outcome is counted and traced.
    pub async fn verify(&self, token: &str) -> Result<VerifiedAgent, VerifierError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.verify_digested(token, &digest).await
    }

    async fn verify_digested(
        &self,
        token: &str,
        digest: &[u8; 32],
    ) -> Result<VerifiedAgent, VerifierError> {
        let mut guard = self.inner.observer.start_verification();
        let result = self.verify_and_record(token, digest, &mut guard).await;
        finish(guard, &result);
        result
    }

    /// Verifies `token`, or returns the identity this node already verified for the very same
    /// token (SPEC.md §13.4). For protocol 2026-07-28, where a token may accompany many requests.
    ///
    /// The first presentation runs [`Verifier::verify`] (recording the `jti`); later
    /// presentations of the identical token, until `exp` plus leeway, skip the signature check.
    pub async fn verify_reusable(&self, token: &str) -> Result<VerifiedAgent, VerifierError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(agent) = self.inner.reusable.get(&digest) {
            if self.now() <= agent.valid_until() {
                let mut guard = self.inner.observer.start_verification();
                guard.set_issuer(agent.issuer());
                guard.finish(Ok(()));
                return Ok(agent);
            }
            self.inner.reusable.invalidate(&digest);
        }
        let agent = self.verify_digested(token, &digest).await?;
        self.inner.reusable.insert(digest, agent.clone());
        Ok(agent)
    }

    /// Checks a request's proof of possession (SPEC.md §17) against `agent`, an attestation
    /// verified for this request (presented with it, served from the verified-token cache, or
    /// bound to its session), and only then records the proof's `jti`.
    ///
    /// The proof must be signed by the key `agent`'s `cnf` names, and bind `agent`'s token
    /// (`ath`), one of the policy's audiences (`aud`), the request (`mth`, `nam`, `ph` from
    /// `request`) and, when the server issued one, `nonce`; its `iat` must lie within the
    /// proof window. Its `jti` is recorded in the replay store under `proof:` + the key's
    /// thumbprint (apart from attestation `jti`s) until the window closes.
    pub async fn verify_proof(
        &self,
        agent: &VerifiedAgent,
        proof: &str,
        request: &RequestBinding,
        nonce: Option<&str>,
    ) -> Result<VerifiedProof, VerifierError> {
        let key = agent
            .confirmation_key()
            .ok_or(ProofError::NoConfirmationKey)?;
        let expected = ExpectedRequest {
            audiences: self.inner.policy.audiences(),
            token_hash: agent.token_hash(),
            binding: request,
            nonce,
        };
        let proven = attest_core::proof::verify_proof(
            proof,
            key,
            &expected,
            &self.inner.proof_limits,
            self.now(),
        )?;
        // Only now, after every other check, is the proof's jti recorded.
        let freshness = self
            .inner
            .replay
            .check_and_record(proven.replay_issuer(), proven.jti(), proven.record_until())
            .await
            .map_err(|e| VerifierError::ReplayStoreUnavailable(e.to_string()))?;
        match freshness {
            Freshness::Fresh => Ok(proven),
            Freshness::Replayed => Err(VerifierError::ProofReplay),
        }
    }

    /// Verifies `token` without recording its `jti` yet: [`Verifier::record`] does, once the
    /// request has passed every other check. For `initialize` under a proof policy, so that a
    /// stolen key-bound token presented without the agent's key is refused without being spent
    /// (SPEC.md §17.8).
    pub(crate) async fn verify_unrecorded(&self, token: &str) -> Result<Unrecorded, VerifierError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut guard = self.inner.observer.start_verification();
        match self.verify_unreplayed(token, &mut guard).await {
            Ok(verified) => Ok(Unrecorded {
                agent: VerifiedAgent::new(verified, &digest),
                guard,
            }),
            Err(e) => {
                finish_error(guard, &e);
                Err(e)
            }
        }
    }

    /// Records the `jti` of an attestation [`Verifier::verify_unrecorded`] verified: the
    /// replay check, the last step of verification (SPEC.md §5 step 11).
    pub(crate) async fn record(
        &self,
        unrecorded: Unrecorded,
    ) -> Result<VerifiedAgent, VerifierError> {
        let Unrecorded { agent, guard } = unrecorded;
        let result = self.record_agent(&agent).await.map(|()| agent);
        finish(guard, &result);
        result
    }

    async fn verify_and_record(
        &self,
        token: &str,
        digest: &[u8; 32],
        guard: &mut VerificationGuard,
    ) -> Result<VerifiedAgent, VerifierError> {
        let agent = VerifiedAgent::new(self.verify_unreplayed(token, guard).await?, digest);
        self.record_agent(&agent).await?;
        Ok(agent)
    }

    /// Every check of SPEC.md §5 but the replay check.
    async fn verify_unreplayed(
        &self,
        token: &str,
        guard: &mut VerificationGuard,
    ) -> Result<Verified, VerifierError> {
        let policy = &self.inner.policy;
        let unverified = dangerous::decode_unverified(token, policy)?;
        guard.set_issuer(unverified.issuer());
        guard.set_kid(unverified.kid());
        // An untrusted issuer never causes a key lookup (and so never a fetch).
        if !policy.trusts(unverified.issuer()) {
            return Err(VerifyError::IssuerUntrusted.into());
        }
        let key = match self
            .inner
            .keys
            .resolve(unverified.issuer(), unverified.kid())
            .await
        {
            Ok(key) => key,
            Err(KeyLookupError::Unknown) => return Err(VerifyError::KeyUnknown.into()),
            Err(KeyLookupError::Unavailable(why)) => {
                return Err(VerifierError::KeysUnavailable(why));
            }
        };
        Ok(unverified.verify(&key, policy, self.now())?)
    }

    /// Records the `jti` of `agent`'s attestation, verified in every other respect (SPEC.md §5
    /// step 11), until the last moment the policy accepts it.
    async fn record_agent(&self, agent: &VerifiedAgent) -> Result<(), VerifierError> {
        let freshness = self
            .inner
            .replay
            .check_and_record(agent.issuer(), &agent.claims().jti, agent.valid_until())
            .await
            .map_err(|e| VerifierError::ReplayStoreUnavailable(e.to_string()))?;
        match freshness {
            Freshness::Fresh => Ok(()),
            Freshness::Replayed => Err(VerifierError::Replay),
        }
    }
}

/// An attestation verified in every respect but replay: its `jti` is not recorded yet.
/// [`Verifier::record`] records it; [`Unrecorded::release`] drops it unrecorded.
pub(crate) struct Unrecorded {
    agent: VerifiedAgent,
    guard: VerificationGuard,
}

impl Unrecorded {
    /// The agent, as the rest of the request's checks see it.
    pub(crate) fn agent(&self) -> &VerifiedAgent {
        &self.agent
    }

    /// Ends the verification without recording the `jti`: the request was refused for
    /// another reason (its proof), and the token stays usable by its holder.
    pub(crate) fn release(self) {
        self.guard.finish(Ok(()));
    }
}

fn finish(guard: VerificationGuard, result: &Result<VerifiedAgent, VerifierError>) {
    match result {
        Ok(_) => guard.finish(Ok(())),
        Err(e) => finish_error(guard, e),
    }
}

fn finish_error(guard: VerificationGuard, error: &VerifierError) {
    match error {
        VerifierError::Token(e) => guard.finish_error(e),
        e => guard.finish(Err(e.reason())),
    }
}
