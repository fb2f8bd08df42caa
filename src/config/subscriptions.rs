//! `subscriptions`: signed webhook deliveries of events to operators' endpoints
//! (docs/events.md, "Webhook subscriptions").

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubscriptionSettings {
    /// Waits before each retry of a failed delivery (s), one per retry: the delivery is
    /// dead after the last. Each wait gets +-20% jitter so endpoints that fail together
    /// are not hit together again.
    pub retry_schedule_secs: Vec<u64>,
    /// Consecutive failed attempts (over all its deliveries) that disable an endpoint.
    pub disable_after_failures: u32,
    /// One delivery attempt, DNS to the end of the response prefix (ms).
    pub timeout_ms: u64,
    /// After `rotate-secret`, how long the old secret still signs beside the new (s).
    pub rotation_grace_secs: u64,
    /// Loopback endpoints (127.0.0.0/8, ::1), and `http://` to them, are allowed: for
    /// development and tests only. Private, link-local and other internal addresses stay
    /// refused whatever this says.
    pub allow_loopback: bool,
}

impl Default for SubscriptionSettings {
    fn default() -> Self {
        Self {
            // about 24 h in all, roughly doubling
            retry_schedule_secs: vec![5, 30, 120, 600, 1_800, 3_600, 7_200, 14_400, 28_800, 28_800],
            disable_after_failures: 50,
            timeout_ms: 5_000,
            rotation_grace_secs: 24 * 3600,
            allow_loopback: false,
        }
    }
}

impl SubscriptionSettings {
    /// The wait before retry number `retry` (1-based) without jitter; None: no retry
    /// is left, the delivery is dead.
    pub fn retry_delay(&self, retry: u32) -> Option<Duration> {
        let index = usize::try_from(retry).ok()?.checked_sub(1)?;
        self.retry_schedule_secs
            .get(index)
            .map(|s| Duration::from_secs(*s))
    }

    pub(super) fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.retry_schedule_secs.len() > 30 {
            out.push("subscriptions.retry_schedule_secs: at most 30 retries".into());
        }
        if self.disable_after_failures < 1 {
            out.push("subscriptions.disable_after_failures: must be at least 1".into());
        }
        if !(100..=60_000).contains(&self.timeout_ms) {
            out.push("subscriptions.timeout_ms: must be between 100 and 60000".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_default_schedule_spans_about_a_day() {
        let s = SubscriptionSettings::default();
        let total: u64 = s.retry_schedule_secs.iter().sum();
        assert!((20 * 3600..28 * 3600).contains(&total), "{total}");
        assert_eq!(s.retry_delay(1), Some(Duration::from_secs(5)));
        assert_eq!(s.retry_delay(0), None);
        assert_eq!(s.retry_delay(11), None);
    }
}
