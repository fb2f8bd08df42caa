//! `idempotency`: how long a POST's answer is replayed for its `Idempotency-Key`.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdempotencySettings {
    /// How long a stored response is replayed; afterwards the key is free again and
    /// `store::idempotency::prune_expired` deletes the row.
    pub ttl_hours: u64,
    /// A request still `in_progress` after this long is presumed crashed and a retry
    /// with the same key may take it over (run the handler again).
    pub lock_timeout_secs: u64,
}

impl Default for IdempotencySettings {
    fn default() -> Self {
        Self {
            ttl_hours: 24,
            lock_timeout_secs: 60,
        }
    }
}

impl IdempotencySettings {
    pub(super) fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !(1..=24 * 30).contains(&self.ttl_hours) {
            out.push("idempotency.ttl_hours: must be between 1 and 720".into());
        }
        if self.lock_timeout_secs < 5 {
            out.push("idempotency.lock_timeout_secs: must be at least 5".into());
        }
        out
    }
}
