//! `refunds`: how a refund the gateway has not settled yet is followed.

use std::time::Duration;

use serde::Deserialize;

/// A refund starts `pending` at both gateways and settles later (Razorpay in minutes to
/// days, Stripe usually at once, `requires_action` for some methods). Its job reads it
/// again with backoff until it is processed or failed; refund webhooks wake it sooner.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RefundSettings {
    /// First re-read of a pending refund after this long (ms); doubles per read.
    pub poll_initial_ms: u64,
    /// Longest wait between two reads of a pending refund (ms).
    pub poll_max_ms: u64,
    /// Gateway refunds made for one decided refund before a failure is raised to an
    /// operator instead of retried (a failure the gateway calls final is raised at once).
    pub max_attempts: u32,
    /// `checkout admin check` reports a refund not settled after this long (s).
    pub pending_alert_secs: u64,
}

impl Default for RefundSettings {
    fn default() -> Self {
        Self {
            poll_initial_ms: 60_000,
            poll_max_ms: 6 * 3600 * 1000,
            max_attempts: 3,
            pending_alert_secs: 3 * 24 * 3600,
        }
    }
}

impl RefundSettings {
    /// The wait before read number `polls` (1-based) of a pending refund.
    pub fn poll_delay(&self, polls: i32) -> Duration {
        let doublings = polls.saturating_sub(1).clamp(0, 30) as u32;
        let ms = self.poll_initial_ms.saturating_mul(1u64 << doublings);
        Duration::from_millis(ms.min(self.poll_max_ms))
    }

    pub(super) fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.poll_initial_ms < 10 || self.poll_max_ms < self.poll_initial_ms {
            out.push(
                "refunds.poll_max_ms: must be at least refunds.poll_initial_ms (>= 10)".into(),
            );
        }
        if !(1..=20).contains(&self.max_attempts) {
            out.push("refunds.max_attempts: must be between 1 and 20".into());
        }
        if self.pending_alert_secs < 1 {
            out.push("refunds.pending_alert_secs: must be at least 1".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_of_a_pending_refund_back_off_to_the_cap() {
        let s = RefundSettings {
            poll_initial_ms: 100,
            poll_max_ms: 1_000,
            ..RefundSettings::default()
        };
        let ms: Vec<u128> = (1..=6).map(|n| s.poll_delay(n).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(s.poll_delay(i32::MAX).as_millis(), 1_000);
    }
}
