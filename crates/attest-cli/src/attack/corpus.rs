//! The attack corpus: every attack, crafted from parameters (the issuer's key, an attacker's
//! key, the issuer URL, the audience, `now` and an RNG seed).
//!
//! Nothing here is a string copied from somewhere: each hostile token is signed (or forged) at
//! run time, so the same corpus attacks an in-process verifier with fresh keys, a live server
//! with its real issuer key, and, from a fixed key, clock and seed, writes the conformance
//! vectors (`testvectors/attest/vectors.json`).
//!
//! Ids are stable: `ATK-NNN-slug`, numbered in order. New attacks are appended; an id is never
//! reused for a different attack.

use std::cell::Cell;

use attest_core::proof::{ProofClaims, ProofHeader, RequestBinding, token_hash};
use attest_core::{
    AgentIdentity, AgentIntegrity, AttestationMetadata, Confirmation, IntegrityHash, KeySet,
    Reason, SigningKey, TokenBuilder, UnixTime,
};
use attest_protocol::{CLIENT_CAPABILITIES_META_KEY, EXTENSION_ID, LEGACY_KEY};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use super::craft::{
    self, IDENTITY, IDENTITY_NON_CANONICAL, add_order_to_s, b64, canonical, hmac_sha256,
    identity_signature, remove, resign, segments, set, set_in, sign_with, signature_of,
};

/// The agent every valid token describes.
pub(crate) const SUBJECT: &str = "spiffe://issuer.example/model/claude-sonnet-4";
/// The protocol version of the `initialize` generation used by the MCP attacks.
pub(crate) const INITIALIZE_PROTOCOL: &str = "2025-11-25";
/// The stateless protocol version (SEP-2575).
pub(crate) const STATELESS_PROTOCOL: &str = "2026-07-28";
/// The tool the stateless attacks call.
pub(crate) const TOOL: &str = "whoami";

/// What the corpus is crafted from.
#[derive(Clone, Debug)]
pub(crate) struct Params {
    /// The trusted issuer.
    pub(crate) issuer: String,
    /// The audience the verifier expects.
    pub(crate) audience: String,
    /// The issuer's signing key (a stand-in in `--target` mode without `--issuer-key`).
    pub(crate) issuer_key: SigningKey,
    /// The attacker's own key, under the issuer's `kid`.
    pub(crate) attacker: SigningKey,
    /// The agent's key, for `cnf`.
    pub(crate) agent_key: SigningKey,
    /// Seconds since the Unix epoch.
    pub(crate) now: u64,
    /// The RNG seed (`jti`s, filler keys).
    pub(crate) seed: [u8; 32],
    /// Draw a different `jti` for every attack (live runs), or reuse one (the vectors, which
    /// must be byte-identical on every run).
    pub(crate) jti_per_attack: bool,
}

/// What an attack needs to run against a live target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Needs {
    /// Nothing but the target: an attacker's key, no token, or broken input.
    Nothing,
    /// The target issuer's private key: a validly signed token with hostile structure.
    IssuerKey,
    /// The verifier's key configuration (a hostile JWKS, a second issuer): in-process only.
    InProcess,
    /// The target issuer's private key (for key-bound tokens), and a target that requires
    /// proofs of possession (`attest serve --proof required`).
    IssuerKeyAndProofs,
}

impl Needs {
    /// How the attack runs under `--target`, for the documentation.
    pub(crate) fn target_mode(self) -> &'static str {
        match self {
            Needs::Nothing => "always",
            Needs::IssuerKey => "with `--issuer-key`",
            Needs::InProcess => "in-process only",
            Needs::IssuerKeyAndProofs => "with `--issuer-key`, against `--proof required`",
        }
    }
}

/// One step of an MCP-level attack: a JSON-RPC request, optionally with an HTTP
/// `Authorization` header.
#[derive(Clone, Debug)]
pub(crate) struct McpStep {
    /// The JSON-RPC request.
    pub(crate) body: Value,
    /// A bearer value for the `Authorization` header.
    pub(crate) authorization: Option<String>,
}

/// How an attack is delivered.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// One token, presented once.
    Token(String),
    /// A valid token presented twice; the second presentation is the attack.
    Replay(String),
    /// The issuer's JWKS as a hostile host serves it, and a token presented against it.
    Jwks {
        /// The JWKS document.
        jwks: String,
        /// The token.
        token: String,
    },
    /// A second trusted issuer publishes its own keys; the token claims it.
    CrossIssuer {
        /// The second issuer.
        other_issuer: String,
        /// Its JWKS document.
        other_jwks: String,
        /// The token.
        token: String,
    },
    /// MCP requests posted in order to a streamable-HTTP server; every step but the last must
    /// be served, and the last is the attack.
    Mcp(Vec<McpStep>),
    /// Stateless 2026-07-28 requests with key-bound tokens and proofs of possession, posted in
    /// order to a server that requires proofs; every step but the last must be served, and the
    /// last is the attack.
    Proof(Vec<ProofStep>),
}

/// One request of a proof attack: a stateless 2026-07-28 request of `method` with `params`,
/// whose `_meta` carries `{version, token, proof}` (no `proof` when `None`).
#[derive(Clone, Debug)]
pub(crate) struct ProofStep {
    /// The MCP method.
    pub(crate) method: &'static str,
    /// The params, without `_meta`.
    pub(crate) params: Value,
    /// The attestation token presented with the request.
    pub(crate) token: String,
    /// The proof of possession, if any.
    pub(crate) proof: Option<String>,
}

impl ProofStep {
    /// The JSON-RPC request as it is posted.
    pub(crate) fn body(&self) -> Value {
        let mut attestation = compact(&self.token);
        if let Some(proof) = &self.proof {
            set(&mut attestation, "proof", json!(proof));
        }
        stateless_with(
            self.method,
            self.params.clone(),
            Some(attestation),
            json!({}),
        )
    }

    /// What the proof must bind: the method, the name and the hash of the params as the server
    /// reads them.
    pub(crate) fn binding(&self) -> Option<RequestBinding> {
        binding_of(self.method, &self.params)
    }
}

/// Why an attack is expected to fail, and where that is enforced.
#[derive(Debug)]
pub(crate) struct Mitigation {
    /// What the code does.
    pub(crate) text: &'static str,
    /// The module and tests that enforce it.
    pub(crate) enforced_by: &'static str,
}

/// One attack.
#[derive(Debug)]
pub(crate) struct Attack {
    /// Stable id, `ATK-NNN-slug`.
    pub(crate) id: &'static str,
    /// The name of its conformance vector, for token attacks.
    pub(crate) vector: Option<&'static str>,
    /// One line.
    pub(crate) description: &'static str,
    /// The reason a peer must be told.
    pub(crate) expected: Reason,
    /// The precise error (`VerifyError::code`, or `replay`), where one is decided.
    pub(crate) error: Option<&'static str>,
    /// The defence.
    pub(crate) mitigation: &'static Mitigation,
    /// What it needs under `--target`.
    pub(crate) needs: Needs,
    /// The crafted input.
    pub(crate) kind: Kind,
}

// ---------------------------------------------------------------------------------------------
// Mitigations: each states only what the code enforces, and names the module and tests.
// ---------------------------------------------------------------------------------------------

