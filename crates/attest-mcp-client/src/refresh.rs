//! When to refresh a cached token: a plain function of `(issued_at, expires_at, now)`, and the
//! per-audience cache that applies it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use attest_core::UnixTime;
use attest_protocol::Token;

/// The smallest refresh margin: a token is replaced when less than 30 s of it remains, however
/// short its lifetime.
pub const MIN_REFRESH_MARGIN_SECS: u64 = 30;

/// How long before `expires_at` a token issued at `issued_at` is replaced:
/// `max(20% of its lifetime, 30 s)`.
pub fn refresh_margin_secs(issued_at: UnixTime, expires_at: UnixTime) -> u64 {
    let lifetime = expires_at.as_secs().saturating_sub(issued_at.as_secs());
    (lifetime / 5).max(MIN_REFRESH_MARGIN_SECS)
}

/// Whether a token issued at `issued_at` and expiring at `expires_at` may still be handed out
/// at `now`: at least [`refresh_margin_secs`] of it must remain.
///
/// A token whose lifetime is under 30 s is therefore never reused: every call mints a new one. A clock that went backwards (`now < issued_at`) does not make a token stale; only the
/// time left until `expires_at` counts.
pub fn is_fresh(issued_at: UnixTime, expires_at: UnixTime, now: UnixTime) -> bool {
    let remaining = expires_at.as_secs().saturating_sub(now.as_secs());
    remaining >= refresh_margin_secs(issued_at, expires_at)
}

/// A token with the times that decide its freshness.
#[derive(Debug, Clone)]
pub(crate) struct Cached {
    pub(crate) token: Token,
    pub(crate) issued_at: UnixTime,
    pub(crate) expires_at: UnixTime,
}

/// The last token per audience. Bounded: audiences come from the client's own configuration,
/// but a runaway caller must not grow it without limit.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    map: Mutex<HashMap<String, Cached>>,
}

/// At most this many audiences are cached; past it, stale entries go first, then all.
const MAX_AUDIENCES: usize = 256;

impl TokenCache {
    /// The cached token for `audience`, if it is still fresh at `now`.
    pub(crate) fn fresh(&self, audience: &str, now: UnixTime) -> Option<Token> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(audience)
            .filter(|c| is_fresh(c.issued_at, c.expires_at, now))
            .map(|c| c.token.clone())
    }

    /// Stores `cached` as the token for `audience`.
    pub(crate) fn put(&self, audience: &str, cached: Cached, now: UnixTime) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_AUDIENCES && !map.contains_key(audience) {
            map.retain(|_, c| is_fresh(c.issued_at, c.expires_at, now));
            if map.len() >= MAX_AUDIENCES {
                map.clear();
            }
        }
        map.insert(audience.to_owned(), cached);
    }
}
