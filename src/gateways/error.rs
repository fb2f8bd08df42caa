//! Gateway errors, split by what the caller can do about them.
//!
//! The split matters twice: only retryable errors are retried (and only on
//! idempotent calls), and only retryable errors trip the circuit breaker and
//! send a checkout to the next gateway. A 400 from Razorpay will be a 400 from
//! it again, and says nothing about whether Stripe would work.

use std::time::Duration;

use super::types::GatewayKind;

#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// No answer within the per-call timeout. The gateway may have acted.
    #[error("{gateway}: request timed out")]
    Timeout { gateway: GatewayKind },

    /// The connection could not be made: the request never reached the gateway.
    #[error("{gateway}: could not connect: {message}")]
    Connect {
        gateway: GatewayKind,
        message: String,
    },

    /// 429: slow down. `retry_after` comes from the `Retry-After` header.
    #[error("{gateway}: rate limited")]
    RateLimited {
        gateway: GatewayKind,
        retry_after: Option<Duration>,
    },

    /// 5xx. The gateway may or may not have acted; idempotency keys make a retry safe.
    #[error("{gateway}: server error {status}: {message}")]
    Server {
        gateway: GatewayKind,
        status: u16,
        message: String,
    },

    /// 401/403: our keys are wrong. Needs an operator, not a retry.
    #[error("{gateway}: authentication failed ({status}): {message}")]
    Auth {
        gateway: GatewayKind,
        status: u16,
        message: String,
    },

    /// Any other 4xx: the gateway refused the request as it is (validation,
    /// refund above the captured amount, session not expirable, unknown id).
    #[error("{gateway}: request rejected ({status}{}): {message}", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Rejected {
        gateway: GatewayKind,
        status: u16,
        code: Option<String>,
        message: String,
    },

    /// The gateway's answer names another amount or currency than we asked
    /// for. Never trust such an object; `object_id` names it so it can be
    /// cancelled or refunded.
    #[error("{gateway}: {field} mismatch: expected {expected}, gateway says {actual}")]
    Mismatch {
        gateway: GatewayKind,
        field: &'static str,
        expected: String,
        actual: String,
        object_id: Option<String>,
    },

    /// A 2xx whose body we cannot read (wrong base URL, API change).
    #[error("{gateway}: unexpected response: {message}")]
    Malformed {
        gateway: GatewayKind,
        message: String,
    },

    /// The breaker is open: the call was not attempted.
    #[error("{gateway}: circuit open, call not attempted")]
    CircuitOpen { gateway: GatewayKind },

    /// We refused to send the request (e.g. receipt longer than 40 characters).
    #[error("{gateway}: invalid request: {message}")]
    InvalidRequest {
        gateway: GatewayKind,
        message: String,
    },

    /// No gateway is configured or all were skipped.
    #[error("no payment gateway available")]
    NoGateway,
}

impl GatewayError {
    /// A 400: the gateway refused the call as asked. For a capture or a cancel it may
    /// mean the payment already moved on (captured, cancelled), which a re-read tells.
    pub fn is_bad_request(&self) -> bool {
        matches!(self, GatewayError::Rejected { status: 400, .. })
    }

    /// Worth trying again (later, or at the next gateway).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            GatewayError::Timeout { .. }
                | GatewayError::Connect { .. }
                | GatewayError::RateLimited { .. }
                | GatewayError::Server { .. }
                | GatewayError::CircuitOpen { .. }
        )
    }

    /// The gateway may have acted on the request even though we got no usable
    /// answer. A create that ends like this may have left a session behind.
    pub fn maybe_applied(&self) -> bool {
        matches!(
            self,
            GatewayError::Timeout { .. }
                | GatewayError::Server { .. }
                | GatewayError::Malformed { .. }
        )
    }

    /// Counts as a gateway health failure for the circuit breaker. A 4xx is our
    /// fault, not the gateway's, and must not open the breaker.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            GatewayError::Timeout { .. }
                | GatewayError::Connect { .. }
                | GatewayError::RateLimited { .. }
                | GatewayError::Server { .. }
        )
    }

    pub fn gateway(&self) -> Option<GatewayKind> {
        match self {
            GatewayError::Timeout { gateway }
            | GatewayError::Connect { gateway, .. }
            | GatewayError::RateLimited { gateway, .. }
            | GatewayError::Server { gateway, .. }
            | GatewayError::Auth { gateway, .. }
            | GatewayError::Rejected { gateway, .. }
            | GatewayError::Mismatch { gateway, .. }
            | GatewayError::Malformed { gateway, .. }
            | GatewayError::CircuitOpen { gateway }
            | GatewayError::InvalidRequest { gateway, .. } => Some(*gateway),
            GatewayError::NoGateway => None,
        }
    }

    /// Suggested wait before the next attempt, if the gateway gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GatewayError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