const M_KEY_BINDING: Mitigation = Mitigation {
    text: "Keys are looked up by `(iss, kid)` among the keys the trusted issuer publishes; an attacker's key is published nowhere, so its `kid` has no key.",
    enforced_by: "attest-core `jwks.rs` (`TrustStore`), attest-mcp-server `verifier.rs`; `security.rs::model_spoofing_with_the_attackers_key_is_refused`, `unknown_kid_is_refused`",
};
const M_ISSUER: Mitigation = Mitigation {
    text: "`iss` must equal a trusted issuer exactly (no prefix, case-folding or trailing-slash match), checked before any key lookup.",
    enforced_by: "attest-core `Policy::trusts`, `verify.rs`; attest-mcp-server `verifier.rs`; `security.rs::iss_not_exactly_trusted_is_refused`, `untrusted_issuer_with_published_keys_is_refused`, mcp-server `verifier.rs::an_untrusted_issuer_never_causes_a_key_lookup`",
};
const M_REPLAY: Mitigation = Mitigation {
    text: "After every other check passes, the `jti` is checked and recorded per issuer in one atomic replay-store operation until `exp` + leeway; a second presentation is refused.",
    enforced_by: "attest-mcp-server `verifier.rs`, attest-cache `memory.rs`/`redis_store.rs`; mcp-server `verifier.rs::verifies_once_then_refuses_the_replay`, `a_rejected_token_does_not_burn_its_jti`",
};
const M_SIGNATURE: Mitigation = Mitigation {
    text: "Strict Ed25519 (the acceptance rules of ed25519-dalek's `verify_strict`) over the exact signing input: any change to header or claims after signing, or any other key, fails the signature.",
    enforced_by: "attest-core `key.rs` (`PublicKey::verify`); `security.rs::claims_tampered_after_signing_are_refused`, `a_signature_that_does_not_verify_is_refused`",
};
const M_GATE: Mitigation = Mitigation {
    text: "Under policy `required` every request passes the gate before the application sees it, in both protocol generations: `initialize` and every stateless 2026-07-28 request; no attestation is `attestation_required`.",
    enforced_by: "attest-mcp-server `gate.rs`, `server.rs` (every `ServerHandler` method); mcp-server `http.rs::regression_stateless_tools_call_without_attestation_is_refused`, `duplex.rs::missing_token_is_refused_under_required_and_served_otherwise`, `tests.rs::every_server_handler_method_of_rmcp_is_covered`",
};
const M_AUDIENCE: Mitigation = Mitigation {
    text: "`aud` must be non-empty and contain one of the verifier's expected audiences.",
    enforced_by: "attest-core `verify.rs`; `security.rs::aud_missing_empty_or_not_matching_is_refused`",
};
const M_ALG: Mitigation = Mitigation {
    text: "`alg` must be exactly `EdDSA` or `Ed25519` (case-sensitive allowlist); the Ed25519 key fixes the algorithm, the header never selects one.",
    enforced_by: "attest-core `dangerous.rs` (header check); `security.rs::alg_outside_the_exact_case_sensitive_allowlist_is_refused`, `alg_none_with_an_empty_signature_is_refused`, `hs256_keyed_with_the_public_key_is_refused`, `alg_missing_or_not_a_string_is_refused`",
};
const M_HEADER_PARAMS: Mitigation = Mitigation {
    text: "The header may hold only `alg`, `typ` and `kid`; `jwk`, `jku`, `x5u`, `x5c`, `crit`, `b64`, `cty` and any other parameter are refused, so a token never names its own key.",
    enforced_by: "attest-core `dangerous.rs`; `security.rs::forbidden_header_parameters_are_refused`, `embedded_jwk_signed_by_the_attacker_is_refused`",
};
const M_TYP: Mitigation = Mitigation {
    text: "`typ` must be one the policy accepts, compared exactly: `agent-attestation+jwt` by default, `JWT` only by explicit opt-in.",
    enforced_by: "attest-core `dangerous.rs`, `policy.rs`; `security.rs::typ_missing_or_jwt_is_refused_by_default`, `typ_confusion_is_refused`",
};
const M_KID: Mitigation = Mitigation {
    text: "`kid` must be a string of 1 to 128 visible ASCII characters.",
    enforced_by: "attest-core `dangerous.rs`, `key.rs`; `security.rs::kid_that_is_not_a_short_string_is_refused`",
};
const M_SEGMENTS: Mitigation = Mitigation {
    text: "Only the compact serialization with exactly three segments is a token; JWE (five segments) and the JWS JSON serialization are refused.",
    enforced_by: "attest-core `dangerous.rs`; `security.rs::not_exactly_three_segments_is_refused`, `five_segments_is_a_jwe_and_refused`, `jws_json_serialization_is_refused`",
};
const M_BASE64: Mitigation = Mitigation {
    text: "Every segment must be strict base64url: no padding, no `+`/`/`, no whitespace, zero trailing bits, so each byte string has exactly one accepted spelling.",
    enforced_by: "attest-core `b64.rs`; `security.rs::non_strict_base64url_is_refused_in_every_segment`",
};
const M_JSON: Mitigation = Mitigation {
    text: "Header and claims must each be one JSON object; duplicate member names (compared after unescaping) at any depth, and nesting deeper than 8, are refused before any typed parse.",
    enforced_by: "attest-core `json.rs`; `security.rs::duplicate_member_names_in_the_header_are_refused`, `duplicate_member_names_in_the_claims_are_refused`, `json_nested_too_deep_is_refused`, `empty_or_non_object_segments_are_refused`",
};
const M_SIZE: Mitigation = Mitigation {
    text: "A token over the 8 KiB cap is refused before anything is decoded.",
    enforced_by: "attest-core `dangerous.rs`; `security.rs::token_over_the_size_cap_is_refused`",
};
const M_SIGNATURE_LENGTH: Mitigation = Mitigation {
    text: "The signature must decode to exactly 64 bytes.",
    enforced_by: "attest-core `dangerous.rs`, `key.rs`; `security.rs::signature_not_exactly_64_bytes_is_refused`",
};
const M_SIGNATURE_STRICT: Mitigation = Mitigation {
    text: "Strict Ed25519: S must be below the group order L (no malleated twin), and R must not be a small-order point.",
    enforced_by: "attest-core `key.rs` (`PublicKey::verify`: S < L, R not one of the 14 small-order encodings, then the equation); `security.rs::s_not_reduced_mod_l_is_refused`, `small_order_r_is_refused`; lib `tests.rs::small_order_encodings_are_complete`",
};
const M_CLAIM_TYPES: Mitigation = Mitigation {
    text: "Claims are parsed with the types of SPEC.md §2.3: times are integers (no fraction, exponent, sign or string), enumerations and hashes are checked, `cnf` must name a public key, `sub`/`jti` are non-empty, `attestation_version` is `0.1.0`, `exp > iat`.",
    enforced_by: "attest-core `claims.rs`, `verify.rs`; `security.rs::time_claims_that_are_not_integers_are_refused`, `empty_sub_is_refused`, `cnf_must_name_a_usable_agent_key`, `attestation_version_other_than_0_1_0_is_refused`, `jti_missing_empty_or_too_long_is_refused`",
};
const M_CLAIMS_REQUIRED: Mitigation = Mitigation {
    text: "Required claims (`iss`, `sub`, `aud`, `iat`, `exp`, `jti`, `agent_identity`, `attestation_metadata`) must be present.",
    enforced_by: "attest-core `claims.rs`; `security.rs::time_claims_missing_are_refused`, `required_claims_missing_are_refused`",
};
const M_TIME: Mitigation = Mitigation {
    text: "`exp`, `nbf` and `iat` are checked against the caller's clock with the same leeway (30 s) on each.",
    enforced_by: "attest-core `verify.rs`; `security.rs::exp_past_beyond_leeway_is_refused_and_within_leeway_accepted`, `nbf_in_the_future_beyond_leeway_is_refused`, `iat_in_the_future_beyond_leeway_is_refused`",
};
const M_LIFETIME: Mitigation = Mitigation {
    text: "`exp - iat` must not exceed the policy maximum (3600 s by default).",
    enforced_by: "attest-core `verify.rs`; `security.rs::lifetime_over_the_policy_maximum_is_refused`",
};
const M_JTI: Mitigation = Mitigation {
    text: "`jti` must be at most 128 bytes (the policy cap).",
    enforced_by: "attest-core `verify.rs`; `security.rs::jti_missing_empty_or_too_long_is_refused`",
};
const M_KEY_UNKNOWN: Mitigation = Mitigation {
    text: "A `kid` the issuer does not publish has no key; nothing falls back to another key.",
    enforced_by: "attest-core `jwks.rs`, `verify.rs`; `security.rs::unknown_kid_is_refused`",
};
const M_JWKS_WEAK_KEY: Mitigation = Mitigation {
    text: "JWKS ingest imports a key only if it is exactly 32 bytes, decodes to a point, is canonically encoded, not small-order and torsion-free; a refused key is never usable.",
    enforced_by: "attest-core `key.rs` (`PublicKey::from_bytes`), `jwks.rs` (`KeySet::parse`); `security.rs::identity_key_forgery_cannot_be_expressed`, `key_with_a_non_canonical_encoding_is_refused`, `key_of_the_wrong_length_is_refused`, `jwks_okp_key_with_wrong_members_or_a_weak_key_is_refused`",
};
const M_JWKS_MEMBERS: Mitigation = Mitigation {
    text: "An `OKP` key whose `crv` is not `Ed25519`, whose `alg` is not `EdDSA`/`Ed25519`, whose `use` is not `sig` or whose `key_ops` is not a subset of `[\"verify\"]` is refused at ingest.",
    enforced_by: "attest-core `jwk.rs`, `jwks.rs`; `security.rs::jwks_okp_key_with_wrong_members_or_a_weak_key_is_refused`",
};
const M_JWKS_PRIVATE: Mitigation = Mitigation {
    text: "A JWKS in which any key carries private material (`d`, `p`, `q`, `dp`, `dq`, `qi`, `k`) is refused whole: the publisher leaked a key.",
    enforced_by: "attest-core `jwks.rs`; `security.rs::jwks_with_a_private_key_is_refused_whole`",
};
const M_JWKS_DUPLICATE: Mitigation = Mitigation {
    text: "A `kid` published more than once is unusable, every copy.",
    enforced_by: "attest-core `jwks.rs`; `security.rs::jwks_duplicate_kid_makes_that_kid_unusable`",
};
const M_JWKS_CAPS: Mitigation = Mitigation {
    text: "A JWKS body over 64 KiB, or with more than 32 keys, is refused whole.",
    enforced_by: "attest-core `jwks.rs`; `security.rs::jwks_with_too_many_keys_is_refused`, `jwks_body_too_large_is_refused`",
};
const M_CROSS_ISSUER: Mitigation = Mitigation {
    text: "A key is bound to the issuer that published it: lookup is by `(iss, kid)`, so issuer A's key never verifies a token claiming issuer B.",
    enforced_by: "attest-core `jwks.rs` (`TrustStore`); `security.rs::key_from_issuer_a_does_not_verify_a_token_claiming_issuer_b`",
};
const M_CARRIER: Mitigation = Mitigation {
    text: "A carrier that is present and malformed (not an object, `token` not a non-empty string, unknown `version`) refuses the message as `attestation_malformed`; it is never skipped in favour of another carrier, and is never treated as absent.",
    enforced_by: "attest-protocol `client.rs` (`find_in_meta`, `find_in_capabilities`, and `find_in_capability_carriers` on `initialize`'s typed capabilities), attest-mcp-server `gate.rs`; protocol `negative.rs` (testvectors/protocol/negative.json), `api.rs::typed_carriers_are_read_as_the_json_capabilities_are`, mcp-server `duplex.rs::a_malformed_carrier_is_refused_not_skipped`, `http.rs::stateless_matrix_under_each_policy`",
};
const M_CONFLICT: Mitigation = Mitigation {
    text: "Every carrier of a message is read; two carriers holding different tokens are a conflict, refused as `attestation_malformed`.",
    enforced_by: "attest-protocol `client.rs` (`decide`); protocol `negative.rs` cases `meta_carriers_conflict`, `initialize_carriers_conflict`",
};
const M_NO_HEADER_CARRIAGE: Mitigation = Mitigation {
    text: "Attestations travel only inside MCP messages (`_meta`, capabilities); an HTTP `Authorization` header is not read, so the request is unattested.",
    enforced_by: "attest-mcp-server `server.rs` (reads `_meta` and `initialize` capabilities only), `gate.rs`; mcp-server `http.rs::regression_stateless_tools_call_without_attestation_is_refused`",
};
const M_SESSION_SINGLE_USE: Mitigation = Mitigation {
    text: "A token verified at `initialize` is single use: it binds one session, its `jti` is recorded, and it never enters the verified-token cache; presenting it again, in a new session or a stateless request, is a replay.",
    enforced_by: "attest-mcp-server `server.rs` (`initialize` uses `Verifier::verify`), `verifier.rs`; mcp-server `duplex.rs::a_token_binds_one_session_a_second_session_is_a_replay`",
};

const M_PROOF_REQUIRED: Mitigation = Mitigation {
    text: "Under proof policy `required` every request must carry a proof of possession signed by the key its attestation's `cnf` names; a key-bound token alone is refused, and so is a token without `cnf`, which can never be proven. The attestation is verified first; the proof is checked before the application sees the request.",
    enforced_by: "attest-mcp-server `gate.rs` (`check_proof`), `verifier.rs` (`verify_proof`); mcp-server `proof.rs::a_client_without_the_agent_key_cannot_open_a_session`, `every_attack_is_refused_over_http_with_its_reason`; testvectors/attest/proofs.json cases `proof_missing`, `bearer_attestation_with_proof`",
};
const M_PROOF_KEY: Mitigation = Mitigation {
    text: "A proof is checked with strict Ed25519 against the attestation's own `cnf` key, never a key the proof supplies: a `jwk` in the proof header is refused unless `cnf` carries only a thumbprint (`jkt`), and then it must match it.",
    enforced_by: "attest-core `proof.rs` (`verify_proof`, `ConfirmationKey`); core `proof.rs::invalid_proof_vectors_are_refused_for_their_reason` (cases `stolen_attestation_thief_key`, `stolen_attestation_thief_jwk_in_header`, `jkt_thief_jwk`), mcp-server `proof.rs::every_attack_is_refused_by_the_verifier_with_its_precise_error`",
};
const M_PROOF_BINDING: Mitigation = Mitigation {
    text: "A proof binds one request: `mth` and `nam` (the method and the tool, resource or prompt), `ph` (SHA-256 of the JCS form of the params without `_meta`), `aud` (this server) and `ath` (the hash of the attestation it is presented with); any difference is refused.",
    enforced_by: "attest-core `proof.rs` (`RequestBinding`, `params_hash`, `verify_proof`); core `proof.rs::params_hash_is_over_the_jcs_form_without_meta`, `invalid_proof_vectors_are_refused_for_their_reason` (cases `tool_a_proof_on_tool_b`, `arguments_changed`, `other_attestation`, `other_server`)",
};
const M_PROOF_FRESH: Mitigation = Mitigation {
    text: "A proof's `iat` must lie within the proof window (60 s by default) and at most the leeway (30 s) in the future, by the server's clock.",
    enforced_by: "attest-core `proof.rs` (`verify_proof`, `ProofLimits`); core `proof.rs::the_window_and_the_record_agree`, proofs.json cases `too_old`, `from_the_future`",
};
const M_PROOF_TYP: Mitigation = Mitigation {
    text: "A proof's header is exactly `alg` `EdDSA` and `typ` `agent-proof+jwt` (with `jwk` only for `jkt` attestations); any other parameter (an attestation's `kid`) or type is refused, so an attestation, a DPoP proof or any other JWT is never a proof.",
    enforced_by: "attest-core `proof.rs` (header check); proofs.json cases `typ_attestation`, `typ_dpop`, `header_kid`",
};
const M_PROOF_REPLAY: Mitigation = Mitigation {
    text: "Only after every other check passes is the proof's `jti` recorded, under `proof:` + the agent key's thumbprint (apart from attestation `jti`s) until the window closes; a second use is refused, whatever the attestation's own replay state.",
    enforced_by: "attest-mcp-server `verifier.rs` (`verify_proof`), attest-cache; mcp-server `proof.rs::a_replayed_proof_is_refused_and_valid_stateless_traffic_passes`, `the_precise_error_of_a_replay_is_proof_replayed`",
};

