//! Checks both clients make: on what we are about to ask, and on what the gateway
//! answered (its answer must be about the money and the object we asked for).

use super::error::GatewayError;
use super::types::{CreateSession, GatewayKind, Money, RefundRequest};

/// A request we refuse to send.
pub fn invalid(gateway: GatewayKind, message: impl Into<String>) -> GatewayError {
    GatewayError::InvalidRequest {
        gateway,
        message: message.into(),
    }
}

/// What every session request needs: a positive amount in an ISO currency.
pub fn check_session_request(
    gateway: GatewayKind,
    req: &CreateSession,
) -> Result<(), GatewayError> {
    if req.amount <= 0 {
        return Err(invalid(
            gateway,
            format!("amount must be positive, got {}", req.amount),
        ));
    }
    if req.currency.len() != 3 || !req.currency.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(invalid(
            gateway,
            format!("currency `{}` is not an ISO code", req.currency),
        ));
    }
    Ok(())
}

/// A refund without a key could be made twice (see `transport`).
pub fn check_refund_request(gateway: GatewayKind, req: &RefundRequest) -> Result<(), GatewayError> {
    if req.amount <= 0 || req.idempotency_key.is_empty() {
        return Err(invalid(
            gateway,
            "refund needs a positive amount and an idempotency key",
        ));
    }
    Ok(())
}

/// The gateway's `object_id` must carry the money we expected.
pub fn check_money(
    gateway: GatewayKind,
    object_id: &str,
    expected: &Money,
    amount: Option<i64>,
    currency: Option<&str>,
) -> Result<(), GatewayError> {
    let currency = currency.unwrap_or_default();
    if !currency.eq_ignore_ascii_case(&expected.currency) {
        return Err(GatewayError::Mismatch {
            gateway,
            field: "currency",
            expected: expected.currency.clone(),
            actual: currency.to_owned(),
            object_id: Some(object_id.to_owned()),
        });
    }
    if amount != Some(expected.amount) {
        return Err(GatewayError::Mismatch {
            gateway,
            field: "amount",
            expected: expected.amount.to_string(),
            actual: amount.map(|a| a.to_string()).unwrap_or_default(),
            object_id: Some(object_id.to_owned()),
        });
    }
    Ok(())
}

/// The gateway's `object_id` must point back at what we asked about: its `field`
/// holds `expected` (our order token, the payment refunded).
pub fn check_reference(
    gateway: GatewayKind,
    object_id: &str,
    field: &'static str,
    expected: &str,
    actual: Option<&str>,
) -> Result<(), GatewayError> {
    if actual == Some(expected) {
        return Ok(());
    }
    Err(GatewayError::Mismatch {
        gateway,
        field,
        expected: expected.to_owned(),
        actual: actual.unwrap_or_default().to_owned(),
        object_id: Some(object_id.to_owned()),
    })
}
