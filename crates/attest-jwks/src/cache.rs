//! The per-issuer key cache: a sans-IO state machine fed `(now, event)`.
//!
//! One [`IssuerCache`] holds an issuer's last good key set and decides, for each lookup, whether
//! to serve a key, say the kid is unknown, or ask the driver to fetch. It performs no I/O, reads
//! no clock and never waits; the driver (the `JwksResolver`) carries out its decisions and
//! reports the results back.
//!
//! A set fetched at `t` with TTL `ttl` (the issuer's `max-age`, clamped) is:
//! - **fresh** until `t + ttl - window`, where `window = min(refresh_ahead, ttl / 2)`;
//! - **refresh-ahead** until `t + ttl`: served, and a background refresh is asked for;
//! - **stale** until `t + ttl + max_stale`: still served (counted as `stale`), with a
//!   background refresh, while the issuer cannot be reached;
//! - **unusable** after that: lookups fail closed until a fetch succeeds.
//!
//! A failed fetch never replaces or evicts the held set. An unknown `kid` in a usable set asks
//! for one refetch at most once per `unknown_kid_cooldown`, and a kid that is still unknown
//! after the refetch made on its behalf goes into a negative cache for `negative_ttl`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use attest_core::{KeySet, PublicKey};
use attest_observe::CacheLookup;

use crate::breaker::{BreakerConfig, CircuitBreaker};
use crate::error::UnavailableCause;

/// How long key sets stay fresh and usable, and how unknown kids are rate-limited.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// TTL when the issuer sends no `Cache-Control: max-age`. Default 1 h.
    pub default_ttl: Duration,
    /// Smallest TTL: a lower `max-age` (or `no-cache`, `no-store`) is raised to it. Default
    /// 60 s.
    pub min_ttl: Duration,
    /// Largest TTL: a higher `max-age` is cut to it. Default 24 h.
    pub max_ttl: Duration,
    /// How long before expiry a lookup starts a background refresh (at most half the TTL).
    /// Default 5 min.
    pub refresh_ahead: Duration,
    /// How long past expiry a set is still served while the issuer cannot be reached. After
    /// that, lookups fail closed. Default 6 h.
    pub max_stale: Duration,
    /// Least time between two refetches caused by unknown kids, per issuer. Default and
    /// minimum 30 s.
    pub unknown_kid_cooldown: Duration,
    /// How long a kid that stayed unknown after a refetch is answered "unknown" without any
    /// refetch. Default 5 min.
    pub negative_ttl: Duration,
    /// Most kids held in the negative cache per issuer. Default 1024.
    pub max_negative_kids: usize,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            default_ttl: Duration::from_secs(3600),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            refresh_ahead: Duration::from_secs(300),
            max_stale: Duration::from_secs(6 * 3600),
            unknown_kid_cooldown: CachePolicy::MIN_UNKNOWN_KID_COOLDOWN,
            negative_ttl: Duration::from_secs(300),
            max_negative_kids: 1024,
        }
    }
}

impl CachePolicy {
    /// The floor of [`CachePolicy::unknown_kid_cooldown`]: an unknown kid never causes more
    /// than one fetch per issuer per 30 s.
    pub const MIN_UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(30);

    /// The TTL for a response with this `max-age` (`None`: absent), clamped to
    /// `[min_ttl, max_ttl]`.
    pub fn ttl(&self, max_age: Option<Duration>) -> Duration {
        max_age
            .unwrap_or(self.default_ttl)
            .max(self.min_ttl)
            .min(self.max_ttl)
    }

    /// Checks that the bounds are consistent.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.min_ttl > self.max_ttl {
            return Err("min_ttl is larger than max_ttl".into());
        }
        if self.max_ttl.is_zero() {
            return Err("max_ttl must be positive".into());
        }
        if self.unknown_kid_cooldown < CachePolicy::MIN_UNKNOWN_KID_COOLDOWN {
            return Err("unknown_kid_cooldown must be at least 30 s".into());
        }
        Ok(())
    }
}

