//! `[payments]`: gateway failover order, retries and circuit breaker.

use serde::Deserialize;

use super::lenient;
use crate::domain::GatewayKind;

/// Failover order, retries and circuit breaker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentsSettings {
    /// Gateways in the order they are tried: a list, or a comma-separated
    /// string (`CHECKOUT__PAYMENTS__GATEWAYS=razorpay,stripe`). Names without
    /// keys are skipped.
    #[serde(deserialize_with = "lenient::list")]
    pub gateways: Vec<String>,
    /// Attempts per call, first included. Only idempotent calls get more than one.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter, up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Consecutive outage-type failures that open a gateway's breaker.
    pub breaker_failures: u32,
    /// How long an opened breaker rejects calls before letting one probe through;
    /// doubles on each re-open, up to `breaker_max_open_ms`.
    pub breaker_open_ms: u64,
    pub breaker_max_open_ms: u64,
}

impl Default for PaymentsSettings {
    fn default() -> Self {
        PaymentsSettings {
            gateways: vec!["razorpay".into(), "stripe".into()],
            max_attempts: 3,
            retry_base_ms: 200,
            retry_max_ms: 2_000,
            breaker_failures: 5,
            breaker_open_ms: 30_000,
            breaker_max_open_ms: 300_000,
        }
    }
}

impl PaymentsSettings {
    /// The configured order, parsed. Unknown names are reported by `validate`.
    pub fn gateway_order(&self) -> Vec<GatewayKind> {
        let mut out = Vec::new();
        for name in &self.gateways {
            if let Ok(kind) = name.parse::<GatewayKind>()
                && !out.contains(&kind)
            {
                out.push(kind);
            }
        }
        out
    }

    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.gateways.is_empty() {
            problems.push("payments.gateways: at least one gateway is required".into());
        }
        let mut seen = Vec::new();
        for name in &self.gateways {
            match name.parse::<GatewayKind>() {
                Ok(kind) if seen.contains(&kind) => {
                    problems.push(format!("payments.gateways: `{kind}` listed twice"));
                }
                Ok(kind) => seen.push(kind),
                Err(e) => problems.push(format!("payments.gateways: {e}")),
            }
        }
        if self.max_attempts == 0 {
            problems.push("payments.max_attempts: must be >= 1".into());
        }
        if self.retry_base_ms > self.retry_max_ms {
            problems.push("payments.retry_base_ms: must not exceed payments.retry_max_ms".into());
        }
        if self.breaker_failures == 0 {
            problems.push("payments.breaker_failures: must be >= 1".into());
        }
        if self.breaker_open_ms == 0 {
            problems.push("payments.breaker_open_ms: must be > 0".into());
        }
        if self.breaker_open_ms > self.breaker_max_open_ms {
            problems.push(
                "payments.breaker_open_ms: must not exceed payments.breaker_max_open_ms".into(),
            );
        }
        problems
    }
}
