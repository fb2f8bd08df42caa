//! Failover across gateways in the configured order.
//!
//! A checkout should not fail because one gateway is down, but moving on must
//! never leave a payable session nobody knows about. So [`Gateways::create_session`]
//! reports every attempt: the session it created, and each failed attempt that
//! may still have created one at the gateway (a timeout or 5xx on create, or an
//! answer with the wrong amount). The caller records all of them; the ones it
//! does not use are cancelled, or refunded if a payment arrives for them.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Gateway;
use super::breaker::BreakerState;
use super::error::GatewayError;
use super::razorpay::RazorpayClient;
use super::stripe::StripeClient;
use super::types::{CreateSession, GatewayKind, PaymentSession};
use crate::config::{PaymentsSettings, RazorpaySettings, StripeSettings};

/// What happened at one gateway during a failover.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    Created(PaymentSession),
    /// Its breaker is open; no request was sent.
    Skipped,
    Failed(GatewayError),
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub gateway: GatewayKind,
    pub outcome: AttemptOutcome,
}

impl Attempt {
    /// The gateway may hold a session from this attempt that we have no usable
    /// answer for. Recover it by calling `create_session` again at that gateway
    /// with the same request (it is idempotent), then cancel it.
    pub fn maybe_left_session(&self) -> bool {
        match &self.outcome {
            AttemptOutcome::Failed(GatewayError::Mismatch { .. }) => true,
            AttemptOutcome::Failed(e) => e.maybe_applied(),
            _ => false,
        }
    }
}

/// Every attempt of one failover, in order.
#[derive(Debug, Clone, Default)]
pub struct FailoverReport {
    pub attempts: Vec<Attempt>,
}

impl FailoverReport {
    /// The session to offer the buyer.
    pub fn session(&self) -> Option<&PaymentSession> {
        self.created().last().copied()
    }

    /// Every session created.
    pub fn created(&self) -> Vec<&PaymentSession> {
        self.attempts
            .iter()
            .filter_map(|a| match &a.outcome {
                AttemptOutcome::Created(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    /// Attempts that may have left a session behind at the gateway; with the
    /// gateway's object id where known (amount mismatches).
    pub fn possibly_orphaned(&self) -> Vec<(GatewayKind, Option<String>)> {
        self.attempts
            .iter()
            .filter(|a| a.maybe_left_session())
            .map(|a| {
                let id = match &a.outcome {
                    AttemptOutcome::Failed(GatewayError::Mismatch { object_id, .. }) => {
                        object_id.clone()
                    }
                    _ => None,
                };
                (a.gateway, id)
            })
            .collect()
    }

    /// The session, or the error that ended the failover.
    pub fn into_result(self) -> Result<PaymentSession, GatewayError> {
        let mut last_error = GatewayError::NoGateway;
        for attempt in self.attempts.into_iter().rev() {
            match attempt.outcome {
                AttemptOutcome::Created(s) => return Ok(s),
                AttemptOutcome::Failed(e) if matches!(last_error, GatewayError::NoGateway) => {
                    last_error = e
                }
                AttemptOutcome::Skipped if matches!(last_error, GatewayError::NoGateway) => {
                    last_error = GatewayError::CircuitOpen {
                        gateway: attempt.gateway,
                    }
                }
                _ => {}
            }
        }
        Err(last_error)
    }
}

/// The configured gateways, in failover order. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateways {
    order: Vec<Arc<dyn Gateway>>,
}

impl Gateways {
    /// Builds the clients that have keys, in `payments.gateways` order.
    /// Gateways without keys are left out; none at all is allowed (checkout is
    /// then unavailable) so the other roles still start.
    pub fn from_settings(
        razorpay: &RazorpaySettings,
        stripe: &StripeSettings,
        payments: &PaymentsSettings,
    ) -> Result<Self, GatewayError> {
        let mut order: Vec<Arc<dyn Gateway>> = Vec::new();
        for kind in payments.gateway_order() {
            match kind {
                GatewayKind::Razorpay => {
                    if let Some(c) = RazorpayClient::from_settings(razorpay, payments)? {
                        order.push(Arc::new(c));
                    }
                }
                GatewayKind::Stripe => {
                    if let Some(c) = StripeClient::from_settings(stripe, payments)? {
                        order.push(Arc::new(c));
                    }
                }
            }
        }
        Ok(Gateways { order })
    }

    pub fn new(order: Vec<Arc<dyn Gateway>>) -> Self {
        Gateways { order }
    }

    /// The client for one gateway, for follow-up calls (fetch, refund, cancel)
    /// on a session it served.
    pub fn get(&self, kind: GatewayKind) -> Option<&Arc<dyn Gateway>> {
        self.order.iter().find(|g| g.kind() == kind)
    }

    pub fn offered(&self) -> Vec<GatewayKind> {
        self.order.iter().map(|g| g.kind()).collect()
    }

    pub fn breaker_states(&self) -> BTreeMap<GatewayKind, BreakerState> {
        self.order
            .iter()
            .map(|g| (g.kind(), g.breaker().state()))
            .collect()
    }

    /// Tries each gateway in order until one creates the session. Moves on when
    /// a gateway's breaker is open or its call failed in a retryable way (after
    /// its own retries); stops at a permanent error, which another gateway would
    /// most likely repeat (bad request) or which needs a person (bad keys,
    /// amount mismatch).
    pub async fn create_session(&self, req: &CreateSession) -> FailoverReport {
        let mut report = FailoverReport::default();
        for gateway in &self.order {
            let kind = gateway.kind();
            let outcome = match gateway.create_session(req).await {
                Ok(session) => AttemptOutcome::Created(session),
                Err(GatewayError::CircuitOpen { .. }) => AttemptOutcome::Skipped,
                Err(e) => AttemptOutcome::Failed(e),
            };
            let go_on = match &outcome {
                AttemptOutcome::Created(_) => false,
                AttemptOutcome::Skipped => true,
                AttemptOutcome::Failed(e) => e.is_retryable(),
            };
            match &outcome {
                AttemptOutcome::Created(s) => {
                    tracing::info!(gateway = %kind, session = %s.gateway_order_id, order = %req.order_token, "payment session created")
                }
                AttemptOutcome::Skipped => {
                    tracing::warn!(gateway = %kind, order = %req.order_token, "gateway circuit open, failing over")
                }
                AttemptOutcome::Failed(e) => {
                    tracing::warn!(gateway = %kind, order = %req.order_token, error = %e, failover = go_on, "payment session creation failed")
                }
            }
            report.attempts.push(Attempt {
                gateway: kind,
                outcome,
            });
            if !go_on {
                break;
            }
        }
        report
    }
}