// ---------------------------------------------------------------------------------------------
// The fixture: valid claims and headers to make hostile.
// ---------------------------------------------------------------------------------------------

/// What one attack is crafted from: the parameters and its own RNG seed.
pub(crate) struct Fixture<'p> {
    p: &'p Params,
    seed: [u8; 32],
    /// Proofs made so far, so that each gets its own `jti`.
    proofs: Cell<u8>,
}

impl Fixture<'_> {
    fn rng(&self) -> ChaCha20Rng {
        ChaCha20Rng::from_seed(self.seed)
    }

    /// A second, different RNG, for attacks that need two distinct `jti`s.
    fn other_rng(&self) -> ChaCha20Rng {
        let mut seed = self.seed;
        for b in &mut seed {
            *b = !*b;
        }
        ChaCha20Rng::from_seed(seed)
    }

    fn now(&self) -> u64 {
        self.p.now
    }

    /// `now` moved by `delta` seconds, saturating.
    fn at(&self, delta: i64) -> u64 {
        if delta >= 0 {
            self.p.now.saturating_add(delta.unsigned_abs())
        } else {
            self.p.now.saturating_sub(delta.unsigned_abs())
        }
    }

    fn kid(&self) -> &str {
        self.p.issuer_key.kid()
    }

    fn builder(&self) -> TokenBuilder {
        builder(&self.p.issuer, &self.p.audience)
    }

    /// Valid claims at `now`, as JSON to edit.
    fn claims(&self) -> Value {
        self.builder()
            .build_claims(UnixTime::from_secs(self.now()), &mut self.rng())
            .ok()
            .and_then(|claims| serde_json::to_value(claims).ok())
            .unwrap_or(Value::Null)
    }

    fn header(&self) -> Value {
        json!({"alg": "EdDSA", "typ": attest_core::TYP_ATTESTATION, "kid": self.kid()})
    }

    /// Signs header and claims JSON text with the issuer key.
    fn sign_text(&self, header: &str, claims: &str) -> String {
        sign_with(&self.p.issuer_key, header.as_bytes(), claims.as_bytes())
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        self.sign_text(&canonical(header), &canonical(claims))
    }

    fn with_claims(&self, edit: impl FnOnce(&mut Value)) -> String {
        let mut claims = self.claims();
        edit(&mut claims);
        self.sign(&self.header(), &claims)
    }

    fn with_header(&self, edit: impl FnOnce(&mut Value)) -> String {
        let mut header = self.header();
        edit(&mut header);
        self.sign(&header, &self.claims())
    }

    /// The valid token at `now`, signed by the issuer key.
    fn valid(&self) -> String {
        self.sign(&self.header(), &self.claims())
    }

    /// A valid token minted by attest-core's `TokenBuilder`, with this attack's `jti`.
    fn minted(&self) -> String {
        self.mint_with(&mut self.rng())
    }

    /// A second valid token with another `jti`.
    fn minted_other(&self) -> String {
        self.mint_with(&mut self.other_rng())
    }

    fn mint_with(&self, rng: &mut ChaCha20Rng) -> String {
        self.builder()
            .sign(&self.p.issuer_key, UnixTime::from_secs(self.now()), rng)
            .unwrap_or_default()
    }

    /// A valid key-bound token (`cnf.jwk` names the agent's key), with this attack's `jti`.
    fn bound(&self) -> String {
        bound_builder(self.p)
            .sign(
                &self.p.issuer_key,
                UnixTime::from_secs(self.now()),
                &mut self.rng(),
            )
            .unwrap_or_default()
    }

    /// A second valid key-bound token, with another `jti`.
    fn bound_other(&self) -> String {
        bound_builder(self.p)
            .sign(
                &self.p.issuer_key,
                UnixTime::from_secs(self.now()),
                &mut self.other_rng(),
            )
            .unwrap_or_default()
    }

    /// A generator for the next proof's `jti`: each proof of an attack gets its own.
    fn proof_rng(&self) -> ChaCha20Rng {
        let n = self.proofs.get();
        self.proofs.set(n.wrapping_add(1));
        proof_rng(&self.seed, n)
    }

    /// A proof by `key` for `method` with `params`, under `token`, to `audience`, made at
    /// `now + delta`.
    #[allow(clippy::too_many_arguments)] // what a proof binds: each argument is one claim
    fn proof(
        &self,
        key: &SigningKey,
        header: ProofHeader,
        method: &str,
        params: &Value,
        token: &str,
        audience: &str,
        delta: i64,
    ) -> String {
        let iat = UnixTime::from_secs(self.at(delta));
        sign_proof(
            key,
            header,
            method,
            params,
            token,
            audience,
            iat,
            &mut self.proof_rng(),
        )
    }

    /// The agent's valid proof for `method` with `params` under `token`, made now.
    fn agent_proof(&self, method: &str, params: &Value, token: &str) -> String {
        self.proof(
            &self.p.agent_key,
            ProofHeader::Plain,
            method,
            params,
            token,
            &self.p.audience,
            0,
        )
    }

    /// `body` with the agent's valid proof for it, under `token`, in its `_meta`.
    fn proven(&self, body: Value, token: &str) -> Value {
        prove(self.p, body, token, &mut self.proof_rng())
    }

    /// The attacker's own key under its own `kid`.
    fn attacker_own(&self) -> SigningKey {
        self.p
            .attacker
            .clone()
            .with_kid("attacker-key-1")
            .unwrap_or_else(|_| self.p.attacker.clone())
    }

    /// `claims` with `edit`, signed by the attacker's own key under its own `kid`.
    fn attacker_signed(&self, edit: impl FnOnce(&mut Value)) -> String {
        let key = self.attacker_own();
        let mut claims = self.claims();
        edit(&mut claims);
        let header = json!({"alg": "EdDSA", "typ": attest_core::TYP_ATTESTATION, "kid": key.kid()});
        sign_with(
            &key,
            canonical(&header).as_bytes(),
            canonical(&claims).as_bytes(),
        )
    }

    /// The issuer's public JWKS, with `extra` keys appended.
    fn jwks_with(&self, extra: Vec<Value>) -> String {
        let mut keys = vec![public_jwk(&self.p.issuer_key)];
        keys.extend(extra);
        canonical(&json!({ "keys": keys }))
    }

    /// The valid claims under `kid`, signed by the issuer key.
    fn under_kid(&self, kid: &str) -> String {
        self.with_header(|h| set(h, "kid", json!(kid)))
    }

    /// The valid claims under `kid`, with the forged identity-key signature.
    fn forged_under_kid(&self, kid: &str) -> String {
        let mut header = self.header();
        set(&mut header, "kid", json!(kid));
        let input = format!(
            "{}.{}",
            b64(canonical(&header).as_bytes()),
            b64(canonical(&self.claims()).as_bytes())
        );
        format!("{input}.{}", b64(&identity_signature()))
    }
}

/// The builder of a valid token for `issuer` and `audience`.
pub(crate) fn builder(issuer: &str, audience: &str) -> TokenBuilder {
    TokenBuilder::new(issuer, SUBJECT)
        .audience(audience)
        .identity(AgentIdentity::new("claude", "sonnet-4", "anthropic"))
        .metadata(AttestationMetadata::provider())
}

/// The builder of a valid key-bound token: `cnf.jwk` names the agent's key (SPEC.md §17.1).
pub(crate) fn bound_builder(p: &Params) -> TokenBuilder {
    builder(&p.issuer, &p.audience).confirmation(Confirmation {
        jwk: Some(p.agent_key.to_public_jwk()),
        ..Confirmation::default()
    })
}

/// A proof RNG derived from `seed`: the `n`th proof of an attack (or control).
fn proof_rng(seed: &[u8; 32], n: u8) -> ChaCha20Rng {
    let mut seed = *seed;
    for b in &mut seed {
        *b ^= 0x3c;
    }
    if let Some(last) = seed.last_mut() {
        *last ^= n;
    }
    ChaCha20Rng::from_seed(seed)
}

/// `params` as the server reads them: rmcp parses the params of `initialize` and `tools/call`
/// into its own types and the gate hashes them serialized again (SPEC.md §17.6), so a proof
/// is computed over that form, as rmcp's client would send it.
fn as_rmcp_reads(method: &str, params: &Value) -> Value {
    use rmcp::model::{CallToolRequestParams, InitializeRequestParams};
    let reread = match method {
        "initialize" => serde_json::from_value::<InitializeRequestParams>(params.clone())
            .and_then(serde_json::to_value),
        "tools/call" => serde_json::from_value::<CallToolRequestParams>(params.clone())
            .and_then(serde_json::to_value),
        _ => Ok(params.clone()),
    };
    reread.unwrap_or_else(|_| params.clone())
}

/// What a proof for `method` with `params` binds (`mth`, `nam`, `ph`).
fn binding_of(method: &str, params: &Value) -> Option<RequestBinding> {
    RequestBinding::of_request(method, Some(&as_rmcp_reads(method, params))).ok()
}

/// A proof (SPEC.md §17.2) by `key` for `method` with `params`, under `token`, to `audience`,
/// made at `iat`, with a `jti` from `rng`. Empty if the params cannot be hashed.
#[allow(clippy::too_many_arguments)] // what a proof binds: each argument is one claim
fn sign_proof(
    key: &SigningKey,
    header: ProofHeader,
    method: &str,
    params: &Value,
    token: &str,
    audience: &str,
    iat: UnixTime,
    rng: &mut ChaCha20Rng,
) -> String {
    binding_of(method, params)
        .and_then(|binding| {
            ProofClaims::new(audience, &binding, &token_hash(token), iat, rng)
                .sign(key, header)
                .ok()
        })
        .unwrap_or_default()
}

/// `body` (a JSON-RPC request) with the agent's valid proof for it, under `token`, made at
/// `p.now`, written into `params._meta[EXTENSION_ID]`: as the `proof` member of the object
/// there, or as the proof-only object `{version, proof}` (SPEC.md §17.3).
pub(crate) fn prove(p: &Params, mut body: Value, token: &str, rng: &mut ChaCha20Rng) -> Value {
    let method = body
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let params = body.get("params").cloned().unwrap_or_else(|| json!({}));
    let proof = sign_proof(
        &p.agent_key,
        ProofHeader::Plain,
        &method,
        &params,
        token,
        &p.audience,
        UnixTime::from_secs(p.now),
        rng,
    );
    if let Some(params) = body.get_mut("params").and_then(Value::as_object_mut) {
        let meta = params.entry("_meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            let object = meta
                .entry(EXTENSION_ID)
                .or_insert_with(|| json!({"version": "0.1.0"}));
            set(object, "proof", json!(proof));
        }
    }
    body
}

/// `key`'s public JWK as JSON.
fn public_jwk(key: &SigningKey) -> Value {
    serde_json::to_value(key.to_public_jwk()).unwrap_or(Value::Null)
}

