//! Rate limits keyed by what they protect. The client address is held only to a
//! generous flood ceiling across all groups (`ratelimit.address_*`): many students
//! share one address behind a college's NAT, so a per-address quota per group would
//! lock a cohort out. The quota of a route group (see `groups`) is charged to each cart
//! token and each user a request carries, which protects every cart and account on its
//! own. Login guessing is held back per account by `auth::login`. Exceeding any ->
//! 429 in the envelope with `Retry-After`. Webhooks are exempt.
//!
//! Backends: in-process GCRA (governor) when `ratelimit.redis_url` is unset (each API
//! instance then allows the full quota); Redis when set, so every instance shares the
//! counters. If Redis fails the request is let through (fail open): a Redis outage
//! must not take checkout down, and the limits are abuse protection, not correctness
//! (idempotency and row locks keep money safe). Each failure counts in
//! `ratelimit_backend_errors_total` and is logged as a warning (at most every 10 s).

mod memory;
mod redis;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::caller::{self, ClientAddr};
use super::error::ApiError;
use super::groups::{self, RouteGroup};
use crate::config::RateLimitSettings;

pub struct RateLimiter {
    settings: RateLimitSettings,
    backend: Backend,
    last_warning: AtomicU64,
}

enum Backend {
    Memory(memory::MemoryBackend),
    Redis(redis::RedisBackend),
}

impl RateLimiter {
    pub fn new(settings: &RateLimitSettings) -> anyhow::Result<Self> {
        let backend = match settings.redis_url() {
            Some(url) => Backend::Redis(redis::RedisBackend::new(url, &settings.key_prefix)?),
            None => Backend::Memory(memory::MemoryBackend::new(settings)),
        };
        Ok(Self {
            settings: settings.clone(),
            backend,
            last_warning: AtomicU64::new(0),
        })
    }

    /// `Some(wait)` when the address is over the ceiling or any of `identities` (cart,
    /// user) over the group's quota. Webhooks are never limited.
    pub async fn check(
        &self,
        group: RouteGroup,
        address: Option<&String>,
        identities: &[String],
    ) -> Option<Duration> {
        if group == RouteGroup::Webhook {
            return None;
        }
        match &self.backend {
            Backend::Memory(m) => m.check(group, address, identities),
            Backend::Redis(r) => {
                let mut buckets: Vec<redis::Bucket<'_>> = Vec::with_capacity(3);
                if let (Some(quota), Some(address)) = (self.settings.quota("address"), address) {
                    buckets.push(("address", address, quota));
                }
                if let Some(quota) = self.settings.quota(group.name()) {
                    buckets.extend(identities.iter().map(|k| (group.name(), k.as_str(), quota)));
                }
                if buckets.is_empty() {
                    return None;
                }
                self.redis_check(r, &buckets).await
            }
        }
    }

    async fn redis_check(
        &self,
        r: &redis::RedisBackend,
        buckets: &[redis::Bucket<'_>],
    ) -> Option<Duration> {
        match r.check(buckets).await {
            Ok(wait) => wait,
            Err(e) => {
                metrics::counter!("ratelimit_backend_errors_total").increment(1);
                self.warn(&e);
                None
            }
        }
    }

    fn warn(&self, error: &anyhow::Error) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last_warning.load(Ordering::Relaxed);
        if now >= last + 10
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(error = %error, "rate-limit backend failed; letting requests through");
        }
    }
}

/// The address a request is charged to (the ceiling), and its identities (the group).
fn keys(request: &Request) -> (Option<String>, Vec<String>) {
    let address = request
        .extensions()
        .get::<ClientAddr>()
        .map(|ClientAddr(ip)| format!("addr:{ip}"));
    let mut keys = Vec::with_capacity(2);
    if let Some(token) = caller::cart_token_in_path(request.uri().path()) {
        keys.push(caller::cart_key(token));
    }
    if let Some(user) = caller::user_key(request.extensions(), request.headers()) {
        keys.push(user);
    }
    (address, keys)
}

pub async fn middleware(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let group = request
        .extensions()
        .get::<RouteGroup>()
        .copied()
        .unwrap_or_else(|| groups::classify(request.method(), request.uri().path()));
    let (address, identities) = keys(&request);
    if let Some(wait) = limiter.check(group, address.as_ref(), &identities).await {
        metrics::counter!("ratelimit_rejected_total", "group" => group.name()).increment(1);
        let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return ApiError::RateLimited {
            retry_after_secs: retry_after_secs.max(1),
        }
        .into_response();
    }
    next.run(request).await
}
