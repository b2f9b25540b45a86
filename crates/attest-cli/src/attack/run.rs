//! Running the corpus: in-process through the real pipeline (attest-mcp-server's `Verifier`
//! over keys ingested from a JWKS document, and its HTTP router for MCP-level attacks, with
//! proofs of possession off, and required for the proof attacks), or against a live
//! `attest serve`.

use attest_core::{JwksLimits, KeySet, Policy, ProofError, Reason, TrustStore};
use attest_mcp_server::{ProofPolicy, Verifier, VerifierError};
use attest_protocol::{EXTENSION_ID, LEGACY_KEY};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::Value;

use super::corpus::{
    self, Attack, Kind, McpStep, Needs, Params, ProofStep, capabilities_with, initialize,
    stateless_call_with,
};
use super::mcp_http::{McpHttp, Reply};
use super::sandbox::Sandbox;

/// What happened to one attack.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Observed {
    /// Refused with this reason (and, in-process, this precise error).
    Rejected {
        /// The reason a peer was told.
        reason: Reason,
        /// The precise error, where the verifier was observed directly.
        error: Option<String>,
    },
    /// Accepted: the attack succeeded.
    Accepted,
    /// It could not be run to a decision (transport failure, a setup step refused, a reply
    /// that is not an attestation error).
    Failed(String),
    /// Not run, and why.
    Skipped(&'static str),
}

/// The outcome of one attack.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// What was observed.
    pub(crate) observed: Observed,
    /// Extra detail (e.g. what JWKS ingest refused).
    pub(crate) note: Option<String>,
}

impl From<Observed> for Outcome {
    fn from(observed: Observed) -> Outcome {
        Outcome {
            observed,
            note: None,
        }
    }
}

impl Outcome {
    /// Detected: refused for the expected reason (and the expected precise error, when both
    /// are known).
    pub(crate) fn detected(&self, attack: &Attack) -> bool {
        match &self.observed {
            Observed::Rejected { reason, error } => {
                *reason == attack.expected
                    && match (attack.error, error) {
                        (Some(expected), Some(observed)) => expected == observed,
                        _ => true,
                    }
            }
            _ => false,
        }
    }

    /// True if the attack did not run.
    pub(crate) fn skipped(&self) -> bool {
        matches!(self.observed, Observed::Skipped(_))
    }
}

/// A policy trusting `issuers` and expecting `audience`, with every default.
pub(crate) fn policy(issuers: &[&str], audience: &str) -> Result<Policy, String> {
    issuers
        .iter()
        .fold(Policy::builder(), |b, issuer| b.trusted_issuer(*issuer))
        .audience(audience)
        .build()
        .map_err(|e| format!("policy: {e}"))
}

/// Ingests `jwks` as the key set `issuer` publishes, into `trust`, the way a verifier does
/// (`KeySet::parse` with the default caps). Returns what ingest refused, if anything.
fn ingest(trust: &mut TrustStore, issuer: &str, jwks: &str) -> Option<String> {
    match KeySet::parse(jwks.as_bytes(), JwksLimits::default()) {
        Ok(set) => {
            let refused: Vec<String> = set
                .rejected()
                .iter()
                .map(|r| format!("kid {:?}: {}", r.kid.as_deref().unwrap_or("?"), r.error))
                .collect();
            trust.insert(issuer, set);
            (!refused.is_empty()).then(|| format!("JWKS ingest refused {}", refused.join("; ")))
        }
        Err(e) => Some(format!("JWKS ingest refused the whole set: {e}")),
    }
}

fn verifier(policy: &Policy, trust: TrustStore) -> Result<Verifier, String> {
    Verifier::builder(policy.clone())
        .keys(trust)
        .build()
        .map_err(|e| format!("verifier: {e}"))
}

/// The precise name of a pipeline error.
fn error_code(error: &VerifierError) -> String {
    match error {
        VerifierError::Token(e) => e.code().to_owned(),
        VerifierError::Replay => "replay".to_owned(),
        VerifierError::KeysUnavailable(_) => "keys_unavailable".to_owned(),
        VerifierError::ReplayStoreUnavailable(_) => "replay_store_unavailable".to_owned(),
        other => other.code().to_owned(),
    }
}