/// How usable the held set is at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Within its TTL, before the refresh-ahead window.
    Fresh,
    /// Within its TTL, in the refresh-ahead window.
    RefreshAhead,
    /// Past its TTL, within the maximum staleness.
    Stale,
    /// Past the maximum staleness: held, never served.
    Unusable,
}

/// Why the driver is asked to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchReason {
    /// No usable set is held.
    Cold,
    /// The set is usable but lacks the requested kid; the cooldown allows one refetch.
    UnknownKid,
    /// Refresh-ahead, stale revalidation, or an explicit refresh.
    Refresh,
}

/// What the driver must do for one lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Serve this key. If `refresh` is set, a background refresh has been marked as started
    /// and the driver must start it (without making the caller wait).
    Serve {
        /// The key.
        key: PublicKey,
        /// `Hit` (fresh or refresh-ahead) or `Stale`.
        lookup: CacheLookup,
        /// Start a background refresh.
        refresh: bool,
    },
    /// The kid is not published (negative cache, cooldown, or still absent after a refetch).
    Unknown,
    /// No key can be had now; fail closed.
    Unavailable(UnavailableCause),
    /// A fetch has been marked as started: the driver must start it, wait for it, and then
    /// call [`IssuerCache::after_fetch`].
    Fetch(FetchReason),
    /// A fetch is already in flight: wait for it, then call [`IssuerCache::after_fetch`].
    Wait,
}

#[derive(Debug, Clone)]
struct CachedSet {
    keys: Arc<KeySet>,
    fetched_at: Instant,
    ttl: Duration,
    refresh_after: Duration,
    etag: Option<String>,
}

/// The cached keys of one issuer and the decisions about them.
#[derive(Debug, Clone)]
pub struct IssuerCache {
    policy: CachePolicy,
    breaker: CircuitBreaker,
    set: Option<CachedSet>,
    /// A static set: always fresh, never fetched.
    pinned: bool,
    fetching: bool,
    last_kid_refetch: Option<Instant>,
    negative: HashMap<String, Instant>,
    last_error: Option<UnavailableCause>,
}

impl IssuerCache {
    /// An empty cache for an issuer whose keys are fetched.
    pub fn new(policy: CachePolicy, breaker: BreakerConfig) -> IssuerCache {
        IssuerCache {
            policy,
            breaker: CircuitBreaker::new(breaker),
            set: None,
            pinned: false,
            fetching: false,
            last_kid_refetch: None,
            negative: HashMap::new(),
            last_error: None,
        }
    }

    /// A cache holding a static set (from configuration or a file): always fresh, never
    /// fetched; an absent kid is unknown at once.
    pub fn pinned(keys: Arc<KeySet>, now: Instant) -> IssuerCache {
        let mut cache = IssuerCache::new(CachePolicy::default(), BreakerConfig::default());
        cache.pinned = true;
        cache.set = Some(CachedSet {
            keys,
            fetched_at: now,
            ttl: Duration::MAX,
            refresh_after: Duration::MAX,
            etag: None,
        });
        cache
    }

    /// The breaker that guards this issuer's requests.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The breaker, to report requests to.
    pub fn breaker_mut(&mut self) -> &mut CircuitBreaker {
        &mut self.breaker
    }

    /// The held set (usable or not).
    pub fn keys(&self) -> Option<&Arc<KeySet>> {
        self.set.as_ref().map(|s| &s.keys)
    }

    /// The held set's `ETag`, for a conditional refresh.
    pub fn etag(&self) -> Option<&str> {
        self.set.as_ref().and_then(|s| s.etag.as_deref())
    }

    /// True while a fetch is marked as in flight.
    pub fn is_fetching(&self) -> bool {
        self.fetching
    }

