//! The single-pass parse: the typed parse of a header or claim set with the strictness checks of
//! [`crate::json`] done inline (no member name twice in one object, at any depth; the nesting
//! cap), so that a valid token's JSON is read once instead of twice.
//!
//! It is a fast path, not a second definition of validity. It accepts only the shapes a
//! well-formed token has (a string where a string is expected, no `null` for an absent member,
//! enums as strings), and on anything else — a strictness violation, a type or shape it does not
//! handle, an absent claim — it gives up with [`Bail`]. The caller then runs the two-pass parse
//! (strictness pass, then typed parse), which decides and names the fault. So this path accepts
//! a document only when the two-pass parse accepts it too, with the same value, and every error
//! a caller sees still comes from the two-pass parse. The unit tests check both halves.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::claims::{
    AgentIdentity, AgentIntegrity, AttestationMetadata, AttestationType, Audience, Claims,
    Confirmation, IntegrityHash, SafetyLevel,
};
use crate::json::Name;
use crate::jwk::Jwk;

/// The single-pass parse gave up: run the two-pass parse, which decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bail;

/// The serde error that stops the single-pass parse. Its text is never shown.
fn bail<E: de::Error>() -> E {
    E::custom("left the single-pass parse")
}

/// Runs `seed` over `text`, which must hold exactly one JSON value.
pub(crate) fn parse<'de, S: DeserializeSeed<'de>>(
    text: &'de str,
    seed: S,
) -> Result<S::Value, Bail> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = seed.deserialize(&mut de).map_err(|_| Bail)?;
    de.end().map_err(|_| Bail)?;
    Ok(value)
}

/// The claims of an attestation token, as one object nested at most `max_depth` levels deep.
pub(crate) fn claims(text: &str, max_depth: usize) -> Result<Claims, Bail> {
    parse(text, Object::<ClaimsMembers>::new(max_depth))
}

/// An object's members, read one at a time by [`Object`].
pub(crate) trait Members<'de>: Default {
    /// What the whole object becomes.
    type Out;

    /// Reads the value of member `name`. Containers in it may nest `depth_left` more levels.
    /// A name seen before must make this fail.
    fn member<A: MapAccess<'de>>(
        &mut self,
        name: Cow<'de, str>,
        map: &mut A,
        depth_left: usize,
    ) -> Result<(), A::Error>;

    /// The object, or `None` when a required member is absent.
    fn finish(self) -> Option<Self::Out>;
}

/// A JSON object read through [`Members`], counting as one level of nesting.
pub(crate) struct Object<M> {
    depth_left: usize,
    members: M,
}

impl<M: Default> Object<M> {
    /// An object that, with what it contains, nests at most `depth_left` levels deep.
    pub(crate) fn new(depth_left: usize) -> Self {
        Object {
            depth_left,
            members: M::default(),
        }
    }
}

impl<'de, M: Members<'de>> DeserializeSeed<'de> for Object<M> {
    type Value = M::Out;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<M::Out, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, M: Members<'de>> Visitor<'de> for Object<M> {
    type Value = M::Out;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<M::Out, A::Error> {
        let inner = self.depth_left.checked_sub(1).ok_or_else(bail)?;
        while let Some(name) = map.next_key_seed(Name)? {
            self.members.member(name, &mut map, inner)?;
        }
        self.members.finish().ok_or_else(bail)
    }
}

/// Fills `slot` once; a second value for it (a duplicate member) fails.
pub(crate) fn once<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(bail());
    }
    *slot = Some(value);
    Ok(())
}

/// Reads a string member into `slot`, once.
pub(crate) fn string<'de, A: MapAccess<'de>>(
    slot: &mut Option<String>,
    map: &mut A,
) -> Result<(), A::Error> {
    let value: String = map.next_value()?;
    once(slot, value)
}