/// An `OKP`/`Ed25519` public JWK with `kid` and `x` as given, then `changes` applied.
fn okp(kid: &str, x: &str, changes: Value) -> Value {
    let mut key =
        json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig", "alg": "EdDSA", "x": x});
    if let Some(changes) = changes.as_object() {
        for (name, value) in changes {
            set(&mut key, name, value.clone());
        }
    }
    key
}

/// The issuer's published JWKS: what the in-process verifier trusts.
pub(crate) fn issuer_jwks(p: &Params) -> String {
    KeySet::from_keys([(p.issuer_key.kid(), p.issuer_key.public_key())])
        .map(|set| set.to_jwks_json())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// MCP requests
// ---------------------------------------------------------------------------------------------

/// An `initialize` request with `capabilities`, claiming to be `client_name`.
pub(crate) fn initialize(capabilities: Value, client_name: &str) -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": INITIALIZE_PROTOCOL,
            "capabilities": capabilities,
            "clientInfo": {"name": client_name, "version": "1.0.0"},
        },
    })
}

/// Client capabilities carrying `token` in both carriers (the full 0.1.0 object).
pub(crate) fn capabilities_with(token: &str) -> Value {
    let object = attestation_object(token);
    json!({
        "extensions": {EXTENSION_ID: object.clone()},
        "experimental": {LEGACY_KEY: object},
    })
}

/// The full client attestation object of SPEC.md §9.1.
fn attestation_object(token: &str) -> Value {
    json!({
        "version": "0.1.0", "token": token,
        "supported_algorithms": ["EdDSA"], "attestation_types": ["provider", "enterprise"],
    })
}

/// The compact object `{version, token}` sent in `_meta`.
pub(crate) fn compact(token: &str) -> Value {
    json!({"version": "0.1.0", "token": token})
}

/// A stateless 2026-07-28 request of `method`: `_meta` holds the protocol version, the client
/// capabilities `capabilities`, and `attestation` directly when given.
pub(crate) fn stateless(method: &str, attestation: Option<Value>, capabilities: Value) -> Value {
    let params = if method == "tools/call" {
        json!({"name": TOOL, "arguments": {}})
    } else {
        json!({})
    };
    stateless_with(method, params, attestation, capabilities)
}

/// A stateless 2026-07-28 request of `method` with `params` (an object, without `_meta`):
/// `_meta` holds the protocol version, the client capabilities `capabilities`, and
/// `attestation` directly when given.
pub(crate) fn stateless_with(
    method: &str,
    mut params: Value,
    attestation: Option<Value>,
    capabilities: Value,
) -> Value {
    let mut meta = Map::new();
    meta.insert(
        "io.modelcontextprotocol/protocolVersion".into(),
        json!(STATELESS_PROTOCOL),
    );
    meta.insert(CLIENT_CAPABILITIES_META_KEY.into(), capabilities);
    meta.insert(
        "io.modelcontextprotocol/clientInfo".into(),
        json!({"name": "attest-attack", "version": env!("CARGO_PKG_VERSION")}),
    );
    if let Some(attestation) = attestation {
        meta.insert(EXTENSION_ID.into(), attestation);
    }
    set(&mut params, "_meta", Value::Object(meta));
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
}

/// A stateless `tools/call` presenting `token` in `_meta`: how a token attack reaches a
/// live server.
pub(crate) fn stateless_call_with(token: &str) -> Value {
    stateless("tools/call", Some(compact(token)), json!({}))
}

fn step(body: Value) -> McpStep {
    McpStep {
        body,
        authorization: None,
    }
}

// ---------------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------------

struct Corpus<'p> {
    p: &'p Params,
    master: ChaCha20Rng,
    attacks: Vec<Attack>,
}

/// The declaration of one attack, before its input is crafted.
struct Decl {
    id: &'static str,
    vector: Option<&'static str>,
    needs: Needs,
    expected: Reason,
    error: Option<&'static str>,
    mitigation: &'static Mitigation,
    description: &'static str,
}

#[allow(clippy::too_many_arguments)] // a table row: each argument is one column
const fn decl(
    id: &'static str,
    vector: Option<&'static str>,
    needs: Needs,
    expected: Reason,
    error: Option<&'static str>,
    mitigation: &'static Mitigation,
    description: &'static str,
) -> Decl {
    Decl {
        id,
        vector,
        needs,
        expected,
        error,
        mitigation,
        description,
    }
}

