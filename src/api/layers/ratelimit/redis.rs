//! Shared counters in Redis: GCRA in a Lua script (`gcra.lua`), so checking and charging
//! all of a request's buckets is one atomic step on Redis's clock, whichever API
//! instance asks.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::Quota;

/// A bucket to check and charge: its scope (`address` or a group), key and quota.
pub type Bucket<'a> = (&'a str, &'a str, Quota);

pub struct RedisBackend {
    conn: ConnectionManager,
    script: redis::Script,
    prefix: String,
}

/// Upper bound for one check; past it the request is let through (fail open).
const CALL_TIMEOUT: Duration = Duration::from_millis(300);

impl RedisBackend {
    /// Connects lazily: the API starts (and fails open) while Redis is down, and the
    /// connection manager reconnects when it returns.
    pub fn new(url: &str, prefix: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1);
        Ok(Self {
            conn: ConnectionManager::new_lazy_with_config(client, config)?,
            script: redis::Script::new(include_str!("gcra.lua")),
            prefix: prefix.to_owned(),
        })
    }

    /// `Ok(None)` allowed, `Ok(Some(wait))` refused, `Err` Redis failed. Each bucket
    /// is `(scope, key, quota)`; its Redis key is `{prefix}{scope}:{key}`.
    pub async fn check(&self, buckets: &[Bucket<'_>]) -> anyhow::Result<Option<Duration>> {
        let mut invocation = self.script.prepare_invoke();
        for (scope, key, quota) in buckets {
            invocation.key(format!("{}{scope}:{key}", self.prefix));
            let interval_us = 60_000_000 / u64::from(quota.per_minute.max(1));
            invocation.arg(interval_us).arg(quota.burst);
        }
        let mut conn = self.conn.clone();
        let wait_us: u64 = tokio::time::timeout(CALL_TIMEOUT, invocation.invoke_async(&mut conn))
            .await
            .map_err(|_| anyhow::anyhow!("redis did not answer within {CALL_TIMEOUT:?}"))??;
        Ok((wait_us > 0).then(|| Duration::from_micros(wait_us)))
    }
}