/// Presents `token` to `verifier` once.
async fn present(verifier: &Verifier, token: &str) -> Observed {
    match verifier.verify(token).await {
        Ok(_) => Observed::Accepted,
        Err(e) => Observed::Rejected {
            reason: e.reason(),
            error: Some(error_code(&e)),
        },
    }
}

/// Runs every attack in-process. Each token attack gets its own `Verifier` (fresh replay
/// store), so one attack's outcome never depends on another's. MCP-level attacks go to the
/// router with proofs off (bearer tokens, the default), proof attacks to one that requires
/// proofs.
pub(crate) async fn in_process(p: &Params, attacks: &[Attack]) -> Result<Vec<Outcome>, String> {
    let base_policy = policy(&[&p.issuer], &p.audience)?;
    let mut trust = TrustStore::new();
    if let Some(refused) = ingest(&mut trust, &p.issuer, &corpus::issuer_jwks(p)) {
        return Err(format!("the issuer's own JWKS: {refused}"));
    }
    let sandbox = Sandbox::start(base_policy.clone(), trust.clone(), ProofPolicy::Off).await?;
    let client = McpHttp::new(&sandbox.url())?;
    let proven = Sandbox::start(base_policy.clone(), trust.clone(), ProofPolicy::Required).await?;
    let proven_client = McpHttp::new(&proven.url())?;
    controls_in_process(p, &base_policy, &trust, &client, &proven_client).await?;
    let mut outcomes = Vec::with_capacity(attacks.len());
    for attack in attacks {
        let outcome = match &attack.kind {
            Kind::Token(token) => present(&verifier(&base_policy, trust.clone())?, token)
                .await
                .into(),
            Kind::Replay(token) => {
                let verifier = verifier(&base_policy, trust.clone())?;
                match verifier.verify(token).await {
                    Ok(_) => present(&verifier, token).await.into(),
                    Err(e) => Observed::Failed(format!(
                        "the first presentation was refused ({})",
                        e.reason()
                    ))
                    .into(),
                }
            }
            Kind::Jwks { jwks, token } => {
                let mut hostile = TrustStore::new();
                let note = ingest(&mut hostile, &p.issuer, jwks);
                Outcome {
                    observed: present(&verifier(&base_policy, hostile)?, token).await,
                    note,
                }
            }
            Kind::CrossIssuer {
                other_issuer,
                other_jwks,
                token,
            } => {
                let both = policy(&[&p.issuer, other_issuer], &p.audience)?;
                let mut keys = trust.clone();
                let note = ingest(&mut keys, other_issuer, other_jwks);
                Outcome {
                    observed: present(&verifier(&both, keys)?, token).await,
                    note,
                }
            }
            Kind::Mcp(steps) => counted(&sandbox, &client, steps).await,
            Kind::Proof(steps) => {
                let mut outcome = counted(&proven, &proven_client, &proof_steps(steps)).await;
                // The precise error, from the same checks the gate runs.
                if let Observed::Rejected { error, .. } = &mut outcome.observed {
                    let precise = proof_error(&verifier(&base_policy, trust.clone())?, steps).await;
                    *error = Some(precise);
                }
                outcome
            }
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Posts `steps` to `sandbox` through `client`, and fails the attack if the tool ran more
/// often than the setup steps (every step but the last) that call it.
async fn counted(sandbox: &Sandbox, client: &McpHttp, steps: &[McpStep]) -> Outcome {
    let setup_calls = steps.split_last().map_or(0, |(_, setup)| {
        setup.iter().filter(|s| is_tool_call(s)).count()
    });
    let before = sandbox.tool_calls();
    let mut outcome = mcp(client, steps).await;
    let ran = sandbox
        .tool_calls()
        .saturating_sub(before)
        .saturating_sub(setup_calls);
    if ran > 0 && outcome.observed != Observed::Accepted {
        outcome.observed = Observed::Failed(format!("refused, yet the tool ran {ran} time(s)"));
    }
    outcome
}

fn is_tool_call(step: &McpStep) -> bool {
    step.body.get("method").and_then(Value::as_str) == Some("tools/call")
}

fn proof_steps(steps: &[ProofStep]) -> Vec<McpStep> {
    steps.iter().map(|step| plain(step.body())).collect()
}

/// The precise error of a proof attack, through the checks the gate runs for a request under
/// proof policy `required` (SPEC.md §17.5, §17.6): the attestation by `Verifier::verify_reusable`,
/// then the proof by `Verifier::verify_proof` (a missing proof is `proof_missing`). Every step
/// but the last must pass; the last one's error is returned (`accepted` if it passed).
async fn proof_error(verifier: &Verifier, steps: &[ProofStep]) -> String {
    let count = steps.len();
    for (index, step) in steps.iter().enumerate() {
        let last = index.saturating_add(1) == count;
        let result = match verifier.verify_reusable(&step.token).await {
            Err(e) => Err(e),
            Ok(agent) => match (&step.proof, step.binding()) {
                (None, _) => Err(VerifierError::Proof(ProofError::Missing)),
                (Some(_), None) => return "unhashable_params".to_owned(),
                (Some(proof), Some(binding)) => verifier
                    .verify_proof(&agent, proof, &binding, None)
                    .await
                    .map(|_| ()),
            },
        };
        match (result, last) {
            (Ok(()), false) => {}
            (Ok(()), true) => return "accepted".to_owned(),
            (Err(e), true) => return error_code(&e),
            (Err(e), false) => return format!("setup refused: {}", error_code(&e)),
        }
    }
    "no request".to_owned()
}

/// The controls of an in-process run: a valid token is accepted by the verifier, by a
/// stateless MCP request and by `initialize`; and, where proofs are required, a key-bound token
/// with a valid proof is accepted in a stateless request and at `initialize`. Without them a
/// run that refused everything would look like a perfect score.
async fn controls_in_process(
    p: &Params,
    policy: &Policy,
    trust: &TrustStore,
    client: &McpHttp,
    proven: &McpHttp,
) -> Result<(), String> {
    let control = |what: &str, observed: &Observed| {
        if *observed == Observed::Accepted {
            Ok(())
        } else {
            Err(format!(
                "control failed: a valid token {what} was not accepted ({})",
                describe(observed)
            ))
        }
    };
    let token = corpus::control_token(p, 0);
    control(
        "presented to the verifier",
        &present(&verifier(policy, trust.clone())?, &token).await,
    )?;
    let token = corpus::control_token(p, 1);
    let outcome = mcp(client, &[plain(stateless_call_with(&token))]).await;
    control("in a stateless MCP request", &outcome.observed)?;
    let token = corpus::control_token(p, 2);
    let outcome = mcp(
        client,
        &[plain(initialize(
            capabilities_with(&token),
            "attest-attack",
        ))],
    )
    .await;
    control("at initialize", &outcome.observed)?;
    let outcome = mcp(proven, &[plain(proven_call(p, 3))]).await;
    control(
        "with a valid proof, in a stateless MCP request to a server requiring proofs",
        &outcome.observed,
    )?;
    let outcome = mcp(proven, &[plain(proven_initialize(p, 4))]).await;
    control(
        "with a valid proof, at initialize of a server requiring proofs",
        &outcome.observed,
    )
}

/// A control token of its own (`n`), key-bound, for servers that require proofs.
fn bound_control_token(p: &Params, n: u8) -> String {
    corpus::control_token_with(p, corpus::bound_builder(p), n)
}

/// A generator for the proofs of control or setup request `n`.
fn control_rng(p: &Params, n: u8) -> ChaCha20Rng {
    let mut seed = p.seed;
    for b in &mut seed {
        *b ^= 0x5f;
    }
    if let Some(first) = seed.first_mut() {
        *first ^= n;
    }
    ChaCha20Rng::from_seed(seed)
}

/// A stateless `tools/call` with a fresh key-bound token and the agent's valid proof: served
/// by a server under any proof policy.
fn proven_call(p: &Params, n: u8) -> Value {
    let token = bound_control_token(p, n);
    corpus::prove(
        p,
        stateless_call_with(&token),
        &token,
        &mut control_rng(p, n),
    )
}

/// An `initialize` with a fresh key-bound token and the agent's valid proof.
fn proven_initialize(p: &Params, n: u8) -> Value {
    let token = bound_control_token(p, n);
    proven_initialize_with(p, &token, n)
}

/// An `initialize` presenting `token`, with the agent's valid proof (its `n`th).
fn proven_initialize_with(p: &Params, token: &str, n: u8) -> Value {
    let body = initialize(capabilities_with(token), "attest-attack");
    corpus::prove(p, body, token, &mut control_rng(p, n))
}

/// The control of a target run with the issuer's key: a valid token in a stateless request is
/// served. The token is key-bound and the request carries the agent's proof, so that it is
/// served under every proof policy. It fails when `--issuer`, `--audience` or `--issuer-key`
/// do not match the target.
pub(crate) async fn control_target(p: &Params, client: &McpHttp) -> Result<(), String> {
    let outcome = mcp(client, &[plain(proven_call(p, 0))]).await;
    if outcome.observed == Observed::Accepted {
        Ok(())
    } else {
        Err(format!(
            "control failed: the target did not serve a valid token signed with --issuer-key \
             for issuer {} and audience {} ({}); check --issuer, --audience and the key",
            p.issuer,
            p.audience,
            describe(&outcome.observed)
        ))
    }
}

/// Runs every attack against the live server behind `client`. `has_issuer_key` says whether
/// `p.issuer_key` is the target issuer's real key; `requires_proofs`, whether the target
/// advertises proof policy `required` (SPEC.md §17.7).
pub(crate) async fn target(
    client: &McpHttp,
    p: &Params,
    has_issuer_key: bool,
    requires_proofs: bool,
    attacks: &[Attack],
) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(attacks.len());
    // Setup requests get proofs of their own, numbered apart from the controls'.
    let mut setups: u8 = 16;
    for attack in attacks {
        let outcome = match (attack.needs, &attack.kind) {
            (Needs::InProcess, _) | (_, Kind::Jwks { .. } | Kind::CrossIssuer { .. }) => {
                Observed::Skipped("in-process only (needs control of the verifier's keys)").into()
            }
            (Needs::IssuerKey | Needs::IssuerKeyAndProofs, _) if !has_issuer_key => {
                Observed::Skipped("needs --issuer-key").into()
            }
            (Needs::IssuerKeyAndProofs, _) | (_, Kind::Proof(_)) if !requires_proofs => {
                Observed::Skipped(
                    "needs a target that requires proofs (attest serve --proof required)",
                )
                .into()
            }
            (_, Kind::Token(token)) => mcp(client, &[plain(stateless_call_with(token))]).await,
            (_, Kind::Replay(token)) => {
                // Each `initialize` with a valid proof: only the replay is wrong, whatever the
                // target's proof policy.
                let first = setups;
                setups = setups.wrapping_add(2);
                let steps = [
                    plain(proven_initialize_with(p, token, first)),
                    plain(proven_initialize_with(p, token, first.wrapping_add(1))),
                ];
                mcp(client, &steps).await
            }
            (_, Kind::Mcp(steps)) => mcp(client, steps).await,
            (_, Kind::Proof(steps)) => mcp(client, &proof_steps(steps)).await,
        };
        outcomes.push(outcome);
    }
    outcomes
}

fn plain(body: Value) -> McpStep {
    McpStep {
        body,
        authorization: None,
    }
}

/// Posts `steps` in order: every step but the last must be served; the last is observed.
async fn mcp(client: &McpHttp, steps: &[McpStep]) -> Outcome {
    let mut sessions = Vec::new();
    let mut observed = Observed::Failed("no request to send".to_owned());
    let count = steps.len();
    for (index, step) in steps.iter().enumerate() {
        let reply = match client.post(step).await {
            Ok(reply) => reply,
            Err(e) => {
                observed = Observed::Failed(e);
                break;
            }
        };
        if let Some(session) = &reply.session {
            sessions.push(session.clone());
        }
        let seen = observe(&reply);
        if index.saturating_add(1) == count {
            observed = seen;
        } else if seen != Observed::Accepted {
            let method = step
                .body
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or("?");
            observed = Observed::Failed(format!(
                "setup request {} ({method}) was not served: {}",
                index.saturating_add(1),
                describe(&seen)
            ));
            break;
        }
    }
    for session in sessions {
        client.close(&session).await;
    }
    observed.into()
}

/// What a reply says about the attack.
fn observe(reply: &Reply) -> Observed {
    let Some(message) = &reply.message else {
        return Observed::Failed(format!("HTTP {} without a JSON-RPC response", reply.status));
    };
    if message.get("result").is_some() {
        return Observed::Accepted;
    }
    let wire = message
        .pointer("/error/data/reason")
        .and_then(Value::as_str);
    match wire.and_then(Reason::from_wire) {
        Some(reason) => Observed::Rejected {
            reason,
            error: None,
        },
        None => {
            let code = message
                .pointer("/error/code")
                .cloned()
                .unwrap_or(Value::Null);
            let text = message
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Observed::Failed(format!(
                "a JSON-RPC error without an attestation reason: {code} {}",
                text.chars().take(120).collect::<String>()
            ))
        }
    }
}

/// A short description of an observation, for the report.
pub(crate) fn describe(observed: &Observed) -> String {
    match observed {
        Observed::Rejected {
            reason,
            error: Some(error),
        } => format!("{reason} ({error})"),
        Observed::Rejected {
            reason,
            error: None,
        } => reason.to_string(),
        Observed::Accepted => "ACCEPTED".to_owned(),
        Observed::Failed(why) => format!("error: {why}"),
        Observed::Skipped(why) => format!("skipped: {why}"),
    }
}

/// What the target said before the attacks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Preflight {
    /// The first trusted issuer its refusal names (SPEC.md §11: `data.trusted_issuers`).
    pub(crate) issuer: Option<String>,
    /// The proof policy it advertises (SPEC.md §17.7): `optional`, `required`, or none (off).
    pub(crate) proof: Option<String>,
}

/// Checks that the target answers MCP, learns the issuer it trusts from its refusal of an
/// unattested request, if it names one, and its proof policy from its advertisement in
/// `server/discover` (ungated).
pub(crate) async fn preflight(client: &McpHttp) -> Result<Preflight, String> {
    let step = plain(corpus::stateless("tools/call", None, serde_json::json!({})));
    let reply = client
        .post(&step)
        .await
        .map_err(|e| format!("cannot reach the target: {e}"))?;
    let Some(message) = &reply.message else {
        return Err(format!(
            "the target answered HTTP {} without a JSON-RPC response: is it an MCP endpoint?",
            reply.status
        ));
    };
    let issuer = message
        .pointer("/error/data/trusted_issuers/0")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let discover = plain(corpus::stateless(
        "server/discover",
        None,
        serde_json::json!({}),
    ));
    let proof = match client.post(&discover).await {
        Ok(Reply {
            message: Some(message),
            ..
        }) => advertised_proof(&message),
        _ => None,
    };
    Ok(Preflight { issuer, proof })
}

/// The `proof` member of a `server/discover` result's advertisement, in either carrier.
fn advertised_proof(message: &Value) -> Option<String> {
    let capabilities = message.pointer("/result/capabilities")?;
    [
        capabilities
            .get("extensions")
            .and_then(|e| e.get(EXTENSION_ID)),
        capabilities
            .get("experimental")
            .and_then(|e| e.get(LEGACY_KEY)),
    ]
    .into_iter()
    .flatten()
    .find_map(|advertisement| advertisement.get("proof").and_then(Value::as_str))
    .map(str::to_owned)
}