impl<'p> Corpus<'p> {
    fn fixture(&mut self) -> Fixture<'p> {
        let seed = if self.p.jti_per_attack {
            let mut seed = [0u8; 32];
            self.master.fill_bytes(&mut seed);
            seed
        } else {
            self.p.seed
        };
        Fixture {
            p: self.p,
            seed,
            proofs: Cell::new(0),
        }
    }

    fn add(&mut self, d: Decl, make: impl FnOnce(&Fixture<'p>) -> Kind) {
        let fixture = self.fixture();
        let kind = make(&fixture);
        self.attacks.push(Attack {
            id: d.id,
            vector: d.vector,
            description: d.description,
            expected: d.expected,
            error: d.error,
            mitigation: d.mitigation,
            needs: d.needs,
            kind,
        });
    }

    /// A token attack that is also the conformance vector `vector`.
    #[allow(clippy::too_many_arguments)] // a table row: each argument is one column
    fn token(
        &mut self,
        id: &'static str,
        vector: &'static str,
        needs: Needs,
        expected: Reason,
        error: &'static str,
        mitigation: &'static Mitigation,
        description: &'static str,
        make: impl FnOnce(&Fixture<'p>) -> String,
    ) {
        let d = decl(
            id,
            Some(vector),
            needs,
            expected,
            Some(error),
            mitigation,
            description,
        );
        self.add(d, |f| Kind::Token(make(f)));
    }

    /// A proof-of-possession attack: stateless requests to a server that requires proofs.
    fn proof(
        &mut self,
        id: &'static str,
        expected: Reason,
        error: &'static str,
        mitigation: &'static Mitigation,
        description: &'static str,
        make: impl FnOnce(&Fixture<'p>) -> Vec<ProofStep>,
    ) {
        let d = decl(
            id,
            None,
            Needs::IssuerKeyAndProofs,
            expected,
            Some(error),
            mitigation,
            description,
        );
        self.add(d, |f| Kind::Proof(make(f)));
    }
}

/// Every attack, crafted from `p`.
pub(crate) fn attacks(p: &Params) -> Vec<Attack> {
    use Needs::{InProcess, IssuerKey, Nothing};
    use Reason as R;

    let mut c = Corpus {
        p,
        master: ChaCha20Rng::from_seed(p.seed),
        attacks: Vec::new(),
    };

    // --- The original's eight scenarios -----------------------------------------------------
    c.token(
        "ATK-001-model-spoofing",
        "model_spoofing_attacker_kid",
        Nothing,
        R::KeyUnknown,
        "key_unknown",
        &M_KEY_BINDING,
        "model spoofing: a trusted model's claims signed with the attacker's own key and kid",
        |f| f.attacker_signed(|_| {}),
    );
    c.token(
        "ATK-002-provenance-forgery",
        "issuer_untrusted",
        Nothing,
        R::IssuerUntrusted,
        "issuer_untrusted",
        &M_ISSUER,
        "provenance forgery: an issuer outside the trusted set, signing with its own key",
        |f| f.attacker_signed(|c| set(c, "iss", json!("https://attacker.example"))),
    );
    c.add(
        decl(
            "ATK-003-token-replay",
            None,
            IssuerKey,
            R::Replay,
            Some("replay"),
            &M_REPLAY,
            "token replay: a valid token presented a second time",
        ),
        |f| Kind::Replay(f.bound()),
    );
    c.token(
        "ATK-004-exp-tampering",
        "signature_tampered_exp",
        IssuerKey,
        R::Invalid,
        "signature_mismatch",
        &M_SIGNATURE,
        "exp extended after signing, not re-signed",
        |f| {
            let valid = f.valid();
            let (header, _, signature) = segments(&valid);
            let claims = canonical(&f.claims()).replacen(
                &format!("\"exp\":{}", f.at(300)),
                &format!("\"exp\":{}", f.at(86_400)),
                1,
            );
            format!("{header}.{}.{signature}", b64(claims.as_bytes()))
        },
    );
    c.token(
        "ATK-005-lookalike-issuer",
        "issuer_lookalike",
        Nothing,
        R::IssuerUntrusted,
        "issuer_untrusted",
        &M_ISSUER,
        "a look-alike issuer domain, signing with its own key",
        |f| f.attacker_signed(|c| set(c, "iss", json!(craft::lookalike(&f.p.issuer)))),
    );
    c.add(
        decl(
            "ATK-006-downgrade-no-token",
            None,
            Nothing,
            R::Required,
            None,
            &M_GATE,
            "downgrade: initialize without any attestation under policy required, claiming a trusted model in clientInfo",
        ),
        |_| Kind::Mcp(vec![step(initialize(json!({}), "claude-sonnet-4"))]),
    );
    c.token(
        "ATK-007-audience-mismatch",
        "aud_mismatch",
        IssuerKey,
        R::AudienceMismatch,
        "audience_mismatch",
        &M_AUDIENCE,
        "a token for server A presented to server B",
        |f| f.with_claims(|c| set(c, "aud", json!("https://other-server.example"))),
    );
    c.token(
        "ATK-008-safety-level-tampering",
        "signature_tampered_safety_level",
        IssuerKey,
        R::Invalid,
        "signature_mismatch",
        &M_SIGNATURE,
        "safety_level changed after signing, not re-signed",
        |f| {
            let valid = f.valid();
            let (header, _, signature) = segments(&valid);
            let claims = canonical(&f.claims()).replacen("\"standard\"", "\"enhanced\"", 1);
            format!("{header}.{}.{signature}", b64(claims.as_bytes()))
        },
    );

    // --- Algorithm ---------------------------------------------------------------------------
    c.token(
        "ATK-009-alg-none",
        "alg_none",
        Nothing,
        R::HeaderRejected,
        "algorithm_not_allowed",
        &M_ALG,
        "alg none with an empty signature",
        |f| {
            let header =
                json!({"alg": "none", "typ": attest_core::TYP_ATTESTATION, "kid": f.kid()});
            format!(
                "{}.{}.",
                b64(canonical(&header).as_bytes()),
                b64(canonical(&f.claims()).as_bytes())
            )
        },
    );
    c.token(
        "ATK-010-alg-none-capitalized",
        "alg_none_capitalized",
        IssuerKey,
        R::HeaderRejected,
        "algorithm_not_allowed",
        &M_ALG,
        "alg None: the allowlist is case-sensitive",
        |f| f.with_header(|h| set(h, "alg", json!("None"))),
    );
    c.token(
        "ATK-011-alg-eddsa-lowercase",
        "alg_eddsa_lowercase",
        IssuerKey,
        R::HeaderRejected,
        "algorithm_not_allowed",
        &M_ALG,
        "alg eddsa: the allowlist is case-sensitive",
        |f| f.with_header(|h| set(h, "alg", json!("eddsa"))),
    );
    c.token(
        "ATK-012-alg-hs256-public-key",
        "alg_hs256_public_key",
        IssuerKey,
        R::HeaderRejected,
        "algorithm_not_allowed",
        &M_ALG,
        "HS256 keyed with the issuer's Ed25519 public key (key confusion)",
        |f| {
            let header =
                json!({"alg": "HS256", "typ": attest_core::TYP_ATTESTATION, "kid": f.kid()});
            let valid = f.valid();
            let (_, payload, _) = segments(&valid);
            let input = format!("{}.{payload}", b64(canonical(&header).as_bytes()));
            let public = f.p.issuer_key.public_key();
            let mac = hmac_sha256(public.as_bytes(), input.as_bytes());
            format!("{input}.{}", b64(&mac))
        },
    );
    c.token(
        "ATK-013-alg-rs256",
        "alg_rs256",
        IssuerKey,
        R::HeaderRejected,
        "algorithm_not_allowed",
        &M_ALG,
        "alg RS256",
        |f| f.with_header(|h| set(h, "alg", json!("RS256"))),
    );
    c.token(
        "ATK-014-alg-es256",
        "alg_es256",
        IssuerKey,
        R::HeaderRejected,
        "algorithm_not_allowed",
        &M_ALG,
        "alg ES256",
        |f| f.with_header(|h| set(h, "alg", json!("ES256"))),
    );
    c.token(
        "ATK-015-alg-missing",
        "alg_missing",
        IssuerKey,
        R::HeaderRejected,
        "missing_header",
        &M_ALG,
        "no alg",
        |f| f.with_header(|h| remove(h, "alg")),
    );

    // --- Header parameters -------------------------------------------------------------------
    c.token(
        "ATK-016-header-jwk",
        "header_jwk",
        Nothing,
        R::HeaderRejected,
        "header_parameter_not_allowed",
        &M_HEADER_PARAMS,
        "an embedded jwk: the attacker supplies the key and signs with it",
        |f| {
            let mut header = f.header();
            set(&mut header, "jwk", public_jwk(&f.p.attacker));
            sign_with(
                &f.p.attacker,
                canonical(&header).as_bytes(),
                canonical(&f.claims()).as_bytes(),
            )
        },
    );
    c.token(
        "ATK-017-header-jku",
        "header_jku",
        Nothing,
        R::HeaderRejected,
        "header_parameter_not_allowed",
        &M_HEADER_PARAMS,
        "a jku URL pointing at the attacker's JWKS, signed with the attacker's key",
        |f| {
            let mut header = f.header();
            set(
                &mut header,
                "jku",
                json!("https://attacker.example/jwks.json"),
            );
            sign_with(
                &f.p.attacker,
                canonical(&header).as_bytes(),
                canonical(&f.claims()).as_bytes(),
            )
        },
    );
    c.token(
        "ATK-018-header-x5u",
        "header_x5u",
        Nothing,
        R::HeaderRejected,
        "header_parameter_not_allowed",
        &M_HEADER_PARAMS,
        "an x5u URL pointing at the attacker's certificate",
        |f| {
            let mut header = f.header();
            set(
                &mut header,
                "x5u",
                json!("https://attacker.example/cert.pem"),
            );
            sign_with(
                &f.p.attacker,
                canonical(&header).as_bytes(),
                canonical(&f.claims()).as_bytes(),
            )
        },
    );
    c.token(
        "ATK-019-header-x5c",
        "header_x5c",
        Nothing,
        R::HeaderRejected,
        "header_parameter_not_allowed",
        &M_HEADER_PARAMS,
        "an x5c chain supplied by the attacker",
        |f| {
            let mut header = f.header();
            set(
                &mut header,
                "x5c",
                json!([craft::b64_standard(b"not a certificate")]),
            );
            sign_with(
                &f.p.attacker,
                canonical(&header).as_bytes(),
                canonical(&f.claims()).as_bytes(),
            )
        },
    );
    c.token(
        "ATK-020-header-crit",
        "header_crit",
        IssuerKey,
        R::HeaderRejected,
        "header_parameter_not_allowed",
        &M_HEADER_PARAMS,
        "a crit list",
        |f| f.with_header(|h| set(h, "crit", json!(["exp"]))),
    );
    c.token(
        "ATK-021-header-b64-false",
        "header_b64_false",
        IssuerKey,
        R::HeaderRejected,
        "header_parameter_not_allowed",
        &M_HEADER_PARAMS,
        "b64 false (RFC 7797 unencoded payload)",
        |f| f.with_header(|h| set(h, "b64", json!(false))),
    );
    c.token(
        "ATK-022-header-cty",
        "header_cty",
        IssuerKey,
        R::HeaderRejected,
        "header_parameter_not_allowed",
        &M_HEADER_PARAMS,
        "a cty (nested JWT)",
        |f| f.with_header(|h| set(h, "cty", json!("JWT"))),
    );
    c.token(
        "ATK-023-typ-missing",
        "typ_missing",
        IssuerKey,
        R::HeaderRejected,
        "missing_header",
        &M_TYP,
        "no typ",
        |f| f.with_header(|h| remove(h, "typ")),
    );
    c.token(
        "ATK-024-typ-jwt-not-opted-in",
        "typ_jwt_not_opted_in",
        IssuerKey,
        R::HeaderRejected,
        "typ_not_accepted",
        &M_TYP,
        "typ JWT under a policy that accepts only the explicit type",
        |f| f.with_header(|h| set(h, "typ", json!("JWT"))),
    );
    c.token(
        "ATK-025-typ-confusion",
        "typ_access_token",
        IssuerKey,
        R::HeaderRejected,
        "typ_not_accepted",
        &M_TYP,
        "typ at+jwt: another kind of JWT from the same issuer",
        |f| f.with_header(|h| set(h, "typ", json!("at+jwt"))),
    );
    c.token(
        "ATK-026-kid-missing",
        "kid_missing",
        IssuerKey,
        R::HeaderRejected,
        "missing_header",
        &M_KID,
        "no kid",
        |f| f.with_header(|h| remove(h, "kid")),
    );
    c.token(
        "ATK-027-kid-empty",
        "kid_empty",
        IssuerKey,
        R::HeaderRejected,
        "kid_invalid",
        &M_KID,
        "an empty kid",
        |f| f.with_header(|h| set(h, "kid", json!(""))),
    );
    c.token(
        "ATK-028-kid-too-long",
        "kid_too_long",
        IssuerKey,
        R::HeaderRejected,
        "kid_invalid",
        &M_KID,
        "a 200-character kid",
        |f| f.with_header(|h| set(h, "kid", json!("k".repeat(200)))),
    );
    c.token(
        "ATK-029-kid-not-string",
        "kid_not_string",
        IssuerKey,
        R::HeaderRejected,
        "kid_invalid",
        &M_KID,
        "a numeric kid",
        |f| f.with_header(|h| set(h, "kid", json!(1))),
    );
    c.token(
        "ATK-030-kid-with-space",
        "kid_with_space",
        IssuerKey,
        R::HeaderRejected,
        "kid_invalid",
        &M_KID,
        "a kid with a space",
        |f| {
            let kid = format!("{} ", f.kid());
            f.with_header(|h| set(h, "kid", json!(kid)))
        },
    );

    // --- Encoding ----------------------------------------------------------------------------
    c.token(
        "ATK-031-segments-two",
        "segments_two",
        Nothing,
        R::Malformed,
        "segment_count",
        &M_SEGMENTS,
        "two segments: the signature dropped",
        |f| {
            let valid = f.valid();
            let (header, payload, _) = segments(&valid);
            format!("{header}.{payload}")
        },
    );
    c.token(
        "ATK-032-segments-four",
        "segments_four",
        IssuerKey,
        R::Malformed,
        "segment_count",
        &M_SEGMENTS,
        "four segments: a valid token with a segment appended",
        |f| {
            let valid = f.valid();
            let (_, _, signature) = segments(&valid);
            format!("{valid}.{signature}")
        },
    );
    c.token(
        "ATK-033-jwe-five-segments",
        "jwe_five_segments",
        Nothing,
        R::Malformed,
        "jwe",
        &M_SEGMENTS,
        "a five-segment JWE",
        |f| {
            let valid = f.valid();
            let (header, _, _) = segments(&valid);
            format!("{header}.a.b.c.d")
        },
    );
    c.token(
        "ATK-034-jws-json-serialization",
        "jws_json_serialization",
        IssuerKey,
        R::Malformed,
        "json_serialization",
        &M_SEGMENTS,
        "a valid token in the JWS JSON serialization",
        |f| {
            let valid = f.valid();
            let (header, payload, signature) = segments(&valid);
            canonical(&json!({"payload": payload, "protected": header, "signature": signature}))
        },
    );
    c.token(
        "ATK-035-base64-padding",
        "base64_padding",
        IssuerKey,
        R::Malformed,
        "base64",
        &M_BASE64,
        "a valid token with a padded header segment",
        |f| {
            let valid = f.valid();
            let (header, payload, signature) = segments(&valid);
            // Base64 of a length ≡ 2 (mod 4) takes two pad characters, ≡ 3 one.
            let padding = if header.len() % 4 == 2 { "==" } else { "=" };
            format!("{header}{padding}.{payload}.{signature}")
        },
    );
    c.token(
        "ATK-036-base64-standard-alphabet",
        "base64_standard_alphabet",
        IssuerKey,
        R::Malformed,
        "base64",
        &M_BASE64,
        "a valid token re-spelled in the standard +/ base64 alphabet",
        |f| {
            // The standard alphabet differs from base64url only in `+`/`/` for `-`/`_`. Header
            // and claims are ASCII JSON, whose encoding almost never holds those; a signature
            // usually does. When it does not (about 1 in 15), a benign extension claim is
            // added until it does.
            let mut valid = f.valid();
            for nonce in 1u32..=256 {
                if segments(&valid).2.contains(['-', '_']) {
                    break;
                }
                valid = f.with_claims(|c| set(c, "attack_nonce", json!(nonce)));
            }
            let (header, payload, _) = segments(&valid);
            let signature = craft::b64_standard(&signature_of(&valid));
            format!("{header}.{payload}.{}", signature.trim_end_matches('='))
        },
    );
    c.token(
        "ATK-037-base64-whitespace",
        "base64_whitespace",
        IssuerKey,
        R::Malformed,
        "base64",
        &M_BASE64,
        "a valid token with a line break inside the payload",
        |f| {
            let valid = f.valid();
            let (header, payload, signature) = segments(&valid);
            let (first, rest) = payload.split_at_checked(10).unwrap_or((payload, ""));
            format!("{header}.{first}\n{rest}.{signature}")
        },
    );
    c.token(
        "ATK-038-base64-trailing-bits",
        "base64_trailing_bits",
        IssuerKey,
        R::Malformed,
        "base64",
        &M_BASE64,
        "a valid token whose signature's last character has non-zero trailing bits",
        |f| {
            let valid = f.valid();
            let (header, payload, signature) = segments(&valid);
            format!(
                "{header}.{payload}.{}",
                craft::with_trailing_bits(signature)
            )
        },
    );
    c.token(
        "ATK-039-header-not-json",
        "header_not_json",
        Nothing,
        R::Malformed,
        "json",
        &M_JSON,
        "the header is not JSON",
        |f| {
            let valid = f.valid();
            let (_, payload, signature) = segments(&valid);
            format!("{}.{payload}.{signature}", b64(b"alg=EdDSA"))
        },
    );
    c.token(
        "ATK-040-payload-not-object",
        "payload_not_object",
        IssuerKey,
        R::Malformed,
        "json",
        &M_JSON,
        "validly signed claims that are a JSON array",
        |f| f.sign_text(&canonical(&f.header()), "[1,2,3]"),
    );
    c.token(
        "ATK-041-duplicate-header-alg",
        "duplicate_header_alg",
        IssuerKey,
        R::Malformed,
        "duplicate_member",
        &M_JSON,
        "alg appears twice in a validly signed header, none then EdDSA",
        |f| {
            let header = canonical(&f.header()).replacen('{', "{\"alg\":\"none\",", 1);
            f.sign_text(&header, &canonical(&f.claims()))
        },
    );
    c.token(
        "ATK-042-duplicate-claim-exp",
        "duplicate_claim_exp",
        IssuerKey,
        R::Malformed,
        "duplicate_member",
        &M_JSON,
        "exp appears twice in validly signed claims, a day later first",
        |f| {
            let claims =
                canonical(&f.claims()).replacen('{', &format!("{{\"exp\":{},", f.at(86_400)), 1);
            f.sign_text(&canonical(&f.header()), &claims)
        },
    );
    c.token(
        "ATK-043-duplicate-nested-member",
        "duplicate_nested_member",
        IssuerKey,
        R::Malformed,
        "duplicate_member",
        &M_JSON,
        "agent_identity.provider appears twice",
        |f| {
            let claims = canonical(&f.claims()).replacen(
                "\"provider\":\"anthropic\"",
                "\"provider\":\"anthropic\",\"provider\":\"other\"",
                1,
            );
            f.sign_text(&canonical(&f.header()), &claims)
        },
    );
    c.token(
        "ATK-044-duplicate-escaped-name",
        "duplicate_escaped_name",
        IssuerKey,
        R::Malformed,
        "duplicate_member",
        &M_JSON,
        "exp and \\u0065xp name the same member",
        |f| {
            let claims = canonical(&f.claims()).replacen(
                '{',
                &format!("{{\"\\u0065xp\":{},", f.at(86_400)),
                1,
            );
            f.sign_text(&canonical(&f.header()), &claims)
        },
    );
    c.token(
        "ATK-045-oversized-token",
        "too_large",
        IssuerKey,
        R::Malformed,
        "too_large",
        &M_SIZE,
        "a validly signed token over the 8 KiB cap",
        |f| f.with_claims(|c| set(c, "padding", json!("x".repeat(8 * 1024)))),
    );
    c.token(
        "ATK-046-json-too-deep",
        "json_too_deep",
        IssuerKey,
        R::Malformed,
        "too_deep",
        &M_JSON,
        "an extension claim nested ten levels deep",
        |f| {
            let mut deep = json!("bottom");
            for _ in 0..10 {
                deep = json!({ "n": deep });
            }
            f.with_claims(|c| set(c, "nested", deep))
        },
    );

    // --- Signature ---------------------------------------------------------------------------
    c.token(
        "ATK-047-signature-63-bytes",
        "signature_63_bytes",
        IssuerKey,
        R::Invalid,
        "signature_length",
        &M_SIGNATURE_LENGTH,
        "a valid signature truncated to 63 bytes",
        |f| {
            let valid = f.valid();
            let signature = signature_of(&valid);
            resign(&valid, signature.get(..63).unwrap_or_default())
        },
    );
    c.token(
        "ATK-048-signature-65-bytes",
        "signature_65_bytes",
        IssuerKey,
        R::Invalid,
        "signature_length",
        &M_SIGNATURE_LENGTH,
        "a valid signature with a byte appended",
        |f| {
            let valid = f.valid();
            let mut signature = signature_of(&valid).to_vec();
            signature.push(0);
            resign(&valid, &signature)
        },
    );
    c.token(
        "ATK-049-signature-s-plus-l",
        "signature_s_plus_l",
        IssuerKey,
        R::Invalid,
        "signature_non_canonical",
        &M_SIGNATURE_STRICT,
        "S+L malleability: the malleated twin of a valid signature",
        |f| {
            let valid = f.valid();
            resign(&valid, &add_order_to_s(&signature_of(&valid)))
        },
    );
    c.token(
        "ATK-050-signature-small-order-r",
        "signature_small_order_r",
        IssuerKey,
        R::Invalid,
        "signature_small_order",
        &M_SIGNATURE_STRICT,
        "small-order R: R is the identity point and S = 0, under the issuer's real kid",
        |f| resign(&f.valid(), &identity_signature()),
    );
    c.token(
        "ATK-051-signature-attacker-key",
        "signature_attacker_key",
        IssuerKey,
        R::Invalid,
        "signature_mismatch",
        &M_SIGNATURE,
        "signed by the attacker's own key under the issuer's kid",
        |f| {
            sign_with(
                &f.p.attacker,
                canonical(&f.header()).as_bytes(),
                canonical(&f.claims()).as_bytes(),
            )
        },
    );

    // --- Keys and issuers --------------------------------------------------------------------
    c.token(
        "ATK-052-kid-unknown",
        "kid_unknown",
        IssuerKey,
        R::KeyUnknown,
        "key_unknown",
        &M_KEY_UNKNOWN,
        "a kid the issuer does not publish (a rotated-away key)",
        |f| f.under_kid("rotated-away"),
    );
    c.token(
        "ATK-053-issuer-trailing-slash",
        "issuer_trailing_slash",
        IssuerKey,
        R::IssuerUntrusted,
        "issuer_untrusted",
        &M_ISSUER,
        "the trusted issuer with a trailing slash, signed by the issuer's key",
        |f| {
            let iss = format!("{}/", f.p.issuer);
            f.with_claims(|c| set(c, "iss", json!(iss)))
        },
    );
    c.token(
        "ATK-054-issuer-case",
        "issuer_case",
        IssuerKey,
        R::IssuerUntrusted,
        "issuer_untrusted",
        &M_ISSUER,
        "the trusted issuer in upper case, signed by the issuer's key",
        |f| {
            let iss = f.p.issuer.to_uppercase();
            f.with_claims(|c| set(c, "iss", json!(iss)))
        },
    );

    // --- Claims ------------------------------------------------------------------------------
    for (id, vector, name) in [
        ("ATK-055-exp-missing", "exp_missing", "exp"),
        ("ATK-056-iat-missing", "iat_missing", "iat"),
    ] {
        let description = if name == "exp" { "no exp" } else { "no iat" };
        c.token(
            id,
            vector,
            IssuerKey,
            R::ClaimsInsufficient,
            "missing_claim",
            &M_CLAIMS_REQUIRED,
            description,
            |f| f.with_claims(|c| remove(c, name)),
        );
    }
    c.token(
        "ATK-057-exp-float",
        "exp_float",
        IssuerKey,
        R::Malformed,
        "invalid_claim",
        &M_CLAIM_TYPES,
        "non-integer exp: a float",
        |f| {
            let exp = craft::raw_number(&format!("{}.5", f.at(300)));
            f.with_claims(|c| set(c, "exp", exp))
        },
    );
    c.token(
        "ATK-058-exp-string",
        "exp_string",
        IssuerKey,
        R::Malformed,
        "invalid_claim",
        &M_CLAIM_TYPES,
        "non-integer exp: a string",
        |f| {
            let exp = f.at(300).to_string();
            f.with_claims(|c| set(c, "exp", json!(exp)))
        },
    );
    c.token(
        "ATK-059-nbf-negative",
        "nbf_negative",
        IssuerKey,
        R::Malformed,
        "invalid_claim",
        &M_CLAIM_TYPES,
        "a negative nbf",
        |f| f.with_claims(|c| set(c, "nbf", json!(-1))),
    );
    c.token(
        "ATK-060-expired",
        "expired",
        IssuerKey,
        R::Expired,
        "expired",
        &M_TIME,
        "exp 31 s in the past, beyond the 30 s leeway",
        |f| {
            let (iat, exp) = (f.at(-331), f.at(-31));
            f.with_claims(|c| {
                set(c, "iat", json!(iat));
                set(c, "exp", json!(exp));
            })
        },
    );
    c.token(
        "ATK-061-nbf-future",
        "nbf_future",
        IssuerKey,
        R::NotYetValid,
        "not_yet_valid",
        &M_TIME,
        "nbf 60 s in the future",
        |f| {
            let nbf = f.at(60);
            f.with_claims(|c| set(c, "nbf", json!(nbf)))
        },
    );
    c.token(
        "ATK-062-iat-future",
        "iat_future",
        IssuerKey,
        R::NotYetValid,
        "issued_in_future",
        &M_TIME,
        "iat 60 s in the future",
        |f| {
            let (iat, exp) = (f.at(60), f.at(360));
            f.with_claims(|c| {
                set(c, "iat", json!(iat));
                set(c, "exp", json!(exp));
            })
        },
    );
    c.token(
        "ATK-063-exp-before-iat",
        "exp_before_iat",
        IssuerKey,
        R::Malformed,
        "invalid_claim",
        &M_CLAIM_TYPES,
        "exp earlier than iat",
        |f| {
            let exp = f.at(-1);
            f.with_claims(|c| set(c, "exp", json!(exp)))
        },
    );
    c.token(
        "ATK-064-lifetime-exceeded",
        "lifetime_exceeded",
        IssuerKey,
        R::LifetimeExceeded,
        "lifetime_exceeded",
        &M_LIFETIME,
        "a 2-hour lifetime under a 1-hour maximum",
        |f| {
            let exp = f.at(7200);
            f.with_claims(|c| set(c, "exp", json!(exp)))
        },
    );
    c.token(
        "ATK-065-aud-missing",
        "aud_missing",
        IssuerKey,
        R::ClaimsInsufficient,
        "missing_claim",
        &M_CLAIMS_REQUIRED,
        "no aud",
        |f| f.with_claims(|c| remove(c, "aud")),
    );
    c.token(
        "ATK-066-aud-empty",
        "aud_empty_array",
        IssuerKey,
        R::AudienceMismatch,
        "audience_empty",
        &M_AUDIENCE,
        "aud is an empty array",
        |f| f.with_claims(|c| set(c, "aud", json!([]))),
    );
    c.token(
        "ATK-067-jti-missing",
        "jti_missing",
        IssuerKey,
        R::ClaimsInsufficient,
        "missing_claim",
        &M_CLAIMS_REQUIRED,
        "no jti",
        |f| f.with_claims(|c| remove(c, "jti")),
    );
    c.token(
        "ATK-068-jti-empty",
        "jti_empty",
        IssuerKey,
        R::Malformed,
        "invalid_claim",
        &M_CLAIM_TYPES,
        "an empty jti",
        |f| f.with_claims(|c| set(c, "jti", json!(""))),
    );
    c.token(
        "ATK-069-jti-too-long",
        "jti_too_long",
        IssuerKey,
        R::Malformed,
        "jti_too_long",
        &M_JTI,
        "a 129-byte jti",
        |f| f.with_claims(|c| set(c, "jti", json!("j".repeat(129)))),
    );
    c.token(
        "ATK-070-identity-missing",
        "identity_missing",
        IssuerKey,
        R::ClaimsInsufficient,
        "missing_claim",
        &M_CLAIMS_REQUIRED,
        "no agent_identity",
        |f| f.with_claims(|c| remove(c, "agent_identity")),
    );
    c.token(
        "ATK-071-safety-level-unknown",
        "safety_level_unknown",
        IssuerKey,
        R::Malformed,
        "invalid_claim",
        &M_CLAIM_TYPES,
        "safety_level outside the enumeration",
        |f| {
            f.with_claims(|c| {
                set_in(c, "attestation_metadata", "safety_level", json!("maximum"));
            })
        },
    );
    c.token(
        "ATK-072-sub-empty",
        "sub_empty",
        IssuerKey,
        R::Malformed,
        "invalid_claim",
        &M_CLAIM_TYPES,
        "an empty sub",
        |f| f.with_claims(|c| set(c, "sub", json!(""))),
    );
    c.token(
        "ATK-073-cnf-private-key",
        "cnf_private_key",
        IssuerKey,
        R::Malformed,
        "invalid_claim",
        &M_CLAIM_TYPES,
        "cnf.jwk carries the agent's private key",
        |f| {
            let jwk = serde_json::to_value(f.p.agent_key.to_private_jwk()).unwrap_or_default();
            f.with_claims(|c| set(c, "cnf", json!({ "jwk": jwk })))
        },
    );
    c.token(
        "ATK-074-cnf-jkt-mismatch",
        "cnf_jkt_mismatch",
        IssuerKey,
        R::Malformed,
        "invalid_claim",
        &M_CLAIM_TYPES,
        "cnf.jwk and cnf.jkt name different keys",
        |f| {
            let jwk = public_jwk(&f.p.agent_key);
            let jkt = f.p.issuer_key.public_key().thumbprint();
            f.with_claims(|c| set(c, "cnf", json!({ "jwk": jwk, "jkt": jkt })))
        },
    );
    c.token(
        "ATK-075-version-unsupported",
        "version_unsupported",
        IssuerKey,
        R::Malformed,
        "invalid_claim",
        &M_CLAIM_TYPES,
        "attestation_version 9.9.9",
        |f| {
            f.with_claims(|c| {
                set_in(
                    c,
                    "attestation_metadata",
                    "attestation_version",
                    json!("9.9.9"),
                );
            })
        },
    );
    c.token(
        "ATK-076-integrity-hash-malformed",
        "integrity_hash_malformed",
        IssuerKey,
        R::Malformed,
        "invalid_claim",
        &M_CLAIM_TYPES,
        "config_hash not sha256:<64 hex>",
        |f| f.with_claims(|c| set(c, "agent_integrity", json!({"config_hash": "md5:abc"}))),
    );

    // --- JWKS ingest: the issuer's JWKS host is hostile --------------------------------------
    c.add(
        decl(
            "ATK-077-identity-key-forgery",
            None,
            InProcess,
            R::KeyUnknown,
            Some("key_unknown"),
            &M_JWKS_WEAK_KEY,
            "the identity point published as a key, and a token forged for it with R = identity, S = 0",
        ),
        |f| Kind::Jwks {
            jwks: f.jwks_with(vec![okp("weak", &b64(&IDENTITY), json!({}))]),
            token: f.forged_under_kid("weak"),
        },
    );
    c.add(
        decl(
            "ATK-078-identity-key-non-canonical",
            None,
            InProcess,
            R::KeyUnknown,
            Some("key_unknown"),
            &M_JWKS_WEAK_KEY,
            "the identity point encoded non-canonically (y = p + 1) as a key, with the forged token",
        ),
        |f| Kind::Jwks {
            jwks: f.jwks_with(vec![okp("weak", &b64(&IDENTITY_NON_CANONICAL), json!({}))]),
            token: f.forged_under_kid("weak"),
        },
    );
    c.add(
        decl(
            "ATK-079-jwks-x-31-bytes",
            None,
            InProcess,
            R::KeyUnknown,
            Some("key_unknown"),
            &M_JWKS_WEAK_KEY,
            "a published key whose x is 31 bytes (a peer library panics on it)",
        ),
        |f| {
            let public = f.p.issuer_key.public_key();
            let x = b64(public.as_bytes().get(..31).unwrap_or_default());
            Kind::Jwks {
                jwks: f.jwks_with(vec![okp("short", &x, json!({}))]),
                token: f.under_kid("short"),
            }
        },
    );
    c.add(
        decl(
            "ATK-080-jwks-x-33-bytes",
            None,
            InProcess,
            R::KeyUnknown,
            Some("key_unknown"),
            &M_JWKS_WEAK_KEY,
            "a published key whose x is the issuer key plus one byte (a peer library truncates it)",
        ),
        |f| {
            let mut x = f.p.issuer_key.public_key().as_bytes().to_vec();
            x.push(0);
            Kind::Jwks {
                jwks: f.jwks_with(vec![okp("long", &b64(&x), json!({}))]),
                token: f.under_kid("long"),
            }
        },
    );
    c.add(
        decl(
            "ATK-081-jwks-crv-p256",
            None,
            InProcess,
            R::KeyUnknown,
            Some("key_unknown"),
            &M_JWKS_MEMBERS,
            "an OKP key labelled crv P-256 (a peer library uses it as Ed25519)",
        ),
        |f| {
            let x = b64(f.p.issuer_key.public_key().as_bytes());
            Kind::Jwks {
                jwks: f.jwks_with(vec![okp("p256", &x, json!({"crv": "P-256"}))]),
                token: f.under_kid("p256"),
            }
        },
    );
    c.add(
        decl(
            "ATK-082-jwks-wrong-alg",
            None,
            InProcess,
            R::KeyUnknown,
            Some("key_unknown"),
            &M_JWKS_MEMBERS,
            "a published Ed25519 key restricted to alg RS256",
        ),
        |f| {
            let x = b64(f.p.issuer_key.public_key().as_bytes());
            Kind::Jwks {
                jwks: f.jwks_with(vec![okp("rs", &x, json!({"alg": "RS256"}))]),
                token: f.under_kid("rs"),
            }
        },
    );
    c.add(
        decl(
            "ATK-083-jwks-use-enc",
            None,
            InProcess,
            R::KeyUnknown,
            Some("key_unknown"),
            &M_JWKS_MEMBERS,
            "a published key for use enc, not sig",
        ),
        |f| {
            let x = b64(f.p.issuer_key.public_key().as_bytes());
            Kind::Jwks {
                jwks: f.jwks_with(vec![okp("enc", &x, json!({"use": "enc"}))]),
                token: f.under_kid("enc"),
            }
        },
    );
    c.add(
        decl(
            "ATK-084-jwks-key-ops-sign",
            None,
            InProcess,
            R::KeyUnknown,
            Some("key_unknown"),
            &M_JWKS_MEMBERS,
            "a published public key with key_ops [\"sign\"]",
        ),
        |f| {
            let x = b64(f.p.issuer_key.public_key().as_bytes());
            Kind::Jwks {
                jwks: f.jwks_with(vec![okp("ops", &x, json!({"key_ops": ["sign"]}))]),
                token: f.under_kid("ops"),
            }
        },
    );
    c.add(
        decl(
            "ATK-085-jwks-private-key",
            None,
            InProcess,
            R::KeyUnknown,
            Some("key_unknown"),
            &M_JWKS_PRIVATE,
            "a JWKS that publishes the signing key's private d: anyone can sign, so nothing in it is trusted",
        ),
        |f| {
            let leaked = serde_json::to_value(f.p.issuer_key.to_private_jwk()).unwrap_or_default();
            Kind::Jwks {
                jwks: canonical(&json!({ "keys": [leaked] })),
                token: f.valid(),
            }
        },
    );
    c.add(
        decl(
            "ATK-086-jwks-duplicate-kid",
            None,
            InProcess,
            R::KeyUnknown,
            Some("key_unknown"),
            &M_JWKS_DUPLICATE,
            "the attacker's key published under the issuer's kid next to the real one",
        ),
        |f| Kind::Jwks {
            jwks: f.jwks_with(vec![public_jwk(&f.p.attacker)]),
            token: sign_with(
                &f.p.attacker,
                canonical(&f.header()).as_bytes(),
                canonical(&f.claims()).as_bytes(),
            ),
        },
    );
    c.add(
        decl(
            "ATK-087-jwks-too-many-keys",
            None,
            InProcess,
            R::KeyUnknown,
            Some("key_unknown"),
            &M_JWKS_CAPS,
            "a JWKS of 33 keys, one of them the attacker's",
        ),
        |f| {
            let mut extra: Vec<Value> = (1u8..=31)
                .filter_map(|i| SigningKey::from_seed(&[i; 32], &format!("filler-{i}")).ok())
                .map(|k| public_jwk(&k))
                .collect();
            let own = f.attacker_own();
            extra.push(public_jwk(&own));
            Kind::Jwks {
                jwks: f.jwks_with(extra),
                token: f.attacker_signed(|_| {}),
            }
        },
    );
    c.add(
        decl(
            "ATK-088-jwks-body-too-large",
            None,
            InProcess,
            R::KeyUnknown,
            Some("key_unknown"),
            &M_JWKS_CAPS,
            "a JWKS body over 64 KiB carrying the attacker's key",
        ),
        |f| {
            let own = f.attacker_own();
            let mut key = public_jwk(&own);
            set(&mut key, "padding", json!("x".repeat(64 * 1024)));
            Kind::Jwks {
                jwks: f.jwks_with(vec![key]),
                token: f.attacker_signed(|_| {}),
            }
        },
    );

    // --- Key and issuer binding across issuers ------------------------------------------------
    c.add(
        decl(
            "ATK-089-cross-issuer-kid",
            None,
            InProcess,
            R::KeyUnknown,
            Some("key_unknown"),
            &M_CROSS_ISSUER,
            "issuer A's key and kid on a token claiming issuer B, both trusted",
        ),
        |f| {
            let other_issuer = craft::sibling_issuer(&f.p.issuer);
            let other_key = SigningKey::from_seed(&[0x22; 32], "b-key-1")
                .unwrap_or_else(|_| f.p.attacker.clone());
            let other_jwks = canonical(&json!({ "keys": [public_jwk(&other_key)] }));
            let iss = other_issuer.clone();
            Kind::CrossIssuer {
                other_issuer,
                other_jwks,
                token: f.with_claims(|c| set(c, "iss", json!(iss))),
            }
        },
    );

    // --- MCP carriage ------------------------------------------------------------------------
    c.add(
        decl(
            "ATK-090-stateless-bypass",
            None,
            Nothing,
            R::Required,
            None,
            &M_GATE,
            "the 2026-07-28 bypass: one stateless tools/call without attestation and without initialize",
        ),
        |_| Kind::Mcp(vec![step(stateless("tools/call", None, json!({})))]),
    );
    c.add(
        decl(
            "ATK-091-stateless-tools-list",
            None,
            Nothing,
            R::Required,
            None,
            &M_GATE,
            "a stateless tools/list without attestation: every method is gated, not only tools/call",
        ),
        |_| Kind::Mcp(vec![step(stateless("tools/list", None, json!({})))]),
    );
    c.add(
        decl(
            "ATK-092-carrier-not-object",
            None,
            Nothing,
            R::Malformed,
            None,
            &M_CARRIER,
            "a malformed carrier: the token as a bare string instead of the attestation object",
        ),
        |f| {
            let token = f.attacker_signed(|_| {});
            Kind::Mcp(vec![step(stateless(
                "tools/call",
                Some(json!(token)),
                json!({}),
            ))])
        },
    );
    c.add(
        decl(
            "ATK-093-carrier-unknown-version",
            None,
            Nothing,
            R::Malformed,
            None,
            &M_CARRIER,
            "an attestation object of an unknown version (no best-effort reading)",
        ),
        |f| {
            let token = f.attacker_signed(|_| {});
            let object = json!({"version": "9.9.9", "token": token});
            Kind::Mcp(vec![step(stateless("tools/call", Some(object), json!({})))])
        },
    );
    c.add(
        decl(
            "ATK-094-malformed-beside-valid-carrier",
            None,
            IssuerKey,
            R::Malformed,
            None,
            &M_CARRIER,
            "initialize with a valid extensions carrier and a legacy carrier whose token is a number",
        ),
        |f| {
            let token = f.minted();
            let capabilities = json!({
                "extensions": {EXTENSION_ID: attestation_object(&token)},
                "experimental": {LEGACY_KEY: {"version": "0.1.0", "token": 42}},
            });
            Kind::Mcp(vec![step(initialize(capabilities, "attest-attack"))])
        },
    );
    c.add(
        decl(
            "ATK-095-conflicting-carriers",
            None,
            IssuerKey,
            R::Malformed,
            None,
            &M_CONFLICT,
            "two carriers of one request holding two different valid tokens",
        ),
        |f| {
            let (first, second) = (f.minted(), f.minted_other());
            let capabilities = json!({"extensions": {EXTENSION_ID: attestation_object(&second)}});
            Kind::Mcp(vec![step(stateless(
                "tools/call",
                Some(compact(&first)),
                capabilities,
            ))])
        },
    );
    c.add(
        decl(
            "ATK-096-token-in-http-header",
            None,
            IssuerKey,
            R::Required,
            None,
            &M_NO_HEADER_CARRIAGE,
            "a valid token sent as an HTTP Authorization bearer instead of in the MCP message",
        ),
        |f| {
            Kind::Mcp(vec![McpStep {
                body: stateless("tools/call", None, json!({})),
                authorization: Some(f.minted()),
            }])
        },
    );
    c.add(
        decl(
            "ATK-097-session-replay",
            None,
            IssuerKey,
            R::Replay,
            None,
            &M_SESSION_SINGLE_USE,
            "a token that bound one session presented at a second initialize",
        ),
        |f| {
            // Key-bound, and every request with a valid proof: the replay alone is wrong, also
            // against a server that requires proofs.
            let token = f.bound();
            let init = || initialize(capabilities_with(&token), "attest-attack");
            Kind::Mcp(vec![
                step(f.proven(init(), &token)),
                step(f.proven(init(), &token)),
            ])
        },
    );
    c.add(
        decl(
            "ATK-098-session-token-reused-stateless",
            None,
            IssuerKey,
            R::Replay,
            None,
            &M_SESSION_SINGLE_USE,
            "a token that bound a session presented again in a stateless 2026-07-28 request",
        ),
        |f| {
            let token = f.bound();
            Kind::Mcp(vec![
                step(f.proven(
                    initialize(capabilities_with(&token), "attest-attack"),
                    &token,
                )),
                step(f.proven(stateless_call_with(&token), &token)),
            ])
        },
    );

    // --- Key-bound attestation: proofs of possession (SPEC.md §17) ---------------------------
    // Each runs against a server whose proof policy is `required`: in-process, attest-mcp-server's
    // router with that policy; with --target, an `attest serve --proof required`.
    let weather = || json!({"name": TOOL, "arguments": {"city": "Paris"}});
    let call = |params: Value, token: &str, proof: Option<String>| ProofStep {
        method: "tools/call",
        params,
        token: token.to_owned(),
        proof,
    };
    c.proof(
        "ATK-099-proof-stolen-token-no-proof",
        R::ProofRequired,
        "proof_missing",
        &M_PROOF_REQUIRED,
        "a stolen key-bound attestation presented without a proof (the thief lacks the agent's key)",
        |f| vec![call(weather(), &f.bound(), None)],
    );
    c.proof(
        "ATK-100-proof-thief-key",
        R::ProofInvalid,
        "signature_mismatch",
        &M_PROOF_KEY,
        "a stolen key-bound attestation with a proof signed by the thief's own key",
        |f| {
            let token = f.bound();
            let proof = f.proof(
                &f.p.attacker,
                ProofHeader::Plain,
                "tools/call",
                &weather(),
                &token,
                &f.p.audience,
                0,
            );
            vec![call(weather(), &token, Some(proof))]
        },
    );
    c.proof(
        "ATK-101-proof-tool-a-on-tool-b",
        R::ProofMismatch,
        "nam_mismatch",
        &M_PROOF_BINDING,
        "a captured proof for one tool presented with a call of another tool (deploy)",
        |f| {
            let token = f.bound();
            let proof = f.agent_proof("tools/call", &weather(), &token);
            let deploy = json!({"name": "deploy", "arguments": {"city": "Paris"}});
            vec![call(deploy, &token, Some(proof))]
        },
    );
    c.proof(
        "ATK-102-proof-arguments-changed",
        R::ProofMismatch,
        "ph_mismatch",
        &M_PROOF_BINDING,
        "a captured proof presented with the tool's arguments changed",
        |f| {
            let token = f.bound();
            let proof = f.agent_proof("tools/call", &weather(), &token);
            let changed = json!({"name": TOOL, "arguments": {"city": "Pyongyang"}});
            vec![call(changed, &token, Some(proof))]
        },
    );
    c.proof(
        "ATK-103-proof-other-attestation",
        R::ProofMismatch,
        "ath_mismatch",
        &M_PROOF_BINDING,
        "a proof made under another attestation of the same agent (ath names another token)",
        |f| {
            let (token, other) = (f.bound(), f.bound_other());
            let proof = f.agent_proof("tools/call", &weather(), &other);
            vec![call(weather(), &token, Some(proof))]
        },
    );
    c.proof(
        "ATK-104-proof-other-server",
        R::ProofMismatch,
        "aud_mismatch",
        &M_PROOF_BINDING,
        "a proof made for another server, relayed to this one",
        |f| {
            let token = f.bound();
            let proof = f.proof(
                &f.p.agent_key,
                ProofHeader::Plain,
                "tools/call",
                &weather(),
                &token,
                "https://other-server.example/mcp",
                0,
            );
            vec![call(weather(), &token, Some(proof))]
        },
    );
    c.proof(
        "ATK-105-proof-too-old",
        R::ProofStale,
        "too_old",
        &M_PROOF_FRESH,
        "a proof made 120 s ago, past the 60 s proof window",
        |f| {
            let token = f.bound();
            let proof = f.proof(
                &f.p.agent_key,
                ProofHeader::Plain,
                "tools/call",
                &weather(),
                &token,
                &f.p.audience,
                -120,
            );
            vec![call(weather(), &token, Some(proof))]
        },
    );
    c.proof(
        "ATK-106-proof-from-the-future",
        R::ProofStale,
        "issued_in_future",
        &M_PROOF_FRESH,
        "a proof dated 120 s ahead, beyond the 30 s leeway (made in advance to be used later)",
        |f| {
            let token = f.bound();
            let proof = f.proof(
                &f.p.agent_key,
                ProofHeader::Plain,
                "tools/call",
                &weather(),
                &token,
                &f.p.audience,
                120,
            );
            vec![call(weather(), &token, Some(proof))]
        },
    );
    c.proof(
        "ATK-107-proof-foreign-key-in-header",
        R::ProofInvalid,
        "jwk_not_allowed",
        &M_PROOF_KEY,
        "a proof signed by the thief's key, carrying that key in its header jwk, for a cnf.jwk attestation",
        |f| {
            let token = f.bound();
            let proof = f.proof(
                &f.p.attacker,
                ProofHeader::WithJwk,
                "tools/call",
                &weather(),
                &token,
                &f.p.audience,
                0,
            );
            vec![call(weather(), &token, Some(proof))]
        },
    );
    c.proof(
        "ATK-108-proof-bearer-token-no-proof",
        R::ProofRequired,
        "proof_missing",
        &M_PROOF_REQUIRED,
        "a valid bearer attestation (no cnf) without a proof, under proof policy required",
        |f| vec![call(weather(), &f.minted(), None)],
    );
    c.proof(
        "ATK-109-proof-bearer-token-with-proof",
        R::ProofInvalid,
        "no_confirmation_key",
        &M_PROOF_REQUIRED,
        "a valid bearer attestation (no cnf) with a proof: no key to check it against",
        |f| {
            let token = f.minted();
            let proof = f.agent_proof("tools/call", &weather(), &token);
            vec![call(weather(), &token, Some(proof))]
        },
    );
    c.proof(
        "ATK-110-proof-token-as-proof",
        R::ProofInvalid,
        "header_parameter_not_allowed",
        &M_PROOF_TYP,
        "the attestation token presented as its own proof",
        |f| {
            let token = f.bound();
            vec![call(weather(), &token, Some(token.clone()))]
        },
    );
    c.proof(
        "ATK-111-proof-replay",
        R::ProofReplay,
        "proof_replayed",
        &M_PROOF_REPLAY,
        "a valid request with its proof, captured and sent again (same token, same proof)",
        |f| {
            let token = f.bound();
            let proof = f.agent_proof("tools/call", &weather(), &token);
            let request = call(weather(), &token, Some(proof));
            vec![request.clone(), request]
        },
    );

    c.attacks
}

/// A valid token for the controls: a verifier must accept it, or the run tells nothing.
/// `n` selects one of several, each with its own `jti` (distinct from every attack's).
pub(crate) fn control_token(p: &Params, n: u8) -> String {
    control_token_with(p, builder(&p.issuer, &p.audience), n)
}

/// A valid token from `builder` for the controls, with the `jti` of control `n`.
pub(crate) fn control_token_with(p: &Params, builder: TokenBuilder, n: u8) -> String {
    let mut seed = p.seed;
    for b in &mut seed {
        *b ^= 0xa5;
    }
    if let Some(first) = seed.first_mut() {
        *first ^= n;
    }
    builder
        .sign(
            &p.issuer_key,
            UnixTime::from_secs(p.now),
            &mut ChaCha20Rng::from_seed(seed),
        )
        .unwrap_or_default()
}

/// The valid conformance cases: `(name, description, token)`. Each must verify.
pub(crate) fn valid_cases(p: &Params) -> Vec<(&'static str, &'static str, String)> {
    let f = Fixture {
        p,
        seed: p.seed,
        proofs: Cell::new(0),
    };
    let now = UnixTime::from_secs(f.now());
    let sign = |b: TokenBuilder| b.sign(&p.issuer_key, now, &mut f.rng()).unwrap_or_default();
    let integrity = AgentIntegrity {
        config_hash: Some(IntegrityHash::of(b"{\"temperature\":0}")),
        system_prompt_hash: Some(IntegrityHash::of(b"You are a careful agent.")),
        ..AgentIntegrity::default()
    };
    vec![
        ("valid_basic", "a minimal valid attestation", f.valid()),
        (
            "valid_full",
            "every optional claim, two audiences, declared capabilities and an extension claim",
            sign(
                f.builder()
                    .audience("https://other.example")
                    .integrity(integrity)
                    .not_before(now)
                    .extra_claim("org_unit", json!("research")),
            ),
        ),
        (
            "valid_confirmation_key",
            "cnf carries the agent's public key and its RFC 7638 thumbprint",
            sign(f.builder().confirmation(Confirmation {
                jwk: Some(p.agent_key.to_public_jwk()),
                jkt: Some(p.agent_key.public_key().thumbprint()),
                ..Confirmation::default()
            })),
        ),
        (
            "valid_alg_ed25519",
            "alg Ed25519 (RFC 9864 fully-specified name) is accepted",
            f.with_header(|h| set(h, "alg", json!("Ed25519"))),
        ),
        (
            "valid_expired_within_leeway",
            "exp 10 s in the past is accepted under the 30 s leeway (the original rejected it)",
            {
                let (iat, exp) = (f.at(-310), f.at(-10));
                f.with_claims(|c| {
                    set(c, "iat", json!(iat));
                    set(c, "exp", json!(exp));
                })
            },
        ),
        (
            "valid_iat_within_leeway",
            "iat 20 s in the future is accepted under the 30 s leeway",
            {
                let (iat, exp) = (f.at(20), f.at(320));
                f.with_claims(|c| {
                    set(c, "iat", json!(iat));
                    set(c, "exp", json!(exp));
                })
            },
        ),
    ]
}