/// Reads an object member into `slot`, once, with the members `M` and the nesting left.
pub(crate) fn object<'de, M: Members<'de> + Default, A: MapAccess<'de>>(
    slot: &mut Option<M::Out>,
    map: &mut A,
    depth_left: usize,
) -> Result<(), A::Error> {
    let value = map.next_value_seed(Object::<M>::new(depth_left))?;
    once(slot, value)
}

/// Reads a member this parse does not name into `extra`, strictly; a name already there (a
/// duplicate member) fails.
pub(crate) fn extra<'de, A: MapAccess<'de>>(
    extra: &mut BTreeMap<String, Value>,
    name: Cow<'de, str>,
    map: &mut A,
    depth_left: usize,
) -> Result<(), A::Error> {
    let value = map.next_value_seed(StrictValue { depth_left })?;
    match extra.insert(name.into_owned(), value) {
        None => Ok(()),
        Some(_) => Err(bail()),
    }
}

/// Any JSON value, with the strictness checks: no duplicate names in its objects, and its
/// containers within the nesting cap.
pub(crate) struct StrictValue {
    /// How many levels of containers this value may still open.
    pub(crate) depth_left: usize,
}

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // As serde_json's own `Value`: a non-finite float (which JSON text cannot hold) is null.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let depth_left = self.depth_left.checked_sub(1).ok_or_else(bail)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue { depth_left })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let depth_left = self.depth_left.checked_sub(1).ok_or_else(bail)?;
        let mut members = Map::new();
        while let Some(name) = map.next_key_seed(Name)? {
            let value = map.next_value_seed(StrictValue { depth_left })?;
            if members.insert(name.into_owned(), value).is_some() {
                return Err(bail());
            }
        }
        Ok(Value::Object(members))
    }
}

/// An array of strings, one level of nesting.
struct Strings {
    depth_left: usize,
}

