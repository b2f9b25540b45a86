//! Running the corpus: in-process through the real pipeline (attest-mcp-server's `Verifier`
//! over keys ingested from a JWKS document, and its HTTP router for MCP-level attacks), or
//! against a live `attest serve`.

use attest_core::{JwksLimits, KeySet, Policy, Reason, TrustStore};
use attest_mcp_server::{Verifier, VerifierError};
use serde_json::Value;

use super::corpus::{
    self, Attack, Kind, McpStep, Needs, Params, capabilities_with, initialize, stateless_call_with,
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
        _ => "other".to_owned(),
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
/// store), so one attack's outcome never depends on another's.
pub(crate) async fn in_process(p: &Params, attacks: &[Attack]) -> Result<Vec<Outcome>, String> {
    let base_policy = policy(&[&p.issuer], &p.audience)?;
    let mut trust = TrustStore::new();
    if let Some(refused) = ingest(&mut trust, &p.issuer, &corpus::issuer_jwks(p)) {
        return Err(format!("the issuer's own JWKS: {refused}"));
    }
    let sandbox = Sandbox::start(base_policy.clone(), trust.clone()).await?;
    let client = McpHttp::new(&sandbox.url())?;
    controls_in_process(p, &base_policy, &trust, &client).await?;
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
            Kind::Mcp(steps) => {
                let before = sandbox.tool_calls();
                let mut outcome = mcp(&client, steps).await;
                let ran = sandbox.tool_calls().saturating_sub(before);
                if ran > 0 && outcome.observed != Observed::Accepted {
                    outcome.observed =
                        Observed::Failed(format!("refused, yet the tool ran {ran} time(s)"));
                }
                outcome
            }
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// The controls of an in-process run: a valid token is accepted by the verifier, by a
/// stateless MCP request and by `initialize`. Without them a run that refused everything would
/// look like a perfect score.
async fn controls_in_process(
    p: &Params,
    policy: &Policy,
    trust: &TrustStore,
    client: &McpHttp,
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
    control("at initialize", &outcome.observed)
}

/// The control of a target run with the issuer's key: a valid token in a stateless request is
/// served. It fails when `--issuer`, `--audience` or `--issuer-key` do not match the target.
pub(crate) async fn control_target(p: &Params, client: &McpHttp) -> Result<(), String> {
    let token = corpus::control_token(p, 0);
    let outcome = mcp(client, &[plain(stateless_call_with(&token))]).await;
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
/// `p.issuer_key` is the target issuer's real key.
pub(crate) async fn target(
    client: &McpHttp,
    has_issuer_key: bool,
    attacks: &[Attack],
) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(attacks.len());
    for attack in attacks {
        let outcome = match (attack.needs, &attack.kind) {
            (Needs::InProcess, _) | (_, Kind::Jwks { .. } | Kind::CrossIssuer { .. }) => {
                Observed::Skipped("in-process only (needs control of the verifier's keys)").into()
            }
            (Needs::IssuerKey, _) if !has_issuer_key => {
                Observed::Skipped("needs --issuer-key").into()
            }
            (_, Kind::Token(token)) => mcp(client, &[plain(stateless_call_with(token))]).await,
            (_, Kind::Replay(token)) => {
                let steps = [
                    plain(initialize(capabilities_with(token), "attest-attack")),
                    plain(initialize(capabilities_with(token), "attest-attack")),
                ];
                mcp(client, &steps).await
            }
            (_, Kind::Mcp(steps)) => mcp(client, steps).await,
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

/// Checks that the target answers MCP, and learns the issuer it trusts from its refusal of an
/// unattested request (SPEC.md §11: `data.trusted_issuers`), if it names one.
pub(crate) async fn preflight(client: &McpHttp) -> Result<Option<String>, String> {
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
    Ok(message
        .pointer("/error/data/trusted_issuers/0")
        .and_then(Value::as_str)
        .map(str::to_owned))
}
