//! In-process GCRA with governor: one keyed limiter for the per-address ceiling and one
//! per route group for carts and users.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota as GQuota, RateLimiter};

use crate::api::layers::groups::RouteGroup;
use crate::config::{Quota, RateLimitSettings};

/// Keys idle long enough to be full again are dropped once a limiter holds this many.
const RETAIN_ABOVE: usize = 50_000;

pub struct MemoryBackend {
    addresses: Option<DefaultKeyedRateLimiter<String>>,
    limiters: HashMap<RouteGroup, DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

fn quota(q: Quota) -> Option<GQuota> {
    let period = Duration::from_secs_f64(60.0 / f64::from(q.per_minute.max(1)));
    Some(GQuota::with_period(period)?.allow_burst(NonZeroU32::new(q.burst)?))
}

impl MemoryBackend {
    pub fn new(s: &RateLimitSettings) -> Self {
        let limiters = [
            RouteGroup::Auth,
            RouteGroup::CartWrite,
            RouteGroup::Order,
            RouteGroup::Default,
        ]
        .into_iter()
        .filter_map(|g| Some((g, RateLimiter::keyed(quota(s.quota(g.name())?)?))))
        .collect();
        Self {
            addresses: s.quota("address").and_then(quota).map(RateLimiter::keyed),
            limiters,
            clock: DefaultClock::default(),
        }
    }

    /// Checks the address against the ceiling and every identity against the group's
    /// quota (a refused key is not charged; the others may be: governor has no
    /// multi-key transaction, and the leak is one cell per refused request).
    pub fn check(
        &self,
        group: RouteGroup,
        address: Option<&String>,
        identities: &[String],
    ) -> Option<Duration> {
        let now = self.clock.now();
        let mut checks: Vec<(&DefaultKeyedRateLimiter<String>, &String)> = Vec::new();
        if let (Some(limiter), Some(address)) = (&self.addresses, address) {
            checks.push((limiter, address));
        }
        if let Some(limiter) = self.limiters.get(&group) {
            checks.extend(identities.iter().map(|k| (limiter, k)));
        }
        checks
            .into_iter()
            .filter_map(|(limiter, key)| {
                if limiter.len() > RETAIN_ABOVE {
                    limiter.retain_recent();
                }
                limiter.check_key(key).err()
            })
            .map(|not_until| not_until.wait_time_from(now))
            .max()
    }
}