    /// The last fetch failure since the last success.
    pub fn last_error(&self) -> Option<&UnavailableCause> {
        self.last_error.as_ref()
    }

    /// How usable the held set is at `now`; `None` if no set is held.
    pub fn freshness(&self, now: Instant) -> Option<Freshness> {
        let set = self.set.as_ref()?;
        if self.pinned {
            return Some(Freshness::Fresh);
        }
        let age = now.saturating_duration_since(set.fetched_at);
        Some(if age < set.refresh_after {
            Freshness::Fresh
        } else if age < set.ttl {
            Freshness::RefreshAhead
        } else if age < set.ttl.saturating_add(self.policy.max_stale) {
            Freshness::Stale
        } else {
            Freshness::Unusable
        })
    }

    /// The usable set and its freshness.
    fn usable(&self, now: Instant) -> Option<(&CachedSet, Freshness)> {
        match (self.set.as_ref(), self.freshness(now)) {
            (Some(set), Some(f)) if f != Freshness::Unusable => Some((set, f)),
            _ => None,
        }
    }

    /// A key from the cache only: never asks for a fetch and changes nothing.
    pub fn peek(&self, now: Instant, kid: &str) -> Option<(PublicKey, CacheLookup)> {
        let (set, freshness) = self.usable(now)?;
        let key = set.keys.get(kid)?.clone();
        Some((key, lookup_label(freshness)))
    }

    /// Decides one lookup of `kid` at `now`.
    pub fn lookup(&mut self, now: Instant, kid: &str) -> Decision {
        let may_fetch = !self.pinned && !self.fetching && self.breaker.would_allow(now);
        let Some((set, freshness)) = self.usable(now) else {
            if self.pinned {
                return Decision::Unknown;
            }
            if self.fetching {
                return Decision::Wait;
            }
            if !may_fetch {
                return Decision::Unavailable(UnavailableCause::CircuitOpen);
            }
            self.fetching = true;
            return Decision::Fetch(FetchReason::Cold);
        };
        if let Some(key) = set.keys.get(kid) {
            let key = key.clone();
            let refresh = may_fetch && freshness != Freshness::Fresh;
            if refresh {
                self.fetching = true;
            }
            return Decision::Serve {
                key,
                lookup: lookup_label(freshness),
                refresh,
            };
        }
        // A usable set without this kid.
        if self.pinned {
            return Decision::Unknown;
        }
        if self.fetching {
            return Decision::Wait;
        }
        if self.is_negative(now, kid) {
            return Decision::Unknown;
        }
        let cooled = self.last_kid_refetch.is_none_or(|last| {
            now.saturating_duration_since(last) >= self.policy.unknown_kid_cooldown
        });
        if !cooled {
            return Decision::Unknown;
        }
        if !may_fetch {
            return Decision::Unavailable(UnavailableCause::CircuitOpen);
        }
        self.fetching = true;
        self.last_kid_refetch = Some(now);
        Decision::Fetch(FetchReason::UnknownKid)
    }

    /// Asks for a fetch regardless of freshness (an explicit refresh or a warm-up): `Fetch`,
    /// `Wait` if one is in flight, or `Unavailable` if the breaker is open. A static set is
    /// never fetched: `Unknown` tells the driver there is nothing to do.
    pub fn force_fetch(&mut self, now: Instant) -> Decision {
        if self.pinned {
            return Decision::Unknown;
        }
        if self.fetching {
            return Decision::Wait;
        }
        if !self.breaker.would_allow(now) {
            return Decision::Unavailable(UnavailableCause::CircuitOpen);
        }
        self.fetching = true;
        Decision::Fetch(FetchReason::Refresh)
    }