impl<'de> DeserializeSeed<'de> for Strings {
    type Value = Vec<String>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<String>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Strings {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Vec<String>, A::Error> {
        collect_strings(self.depth_left, seq)
    }
}

fn collect_strings<'de, A: SeqAccess<'de>>(
    depth_left: usize,
    mut seq: A,
) -> Result<Vec<String>, A::Error> {
    depth_left.checked_sub(1).ok_or_else(bail)?;
    let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
    while let Some(item) = seq.next_element::<String>()? {
        items.push(item);
    }
    Ok(items)
}

/// `aud`: a string, or an array of strings.
struct AudienceSeed {
    depth_left: usize,
}

impl<'de> DeserializeSeed<'de> for AudienceSeed {
    type Value = Audience;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Audience, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AudienceSeed {
    type Value = Audience;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
        Ok(Audience::One(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
        Ok(Audience::One(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Audience, A::Error> {
        collect_strings(self.depth_left, seq).map(Audience::Many)
    }
}

/// An unsigned integer member (`iat`, `exp`, `nbf`), once.
fn integer<'de, A: MapAccess<'de>>(slot: &mut Option<u64>, map: &mut A) -> Result<(), A::Error> {
    let value: u64 = map.next_value()?;
    once(slot, value)
}

#[derive(Default)]
struct ClaimsMembers {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    iat: Option<u64>,
    exp: Option<u64>,
    nbf: Option<u64>,
    jti: Option<String>,
    agent_identity: Option<AgentIdentity>,
    agent_integrity: Option<AgentIntegrity>,
    attestation_metadata: Option<AttestationMetadata>,
    cnf: Option<Confirmation>,
    extra: BTreeMap<String, Value>,
}

impl<'de> Members<'de> for ClaimsMembers {
    type Out = Claims;

    fn member<A: MapAccess<'de>>(
        &mut self,
        name: Cow<'de, str>,
        map: &mut A,
        depth_left: usize,
    ) -> Result<(), A::Error> {
        match &*name {
            "iss" => string(&mut self.iss, map),
            "sub" => string(&mut self.sub, map),
            "jti" => string(&mut self.jti, map),
            "aud" => {
                let aud = map.next_value_seed(AudienceSeed { depth_left })?;
                once(&mut self.aud, aud)
            }
            "iat" => integer(&mut self.iat, map),
            "exp" => integer(&mut self.exp, map),
            "nbf" => integer(&mut self.nbf, map),
            "agent_identity" => {
                object::<IdentityMembers, _>(&mut self.agent_identity, map, depth_left)
            }
            "agent_integrity" => {
                object::<IntegrityMembers, _>(&mut self.agent_integrity, map, depth_left)
            }
            "attestation_metadata" => {
                object::<MetadataMembers, _>(&mut self.attestation_metadata, map, depth_left)
            }
            "cnf" => object::<ConfirmationMembers, _>(&mut self.cnf, map, depth_left),
            _ => extra(&mut self.extra, name, map, depth_left),
        }
    }

    fn finish(self) -> Option<Claims> {
        Some(Claims {
            iss: self.iss?,
            sub: self.sub?,
            aud: self.aud?,
            iat: self.iat?,
            exp: self.exp?,
            nbf: self.nbf,
            jti: self.jti?,
            agent_identity: self.agent_identity?,
            agent_integrity: self.agent_integrity,
            attestation_metadata: self.attestation_metadata?,
            cnf: self.cnf,
            extra: self.extra,
        })
    }
}

#[derive(Default)]
struct IdentityMembers {
    model_family: Option<String>,
    model_version: Option<String>,
    provider: Option<String>,
    deployment_id: Option<String>,
    extra: BTreeMap<String, Value>,
}

impl<'de> Members<'de> for IdentityMembers {
    type Out = AgentIdentity;

    fn member<A: MapAccess<'de>>(
        &mut self,
        name: Cow<'de, str>,
        map: &mut A,
        depth_left: usize,
    ) -> Result<(), A::Error> {
        match &*name {
            "model_family" => string(&mut self.model_family, map),
            "model_version" => string(&mut self.model_version, map),
            "provider" => string(&mut self.provider, map),
            "deployment_id" => string(&mut self.deployment_id, map),
            _ => extra(&mut self.extra, name, map, depth_left),
        }
    }

    fn finish(self) -> Option<AgentIdentity> {
        Some(AgentIdentity {
            model_family: self.model_family?,
            model_version: self.model_version?,
            provider: self.provider?,
            deployment_id: self.deployment_id,
            extra: self.extra,
        })
    }
}

#[derive(Default)]
struct IntegrityMembers {
    config_hash: Option<IntegrityHash>,
    system_prompt_hash: Option<IntegrityHash>,
    extra: BTreeMap<String, Value>,
}

fn integrity_hash<'de, A: MapAccess<'de>>(
    slot: &mut Option<IntegrityHash>,
    map: &mut A,
) -> Result<(), A::Error> {
    let value: String = map.next_value()?;
    once(slot, IntegrityHash::parse_owned(value).ok_or_else(bail)?)
}

impl<'de> Members<'de> for IntegrityMembers {
    type Out = AgentIntegrity;

    fn member<A: MapAccess<'de>>(
        &mut self,
        name: Cow<'de, str>,
        map: &mut A,
        depth_left: usize,
    ) -> Result<(), A::Error> {
        match &*name {
            "config_hash" => integrity_hash(&mut self.config_hash, map),
            "system_prompt_hash" => integrity_hash(&mut self.system_prompt_hash, map),
            _ => extra(&mut self.extra, name, map, depth_left),
        }
    }

    fn finish(self) -> Option<AgentIntegrity> {
        Some(AgentIntegrity {
            config_hash: self.config_hash,
            system_prompt_hash: self.system_prompt_hash,
            extra: self.extra,
        })
    }
}

#[derive(Default)]
struct MetadataMembers {
    attestation_version: Option<String>,
    attestation_type: Option<AttestationType>,
    safety_level: Option<SafetyLevel>,
    capabilities_declared: Option<Vec<String>>,
    extra: BTreeMap<String, Value>,
}

impl<'de> Members<'de> for MetadataMembers {
    type Out = AttestationMetadata;

    fn member<A: MapAccess<'de>>(
        &mut self,
        name: Cow<'de, str>,
        map: &mut A,
        depth_left: usize,
    ) -> Result<(), A::Error> {
        match &*name {
            "attestation_version" => string(&mut self.attestation_version, map),
            "attestation_type" => {
                let value = match &*map.next_value_seed(Name)? {
                    "provider" => AttestationType::Provider,
                    "enterprise" => AttestationType::Enterprise,
                    _ => return Err(bail()),
                };
                once(&mut self.attestation_type, value)
            }
            "safety_level" => {
                let value = match &*map.next_value_seed(Name)? {
                    "minimal" => SafetyLevel::Minimal,
                    "standard" => SafetyLevel::Standard,
                    "enhanced" => SafetyLevel::Enhanced,
                    _ => return Err(bail()),
                };
                once(&mut self.safety_level, value)
            }
            "capabilities_declared" => {
                let value = map.next_value_seed(Strings { depth_left })?;
                once(&mut self.capabilities_declared, value)
            }
            _ => extra(&mut self.extra, name, map, depth_left),
        }
    }

    fn finish(self) -> Option<AttestationMetadata> {
        Some(AttestationMetadata {
            attestation_version: self.attestation_version?,
            attestation_type: self.attestation_type?,
            safety_level: self.safety_level?,
            capabilities_declared: self.capabilities_declared?,
            extra: self.extra,
        })
    }
}

#[derive(Default)]
struct ConfirmationMembers {
    jwk: Option<Jwk>,
    jkt: Option<String>,
    extra: BTreeMap<String, Value>,
}

impl<'de> Members<'de> for ConfirmationMembers {
    type Out = Confirmation;

