//! `ratelimit`: the flood ceiling per client address, the quotas per route group, the
//! shared counters (Redis) and the proxies whose `X-Forwarded-For` is believed.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// A GCRA quota: `per_minute` sustained, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub per_minute: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// `redis://host:port/db`: counters shared by every API process. Unset -> counted in
    /// process (each instance allows the full quota). When Redis fails, requests are let
    /// through (fail open) with a warning and `ratelimit_backend_errors_total`.
    pub redis_url: Option<SecretString>,
    /// Prefix of the Redis keys, so several deployments (or tests) can share a server.
    pub key_prefix: String,
    /// Peers whose `X-Forwarded-For` is believed (IPs or CIDRs, e.g. `10.0.0.0/8`).
    /// Anyone else is identified by the socket's address.
    pub trusted_proxies: Vec<String>,
    /// Flood ceiling per client address, across every group but webhooks. Generous on
    /// purpose: a college's students share one public address (NAT), and 300 of them
    /// at ~8 requests each when enrollment opens must pass. The burst is as large as the
    /// minute so they may all arrive within seconds.
    pub address_per_minute: u32,
    pub address_burst: u32,
    /// Quotas per route group, charged to each cart token and each user a request
    /// carries (not to the address: see `address_*`). Flat keys so one can be set alone
    /// from the environment (`CHECKOUT__RATELIMIT__ORDER_BURST=2`); see [`Self::quota`].
    /// `auth`: writes under `/auth/*` and `/cart/{token}/auth/*` but `auth/check`.
    pub auth_per_minute: u32,
    pub auth_burst: u32,
    /// `cart_write`: writes under `/cart`.
    pub cart_write_per_minute: u32,
    pub cart_write_burst: u32,
    /// `order`: writes under `/order` and `/payments`.
    pub order_per_minute: u32,
    pub order_burst: u32,
    /// `default`: everything else except webhooks (exempt: gateways retry and are
    /// verified by signature; they are bounded by `http.body_limit_bytes`).
    pub default_per_minute: u32,
    pub default_burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            redis_url: None,
            key_prefix: "checkout:rl:".into(),
            trusted_proxies: Vec::new(),
            address_per_minute: 3_000,
            address_burst: 3_000,
            auth_per_minute: 10,
            auth_burst: 5,
            cart_write_per_minute: 120,
            cart_write_burst: 30,
            order_per_minute: 20,
            order_burst: 5,
            default_per_minute: 600,
            default_burst: 100,
        }
    }
}

impl RateLimitSettings {
    pub fn redis_url(&self) -> Option<&str> {
        self.redis_url.as_ref().map(|u| u.expose_secret())
    }

    /// A quota by name: `address` (the flood ceiling) or a group (`auth`,
    /// `cart_write`, `order`, `default`).
    pub fn quota(&self, group: &str) -> Option<Quota> {
        let (per_minute, burst) = match group {
            "address" => (self.address_per_minute, self.address_burst),
            "auth" => (self.auth_per_minute, self.auth_burst),
            "cart_write" => (self.cart_write_per_minute, self.cart_write_burst),
            "order" => (self.order_per_minute, self.order_burst),
            "default" => (self.default_per_minute, self.default_burst),
            _ => return None,
        };
        Some(Quota { per_minute, burst })
    }

    /// Sets a quota by name, as in [`Self::quota`] (tests, `dev`).
    pub fn set_quota(&mut self, group: &str, per_minute: u32, burst: u32) {
        let slot = match group {
            "address" => (&mut self.address_per_minute, &mut self.address_burst),
            "auth" => (&mut self.auth_per_minute, &mut self.auth_burst),
            "cart_write" => (&mut self.cart_write_per_minute, &mut self.cart_write_burst),
            "order" => (&mut self.order_per_minute, &mut self.order_burst),
            "default" => (&mut self.default_per_minute, &mut self.default_burst),
            _ => return,
        };
        (*slot.0, *slot.1) = (per_minute, burst);
    }
}

/// Every quota by name: the per-address ceiling and the groups (webhooks have none).
pub const LIMITED_GROUPS: [&str; 5] = ["address", "auth", "cart_write", "order", "default"];

impl RateLimitSettings {
    pub(super) fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for name in LIMITED_GROUPS {
            if let Some(q) = self.quota(name)
                && (q.per_minute == 0 || q.burst == 0)
            {
                out.push(format!(
                    "ratelimit.{name}_per_minute/{name}_burst: must be at least 1"
                ));
            }
        }
        if let Some(url) = self.redis_url()
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            out.push("ratelimit.redis_url: must start with redis:// or rediss://".into());
        }
        for p in &self.trusted_proxies {
            if IpNet::parse(p).is_none() {
                out.push(format!(
                    "ratelimit.trusted_proxies: `{p}` is not an IP or CIDR"
                ));
            }
        }
        out
    }
}

/// An IP network (`10.0.0.0/8`, `::1/128`, or a bare address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u32,
}

impl IpNet {
    pub fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u32>().ok()?)),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}
