//! The direct claims and header writer against serde_json, byte for byte: a token's signed bytes
//! are exactly what `serde_json::to_vec` writes for the same claims.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::Value;

use crate::claims::{
    AgentIdentity, AgentIntegrity, AttestationMetadata, AttestationType, Audience, Claims,
    ClaimsRef, Confirmation, IntegrityHash, SafetyLevel,
};
use crate::jcs_tests::{text, value};
use crate::token::Header;
use crate::{SigningKey, write};

fn extra() -> impl Strategy<Value = BTreeMap<String, Value>> {
    proptest::collection::btree_map(text(), value(), 0..3)
}

fn hash() -> impl Strategy<Value = Option<IntegrityHash>> {
    proptest::option::of(text().prop_map(|t| IntegrityHash::of(t.as_bytes())))
}

fn identity() -> impl Strategy<Value = AgentIdentity> {
    (
        text(),
        text(),
        text(),
        proptest::option::of(text()),
        extra(),
    )
        .prop_map(
            |(model_family, model_version, provider, deployment_id, extra)| AgentIdentity {
                model_family,
                model_version,
                provider,
                deployment_id,
                extra,
            },
        )
}

fn integrity() -> impl Strategy<Value = AgentIntegrity> {
    (hash(), hash(), extra()).prop_map(|(config_hash, system_prompt_hash, extra)| AgentIntegrity {
        config_hash,
        system_prompt_hash,
        extra,
    })
}

fn metadata() -> impl Strategy<Value = AttestationMetadata> {
    let kind = prop_oneof![
        Just(AttestationType::Provider),
        Just(AttestationType::Enterprise)
    ];
    let level = prop_oneof![
        Just(SafetyLevel::Minimal),
        Just(SafetyLevel::Standard),
        Just(SafetyLevel::Enhanced)
    ];
    let capabilities = proptest::collection::vec(text(), 0..4);
    (text(), kind, level, capabilities, extra()).prop_map(
        |(attestation_version, attestation_type, safety_level, capabilities_declared, extra)| {
            AttestationMetadata {
                attestation_version,
                attestation_type,
                safety_level,
                capabilities_declared,
                extra,
            }
        },
    )
}

fn confirmation() -> impl Strategy<Value = Confirmation> {
    let jwk = any::<[u8; 32]>().prop_map(|seed| {
        SigningKey::from_seed(&seed, "agent")
            .unwrap()
            .to_public_jwk()
    });
    (
        proptest::option::of(jwk),
        proptest::option::of(text()),
        extra(),
    )
        .prop_map(|(jwk, jkt, extra)| Confirmation { jwk, jkt, extra })
}

fn audience() -> impl Strategy<Value = Audience> {
    prop_oneof![
        text().prop_map(Audience::One),
        proptest::collection::vec(text(), 0..3).prop_map(Audience::Many),
    ]
}

prop_compose! {
    /// Any claim set: random text in every string, any extension JSON.
    pub(crate) fn claims()(
        (iss, sub, jti) in (text(), text(), text()),
        aud in audience(),
        (iat, exp, nbf) in (any::<u64>(), any::<u64>(), proptest::option::of(any::<u64>())),
        agent_identity in identity(),
        agent_integrity in proptest::option::of(integrity()),
        attestation_metadata in metadata(),
        cnf in proptest::option::of(confirmation()),
        extra in extra(),
    ) -> Claims {
        Claims {
            iss, sub, aud, iat, exp, nbf, jti, agent_identity, agent_integrity,
            attestation_metadata, cnf, extra,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn claims_are_written_as_serde_json_writes_them(claims in claims()) {
        let view = ClaimsRef::from(&claims);
        let mut direct = Vec::new();
        write::claims(&view, &mut direct).unwrap();
        prop_assert_eq!(
            String::from_utf8(direct).unwrap(),
            serde_json::to_string(&view).unwrap()
        );
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them(s in text(), long in ".{0,200}") {
        for s in [s, long] {
            let mut direct = Vec::new();
            write::string(&s, &mut direct);
            prop_assert_eq!(String::from_utf8(direct).unwrap(), serde_json::to_string(&s).unwrap());
        }
    }

    #[test]
    fn the_header_is_written_as_serde_json_writes_it(typ in text(), kid in text()) {
        let mut direct = Vec::new();
        write::header(&typ, &kid, &mut direct);
        let header = Header { alg: "EdDSA".into(), typ, kid };
        prop_assert_eq!(String::from_utf8(direct).unwrap(), serde_json::to_string(&header).unwrap());
    }
}

#[test]
fn every_control_character_and_both_escapes_are_written_as_serde_json_writes_them() {
    let all: String = (0u8..0x80).map(char::from).collect();
    let mut direct = Vec::new();
    write::string(&all, &mut direct);
    assert_eq!(
        String::from_utf8(direct).unwrap(),
        serde_json::to_string(&all).unwrap()
    );
}
