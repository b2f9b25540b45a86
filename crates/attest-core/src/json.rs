//! A strictness pass over JSON: duplicate member names anywhere, and a nesting cap.
//!
//! serde_json keeps the last of two equal member names and nests up to 128 levels. An
//! attacker can use the first to make two parsers disagree about a claim, and the second to
//! burn stack. This pass walks the whole document once, compares decoded names (so `"a"` and
//! `"\u0061"` are the same name), and stops at the first violation.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// What the strictness pass found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonViolation {
    /// Not valid JSON at all, or not an object at the top.
    Syntax(String),
    /// A member name repeated within one object.
    Duplicate(String),
    /// Nesting deeper than the cap.
    TooDeep,
}

/// Checks that `text` is one JSON object with unique member names at every level and at most
/// `max_depth` levels of nesting (the top object is level 1).
pub(crate) fn check_object(text: &str, max_depth: usize) -> Result<(), JsonViolation> {
    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = Strict {
        depth_left: max_depth,
        found: &found,
        top: true,
    };
    let parsed = (&mut de).deserialize_any(seed).and_then(|()| de.end());
    match (parsed, found.into_inner()) {
        (_, Some(violation)) => Err(violation),
        (Err(e), None) => Err(JsonViolation::Syntax(e.to_string())),
        (Ok(()), None) => Ok(()),
    }
}

#[derive(Clone, Copy)]
struct Strict<'a> {
    depth_left: usize,
    found: &'a RefCell<Option<JsonViolation>>,
    /// The top level must be an object.
    top: bool,
}

impl Strict<'_> {
    fn fail<E: de::Error>(&self, violation: JsonViolation) -> E {
        record_fault(self.found, violation)
    }

    fn scalar<E: de::Error>(&self) -> Result<(), E> {
        if self.top {
            return Err(self.fail(JsonViolation::Syntax("expected a JSON object".into())));
        }
        Ok(())
    }

    fn child(&self) -> Result<Strict<'_>, JsonViolation> {
        let depth_left = self
            .depth_left
            .checked_sub(1)
            .ok_or(JsonViolation::TooDeep)?;
        Ok(Strict {
            depth_left,
            found: self.found,
            top: false,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.top {
            return Err(self.fail(JsonViolation::Syntax("expected a JSON object".into())));
        }
        // Arrays count as a level too: `[[[[...]]]]` must not slip past the cap.
        let child = self.child().map_err(|v| self.fail(v))?;
        while seq
            .next_element_seed(Strict {
                top: false,
                ..child
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let child = self.child().map_err(|v| self.fail(v))?;
        let mut names = Names::Few(Vec::new());
        while let Some(name) = map.next_key_seed(Name)? {
            if !names.insert(name.clone()) {
                return Err(self.fail(JsonViolation::Duplicate(name.into_owned())));
            }
            map.next_value_seed(Strict {
                top: false,
                ..child
            })?;
        }
        Ok(())
    }
}

/// The names seen in one object: a short list, or a hash set once the object grows, so that a
/// hostile object with thousands of members costs linear time, not quadratic.
enum Names<'de> {
    Few(Vec<Cow<'de, str>>),
    Many(HashSet<Cow<'de, str>>),
}

impl<'de> Names<'de> {
    const FEW: usize = 16;

    /// Records `name`; false if it was already there.
    fn insert(&mut self, name: Cow<'de, str>) -> bool {
        match self {
            Names::Few(list) if list.contains(&name) => false,
            Names::Few(list) if list.len() < Self::FEW => {
                list.push(name);
                true
            }
            Names::Few(list) => {
                let mut set: HashSet<_> = list.drain(..).collect();
                set.insert(name);
                *self = Names::Many(set);
                true
            }
            Names::Many(set) => set.insert(name),
        }
    }
}

/// Records why a strict parse failed in `cell`, and returns the serde error that stops it.
///
/// The hand-written visitors (this strictness pass, the token and proof headers) report their
/// precise reason through a side cell, since a serde error carries only text; the caller reads
/// the cell first, so the text here is never shown.
pub(crate) fn record_fault<T, E: de::Error>(cell: &RefCell<Option<T>>, fault: T) -> E {
    *cell.borrow_mut() = Some(fault);
    E::custom("rejected by a strict check")
}

/// A member name, borrowed from the input when it has no escapes.
pub(crate) struct Name;

impl<'de> DeserializeSeed<'de> for Name {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_owned()))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s))
    }
}
