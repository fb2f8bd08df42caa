//! Cart, catalog and pricing errors on the wire: the one place that maps them into
//! [`ApiError`] and gives each its code, status and suggested action.

use axum::http::StatusCode;

use super::error::{ApiError, Spec};
use crate::carts::CartError;
use crate::domain::SaleRefusal;

/// A [`CartError`] that is the client's to fix (infrastructure failures become
/// [`ApiError::Database`] / [`ApiError::Internal`] instead).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct CartRefusal(CartError);

impl From<CartError> for ApiError {
    fn from(e: CartError) -> Self {
        match e {
            CartError::Database(e) => ApiError::Database(e),
            CartError::Internal(e) => ApiError::Internal(e),
            CartError::Pricing(e) => ApiError::Internal(anyhow::Error::new(e)),
            CartError::Invalid(messages) => ApiError::Validation(messages),
            other => ApiError::Cart(CartRefusal(other)),
        }
    }
}

impl CartRefusal {
    pub(super) fn spec(&self) -> Spec {
        use CartError::*;
        const GONE: StatusCode = StatusCode::GONE;
        const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
        const UNPROCESSABLE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;
        let code = self.0.code();
        let (status, retryable, action) = match &self.0 {
            NotFound => (NOT_FOUND, false, Some("create a new cart")),
            Expired => (GONE, false, Some("create a new cart")),
            Converted => (
                StatusCode::CONFLICT,
                false,
                Some("this cart is read-only; create a new cart"),
            ),
            ItemNotFound(_) => (NOT_FOUND, false, Some("reload the cart")),
            TooManyItems { .. } => (UNPROCESSABLE, false, Some("remove an item first")),
            InvalidQuantity { .. } => (UNPROCESSABLE, false, None),
            ProgramNotFound(_) => (NOT_FOUND, false, None),
            PlanNotFound(_) => (NOT_FOUND, false, None),
            CohortNotFound(_) => (NOT_FOUND, false, None),
            ProgramArchived(_) => (UNPROCESSABLE, false, Some("choose another internship")),
            UnsupportedCurrency(_) => (
                UNPROCESSABLE,
                false,
                Some("choose INR or another supported currency"),
            ),
            FxRateMissing(_) => (UNPROCESSABLE, false, Some("choose INR or another currency")),
            FxRateStale { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                true,
                Some("retry later or pay in INR"),
            ),
            Coupon(_) => (UNPROCESSABLE, false, Some("remove or change the coupon")),
            Sale(SaleRefusal::Unknown { .. }) => (UNPROCESSABLE, false, None),
            Sale(_) => (
                UNPROCESSABLE,
                false,
                Some("create the cart without the sale"),
            ),
            BillingAddress(_) => (UNPROCESSABLE, false, Some("correct the billing address")),
            Gstin(_) => (
                UNPROCESSABLE,
                false,
                Some("correct the GSTIN, or leave it out to buy without one"),
            ),
            Recipient(_) => (
                UNPROCESSABLE,
                false,
                Some("shorten or correct the billing name or address lines"),
            ),
            // mapped to other ApiError variants in `From<CartError>`; kept total
            Invalid(_) | Pricing(_) | Database(_) | Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, true, None)
            }
        };
        Spec {
            status,
            code,
            retryable,
            action,
        }
    }

    /// Field-level messages for the errors that are about one field.
    pub(super) fn validation_messages(&self) -> Vec<String> {
        match &self.0 {
            CartError::InvalidQuantity { .. } => vec![format!("quantity: {}", self.0)],
            CartError::BillingAddress(e) => vec![format!("billing_address: {e}")],
            CartError::Gstin(e) => vec![format!("billing_address.gstin: {e}")],
            // each message starts with the field it is about
            CartError::Recipient(e) => vec![e.to_string()],
            _ => Vec::new(),
        }
    }
}

/// Logging in to a cart fails as a login or as a cart.
impl From<crate::carts::auth::CartLoginError> for ApiError {
    fn from(e: crate::carts::auth::CartLoginError) -> Self {
        match e {
            crate::carts::auth::CartLoginError::Auth(e) => e.into(),
            crate::carts::auth::CartLoginError::Cart(e) => e.into(),
        }
    }
}
