//! Payment gateways: the [`Gateway`] trait, the Razorpay and Stripe clients,
//! webhook verification, and failover between gateways.
//!
//! # Layout
//! - `types`: the gateway-neutral vocabulary (sessions, payments, refunds).
//! - `error`: [`GatewayError`], split into retryable and permanent failures.
//! - `settings`: the `razorpay`, `stripe`, `payments` and `sandbox` config sections.
//! - `transport`, `breaker`: timeouts, retries with backoff for idempotent
//!   calls only, and a circuit breaker per gateway.
//! - `client`: the request/response skeleton over the transport (base URL,
//!   auth, idempotency header, body, JSON answer); `checks`: what both clients
//!   check of a request and of the gateway's answer.
//! - `razorpay`, `stripe`: the clients. Only base URL and keys differ between
//!   the real services and the sandbox.
//! - `signature`, `webhook`: HMAC verification of callbacks and webhooks.
//! - `failover`: [`Gateways`], which tries gateways in the configured order.

use std::future::Future;
use std::pin::Pin;

pub mod breaker;
mod checks;
mod client;
pub mod error;
pub mod failover;
pub mod razorpay;
pub mod signature;
pub mod stripe;
pub mod transport;
pub mod types;
pub mod webhook;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests;

pub use breaker::{Breaker, BreakerState};
pub use error::GatewayError;
pub use failover::{Attempt, AttemptOutcome, FailoverReport, Gateways};
pub use razorpay::RazorpayClient;
pub use stripe::StripeClient;
pub use types::*;
pub use webhook::{WebhookError, WebhookEvent, WebhookKind};

/// The future every gateway call returns. Boxed so `dyn Gateway` works
/// (failover holds a list of them) without the async-trait crate.
pub type GatewayFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, GatewayError>> + Send + 'a>>;

/// One payment gateway. Every call validates the gateway's answer against
/// what was asked (amount, currency, reference) and fails with
/// [`GatewayError::Mismatch`] otherwise.
pub trait Gateway: Send + Sync + std::fmt::Debug {
    fn kind(&self) -> GatewayKind;

    /// The breaker guarding this gateway (read its state for health checks).
    fn breaker(&self) -> &Breaker;

    /// Creates a payable session. Idempotent per `req.idempotency_key`: asking
    /// again returns the session made the first time, which is also how a
    /// caller recovers a session whose creation timed out.
    fn create_session<'a>(&'a self, req: &'a CreateSession) -> GatewayFuture<'a, PaymentSession>;

    /// Re-reads a session and its payments; `expected` is what we asked for.
    fn fetch_session<'a>(
        &'a self,
        gateway_order_id: &'a str,
        expected: &'a Money,
    ) -> GatewayFuture<'a, SessionReport>;

    /// Reads one payment (Razorpay `pay_…`, Stripe `pi_…`).
    fn fetch_payment<'a>(
        &'a self,
        payment_id: &'a str,
        expected: &'a Money,
    ) -> GatewayFuture<'a, GatewayPayment>;

    /// Refunds `req.amount` of a captured payment. Idempotent per
    /// `req.idempotency_key`: the same key twice refunds once.
    fn refund<'a>(&'a self, req: &'a RefundRequest) -> GatewayFuture<'a, Refund>;

    /// Makes a session unpayable where the gateway can (Stripe expire).
    fn cancel_session<'a>(&'a self, gateway_order_id: &'a str) -> GatewayFuture<'a, CancelOutcome>;

    /// Captures an authorized payment for exactly `expected` (our order's amount
    /// and currency, never a webhook's). Idempotent: a payment already captured
    /// answers as it is (checked against `expected`); `idempotency_key` is sent
    /// where the gateway takes one (Stripe).
    fn capture<'a>(
        &'a self,
        payment_id: &'a str,
        expected: &'a Money,
        idempotency_key: &'a str,
    ) -> GatewayFuture<'a, GatewayPayment>;

    /// Releases an authorization we will not capture: Stripe cancels the
    /// PaymentIntent; Razorpay has no void and answers
    /// [`VoidOutcome::LeftToLapse`] without a call. Already cancelled: `Voided`.
    fn void<'a>(&'a self, payment_id: &'a str) -> GatewayFuture<'a, VoidOutcome>;

    /// Re-reads a refund (Razorpay `rfnd_…`, Stripe `re_…`) for its current status.
    fn fetch_refund<'a>(&'a self, refund_id: &'a str) -> GatewayFuture<'a, Refund>;
}