    fn member<A: MapAccess<'de>>(
        &mut self,
        name: Cow<'de, str>,
        map: &mut A,
        depth_left: usize,
    ) -> Result<(), A::Error> {
        match &*name {
            "jwk" => object::<JwkMembers, _>(&mut self.jwk, map, depth_left),
            "jkt" => string(&mut self.jkt, map),
            _ => extra(&mut self.extra, name, map, depth_left),
        }
    }

    fn finish(self) -> Option<Confirmation> {
        Some(Confirmation {
            jwk: self.jwk,
            jkt: self.jkt,
            extra: self.extra,
        })
    }
}

/// A JWK's members, as [`Jwk`]'s derived parse reads them.
#[derive(Default)]
pub(crate) struct JwkMembers {
    kty: Option<String>,
    crv: Option<String>,
    kid: Option<String>,
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    x: Option<String>,
    d: Option<String>,
    other: BTreeMap<String, Value>,
}

impl<'de> Members<'de> for JwkMembers {
    type Out = Jwk;

    fn member<A: MapAccess<'de>>(
        &mut self,
        name: Cow<'de, str>,
        map: &mut A,
        depth_left: usize,
    ) -> Result<(), A::Error> {
        match &*name {
            "kty" => string(&mut self.kty, map),
            "crv" => string(&mut self.crv, map),
            "kid" => string(&mut self.kid, map),
            "use" => string(&mut self.use_, map),
            "key_ops" => {
                let value = map.next_value_seed(Strings { depth_left })?;
                once(&mut self.key_ops, value)
            }
            "alg" => string(&mut self.alg, map),
            "x" => string(&mut self.x, map),
            "d" => string(&mut self.d, map),
            _ => extra(&mut self.other, name, map, depth_left),
        }
    }

    fn finish(self) -> Option<Jwk> {
        Some(Jwk {
            kty: self.kty?,
            crv: self.crv,
            kid: self.kid,
            use_: self.use_,
            key_ops: self.key_ops,
            alg: self.alg,
            x: self.x,
            d: self.d,
            other: self.other,
        })
    }
}