    /// Decides a lookup again once the fetch it waited for has ended with `outcome`. Never
    /// asks for another fetch. `initiated` is true for the lookup that asked for the fetch: if
    /// the fetch succeeded and the kid is still absent, that kid goes into the negative cache.
    pub fn after_fetch(
        &mut self,
        now: Instant,
        kid: &str,
        outcome: &Result<(), UnavailableCause>,
        initiated: bool,
    ) -> Decision {
        let Some((set, freshness)) = self.usable(now) else {
            let cause = match outcome {
                Err(cause) => cause.clone(),
                Ok(()) => self
                    .last_error
                    .clone()
                    .unwrap_or_else(|| UnavailableCause::InvalidJwks("no usable key set".into())),
            };
            return Decision::Unavailable(cause);
        };
        if let Some(key) = set.keys.get(kid) {
            return Decision::Serve {
                key: key.clone(),
                lookup: lookup_label(freshness),
                refresh: false,
            };
        }
        match outcome {
            // The issuer could not be asked: the kid may exist, so do not call it unknown.
            Err(cause) => Decision::Unavailable(cause.clone()),
            Ok(()) => {
                if initiated {
                    self.add_negative(now, kid);
                }
                Decision::Unknown
            }
        }
    }

    /// A fetch brought a new set: it replaces the held one, fresh for the clamped `max_age`. The
    /// negative cache is cleared if the set of kids changed.
    pub fn fetch_succeeded(
        &mut self,
        now: Instant,
        keys: Arc<KeySet>,
        max_age: Option<Duration>,
        etag: Option<String>,
    ) {
        self.fetching = false;
        if self.pinned {
            return;
        }
        let ttl = self.policy.ttl(max_age);
        // A kid that was unknown may be in a set with other kids; the same kids, it is not.
        if self
            .set
            .as_ref()
            .is_none_or(|old| old.keys.kids() != keys.kids())
        {
            self.negative.clear();
        }
        self.set = Some(CachedSet {
            keys,
            fetched_at: now,
            ttl,
            refresh_after: self.refresh_after(ttl),
            etag,
        });
        self.last_error = None;
    }

    /// The issuer answered 304 to a conditional fetch: the held set is fresh again.
    pub fn fetch_not_modified(&mut self, now: Instant, max_age: Option<Duration>) {
        self.fetching = false;
        if self.pinned {
            return;
        }
        let ttl = self.policy.ttl(max_age);
        let refresh_after = self.refresh_after(ttl);
        if let Some(set) = self.set.as_mut() {
            set.fetched_at = now;
            set.ttl = ttl;
            set.refresh_after = refresh_after;
            self.last_error = None;
        } else {
            self.last_error = Some(UnavailableCause::InvalidJwks(
                "304 Not Modified without a held set".into(),
            ));
        }
    }

    /// A fetch failed: the held set is kept as it is.
    pub fn fetch_failed(&mut self, cause: UnavailableCause) {
        self.fetching = false;
        self.last_error = Some(cause);
    }

    fn refresh_after(&self, ttl: Duration) -> Duration {
        let window = self
            .policy
            .refresh_ahead
            .min(ttl.checked_div(2).unwrap_or_default());
        ttl.saturating_sub(window)
    }

    fn is_negative(&self, now: Instant, kid: &str) -> bool {
        self.negative
            .get(kid)
            .is_some_and(|added| now.saturating_duration_since(*added) < self.policy.negative_ttl)
    }

    fn add_negative(&mut self, now: Instant, kid: &str) {
        if self.negative.len() >= self.policy.max_negative_kids {
            let ttl = self.policy.negative_ttl;
            self.negative
                .retain(|_, added| now.saturating_duration_since(*added) < ttl);
        }
        if self.negative.len() < self.policy.max_negative_kids {
            self.negative.insert(kid.to_owned(), now);
        }
    }
}

fn lookup_label(freshness: Freshness) -> CacheLookup {
    match freshness {
        Freshness::Stale | Freshness::Unusable => CacheLookup::Stale,
        Freshness::Fresh | Freshness::RefreshAhead => CacheLookup::Hit,
    }
}
